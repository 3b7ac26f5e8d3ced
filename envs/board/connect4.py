"""Connect Four: 7 columns x 6 rows with gravity, four in a row. Action = column 0..6 (same ids as
OpenSpiel's connect_four; Pascal Pons' move strings use columns 1..7). Board row 0 is the TOP
row (display order), stones fall to the highest row index that is empty."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from rlmeta.envs.board.core import BoardGame, KInARow, State, where_state

H, W = 6, 7
# Bitboard layout (Pons): bit 7c + i is column c, i-th cell from the bottom (i = 0..5); bit 7c + 6
# is a sentinel that stays 0, so shifts along a row or diagonal never wrap into the next column.
_SHIFTS = (1, 7, 6, 8)  # vertical, horizontal, the two diagonals


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

    def playout_view(self, state: State) -> tuple[Bits, BitConnectFour]:
        """`state` as bitboards and the simulator that steps them: random playouts (search.rollout)
        run on two int64 words per game instead of a [6, 7] board (a few ops on [B] per ply)."""
        if getattr(self, "_bits", None) is None:
            self._bits = BitConnectFour(self.device)  # its move table is built once per game
        return self._bits.from_state(state), self._bits

    def from_moves(self, seqs: list[str]) -> State:
        """Batch of positions from Pons move strings ('4453' = columns 4,4,5,3, 1-indexed).
        A character that is not a column 1-7, a move into a full column or a move after the game
        has ended raises ValueError naming the string and the move."""
        s = self.reset(len(seqs))
        for t in range(max((len(q) for q in seqs), default=0)):
            active = torch.tensor([t < len(q) for q in seqs], device=self.device)  # [B]
            cols = [_column(q, t) if t < len(q) else 0 for q in seqs]
            a = torch.tensor(cols, device=self.device)  # [B]
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


class Bits(NamedTuple):
    """Connect Four positions as bitboards for random playouts; every field [B]."""

    own: Tensor  # int64: stones of the player to move
    mask: Tensor  # int64: all stones
    full: Tensor  # int64: 7-bit set of the full columns
    player: Tensor  # int64 in {0, 1}: the player to move
    terminal: Tensor  # bool
    winner: Tensor  # int64: -1 ongoing or draw, else 0 / 1


class BitConnectFour:
    """Connect Four on bitboards with the parts of the game interface a random playout uses
    (random_action, legal_mask, step, rewards, index): the same moves and results as ConnectFour
    (tested move by move), in a few elementwise ops on [B] int64 per ply, because ops on [B, 7]
    or [B, 6, 7] cost tens of microseconds each on a CPU where ops on [B] cost a few.

    A move is mask | (mask + bottom bit of its column); a four is found by and-ing the mover's
    stones with themselves shifted along each direction (two ands per direction). Rows that are
    finished keep `terminal` and `winner` (all a playout reads); their other fields are not kept
    up to date, since they would cost a torch.where per field per ply."""

    num_actions = W
    playout_compact_share = 0.5  # a row costs ~40 int64 ops per ply: compacting pays later than on boards
    # lcm(1..7): a draw u in [0, 420) picks column u mod k among k free ones with equal odds
    DRAWS = 420

    def __init__(self, device: torch.device):
        cols = torch.arange(W, device=device)
        self._bottom = torch.ones(W, dtype=torch.long, device=device) << (7 * cols)  # [7]
        self._top = torch.ones(W, dtype=torch.long, device=device) << (7 * cols + 5)  # [7]
        self._all_tops = int(self._top.sum())
        self._board_full = sum(((1 << H) - 1) << (7 * c) for c in range(W))
        row = H - 1 - torch.arange(H, device=device)  # board row 0 is the top
        self._cell_bit = torch.ones(H, W, dtype=torch.long, device=device) << (7 * cols[None] + row[:, None])
        self._col_bit = torch.ones(W, dtype=torch.long, device=device) << cols  # [7]
        # [128 * 420] the column played for (full columns f, draw u): the (u mod k)-th free one
        table = torch.zeros(1 << W, self.DRAWS, dtype=torch.long)
        for f in range(1 << W):
            free = [c for c in range(W) if not f >> c & 1]
            if free:
                table[f] = torch.tensor(free).repeat(self.DRAWS // len(free))
        self._move_table = table.flatten().to(device)

    def from_state(self, state: State) -> Bits:
        stone = (1 - 2 * state.player).to(torch.int8).view(-1, 1, 1)  # [B, 1, 1] the mover's stone
        own = torch.where(state.board == stone, self._cell_bit, 0).flatten(1).sum(1)
        mask = torch.where(state.board != 0, self._cell_bit, 0).flatten(1).sum(1)
        full = torch.where(state.board[:, 0] != 0, self._col_bit, 0).sum(1)  # top row occupied
        return Bits(own, mask, full, state.player, state.terminal, state.winner)

    def legal_mask(self, s: Bits) -> Tensor:
        """[B, 7]: a column is open while its top cell is empty."""
        return ((s.mask[:, None] & self._top) == 0) & ~s.terminal[:, None]

    def random_action(self, s: Bits) -> Tensor:
        """A uniformly random legal column [B] (any column in finished rows)."""
        u = torch.randint(0, self.DRAWS, s.full.shape, device=s.full.device)
        return self._move_table[s.full * self.DRAWS + u]

    def step(self, s: Bits, action: Tensor, check: bool = False) -> Bits:
        """Play column action [B] (legal: unchecked) in every live row."""
        mask = s.mask | (s.mask + self._bottom[action])  # the stone drops onto the column
        stone = mask ^ s.mask  # [B] one bit: the cell just filled
        mover = s.own | stone
        four = torch.zeros_like(mover)
        for d in _SHIFTS:
            pairs = mover & (mover >> d)
            four |= pairs & (pairs >> 2 * d)
        win = (four != 0) & ~s.terminal
        full = s.full | ((stone & self._all_tops) != 0).long() << action
        return Bits(
            own=mask ^ mover,
            mask=mask,
            full=full,
            player=1 - s.player,  # the opponent moves next
            terminal=s.terminal | win | (mask == self._board_full),
            winner=torch.where(win, s.player, s.winner),
        )

    rewards = BoardGame.rewards

    def index(self, s: Bits, idx: Tensor) -> Bits:
        return Bits(*(f[idx] for f in s))
