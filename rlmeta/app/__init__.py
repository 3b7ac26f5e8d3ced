"""rlmeta.app: the top layer of the library. The `rlmeta` command line, the run session every
trainer shares (run directory, lock, resume, logging, checkpoints), the agent registry, sweeps,
rendering, the multi-seed driver, meta-training and the board-game commands."""
