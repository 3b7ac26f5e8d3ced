"""Connect Four: 7 columns x 6 rows with gravity, four in a row. Action = column 0..6 (same ids as
OpenSpiel's connect_four; Pascal Pons' move strings use columns 1..7). Board row 0 is the TOP
row (display order), stones fall to the highest row index that is empty."""

from __future__ import annotations

import torch
from torch import Tensor

from envs.board.core import KInARow, State, where_state


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
        """Batch of positions from Pons move strings ('4453' = columns 4,4,5,3, 1-indexed).
        A character that is not a column 1-7, a move into a full column or a move after the game
        has ended raises ValueError naming the string and the move."""
        s = self.reset(len(seqs))
        for t in range(max((len(q) for q in seqs), default=0)):
            active = torch.tensor([t < len(q) for q in seqs], device=self.device)          # [B]
            cols = [_column(q, t) if t < len(q) else 0 for q in seqs]
            a = torch.tensor(cols, device=self.device)                                     # [B]
            # terminal rows have no legal move, so a move after a win is caught here too
            bad = active & ~self.legal_mask(s).gather(1, a[:, None])[:, 0]
            if bool(bad.any()):
                i = int(bad.nonzero()[0, 0])
                why = "the game is already over" if bool(s.terminal[i]) else f"column {seqs[i][t]} is full"
                raise ValueError(f"connect4 move string {seqs[i]!r}: move {t + 1} ({seqs[i][t]}) is illegal: {why}")
            s = where_state(active, self.step(s, a, check=False), s)
        return s


def _column(seq: str, t: int) -> int:
    """Column 0..6 of the t-th character of a Pons move string (ValueError if not 1-7)."""
    c = seq[t]
    if c not in "1234567":
        raise ValueError(f"connect4 move string {seq!r}: move {t + 1} ({c!r}) is not a column 1-7")
    return int(c) - 1
