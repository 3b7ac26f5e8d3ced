"""K seeds of one off-policy agent as one update: stacked parameters, per-seed RNG streams and the
lockstep iteration (the machinery of `rlmeta train sac --seeds K`, driven by rlmeta.app.multiseed).

K ordinary agents keep their own modules, replay buffers and envs. What they share is the update:
the agents' flat parameter buffers, Adam moments and target networks are re-homed as rows of stacked
[K, P] tensors (each agent's modules keep working on their row, as views), and one update of all K
seeds is the agent's own losses under `torch.func.vmap(torch.func.grad(...))` (`update_seeds` next
to `update` in each algorithm file), followed by one Adam step and one polyak lerp over all K rows.
The same machinery with K = 1 is the compiled CPU update of a single run (`--compile`).

RNG streams: each seed keeps its own copy of the global RNG states (SeedRNG), swapped in whenever
work is done for that seed, so each seed consumes exactly the draws of its single run.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from rlmeta.core.graphs import maybe_compile
from rlmeta.core.optim import FlatAdam
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


class _Bound:
    """`module` called with parameters taken from one flat vector (torch.func.functional_call), so a
    loss written for modules runs on one seed's row of stacked parameters under vmap. Attributes
    other than the call (buffers such as act_scale) come from the template module."""

    def __init__(self, module: nn.Module, params: dict[str, torch.Tensor]):
        self._module, self._params = module, params

    def __call__(self, *args: Any, **kw: Any) -> Any:
        return torch.func.functional_call(self._module, self._params, args, kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def _same_storage(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


Params = dict[str, torch.Tensor] | torch.Tensor  # a module's parameters by name, or one lone tensor (log alpha)


class StackedSeeds:
    """The K agents' flat buffers as stacked [K, P] tensors, re-homed so each agent's modules and
    optimizers see their row: every FlatAdam attribute (parameters, gradients, moments) and every
    `*_flat` tensor attribute (target networks) of the agent. `S[name]` hands the losses the owning
    module's parameters by name, each [K, *shape] (a view of the stacked buffer): torch.func.grad
    then returns one gradient per parameter, written into the stacked gradient buffer by step().
    (Differentiating slices of one flat vector instead costs a full-size zeros + add per slice.)

    Example (inside an algorithm's update_seeds):
        >>> g, metrics = S.grad(loss_fn, S["critic_opt"], S["critic_targ_flat"], batch)   # {name: [K, ...]}, [K]
        >>> S.step("critic_opt", g); S.lerp("critic_targ_flat", "critic_opt", polyak)
    """

    def __init__(self, agents: Sequence[Any], compile: bool = False):
        self.agents, self.k = list(agents), len(agents)
        self.compile = compile
        self._grad_fns: dict[Any, Callable] = {}  # loss function code -> its vmapped grad (compiled)
        self._step_fns: dict[str, Callable] = {}  # optimizer name -> its compiled step
        a0 = self.agents[0]
        self.opts: dict[str, FlatAdam] = {}
        self.flats: dict[str, torch.Tensor] = {}  # name -> [K, P]
        self.params: dict[str, Params] = {}  # name -> the owner's parameters as views of flats[name]
        self.grads: dict[str, Params] = {}  # optimizer name -> the same views of its gradient buffer
        for name, opt0 in [(k, v) for k, v in vars(a0).items() if isinstance(v, FlatAdam)]:
            olds = [getattr(a, name) for a in self.agents]
            stacked = nn.Parameter(torch.stack([o.flat for o in olds]))  # [K, P]
            # compile: the step is one more compiled graph, which needs the step count and learning
            # rate as tensors (capturable) so that it is not recompiled at every step
            opt = FlatAdam([stacked], lr=float(opt0.lr), betas=(opt0.b1, opt0.b2), eps=opt0.eps,
                           capturable=opt0.capturable or compile)
            p = opt0.flat.numel()
            with torch.no_grad():
                opt.m.copy_(torch.cat([o.m for o in olds]))
                opt.v.copy_(torch.cat([o.v for o in olds]))
            if opt.capturable:
                opt._t.fill_(opt0.t)
            else:
                opt._t = opt0._t
            rows = {"flat": opt.flat.view(self.k, p), "grad": opt.grad.view(self.k, p), "m": opt.m.view(self.k, p),
                    "v": opt.v.view(self.k, p)}
            self.params[name] = self._views(a0, opt0.flat, rows["flat"])
            self.grads[name] = self._views(a0, opt0.flat, rows["grad"])
            for i, (a, o) in enumerate(zip(self.agents, olds)):
                self._rehome(a, o.flat, rows["flat"][i], grads=False)
                self._rehome(a, o.grad, rows["grad"][i], grads=True)
                o.flat, o.grad, o.m, o.v = rows["flat"][i], rows["grad"][i], rows["m"][i], rows["v"][i]
            self.opts[name], self.flats[name] = opt, rows["flat"]
            if compile:

                # private (rlmeta/graphs.Compiled): the step reads its state as tensors (capturable:
                # step count and learning rate too) and constants of this optimizer (betas, eps)
                self._step_fns[name] = maybe_compile(opt.step, True, private=True)
        for name in [k for k, v in vars(a0).items() if k.endswith("_flat") and isinstance(v, torch.Tensor)]:
            stacked = torch.stack([getattr(a, name) for a in self.agents])  # [K, P]
            self.params[name] = self._views(a0, getattr(a0, name), stacked)
            for i, a in enumerate(self.agents):
                self._rehome(a, getattr(a, name), stacked[i], grads=False)
                setattr(a, name, stacked[i])
            self.flats[name] = stacked

    @staticmethod
    def _owned(agent: Any) -> list[tuple[Any, str, torch.Tensor]]:
        """(owner, name, tensor) for every module parameter and every tensor attribute that requires grad."""
        out = [(m, n, p) for m in vars(agent).values() if isinstance(m, nn.Module) for n, p in m.named_parameters()]
        out += [(agent, k, t) for k, t in vars(agent).items() if isinstance(t, torch.Tensor) and t.requires_grad]
        return out

    def _views(self, agent: Any, flat: torch.Tensor, stacked: torch.Tensor) -> Params:
        """The parameters of `agent` that live in `flat` [P], as views [K, *shape] of `stacked` [K, P]:
        a {name: view} dict for a module, the view itself for a lone tensor attribute."""
        owners: dict[int, tuple[Any, dict[str, torch.Tensor]]] = {}
        for owner, name, t in self._owned(agent):
            if _same_storage(t.data, flat):
                i = t.data.storage_offset() - flat.storage_offset()
                owners.setdefault(id(owner), (owner, {}))[1][name] = stacked[:, i : i + t.numel()].view(self.k, *t.shape)
        if len(owners) != 1:
            raise ValueError(f"a stacked buffer must hold the parameters of one module or one tensor, not {len(owners)}")
        owner, views = next(iter(owners.values()))
        return views if isinstance(owner, nn.Module) else next(iter(views.values()))

    def _rehome(self, agent: Any, old: torch.Tensor, new: torch.Tensor, grads: bool) -> None:
        """Point every parameter (or .grad) of the agent that is a view of `old` at the same place in `new`."""
        for _, _, t in self._owned(agent):
            cur = t.grad if grads else t.data
            if cur is None or not _same_storage(cur, old):
                continue
            i = cur.storage_offset() - old.storage_offset()
            view = new[i : i + cur.numel()].view_as(cur)
            if grads:
                t.grad = view
            else:
                t.data = view

    # ------------------------------------------------------------------ what update_seeds uses
    def __getitem__(self, name: str) -> Params:
        """The parameters [K, ...] of an optimizer attribute ('critic_opt') or a target ('critic_targ_flat'):
        {name: tensor} of the module that owns them, or a lone tensor (SAC's log alpha)."""
        return self.params[name]

    def constant(self, t: torch.Tensor) -> torch.Tensor:
        """A tensor every seed shares (e.g. a fixed log alpha) with a leading seed dim.  [K, ...]"""
        return t.detach().expand(self.k, *t.shape)

    @staticmethod
    def bind(module: nn.Module, params: dict[str, torch.Tensor]) -> _Bound:
        """`module` (the template agent's) run with `params` (one seed's, inside vmap)."""
        return _Bound(module, params)

    def grad(self, loss_fn: Callable[..., tuple[torch.Tensor, Any]], *args: Any) -> tuple[Params, Any]:
        """vmap over seeds of grad of loss_fn(first arg, *rest) -> (loss, aux) with respect to its first
        argument. -> (gradients shaped like the first argument, aux with a leading seed dim)

        With compile=True the vmapped grad goes through torch.compile (rlmeta.core.graphs.maybe_compile:
        eager after a failure), one graph per loss function: on this CPU that removes functorch's
        per-op wrapping, about half of an eager vmapped update (benchmarks/multiseed_throughput.py)."""
        fn = torch.func.vmap(torch.func.grad(loss_fn, has_aux=True))
        if not self.compile:
            return fn(*args)
        # update_seeds defines its loss functions anew on each call, so a compiled graph is kept per
        # code object and bound to the first closure: its cells (the template agent, S, the config)
        # are the same objects on every call, and the tensors it reads arrive as arguments
        compiled = self._grad_fns.get(loss_fn.__code__)
        if compiled is None:

            # private (rlmeta/graphs.Compiled): what changes between calls (parameters, batch, noise,
            # alpha) arrives as tensor arguments; the Python values the losses read (gamma, noise
            # scales, the template modules) are fixed for the life of this StackedSeeds
            compiled = self._grad_fns[loss_fn.__code__] = maybe_compile(
                lambda *a, f=loss_fn: torch.func.vmap(torch.func.grad(f, has_aux=True))(*a), True, private=True)
        return compiled(*args)

    def step(self, name: str, grad: Params) -> None:
        """One Adam step of every seed's `name` optimizer from gradients shaped like S[name]
        (elementwise: each row is exactly the single-seed FlatAdam step on that row)."""
        opt, views = self.opts[name], self.grads[name]
        if isinstance(views, torch.Tensor):
            views.copy_(grad)
        else:
            for k, v in views.items():
                v.copy_(grad[k])
        self._step_fns.get(name, opt.step)()

    def sync_counts(self) -> None:
        """Copy the stacked optimizers' step counts to the agents' (their checkpoints hold them);
        the runner calls it once per iteration (a host sync on a GPU)."""
        for name, opt in self.opts.items():
            for a in self.agents:
                o = getattr(a, name)
                if o.capturable:
                    o._t.fill_(opt.t)
                else:
                    o._t = opt.t

    @torch.no_grad()
    def lerp(self, target: str, source: str, polyak: float) -> None:
        """Polyak update of every seed's target: target <- polyak * target + (1 - polyak) * source."""
        self.flats[target].lerp_(self.flats[source], 1.0 - polyak)


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
            last = agents[0].update_seeds(S, b, noise, agents[0].loop.num_updates)
            for a in agents:
                a.loop.num_updates += 1
    S.sync_counts()
    metrics = []
    for i, a in enumerate(agents):
        a.global_step = steps[i]
        with rng.use(i):
            metrics.append(a.loop.end_iteration(steps[i], {k: v[i] for k, v in last.items()}, a.act))
    return metrics
