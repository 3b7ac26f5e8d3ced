"""Othello (Reversi) on 8x8, as OpenSpiel's `othello`.

Action = row * 8 + col for a disc (row 0 = OpenSpiel's rank 1, col 0 = file a), 64 = pass.
Black (player 0, +1) moves first from the standard centre (d4, e5 White; d5, e4 Black). Pass
is legal only when the player to move has no disc move. The game ends when neither player can
place a disc (board full included); more discs wins, equal counts draw.

Move generation and flips are bitboard Kogge-Stone fills on int64 tensors: one bit per square
(bit row*8+col), the 8 directions stacked as a [B, 8] tensor and shifted in one op each ray step.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rlmeta.envs.board.core import BoardGame, State

_DIRS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
PASS = 64


class Othello(BoardGame):
    name = "othello"
    board_shape = (8, 8)
    num_actions = 65
    obs_shape = (2, 8, 8)
    pass_action = PASS

    def __init__(self, batch_size: int = 1, device: str | torch.device = "cpu", check: bool = True):
        super().__init__(batch_size, device, check)
        not_a = sum(1 << (r * 8 + c) for r in range(8) for c in range(8) if c != 0)  # no file-a squares
        not_h = sum(1 << (r * 8 + c) for r in range(8) for c in range(8) if c != 7)
        amount, left, mask = [], [], []
        for dr, dc in _DIRS:
            k = dr * 8 + dc  # bit index moves by k along (dr, dc)
            m = (1 << 64) - 1
            if k < 0:
                m &= (1 << (64 + k)) - 1  # right shifts are arithmetic on int64: clear the fill
            m &= not_a if dc == 1 else not_h if dc == -1 else (1 << 64) - 1  # no wrap across edges
            amount.append(abs(k))
            left.append(k > 0)
            mask.append(m - (1 << 64) if m >= 1 << 63 else m)
        t = dict(dtype=torch.long, device=self.device)
        self._amount = torch.tensor(amount, **t)  # [8]
        self._left = torch.tensor(left, device=self.device)
        self._mask = torch.tensor(mask, **t)  # [8]
        bit = [1 << p for p in range(64)]
        self._bits = torch.tensor([b - (1 << 64) if b >= 1 << 63 else b for b in bit], **t)  # [64]
        self._pos = torch.arange(64, **t)

    def initial_board(self, batch_size: int) -> Tensor:
        b = super().initial_board(batch_size)
        b[:, 3, 3] = b[:, 4, 4] = -1
        b[:, 3, 4] = b[:, 4, 3] = 1
        return b

    # ---- bitboards ([B] or [B, 8] int64) --------------------------------------------------
    def _to_bits(self, cells: Tensor) -> Tensor:
        """[B, 64] bool -> [B] int64 (sum of distinct powers of two = bitwise or)."""
        return (cells.long() * self._bits).sum(1)

    def _from_bits(self, bits: Tensor) -> Tensor:
        """[B] int64 -> [B, 64] bool."""
        return ((bits[:, None] >> self._pos) & 1).bool()

    def _shift(self, x: Tensor) -> Tensor:
        """x [B, 8] int64 (one copy per direction) -> each moved one step along its direction."""
        return torch.where(self._left, x << self._amount, x >> self._amount) & self._mask

    def _moves_bits(self, own: Tensor, opp: Tensor) -> Tensor:
        """[B] int64 bitboard of disc moves for `own` against `opp` ([B] int64 each)."""
        own8, opp8 = own[:, None].expand(-1, 8), opp[:, None].expand(-1, 8)
        x = self._shift(own8) & opp8
        for _ in range(5):  # runs of up to 6 opponent discs
            x = x | (self._shift(x) & opp8)
        empty = ~(own | opp)
        moves = self._shift(x) & empty[:, None]  # [B, 8]
        return _or_reduce(moves)

    def _sides(self, board: Tensor, player: Tensor) -> tuple[Tensor, Tensor]:
        sign = (1 - 2 * player).to(torch.int8).view(-1, 1)
        rel = board.flatten(1) * sign
        return self._to_bits(rel == 1), self._to_bits(rel == -1)

    def legal_mask(self, state: State) -> Tensor:
        own, opp = self._sides(state.board, state.player)
        discs = self._from_bits(self._moves_bits(own, opp))
        no_move = ~discs.any(1, keepdim=True)
        live = ~state.terminal[:, None]
        return torch.cat([discs, no_move], 1) & live  # [B, 65]

    def _step(self, state: State, action: Tensor) -> tuple[State, Tensor]:
        b = state.player.shape[0]
        live = ~state.terminal
        own, opp = self._sides(state.board, state.player)
        place = live & (action != PASS)
        m = torch.where(place, self._bits[action.clamp(0, 63)], torch.zeros_like(own))  # [B]
        # flips: from the new disc, a contiguous run of opponent discs closed by one of ours
        opp8 = opp[:, None].expand(-1, 8)
        x = self._shift(m[:, None].expand(-1, 8)) & opp8
        run = x
        for _ in range(5):
            x = self._shift(x) & opp8
            run = run | x
        closed = (self._shift(run) & own[:, None]) != 0  # [B, 8]
        flips = _or_reduce(torch.where(closed, run, torch.zeros_like(run)))
        own2, opp2 = own | m | flips, opp & ~flips
        moves2 = self._moves_bits(own2, opp2)  # [B] disc moves of the mover on the new board
        # a disc goes on an empty square and flips something; a pass (own2, opp2 = own, opp) is
        # legal only when the mover has no disc move
        legal = torch.where(action == PASS, moves2 == 0, ((m & (own | opp)) == 0) & (flips != 0))
        sign = (1 - 2 * state.player).to(torch.int8).view(-1, 1)
        board = (self._from_bits(own2).to(torch.int8) - self._from_bits(opp2).to(torch.int8)) * sign
        board = torch.where(live.view(-1, 1, 1), board.view(b, 8, 8), state.board)
        # game over when neither side has a disc move
        over = live & (moves2 == 0) & (self._moves_bits(opp2, own2) == 0)
        n0 = (board == 1).flatten(1).sum(1)
        n1 = (board == -1).flatten(1).sum(1)
        result = torch.where(n0 > n1, 0, torch.where(n1 > n0, 1, -1))
        winner = torch.where(over, result, state.winner)
        player = torch.where(live, 1 - state.player, state.player)
        return State(board, player, state.terminal | over, winner, state.moves + live.long()), legal

    def to_string(self, state: State, i: int = 0) -> str:
        glyph = {0: ".", 1: "X", -1: "O"}
        rows = [f"{r + 1} " + " ".join(glyph[int(v)] for v in state.board[i, r].tolist()) for r in range(8)]
        return (
            self.status_line(state, i)
            + "\n  a b c d e f g h\n"
            + "\n".join(rows)
            + f"\n(action = row*8+col, {PASS} = pass)"
        )


def _or_reduce(x: Tensor) -> Tensor:
    """Bitwise or over the last dim of an int64 tensor [..., 8] -> [...]."""
    x = x[..., :4] | x[..., 4:]
    x = x[..., :2] | x[..., 2:]
    return x[..., 0] | x[..., 1]
