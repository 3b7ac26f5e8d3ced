"""Proximal Policy Optimization (Schulman et al. 2017): continuous and discrete actions, vectors and pixels.

Reads top to bottom: config -> policy loss -> agent (collect with GAE, then epochs of minibatch
updates of policy and value). Three presets:
- `cleanrl` (default): CleanRL's ppo_continuous_action.py settings (obs/reward normalisation,
  2048 steps, 10 epochs x 32 minibatches, lr annealing, 64x64 tanh, orthogonal init).
- `spinningup`: Spinning Up's PyTorch PPO (4000 steps per epoch, 80 full-batch iterations for pi
  and for v, early stop at 1.5 x target_kl, (64,32) tanh, no normalisation), the protocol behind
  the reference curves in benchmarks/reference/.
- `classic` (CartPole-v1, Acrobot-v1: CleanRL's ppo.py) and `atari` (CleanRL's ppo_atari.py: 8 games,
  Nature CNN shared by policy and value, uint8 frame stacks in the rollout buffer).
- `gpu`: thousands of mujoco-warp worlds on one GPU (Brax / rsl_rl style): 4096 worlds x 32 steps,
  staggered episode starts, obs + reward normalisation on the device, 5 epochs x 8 minibatches of
  16k, an adaptive-KL learning rate (rsl_rl), bigger ELU networks, and the whole update phase
  replayed as one CUDA graph (`compile`).

`--compile`: on CUDA the whole update phase (epochs x minibatches of policy and value steps) is
recorded once as a CUDA graph and replayed (rlmeta/core/graphs.py; needs target_kl = 0, since the early
stop is a host decision); on the CPU each minibatch's forward and backward of both networks is one
torch.compile'd graph (rlmeta/core/optim.py Gradients) and the Adam steps another: about 2-3x less time per
update for the cleanrl preset, nothing for spinningup's full-batch steps (compute-bound). Either falls back
to eager with a warning; tests/test_ppo_compile.py checks the numbers agree. Loss metrics stay tensors
until the end of an iteration: one host sync for them per iteration.

Example:
    rlmeta train ppo --env Hopper-v5 --preset spinningup --total-steps 1000000 --run-dir runs/ppo-hop
    rlmeta train ppo --env HalfCheetah-v5 --preset gpu --total-steps 50000000      # one GPU, minutes
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from rlmeta.agents.onpolicy.base import OnPolicyAgent, OnPolicyConfig, normalized, to_floats, value_loss
from rlmeta.core.buffers import RolloutBatch
from rlmeta.core.graphs import CapturedFn
from rlmeta.core.networks import GaussianActor
from rlmeta.core.optim import FlatAdam, Gradients
from rlmeta.core.vec_env import VecEnv


@dataclass
class PPOConfig(OnPolicyConfig):
    """PPO hyperparameters (defaults: the cleanrl preset)."""

    preset: str = "cleanrl"
    """Named preset that sets the defaults below: cleanrl, spinningup, classic (CartPole-like discrete
    tasks, CleanRL's ppo.py), atari (CleanRL's ppo_atari.py) or gpu (or a .json/.yaml file)."""
    num_envs: int = 1
    """Parallel environments."""
    num_steps: int = 2048
    """Steps per env per iteration; the batch is num_steps * num_envs."""
    normalize_obs: bool = True
    """Normalise observations with running statistics."""
    normalize_reward: bool = True
    """Scale rewards by the running std of the discounted return."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of actor and critic."""
    ortho_init: bool = True
    """Orthogonal initialisation (policy head gain 0.01)."""
    log_std_init: float = 0.0
    """Initial log standard deviation of the Gaussian policy."""
    actor_lr: float = 3e-4
    """Adam learning rate of the policy."""
    critic_lr: float = 3e-4
    """Adam learning rate of the value function."""
    anneal_lr: bool = True
    """Decay both learning rates linearly to 0 over total_steps."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    update_epochs: int = 10
    """Passes over each batch."""
    num_minibatches: int = 32
    """Minibatches per pass (1 = full-batch updates, as Spinning Up)."""
    clip_coef: float = 0.2
    """Policy ratio clip range epsilon."""
    clip_vloss: bool = True
    """Clip the value update around the old value prediction (PPO2 style)."""
    ent_coef: float = 0.0
    """Entropy bonus weight."""
    vf_coef: float = 0.5
    """Value loss weight."""
    max_grad_norm: float = 0.5
    """Clip each network's gradient norm to this (0 disables)."""
    target_kl: float = 0.0
    """Stop *policy* updates in an iteration once approx KL > 1.5 * target_kl (0 disables);
    value updates continue, as in Spinning Up."""
    desired_kl: float = 0.0
    """Adaptive learning rate (rsl_rl) when > 0: before each minibatch step both rates are divided by
    1.5 if its approx KL > 2 * desired_kl and multiplied by 1.5 if < desired_kl / 2, within [1e-5, 1e-2]."""
    compile: bool = False
    """Speed up the update: on CUDA replay the whole update phase as one CUDA graph (needs
    target_kl = 0); on the CPU compile each minibatch's forward + backward and the Adam steps with
    torch.compile (seconds once per run; pays for minibatch presets like cleanrl). Numbers equal eager
    within float tolerance. Eager fallback, with a warning, on failure."""

    def validate(self) -> None:
        super().validate()
        self._check(
            update_epochs=self.update_epochs > 0,
            num_minibatches=0 < self.num_minibatches <= self.num_steps * self.num_envs,
            clip_coef=self.clip_coef > 0,
            actor_lr=self.actor_lr > 0,
            target_kl=self.target_kl >= 0,
            desired_kl=self.desired_kl >= 0,
            max_grad_norm=self.max_grad_norm >= 0,
        )

    @classmethod
    def presets(cls) -> dict[str, PPOConfig]:
        return {
            "cleanrl": cls(),
            "spinningup": cls(
                preset="spinningup",
                num_envs=4,
                num_steps=1000,
                normalize_obs=False,
                normalize_reward=False,
                hidden_sizes=(64, 32),
                ortho_init=False,
                log_std_init=-0.5,
                actor_lr=3e-4,
                critic_lr=1e-3,
                anneal_lr=False,
                gae_lambda=0.97,
                update_epochs=80,
                num_minibatches=1,
                clip_vloss=False,
                vf_coef=1.0,
                max_grad_norm=0.0,
                target_kl=0.01,
            ),
            # CleanRL's ppo.py (classic control, discrete actions: CartPole-v1, Acrobot-v1): 4 envs x 128
            # steps, 4 epochs of 4 minibatches, lr 2.5e-4 annealed, entropy bonus 0.01, raw observations
            # and rewards, 500k steps. Difference: one Adam and one gradient-norm clip per network here,
            # one shared by both in CleanRL.
            "classic": cls(
                preset="classic",
                env="CartPole-v1",
                num_envs=4,
                num_steps=128,
                total_steps=500_000,
                normalize_obs=False,
                normalize_reward=False,
                hidden_sizes=(64, 64),
                ortho_init=True,
                actor_lr=2.5e-4,
                critic_lr=2.5e-4,
                anneal_lr=True,
                gae_lambda=0.95,
                update_epochs=4,
                num_minibatches=4,
                clip_coef=0.2,
                clip_vloss=True,
                ent_coef=0.01,
                vf_coef=0.5,
                max_grad_norm=0.5,
            ),
            # CleanRL's ppo_atari.py (Atari with the Nature CNN shared by policy and value, envs/atari.py's
            # preprocessing): 8 envs x 128 steps, 4 epochs of 4 minibatches, lr 2.5e-4 annealed, clip 0.1,
            # entropy 0.01, 10M steps, linear heads on the 512 CNN features. Difference: the encoder is
            # stepped by the policy's Adam with the gradients of both losses, the value head by its own
            # Adam, and each network clips its own gradient norm (CleanRL: one Adam, one clip).
            "atari": cls(
                preset="atari",
                env="BreakoutNoFrameskip-v4",
                num_envs=8,
                num_steps=128,
                total_steps=10_000_000,
                checkpoint_every=1_000_000,
                normalize_obs=False,
                normalize_reward=False,
                hidden_sizes=(),
                ortho_init=True,
                actor_lr=2.5e-4,
                critic_lr=2.5e-4,
                anneal_lr=True,
                gamma=0.99,
                gae_lambda=0.95,
                update_epochs=4,
                num_minibatches=4,
                clip_coef=0.1,
                clip_vloss=True,
                ent_coef=0.01,
                vf_coef=0.5,
                max_grad_norm=0.5,
            ),
            # Massively parallel PPO (Brax PPO, rsl_rl, rl_games): many worlds and short unrolls, few
            # epochs of big minibatches, an adaptive-KL step size instead of annealing (the run's
            # length is set by wall time, not steps), networks sized for the data (rsl_rl's ELU MLPs).
            "gpu": cls(
                preset="gpu",
                env_backend="warp",
                stagger_starts=True,
                num_envs=4096,
                num_steps=32,
                total_steps=100_000_000,
                checkpoint_every=10_000_000,
                hidden_sizes=(256, 256, 128),
                activation="elu",
                actor_lr=3e-4,
                critic_lr=3e-4,
                anneal_lr=False,
                desired_kl=0.01,
                update_epochs=5,
                num_minibatches=8,
                max_grad_norm=1.0,
                compile=True,
            ),
        }

    @classmethod
    def task_overrides(cls, preset: str, env: str) -> dict:
        """Fields a preset sets differently on one task, applied when --env names it (flags given on
        the command line still win): GPU_TASK_SETTINGS (`gpu`) and CLASSIC_TASK_SETTINGS (`classic`) below."""
        table = {"gpu": GPU_TASK_SETTINGS, "classic": CLASSIC_TASK_SETTINGS}.get(preset, {})
        return dict(table.get(env, {}))


# The classic preset's per-task changes. CleanRL's ppo.py covers CartPole-v1 and Acrobot-v1 with one set of
# settings (the preset); it has no Box2D task, so LunarLander-v3 takes rl-baselines3-zoo's PPO settings
# (hyperparams/ppo.yml, LunarLander-v2: 16 envs x 1024 steps, minibatches of 64, 4 epochs, gamma 0.999,
# lambda 0.98, entropy 0.01, SB3's constant lr 3e-4 and unclipped value loss, 1M steps).
CLASSIC_TASK_SETTINGS: dict[str, dict] = {
    "LunarLander-v3": dict(
        num_envs=16,
        num_steps=1024,
        num_minibatches=256,
        update_epochs=4,
        gamma=0.999,
        gae_lambda=0.98,
        ent_coef=0.01,
        actor_lr=3e-4,
        critic_lr=3e-4,
        anneal_lr=False,
        clip_vloss=False,
        total_steps=1_000_000,
    ),
}

# The gpu preset's per-task changes, where the massively parallel references train a task differently.
# Brax's PPO settings (google/brax, notebooks/training.ipynb, the TRAIN_FNS table): ant discounting 0.97,
# entropy_cost 1e-2 (4 epochs of unroll 5); humanoid discounting 0.97, entropy_cost 1e-3, 8 epochs
# (num_updates_per_batch) of unroll 10; halfcheetah 0.95; its hopper and walker2d entries train SAC, so
# Walker2d keeps the preset's. Swimmer is in neither Brax's table nor MuJoCo Playground (whose
# locomotion tasks are dm_control's, not gymnasium's): its forward reward is small and pays off over
# long horizons, and rl-baselines3-zoo (hyperparams/ppo.yml, Swimmer-v3) trains it with gamma 0.9999.
# HalfCheetah and Hopper keep the preset as it was measured (benchmarks/results/gpu_ppo/).
GPU_TASK_SETTINGS: dict[str, dict] = {
    "Ant-v5": dict(gamma=0.97, ent_coef=1e-2),
    "Humanoid-v5": dict(gamma=0.97, ent_coef=1e-3, update_epochs=8),
    "Swimmer-v5": dict(gamma=0.9999),
}


def policy_loss(actor: GaussianActor, b: RolloutBatch, clip_coef: float, ent_coef: float, norm_adv: bool):
    """Clipped surrogate: -E[min(r A, clip(r, 1-eps, 1+eps) A)] - ent_coef * H.
    -> (loss, metrics as 0-dim tensors: no host sync, and torch.compile keeps one graph)"""
    logp, entropy = actor.log_prob_entropy(b.obs, b.actions)  # [B], [B]
    log_ratio = logp - b.logprobs
    ratio = log_ratio.exp()
    adv = normalized(b.advantages) if norm_adv else b.advantages
    surrogate = torch.min(ratio * adv, ratio.clamp(1 - clip_coef, 1 + clip_coef) * adv)
    loss = -surrogate.mean() - ent_coef * entropy.mean()
    with torch.no_grad():
        # k3 estimator of KL(old || new): unbiased, always >= 0 (Schulman, "Approximating KL")
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clipfrac = ((ratio - 1).abs() > clip_coef).float().mean()
    return loss, {
        "losses/policy_loss": loss.detach(),
        "losses/entropy": entropy.mean().detach(),
        "losses/approx_kl": approx_kl,
        "losses/clipfrac": clipfrac,
    }


class PPO(OnPolicyAgent):
    algo = "ppo"
    Config = PPOConfig
    lr_fields: ClassVar[dict[str, str]] = {"actor_lr": "actor_opt", "critic_lr": "critic_opt"}
    share_encoder = True  # images: one encoder under policy and value (both losses in one backward)

    def __init__(self, cfg: PPOConfig, envs: VecEnv, device: torch.device):
        super().__init__(cfg, envs, device)
        # FlatAdam == torch Adam numerically, with one fused step per network (rlmeta/core/optim.py)
        self.actor_opt = FlatAdam(
            self.actor.parameters(), lr=cfg.actor_lr, eps=1e-5, capturable=self.critic_opt.capturable
        )
        graphs = cfg.compile and device.type == "cuda" and cfg.target_kl == 0
        # both networks' gradients in one pass; on the CPU with --compile one compiled graph (rlmeta/core/optim.py)
        self._grads = Gradients(
            self.minibatch_losses,
            nn.ModuleDict({"actor": self.actor, "critic": self.critic}),
            [self.critic_opt, self.actor_opt],
            compile=cfg.compile and not graphs,
        )
        opt_state = [x for o in (self.actor_opt, self.critic_opt) for x in (o.flat, o.m, o.v, o._t, o._lr)]
        self._update_phase = CapturedFn(self.update_phase, opt_state, enabled=graphs, name="PPO update phase")

    def iteration(self) -> dict[str, float]:
        cfg = self.cfg
        if cfg.anneal_lr:
            frac = max(1.0 - self.global_step / cfg.total_steps, 0.0)
            self.actor_opt.lr, self.critic_opt.lr = frac * cfg.actor_lr, frac * cfg.critic_lr
        batch = self.collect()  # B = T * N transitions
        metrics = self.update(batch)
        metrics.update(self.batch_metrics(batch))
        return metrics

    def update(self, batch: RolloutBatch) -> dict[str, float]:
        """update_epochs passes of minibatch steps of policy and value over one batch -> metrics."""
        B = batch.obs.shape[0]
        # every epoch's permutation first (the same draws as one randperm per epoch), so the phase
        # itself is fixed-shape work that a CUDA graph can replay
        perms = torch.stack([torch.randperm(B, device=self.device) for _ in range(self.cfg.update_epochs)])  # [E, B]
        return to_floats(self._update_phase(batch, perms))

    def update_phase(self, batch: RolloutBatch, perms: torch.Tensor) -> dict[str, torch.Tensor | float]:
        """The minibatch steps over `batch` in the order `perms` [E, B] gives -> metrics (tensors)."""
        cfg = self.cfg
        mb_size = batch.obs.shape[0] // cfg.num_minibatches
        pi_active, pi_updates = True, 0
        metrics: dict[str, torch.Tensor | float] = {}
        for perm in perms:
            shuffled = RolloutBatch(*(x[perm] for x in batch))  # one gather per epoch; minibatches are slices
            for start in range(0, len(perm), mb_size):
                mb = RolloutBatch(*(x[start : start + mb_size] for x in shuffled))
                m = self._grads(mb, pi_active)  # .grad of the critic (and of the actor while it trains)
                # Spinning Up: the KL is checked *before* the step; the policy stops, the critic goes on
                if pi_active and cfg.target_kl > 0 and m["losses/approx_kl"] > 1.5 * cfg.target_kl:
                    pi_active, m = False, {"losses/value_loss": m["losses/value_loss"]}
                metrics.update(m)
                if pi_active and cfg.desired_kl > 0:
                    self.adapt_lr(m["losses/approx_kl"])
                # each network its own rate and gradient clip
                self._grads.step(
                    [self.critic_opt, self.actor_opt] if pi_active else [self.critic_opt], cfg.max_grad_norm
                )
                pi_updates += pi_active

        metrics["losses/policy_updates"] = float(pi_updates)
        metrics["charts/learning_rate"] = self.actor_opt.lr
        return metrics

    def minibatch_losses(self, mb: RolloutBatch, with_policy: bool) -> tuple[list[torch.Tensor], dict]:
        """-> ([vf_coef * value loss, policy loss + extra losses (with_policy only)], metrics as tensors)"""
        cfg = self.cfg
        # a shared image encoder (NatureCNN) runs once for both losses of the minibatch
        reuse = getattr(getattr(self.actor, "encoder", None), "reuse", None)
        with (
            reuse()
            if reuse is not None and self.share_encoder and not torch.compiler.is_compiling()
            else contextlib.nullcontext()
        ):
            vloss, metrics = value_loss(self.critic, mb, cfg.clip_coef if cfg.clip_vloss else 0.0)
            losses = [cfg.vf_coef * vloss]
            if with_policy:
                loss, pm = policy_loss(self.actor, mb, cfg.clip_coef, cfg.ent_coef, cfg.norm_adv)
                extra, em = self.extra_loss(mb)
                losses.append(loss + extra)
                metrics = {**metrics, **pm, **em}
        return losses, metrics

    def adapt_lr(self, kl: torch.Tensor) -> None:
        """rsl_rl's adaptive schedule from this minibatch's KL (before its step); both networks' rates
        move by the same factor, on the device (no host sync)."""
        d = self.cfg.desired_kl
        factor = torch.where(kl > 2 * d, 1 / 1.5, torch.where(kl < d / 2, 1.5, 1.0))
        for opt in (self.actor_opt, self.critic_opt):
            opt.scale_lr(factor, 1e-5, 1e-2)
