"""What DDPG, TD3 and SAC share: their config fields, target networks with a one-op polyak update,
the learner interface their one update step is written against and the executors that run it
(eager, CUDA graph, vmapped over seeds, compiled), and the collect -> store -> update -> evaluate loop.

An algorithm file keeps only what differs: networks, losses, the update step and how it explores.
It subclasses `OffPolicyAgent`, builds `self.loop = OffPolicyLoop(cfg, envs, device)` and writes
`explore(obs)`, `update_step(L, batch, noise)`, `update_noise(B)` and `act(obs, deterministic)`;
iteration(), the executors and checkpointing of the loop (replay buffer, update counters) come from here.

The loop (Spinning Up's, vectorised): for the first `start_steps` env steps actions are uniform in
the Box; after that `explore(obs)`. Every `update_every` env steps (summed over the num_envs
sub-envs), once the buffer holds `update_after` transitions, it runs `utd_ratio` gradient updates
per env step collected; every `eval_every` env steps it runs `eval_episodes` test episodes with the
deterministic policy (rlmeta.core.evaluation) and logs charts/test_return at that step.

Step numbering: global_step counts env steps taken, so the k-th evaluation is logged at
global_step = k * eval_every. Spinning Up's progress.txt logs the 0-based loop index of the same
moment (TotalEnvInteracts = 9999, 19999, ...): the same point of a curve, one apart in name only.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch import nn

from rlmeta.agents.base import Agent
from rlmeta.agents.offpolicy.stacked import StackedSeeds, VmapUpdateError
from rlmeta.core.config import RunConfig
from rlmeta.core.errors import ConfigError
from rlmeta.core.evaluation import evaluate
from rlmeta.core.graphs import CapturedFn
from rlmeta.core.memory import mlp_params
from rlmeta.core.networks import DeterministicActor, QEnsemble
from rlmeta.core.optim import FlatAdam, flatten_params
from rlmeta.core.replay import ReplayBatch, ReplayBuffer, uniform_actions
from rlmeta.core.rollout import EpisodeStats
from rlmeta.core.vec_env import DeviceVecEnv, VecEnv
from rlmeta.envs import make_vec_env


@dataclass
class OffPolicyConfig(RunConfig):
    """Fields DDPG, TD3 and SAC share (defaults: Spinning Up's PyTorch implementations)."""

    preset: str = "spinningup"
    """Named preset that sets the defaults below (see the algorithm's presets), or a .json/.yaml file."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Hidden layer sizes of the actor and of each critic."""
    activation: str = "relu"
    """Hidden activation: relu, tanh or elu."""
    pi_lr: float = 1e-3
    """Adam learning rate of the actor."""
    q_lr: float = 1e-3
    """Adam learning rate of the critic(s)."""
    gamma: float = 0.99
    """Discount factor."""
    polyak: float = 0.995
    """Target networks: theta_targ <- polyak * theta_targ + (1 - polyak) * theta (tau = 1 - polyak)."""
    buffer_size: int = 1_000_000
    """Replay buffer capacity in transitions (stored as float32 on the training device)."""
    batch_size: int = 100
    """Minibatch size of each gradient update."""
    start_steps: int = 10_000
    """Env steps at the start with uniform-random actions (exploration); counted over all sub-envs."""
    update_after: int = 1_000
    """Transitions in the buffer before the first update (also after a resume without the buffer)."""
    update_every: int = 50
    """Env steps (over all sub-envs) between update phases; each phase runs utd_ratio * update_every
    updates, so the update-to-data ratio is the same for any value (Spinning Up: 50 and 50)."""
    utd_ratio: float = 1.0
    """Gradient updates per env step collected (update-to-data ratio)."""
    eval_every: int = 10_000
    """Env steps between test evaluations (0 disables); logged as charts/test_return."""
    eval_episodes: int = 10
    """Test episodes per evaluation, run with the deterministic policy."""
    eval_envs: int = 10
    """Parallel envs for the test episodes (the default runs all 10 side by side)."""
    save_buffer: bool = True
    """Include the replay buffer in checkpoint.pt, so --resume continues exactly as an uninterrupted
    run (1M HalfCheetah transitions are 168 MB). Without it a resumed run refills the buffer with
    its current policy before updating again (update_after transitions), which changes learning."""
    log_every: int = 1_000
    """Env steps per iteration, i.e. between rows of progress.csv (metrics of the last update)."""
    compile: bool = False
    """Fast update path: on a GPU each update replays as a CUDA graph; on the CPU the gradients and
    Adam steps run as torch.compile'd graphs (about 20 s of compiling at the start). Falls back to
    eager, with a warning, where that fails. Numbers equal the eager update to float rounding."""
    torch_threads: int = 0
    """torch intra-op threads; 0 = auto: 2 where the process may use 2+ CPU cores, else 1 (on 2 cores
    a second thread made SAC and TD3 1.4-1.5x faster end to end; rlmeta bench gives each run one
    thread when runs share the cores)."""

    def validate(self) -> None:
        super().validate()
        checks = {
            "gamma": 0 <= self.gamma <= 1,
            "polyak": 0 <= self.polyak <= 1,
            "pi_lr": self.pi_lr > 0,
            "q_lr": self.q_lr > 0,
            "buffer_size": self.buffer_size > 0,
            "batch_size": self.batch_size > 0,
            "start_steps": self.start_steps >= 0,
            "update_after": self.update_after >= 0,
            "update_every": self.update_every > 0,
            "utd_ratio": self.utd_ratio > 0,
            "eval_every": self.eval_every >= 0,
            "eval_episodes": self.eval_episodes > 0,
            "eval_envs": self.eval_envs > 0,
            "log_every": self.log_every > 0,
            "hidden_sizes": len(self.hidden_sizes) > 0 and min(self.hidden_sizes) > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"--{name.replace('_', '-')}: invalid value {getattr(self, name)!r}")
        if self.activation not in ("tanh", "relu", "elu"):
            raise ConfigError(f"--activation must be tanh, relu or elu, got {self.activation!r}")

    memory_flags = "--buffer-size / --hidden-sizes / --batch-size / --num-envs"

    def memory_estimate(self) -> dict[str, int]:
        """+ actor, two critics and their targets with Adam, the replay buffer (float32 rows of obs,
        next obs, action, reward, done) and one minibatch's activations."""
        nets = 6 * 4 * 4 * mlp_params([1, *self.hidden_sizes, 1])
        return {
            **super().memory_estimate(),
            "networks": nets,
            "replay buffer": self.buffer_size * 5 * 4,
            "minibatch activations": 3 * self.batch_size * sum(self.hidden_sizes) * 4,
        }


# ---------------------------------------------------------------------- the gpu preset
# SAC's and TD3's `--preset gpu`: thousands of parallel worlds on one GPU, after FastTD3 / FastSAC
# (Seo et al. 2025; younggyoseo/FastTD3 fast_td3/hyperparams.py and fast_sac/hyperparams.py, their
# MuJoCo Playground defaults). Each choice, and why:
GPU_PRESET: dict[str, Any] = dict(
    # physics on the device: 1024 mujoco-warp worlds (FastTD3's Playground num_envs), stepped with
    # torch tensors that never leave the GPU (OffPolicyLoop with a DeviceVecEnv); staggered episode
    # clocks (as PPO's gpu preset) so the buffer does not fill with 1024 copies of the same phase of
    # an episode; the shortened first episodes are truncations, bootstrapped
    env_backend="warp",
    device="auto",
    num_envs=1024,
    stagger_starts=True,
    total_steps=50_000_000,
    checkpoint_every=10_240_000,
    # observation normalisation (FastTD3's obs_normalization=True), on the device by DeviceVecEnv's
    # running mean/std. Difference: FastTD3 stores raw observations and normalises each sampled batch
    # with the current statistics; here they are normalised when stored, with the statistics of that
    # moment. With 1024 worlds the statistics see ~1M observations per 1000 vector steps and settle
    # early, so only the first transitions are normalised with visibly different statistics
    normalize_obs=True,
    # bigger networks (FastTD3: actor 512-256-128, critic 1024-512-256, ReLU). One size is shared
    # here by actor and critics: (512, 256, 128) for both, a narrower critic than FastTD3's
    hidden_sizes=(512, 256, 128),
    activation="relu",
    pi_lr=3e-4,
    q_lr=3e-4,
    gamma=0.99,
    # tau 0.1 (FastTD3/FastSAC): with 2 updates per vector step the targets would otherwise lag far
    # behind data that 1024 worlds renew quickly
    polyak=0.9,
    # replay of 10k transitions per world (FastTD3's Playground buffer_size 1024 * 10, per world):
    # 10.24M rows on the device (1.7 GB for HalfCheetah); not saved in checkpoints (too big)
    buffer_size=10_240_000,
    save_buffer=False,
    # large batches (FastTD3: 32768) drawn uniformly over all worlds' transitions
    batch_size=32_768,
    # updates start after 10 vector steps (FastTD3's learning_starts 10), of uniform random actions
    start_steps=10_240,
    update_after=10_240,
    # the update-to-data ratio is --utd-ratio, in gradient updates per env step: FastTD3's num_updates
    # 2 per vector step of 1024 worlds is 2/1024 (update_every 1024: one vector step per update phase).
    # With --num-envs 4096 the same ratio runs 8 updates per vector step; raise --utd-ratio for more
    update_every=1024,
    utd_ratio=2 / 1024,
    # the update as CUDA graphs (compile=True on CUDA: rlmeta/core/graphs.py), FastTD3's torch.compile
    # + CUDA graphs; not done: bfloat16 autocast, AdamW weight decay 0.1, the distributional (C51)
    # critic (clipped double Q instead, which FastTD3 also uses: use_cdq=True), n-step returns
    # (FastTD3's default num_steps is 1; 3 only for some tasks)
    compile=True,
    # test episodes on 16 fresh worlds every 5000 vector steps; log rows every 100 vector steps
    # (one host sync each)
    eval_every=5_120_000,
    eval_episodes=16,
    eval_envs=16,
    log_every=102_400,
)


# ---------------------------------------------------------------------- target networks
def make_target(net: nn.Module) -> tuple[nn.Module, torch.Tensor]:
    """A frozen copy of `net` (call before FlatAdam re-homes net's parameters, or after: the copy is
    independent either way) -> (target module, its parameters as one flat tensor). With the source's
    parameters flat too (FlatAdam.flat), the polyak update is a single lerp_."""
    target = copy.deepcopy(net)
    # the same layout as FlatAdam.flat of net (parameters that require grad, in .parameters() order)
    flat, _ = flatten_params(target.parameters(), grads=False)
    target.requires_grad_(False)
    return target, flat


@torch.no_grad()
def polyak_update(target: nn.Module | torch.Tensor, source: nn.Module | torch.Tensor, polyak: float) -> None:
    """target <- polyak * target + (1 - polyak) * source, in place (Spinning Up's convention).

    Flat tensors (make_target's, FlatAdam.flat): one lerp_. Modules: one fused _foreach_lerp_
    over their parameter lists (same order and shapes required).
    """
    if isinstance(target, torch.Tensor):
        target.lerp_(source, 1.0 - polyak)
        return
    t, s = list(target.parameters()), list(source.parameters())
    if len(t) != len(s):
        raise ValueError(f"polyak_update: {len(t)} target vs {len(s)} source parameters")
    torch._foreach_lerp_(t, [p.detach() for p in s], 1.0 - polyak)


# ---------------------------------------------------------------------- the loop
Explore = Callable[[torch.Tensor], torch.Tensor]  # obs [N, obs_dim] -> action [N, act_dim] inside the Box
Update = Callable[[ReplayBatch], dict[str, torch.Tensor]]  # one gradient update -> metrics (tensors: no sync)
Act = Callable[[np.ndarray, bool], np.ndarray]  # Agent.act(obs, deterministic)


class OffPolicyLoop:
    """Collection into a replay buffer, update phases and periodic evaluation for one agent.

    Example (inside an agent's __init__ / iteration):
        >>> self.loop = OffPolicyLoop(cfg, envs, device)
        >>> self.global_step, metrics = self.loop.iteration(self.global_step, self.explore, self.update, self.act)
    """

    def __init__(self, cfg: OffPolicyConfig, envs: VecEnv, device: torch.device):
        self.cfg, self.envs, self.device = cfg, envs, device
        obs_dim = envs.single_observation_space.shape[0]
        space = envs.single_action_space
        self.low, self.high = space.low, space.high
        self.buffer = ReplayBuffer(cfg.buffer_size, obs_dim, space.shape[0], device)
        self.stats = EpisodeStats()
        # parallel worlds on a device (mujoco-warp, DeviceVecEnv): observations, actions, rewards and
        # dones stay tensors on the device and episode statistics are summed there (EpisodeStats with a
        # mask), so a step costs no host sync; numpy envs keep the numpy path unchanged
        self.on_device = isinstance(envs, DeviceVecEnv)
        if self.on_device:
            envs.torch_io = True
            # the Box as device tensors: no host-to-device copy per random-action step
            self.low, self.high = (
                torch.as_tensor(x, dtype=torch.float32, device=device) for x in (self.low, self.high)
            )
        self.obs: torch.Tensor | None = None  # [N, obs_dim] what the next step acts on
        self.num_updates = 0
        self.update_credit = 0.0  # fractional updates owed when utd_ratio * phase steps is not whole
        self.next_eval = cfg.eval_every
        # vector steps per phase: update_every env steps, rounded to whole steps of all N envs
        self.phase_steps = max(1, round(cfg.update_every / envs.num_envs))

    # ------------------------------------------------------------------ collection
    @torch.no_grad()
    def collect(self, step: int, explore: Explore) -> int:
        """One vector step of all N envs into the buffer. -> the new global step."""
        if self.obs is None:
            self.obs = torch.as_tensor(self.envs.reset(), device=self.device)
        n = self.envs.num_envs
        if step < self.cfg.start_steps:
            action = uniform_actions(self.low, self.high, n, self.device)
        else:
            action = explore(self.obs)
        out = self.envs.step(action if self.on_device else action.cpu().numpy())
        # the time limit is not a terminal state: next_obs is the true last observation and
        # done = terminated only, so the critic bootstraps through truncation
        self.buffer.add(self.obs, action, out.reward, out.final_obs, out.terminated)
        self.stats.add(out.episode_returns, out.episode_lengths, out.episode_mask)
        self.obs = torch.as_tensor(out.obs, device=self.device)
        return step + n

    # ------------------------------------------------------------------ one iteration
    def iteration(self, step: int, explore: Explore, update: Update, act: Act) -> tuple[int, dict[str, float]]:
        """Phases of (collect update_every env steps -> updates) for log_every env steps, stopping
        early at an evaluation step or total_steps. -> (new global step, metrics)."""
        last: dict[str, torch.Tensor] = {}
        end = step  # the global step after each phase
        for end, n_updates in self.phases(step, explore):  # noqa: B007  (read after the loop)
            for _ in range(n_updates):
                last = update(self.buffer.sample(self.cfg.batch_size))
                self.num_updates += 1  # TD3's policy_delay reads this
        return end, self.end_iteration(end, last, act)

    def phases(self, step: int, explore: Explore) -> Iterator[tuple[int, int]]:
        """The collection phases of one iteration: each yields (global step, updates owed) after
        collecting; the caller runs the updates (and counts them in num_updates) before the next
        phase. Split from iteration() so rlmeta/agents/offpolicy/stacked.py can run K seeds' updates as one."""
        cfg = self.cfg
        n = self.envs.num_envs
        # evaluations and the end of the run fall exactly on their step (whenever num_envs divides
        # it): a phase that would run past one is cut short there; log rows do not cut phases
        hard_stop = cfg.total_steps if cfg.eval_every <= 0 else min(cfg.total_steps, self.next_eval)
        stop = min(step + cfg.log_every, hard_stop)
        while step < stop:
            vec_steps = min(self.phase_steps, -(-(hard_stop - step) // n))  # ceil
            for _ in range(vec_steps):
                step = self.collect(step, explore)
            n_updates = 0
            if len(self.buffer) >= max(cfg.update_after, 1):
                self.update_credit += vec_steps * n * cfg.utd_ratio
                n_updates = int(self.update_credit)
                self.update_credit -= n_updates
            yield step, n_updates

    def end_iteration(self, step: int, last: dict[str, torch.Tensor], act: Act) -> dict[str, float]:
        """The iteration's metrics (those of the last update), episode statistics and, at an
        evaluation step, the test episodes."""
        cfg = self.cfg
        # one device sync per iteration, not per update
        metrics = {k: float(v) for k, v in last.items()}
        metrics["charts/num_updates"] = float(self.num_updates)
        metrics.update(self.stats.pop())
        if cfg.eval_every > 0 and step >= self.next_eval:
            metrics.update(self.evaluate(act, seed=cfg.seed + 1_000_003 + step))
            while self.next_eval <= step:
                self.next_eval += cfg.eval_every
        return metrics

    def evaluate(self, act: Act, seed: int) -> dict[str, float]:
        """Test episodes with the deterministic policy on fresh eval envs (seeded by the step, so a
        resumed run evaluates on the same episodes), sharing the training obs normalisation."""
        cfg = self.cfg

        def factory() -> VecEnv:
            return make_vec_env(
                cfg.env, cfg.eval_envs, seed, cfg.env_backend, cfg.env_threads, cfg.normalize_obs, False, cfg.gamma
            )

        return evaluate(lambda obs: act(obs, True), factory, cfg.eval_episodes, obs_stats_from=self.envs)

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "num_updates": self.num_updates,
            "update_credit": self.update_credit,
            "next_eval": self.next_eval,
        }
        if self.cfg.save_buffer:
            d["buffer"] = self.buffer.state_dict()
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.num_updates, self.update_credit = int(d["num_updates"]), float(d["update_credit"])
        self.next_eval = int(d["next_eval"])
        if "buffer" in d:
            self.buffer.load_state_dict(d["buffer"])
        elif self.cfg.save_buffer:
            print("rlmeta: this checkpoint holds no replay buffer; refilling it before updating again", file=sys.stderr)


def noisy_action(
    actor: nn.Module, obs: torch.Tensor, noise: float, low: torch.Tensor, high: torch.Tensor
) -> torch.Tensor:
    """DDPG's and TD3's exploration: mu(s) + noise * half-width * N(0, 1), clipped to the Box.
    obs [N, obs_dim] -> action [N, act_dim]"""
    a = actor(obs)
    a = a + noise * actor.act_scale * torch.randn_like(a)
    return torch.max(torch.min(a, high), low)


def use_cuda_graphs(cfg: OffPolicyConfig, device: torch.device) -> bool:
    """--compile on a CUDA device: replay each update as a CUDA graph (rlmeta/core/graphs.py); on the CPU
    --compile runs OffPolicyAgent.compiled_update instead."""
    return bool(cfg.compile) and device.type == "cuda"


# ---------------------------------------------------------------------- the update, written once
LossFn = Callable[[Any], tuple[torch.Tensor, Any]]  # nets -> (0-dim or [1] loss, aux: metrics / tensors)


class Learner(Protocol):
    """What an algorithm's update_step sees of the training state; the executors bind it:
    LiveLearner to the agent's live modules and FlatAdams (eager, and recorded as a CUDA graph),
    agents/offpolicy/stacked.py's _SeedLearner to one seed's rows of stacked parameters under vmap
    (--seeds K, and --compile on the CPU) with torch.func.grad and a functional Adam.

    - `nets`: the agent as this learner sees it: `nets.critic(obs, act)`, `nets.log_alpha`, and its
      methods (`nets.extra_loss(b)`) run with these networks. Losses read networks through it only.
    - `minimize(opt, loss_fn)`: one Adam step of the agent's optimizer attribute `opt` ('critic_opt')
      on loss_fn(nets) -> (loss, aux), differentiated w.r.t. that optimizer's parameters only; -> aux.
    - `polyak(target, source, polyak)`: target network buffer ('critic_targ_flat') <- polyak * target +
      (1 - polyak) * the parameters of optimizer `source` ('critic_opt').
    Under vmap update_step runs once per seed's shapes ([B, ...]), as in a single run.

    Example (inside update_step):
        >>> metrics = L.minimize("critic_opt", lambda nets: critic_loss(nets.critic, nets.critic_targ, ...))
        >>> L.polyak("critic_targ_flat", "critic_opt", cfg.polyak)
    """

    nets: Any

    def minimize(self, opt: str, loss_fn: LossFn) -> Any: ...

    def polyak(self, target: str, source: str, polyak: float) -> None: ...


class LiveLearner:
    """The learner on the agent's live modules: autograd and the agent's FlatAdams, in place."""

    def __init__(self, agent: Any):
        self.nets = agent

    def minimize(self, opt: str, loss_fn: LossFn) -> Any:
        loss, aux = loss_fn(self.nets)
        getattr(self.nets, opt).minimize(loss)
        return aux

    def polyak(self, target: str, source: str, polyak: float) -> None:
        polyak_update(getattr(self.nets, target), getattr(self.nets, source).flat, polyak)


def with_extra_losses(
    nets: Any, b: ReplayBatch, loss: torch.Tensor, metrics: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """loss + the agent's extra_losses on b (the research hook of agents/base.py), with their metrics.
    Called with the learner's nets, so under vmap each extra loss sees that seed's networks."""
    if not nets.extra_losses:
        return loss, metrics
    extra, em = nets.extra_loss(b)
    # a float metric as a float64 tensor (logged as the same number): a vmapped step returns tensors only
    em = {k: v if isinstance(v, torch.Tensor) else torch.tensor(float(v), dtype=torch.float64) for k, v in em.items()}
    return loss + extra, {**metrics, **em}


class OffPolicyAgent(Agent):
    """Base of DDPG, TD3 and SAC: one iteration is `self.loop.iteration(...)` with the agent's
    explore / update / act; the loop's state travels with the checkpoint.

    An algorithm writes its update once, as `update_step(L, b, noise)` against the Learner interface
    above, and `update_noise(B)`, the random draws of one update (passed in, so that K seeds under vmap
    each use their own single run's draws). Executors run that one step:
    - eager (the default): `update(b)` on the live modules;
    - `--compile` on a CUDA device: `update(b)` recorded once as a CUDA graph and replayed with one
      launch per update (one graph per value of graph_key(): TD3's delayed actor step is a Python
      branch). Its optimizers are then built capturable (step count and learning rate on the device),
      the replay buffer lives on the device, and the minibatch indices and the noise are drawn there:
      no host sync per update. A capture that fails (an extra loss that calls .item()) warns once and
      runs eagerly;
    - `--compile` on the CPU: update_step vmapped over this one seed (agents/offpolicy/stacked.py) as
      one torch.compile'd graph per graph_key(): the same losses, the same random draws in the same
      order, numbers equal to float rounding (tests/test_multiseed.py). Compiling the live update
      gave nothing here (its matmuls stay in MKL either way); the functional graph saves the autograd
      bookkeeping and fuses the elementwise work around them (benchmarks/results/offpolicy_throughput.md).
      A step that cannot run vmapped (an .item() in an extra loss) warns once and runs eagerly;
    - `--seeds K` (rlmeta/app/multiseed.py): update_step vmapped over K seeds, refused in one line
      where it cannot run vmapped."""

    loop: OffPolicyLoop
    lr_fields: ClassVar[dict[str, str]] = {"pi_lr": "actor_opt", "q_lr": "critic_opt"}

    def __init__(self, cfg: OffPolicyConfig, envs: VecEnv, device: torch.device):
        super().__init__(cfg, envs, device)
        space = envs.single_action_space
        # the Box as device tensors (exploration noise is clipped to it without a host copy)
        self.low = torch.as_tensor(space.low, dtype=torch.float32, device=device)
        self.high = torch.as_tensor(space.high, dtype=torch.float32, device=device)
        self.graphs = use_cuda_graphs(cfg, device)  # build FlatAdams with capturable=self.graphs
        self._live = LiveLearner(self)
        self._update_fn: Update | None = None
        self._stacked: Any = None  # the one-seed StackedSeeds of compiled_update()

    def iteration(self) -> dict[str, float]:
        # collect -> store -> update phases -> test episodes
        if self._update_fn is None:  # built at the first iteration: after a --resume has loaded its state
            self._update_fn = self.executor()
        self.global_step, metrics = self.loop.iteration(self.global_step, self.explore, self._update_fn, self.act)
        if self._stacked is not None:
            self._stacked.sync_counts()  # Adam step counts back into the optimizers a checkpoint saves
        return metrics

    def executor(self) -> Update:
        """The update this run's settings ask for (see the class docstring). Its metrics keep the last
        value of a metric an update skips (TD3's actor metrics between actor steps)."""
        if self.graphs:
            fn = self.captured_update()
        elif self.cfg.compile and (why := self.overridden_update()):
            print(
                f"rlmeta: --compile on the CPU runs update_step() vmapped, and {why}: this run uses the eager "
                "update() instead",
                file=sys.stderr,
            )  # said once, never dropped silently
            fn = self.update
        elif self.cfg.compile:
            fn = self.compiled_update()
        else:
            fn = self.update
        last: dict[str, torch.Tensor] = {}

        def update(b: ReplayBatch) -> dict[str, torch.Tensor]:
            last.update(fn(b))
            return last

        return update

    def overridden_update(self) -> str | None:
        """Why the vmapped executor (--seeds K, --compile on the CPU) would not run this agent's code, or
        None: it runs update_step(), not an update() (the eager executor) that a subclass overrides."""
        owner = next(k for k in type(self).__mro__ if "update" in vars(k))
        if owner is not OffPolicyAgent:
            return f"{owner.__name__} overrides update() (override update_step() instead, which every executor runs)"
        return None

    def update(self, b: ReplayBatch) -> dict[str, torch.Tensor]:
        """One update on the live modules: update_noise's draws, then update_step. -> metrics as tensors
        (no host sync)."""
        return self.update_step(self._live, b, self.update_noise(b.obs.shape[0]))

    def compiled_update(self) -> Update:
        """update_step vmapped over this one seed, compiled (see the class docstring). The agent's
        parameters, Adam moments and targets become row 0 of [1, P] stacked buffers (views: modules,
        checkpoints and evaluation see them as before)."""
        S = self._stacked = StackedSeeds([self], compile=True)

        def update(b: ReplayBatch) -> dict[str, torch.Tensor]:
            noise = self.update_noise(b.obs.shape[0])  # drawn after the minibatch, as update() does
            if self._stacked is not None:
                try:
                    m = S.update(ReplayBatch(*(x.unsqueeze(0) for x in b)), tuple(x.unsqueeze(0) for x in noise))
                    return {k: v[0] for k, v in m.items()}
                except VmapUpdateError as e:  # the state is unchanged: this update runs eagerly instead
                    print(
                        f"rlmeta: --compile on the CPU runs update_step() vmapped, and it failed there ({e}): "
                        "this run uses the eager update() instead",
                        file=sys.stderr,
                    )
                    S.sync_counts()
                    self._stacked = None
            return self.update_step(self._live, b, noise)

        return update

    def graph_key(self) -> Any:
        """The Python-side choices of the next update_step (TD3: whether the actor steps); one CUDA graph
        or compiled graph is recorded per value. A subclass that branches on anything else in Python
        adds it here."""
        return None

    def captured_update(self) -> Update:
        """update() replayed as CUDA graphs (rlmeta.core.graphs.CapturedFn; eager where capture fails or
        the batch is not on a CUDA device). The training state a capture's warm-up call touches
        (parameters, Adam moments and step counts, targets) is restored after it."""
        opts = [v for v in vars(self).values() if isinstance(v, FlatAdam)]
        state = [t for o in opts for t in (o.flat, o.m, o.v, o._t) if isinstance(t, torch.Tensor)]
        state += [v for k, v in vars(self).items() if k.endswith("_flat") and isinstance(v, torch.Tensor)]
        graphs: dict[Any, CapturedFn] = {}

        def update(b: ReplayBatch) -> dict[str, torch.Tensor]:
            key = self.graph_key()
            fn = graphs.get(key)
            if fn is None:
                fn = graphs[key] = CapturedFn(self.update, state, name=f"{self.algo} update")
            return fn(b)

        return update

    def build_networks(self, actor_target: bool) -> None:
        """self.actor and self.critic from the build hooks, their target copies (the critic's always,
        the actor's for DDPG/TD3) and one FlatAdam per network: what the three algorithms share."""
        cfg, device = self.cfg, self.device
        obs_dim = self.envs.single_observation_space.shape[0]
        act_dim = self.envs.single_action_space.shape[0]
        self.actor = self.build_actor(obs_dim, act_dim).to(device)
        self.critic = self.build_critic(obs_dim, act_dim).to(device)
        if actor_target:
            self.actor_targ, self.actor_targ_flat = make_target(self.actor)
        self.critic_targ, self.critic_targ_flat = make_target(self.critic)
        # FlatAdam == torch Adam numerically, one fused step per network (rlmeta/core/optim.py)
        self.actor_opt = FlatAdam(self.actor.parameters(), lr=cfg.pi_lr, capturable=self.graphs)
        self.critic_opt = FlatAdam(self.critic.parameters(), lr=cfg.q_lr, capturable=self.graphs)

    # ------------------------------------------------------------------ network hooks
    # Called by the algorithm's __init__ before targets, optimizers and executors are made, so a
    # subclass's networks are what every path (eager, --compile, CUDA graph, --seeds) trains.
    n_critics: int = 2  # members of the critic ensemble (clipped double Q; DDPG: 1)

    def build_actor(self, obs_dim: int, act_dim: int) -> nn.Module:
        """The policy network; the algorithm's losses define its interface. Default: DDPG's and TD3's
        DeterministicActor, forward(obs [B, obs_dim]) -> action [B, act_dim] inside the Box, with an
        act_scale buffer. SAC's: forward -> (mean, log_std) of the pre-tanh Gaussian, with act_scale /
        act_bias / act_dim, sample and deterministic (SquashedGaussianActor)."""
        space = self.envs.single_action_space
        return DeterministicActor(obs_dim, act_dim, self.cfg.hidden_sizes, self.cfg.activation, space.low, space.high)

    def build_critic(self, obs_dim: int, act_dim: int) -> nn.Module:
        """The Q-network(s): forward(obs [B, obs_dim], act [B, act_dim], detach_params=False) ->
        Q-values [n, B] of n_critics members (default: rlmeta.core.networks.QEnsemble)."""
        return QEnsemble(obs_dim, act_dim, self.cfg.hidden_sizes, n=self.n_critics, activation=self.cfg.activation)

    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        """obs [N, obs_dim] -> exploratory actions [N, act_dim] inside the Box."""
        raise NotImplementedError

    def update_step(self, L: Learner, b: ReplayBatch, noise: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        """The algorithm's one update (critic, actor, ... steps and target updates) on a minibatch b
        [B, ...] with update_noise's draws -> metrics as tensors. Written against `L` only (losses read
        the networks through L.nets), so every executor runs it, a subclass's override included. No
        host syncs (.item()) and no random draws inside; Python branches only on graph_key()."""
        raise NotImplementedError

    def update_noise(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        """The random draws of one update_step, in order (drawn right after the minibatch). Default: none."""
        return ()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "loop": self.loop.state_dict()}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        super().load_state_dict(d)
        self.loop.load_state_dict(d["loop"])
