"""MuJoCo on the GPU: gymnasium v5 locomotion tasks as N mujoco-warp worlds stepped in one batch.

Physics is mujoco-warp (MuJoCo in NVIDIA Warp, float32) on gymnasium's own XML; qpos / qvel / ctrl
and the MjData fields a task reads are torch views of the Warp arrays (`wp.to_torch`, zero-copy), so
rewards, termination, truncation (gymnasium's TimeLimit, 1000 steps), observations and reset noise
are torch ops on the same device, and autoreset (SAME_STEP, as every rlmeta backend) never leaves it.
The rules are the task's (envs/mujoco/tasks/, shared with the CPU backend) in the torch namespace;
their constants are read from `gymnasium.make(env_id, **make_kwargs)` itself.

All six tasks run: HalfCheetah, Hopper, Walker2d, Swimmer (mujoco-warp models its viscous fluid
forces and RK4), Ant and Humanoid (their contact forces cfrc_ext come from mujoco-warp's
rne_postconstraint after the physics steps, as gymnasium calls mj_rnePostConstraint; cinert, cvel,
qfrc_actuator, xpos, xipos are Data fields). Two differences from gymnasium's physics, both in what
mujoco-warp 4.0.0 models, not in the rules:
- Humanoid-v5's XML asks for the PGS solver, which mujoco-warp does not have (put_model raises
  "mjSOL_PGS is unsupported"), so its worlds use Newton: the same constraint model, another solver
  of it. tests/test_warp_backend.py steps a gymnasium Humanoid switched to Newton beside them.
- Ant-v5 (pyramidal friction cone, capsule legs on a plane): for a capsule within 30 degrees of the
  plane's normal, mujoco-warp's plane-capsule contact frame falls back to fixed tangent axes
  (collision_primitive_core.plane_capsule: `if b_norm < 0.5`), where MuJoCo aligns it with the
  capsule's projected axis; a pyramidal cone's edges follow the tangent axes, so the friction forces,
  and one step's velocities, differ (by up to about 3e-2 from the same state, where the two agree to
  about 3e-5 with an elliptic cone, which has no such orientation). Ant's worlds keep gymnasium's
  pyramidal cone; the tests compare with both sides switched to elliptic (`options`).

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

import gymnasium as gym
import mujoco
import mujoco_warp as mjw
import numpy as np
import torch
import warp as wp

from rlmeta.core.errors import ConfigError
from rlmeta.envs.mujoco import WARP_TASKS
from rlmeta.envs.mujoco.tasks import TASKS, State, Task, check_kwargs


def reset_noise(
    task: Task, init_qpos: torch.Tensor, init_qvel: torch.Tensor, n: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """[n, nq], [n, nv] fresh states by the task's law: qpos + U(-s, s); qvel + U(-s, s) or s * N(0, 1)."""
    s = task.reset_noise_scale
    dev = init_qpos.device
    qpos = init_qpos + (torch.rand(n, init_qpos.numel(), generator=gen, device=dev) * 2 - 1) * s
    if task.qvel_noise == "normal":
        noise_v = s * torch.randn(n, init_qvel.numel(), generator=gen, device=dev)
    else:
        noise_v = (torch.rand(n, init_qvel.numel(), generator=gen, device=dev) * 2 - 1) * s
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
    options: MjOption fields set on the model before it goes to the device, e.g.
    {"cone": mujoco.mjtCone.mjCONE_ELLIPTIC} (tests/test_warp_backend.py compares Ant that way: see the
    module docstring).
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        device: str | torch.device = "cpu",
        nconmax: int | None = None,
        njmax: int | None = None,
        use_graphs: bool = True,
        quiet: bool = True,
        options: dict | None = None,
        **make_kwargs,
    ):
        if env_id not in WARP_TASKS:
            raise ConfigError(f"warp backend supports {list(WARP_TASKS)}, not {env_id}")
        check_kwargs(TASKS[env_id], make_kwargs)
        if quiet:  # Warp prints one line per compiled/loaded kernel module at INFO level
            wp.config.log_level = max(wp.config.log_level, wp.LOG_WARNING)
        self._env = gym.make(env_id, **make_kwargs)
        u = self._env.unwrapped
        self.mjm = u.model  # the private env's own model: changing its solver below touches no other env
        if self.mjm.opt.solver == mujoco.mjtSolver.mjSOL_PGS:  # Humanoid-v5; see the module docstring
            self.mjm.opt.solver = mujoco.mjtSolver.mjSOL_NEWTON
        for k, v in (options or {}).items():
            setattr(self.mjm.opt, k, v)
        self.frame_skip = u.frame_skip
        self.num_envs = num_envs
        self.single_observation_space = self._env.observation_space
        self.single_action_space = self._env.action_space
        self.max_episode_steps = self._env.spec.max_episode_steps or np.iinfo(np.int32).max
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.wp_device = wp.get_device("cpu" if self.device.type == "cpu" else f"cuda:{self.device.index}")
        f32 = dict(dtype=torch.float32, device=self.device)
        self.task = TASKS[env_id](self._env, xp=torch, asarray=lambda x: torch.as_tensor(x, **f32))
        with wp.ScopedDevice(self.wp_device):
            self.m = mjw.put_model(self.mjm)
            self.d = mjw.make_data(self.mjm, nworld=num_envs, nconmax=nconmax, njmax=njmax)
        # zero-copy torch views of the simulator state: writing them writes the worlds
        self.qpos = wp.to_torch(self.d.qpos)  # [N, nq] float32
        self.qvel = wp.to_torch(self.d.qvel)  # [N, nv]
        self.ctrl = wp.to_torch(self.d.ctrl)  # [N, nu]
        self.qacc_warmstart = wp.to_torch(self.d.qacc_warmstart)  # [N, nv]
        self.time = wp.to_torch(self.d.time)  # [N]
        # the derived fields the task reads, e.g. cfrc_ext [N, nbody, 6] (spatial vectors), cinert [N, nbody, 10]
        self.fields = {k: wp.to_torch(getattr(self.d, k)) for k in self.task.fields}
        self.state = State(qpos=self.qpos, qvel=self.qvel, **self.fields)  # what the task's rules read
        self.info: dict[str, torch.Tensor] = {}  # the last step's reward terms by gymnasium's info names, [N] each
        self._reset_mask = torch.zeros(num_envs, dtype=torch.bool, device=self.device)  # fixed address
        self._reset_mask_wp = wp.from_torch(self._reset_mask, dtype=wp.bool)
        self.init_qpos = torch.as_tensor(u.init_qpos, **f32)  # [nq]
        self.init_qvel = torch.as_tensor(u.init_qvel, **f32)  # [nv]
        self.elapsed = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.gen = torch.Generator(device=self.device)
        self._graph_physics = self._graph_reset = self._graph_forward = None
        if self.wp_device.is_cuda:
            self._warm_up_and_capture(use_graphs)

    # ------------------------------------------------------------------ warp calls
    def _physics(self) -> None:
        for _ in range(self.frame_skip):
            mjw.step(self.m, self.d)
        if self.task.rne_post_constraint:  # gymnasium's MujocoEnv: mj_rnePostConstraint after the steps
            mjw.rne_postconstraint(self.m, self.d)

    def _masked_reset(self) -> None:
        mjw.reset_data(self.m, self.d, reset=self._reset_mask_wp)

    def _forward(self) -> None:
        mjw.forward(self.m, self.d)

    def _warm_up_and_capture(self, use_graphs: bool) -> None:
        # UNTESTED (the development machine has no GPU). One eager call of each sequence compiles
        # and loads its kernels; then each is recorded once into a CUDA graph and replayed by
        # wp.capture_launch. Graphs need Warp's memory pool and a driver >= 12.4 (mujoco-warp's
        # solver loop uses conditional graph nodes); otherwise the sequences run eagerly.
        with wp.ScopedDevice(self.wp_device):
            torch.cuda.synchronize(self.device)  # the torch views were just written on torch's stream
            self._physics()
            self._masked_reset()
            if self.fields:
                self._forward()
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
                if self.fields:
                    with wp.ScopedCapture() as cap:
                        self._forward()
                    self._graph_forward = cap.graph
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

    def _forward_where(self, mask: torch.Tensor) -> None:
        """The derived fields of the worlds where mask [N] is True, as gymnasium's mj_forward after
        set_state leaves them; the other worlds keep theirs (the ones of their last physics step, which
        the next reward and observation read). mj_forward does not compute cfrc_ext: it stays as
        mj_resetData / the last step left it (zero after a reset, as in gymnasium's reset observation)."""
        if not self.fields:  # qpos and qvel alone: nothing derived is read before the next step
            return
        kept = {k: v.clone() for k, v in self.fields.items()}
        self._run(self._graph_forward, self._forward)  # every world: no host sync to pick some
        for k, v in self.fields.items():
            m = mask.view(-1, *[1] * (v.dim() - 1))
            fresh = torch.zeros_like(v) if k == "cfrc_ext" else v
            v.copy_(torch.where(m, fresh, kept[k]))

    # ------------------------------------------------------------------ API
    def simulate(self) -> None:
        """Physics only: advance every world frame_skip steps under the current ctrl (no rewards, no
        resets; what benchmarks/gpu_throughput.py times as the physics limit)."""
        self._run(self._graph_physics, self._physics)

    def _reset_where(self, mask: torch.Tensor) -> None:
        """Reset the worlds where mask [N] is True: mj_resetData, init + noise, mj_forward (as reset_model)."""
        # fresh noise for every world on every call: the draw count never depends on which worlds
        # ended, so no host sync is needed and a seed fixes the whole run
        qpos, qvel = reset_noise(self.task, self.init_qpos, self.init_qvel, self.num_envs, self.gen)
        self._reset_mask.copy_(mask)
        if not self.wp_device.is_cuda and not bool(mask.any()):  # on the CPU (no sync cost) skip when none ended
            return
        self._run(self._graph_reset, self._masked_reset)
        m = mask[:, None]
        self.qpos.copy_(torch.where(m, qpos, self.qpos))
        self.qvel.copy_(torch.where(m, qvel, self.qvel))
        self.elapsed.masked_fill_(mask, 0)
        # gymnasium calls mj_forward after set_state; where only qpos/qvel are read (HalfCheetah, Hopper,
        # Walker2d, Swimmer) the next mj_step recomputes everything derived, so it is skipped there
        self._forward_where(mask)

    def reset(self, seed: int) -> torch.Tensor:
        """Reset every world; the noise generator is seeded with `seed`. -> obs [N, obs_dim]."""
        self.gen.manual_seed(int(seed))
        self._reset_where(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        return self.task.observation(self.state)

    def step(self, actions: torch.Tensor | np.ndarray):
        """actions [N, act_dim] -> obs [N, obs], reward [N], terminated [N], truncated [N], final_obs [N, obs]."""
        a = torch.as_tensor(actions, dtype=torch.float32, device=self.device)
        x_before = self.task.forward_position(self.state).clone()  # [N]; the views change with the step
        self.ctrl.copy_(a)
        self.simulate()
        x_velocity = (self.task.forward_position(self.state) - x_before) / self.task.dt
        reward, terminated, self.info = self.task.reward(self.state, x_velocity, a)
        self.elapsed += 1
        truncated = self.elapsed >= self.max_episode_steps
        final_obs = self.task.observation(self.state)
        done = terminated | truncated
        self._reset_where(done)
        obs = torch.where(done[:, None], self.task.observation(self.state), final_obs)
        return obs, reward, terminated, truncated, final_obs

    def set_state(
        self,
        qpos: torch.Tensor | np.ndarray,
        qvel: torch.Tensor | np.ndarray,
        elapsed: torch.Tensor | np.ndarray | int | None = None,
    ) -> None:
        """Put every world in a given state (e.g. gymnasium's): qpos [N, nq], qvel [N, nv], then
        mj_forward where the task reads derived fields (as MujocoEnv.set_state; the solver warm start
        is cleared as after mj_resetData, and cfrc_ext is zeroed)."""
        self.qpos.copy_(torch.as_tensor(qpos, dtype=torch.float32, device=self.device))
        self.qvel.copy_(torch.as_tensor(qvel, dtype=torch.float32, device=self.device))
        self.qacc_warmstart.zero_()
        self._forward_where(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        if elapsed is not None:
            self.elapsed.copy_(torch.as_tensor(elapsed, device=self.device).expand(self.num_envs))

    # ------------------------------------------------------------------ checkpointing
    _SAVED = ("qpos", "qvel", "qacc_warmstart", "time", "elapsed")

    def state_dict(self) -> dict:
        """qpos, qvel, solver warm start, time, episode clocks, the derived fields the task reads (Ant's
        xpos is the next step's x_before) and the noise generator (CPU copies: on Warp's CPU device
        .cpu() alone would alias the live worlds)."""
        return {
            **{k: getattr(self, k).cpu().clone() for k in self._SAVED},
            **{k: v.cpu().clone() for k, v in self.fields.items()},
            "gen": self.gen.get_state(),
        }

    def load_state_dict(self, d: dict) -> None:
        for name in self._SAVED:
            getattr(self, name).copy_(torch.as_tensor(d[name]).to(self.device))
        for k, v in self.fields.items():
            v.copy_(torch.as_tensor(d[k]).to(self.device))
        self.gen.set_state(d["gen"])

    def close(self) -> None:
        self._env.close()
