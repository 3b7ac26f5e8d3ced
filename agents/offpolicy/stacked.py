"""K seeds of one off-policy agent as one update: stacked parameters, the vmapped executor of the
agent's update_step, per-seed RNG streams and the lockstep iteration (the machinery of
`rlmeta train sac --seeds K`, driven by rlmeta.app.multiseed; with K = 1 the CPU's `--compile`).

K ordinary agents keep their own modules, replay buffers and envs. What they share is the update:
the agents' flat parameter buffers, Adam moments and target networks are re-homed as rows of stacked
[K, P] tensors (each agent's modules keep working on their row, as views), and one update of all K
seeds is the template agent's own `update_step` under `torch.func.vmap`, run against `_SeedLearner`:
the learner interface of agents/offpolicy/base.py (`nets`, `minimize`, `polyak`) on one seed's state,
with gradients by torch.func.grad through the agent's modules called with that seed's parameters
(functional_call), a functional Adam (rlmeta.core.optim.adam_step) and polyak as a lerp. The vmapped
function is pure; its new state is copied into the stacked buffers after it returns, so an update
that fails (an .item() in an extra loss) changes nothing. It runs eagerly, as one torch.compile'd
graph (CPU) or as one CUDA graph (CUDA), one per value of the agent's graph_key().

RNG streams: each seed keeps its own copy of the global RNG states (SeedRNG), swapped in whenever
work is done for that seed, so each seed consumes exactly the draws of its single run.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.nn.utils.stateless import _reparametrize_module

from rlmeta.core.errors import ConfigError
from rlmeta.core.graphs import CapturedFn, Compiled
from rlmeta.core.optim import FlatAdam, adam_step
from rlmeta.core.replay import ReplayBatch
from rlmeta.core.seeding import rng_state, set_rng_state


class SeedRNG:
    """Per-seed copies of the global RNG states (python, numpy, torch[, cuda])."""

    def __init__(self, states: Sequence[dict[str, Any]]):
        self.states = list(states)

    @contextmanager
    def use(self, i: int) -> Iterator[None]:
        """Run the block with seed i's RNG states as the global ones; keep what it advanced."""
        set_rng_state(self.states[i])
        try:
            yield
        finally:
            self.states[i] = rng_state()

    @contextmanager
    def use_torch(self, i: int) -> Iterator[None]:
        """`use` for a block that draws from torch's generators only (an update's minibatch and
        noise): python's and numpy's states, the costly part of a swap, stay as they are."""
        st = self.states[i]
        torch.set_rng_state(st["torch"])
        if "cuda" in st:
            torch.cuda.set_rng_state_all(st["cuda"])
        try:
            yield
        finally:
            st["torch"] = torch.get_rng_state()
            if "cuda" in st:
                st["cuda"] = torch.cuda.get_rng_state_all()


class VmapUpdateError(RuntimeError):
    """update_step could not run vmapped over seeds: an .item() or a Python branch on a tensor value,
    a random draw inside the step (draws belong in update_noise), a metric that is not a tensor."""


# ---------------------------------------------------------------------- one seed's view of the agent
class _Bound:
    """`module` with its parameters taken from `params` (one seed's, under vmap): calling it, calling
    one of its methods (actor.sample) or reading a parameter or a submodule all see those parameters;
    other attributes (buffers such as act_scale) come from the template module."""

    def __init__(self, module: nn.Module, params: dict[str, torch.Tensor]):
        self._module, self._params = module, params

    def __call__(self, *args: Any, **kw: Any) -> Any:
        return torch.func.functional_call(self._module, self._params, args, kw)

    def __getattr__(self, name: str) -> Any:
        if name in self._params:
            return self._params[name]
        value = getattr(self._module, name)
        if isinstance(value, nn.Module):
            return self._child(name, value)
        if inspect.ismethod(value) and value.__self__ is self._module:

            def method(*args: Any, **kw: Any) -> Any:
                with _reparametrize_module(self._module, self._params):
                    return value(*args, **kw)

            return method
        return value

    def __getitem__(self, i: Any) -> Any:
        """An item of a Sequential / ModuleList / ParameterList, rebound like an attribute."""
        value = self._module[i]
        named = (
            self._module.named_children()
            if isinstance(value, nn.Module)
            else self._module.named_parameters(recurse=False)
        )
        name = next((n for n, v in named if v is value), None)
        if name is None:
            raise TypeError(f"{type(self._module).__name__}[{i!r}] is not one of its items (a slice?)")
        return self._child(name, value) if isinstance(value, nn.Module) else self._params[name]

    def _child(self, name: str, module: nn.Module) -> Any:
        sub = {k[len(name) + 1 :]: v for k, v in self._params.items() if k.startswith(name + ".")}
        return _Bound(module, sub) if sub else module


class _SeedView:
    """The agent as one seed's update_step sees it: the stacked networks (and lone tensors such as
    SAC's log alpha) bound to this seed's parameters, every other attribute the template agent's. Its
    methods run with this view as self, so an extra loss's `agent.actor(obs)` and `agent.extra_loss(b)`
    reach this seed's networks."""

    def __init__(self, agent: Any, nets: dict[str, Any]):
        self._agent, self._nets = agent, nets

    def __getattr__(self, name: str) -> Any:
        if name in self._nets:
            return self._nets[name]
        value = getattr(self._agent, name)
        if inspect.ismethod(value) and value.__self__ is self._agent:
            return functools.partial(value.__func__, self)  # (a partial, not a MethodType: dynamo traces it)
        return value

    def replace(self, name: str, net: Any) -> _SeedView:
        return _SeedView(self._agent, {**self._nets, name: net})


def _cuda_graphs(compile: bool, device: torch.device) -> bool:
    """compile=True on a CUDA device: the update as CUDA graphs (as a single run's --compile there)."""
    return compile and device.type == "cuda"


def _same_storage(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


Layout = dict[str, tuple[int, int, torch.Size]]  # parameter name -> (offset, numel, shape) in a flat buffer


class StackedSeeds:
    """The K agents' flat buffers as stacked [K, P] tensors, re-homed so each agent's modules and
    optimizers see their row: every FlatAdam attribute (parameters, moments) and every `*_flat` tensor
    attribute (target networks) of the agent; and `update(b, noise)`, the template agent's update_step
    vmapped over the K rows.

    compile=True: on the CPU the vmapped update is one torch.compile'd graph per graph_key()
    (rlmeta.core.graphs.Compiled: eager after a failure, with one warning); on CUDA one CUDA graph
    per graph_key() (rlmeta.core.graphs.CapturedFn).

    Example (what lockstep_iteration does per update):
        >>> S = StackedSeeds(agents)
        >>> metrics = S.update(batch, noise)   # batch [K, B, ...], noise [K, B, act_dim] -> metrics [K, ...]
    """

    def __init__(self, agents: Sequence[Any], compile: bool = False):
        self.agents, self.k = list(agents), len(agents)
        self.template = a0 = self.agents[0]
        self.compile = compile
        self.flats: dict[str, torch.Tensor] = {}  # buffer name -> [K, P]
        self.attr: dict[str, str] = {}  # buffer name -> the agent attribute it holds ('critic_opt' -> 'critic')
        self.layout: dict[str, Layout | None] = {}  # None: a lone tensor attribute (log alpha), the whole buffer
        self.shape: dict[str, torch.Size] = {}  # a lone tensor's shape
        self.moments: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # optimizer name -> (m, v) [K, P]
        # optimizer name -> Adam step count [1], one for all seeds (they step in lockstep)
        self.counts: dict[str, torch.Tensor] = {}
        self.hyper: dict[str, tuple[torch.Tensor, tuple[float, float], float]] = {}  # -> (lr, betas, eps)
        self.metrics: dict[str, torch.Tensor] = {}  # the last value of every metric (lockstep_iteration)
        self._fns: dict[Any, Callable] = {}  # graph_key() -> the executor of update()
        for name in [k for k, v in vars(a0).items() if isinstance(v, FlatAdam)]:
            olds = [getattr(a, name) for a in self.agents]
            if len({o.t for o in olds}) != 1:
                raise ValueError(f"{name}: the seeds' optimizers are at different steps")
            o0 = olds[0]
            rows = self._stack(name, [o.flat for o in olds])
            m, v = torch.stack([o.m for o in olds]), torch.stack([o.v for o in olds])  # [K, P]
            for i, o in enumerate(olds):
                o.flat, o.m, o.v = rows[i], m[i], v[i]
            self.moments[name] = (m, v)
            # float64, as the bias corrections that adam_step computes from them; [1], not 0-dim: a
            # compiled function's write into a 0-dim float64 CPU input is lost (torch 2.13)
            self.counts[name] = torch.tensor([float(o0.t)], dtype=torch.float64, device=rows.device)
            self.hyper[name] = (
                torch.tensor(float(o0.lr), dtype=torch.float64, device=rows.device),
                (o0.b1, o0.b2),
                o0.eps,
            )
        for name in [k for k, v in vars(a0).items() if k.endswith("_flat") and isinstance(v, torch.Tensor)]:
            rows = self._stack(name, [getattr(a, name) for a in self.agents])
            for i, a in enumerate(self.agents):
                setattr(a, name, rows[i])
        self._check_unstacked()

    # ------------------------------------------------------------------ the stacked buffers
    @staticmethod
    def _owned(agent: Any) -> list[tuple[str, str | None, torch.Tensor]]:
        """(attribute, parameter name or None, tensor) for every parameter of the agent's modules and
        every tensor attribute that requires grad."""
        out: list[tuple[str, str | None, torch.Tensor]] = [
            (k, n, p) for k, m in vars(agent).items() if isinstance(m, nn.Module) for n, p in m.named_parameters()
        ]
        out += [(k, None, t) for k, t in vars(agent).items() if isinstance(t, torch.Tensor) and t.requires_grad]
        return out

    def _stack(self, name: str, flats: list[torch.Tensor]) -> torch.Tensor:
        """Stack the agents' buffers `name` [P] as [K, P], find what they hold (one module's parameters
        or one tensor attribute) and re-home each agent's parameters onto its row. -> the rows [K, P]"""
        rows = torch.stack([f.detach() for f in flats])
        for i, (a, old) in enumerate(zip(self.agents, flats)):
            held = [(k, n, t) for k, n, t in self._owned(a) if _same_storage(t.data, old)]
            attrs = {k for k, _, _ in held}
            if len(attrs) != 1:
                raise ValueError(
                    f"{name}: a stacked buffer must hold the parameters of one module or one tensor, "
                    f"not of {sorted(attrs)}"
                )
            layout: Layout = {}
            for _, n, t in held:
                off = t.data.storage_offset() - old.storage_offset()
                layout[n or ""] = (off, t.numel(), t.shape)
                t.data = rows[i, off : off + t.numel()].view_as(t)
            if i == 0:
                if sum(n for _, n, _ in layout.values()) != old.numel():
                    raise ValueError(f"{name}: the parameters found do not cover the buffer")
                self.attr[name] = attrs.pop()
                lone = held[0][1] is None
                self.layout[name] = None if lone else dict(sorted(layout.items(), key=lambda kv: kv[1][0]))
                self.shape[name] = held[0][2].shape
        self.flats[name] = rows
        return rows

    def _check_unstacked(self) -> None:
        """Parameters outside the stacked buffers are read from the template agent by every seed's
        update: they must be equal across seeds (a frozen network built per seed would not be)."""
        stacked = {
            id(t)
            for a in self.agents
            for _, _, t in self._owned(a)
            if any(_same_storage(t.data, f) for f in self.flats.values())
        }
        rest = [[(k, n, t) for k, n, t in self._owned(a) if id(t) not in stacked] for a in self.agents]
        for other in rest[1:]:
            for (k, n, t0), (_, _, t) in zip(rest[0], other):
                if not torch.equal(t0, t):
                    raise ConfigError(
                        f"--seeds: {k}{'.' + n if n else ''} is neither optimized nor a target network "
                        "and differs between seeds; the vmapped update would use the first seed's"
                    )

    def unflatten(self, name: str, flat: torch.Tensor) -> dict[str, torch.Tensor] | torch.Tensor:
        """One seed's buffer [P] as what it holds: {parameter name: view} of a module, or the tensor."""
        layout = self.layout[name]
        if layout is None:
            return flat.view(self.shape[name])
        return {n: flat[off : off + k].view(shape) for n, (off, k, shape) in layout.items()}

    def flatten(self, name: str, g: dict[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """unflatten's inverse for gradients: one tensor [P] (one cat, in the buffer's order)."""
        if self.layout[name] is None:
            return g.reshape(-1)
        return torch.cat([g[n].reshape(-1) for n in self.layout[name]])

    def bind(self, name: str, params: dict[str, torch.Tensor] | torch.Tensor) -> Any:
        """What `nets.<attribute>` is for one seed: the template's module run with `params`, or the tensor."""
        if self.layout[name] is None:
            return params
        return _Bound(getattr(self.template, self.attr[name]), params)

    # ------------------------------------------------------------------ the update
    def update(self, b: ReplayBatch, noise: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        """One update_step of every seed, vmapped: b and noise carry a leading seed dim [K, B, ...].
        -> this update's metrics [K, ...]. Raises VmapUpdateError (one line) where the step cannot run
        vmapped; the training state is then unchanged."""
        key = self.template.graph_key()
        fn = self._fns.get(key)
        if fn is None:
            fn = self._fns[key] = self._executor()
        try:
            return fn(b, noise)
        except VmapUpdateError:
            raise
        except Exception as e:  # any failure: said in one line by the caller
            msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
            raise VmapUpdateError(f"{type(e).__name__}: {msg}") from e

    def _executor(self) -> Callable[[ReplayBatch, tuple[torch.Tensor, ...]], dict[str, torch.Tensor]]:
        def run(b: ReplayBatch, noise: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
            return step(self.flats, self.moments, self.counts, b, noise)

        step: Callable = self._step
        if _cuda_graphs(self.compile, next(iter(self.flats.values())).device):
            state = [*self.flats.values(), *(t for mv in self.moments.values() for t in mv), *self.counts.values()]
            return CapturedFn(run, state, name=f"{self.template.algo} update of {self.k} seeds")
        if self.compile:
            # private (rlmeta/graphs.Compiled): what changes between calls (parameters, moments, step
            # counts, batch, noise) arrives as tensor arguments; the Python values update_step reads
            # (the config, the template modules, graph_key()) are fixed for this graph. The copies
            # into the state at its end compile to kernels that write there directly
            step = Compiled(self._step, private=True, what=" on the vmapped update")
        return run

    def _step(
        self,
        flats: dict[str, torch.Tensor],
        moments: dict[str, tuple[torch.Tensor, torch.Tensor]],
        counts: dict[str, torch.Tensor],
        b: ReplayBatch,
        noise: tuple[torch.Tensor, ...],
    ) -> dict[str, torch.Tensor]:
        """One update: the pure vmapped update_step -> (changed state, metrics), then the changed state
        copied into the stacked buffers. -> metrics [K, ...]"""

        def one_seed(flats, moments, b, noise):  # one seed's rows [P], batch [B, ...]
            L = _SeedLearner(self, flats, moments, counts)
            metrics = self.template.update_step(L, b, noise)
            return L.changes(), metrics

        (new_flats, new_moments, new_counts), metrics = torch.func.vmap(one_seed)(flats, moments, b, noise)
        with torch.no_grad():
            for n, t in new_flats.items():
                flats[n].copy_(t)
            for n, (m, v) in new_moments.items():
                moments[n][0].copy_(m)
                moments[n][1].copy_(v)
            for n, t in new_counts.items():
                counts[n].copy_(t[0])  # unbatched inside: vmap broadcast it over the seeds
        return metrics

    def sync_counts(self) -> None:
        """Copy the stacked step counts to the agents' optimizers (their checkpoints hold them); the
        runner calls it once per iteration (a host sync on a GPU)."""
        for name, t in self.counts.items():
            for a in self.agents:
                o = getattr(a, name)
                if o.capturable:
                    o._t.copy_(t[0])
                else:
                    o._t = int(t)


class _SeedLearner:
    """The learner interface (agents/offpolicy/base.py) on one seed's state under vmap: `minimize` is
    torch.func.grad of the loss through the template's modules bound to this seed's parameters, then a
    functional Adam step; `polyak` a lerp. Nothing is written in place: `changes()` hands the new
    buffers back to StackedSeeds."""

    def __init__(
        self,
        S: StackedSeeds,
        flats: dict[str, torch.Tensor],
        moments: dict[str, tuple[torch.Tensor, torch.Tensor]],
        counts: dict[str, torch.Tensor],
    ):
        self.S, self.flats, self.moments, self.counts = S, dict(flats), dict(moments), dict(counts)
        self.changed: list[str] = []
        self.nets = _SeedView(S.template, {S.attr[n]: S.bind(n, S.unflatten(n, f)) for n, f in flats.items()})

    def minimize(self, opt: str, loss_fn: Callable[[Any], tuple[torch.Tensor, Any]]) -> Any:
        S, attr = self.S, self.S.attr[opt]

        def f(params):
            loss, aux = loss_fn(self.nets.replace(attr, S.bind(opt, params)))
            return loss.reshape(()), aux  # grad wants a 0-dim loss (SAC's alpha loss is [1])

        g, aux = torch.func.grad(f, has_aux=True)(S.unflatten(opt, self.flats[opt]))
        lr, betas, eps = S.hyper[opt]
        t = self.counts[opt] + 1  # [1]
        p, m, v = adam_step(self.flats[opt], S.flatten(opt, g), *self.moments[opt], t[0], lr, betas, eps)
        self._set(opt, p)
        self.moments[opt], self.counts[opt] = (m, v), t
        return aux

    def polyak(self, target: str, source: str, polyak: float) -> None:
        self._set(target, self.flats[target].lerp(self.flats[source], 1.0 - polyak))

    def _set(self, name: str, flat: torch.Tensor) -> None:
        self.flats[name] = flat
        if name not in self.changed:
            self.changed.append(name)
        self.nets = self.nets.replace(self.S.attr[name], self.S.bind(name, self.S.unflatten(name, flat)))

    def changes(self) -> tuple[dict, dict, dict]:
        opts = [n for n in self.changed if n in self.moments]
        return (
            {n: self.flats[n] for n in self.changed},
            {n: self.moments[n] for n in opts},
            {n: self.counts[n] for n in opts},
        )


# ---------------------------------------------------------------------- the lockstep iteration
def lockstep_iteration(agents: Sequence[Any], S: StackedSeeds, rng: SeedRNG) -> list[dict[str, float]]:
    """One OffPolicyAgent.iteration() of every seed: each seed collects its phase under its own RNG,
    then the phase's updates run for all seeds at once. -> each seed's metrics"""
    cfg = agents[0].cfg
    phases = [a.loop.phases(a.global_step, a.explore) for a in agents]
    steps = [a.global_step for a in agents]
    last: dict[str, torch.Tensor] = {}
    while True:
        outs = []
        for i, ph in enumerate(phases):
            with rng.use(i):
                outs.append(next(ph, None))
        if all(o is None for o in outs):
            break
        if any(o is None or o[1] != outs[0][1] for o in outs):
            raise RuntimeError(f"seeds left lockstep: phases {outs}")  # equal configs and steps prevent it
        steps = [o[0] for o in outs]
        for _ in range(outs[0][1]):
            batches, noises = [], []
            for i, a in enumerate(agents):
                with rng.use_torch(i):  # the draws of a single run's update, in its order
                    batches.append(a.loop.buffer.sample(cfg.batch_size))
                    noises.append(a.update_noise(cfg.batch_size))
            b = ReplayBatch(*(torch.stack(x) for x in zip(*batches)))  # [K, B, ...]
            noise = tuple(torch.stack(x) for x in zip(*noises))  # [K, B, act_dim] each
            S.metrics.update(S.update(b, noise))  # a metric an update skips keeps its last value (TD3's actor)
            last = S.metrics
            for a in agents:
                a.loop.num_updates += 1
    S.sync_counts()
    metrics = []
    for i, a in enumerate(agents):
        a.global_step = steps[i]
        with rng.use(i):
            metrics.append(a.loop.end_iteration(steps[i], {k: v[i] for k, v in last.items()}, a.act))
    return metrics
