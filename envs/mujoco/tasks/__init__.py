"""gymnasium v5 MuJoCo tasks, each one small file of rules shared by both backends (base.py says how):

| env id         | file            | obs | forward x                       | terminates when         | reads besides qpos, qvel            |
|----------------|-----------------|----:|---------------------------------|-------------------------|-------------------------------------|
| HalfCheetah-v5 | half_cheetah.py |  17 | qpos[0]                         | never                   |                                     |
| Hopper-v5      | hopper.py       |  11 | qpos[0]                         | z, angle, state range   |                                     |
| Walker2d-v5    | walker2d.py     |  17 | qpos[0]                         | z, angle                |                                     |
| Swimmer-v5     | swimmer.py      |   8 | qpos[0]                         | never                   |                                     |
| Ant-v5         | ant.py          | 105 | torso xpos                      | torso z, non-finite     | xpos, cfrc_ext                      |
| Humanoid-v5    | humanoid.py     | 348 | mass centre (xipos, body_mass)  | torso z                 | xipos, cinert, cvel, qfrc_actuator, cfrc_ext |

Adding a task: a file with a Task subclass (its env id, the fields it reads, its reset-noise law, the
kwargs it reads, and forward_position / observation / reward), and one line in TASKS below.
"""

from __future__ import annotations

from rlmeta.envs.mujoco.tasks.ant import Ant
from rlmeta.envs.mujoco.tasks.base import State, Task, check_kwargs
from rlmeta.envs.mujoco.tasks.half_cheetah import HalfCheetah
from rlmeta.envs.mujoco.tasks.hopper import Hopper
from rlmeta.envs.mujoco.tasks.humanoid import Humanoid
from rlmeta.envs.mujoco.tasks.swimmer import Swimmer
from rlmeta.envs.mujoco.tasks.walker2d import Walker2d

TASKS: dict[str, type[Task]] = {t.env_id: t for t in (HalfCheetah, Hopper, Walker2d, Swimmer, Ant, Humanoid)}

__all__ = ["TASKS", "Ant", "HalfCheetah", "Hopper", "Humanoid", "State", "Swimmer", "Task", "Walker2d", "check_kwargs"]
