"""Optional learn2learn adapter: feed learn2learn task datasets (mini-ImageNet, Omniglot, ...) to
rlmeta's MetaLearner. learn2learn is imported lazily, only by `get_tasksets`.

Install situation (extra `meta`): learn2learn 0.2.0 (the last release, 2023, sdist only) ships
Cython-generated C files that do not compile against Python >= 3.11, and it imports torchvision and
the old `gym` at import time. scripts/install_learn2learn.sh builds it with a current Cython and
imports `learn2learn.vision` / `learn2learn.gym` lazily (scripts/setup.sh runs it when `meta` is
requested); `import learn2learn`, its algorithms and its data pipeline then work with any torch.
`get_tasksets` needs learn2learn.vision, hence a torchvision built for the installed torch (PyPI has
none for a CPU torch). tests/test_maml_l2l.py checks rlmeta's meta-gradients against learn2learn's.

learn2learn's convention (its examples' `fast_adapt`): one `taskset.sample()` returns
`(data [2 * ways * shots, ...], labels [2 * ways * shots])` with samples interleaved, the even
positions are the adaptation (support) set and the odd ones the evaluation (query) set.

Example:
    >>> from rlmeta.agents.maml.l2l import get_tasksets, taskset_batch
    >>> tasksets = get_tasksets("omniglot", train_ways=5, train_samples=2, test_ways=5, test_samples=2,
    ...                         num_tasks=20000, root="~/data")           # needs learn2learn
    >>> xs, ys, xq, yq = taskset_batch(tasksets.train, meta_batch=32)     # [32, 5, 1, 28, 28], [32, 5] ...
    >>> loss = maml.meta_loss(torch.nn.functional.cross_entropy, xs, ys, xq, yq, steps=1)
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import torch

from rlmeta.core.errors import ConfigError

MISSING = (
    "learn2learn is not installed: bash scripts/install_learn2learn.sh, then pip install -e '.[meta]' "
    "(the extra rlmeta[meta]; learn2learn 0.2.0 from PyPI does not build on Python >= 3.11, the script "
    "builds it). rlmeta's own MAML needs no learn2learn."
)


class TaskSet(Protocol):
    def sample(self) -> tuple[torch.Tensor, torch.Tensor]: ...


class TaskBatch(NamedTuple):
    xs: torch.Tensor  # [M, S, ...] support inputs
    ys: torch.Tensor  # [M, S, ...]
    xq: torch.Tensor  # [M, Q, ...] query inputs
    yq: torch.Tensor  # [M, Q, ...]


def require_learn2learn() -> Any:
    """The learn2learn module, or ConfigError with the install situation in one line."""
    try:
        import learn2learn
    except ImportError:
        raise ConfigError(MISSING) from None
    return learn2learn


def get_tasksets(name: str, **kwargs: Any) -> Any:
    """learn2learn.vision.benchmarks.get_tasksets(name, **kwargs): (train, validation, test) tasksets."""
    l2l = require_learn2learn()
    try:
        vision = l2l.vision
    # RuntimeError: a torchvision built for another torch (PyPI's CUDA wheel with a CPU torch) fails
    # while registering its operators, not with an ImportError.
    except (ImportError, RuntimeError) as e:
        raise ConfigError(
            f"learn2learn's vision datasets need a torchvision built for torch {torch.__version__} "
            f"({type(e).__name__}: {e})"
        ) from None
    return vision.benchmarks.get_tasksets(name, **kwargs)


def split_support_query(data: torch.Tensor, labels: torch.Tensor) -> TaskBatch:
    """learn2learn's split of one task: even positions adapt, odd positions evaluate. -> unbatched TaskBatch"""
    support = torch.zeros(data.shape[0], dtype=torch.bool)
    support[::2] = True
    return TaskBatch(data[support], labels[support], data[~support], labels[~support])


def taskset_batch(taskset: TaskSet, meta_batch: int, device: torch.device | str = "cpu") -> TaskBatch:
    """`meta_batch` tasks from a learn2learn TaskDataset (anything with `.sample() -> (data, labels)`),
    split and stacked for `MetaLearner.meta_loss` (one vmap lane per task)."""
    if meta_batch <= 0:
        raise ConfigError(f"meta_batch must be positive, got {meta_batch}")
    tasks = [split_support_query(*taskset.sample()) for _ in range(meta_batch)]
    return TaskBatch(*(torch.stack([getattr(t, f) for t in tasks]).to(device) for f in TaskBatch._fields))
