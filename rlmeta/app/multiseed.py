"""Several seeds of one off-policy agent in one process: `rlmeta train sac --seeds K`.

K ordinary agents are built exactly as K single runs build them (each seeds the global RNGs with its
own seed, then builds its envs, networks and replay buffer; a resumed one loads its checkpoint), and
each keeps its own run directory, config.json, progress.csv, checkpoint.pt and W&B run
(rlmeta.app.runner.RunSession). What they share is the update: the K agents' flat parameter buffers,
Adam moments and target networks are re-homed as rows of stacked [K, P] tensors (the agents'
modules keep working on their row, as views), and one update of all K seeds is the agent's own
`update_step` (the same one every executor runs) under `torch.func.vmap`, with torch.func.grad and a
functional Adam (rlmeta/agents/offpolicy/stacked.py). A step that cannot run vmapped (an .item() in an
extra loss) is refused in one line at the first update.

Speed: benchmarks/results/multiseed_throughput.md compares `--seeds 3 --compile` with three separate
runs (one after another, compiled, side by side). Batching the seeds saves per-op overhead, not
matrix-multiply work, and the stacked seeds' matrix multiplies are large enough for a second thread
to pay. Without --compile the vmapped update is no faster than K single ones (functorch's per-op
wrapping costs about what batching the seeds saves). On a GPU, where a small update is launch-bound,
K seeds should cost about one (not measured yet).

RNG streams: a single run draws everything (uniform start actions, exploration noise, minibatch
indices, the noise inside the losses) from the global RNGs in a fixed order. Here each seed keeps its
own copy of the global RNG states (SeedRNG), swapped in whenever work is done for that seed
(collection, its minibatch indices and loss noise, evaluation, its checkpoint), so each seed consumes
exactly the draws of its single run. The losses take that noise as an argument (`update_noise`).
Results therefore match K single runs to float tolerance, not bitwise: a batched matmul rounds
differently from a single one, and the differences then grow slowly with training
(tests/test_multiseed.py). `--seeds 1` is the plain single-run path, bit for bit.

Resume: every seed's checkpoint is an ordinary single-run checkpoint (its own RNG states included),
so a killed `--seeds K` run resumes with the same command plus `--resume` (or one seed alone with
`rlmeta train ALGO --resume RUN_DIR`); seeds at different steps are trained in groups of equal step.

Example:
    >>> from rlmeta.app.multiseed import train_seeds
    >>> cfgs = [SACConfig(env="Hopper-v5", seed=s, run_dir=f"runs/sac-hop-s{s}") for s in range(3)]
    >>> run_dirs = train_seeds("sac", cfgs)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Optional

from rlmeta.agents.offpolicy.base import OffPolicyAgent
from rlmeta.agents.offpolicy.stacked import SeedRNG, StackedSeeds, VmapUpdateError, lockstep_iteration
from rlmeta.app.registry import get_agent
from rlmeta.app.runner import RunSession, run_dir_lock, run_dir_of
from rlmeta.core.errors import ConfigError
from rlmeta.core.seeding import rng_state


def train_seeds(
    algo: str, cfgs: Sequence[Any], callback: Optional[Callable[[int, int, dict], None]] = None
) -> list[Path]:
    """Train one off-policy algorithm for several configs that differ only in seed and run dir (each
    fresh or --resume), in one process. callback(seed index, global_step, metrics) after each
    iteration of each seed. -> the run directories."""

    if not issubclass(get_agent(algo), OffPolicyAgent):
        raise ConfigError(f"--seeds K > 1 trains off-policy agents (ddpg, td3, sac); {algo} is not one")
    run_dirs = [run_dir_of(algo, c) for c in cfgs]
    if len({d.resolve() for d in run_dirs}) < len(run_dirs):
        raise ConfigError("--seeds: two seeds would share a run dir; give --run-dir a {seed} placeholder")
    with ExitStack() as stack:
        for d in run_dirs:
            stack.enter_context(run_dir_lock(d))
        runs: list[Any] = []
        states: list[dict[str, Any]] = []
        try:
            for i, (cfg, d) in enumerate(zip(cfgs, run_dirs)):
                cb = None if callback is None else (lambda step, m, i=i: callback(i, step, m))
                run = RunSession(algo, cfg, d, cb)
                if run.open():  # seeds the global RNGs with cfg.seed (or restores the checkpoint's)
                    runs.append(run)
                    states.append(rng_state())
            # lockstep needs equal counters: seeds resumed at different steps train in groups
            groups: dict[tuple[int, int], list[int]] = {}
            for j, run in enumerate(runs):
                groups.setdefault((run.agent.global_step, run.agent.loop.num_updates), []).append(j)
            for members in groups.values():
                _train_group([runs[j] for j in members], [states[j] for j in members])
        finally:
            for run in runs:
                run.close()
    return run_dirs


def _train_group(runs: list[Any], states: list[dict[str, Any]]) -> None:
    agents = [r.agent for r in runs]
    rng = SeedRNG(states)
    total = runs[0].cfg.total_steps
    if len(runs) == 1:  # the single-run path, bit for bit
        agent = agents[0]
        with rng.use(0):
            while agent.global_step < total:
                t0, s0 = time.perf_counter(), agent.global_step
                metrics = agent.iteration()
                runs[0].log(metrics, time.perf_counter() - t0, agent.global_step - s0)
            runs[0].finish()
        return
    why = agents[0].overridden_update()
    if why:  # the vmapped update_step would silently leave the subclass's update() out
        raise ConfigError(
            f"--seeds K > 1 runs update_step() vmapped over the seeds, and {why}; or train the "
            "seeds separately (one `rlmeta train` per seed)"
        )
    if any(r.cfg.total_steps != total for r in runs):
        raise ConfigError("--seeds: every seed needs the same --total-steps")
    S = StackedSeeds(agents, compile=runs[0].cfg.compile)
    while agents[0].global_step < total:
        t0, s0 = time.perf_counter(), [a.global_step for a in agents]
        try:
            metrics = lockstep_iteration(agents, S, rng)
        except VmapUpdateError as e:  # the update that failed changed nothing
            raise ConfigError(
                f"--seeds K > 1 runs update_step() vmapped over the seeds, and it failed there ({e}); "
                "train the seeds separately (one `rlmeta train` per seed)"
            ) from e
        seconds = time.perf_counter() - t0
        for i, run in enumerate(runs):
            with rng.use(i):  # a checkpoint saves this seed's RNG states
                run.log(metrics[i], seconds, agents[i].global_step - s0[i])
    for i, run in enumerate(runs):
        with rng.use(i):
            run.finish()
    print(f"rlmeta: {len(runs)} seeds trained together to step {agents[0].global_step:,}", file=sys.stderr)
