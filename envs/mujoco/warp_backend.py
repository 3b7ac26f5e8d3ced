"""MuJoCo on the GPU: gymnasium v5 HalfCheetah / Hopper as N mujoco-warp worlds stepped in one batch.

Physics is mujoco-warp (MuJoCo in NVIDIA Warp, float32) on gymnasium's own XML; qpos / qvel / ctrl
are torch views of the Warp arrays (`wp.to_torch`, zero-copy), so rewards, termination, truncation
(gymnasium's TimeLimit, 1000 steps), observations and reset noise are torch ops on the same device,
and autoreset (SAME_STEP, as every rlmeta backend) never leaves it. Task constants (frame_skip, reward
weights, healthy ranges, noise scale, exclude_current_positions_from_observation) are read from
`gymnasium.make(env_id, **make_kwargs)` itself, as in envs/mujoco/batched.py.

What matches gymnasium and what cannot: from the same (qpos, qvel) and action, one env step agrees
with gymnasium to float32 tolerance (tests/test_warp_backend.py); trajectories then drift apart
(float32 physics, chaotic contacts), so over long horizons only statistics agree (return
distributions of a fixed policy, same test file). Reset noise has gymnasium's distribution but
comes from one torch Generator per batch, not from gymnasium's per-env numpy streams.

Runs on any Warp device. On CUDA the frame_skip physics steps and the masked reset are each
captured once into a CUDA graph and replayed on Warp's stream, ordered against torch's current
stream by stream waits (no host sync); this path is NOT tested yet (the development machine has no
GPU). On Warp's CPU device they are plain calls (what CI tests).

Example:
    >>> b = WarpBackend("HalfCheetah-v5", num_envs=4096, device="cuda")
    >>> obs = b.reset(seed=0)                                              # [4096, 17] float32, cuda
    >>> obs, rew, term, trunc, final_obs = b.step(torch.zeros(4096, 6, device="cuda"))
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

import gymnasium as gym
import mujoco_warp as mjw
import numpy as np
import torch
import warp as wp

from rlmeta.envs.mujoco import WARP_TASKS


@dataclass
class TaskSpec:
    """gymnasium v5 constants of one task (read from the gymnasium env, never hard-coded)."""

    env_id: str
    frame_skip: int
    dt: float  # frame_skip * timestep: the denominator of x_velocity
    forward_reward_weight: float
    ctrl_cost_weight: float
    reset_noise_scale: float
    exclude_x: bool  # exclude_current_positions_from_observation
    max_episode_steps: int
    # Hopper only
    healthy_reward: float = 0.0
    terminate_when_unhealthy: bool = False
    healthy_state_range: tuple[float, float] = (-np.inf, np.inf)
    healthy_z_range: tuple[float, float] = (-np.inf, np.inf)
    healthy_angle_range: tuple[float, float] = (-np.inf, np.inf)

    @classmethod
    def from_gym(cls, env: gym.Env) -> "TaskSpec":
        u = env.unwrapped
        common = dict(
            env_id=env.spec.id, frame_skip=u.frame_skip, dt=float(u.dt),
            forward_reward_weight=u._forward_reward_weight, ctrl_cost_weight=u._ctrl_cost_weight,
            reset_noise_scale=u._reset_noise_scale,
            exclude_x=bool(u._exclude_current_positions_from_observation),
            max_episode_steps=env.spec.max_episode_steps or np.iinfo(np.int32).max,
        )
        if env.spec.id.startswith("Hopper"):
            return cls(**common, healthy_reward=u._healthy_reward,
                       terminate_when_unhealthy=u._terminate_when_unhealthy,
                       healthy_state_range=tuple(u._healthy_state_range),
                       healthy_z_range=tuple(u._healthy_z_range), healthy_angle_range=tuple(u._healthy_angle_range))
        return cls(**common)

    @property
    def hopper(self) -> bool:
        return self.env_id.startswith("Hopper")


# ---------------------------------------------------------------------- gymnasium v5 in torch
def observation(spec: TaskSpec, qpos: torch.Tensor, qvel: torch.Tensor) -> torch.Tensor:
    """[N, nq], [N, nv] -> [N, obs_dim]: qpos (minus x unless asked), qvel (Hopper clips it to +-10)."""
    pos = qpos[:, 1:] if spec.exclude_x else qpos
    vel = qvel.clamp(-10.0, 10.0) if spec.hopper else qvel
    return torch.cat([pos, vel], dim=1)


def is_healthy(spec: TaskSpec, qpos: torch.Tensor, qvel: torch.Tensor) -> torch.Tensor:
    """[N] bool, HopperEnv.is_healthy: state_vector()[2:] in range, z and angle in range (strict <)."""
    state = torch.cat([qpos, qvel], dim=1)[:, 2:]
    lo, hi = spec.healthy_state_range
    z, angle = qpos[:, 1], qpos[:, 2]
    ok_state = ((lo < state) & (state < hi)).all(dim=1)
    ok_z = (spec.healthy_z_range[0] < z) & (z < spec.healthy_z_range[1])
    ok_angle = (spec.healthy_angle_range[0] < angle) & (angle < spec.healthy_angle_range[1])
    return ok_state & ok_z & ok_angle


def reward_and_termination(spec: TaskSpec, x_before: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor,
                           action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """-> reward [N], terminated [N] bool: forward_w * dx/dt (+ healthy reward) - ctrl_w * |a|^2."""
    x_velocity = (qpos[:, 0] - x_before) / spec.dt
    ctrl_cost = spec.ctrl_cost_weight * action.square().sum(dim=1)
    reward = spec.forward_reward_weight * x_velocity - ctrl_cost
    if not spec.hopper:
        return reward, torch.zeros_like(reward, dtype=torch.bool)
    healthy = is_healthy(spec, qpos, qvel)
    reward = reward + healthy * spec.healthy_reward
    terminated = ~healthy if spec.terminate_when_unhealthy else torch.zeros_like(healthy)
    return reward, terminated


def reset_noise(spec: TaskSpec, init_qpos: torch.Tensor, init_qvel: torch.Tensor, n: int,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """[n, nq], [n, nv] fresh states: qpos + U(-s, s); qvel + s * N(0, 1) (HalfCheetah) or + U(-s, s) (Hopper)."""
    s = spec.reset_noise_scale
    dev = init_qpos.device
    qpos = init_qpos + (torch.rand(n, init_qpos.numel(), generator=gen, device=dev) * 2 - 1) * s
    if spec.hopper:
        noise_v = (torch.rand(n, init_qvel.numel(), generator=gen, device=dev) * 2 - 1) * s
    else:
        noise_v = s * torch.randn(n, init_qvel.numel(), generator=gen, device=dev)
    return qpos, init_qvel + noise_v


# ---------------------------------------------------------------------- the backend
class WarpBackend:
    """N mujoco-warp worlds of a gymnasium v5 task; torch tensors in and out on `device`.

    Implements the VecBackend protocol of rlmeta/core/vec_env.py with tensors instead of arrays:
    `step(actions [N, act_dim]) -> obs, reward, terminated, truncated, final_obs` (float32 / bool,
    SAME_STEP autoreset: `obs` holds the reset observation where an episode ended, `final_obs` its
    last one). rlmeta.core.vec_env.DeviceVecEnv wraps it for agents.

    nconmax / njmax: per-world contact / constraint capacity (mujoco-warp's defaults when None).
    use_graphs: on CUDA, replay the physics and reset sequences as CUDA graphs (where supported).
    """

    def __init__(self, env_id: str, num_envs: int, device: str | torch.device = "cpu",
                 nconmax: int | None = None, njmax: int | None = None, use_graphs: bool = True,
                 quiet: bool = True, **make_kwargs):
        if env_id not in WARP_TASKS:
            raise ValueError(f"warp backend supports {list(WARP_TASKS)}, not {env_id}")
        if quiet:  # Warp prints one line per compiled/loaded kernel module at INFO level
            wp.config.log_level = max(wp.config.log_level, wp.LOG_WARNING)
        self._env = gym.make(env_id, **make_kwargs)
        u = self._env.unwrapped
        self.spec = TaskSpec.from_gym(self._env)
        self.mjm = u.model
        self.num_envs = num_envs
        self.single_observation_space = self._env.observation_space
        self.single_action_space = self._env.action_space
        self.max_episode_steps = self.spec.max_episode_steps
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.wp_device = wp.get_device("cpu" if self.device.type == "cpu" else f"cuda:{self.device.index}")
        with wp.ScopedDevice(self.wp_device):
            self.m = mjw.put_model(self.mjm)
            self.d = mjw.make_data(self.mjm, nworld=num_envs, nconmax=nconmax, njmax=njmax)
        # zero-copy torch views of the simulator state: writing them writes the worlds
        self.qpos = wp.to_torch(self.d.qpos)  # [N, nq] float32
        self.qvel = wp.to_torch(self.d.qvel)  # [N, nv]
        self.ctrl = wp.to_torch(self.d.ctrl)  # [N, nu]
        self.qacc_warmstart = wp.to_torch(self.d.qacc_warmstart)  # [N, nv]
        self.time = wp.to_torch(self.d.time)  # [N]
        self._reset_mask = torch.zeros(num_envs, dtype=torch.bool, device=self.device)  # fixed address
        self._reset_mask_wp = wp.from_torch(self._reset_mask, dtype=wp.bool)
        f32 = dict(dtype=torch.float32, device=self.device)
        self.init_qpos = torch.as_tensor(u.init_qpos, **f32)  # [nq]
        self.init_qvel = torch.as_tensor(u.init_qvel, **f32)  # [nv]
        self.elapsed = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.gen = torch.Generator(device=self.device)
        self._graph_physics = self._graph_reset = None
        if self.wp_device.is_cuda:
            self._warm_up_and_capture(use_graphs)

    # ------------------------------------------------------------------ warp calls
    def _physics(self) -> None:
        for _ in range(self.spec.frame_skip):
            mjw.step(self.m, self.d)

    def _masked_reset(self) -> None:
        mjw.reset_data(self.m, self.d, reset=self._reset_mask_wp)

    def _warm_up_and_capture(self, use_graphs: bool) -> None:
        # UNTESTED (the development machine has no GPU). One eager call of each sequence compiles
        # and loads its kernels; then each is recorded once into a CUDA graph and replayed by
        # wp.capture_launch. Graphs need Warp's memory pool and a driver >= 12.4 (mujoco-warp's
        # solver loop uses conditional graph nodes); otherwise the sequences run eagerly.
        with wp.ScopedDevice(self.wp_device):
            torch.cuda.synchronize(self.device)  # the torch views were just written on torch's stream
            self._physics()
            self._masked_reset()
            driver = wp.get_cuda_driver_version()
            if not (use_graphs and wp.is_mempool_enabled(self.wp_device) and driver and driver >= (12, 4)):
                return
            gc_was_enabled = gc.isenabled()
            gc.disable()  # a collected Graph's destructor must not be recorded into the new graph
            try:
                with wp.ScopedCapture() as cap:
                    self._physics()
                self._graph_physics = cap.graph
                with wp.ScopedCapture() as cap:
                    self._masked_reset()
                self._graph_reset = cap.graph
            finally:
                if gc_was_enabled:
                    gc.enable()
            wp.synchronize_device(self.wp_device)

    def _run(self, graph, fn) -> None:
        """Run a warp sequence (its CUDA graph when captured). On CUDA the work goes on Warp's stream
        between two stream waits, so it is ordered after and before torch's work without a host sync."""
        with wp.ScopedDevice(self.wp_device):
            if not self.wp_device.is_cuda:
                fn()
                return
            torch_stream = wp.stream_from_torch(self.device)
            warp_stream = wp.get_stream(self.wp_device)
            warp_stream.wait_stream(torch_stream)
            if graph is not None:
                wp.capture_launch(graph, stream=warp_stream)
            else:
                fn()
            torch_stream.wait_stream(warp_stream)

    # ------------------------------------------------------------------ API
    def simulate(self) -> None:
        """Physics only: advance every world frame_skip steps under the current ctrl (no rewards, no
        resets; what benchmarks/gpu_throughput.py times as the physics limit)."""
        self._run(self._graph_physics, self._physics)

    def _reset_where(self, mask: torch.Tensor) -> None:
        """Reset the worlds where mask [N] is True: mj_resetData, then init + noise (as reset_model)."""
        # fresh noise for every world on every call: the draw count never depends on which worlds
        # ended, so no host sync is needed and a seed fixes the whole run
        qpos, qvel = reset_noise(self.spec, self.init_qpos, self.init_qvel, self.num_envs, self.gen)
        self._reset_mask.copy_(mask)
        if self.wp_device.is_cuda or bool(mask.any()):  # on the CPU (no sync cost) skip them when none ended
            self._run(self._graph_reset, self._masked_reset)
        m = mask[:, None]
        self.qpos.copy_(torch.where(m, qpos, self.qpos))
        self.qvel.copy_(torch.where(m, qvel, self.qvel))
        self.elapsed.masked_fill_(mask, 0)
        # gymnasium calls mj_forward after set_state; the observation needs only qpos/qvel and the
        # next mj_step recomputes everything derived, so the batch-wide forward is skipped

    def reset(self, seed: int) -> torch.Tensor:
        """Reset every world; the noise generator is seeded with `seed`. -> obs [N, obs_dim]."""
        self.gen.manual_seed(int(seed))
        self._reset_where(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        return observation(self.spec, self.qpos, self.qvel)

    def step(self, actions: torch.Tensor | np.ndarray):
        """actions [N, act_dim] -> obs [N, obs], reward [N], terminated [N], truncated [N], final_obs [N, obs]."""
        a = torch.as_tensor(actions, dtype=torch.float32, device=self.device)
        x_before = self.qpos[:, 0].clone()
        self.ctrl.copy_(a)
        self.simulate()
        reward, terminated = reward_and_termination(self.spec, x_before, self.qpos, self.qvel, a)
        self.elapsed += 1
        truncated = self.elapsed >= self.max_episode_steps
        final_obs = observation(self.spec, self.qpos, self.qvel)
        done = terminated | truncated
        self._reset_where(done)
        obs = torch.where(done[:, None], observation(self.spec, self.qpos, self.qvel), final_obs)
        return obs, reward, terminated, truncated, final_obs

    def set_state(self, qpos: torch.Tensor | np.ndarray, qvel: torch.Tensor | np.ndarray,
                  elapsed: torch.Tensor | np.ndarray | int | None = None) -> None:
        """Put every world in a given state (e.g. gymnasium's): qpos [N, nq], qvel [N, nv] (as
        MujocoEnv.set_state; the solver warm start is cleared as after mj_resetData)."""
        self.qpos.copy_(torch.as_tensor(qpos, dtype=torch.float32, device=self.device))
        self.qvel.copy_(torch.as_tensor(qvel, dtype=torch.float32, device=self.device))
        self.qacc_warmstart.zero_()
        if elapsed is not None:
            self.elapsed.copy_(torch.as_tensor(elapsed, device=self.device).expand(self.num_envs))

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict:
        """qpos, qvel, solver warm start, time, episode clocks and the noise generator (CPU copies:
        on Warp's CPU device .cpu() alone would alias the live worlds)."""
        names = ("qpos", "qvel", "qacc_warmstart", "time", "elapsed")
        return {**{k: getattr(self, k).cpu().clone() for k in names}, "gen": self.gen.get_state()}

    def load_state_dict(self, d: dict) -> None:
        for name in ("qpos", "qvel", "qacc_warmstart", "time", "elapsed"):
            getattr(self, name).copy_(torch.as_tensor(d[name]).to(self.device))
        self.gen.set_state(d["gen"])

    def close(self) -> None:
        self._env.close()
