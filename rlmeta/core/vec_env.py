"""The vector-env interface every agent sees, with episode statistics and normalisation.

Autoreset is SAME_STEP, explicitly: when sub-env i ends at step t, `step()` returns the *reset*
observation for i in `obs` and the true last observation in `final_obs`. An agent bootstraps a
truncated episode with V(final_obs); a terminated one gets no bootstrap. (gymnasium 1.x defaults
to NEXT_STEP, where the step after a done is a dummy reset step; mixing the two silently corrupts
returns and bootstrapping.)

Backends (gymnasium sync/async, batched MuJoCo) only have to return raw arrays; this wrapper adds
action clipping, float32 casting, episode statistics on the *raw* reward, and optional observation /
reward normalisation, whose statistics travel with the checkpoint. A backend that speaks torch on a
device (the mujoco-warp backend, envs/mujoco/warp_backend.py) gets `DeviceVecEnv`, which does the
same in torch without leaving the device; it hands out numpy like every VecEnv unless the caller
sets `torch_io = True` (the on-policy collector does).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import gymnasium as gym
import numpy as np
import torch

from rlmeta.core.errors import ConfigError


def clip(x: np.ndarray, low, high) -> np.ndarray:
    """np.clip's values (NaN passes through) through two ufunc calls: np.clip's Python wrapper costs
    several microseconds, paid four times per step by a one-env PPO."""
    return np.minimum(np.maximum(x, low), high)


class VecStep(NamedTuple):
    obs: np.ndarray  # [N, obs_dim] float32, the reset observation where an episode ended
    reward: np.ndarray  # [N] float32 (normalised when reward normalisation is on)
    terminated: np.ndarray  # [N] bool: a true terminal state, no bootstrap
    truncated: np.ndarray  # [N] bool: time limit; bootstrap with V(final_obs)
    final_obs: np.ndarray  # [N, obs_dim] float32, the last observation of the episode where done, else obs
    episode_returns: np.ndarray  # [k] raw returns of the k episodes that ended this step
    episode_lengths: np.ndarray  # [k]
    # DeviceVecEnv with torch_io only: returns/lengths are [N] (every env) and this [N] bool mask says
    # which ended a full episode this step, so statistics are summed on the device without a host sync
    episode_mask: Any = None
    # backends whose learner sees transformed rewards/terminals (Atari: clipped rewards, a lost life as a
    # terminal) also report the game's own [N] reward and [N] episode end; None where they are the same
    raw_reward: Any = None
    episode_over: Any = None


class VecBackend(Protocol):
    """What a backend provides: raw float64/float32 arrays (uint8 images), SAME_STEP autoreset.

    `step` may return a sixth item, a dict with `raw_reward` [N] and `episode_over` [N], when the
    reward and terminal it returns for learning differ from the episode's own (Atari, envs/atari.py):
    episode statistics then sum the raw reward and count the episodes that really ended."""

    num_envs: int
    single_observation_space: gym.spaces.Space
    single_action_space: gym.spaces.Space

    def reset(self, seed: int) -> np.ndarray: ...  # [N, obs_dim]

    # -> obs [N, obs_dim], reward [N], terminated [N], truncated [N], final_obs [N, obs_dim]
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]: ...

    def close(self) -> None: ...


def action_dim(space: gym.spaces.Space) -> int:
    """Columns an action takes in a batch: a Box's size, 1 for a Discrete (the index, stored as float),
    K for a MultiDiscrete of K dims."""
    if isinstance(space, gym.spaces.Discrete):
        return 1
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(space.nvec.size)
    return int(np.prod(space.shape))


class RunningMeanStd:
    """Streaming mean/var (Chan et al. parallel algorithm), as used by SB3/gymnasium normalisers."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = epsilon

    def update(self, x: np.ndarray) -> None:  # x: [B, *shape]
        if x.shape[0] == 1:
            # one row (one env, every step): its mean is the row and its variance exactly 0, so the
            # general update below reduces to these operations, bitwise, without two reductions
            delta = x[0] - self.mean
            tot = self.count + 1
            self.mean = self.mean + delta / tot
            self.var = (self.var * self.count + delta**2 * self.count / tot) / tot
            self.count = tot
            return
        self.merge(x.mean(0), x.var(0), x.shape[0])

    def merge(self, batch_mean, batch_var, n: int) -> None:
        """Fold in a batch's mean and (population) variance of n rows: Chan et al.'s update, the same
        operations on numpy arrays and on tensors (TorchRunningMeanStd)."""
        delta = batch_mean - self.mean
        tot = self.count + n
        self.mean = self.mean + delta * n / tot
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / tot
        self.var = m2 / tot
        self.count = tot

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": self.count}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.mean, self.var, self.count = np.asarray(d["mean"]), np.asarray(d["var"]), float(d["count"])


class VecEnv:
    """Agent-facing vector env: clip actions, keep episode statistics, normalise obs/reward.

    Example:
        >>> envs = envs_pkg.make_vec_env("HalfCheetah-v5", num_envs=4, seed=0)
        >>> obs = envs.reset()                       # [4, 17]
        >>> out = envs.step(np.zeros((4, 6)))        # VecStep
    """

    def __init__(
        self,
        backend: VecBackend,
        seed: int = 0,
        normalize_obs: bool = False,
        normalize_reward: bool = False,
        gamma: float = 0.99,
        clip_obs: float = 10.0,
        clip_reward: float = 10.0,
        env_id: str = "",
    ):
        self.backend = backend
        self.env_id = env_id
        self.num_envs = backend.num_envs
        self.single_observation_space = backend.single_observation_space
        self.single_action_space = backend.single_action_space
        self.seed = seed
        if normalize_obs and self.single_observation_space.dtype == np.uint8:
            raise ConfigError(
                f"{env_id or 'this env'} has uint8 image observations: the network scales them "
                "to [0, 1]; turn off observation normalisation (--no-normalize-obs)"
            )
        self.normalize_obs, self.normalize_reward = normalize_obs, normalize_reward
        self.gamma, self.clip_obs, self.clip_reward = gamma, clip_obs, clip_reward
        obs_shape = self.single_observation_space.shape
        self.obs_rms = RunningMeanStd(obs_shape)
        self.ret_rms = RunningMeanStd(())
        self._disc_return = np.zeros(self.num_envs)
        self._ep_return = np.zeros(self.num_envs)
        self._ep_length = np.zeros(self.num_envs, np.int64)
        self.training = True  # normaliser statistics update only while training
        space = self.single_action_space
        if isinstance(space, gym.spaces.Box):
            self._act_low, self._act_high = space.low, space.high
        else:
            self._act_low = self._act_high = None
        self._resets = 0
        self._last_obs: np.ndarray | None = None  # what the agent acts on next (checkpointed)
        self._restored = False

    # ------------------------------------------------------------------ API
    def reset(self, seed: int | None = None) -> np.ndarray:
        """Reset all sub-envs; sub-env i is seeded with seed + i (default: the construction seed,
        shifted on every later reset so a resumed run does not replay the same episodes)."""
        if self._restored:
            # resumed from a checkpoint that holds the backend's state: continue mid-episode
            self._restored = False
            return self._last_obs
        raw = self.backend.reset(self._next_seed(seed))
        self._ep_return[:] = 0
        self._ep_length[:] = 0
        self._disc_return[:] = 0
        self._last_obs = self._obs(raw, update=True)
        return self._last_obs

    def step(self, actions: np.ndarray) -> VecStep:
        """actions: [N, act_dim] (unclipped samples are fine: they are clipped to the Box here)."""
        if self._act_low is not None:
            actions = clip(actions, self._act_low, self._act_high)
        elif isinstance(self.single_action_space, gym.spaces.Discrete):  # [N, 1] float indices -> [N] ints
            actions = np.asarray(actions).reshape(self.num_envs).astype(np.int64) + self.single_action_space.start
        elif isinstance(self.single_action_space, gym.spaces.MultiDiscrete):  # [N, K] float indices -> ints
            space = self.single_action_space
            actions = np.asarray(actions).reshape(self.num_envs, *space.nvec.shape).astype(np.int64) + space.start
        obs, reward, term, trunc, final_obs, *info = self.backend.step(actions)
        reward = np.asarray(reward, np.float64)
        term, trunc = np.asarray(term, bool), np.asarray(trunc, bool)
        done = term | trunc
        raw, over = (info[0]["raw_reward"], info[0]["episode_over"]) if info else (None, None)
        ended = done if over is None else over
        self._ep_return += reward if raw is None else raw
        self._ep_length += 1
        ep_ret, ep_len = self._ep_return[ended].copy(), self._ep_length[ended].copy()
        self._ep_return[ended] = 0
        self._ep_length[ended] = 0
        if self.normalize_reward:
            # gymnasium NormalizeReward: scale by the std of the running discounted return.
            self._disc_return = self._disc_return * self.gamma + reward
            if self.training:
                self.ret_rms.update(self._disc_return)
            reward = clip(reward / np.sqrt(self.ret_rms.var + 1e-8), -self.clip_reward, self.clip_reward)
            self._disc_return[done] = 0
        norm_final = self._obs(final_obs, update=False)
        norm_obs = self._obs(obs, update=True)
        self._last_obs = norm_obs
        return VecStep(
            norm_obs,
            reward.astype(np.float32),
            term,
            trunc,
            norm_final,
            ep_ret,
            ep_len,
            raw_reward=raw,
            episode_over=over,
        )

    def close(self) -> None:
        self.backend.close()

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """Apply the current observation normalisation (no statistics update)."""
        return self._obs(obs, update=False)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Normaliser statistics; plus, when the backend can save its simulator state (the batched
        MuJoCo backend), everything needed to continue the current episodes exactly."""
        d: dict[str, Any] = {
            "obs_rms": self.obs_rms.state_dict(),
            "ret_rms": self.ret_rms.state_dict(),
            "resets": self._resets,
        }
        backend = (
            self.backend.state_dict() if hasattr(self.backend, "state_dict") and self._last_obs is not None else None
        )
        if backend is not None:  # (None: this backend cannot save its envs' state)
            d["backend"] = backend
            d["episode"] = {
                "ret": self._ep_return.copy(),
                "len": self._ep_length.copy(),
                "disc": self._disc_return.copy(),
                "last_obs": self._last_obs.copy(),
            }
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.obs_rms.load_state_dict(d["obs_rms"])
        self.ret_rms.load_state_dict(d["ret_rms"])
        self._resets = int(d.get("resets", 0))
        if "backend" in d and hasattr(self.backend, "load_state_dict"):
            self.backend.load_state_dict(d["backend"])
            ep = d["episode"]
            self._ep_return[:], self._ep_length[:], self._disc_return[:] = ep["ret"], ep["len"], ep["disc"]
            self._last_obs, self._restored = ep["last_obs"], True

    # ------------------------------------------------------------------ internals
    def _next_seed(self, seed: int | None) -> int:
        if seed is None:
            seed = self.seed + self._resets * 10_007 * max(self.num_envs, 1)
        self._resets += 1
        return seed

    def _obs(self, obs: np.ndarray, update: bool) -> np.ndarray:
        if self.single_observation_space.dtype == np.uint8:
            # images stay uint8 (4x less memory in the rollout buffer); the network scales them
            return np.asarray(obs, np.uint8)
        obs = np.asarray(obs, np.float64)
        if not self.normalize_obs:
            return obs.astype(np.float32)
        if update and self.training:
            self.obs_rms.update(obs)
        out = (obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + 1e-8)
        return clip(out, -self.clip_obs, self.clip_obs).astype(np.float32)


# ---------------------------------------------------------------------- device (torch) backends
class TorchRunningMeanStd(RunningMeanStd):
    """RunningMeanStd in float64 tensors on a device (no host sync per update). state_dict() is
    numpy, in RunningMeanStd's format, so checkpoints do not depend on the device."""

    def __init__(self, shape: tuple[int, ...], device: torch.device, epsilon: float = 1e-4):
        self.device = device
        self.mean = torch.zeros(shape, dtype=torch.float64, device=device)
        self.var = torch.ones(shape, dtype=torch.float64, device=device)
        self.count = epsilon  # a python float: batch sizes are known on the host

    def update(self, x: torch.Tensor) -> None:  # x: [B, *shape]
        x = x.double()
        self.merge(x.mean(0), x.var(0, correction=0), x.shape[0])

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.cpu().numpy().copy(), "var": self.var.cpu().numpy().copy(), "count": self.count}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        as_t = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float64, device=self.device)  # noqa: E731
        self.mean, self.var, self.count = as_t(d["mean"]), as_t(d["var"]), float(d["count"])


class DeviceVecEnv(VecEnv):
    """VecEnv over a backend whose reset/step take and return torch tensors on `backend.device`.

    Clipping, episode statistics and normalisation are the same as VecEnv's, in torch on the device.
    With `torch_io = False` (default) reset/step return numpy like any VecEnv, so numpy callers
    (evaluation, video, off-policy loop) work unchanged; with `torch_io = True` they return tensors
    on the device and accept action tensors, and nothing crosses to the host except the [k] episode
    statistics (boolean indexing: one sync per step on CUDA).

    Example:
        >>> envs = envs_pkg.make_vec_env("HalfCheetah-v5", 4096, backend="warp", device="cuda")
        >>> envs.torch_io = True
        >>> obs = envs.reset()                                          # [4096, 17] cuda float32
        >>> out = envs.step(torch.zeros(4096, 6, device="cuda"))        # VecStep of tensors
    """

    def __init__(self, backend: Any, stagger_starts: bool = False, **kwargs: Any):
        super().__init__(backend, **kwargs)
        self.device = torch.device(backend.device)
        self.torch_io = False
        if stagger_starts and not hasattr(backend, "elapsed"):
            raise ValueError(f"{type(backend).__name__} has no episode clocks (elapsed) to stagger")
        self.stagger_starts = stagger_starts
        dev, n = self.device, self.num_envs
        self.obs_rms = TorchRunningMeanStd(self.single_observation_space.shape, dev)
        self.ret_rms = TorchRunningMeanStd((), dev)
        self._disc_return = torch.zeros(n, dtype=torch.float64, device=dev)
        self._ep_return = torch.zeros(n, dtype=torch.float64, device=dev)
        self._ep_length = torch.zeros(n, dtype=torch.int64, device=dev)
        # True while a world runs the first, shortened episode of a staggered start: not reported
        self._partial = torch.zeros(n, dtype=torch.bool, device=dev)
        if self._act_low is not None:
            self._act_low = torch.as_tensor(self._act_low, dtype=torch.float32, device=dev)
            self._act_high = torch.as_tensor(self._act_high, dtype=torch.float32, device=dev)
        self._last_obs: torch.Tensor | None = None

    def _out(self, x: torch.Tensor) -> torch.Tensor | np.ndarray:
        return x if self.torch_io else x.cpu().numpy()

    def reset(self, seed: int | None = None) -> torch.Tensor | np.ndarray:
        if not self._restored:
            raw = self.backend.reset(self._next_seed(seed))
            self._ep_return.zero_()
            self._ep_length.zero_()
            self._disc_return.zero_()
            if self.stagger_starts:
                self._stagger()
            self._last_obs = self._obs(raw, update=True)
        self._restored = False
        return self._out(self._last_obs)

    def step(self, actions: torch.Tensor | np.ndarray) -> VecStep:
        """actions: [N, act_dim] tensor (any device) or array; clipped to the Box here."""
        a = torch.as_tensor(actions, dtype=torch.float32, device=self.device)
        if self._act_low is not None:
            a = torch.max(torch.min(a, self._act_high), self._act_low)
        obs, reward, term, trunc, final_obs = self.backend.step(a)
        reward = reward.double()
        done = term | trunc
        self._ep_return += reward
        self._ep_length += 1
        if self.torch_io:  # [N] copies + mask: no boolean indexing, so no host sync per step
            ep_ret, ep_len, ep_mask = self._ep_return.clone(), self._ep_length.clone(), done & ~self._partial
        else:
            full = done & ~self._partial
            ep_ret, ep_len, ep_mask = self._ep_return[full], self._ep_length[full], None  # [k]: new tensors
        self._partial &= ~done
        self._ep_return.masked_fill_(done, 0)
        self._ep_length.masked_fill_(done, 0)
        if self.normalize_reward:
            self._disc_return = self._disc_return * self.gamma + reward
            if self.training:
                self.ret_rms.update(self._disc_return)
            reward = (reward / torch.sqrt(self.ret_rms.var + 1e-8)).clamp(-self.clip_reward, self.clip_reward)
            self._disc_return.masked_fill_(done, 0)
        norm_final = self._obs(final_obs, update=False)
        norm_obs = self._obs(obs, update=True)
        self._last_obs = norm_obs
        return VecStep(
            *(self._out(x) for x in (norm_obs, reward.float(), term, trunc, norm_final, ep_ret, ep_len)),
            episode_mask=ep_mask,
        )

    def _stagger(self) -> None:
        """Spread the episode clocks uniformly over [0, max_episode_steps): every world's first episode
        is truncated early by a random amount, so from then on about N / max_episode_steps episodes end
        per step instead of all N in the same step (a DELIBERATE deviation from gymnasium's reset,
        as in Brax/Isaac Gym trainers; the shortened first episodes are bootstrapped like any
        truncation and left out of the episode statistics). Draws from the backend's generator."""
        b = self.backend
        b.elapsed.copy_(torch.randint(0, b.max_episode_steps, (self.num_envs,), generator=b.gen, device=self.device))
        self._partial.fill_(True)

    def normalize(self, obs: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Current observation normalisation (no update); numpy in -> numpy out, tensor in -> tensor out."""
        out = self._obs(torch.as_tensor(obs, device=self.device), update=False)
        return out if isinstance(obs, torch.Tensor) else out.cpu().numpy()

    def state_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "obs_rms": self.obs_rms.state_dict(),
            "ret_rms": self.ret_rms.state_dict(),
            "resets": self._resets,
        }
        if hasattr(self.backend, "state_dict") and self._last_obs is not None:
            d["backend"] = self.backend.state_dict()
            d["episode"] = {
                k: v.cpu().numpy().copy()
                for k, v in (
                    ("ret", self._ep_return),
                    ("len", self._ep_length),
                    ("disc", self._disc_return),
                    ("last_obs", self._last_obs),
                    ("partial", self._partial),
                )
            }
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.obs_rms.load_state_dict(d["obs_rms"])
        self.ret_rms.load_state_dict(d["ret_rms"])
        self._resets = int(d.get("resets", 0))
        if "backend" in d and hasattr(self.backend, "load_state_dict"):
            self.backend.load_state_dict(d["backend"])
            ep = {k: torch.as_tensor(v, device=self.device) for k, v in d["episode"].items()}
            self._ep_return.copy_(ep["ret"])
            self._ep_length.copy_(ep["len"])
            self._disc_return.copy_(ep["disc"])
            if "partial" in ep:
                self._partial.copy_(ep["partial"])
            self._last_obs, self._restored = ep["last_obs"], True

    def _obs(self, obs: torch.Tensor, update: bool) -> torch.Tensor:
        if not self.normalize_obs:
            return obs.float()
        if update and self.training:
            self.obs_rms.update(obs)
        out = (obs.double() - self.obs_rms.mean) / torch.sqrt(self.obs_rms.var + 1e-8)
        return out.clamp(-self.clip_obs, self.clip_obs).float()
