"""rlmeta: the shared spine of the toolkit (config, seeding, envs, buffers, networks, logging,
checkpoints, CLI, executors). Imports point downward only: rlmeta imports neither agents nor envs
except through the registry at CLI time."""

__version__ = "0.1.0"
