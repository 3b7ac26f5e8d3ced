import os
import sys
import warnings

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
sys.path.insert(0, os.path.dirname(__file__))  # tests/wandb_reader.py
warnings.filterwarnings("ignore", message=".*settotalmass.*")
