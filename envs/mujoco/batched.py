"""Batched, multi-threaded MuJoCo backend for gymnasium v5 locomotion tasks.

One MjData per sub-env, stepped by a thread pool (MuJoCo releases the GIL in mj_step), with the
reward, termination and observation of gymnasium v5 computed by the task's rules (envs/mujoco/tasks/,
shared with the mujoco-warp backend) as numpy over the batch. The model, XML, frame skip, reward
weights and reset noise are read from `gymnasium.make(env_id)` itself, and per-env RNGs are seeded
the way gymnasium seeds them, so from the same seed and actions the trajectories equal gymnasium's
to the bit (tests/test_vec_env.py checks this for all six tasks).

Each step copies qpos, qvel and the MjData fields the task reads (Ant: xpos, cfrc_ext; Humanoid:
xipos, cinert, cvel, qfrc_actuator, cfrc_ext) into [N, ...] mirrors, after mj_rnePostConstraint
where cfrc_ext is read (gymnasium's MujocoEnv calls it after every step; the other tasks skip it).

Throughput on this 2-core CPU: about 16k HalfCheetah env-steps/s for 16 envs on 2 threads,
against about 6.7k for a single gymnasium env (benchmarks/ppo_throughput.py measures it).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import gymnasium as gym
import mujoco
import numpy as np

from rlmeta.core.errors import ConfigError
from rlmeta.envs.mujoco.tasks import TASKS, State, check_kwargs

SUPPORTED_TASKS = TASKS  # env id -> its rules (envs/mujoco/tasks/)


class MujocoBatchBackend:
    """N MuJoCo worlds of one gymnasium v5 task, stepped in threads; SAME_STEP autoreset.

    Example:
        >>> b = MujocoBatchBackend("HalfCheetah-v5", num_envs=16)
        >>> obs = b.reset(seed=0)                                  # [16, 17] float64
        >>> obs, rew, term, trunc, final_obs = b.step(np.zeros((16, 6)))
    """

    def __init__(self, env_id: str, num_envs: int, threads: int = 0, **make_kwargs):
        if env_id not in SUPPORTED_TASKS:
            raise ConfigError(f"mujoco backend supports {sorted(SUPPORTED_TASKS)}, not {env_id}")
        check_kwargs(SUPPORTED_TASKS[env_id], make_kwargs)
        self._env = gym.make(env_id, **make_kwargs)
        u = self._env.unwrapped
        self.task = SUPPORTED_TASKS[env_id](self._env, xp=np)
        self.model = u.model
        self.frame_skip = u.frame_skip
        self.init_qpos, self.init_qvel = u.init_qpos, u.init_qvel
        self.max_episode_steps = self._env.spec.max_episode_steps or np.iinfo(np.int64).max
        self.num_envs = num_envs
        self.single_observation_space = self._env.observation_space
        self.single_action_space = self._env.action_space
        self.datas = [mujoco.MjData(self.model) for _ in range(num_envs)]
        # [N, ...] mirrors of each MjData after its last step or reset: qpos [N, nq], qvel [N, nv] and
        # the fields the task reads (e.g. cfrc_ext [N, nbody, 6])
        names = ("qpos", "qvel", *self.task.fields)
        self.mirror = {k: np.zeros((num_envs, *getattr(self.datas[0], k).shape)) for k in names}
        self.qpos, self.qvel = self.mirror["qpos"], self.mirror["qvel"]
        self.state = State(**self.mirror)  # what the task's rules read (views of the mirrors)
        self.info: dict[str, np.ndarray] = {}  # the last step's reward terms by gymnasium's info names, [N] each
        self.elapsed = np.zeros(num_envs, np.int64)
        self.rngs = [np.random.default_rng(i) for i in range(num_envs)]
        n_threads = threads or os.cpu_count() or 1
        self.n_threads = max(1, min(n_threads, num_envs))
        self._pool = ThreadPoolExecutor(self.n_threads) if self.n_threads > 1 else None
        self._chunks = [range(i, num_envs, self.n_threads) for i in range(self.n_threads)]

    # ------------------------------------------------------------------
    def _copy_out(self, i: int, d: mujoco.MjData) -> None:
        for name, arr in self.mirror.items():
            arr[i] = getattr(d, name)

    def _reset_one(self, i: int) -> None:
        """gymnasium's reset: mj_resetData, init + noise drawn from env i's RNG (qpos first), mj_forward."""
        d, rng, s = self.datas[i], self.rngs[i], self.task.reset_noise_scale
        mujoco.mj_resetData(self.model, d)
        d.qpos[:] = self.init_qpos + rng.uniform(low=-s, high=s, size=self.model.nq)
        if self.task.qvel_noise == "normal":
            d.qvel[:] = self.init_qvel + s * rng.standard_normal(self.model.nv)
        else:
            d.qvel[:] = self.init_qvel + rng.uniform(low=-s, high=s, size=self.model.nv)
        mujoco.mj_forward(self.model, d)
        self._copy_out(i, d)
        self.elapsed[i] = 0

    def _obs_of(self, i: int) -> np.ndarray:  # [obs_dim], world i alone
        return self.task.observation(State(**{k: v[i : i + 1] for k, v in self.mirror.items()}))[0]

    def reset(self, seed: int) -> np.ndarray:
        # gymnasium seeds env.np_random with default_rng(seed); we do the same per sub-env.
        self.rngs = [np.random.default_rng(seed + i) for i in range(self.num_envs)]
        for i in range(self.num_envs):
            self._reset_one(i)
        return self.task.observation(self.state)

    def _step_chunk(self, idx: range, actions: np.ndarray) -> None:
        m, fs, rne = self.model, self.frame_skip, self.task.rne_post_constraint
        for i in idx:
            d = self.datas[i]
            d.ctrl[:] = actions[i]
            mujoco.mj_step(m, d, nstep=fs)
            if rne:  # contact forces (cfrc_ext) are not computed by mj_step itself
                mujoco.mj_rnePostConstraint(m, d)
            self._copy_out(i, d)

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions, np.float64)
        x_before = np.array(self.task.forward_position(self.state))  # [N], a copy: the mirrors change
        if self._pool is None:
            self._step_chunk(range(self.num_envs), actions)
        else:
            for f in [self._pool.submit(self._step_chunk, c, actions) for c in self._chunks]:
                f.result()
        x_velocity = (self.task.forward_position(self.state) - x_before) / self.task.dt
        reward, terminated, self.info = self.task.reward(self.state, x_velocity, actions)
        self.elapsed += 1
        truncated = self.elapsed >= self.max_episode_steps
        obs = self.task.observation(self.state)
        final_obs = obs.copy()
        for i in np.flatnonzero(terminated | truncated):
            self._reset_one(i)
            obs[i] = self._obs_of(i)
        return obs, reward, terminated, truncated, final_obs

    # ------------------------------------------------------------------ checkpointing
    _STATE = mujoco.mjtState.mjSTATE_INTEGRATION  # qpos, qvel, act, warmstart, ctrl, time, ...

    def state_dict(self) -> dict:
        """Full simulator state (incl. solver warmstart) and RNGs: a resumed run continues bitwise."""
        size = mujoco.mj_stateSize(self.model, self._STATE)
        physics = np.zeros((self.num_envs, size))
        for i, d in enumerate(self.datas):
            mujoco.mj_getState(self.model, d, physics[i], self._STATE)
        return {
            "physics": physics,
            **{k: v.copy() for k, v in self.mirror.items()},  # qpos, qvel, fields
            "elapsed": self.elapsed.copy(),
            "rngs": [g.bit_generator.state for g in self.rngs],
        }

    def load_state_dict(self, d: dict) -> None:
        for i, data in enumerate(self.datas):
            mujoco.mj_setState(self.model, data, d["physics"][i], self._STATE)
        for k, v in self.mirror.items():  # derived fields (Ant's xpos: the next step's x_before) too
            v[:] = d[k]
        self.elapsed[:] = d["elapsed"]
        for g, st in zip(self.rngs, d["rngs"]):
            g.bit_generator.state = st

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        self._env.close()
