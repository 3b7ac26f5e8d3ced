"""rlmeta: a PyTorch toolkit for deep reinforcement learning and meta-learning.

One import name, in layers; imports point downward only (tests/test_layers.py):

    rlmeta.core        config, seeding, errors, vector envs, buffers, networks, optim, executors,
                       logging, checkpoints, recording
    rlmeta.envs        MuJoCo tasks (batched CPU and mujoco-warp backends), meta-RL task families,
                       board games                                      (repository folder envs/)
    rlmeta.agents      onpolicy/ (VPG, TRPO, PPO), offpolicy/ (DDPG, TD3, SAC), alphazero/, maml/
                                                                        (repository folder agents/)
    rlmeta.app         the command line, the run session, registry, sweeps, rendering, multi-seed
    rlmeta.benchmarks  suites, executors and reports of `rlmeta bench`  (repository folder benchmarks/)
"""

import os as _os

__version__ = "0.1.0"

# A source checkout used without installing (PYTHONPATH=checkout, as on a machine with no package
# registry): the sibling folders play the part setup.cfg's package_dir gives them when installed.
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_root, "setup.cfg")) and _os.path.isfile(
    _os.path.join(_root, "agents", "__init__.py")
):
    __path__.append(_root)
