"""On-policy collection shared by VPG, TRPO and PPO."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from rlmeta.core.buffers import RolloutBatch, RolloutBuffer
from rlmeta.core.vec_env import DeviceVecEnv, VecEnv, action_dim


class EpisodeStats:
    """Returns/lengths of the episodes that ended since the last `pop()`.

    `add(returns [k], lengths [k])` keeps host lists; `add(returns [N], lengths [N], mask [N])` (a
    DeviceVecEnv with torch_io) sums the masked entries into device tensors instead, so a GPU
    collection loop never waits for the host: the one sync is in `pop()`, once per iteration.
    """

    def __init__(self) -> None:
        self.returns: list[float] = []
        self.lengths: list[int] = []
        self._sums: torch.Tensor | None = None  # [3] float64: episodes, return sum, length sum

    def add(
        self, returns: np.ndarray | torch.Tensor, lengths: np.ndarray | torch.Tensor, mask: torch.Tensor | None = None
    ) -> None:
        if mask is None:
            self.returns.extend(returns.tolist())
            self.lengths.extend(lengths.tolist())
            return
        m = mask.double()
        row = torch.stack([m.sum(), (returns.double() * m).sum(), (lengths.double() * m).sum()])
        self._sums = row if self._sums is None else self._sums + row

    def pop(self) -> dict[str, float]:
        """-> {'charts/episodic_return': mean, 'charts/episodic_length': mean, 'charts/episodes': k} or {}."""
        if self._sums is not None:
            k, ret, length = self._sums.tolist()
            self._sums = None
            if k == 0:
                return {}
            return {"charts/episodic_return": ret / k, "charts/episodic_length": length / k, "charts/episodes": k}
        if not self.returns:
            return {}
        out = {
            "charts/episodic_return": float(np.mean(self.returns)),
            "charts/episodic_length": float(np.mean(self.lengths)),
            "charts/episodes": float(len(self.returns)),
        }
        self.returns, self.lengths = [], []
        return out


class OnPolicyCollector:
    """Steps `envs` for T steps with a stochastic policy and fills a RolloutBuffer.

    `policy(obs [N, obs_dim]) -> (action [N, act_dim], log_prob [N])`, `value(obs) -> [N]`.
    Truncated (time-limit) steps get r += gamma * V(final_obs); terminated ones do not
    (SB3 issue #633 / "Time Limits in RL", Pardo et al. 2018).

    With a DeviceVecEnv (GPU physics) observations, actions and rewards stay tensors on the env's
    device (`envs.torch_io = True`); only the episode statistics cross to the host.
    """

    def __init__(self, envs: VecEnv, steps_per_env: int, device: torch.device, gamma: float):
        self.envs, self.T, self.device, self.gamma = envs, steps_per_env, device, gamma
        space = envs.single_observation_space
        act_dim = action_dim(envs.single_action_space)
        obs_dtype = torch.uint8 if space.dtype == np.uint8 else torch.float32  # images stay bytes
        self.buffer = RolloutBuffer(steps_per_env, envs.num_envs, space.shape, act_dim, device, obs_dtype)
        self.stats = EpisodeStats()
        self.obs: torch.Tensor | None = None  # [N, obs_dim] the observation the next step acts on
        self.on_device = isinstance(envs, DeviceVecEnv)
        # all on the CPU: policy and value take and return numpy arrays (see collect)
        self.host = not self.on_device and device.type == "cpu"
        if self.on_device:
            envs.torch_io = True

    def _t(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x, device=self.device)

    def reset(self) -> None:
        self.obs = self._t(self.envs.reset())

    @torch.no_grad()
    def collect(
        self,
        policy: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
        value: Callable[[torch.Tensor], torch.Tensor],
        lam: float,
    ) -> RolloutBatch:
        """T steps of every env -> the batch with GAE(`lam`) advantages. `policy(obs) -> (action,
        log_prob)` and `value(obs)` take and return tensors, or numpy arrays when `self.host` (all on
        the CPU: GaussianActor.numpy_sampler / Critic.numpy_value)."""
        if self.obs is None:
            self.reset()
        if self.host:
            return self._collect_host(policy, value, lam)
        buf, obs = self.buffer, self.obs
        for t in range(self.T):
            action, logp = policy(obs)
            v = value(obs)
            if self.on_device:
                out = self.envs.step(action)
                # V(final_obs) of every env, kept where truncated: no host sync to find which ended
                bootstrap = self._t(out.truncated & ~out.terminated)
                v_final = torch.where(bootstrap, value(self._t(out.final_obs)), 0.0)
                reward = self._t(out.reward) + self.gamma * v_final
                done = self._t(out.terminated | out.truncated).float()
            else:
                out = self.envs.step(action.cpu().numpy())
                reward = self._t(out.reward)
                bootstrap = out.truncated & ~out.terminated
                if bootstrap.any():
                    idx = np.flatnonzero(bootstrap)
                    reward[idx] += self.gamma * value(self._t(out.final_obs[idx]))
                done = self._t((out.terminated | out.truncated).astype(np.float32))
            buf.obs[t], buf.actions[t], buf.logprobs[t], buf.values[t] = obs, action, logp, v
            buf.rewards[t] = reward
            buf.dones[t] = done
            self.stats.add(out.episode_returns, out.episode_lengths, out.episode_mask)
            obs = self._t(out.obs)
        self.obs = obs
        return buf.batch(value(obs), self.gamma, lam)

    @torch.no_grad()
    def _collect_host(self, policy, value, lam: float) -> RolloutBatch:
        """The all-CPU path: the loop above with numpy in and out of policy, value and env, and each row
        written into numpy views of the buffer (a numpy row copy costs a fraction of torch's index_put).
        Given policy/value that are the torch ones behind numpy conversions, the batch is bitwise the
        tensor loop's (tests/test_onpolicy.py)."""
        b, obs, gamma = self.buffer.numpy(), self.obs.numpy(), self.gamma
        for t in range(self.T):
            action, logp = policy(obs)
            v = value(obs)
            out = self.envs.step(action)
            b.obs[t], b.actions[t], b.logprobs[t], b.values[t] = obs, action, logp, v
            reward = b.rewards[t]
            reward[:] = out.reward
            bootstrap = out.truncated & ~out.terminated
            if bootstrap.any():
                idx = np.flatnonzero(bootstrap)
                reward[idx] += gamma * value(out.final_obs[idx])
            b.dones[t] = out.terminated | out.truncated
            self.stats.add(out.episode_returns, out.episode_lengths)
            obs = out.obs
        self.obs = torch.from_numpy(obs)
        return self.buffer.batch(torch.from_numpy(value(obs)), gamma, lam)
