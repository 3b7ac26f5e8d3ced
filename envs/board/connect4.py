"""Connect Four: 7 columns x 6 rows with gravity, four in a row. Action = column 0..6 (same ids as
OpenSpiel's connect_four; Pascal Pons' move strings use columns 1..7). Board row 0 is the TOP
row (display order), stones fall to the highest row index that is empty."""

from __future__ import annotations

import torch
from torch import Tensor

from envs.board.core import KInARow, State


class ConnectFour(KInARow):
    name = "connect4"
    board_shape = (6, 7)
    num_actions = 7
    obs_shape = (2, 6, 7)
    k = 4
    gravity = True

    def symmetries(self, obs: Tensor, policy: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Identity and the left-right mirror: obs [B, C, 6, 7], policy [B, 7]."""
        return [(obs, policy), (obs.flip(-1), policy.flip(-1))]

    def to_string(self, state: State, i: int = 0) -> str:
        return super().to_string(state, i) + "\n" + "1234567"

    def from_moves(self, seqs: list[str]) -> State:
        """Batch of positions from Pons move strings ('4453' = columns 4,4,5,3, 1-indexed)."""
        s = self.reset(len(seqs))
        n = max((len(q) for q in seqs), default=0)
        for t in range(n):
            a = torch.tensor([int(q[t]) - 1 if t < len(q) else 0 for q in seqs], device=self.device)
            active = torch.tensor([t < len(q) for q in seqs], device=self.device)
            nxt = self.step(s, a, check=False)
            s = type(s)(*(torch.where(active.view(-1, *([1] * (f.dim() - 1))), f2, f)
                          for f, f2 in zip(s, nxt)))
        return s
