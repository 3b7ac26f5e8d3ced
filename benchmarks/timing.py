"""What the side-by-side speed scripts share: an rlmeta agent built once and timed over whole iterations.

Example:
    >>> runner = AgentTimer("ppo", PPOConfig.presets()["classic"].replace(env="CartPole-v1", progress=False))
    >>> sps = runner.block(5)          # env-steps/s over 5 iterations (collect + update)
    >>> runner.close()
"""

from __future__ import annotations

import time
from typing import Any


class AgentTimer:
    """An rlmeta agent of `algo` built from `cfg`, stepped one training iteration at a time."""

    def __init__(self, algo: str, cfg: Any):
        from rlmeta.app.runner import build_agent

        self.agent = build_agent(algo, cfg)

    def block(self, iterations: int) -> float:
        """env-steps/s over `iterations` whole iterations (collect + update)."""
        t0, s0 = time.perf_counter(), self.agent.global_step
        for _ in range(iterations):
            self.agent.iteration()
        return (self.agent.global_step - s0) / (time.perf_counter() - t0)

    def close(self) -> None:
        self.agent.envs.close()
