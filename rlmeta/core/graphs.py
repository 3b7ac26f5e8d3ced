"""Replay a fixed-shape update as one CUDA graph, with an eager fallback.

A training update of small networks on a GPU is launch-bound: each of the hundreds of kernels of a
minibatch step costs more to launch from Python than to run. `CapturedFn` records a function once
(`torch.cuda.graph`) and then replays the whole recording with one launch per call. The function
must read and write only tensors at fixed addresses (parameters and optimiser state in place, a
FlatAdam with capturable=True) and must not look at values on the host (no .item(), no
data-dependent Python branches); its inputs are copied into static buffers before each replay and
its outputs are the tensors the recording wrote (valid until the next call).

Capture needs a warm-up call (autograd and cuBLAS allocate lazily), which would change the training
state: the tensors in `state` are snapshotted before and restored after, so the first replay starts
from exactly where an eager call would. Anything that fails during capture (an op that syncs, an
extra loss that calls .item()) ends in a one-line warning and eager calls from then on.

Example:
    >>> step = CapturedFn(update_phase, state=[opt.flat, opt.m, opt.v, opt._t, opt._lr], enabled=True)
    >>> metrics = step(batch, perms)     # tensors; first call captures, later calls replay

`Compiled` is the same idea for torch.compile: a compiled function with a fallback taken for good,
with one warning, when compiling is unavailable or the compiled call raises.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten


class CapturedFn:
    """fn(*inputs) -> outputs (a pytree of tensors), replayed as a CUDA graph when `enabled` and every
    input tensor is on a CUDA device; otherwise (CPU, capture failed) `fn` runs eagerly."""

    def __init__(
        self, fn: Callable[..., Any], state: Sequence[torch.Tensor], enabled: bool = True, name: str = "update"
    ):
        self.fn, self.state, self.enabled, self.name = fn, list(state), enabled, name
        self.graph: torch.cuda.CUDAGraph | None = None
        self._static_in: list[torch.Tensor] = []
        self._in_spec = None
        self._out: Any = None

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, *inputs: Any) -> Any:
        leaves, spec = tree_flatten(inputs)
        if self.enabled and self.graph is None:
            if all(isinstance(x, torch.Tensor) and x.is_cuda for x in leaves):
                self._capture(leaves, spec)
            else:
                self.enabled = False
        if self.graph is None:
            return self.fn(*inputs)
        if spec != self._in_spec or any(s.shape != x.shape for s, x in zip(self._static_in, leaves)):
            raise ValueError(f"{self.name}: a captured CUDA graph needs inputs of the captured shapes")
        for s, x in zip(self._static_in, leaves):
            s.copy_(x)
        self.graph.replay()
        return self._out

    def _capture(self, leaves: list[torch.Tensor], spec) -> None:
        snapshot = [t.detach().clone() for t in self.state]
        static_in = [x.detach().clone() for x in leaves]
        args = tree_unflatten(static_in, spec)
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.fn(*args)  # warm-up: lazy allocations happen outside the recording
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                out = self.fn(*args)
        except Exception as e:
            msg = str(e).splitlines()[0][:200] if str(e) else ""
            print(
                f"rlmeta: CUDA graph capture of the {self.name} failed ({type(e).__name__}: {msg}); running eagerly",
                file=sys.stderr,
            )
            self.enabled = False
            out = graph = None
        with torch.no_grad():
            for t, c in zip(self.state, snapshot):
                t.copy_(c)
        if graph is not None:
            self.graph, self._static_in, self._in_spec, self._out = graph, static_in, spec, out


class Compiled:
    """torch.compile(fn, dynamic=False) that falls back for good to `fallback` (default: `fn` run
    eagerly) with one warning to stderr when torch.compile is unavailable or the compiled call raises
    (no C++ toolchain, an unsupported op). `ok` says whether the compiled path is still in use.

    private=True: before every call dynamo checks guards on all that the function reads (its closure's
    Python values, the attributes of modules it calls), 50-90 us per call for an off-policy update's
    loss functions on this CPU. A private Compiled keeps only the guards on tensor arguments (shape,
    dtype, device, strides). That is safe only for a function whose every changing input is a tensor
    argument, and only because the function is compiled from its own copy of its code object:
    dynamo keeps compiled graphs on the code object, and without the closure guards a graph compiled
    for one function (or one agent) would serve any other function sharing that code. fullgraph=True
    keeps it to that one frame (a graph break falls back to eager, with the warning).
    """

    def __init__(self, fn: Callable, fallback: Callable | None = None, what: str = "", private: bool = False):
        self.fallback, self.what = (fn if fallback is None else fallback), what
        self._compiled: Callable | None = None
        try:
            if private:
                keep = torch.compiler.keep_tensor_guards_unsafe
                self._compiled = torch.compile(
                    _own_code(fn), dynamic=False, fullgraph=True, options={"guard_filter_fn": keep}
                )
            else:
                self._compiled = torch.compile(fn, dynamic=False)
        except Exception as e:  # torch without dynamo support
            print(f"rlmeta: torch.compile unavailable ({type(e).__name__}: {e}); running eagerly", file=sys.stderr)

    @property
    def ok(self) -> bool:
        return self._compiled is not None

    def __call__(self, *args: Any, **kw: Any) -> Any:
        if self._compiled is not None:
            try:
                return self._compiled(*args, **kw)
            except Exception as e:
                self._compiled = None
                # the fallback first: where it fails too (the function's own fault, not the compiler's),
                # its error is the one line the caller reports
                out = self.fallback(*args, **kw)
                msg = str(e).splitlines()[0][:200] if str(e) else ""
                print(
                    f"rlmeta: torch.compile failed{self.what} ({type(e).__name__}: {msg}); running eagerly",
                    file=sys.stderr,
                )
                return out
        return self.fallback(*args, **kw)


def _own_code(fn: Callable) -> Callable:
    """fn as a function with a code object of its own (a copy), so that dynamo's cache for it, which
    lives on the code object, holds only graphs compiled for this one function."""
    if not isinstance(fn, types.FunctionType):  # a bound method or other callable: call it from a closure
        target = fn
        fn = lambda *a, **kw: target(*a, **kw)  # noqa: E731
    own = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    own.__kwdefaults__ = fn.__kwdefaults__  # keyword-only defaults (lambda *a, f=...) are not in __defaults__
    return own


def maybe_compile(fn: Callable, enabled: bool, private: bool = False) -> Callable:
    """torch.compile(fn) when enabled; if compiling fails (no C++ toolchain, unsupported op) the
    first call warns once and every call runs `fn` eagerly (Compiled above, which also
    explains `private`). Numbers match eager to float tolerance (tests/test_offpolicy.py)."""
    return Compiled(fn, private=private) if enabled else fn
