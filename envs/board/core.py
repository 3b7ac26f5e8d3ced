"""Shared machinery of the batched board games: the State tuple, the BoardGame base class and
the k-in-a-row family (tic-tac-toe, Connect Four, Gomoku).

Conventions (all games):
- player 0 moves first (X in tic-tac-toe and Connect Four, Black in Othello/Gomoku/Go);
  `board` holds +1 for player 0's stones and -1 for player 1's.
- after every ply `player` flips, also on the ply that ends the game; `rewards` and `winner`
  say who won, `observation` is always from the side of `state.player`.
- terminal rows are frozen: `step` leaves them unchanged whatever action they are given.
- an illegal action in a live row (off the board, an occupied cell, a full column, a Go suicide
  or ko recapture, an Othello move that flips nothing) raises ValueError (`check=True`, the
  default). Each game's `_step` reports the legality of the action it plays from the quantities
  it computes anyway (a cell's occupant, the flips, the neighbours' liberties), so the check is a
  few elementwise ops: on CPU plus one `.any()` read; on CUDA a `torch._assert_async`, which never
  waits for the GPU (a failure surfaces at the next synchronisation as a device-side assert, and
  the CUDA context is lost, as with any device assert). `check=False` (per game or per `step`
  call) skips the test for callers that pass only legal actions, such as the search's own
  expansions and rollouts; an illegal action is then applied unchecked (undefined position).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor


class State(NamedTuple):
    """A batch of positions; every field is a [B, ...] tensor on the game's device."""

    board: Tensor  # [B, H, W] int8: 0 empty, +1 player 0, -1 player 1
    player: Tensor  # [B] int64 in {0, 1}: the player to move
    terminal: Tensor  # [B] bool
    winner: Tensor  # [B] int64: -1 ongoing or draw, else 0 / 1
    moves: Tensor  # [B] int64: plies played (passes included)


def cat_states(states: Sequence[NamedTuple]) -> NamedTuple:
    """Concatenate batches of the same State type along the batch dimension."""
    return type(states[0])(*(torch.cat(fs, 0) for fs in zip(*states)))


def where_state(mask: Tensor, a: NamedTuple, b: NamedTuple) -> NamedTuple:
    """Row-wise select: rows of `a` where mask [B] is True, else rows of `b`."""
    out = []
    for fa, fb in zip(a, b):
        m = mask.view(-1, *([1] * (fa.dim() - 1)))
        out.append(torch.where(m, fa, fb))
    return type(a)(*out)


def random_legal_action(legal: Tensor) -> Tensor:
    """A uniformly random legal action [B] per row of legal [B, A] (0 in rows with none): argmax of
    U(0, 1) noise over the legal actions. Illegal ones get -1, not 0, so that a draw of exactly 0
    (torch.rand can return it) still picks a legal action."""
    return torch.where(legal, torch.rand(legal.shape, device=legal.device), -1.0).argmax(-1)


def dihedral(x: Tensor, k: int) -> Tensor:
    """The k-th of the 8 symmetries of a square on the last two dims (k=0 identity;
    k=1..3 rotations by 90k degrees; k=4..7 the same after a left-right flip)."""
    if k >= 4:
        x = x.flip(-1)
    return torch.rot90(x, k % 4, dims=(-2, -1))


class BoardGame:
    """Base class: a two-player, zero-sum, perfect-information board game over a batch.

    Example:
        >>> from rlmeta.envs.board import make
        >>> g = make("tictactoe", batch_size=2)
        >>> s = g.step(g.reset(), torch.tensor([4, 0]))
        >>> g.legal_mask(s).sum(1).tolist()
        [8, 8]
    """

    name: str = ""
    num_actions: int
    board_shape: tuple[int, int]
    obs_shape: tuple[int, int, int]
    state_type: type = State
    pass_action: int | None = None  # action id of "pass" if the game has one (kept by symmetries)
    playout_compact_share: float = 0.25  # search.rollout drops finished games once this share has finished

    def __init__(self, batch_size: int = 1, device: str | torch.device = "cpu", check: bool = True):
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.check = check  # step() rejects illegal actions (see the module docstring)

    # ---- construction -------------------------------------------------------------------
    def initial_board(self, batch_size: int) -> Tensor:
        return torch.zeros(batch_size, *self.board_shape, dtype=torch.int8, device=self.device)

    def reset(self, batch_size: int | None = None) -> State:
        b = self.batch_size if batch_size is None else batch_size
        z = torch.zeros(b, dtype=torch.long, device=self.device)
        return State(
            self.initial_board(b), z.clone(), torch.zeros(b, dtype=torch.bool, device=self.device), z - 1, z.clone()
        )

    def from_boards(self, board: Tensor, player: Tensor | int | None = None) -> State:
        """A non-terminal State from given boards [B, H, W] (tests, puzzles). `player` defaults
        to the parity of the stone count; `moves` is the stone count."""
        board = board.to(self.device, torch.int8)
        b = board.shape[0]
        moves = (board != 0).flatten(1).sum(1).long()
        if player is None:
            player = moves % 2
        player = torch.as_tensor(player, dtype=torch.long, device=self.device).expand(b).clone()
        return State(
            board,
            player,
            torch.zeros(b, dtype=torch.bool, device=self.device),
            torch.full((b,), -1, dtype=torch.long, device=self.device),
            moves,
        )

    # ---- dynamics -----------------------------------------------------------------------
    def step(self, state: State, action: Tensor, check: bool | None = None) -> State:
        """Play action [B] int64 in every non-terminal row; returns a new State (input untouched).
        An illegal action in a live row raises ValueError unless check (default: self.check) is
        False."""
        action = torch.as_tensor(action, device=self.device)
        if action.is_floating_point() or action.is_complex() or action.dtype == torch.bool:
            # .long() would truncate 4.7 to 4 and play a move nobody chose
            raise ValueError(f"actions must be integers (an integer tensor or ints), got {action.dtype}")
        action = action.long().reshape(-1)
        if action.shape[0] != state.player.shape[0]:
            raise ValueError(f"action has {action.shape[0]} rows, state has {state.player.shape[0]}")
        nxt, legal = self._step(state, action)
        if self.check if check is None else check:
            in_range = (action >= 0) & (action < self.num_actions)
            self._assert_legal(~state.terminal & ~(in_range & legal), action)
        return nxt

    def _assert_legal(self, bad: Tensor, action: Tensor) -> None:
        """Raise if any row of bad [B] is set. On CPU reading the flag costs nothing; on a GPU it
        would stall the stream every step, so the test runs on the device (torch._assert_async)."""
        if bad.device.type == "cpu":
            if bool(bad.any()):
                rows = bad.nonzero()[:, 0][:8].tolist()
                raise ValueError(
                    f"{self.name}: illegal action in rows {rows}: {action[bad][:8].tolist()} "
                    f"(legal_mask(state) lists the legal ones)"
                )
        else:
            torch._assert_async(~bad.any(), f"{self.name}: illegal action passed to step()")

    def _step(self, state: State, action: Tensor) -> tuple[State, Tensor]:
        """-> (next State, legal [B] bool: `action` was legal in its row). Out-of-range actions are
        clamped onto the board here and flagged by `step`; terminal rows stay as they are."""
        raise NotImplementedError

    def legal_mask(self, state: State) -> Tensor:
        raise NotImplementedError

    def random_action(self, state: State) -> Tensor:
        """A uniformly random legal action [B] (0 in finished rows)."""
        return random_legal_action(self.legal_mask(state))

    def playout_view(self, state: State) -> tuple[NamedTuple, BoardGame]:
        """(positions, simulator) for random playouts (search.rollout): the simulator's
        random_action / step / rewards / index act on the positions. Here the game itself; a game
        overrides it with a cheaper encoding (Connect Four: bitboards)."""
        return state, self

    # ---- views --------------------------------------------------------------------------
    def observation(self, state: State) -> Tensor:
        """[B, 2, H, W] float32: plane 0 the stones of the player to move, plane 1 the opponent's."""
        sign = (1 - 2 * state.player).to(torch.int8).view(-1, 1, 1)
        rel = state.board * sign
        return torch.stack([rel == 1, rel == -1], 1).float()

    def rewards(self, state: State) -> Tensor:
        """[B, 2] float32: +1 / -1 for the winner / loser of finished games, 0 otherwise."""
        w = state.winner
        r0 = (w == 0).float() - (w == 1).float()
        return torch.stack([r0, -r0], 1)

    def symmetries(self, obs: Tensor, policy: Tensor) -> list[tuple[Tensor, Tensor]]:
        """All 8 dihedral copies (identity first) of obs [B, C, H, W] and policy [B, A]
        (square boards; a pass action, if any, maps to itself)."""
        h, w = self.board_shape
        n = h * w
        out = []
        for k in range(8):
            p = dihedral(policy[:, :n].reshape(-1, h, w), k).reshape(-1, n)
            if policy.shape[1] > n:
                p = torch.cat([p, policy[:, n:]], 1)
            out.append((dihedral(obs, k), p))
        return out

    def index(self, state: State, idx: Tensor) -> State:
        """Rows `idx` (long indices or a bool mask) of every field."""
        return type(state)(*(f[idx] for f in state))

    def to_string(self, state: State, i: int = 0) -> str:
        h, _ = self.board_shape
        glyph = {0: ".", 1: "X", -1: "O"}
        rows = ["".join(glyph[int(v)] for v in state.board[i, r].tolist()) for r in range(h)]
        head = self.status_line(state, i)
        return head + "\n" + "\n".join(rows)

    def status_line(self, state: State, i: int) -> str:
        mark = "XO"
        if bool(state.terminal[i]):
            w = int(state.winner[i])
            return f"{self.name}: game over, " + ("draw" if w < 0 else f"{mark[w]} (player {w}) wins")
        p = int(state.player[i])
        return f"{self.name}: {mark[p]} (player {p}) to move, ply {int(state.moves[i])}"


class KInARow(BoardGame):
    """Place a stone (on an empty cell, or on top of a column with `gravity`); k or more in a
    row along a row, column or diagonal wins; a full board without a line is a draw.

    Win detection looks only at the 4 lines through the stone just placed: one gather of their
    [B, 4, 2k-1] cells (precomputed per cell, off-board cells masked), packed into bits and tested
    against the k windows (no loop over the batch).
    """

    k: int
    gravity: bool = False

    def __init__(self, batch_size: int = 1, device: str | torch.device = "cpu", check: bool = True):
        super().__init__(batch_size, device, check)
        h, w = self.board_shape
        k = self.k
        t = torch.arange(-(k - 1), k)  # [2k-1] offsets along a line
        dirs = torch.tensor([[0, 1], [1, 0], [1, 1], [1, -1]])  # [4, 2] row, column steps
        cell = torch.arange(h * w)
        rr = (cell // w)[:, None, None] + (t * dirs[:, 0:1])[None]  # [HW, 4, 2k-1]
        cc = (cell % w)[:, None, None] + (t * dirs[:, 1:2])[None]
        inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        # the cells of the 4 lines through each cell, and which of them are on the board
        self._line_cells = torch.where(inside, rr * w + cc, 0).flatten(1).to(self.device)  # [HW, 4(2k-1)]
        self._line_inside = inside.flatten(1).to(self.device)  # [HW, 4(2k-1)]
        # k-in-a-row windows as bit masks over the 2k-1 cells of a line
        self._windows = (((1 << k) - 1) << torch.arange(k)).to(self.device)  # [k]
        self._bit = (1 << torch.arange(2 * k - 1)).to(self.device)  # [2k-1]

    def legal_mask(self, state: State) -> Tensor:
        live = ~state.terminal[:, None]
        if self.gravity:
            return (state.board[:, 0, :] == 0) & live  # [B, W] a column is open while its top is empty
        return (state.board.flatten(1) == 0) & live  # [B, H*W]

    def _cell(self, board: Tensor, action: Tensor) -> Tensor:
        """Flat cell index [B] the action fills (negative for a full column)."""
        if not self.gravity:
            return action
        h, w = self.board_shape
        col = action.clamp(0, w - 1)
        filled = (board[torch.arange(board.shape[0], device=board.device), :, col] != 0).sum(1)  # [B]
        return (h - 1 - filled) * w + col

    def _wins_at(self, board: Tensor, cell: Tensor, sign: Tensor) -> Tensor:
        """[B] bool: the stone `sign` at flat `cell` completes k (or more) in a row."""
        k = self.k
        mine = board.flatten(1) == sign[:, None]  # [B, HW]
        lines = mine.gather(1, self._line_cells[cell]) & self._line_inside[cell]  # [B, 4(2k-1)]
        bits = (lines.view(-1, 4, 2 * k - 1).int() * self._bit).sum(-1)  # [B, 4] line as bits
        return ((bits[:, :, None] & self._windows) == self._windows).flatten(1).any(1)

    def _step(self, state: State, action: Tensor) -> tuple[State, Tensor]:
        b = state.player.shape[0]
        h, w = self.board_shape
        live = ~state.terminal
        target = self._cell(state.board, action)
        cell = target.clamp(0, h * w - 1)
        sign = (1 - 2 * state.player).to(torch.int8)
        flat = state.board.flatten(1).clone()
        old = flat.gather(1, cell[:, None])[:, 0]
        legal = (target >= 0) & (old == 0)  # a cell on the board (not above a full column), empty
        flat.scatter_(1, cell[:, None], torch.where(live, sign, old)[:, None])
        board = flat.view(b, h, w)
        win = live & self._wins_at(board, cell, sign)
        moves = state.moves + live.long()
        terminal = state.terminal | win | (live & (moves >= h * w))
        winner = torch.where(win, state.player, state.winner)
        player = torch.where(live, 1 - state.player, state.player)
        return State(board, player, terminal, winner, moves), legal
