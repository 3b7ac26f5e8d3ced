"""Networks shared by the agents: MLP, Gaussian actor (state-independent log-std), critics."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.modules import module as nn_module

from rlmeta.core.distributions import (
    LOG_2PI,
    categorical_entropy,
    categorical_kl,
    categorical_log_prob,
    gaussian_entropy,
    gaussian_kl,
    gaussian_log_prob,
)

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}


def mlp(
    sizes: Sequence[int],
    activation: str = "tanh",
    output_activation: type[nn.Module] | None = None,
    ortho_init: bool = False,
    output_gain: float = 1.0,
) -> nn.Sequential:
    """MLP with `len(sizes) - 1` linear layers. ortho_init: orthogonal weights (gain sqrt 2 hidden,
    `output_gain` last) and zero biases, as in the PPO implementation details (CleanRL/SB3)."""
    act = ACTIVATIONS[activation]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        if ortho_init:
            nn.init.orthogonal_(lin.weight, output_gain if last else np.sqrt(2))
            nn.init.zeros_(lin.bias)
        layers.append(lin)
        if not last:
            layers.append(act())
        elif output_activation is not None:
            layers.append(output_activation())
    return nn.Sequential(*layers)


def has_hooks(module: nn.Module) -> bool:
    """True when a forward (pre-)hook is registered on `module`, on any of its submodules, or globally:
    a fast path that reads the weights directly would run around the hook, so it must not be used."""
    if nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())


def is_image_space(shape: Sequence[int]) -> bool:
    """A 3-dim observation (CHW or HWC) is an image: it gets a convolutional encoder by default."""
    return len(shape) == 3


PRECISIONS = ("fp32", "bf16")  # compute dtypes of the image encoder (NatureCNN precision=)


class NatureCNN(nn.Module):
    """The DQN encoder of Mnih et al. (2015), as CleanRL's ppo_atari.py and SB3's NatureCNN:
    conv 8x8/4 (32) -> conv 4x4/2 (64) -> conv 3x3/1 (64) -> linear (512), ReLU after each,
    orthogonal weights with gain sqrt 2 and zero biases.

    Takes images [B, C, H, W] or, when the last dim looks like channels (1, 3 or 4) and the first does
    not, [B, H, W, C]; uint8 pixels are scaled to [0, 1] here (on the device), floats pass as they are.

    precision="bf16" runs the convolutions and the linear layer under torch.autocast in bfloat16:
    weights, their gradients and the returned features stay float32 (the heads, losses and optimizer
    never see bfloat16). Where the hardware has bfloat16 arithmetic (AVX-512 BF16 / AMX CPUs, Ampere+
    GPUs) the encoder's forward and backward run about twice as fast as in float32, and a PPO Breakout
    iteration 1.6x as fast on the CPU (benchmarks/results/discrete_throughput); elsewhere it is slower.

    Example:
        >>> enc = NatureCNN((4, 84, 84), uint8=True)
        >>> enc(torch.zeros(2, 4, 84, 84, dtype=torch.uint8)).shape     # torch.Size([2, 512])
    """

    def __init__(self, obs_shape: Sequence[int], uint8: bool = True, features: int = 512, precision: str = "fp32"):
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"NatureCNN: precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.precision = precision
        shape = tuple(int(x) for x in obs_shape)
        if len(shape) != 3:
            raise ValueError(f"NatureCNN takes 3-dim image observations, got shape {shape}")
        self.channels_last = shape[-1] in (1, 3, 4) and shape[0] not in (1, 3, 4)
        c, h, w = (shape[2], shape[0], shape[1]) if self.channels_last else shape
        self.uint8 = uint8
        self.features = features

        def conv(cin: int, cout: int, k: int, stride: int) -> nn.Conv2d:
            layer = nn.Conv2d(cin, cout, k, stride)
            nn.init.orthogonal_(layer.weight, np.sqrt(2))
            nn.init.zeros_(layer.bias)
            return layer

        self.convs = nn.Sequential(
            conv(c, 32, 8, 4), nn.ReLU(), conv(32, 64, 4, 2), nn.ReLU(), conv(64, 64, 3, 1), nn.ReLU(), nn.Flatten()
        )
        side = lambda n: ((n - 8) // 4 + 1 - 4) // 2 + 1 - 2  # noqa: E731  (after the three convolutions)
        if min(h, w) < 36:
            raise ValueError(
                f"NatureCNN: images of {h}x{w} are too small for its 8/4, 4/2, 3/1 convolutions (at least 36x36)"
            )
        flat = 64 * side(h) * side(w)  # 3136 for 84 x 84
        self.fc = nn.Linear(flat, features)
        nn.init.orthogonal_(self.fc.weight, np.sqrt(2))
        nn.init.zeros_(self.fc.bias)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs [B, C, H, W] (or [B, H, W, C]) -> features [B, 512]"""
        memo = self._memo
        if memo is not None and memo[0] is obs:
            return memo[1]
        # [B, C, H, W] with NHWC strides (free for HWC observations; a copy of the bytes for CHW ones): an
        # NHWC input takes oneDNN's and cuDNN's fastest convolutions whatever the weights' layout (a forward
        # and backward on 256 frames, one CPU thread: 209 -> 162 ms in float32, 88 -> 83 ms in bfloat16)
        x = (obs.permute(0, 3, 1, 2) if self.channels_last else obs).contiguous(memory_format=torch.channels_last)
        if self.precision == "bf16":
            # pixels straight to bfloat16 (0..255 are exact in it): a float32 copy that autocast would cast
            # again costs about 15% of a PPO Atari update on the CPU
            x = x.to(torch.bfloat16).div_(255.0) if self.uint8 else x
            # no weight-cast cache: each weight is used once per call, and a cache would break CUDA-graph capture
            with torch.autocast(x.device.type, dtype=torch.bfloat16, cache_enabled=False):
                out = torch.relu(self.fc(self.convs(x))).float()
        else:
            x = x.float() / 255.0 if self.uint8 else x
            out = torch.relu(self.fc(self.convs(x)))
        if memo is not None:
            self._memo = (obs, out)
        return out

    _memo: tuple | None = None

    @contextlib.contextmanager
    def reuse(self):
        """Within this block a second call on the same tensor returns the first call's features (the
        same autograd node): a policy and a value head over one shared encoder cost one forward and one
        backward of it, as SB3's shared features extractor. Only inside the block, where the parameters
        cannot change between the calls."""
        self._memo = (None, None)
        try:
            yield self
        finally:
            self._memo = None


class SharedEncoder:
    """Holds an encoder owned by another network without registering it as a submodule: the owner's
    optimizer steps its parameters (with the gradients of both networks' losses, as one shared network
    in CleanRL / SB3), the holder's optimizer only its own head."""

    def __init__(self, encoder: nn.Module):
        self.module = encoder

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


def frozen_forward(seq: nn.Sequential) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """`seq`'s forward as direct torch calls on its live weights, for no-grad inference in a hot loop.

    nn.Module's __call__ machinery costs more than a 64x64 layer's arithmetic; this runs the same
    kernels (nn.Linear on a 2-D input is addmm(bias, x, weight.t())), so outputs are bitwise the
    module's (tests/test_onpolicy.py). The weights are detached views: optimiser steps that update
    the parameters in place are seen; rebuild after anything that reassigns `param.data`.
    None when `seq` holds a layer this does not know, or has forward hooks (the caller then uses the
    module, hooks and all)."""
    if not isinstance(seq, nn.Sequential) or has_hooks(seq):
        return None
    fns: list[Callable[[torch.Tensor], torch.Tensor]] = []
    for m in seq:
        if type(m) is nn.Linear and m.bias is not None:
            # (defaults bind this layer's weights now, not the loop variable's last value)
            fns.append(lambda x, w=m.weight.detach().t(), b=m.bias.detach(): torch.addmm(b, x, w))  # noqa: B008
        elif type(m) is nn.Tanh:
            fns.append(torch.tanh)
        elif type(m) is nn.ReLU and not m.inplace:
            fns.append(torch.relu)
        elif type(m) is nn.ELU and m.alpha == 1.0 and not m.inplace:
            fns.append(nn.functional.elu)
        else:
            return None

    return _chain(fns)


def _chain(fns: list[Callable]) -> Callable:
    def forward(x):
        for f in fns:
            x = f(x)
        return x

    return forward


# in-place numpy activations of numpy_forward (the matmul's output is a fresh array)
NUMPY_ACTIVATIONS: dict[type, Callable[[np.ndarray], np.ndarray]] = {
    nn.Tanh: lambda x: np.tanh(x, out=x),
    nn.ReLU: lambda x: np.maximum(x, 0, out=x),
    nn.ELU: lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
}


def numpy_forward(seq: nn.Sequential) -> Callable[[np.ndarray], np.ndarray] | None:
    """`seq`'s forward in numpy on views of its live CPU weights, for no-grad inference one env-step at
    a time: for a [1, 17] x [17, 64] layer a torch op's dispatch costs several times the matmul, numpy's
    call a fraction of it. float32 in, float32 out; equal to the module within float tolerance (BLAS
    sums in its own order), not bitwise (tests/test_onpolicy.py). The weights are views: in-place
    optimiser steps are seen. None when `seq` holds a layer this does not know, or has forward hooks."""
    if not isinstance(seq, nn.Sequential) or has_hooks(seq):
        return None
    fns: list[Callable[[np.ndarray], np.ndarray]] = []
    for m in seq:
        if type(m) is nn.Linear and m.bias is not None and m.weight.device.type == "cpu":
            fns.append(lambda x, w=m.weight.detach().numpy().T, b=m.bias.detach().numpy(): x @ w + b)  # noqa: B008
        elif type(m) in NUMPY_ACTIVATIONS and getattr(m, "alpha", 1.0) == 1.0 and not getattr(m, "inplace", False):
            fns.append(NUMPY_ACTIVATIONS[type(m)])
        else:
            return None

    return _chain(fns)


class GaussianActor(nn.Module):
    """pi(a|s) = N(mu(s), diag(exp(log_std))^2) with a state-independent, learned log_std."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int],
        activation: str = "tanh",
        log_std_init: float = 0.0,
        ortho_init: bool = False,
        encoder: nn.Module | None = None,
    ):
        super().__init__()
        # encoder (images): obs -> [B, encoder.features], then the MLP (obs_dim is then ignored)
        self.encoder = encoder
        in_dim = encoder.features if encoder is not None else obs_dim
        self.mu = mlp([in_dim, *hidden, act_dim], activation, ortho_init=ortho_init, output_gain=0.01)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std_init)))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs [B, obs_dim] (or images for an encoder) -> mean [B, act_dim], log_std [B, act_dim] (broadcast)."""
        mean = self.mu(obs if self.encoder is None else self.encoder(obs))
        return mean, self.log_std.expand_as(mean)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> action [B, act_dim], log_prob [B]"""
        mean, log_std = self(obs)
        a = mean + torch.randn_like(mean) * log_std.exp()
        return a, gaussian_log_prob(a, mean, log_std)

    def log_prob_entropy(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> log_prob [B], entropy [B]"""
        mean, log_std = self(obs)
        return gaussian_log_prob(act, mean, log_std), gaussian_entropy(log_std)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        return self(obs)[0] if deterministic else self.sample(obs)[0]

    def dist_params(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The distribution's parameters at obs (TRPO snapshots them as pi_old): (mean, log_std)."""
        return self(obs)

    def kl(self, obs: torch.Tensor, old: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """KL(pi_old || pi) at obs [B, obs_dim], pi_old given by dist_params -> [B]"""
        return gaussian_kl(*old, *self(obs))

    def fast_sampler(self) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """A no-grad `sample` for collection loops: bitwise the same actions and log-probs from the
        same RNG draws, without module dispatch (frozen_forward) and with exp(+-log_std) computed
        once per call of this method instead of per step. Subclasses that change forward/sample get
        their own `sample` back."""
        mu = frozen_forward(self.mu)
        if (
            mu is None
            or self.encoder is not None
            or has_hooks(self)
            or type(self).forward is not GaussianActor.forward
            or type(self).sample is not GaussianActor.sample
        ):
            return self.sample
        log_std = self.log_std.detach()
        # exp of the [act_dim] vector broadcast == exp of its [B, act_dim] expansion, element for element
        std, inv_std, shift = log_std.exp(), torch.exp(-log_std), 0.5 * LOG_2PI

        def sample(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            mean = mu(obs)  # [B, act_dim]
            a = mean + torch.randn_like(mean) * std
            z = (a - mean) * inv_std  # gaussian_log_prob's operations, in its order
            return a, (-0.5 * z.pow(2) - log_std - shift).sum(-1)

        return sample

    def numpy_sampler(self) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """`fast_sampler` with numpy in and out (obs [N, obs_dim] float32 -> action [N, act_dim],
        log_prob [N]) for the all-CPU collection loop: the MLP in numpy (numpy_forward), the noise
        still from torch's generator (the same draws as `sample`), so actions equal `sample`'s within
        float tolerance. Falls back to the torch sampler wrapped in conversions."""
        mu = numpy_forward(self.mu)
        fast = self.fast_sampler()
        if mu is None or fast == self.sample:  # (bound methods compare equal, are never identical)
            return lambda obs: tuple(x.detach().numpy() for x in fast(torch.from_numpy(obs)))
        log_std = self.log_std.detach().numpy().copy()  # this collection's values, as fast_sampler
        std, inv_std, shift = np.exp(log_std), np.exp(-log_std), np.float32(0.5 * LOG_2PI)

        def sample(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            mean = mu(obs)  # [N, act_dim]
            a = mean + torch.randn(mean.shape).numpy() * std  # randn_like(mean)'s draws
            z = (a - mean) * inv_std
            return a, (-0.5 * z * z - log_std - shift).sum(-1)

        return sample


class CategoricalActor(nn.Module):
    """pi(a|s) = Cat(softmax(logits(s))) over a Discrete(A) space. Actions travel as float indices
    [B, 1] (the rollout buffer's [B, act_dim] layout with act_dim 1); the env gets integers.

    Example:
        >>> pi = CategoricalActor(4, 2, (64, 64))          # CartPole-v1
        >>> a, logp = pi.sample(obs)                         # [B, 1] indices as floats, [B]
        >>> logp2, ent = pi.log_prob_entropy(obs, a)         # [B], [B]
    """

    def __init__(
        self,
        obs_dim: int,
        num_actions: int,
        hidden: Sequence[int],
        activation: str = "tanh",
        ortho_init: bool = False,
        encoder: nn.Module | None = None,
    ):
        super().__init__()
        # encoder (images, e.g. NatureCNN): obs -> [B, encoder.features] before the MLP head
        self.encoder = encoder
        in_dim = encoder.features if encoder is not None else obs_dim
        self.logits = mlp([in_dim, *hidden, num_actions], activation, ortho_init=ortho_init, output_gain=0.01)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs [B, obs_dim] (or images [B, C, H, W] with an encoder) -> logits [B, A]"""
        return self.logits(obs if self.encoder is None else self.encoder(obs))

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> action [B, 1] (an index, as float), log_prob [B]"""
        logits = self(obs)
        a = torch.multinomial(torch.softmax(logits, -1), 1)  # [B, 1]
        return a.float(), categorical_log_prob(logits, a.squeeze(-1))

    def numpy_sampler(self) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """`sample` with numpy in and out for the all-CPU collection loop (obs [N, obs_dim] float32 ->
        action [N, 1] float index, log_prob [N]): the logits MLP in numpy (numpy_forward), the draw by
        torch.multinomial from torch's generator as in `sample`, so the actions are `sample`'s and the
        log-probs equal within float tolerance. Falls back to `sample` wrapped in conversions where that
        is not known to hold: an encoder, a layer numpy_forward does not know, forward hooks, or a
        subclass with a `sample` of its own (a subclass's sampling is never bypassed)."""
        logits_fn = numpy_forward(self.logits) if self.encoder is None else None
        if logits_fn is None or type(self).sample is not CategoricalActor.sample:
            return lambda obs: tuple(x.detach().numpy() for x in self.sample(torch.from_numpy(obs)))

        def sample(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            z = logits_fn(obs)  # [N, A]
            z = z - z.max(-1, keepdims=True)
            log_probs = z - np.log(np.exp(z).sum(-1, keepdims=True))  # [N, A], log-softmax
            a = torch.multinomial(torch.from_numpy(np.exp(log_probs)), 1).numpy()  # [N, 1]
            return a.astype(np.float32), np.take_along_axis(log_probs, a, -1)[:, 0]

        return sample

    def log_prob_entropy(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """act [B, 1] -> log_prob [B], entropy [B]"""
        logits = self(obs)
        return categorical_log_prob(logits, act.squeeze(-1)), categorical_entropy(logits)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Deterministic: the most probable action (argmax). -> [B, 1]"""
        return self(obs).argmax(-1, keepdim=True).float() if deterministic else self.sample(obs)[0]

    def dist_params(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (self(obs),)

    def kl(self, obs: torch.Tensor, old: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return categorical_kl(old[0], self(obs))


class MultiCategoricalActor(CategoricalActor):
    """pi(a|s) = prod_k Cat(a_k; softmax(logits_k(s))) over a MultiDiscrete(nvec) space: one head of
    sum(nvec) logits, split into K independent categoricals; log-prob, entropy and KL are sums over the
    K dims. Actions travel as float indices [B, K].

    Example:
        >>> pi = MultiCategoricalActor(4, (3, 2), (64, 64))   # MultiDiscrete([3, 2])
        >>> a, logp = pi.sample(obs)                            # [B, 2] indices as floats, [B]
    """

    def __init__(
        self,
        obs_dim: int,
        nvec: Sequence[int],
        hidden: Sequence[int],
        activation: str = "tanh",
        ortho_init: bool = False,
        encoder: nn.Module | None = None,
    ):
        super().__init__(obs_dim, int(sum(nvec)), hidden, activation, ortho_init, encoder)
        self.nvec = [int(n) for n in nvec]

    def _split(self, logits: torch.Tensor) -> tuple[torch.Tensor, ...]:  # [B, sum n] -> K x [B, n_k]
        return torch.split(logits, self.nvec, dim=-1)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> action [B, K] (indices, as floats), log_prob [B]"""
        parts = self._split(self(obs))
        a = torch.cat([torch.multinomial(torch.softmax(lg, -1), 1) for lg in parts], -1)  # [B, K]
        return a.float(), self._log_prob(parts, a)

    def _log_prob(self, parts: tuple[torch.Tensor, ...], act: torch.Tensor) -> torch.Tensor:
        return torch.stack([categorical_log_prob(lg, act[..., k]) for k, lg in enumerate(parts)], -1).sum(-1)

    def log_prob_entropy(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """act [B, K] -> log_prob [B], entropy [B]"""
        parts = self._split(self(obs))
        return self._log_prob(parts, act), torch.stack([categorical_entropy(lg) for lg in parts], -1).sum(-1)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Deterministic: each dim's most probable action. -> [B, K]"""
        if not deterministic:
            return self.sample(obs)[0]
        return torch.stack([lg.argmax(-1) for lg in self._split(self(obs))], -1).float()

    def kl(self, obs: torch.Tensor, old: tuple[torch.Tensor, ...]) -> torch.Tensor:
        pairs = zip(self._split(old[0]), self._split(self(obs)))
        return torch.stack([categorical_kl(a, b) for a, b in pairs], -1).sum(-1)


class Critic(nn.Module):
    """V(s): obs [B, obs_dim] -> [B].

    encoder: an nn.Module (its own, e.g. NatureCNN) or a SharedEncoder (the actor's, stepped by the
    actor's optimizer) applied to the observation before the MLP.
    """

    def __init__(
        self,
        obs_dim: int,
        hidden: Sequence[int],
        activation: str = "tanh",
        ortho_init: bool = False,
        encoder: nn.Module | SharedEncoder | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        in_dim = (
            (encoder.module if isinstance(encoder, SharedEncoder) else encoder).features
            if encoder is not None
            else obs_dim
        )
        self.v = mlp([in_dim, *hidden, 1], activation, ortho_init=ortho_init, output_gain=1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs [B, obs_dim] (or images with an encoder) -> [B]"""
        return self.v(obs if self.encoder is None else self.encoder(obs)).squeeze(-1)

    def fast_value(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """A no-grad forward for collection loops, bitwise equal to self(obs) (see frozen_forward)."""
        v = frozen_forward(self.v)
        if v is None or self.encoder is not None or has_hooks(self) or type(self).forward is not Critic.forward:
            return self
        return lambda obs: v(obs).squeeze(-1)

    def numpy_value(self) -> Callable[[np.ndarray], np.ndarray]:
        """`fast_value` with numpy in and out (see GaussianActor.numpy_sampler): obs [N, obs_dim] -> [N]."""
        v = numpy_forward(self.v)
        fast = self.fast_value()
        if v is None or fast is self:
            return lambda obs: fast(torch.from_numpy(obs)).detach().numpy()
        return lambda obs: v(obs)[:, 0]


# ---------------------------------------------------------------------- off-policy (DDPG, TD3, SAC)
from rlmeta.core.distributions import tanh_squash_log_prob  # noqa: E402  (appended section)

# In-place activations for QEnsemble: baddbmm's backward needs its inputs, not its output, and these
# activations' backward needs only their result, so overwriting saves one [E, B, H] tensor per layer.
INPLACE_ACTIVATIONS = {"relu": torch.relu_, "tanh": torch.tanh_, "elu": lambda x: nn.functional.elu_(x)}


def box_scale_bias(
    low: np.ndarray | float, high: np.ndarray | float, act_dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, bias) [act_dim] of the affine map [-1, 1] -> [low, high]: a = scale * tanh(.) + bias.
    np.array copies: np.broadcast_to returns a read-only view, which torch.as_tensor warns about."""
    low_t = torch.as_tensor(np.array(np.broadcast_to(low, (act_dim,)), dtype=np.float32))
    high_t = torch.as_tensor(np.array(np.broadcast_to(high, (act_dim,)), dtype=np.float32))
    return (high_t - low_t) / 2, (high_t + low_t) / 2


def _uniform_like_linear(shape: Sequence[int], fan_in: int) -> torch.Tensor:
    """nn.Linear's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for weights and biases alike."""
    bound = 1.0 / np.sqrt(fan_in)
    return torch.empty(*shape).uniform_(-bound, bound)


class QEnsemble(nn.Module):
    """E independent Q(s, a) MLPs evaluated as one batched network: obs [B, obs_dim], act [B, act_dim]
    -> q [E, B]. Weights are stacked ([E, in, out]) so each layer of all E critics is one
    torch.baddbmm: TD3/SAC's twin critics cost one call instead of two. Each member is initialised
    like an nn.Linear MLP (Spinning Up's critics), independently.

    Example:
        >>> q = QEnsemble(17, 6, (256, 256), n=2)
        >>> q(obs, act).min(0).values        # clipped double-Q, [B]
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int], n: int = 2, activation: str = "relu"):
        super().__init__()
        sizes = [obs_dim + act_dim, *hidden, 1]
        self.n = n
        self.weights = nn.ParameterList(
            [nn.Parameter(_uniform_like_linear((n, i, o), i)) for i, o in zip(sizes[:-1], sizes[1:])]
        )
        self.biases = nn.ParameterList(
            [nn.Parameter(_uniform_like_linear((n, 1, o), i)) for i, o in zip(sizes[:-1], sizes[1:])]
        )
        self.act = INPLACE_ACTIVATIONS[activation]

    def forward(
        self, obs: torch.Tensor, act: torch.Tensor, members: int | None = None, detach_params: bool = False
    ) -> torch.Tensor:
        """-> q [E, B]. members=k: only the first k critics (TD3's actor loss uses Q1 alone).
        detach_params: gradients flow to obs/act only (actor losses: no wasted critic weight grads)."""
        x = torch.cat([obs, act], -1)  # [B, obs_dim + act_dim]
        e = self.n if members is None else members
        x = x.unsqueeze(0).expand(e, *x.shape)  # [E, B, in]
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if e < self.n:  # slice only when needed: SliceBackward of a full slice costs a zeros + copy
                w, b = w[:e], b[:e]
            if detach_params:
                w, b = w.detach(), b.detach()
            x = torch.baddbmm(b, x, w)  # [E, B, out]
            if i < last:
                x = self.act(x)
        return x.squeeze(-1)


class DeterministicActor(nn.Module):
    """mu(s) = scale * tanh(mlp(s)) + bias, squashed into the Box [low, high] (DDPG, TD3)."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int],
        activation: str = "relu",
        low: np.ndarray | float = -1.0,
        high: np.ndarray | float = 1.0,
    ):
        super().__init__()
        self.mu = mlp([obs_dim, *hidden, act_dim], activation)
        scale, bias = box_scale_bias(low, high, act_dim)
        self.register_buffer("act_scale", scale)  # [act_dim]
        self.register_buffer("act_bias", bias)  # [act_dim]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs [B, obs_dim] -> action [B, act_dim] inside [low, high]."""
        return torch.tanh(self.mu(obs)) * self.act_scale + self.act_bias


class SquashedGaussianActor(nn.Module):
    """SAC's policy: u ~ N(mu(s), std(s)^2), a = scale * tanh(u) + bias (Spinning Up's
    SquashedGaussianMLPActor). One linear head outputs [mu, log_std]; log_std is clamped to
    [log_std_min, log_std_max] as in Spinning Up.

    Example:
        >>> pi = SquashedGaussianActor(17, 6, (256, 256))
        >>> a, logp = pi.sample(obs)      # [B, 6] in the Box, [B] log-prob incl. the tanh log-det
        >>> a_det = pi.deterministic(obs)  # scale * tanh(mu) + bias
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int],
        activation: str = "relu",
        low: np.ndarray | float = -1.0,
        high: np.ndarray | float = 1.0,
        log_std_min: float = -20.0,
        log_std_max: float = 2.0,
    ):
        super().__init__()
        self.net = mlp([obs_dim, *hidden, 2 * act_dim], activation)
        self.act_dim, self.log_std_min, self.log_std_max = act_dim, log_std_min, log_std_max
        scale, bias = box_scale_bias(low, high, act_dim)
        self.register_buffer("act_scale", scale)  # [act_dim]
        self.register_buffer("act_bias", bias)  # [act_dim]

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs [B, obs_dim] -> mean [B, act_dim], log_std [B, act_dim] of the pre-tanh Gaussian."""
        mean, log_std = self.net(obs).split(self.act_dim, -1)
        return mean, log_std.clamp(self.log_std_min, self.log_std_max)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised sample -> action [B, act_dim], log_prob [B] (of tanh(u); the constant
        log-det of the affine rescale is dropped, as in Spinning Up)."""
        mean, log_std = self(obs)
        u = mean + torch.randn_like(mean) * log_std.exp()
        logp = tanh_squash_log_prob(u, gaussian_log_prob(u, mean, log_std))
        return torch.tanh(u) * self.act_scale + self.act_bias, logp

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """The test-time action: scale * tanh(mean) + bias."""
        return torch.tanh(self(obs)[0]) * self.act_scale + self.act_bias
