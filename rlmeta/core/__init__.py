"""rlmeta.core: the bottom layer. Config, seeding, errors, vector envs, buffers and replay, rollout
collection, networks and distributions, optimizers, compiled / CUDA-graph executors, the natural
gradient, logging, checkpoints and episode recording. Imports nothing else of rlmeta."""
