"""MAML for meta-RL (Finn et al. 2017, section 5.3), with a TRPO or a ProMP outer update.

One meta-iteration, for M tasks of a family in envs/meta/ (all tasks stepped as one vector env,
sub-env m * R + r runs rollout r of task m):

1. sample R rollouts of horizon H per task with the meta-policy theta (step-0 data D_0);
2. per task, fit a linear feature baseline (rllab's: [o, o^2, t, t^2, t^3, 1], ridge 1e-5) to the
   discounted returns, take GAE advantages (gamma 0.99, lambda 1), normalise them per task;
3. adapt: theta'_m = theta - alpha * grad L_in(theta; D_0,m), one policy-gradient step per task,
   vmapped over tasks (agents/maml/core.py); repeat 1-3 for `inner_steps` steps;
4. sample D_K with the adapted policies and update theta on the post-update objective, whose
   gradient flows back through the adaptation (second order unless --first-order):
   - trpo (MAML): max mean_m E[pi_theta'_m / pi_old * A] s.t. mean_m KL(pi_old || pi_theta'_m) <= delta,
     the natural gradient by CG on Fisher-vector products of that KL (rlmeta.core.natural_gradient);
   - promp (Rothfuss et al. 2019): `promp_steps` Adam steps on the PPO-clipped post-update objective
     plus a penalty eta * KL(pi_old || pi_theta_k) on the data of every inner step k (D_0 .. D_K-1).

The inner objective is ProMP's "ratio" (LVC) estimator -E[pi_theta / stop_grad(pi_theta) * A] by
default: the same first gradient as MAML's -E[log pi_theta * A] ("logprob", also offered) but the
Hessian, which the meta-gradient uses, of the true expected return (Rothfuss et al. 2019, sec. 4).
With inner_steps = 0 the same trainer is multi-task TRPO/PPO: the "pretrained" baseline of the
MAML paper.

Defaults are ProMP's run scripts (meta-batch 40, 20 rollouts per task, inner lr 0.1, 64x64 tanh,
learned state-independent std initialised at 1, trust region 0.01) with the family's horizon (MAML
paper: 200 for the cheetah and ant families, 100 for point).

The env is the numpy family of envs/meta by default; `--env-backend mujoco | warp` runs the same
family as the task-batched torch env of envs/meta/batched.py (task rows and rewards as tensors; warp:
mujoco-warp worlds on `--device`, so with `--device cuda` sampling, adaptation and the outer update
all stay on the GPU; that path is tested only on Warp's CPU device so far).

Example:
    rlmeta meta-train cheetah-vel --meta-iterations 500 --run-dir runs/maml-cheetah-vel
    rlmeta meta-train cheetah-dir --env-backend warp --device cuda --meta-batch 40 --rollouts-per-task 20
    rlmeta meta-train cheetah-dir --outer promp
    rlmeta meta-train point --meta-batch 20 --horizon 100 --meta-sgd
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
import torch
import tyro
from torch.func import vmap

from rlmeta.agents.maml.config import MetaRunConfig
from rlmeta.agents.maml.core import MetaLearner, Params
from rlmeta.core.distributions import gaussian_kl, gaussian_log_prob
from rlmeta.core.errors import ConfigError
from rlmeta.core.memory import check_fits, mlp_params
from rlmeta.core.natural_gradient import backtracking_line_search, conjugate_gradient, fisher_vector_product, flat_grad
from rlmeta.core.networks import GaussianActor
from rlmeta.core.optim import set_learning_rates
from rlmeta.core.seeding import resolve_device
from rlmeta.envs.meta import FAMILIES, MetaVecEnv, make_meta_env, meta_env_class


@dataclass
class MetaRLConfig(MetaRunConfig):
    """MAML meta-RL on a task family of envs/meta (defaults: ProMP's MuJoCo run scripts)."""

    env: tyro.conf.Suppress[str] = "cheetah-vel"
    """Task family: cheetah-vel, cheetah-dir, ant-dir or point (the positional argument)."""
    meta_iterations: int = 1000
    """Meta-updates (ProMP: 1000)."""
    outer: Literal["trpo", "promp"] = "trpo"
    """Outer update: trpo (MAML-TRPO, natural gradient in a KL trust region) or promp (clipped objective + inner KL penalty, Adam)."""
    meta_batch: int = 40
    """Tasks per meta-update (M)."""
    rollouts_per_task: int = 20
    """Rollouts per task and inner step (R); the batch of one task is R * horizon steps."""
    horizon: int = 0
    """Steps per rollout; 0 = the family's (cheetah/ant 200, point 100)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of the Gaussian policy's mean network."""
    activation: str = "tanh"
    """Hidden activation: tanh, relu or elu."""
    log_std_init: float = 0.0
    """Initial log standard deviation (learned, state independent)."""
    inner_lr: float = 0.1
    """Inner policy-gradient step size alpha (the initial value of the learned lrs with --meta-sgd)."""
    inner_steps: int = 1
    """Adaptation steps per task during meta-training; 0 = multi-task training (no adaptation)."""
    inner_objective: Literal["ratio", "logprob"] = "ratio"
    """Inner loss: ratio (ProMP's LVC, -E[pi/stop_grad(pi) A]) or logprob (MAML's -E[log pi A])."""
    first_order: bool = False
    """First-order MAML: no gradient through the inner gradient."""
    meta_sgd: bool = False
    """Meta-SGD: meta-learn one inner learning rate per policy parameter entry."""
    adapt: Literal["all", "head"] = "all"
    """Parameters moved by the inner step: all, or head (ANIL: the mean network's last layer)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 1.0
    """GAE lambda (ProMP: 1, i.e. discounted return minus baseline)."""
    norm_adv: bool = True
    """Normalise advantages per task (mean 0, std 1 over the task's steps)."""
    baseline_reg: float = 1e-5
    """Ridge coefficient of the linear feature baseline (multiplied by 10 up to 4 times if the fit is not finite)."""
    max_kl: float = 0.01
    """trpo: trust-region radius, the largest mean post-update KL(old || new)."""
    damping: float = 1e-5
    """trpo: damping added to the Fisher matrix in CG (rllab's reg_coeff)."""
    cg_iters: int = 10
    """trpo: conjugate-gradient iterations."""
    backtrack_iters: int = 15
    """trpo: line-search steps before the update is rejected."""
    backtrack_coef: float = 0.8
    """trpo: step shrink factor per line-search step."""
    meta_lr: float = 1e-3
    """promp: Adam learning rate of the outer update."""
    promp_steps: int = 5
    """promp: Adam steps per meta-iteration on the same samples."""
    clip_eps: float = 0.3
    """promp: PPO clip range of the post-update likelihood ratio."""
    inner_kl_penalty: float = 5e-4
    """promp: initial coefficient eta of the KL(pi_old || pi_theta) penalty on each inner step's data."""
    adaptive_inner_kl: bool = False
    """promp: halve/double eta when the inner KL is below/above target_inner_kl / 1.5 / * 1.5."""
    target_inner_kl: float = 0.01
    """promp: target of the adaptive inner KL penalty."""
    env_threads: int = 1
    """Physics threads of the batched MuJoCo backend (cheetah families); 0 = one per CPU core."""
    env_backend: Literal["numpy", "mujoco", "warp"] = "numpy"
    """Meta env: numpy (envs/meta families), or the task-batched torch env (envs/meta/batched.py) on the batched MuJoCo backend (mujoco) or on mujoco-warp worlds on --device (warp; needs the gpu extra)."""
    eval_tasks: int = 40
    """Held-out tasks in the final evaluation (returns after 0..eval_steps adaptation steps)."""
    eval_rollouts: int = 20
    """Rollouts per held-out task and adaptation step."""
    eval_steps: int = 3
    """Adaptation steps in the final evaluation."""
    eval_seed: int = 12345
    """Seed of the held-out tasks and their rollouts."""
    log_every: int = 1
    """Write a progress.csv row every this many meta-iterations."""
    checkpoint_every: int = 10
    """Write checkpoint.pt every this many meta-iterations; always at the end."""

    def validate(self) -> None:
        super().validate()
        if self.env not in FAMILIES:
            raise ConfigError(f"unknown task family '{self.env}'; choose from sine, {', '.join(FAMILIES)}")
        for name in (
            "meta_batch",
            "rollouts_per_task",
            "eval_tasks",
            "eval_rollouts",
            "cg_iters",
            "backtrack_iters",
            "promp_steps",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        for name in ("horizon", "inner_steps", "eval_steps", "env_threads"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.env in ("cheetah-vel", "cheetah-dir", "ant-dir") and self.horizon >= 1000:
            env_id = "Ant-v5" if self.env == "ant-dir" else "HalfCheetah-v5"
            raise ConfigError(f"--horizon must be < 1000 for {self.env} ({env_id}'s time limit)")
        for name in ("inner_lr", "max_kl", "meta_lr", "clip_eps", "target_inner_kl"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if not (0 <= self.gamma <= 1 and 0 <= self.gae_lambda <= 1):
            raise ConfigError("--gamma and --gae-lambda must lie in [0, 1]")
        if not 0 < self.backtrack_coef < 1:
            raise ConfigError(f"--backtrack-coef must lie in (0, 1), got {self.backtrack_coef}")
        if self.activation not in ("relu", "tanh", "elu"):
            raise ConfigError(f"--activation must be relu, tanh or elu, got {self.activation}")
        if not self.hidden_sizes or min(self.hidden_sizes) <= 0:
            raise ConfigError(f"--hidden-sizes must be positive, got {self.hidden_sizes}")
        check_fits(
            {
                "networks": (self.meta_batch + 4) * 4 * mlp_params([1, *self.hidden_sizes, 1]),
                "rollouts": self.meta_batch * self.rollouts_per_task * max(self.horizon, 1) * 8 * 4 * 2,
            },
            "--hidden-sizes / --meta-batch / --rollouts-per-task / --horizon",
        )

    def resolved_horizon(self) -> int:
        return self.horizon or meta_env_class(self.env).horizon


# ---------------------------------------------------------------------- data
class Rollouts(NamedTuple):
    """R fixed-horizon rollouts of each of M tasks."""

    obs: torch.Tensor  # [M, R, H, obs_dim] observation the action was taken in
    act: torch.Tensor  # [M, R, H, act_dim] sampled (unclipped) action
    reward: torch.Tensor  # [M, R, H] (0 after termination)
    logp: torch.Tensor  # [M, R, H] log-prob under the sampling policy
    mean: torch.Tensor  # [M, R, H, act_dim] sampling policy's mean
    log_std: torch.Tensor  # [M, R, H, act_dim]
    mask: torch.Tensor  # [M, R, H] 1 while the episode runs


class StepBatch(NamedTuple):
    """One inner step's data per task, flattened over rollouts and time (N = R * H)."""

    obs: torch.Tensor  # [M, N, obs_dim]
    act: torch.Tensor  # [M, N, act_dim]
    logp: torch.Tensor  # [M, N]
    mean: torch.Tensor  # [M, N, act_dim]
    log_std: torch.Tensor  # [M, N, act_dim]
    adv: torch.Tensor  # [M, N]
    mask: torch.Tensor  # [M, N]


def policy_fn(learner: MetaLearner, params: Params, batched: bool):
    """obs [M, R, obs_dim] -> (mean, log_std) [M, R, act_dim]; batched: one parameter set per task."""
    if batched:
        return vmap(lambda p, o: learner(o, p))
    return lambda _p, o: learner(o, _p)


@torch.no_grad()
def sample_rollouts(
    env: MetaVecEnv,
    learner: MetaLearner,
    params: Params,
    batched: bool,
    tasks: np.ndarray,
    rollouts: int,
    horizon: int,
    seed: int,
) -> Rollouts:
    """Run R rollouts of each task (env.num_envs == M * R) with `params` ([M, ...] per task if batched)."""
    m = tasks.shape[0]
    if env.num_envs != m * rollouts:
        raise ValueError(f"env has {env.num_envs} sub-envs, need {m} tasks x {rollouts} rollouts")
    env.set_task(np.repeat(tasks, rollouts, axis=0))  # sub-env m * R + r runs task m
    pi = policy_fn(learner, params, batched)
    device = next(iter(params.values())).device
    # a torch env (envs/meta/batched.py) takes the actions as they are: on the warp backend the whole
    # loop then stays on the device; a numpy env gets host arrays
    to_env = (lambda a: a) if getattr(env, "is_torch", False) else (lambda a: a.cpu().numpy())
    obs = env.reset(seed=seed)
    alive = torch.ones(env.num_envs, dtype=torch.bool, device=device)
    out: dict[str, list[torch.Tensor]] = {k: [] for k in Rollouts._fields}
    for _ in range(horizon):
        o = torch.as_tensor(obs, dtype=torch.float32, device=device).view(m, rollouts, -1)  # [M, R, obs_dim]
        mean, log_std = pi(params, o)  # [M, R, act_dim]
        a = mean + torch.randn_like(mean) * log_std.exp()
        next_obs, reward, done = env.step(to_env(a.reshape(m * rollouts, -1)))
        live = alive.to(torch.float32).view(m, rollouts)
        reward = torch.as_tensor(reward, device=device).to(torch.float32).view(m, rollouts) * live
        for k, v in (
            ("obs", o),
            ("act", a),
            ("logp", gaussian_log_prob(a, mean, log_std)),
            ("mean", mean),
            ("log_std", log_std),
            ("mask", live),
            ("reward", reward),
        ):
            out[k].append(v)
        alive &= ~torch.as_tensor(done, device=device)
        obs = next_obs
    return Rollouts(**{k: torch.stack(v, dim=2) for k, v in out.items()})


def discounted_cumsum(x: torch.Tensor, gamma: float) -> torch.Tensor:
    """y_t = sum_{t' >= t} gamma^(t' - t) x_t' along the last dim, as one matmul.  [..., H] -> [..., H]"""
    h = x.shape[-1]
    t = torch.arange(h, device=x.device, dtype=x.dtype)
    expo = t[:, None] - t[None, :]  # [H(t'), H(t)]
    g = torch.where(
        expo >= 0,
        torch.as_tensor(gamma, dtype=x.dtype, device=x.device) ** expo.clamp_min(0),
        torch.zeros((), dtype=x.dtype, device=x.device),
    )
    return x @ g


def baseline_features(obs: torch.Tensor) -> torch.Tensor:
    """rllab's LinearFeatureBaseline features: [o, o^2, t/100, (t/100)^2, (t/100)^3, 1], o clipped to
    +-10.  obs [..., H, D] -> [..., H, 2D + 4]"""
    o = obs.clamp(-10, 10)
    t = (torch.arange(obs.shape[-2], dtype=obs.dtype, device=obs.device) / 100.0)[:, None].expand(*obs.shape[:-1], 1)
    return torch.cat([o, o * o, t, t**2, t**3, torch.ones_like(t)], dim=-1)


def fit_linear_baseline(
    feats: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, reg: float = 1e-5
) -> torch.Tensor:
    """Per-task ridge regression of `target` on `feats` over the unmasked steps (rllab's damped least
    squares, reg x10 up to 4 times if the solution is not finite). feats [M, N, F], target [M, N],
    mask [M, N] -> coefficients [M, F]"""
    f = feats.double() * mask.double()[..., None]
    a = f.transpose(1, 2) @ f  # [M, F, F]
    b = f.transpose(1, 2) @ target.double()[..., None]  # [M, F, 1]
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    for _ in range(5):
        # Cholesky, not lstsq: LAPACK's gelsy gave run-to-run different bits here, breaking bitwise resume.
        chol, info = torch.linalg.cholesky_ex(a + reg * eye)
        coef = torch.cholesky_solve(b, chol)[..., 0]
        if (info == 0).all() and torch.isfinite(coef).all():
            break
        reg *= 10
    return coef


def process_rollouts(r: Rollouts, gamma: float, gae_lambda: float, baseline_reg: float, norm_adv: bool) -> StepBatch:
    """Per-task linear baseline + GAE advantages (value 0 after the horizon, as rllab/ProMP) -> StepBatch."""
    m, n_roll, h = r.reward.shape
    mask, rew = r.mask.double(), r.reward.double()
    returns = discounted_cumsum(rew, gamma)  # [M, R, H]
    feats = baseline_features(r.obs.double())  # [M, R, H, F]
    coef = fit_linear_baseline(
        feats.reshape(m, n_roll * h, -1), returns.reshape(m, -1), mask.reshape(m, -1), baseline_reg
    )
    values = (feats @ coef[:, None, :, None])[..., 0] * mask  # [M, R, H]
    next_values = torch.cat([values[..., 1:], torch.zeros_like(values[..., :1])], dim=-1)
    deltas = (rew + gamma * next_values - values) * mask
    adv = discounted_cumsum(deltas, gamma * gae_lambda) * mask  # [M, R, H]
    adv, mask = adv.reshape(m, -1), mask.reshape(m, -1)
    if norm_adv:
        count = mask.sum(1, keepdim=True)
        mu = adv.sum(1, keepdim=True) / count
        std = (((adv - mu) * mask).pow(2).sum(1, keepdim=True) / count).sqrt()
        adv = (adv - mu) / (std + 1e-8) * mask
    flat = lambda x: x.reshape(m, n_roll * h, *x.shape[3:])  # noqa: E731
    return StepBatch(flat(r.obs), flat(r.act), flat(r.logp), flat(r.mean), flat(r.log_std), adv.float(), mask.float())


# ---------------------------------------------------------------------- losses (one task, vmapped)
def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


def inner_loss(learner: MetaLearner, params: Params, b: StepBatch, kind: str) -> torch.Tensor:
    """The adaptation loss of one task: -E[pi/stop_grad(pi_old) A] (ratio) or -E[log pi A] (logprob)."""
    mean, log_std = learner(b.obs, params)
    logp = gaussian_log_prob(b.act, mean, log_std)  # [N]
    obj = torch.exp(logp - b.logp) if kind == "ratio" else logp
    return -masked_mean(obj * b.adv, b.mask)


def adapt(
    learner: MetaLearner, params: Params, batches: Sequence[StepBatch], kind: str
) -> tuple[Params, list[torch.Tensor]]:
    """len(batches) inner steps of one task, step k on batches[k]. -> (adapted params, inner KLs),
    inner KL k = mean KL(pi_old || pi_theta_k) on batches[k] before step k (ProMP's penalty)."""
    kls = []
    for b in batches:
        mean, log_std = learner(b.obs, params)
        kls.append(masked_mean(gaussian_kl(b.mean, b.log_std, mean, log_std), b.mask))
        params = learner.inner_step(params, lambda p, b=b: inner_loss(learner, p, b, kind))
    return params, kls


def outer_terms(learner: MetaLearner, params: Params, batches: Sequence[StepBatch], kind: str, clip_eps: float):
    """One task's post-update terms, differentiable w.r.t. the meta-parameters through the adaptation.
    batches = (D_0, ..., D_K). -> (surrogate loss, clipped surrogate loss, KL(old || new) on D_K, inner KLs [K])"""
    adapted, kls = adapt(learner, params, batches[:-1], kind)
    b = batches[-1]
    mean, log_std = learner(b.obs, adapted)
    ratio = torch.exp(gaussian_log_prob(b.act, mean, log_std) - b.logp)  # [N]
    surr = -masked_mean(ratio * b.adv, b.mask)
    clipped = -masked_mean(torch.minimum(ratio * b.adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * b.adv), b.mask)
    kl = masked_mean(gaussian_kl(b.mean, b.log_std, mean, log_std), b.mask)
    inner_kls = torch.stack(kls) if kls else surr.new_zeros(0)
    return surr, clipped, kl, inner_kls


# ---------------------------------------------------------------------- trainer
class MetaRLTrainer:
    """Owns the meta-policy (a MetaLearner around a GaussianActor), the vector env of M * R sub-envs and
    the task sampler; one `iteration()` = sample, adapt, sample, outer update."""

    lr_fields: ClassVar[dict[str, str]] = {"meta_lr": "optimizer"}  # --resume RUN --meta-lr X reaches the Adam
    set_learning_rates = set_learning_rates

    def __init__(self, cfg: MetaRLConfig, env: MetaVecEnv | None = None):
        cfg.validate()
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.horizon = cfg.resolved_horizon()
        self.env = env or self._make_env(cfg.meta_batch * cfg.rollouts_per_task)
        actor = GaussianActor(self.env.obs_dim, self.env.act_dim, cfg.hidden_sizes, cfg.activation, cfg.log_std_init)
        self.learner = MetaLearner(actor, cfg.inner_lr, cfg.first_order, cfg.meta_sgd, cfg.adapt).to(self.device)
        self.optimizer = torch.optim.Adam(self.learner.parameters(), lr=cfg.meta_lr)  # promp only
        self.inner_kl_coef = np.full(max(cfg.inner_steps, 1), cfg.inner_kl_penalty)
        self.task_rng = np.random.default_rng(cfg.seed)
        self.global_step = self.iteration_count = 0
        self.steps_per_iteration = cfg.meta_batch * cfg.rollouts_per_task * self.horizon * (cfg.inner_steps + 1)
        self.total_steps = cfg.meta_iterations * self.steps_per_iteration
        self._eval_env: MetaVecEnv | None = None

    def _make_env(self, n: int) -> MetaVecEnv:
        c = self.cfg
        return make_meta_env(c.env, n, threads=c.env_threads, backend=c.env_backend, device=self.device)

    # ------------------------------------------------------------------ pieces
    def adapted_params(self, batches: Sequence[StepBatch]) -> Params:
        """theta'_m after len(batches) inner steps, per task ([M, ...] per parameter), no meta-graph."""
        params = {k: v.detach() for k, v in self.learner.params().items()}
        kind = self.cfg.inner_objective
        return vmap(lambda p, bs: adapt(self.learner, p, bs, kind)[0], in_dims=(None, 0))(params, tuple(batches))

    def per_task_terms(self, batches: Sequence[StepBatch]):
        """outer_terms for every task, vmapped: -> surr [M], clipped [M], kl [M], inner_kls [M, K]."""
        c = self.cfg
        fn = lambda p, bs: outer_terms(self.learner, p, bs, c.inner_objective, c.clip_eps)  # noqa: E731
        return vmap(fn, in_dims=(None, 0))(self.learner.params(), tuple(batches))

    def collect(self, tasks: np.ndarray, env: MetaVecEnv, steps: int, rollouts: int, seed: int):
        """Sample with theta, adapt, sample, ... -> (StepBatches D_0..D_steps, mean return per rollout [steps+1, M])."""
        c = self.cfg
        batches: list[StepBatch] = []
        returns = []
        for k in range(steps + 1):
            if k == 0:
                params, batched = {n: p.detach() for n, p in self.learner.params().items()}, False
            else:
                params, batched = self.adapted_params(batches), True
            r = sample_rollouts(env, self.learner, params, batched, tasks, rollouts, self.horizon, seed + k)
            returns.append(r.reward.sum(-1).mean(-1))  # [M]
            batches.append(process_rollouts(r, c.gamma, c.gae_lambda, c.baseline_reg, c.norm_adv))
        return batches, torch.stack(returns)

    # ------------------------------------------------------------------ outer updates
    def trpo_update(self, batches: Sequence[StepBatch]) -> dict[str, float]:
        c = self.cfg
        params = list(self.learner.parameters())
        loss_fn = lambda: self.per_task_terms(batches)[0].mean()  # noqa: E731
        kl_fn = lambda: self.per_task_terms(batches)[2].mean()  # noqa: E731
        loss = loss_fn()
        g = flat_grad(loss, params)  # [P] meta-gradient (through the adaptation)
        fvp = fisher_vector_product(kl_fn, params, c.damping)  # Fisher of the *adapted* policies w.r.t. theta
        x = conjugate_gradient(fvp, g, c.cg_iters)
        step = -torch.sqrt(2 * c.max_kl / x.dot(fvp(x)).clamp_min(1e-12)) * x
        accepted, j = backtracking_line_search(
            self.learner, step, loss_fn, kl_fn, c.max_kl, c.backtrack_coef, c.backtrack_iters
        )
        with torch.no_grad():
            surr, _, kl, inner_kls = self.per_task_terms(batches)
        return {
            "losses/surrogate_before": loss.item(),
            "losses/surrogate_after": surr.mean().item(),
            "losses/outer_kl": kl.mean().item(),
            "losses/inner_kl": inner_kls.mean().item() if inner_kls.numel() else 0.0,
            "losses/backtrack_iters": float(j),
            "losses/step_accepted": float(accepted),
            "losses/grad_norm": g.norm().item(),
        }

    def promp_update(self, batches: Sequence[StepBatch]) -> dict[str, float]:
        c = self.cfg
        coef = torch.as_tensor(self.inner_kl_coef[: c.inner_steps], dtype=torch.float32, device=self.device)
        first = None
        for _ in range(c.promp_steps):
            _, clipped, _, inner_kls = self.per_task_terms(batches)
            loss = clipped.mean() + (coef * inner_kls.mean(0)).mean() if c.inner_steps else clipped.mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            first = loss.item() if first is None else first
        with torch.no_grad():
            _, clipped, kl, inner_kls = self.per_task_terms(batches)
        step_kls = inner_kls.mean(0).cpu().numpy()  # [K]
        if c.adaptive_inner_kl and c.inner_steps:
            lo, hi = step_kls < c.target_inner_kl / 1.5, step_kls > c.target_inner_kl * 1.5
            self.inner_kl_coef[: c.inner_steps] *= np.where(lo, 0.5, np.where(hi, 2.0, 1.0))
        return {
            "losses/clipped_before": first,
            "losses/clipped_after": clipped.mean().item(),
            "losses/outer_kl": kl.mean().item(),
            "losses/inner_kl": float(step_kls.mean()) if step_kls.size else 0.0,
            "losses/inner_kl_coef": float(self.inner_kl_coef.mean()),
        }

    # ------------------------------------------------------------------ loop
    def iteration(self) -> dict[str, float]:
        c = self.cfg
        tasks = self.env.sample_tasks(c.meta_batch, self.task_rng)  # [M, task_dim]
        seed = int(self.task_rng.integers(2**31 - 1 - c.inner_steps))
        batches, returns = self.collect(tasks, self.env, c.inner_steps, c.rollouts_per_task, seed)
        metrics = self.trpo_update(batches) if c.outer == "trpo" else self.promp_update(batches)
        self.iteration_count += 1
        self.global_step += self.steps_per_iteration
        metrics["charts/pre_update_return"] = returns[0].mean().item()
        metrics["charts/post_update_return"] = returns[-1].mean().item()
        metrics["charts/episodic_return"] = returns[-1].mean().item()  # what the console shows
        if self.learner.meta_sgd:
            metrics["charts/mean_inner_lr"] = (
                torch.cat([v.detach().flatten() for v in self.learner.lrs.values()]).mean().item()
            )
        return metrics

    def evaluate(
        self,
        n_tasks: int | None = None,
        steps: int | None = None,
        rollouts: int | None = None,
        inner_lr: float | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """Mean return per rollout after 0..steps adaptation steps on held-out tasks (the MAML paper's
        figure 5 protocol: sample, take a PG step on those samples, sample again, ...).
        inner_lr overrides the step size (e.g. to tune it for a pretrained or random policy).
        -> {"tasks": [T, task_dim], "returns": [steps + 1, T] mean return per rollout}"""
        c = self.cfg
        n_tasks, steps = n_tasks or c.eval_tasks, c.eval_steps if steps is None else steps
        rollouts = rollouts or c.eval_rollouts
        seed = c.eval_seed if seed is None else seed
        tasks = self.env.sample_tasks(n_tasks, np.random.default_rng(seed))
        env = self.env if self.env.num_envs == n_tasks * rollouts else self._get_eval_env(n_tasks * rollouts)
        saved_lr = self.learner.inner_lr
        if inner_lr is not None:
            if self.learner.meta_sgd:
                raise ConfigError("inner_lr cannot override Meta-SGD's learned step sizes")
            self.learner.inner_lr = inner_lr
        try:
            with torch.random.fork_rng():  # evaluation does not move the training RNG
                torch.manual_seed(seed)
                _, returns = self.collect(tasks, env, steps, rollouts, seed)
        finally:
            self.learner.inner_lr = saved_lr
        return {"tasks": tasks, "returns": returns.cpu().numpy()}

    def _get_eval_env(self, n: int) -> MetaVecEnv:
        if self._eval_env is None or self._eval_env.num_envs != n:
            if self._eval_env is not None:
                self._eval_env.close()
            self._eval_env = self._make_env(n)
        return self._eval_env

    def final_eval(self, run_dir: Path) -> dict[str, float]:
        res = self.evaluate()
        ret = res["returns"]  # [S + 1, T]
        summary = {
            str(k): {
                "mean": float(ret[k].mean()),
                "ci95": float(1.96 * ret[k].std(ddof=1) / math.sqrt(ret.shape[1])) if ret.shape[1] > 1 else 0.0,
            }
            for k in range(ret.shape[0])
        }
        (run_dir / "eval.json").write_text(
            json.dumps(
                {
                    "env": self.cfg.env,
                    "eval_tasks": int(ret.shape[1]),
                    "eval_rollouts": self.cfg.eval_rollouts,
                    "horizon": self.horizon,
                    "return_after_steps": summary,
                    "tasks": res["tasks"].tolist(),
                    "per_task_returns": ret.tolist(),
                },
                indent=2,
            )
        )
        for k, s in summary.items():
            print(f"maml {self.cfg.env}: return after {k} adaptation steps = {s['mean']:.2f} +- {s['ci95']:.2f}")
        return {f"eval/return_{k}_steps": s["mean"] for k, s in summary.items()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "learner": self.learner.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "task_rng": self.task_rng.bit_generator.state,
            "inner_kl_coef": self.inner_kl_coef.copy(),
            "iteration": self.iteration_count,
            "global_step": self.global_step,
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.learner.load_state_dict(d["learner"])
        self.optimizer.load_state_dict(d["optimizer"])
        self.task_rng.bit_generator.state = d["task_rng"]
        self.inner_kl_coef = np.asarray(d["inner_kl_coef"]).copy()
        self.iteration_count, self.global_step = int(d["iteration"]), int(d["global_step"])

    def close(self) -> None:
        self.env.close()
        if self._eval_env is not None:
            self._eval_env.close()
