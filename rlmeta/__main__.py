"""`python -m rlmeta ...` is the `rlmeta` command."""

import sys

from rlmeta.app.cli import main

sys.exit(main())
