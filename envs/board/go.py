"""Go on 9x9, as OpenSpiel's `go` with board_size=9 (komi 7.5, max_game_length 162).

Action = row * 9 + col (row 0 = OpenSpiel's rank 1, col 0 = file A), 81 = pass; OpenSpiel uses
the same ids. Black (player 0, +1) moves first on an empty board. The rules, as OpenSpiel plays them:
- a stone removes the opponent chains it leaves without liberties; suicide is illegal;
- simple ko: a stone played where all its neighbours are opponent stones (or the edge) that
  captures exactly one stone makes that stone's point illegal for the next move only;
- pass is always legal; two passes in a row end the game, and so does the 162nd ply;
- positional superko: a stone move that recreates any earlier board ends the game at once as a
  draw (OpenSpiel keeps a Zobrist hash of every board seen; so do we, in `GoState.history`);
- otherwise area scoring (Tromp-Taylor): stones plus empty regions that reach only one colour,
  Black - White - 7.5 > 0 means Black wins (no draws except by superko).

Everything runs on [B, 81] flat boards with a precomputed neighbour table. The state carries a
chain id per stone, updated by each move with a few elementwise ops (merge the chains the new stone
touches, drop captured ones), so a move or a legal mask needs no flood fill: liberties are counted
per chain with one scatter_add. Flood fills (bounded loops over propagation steps, never over the
batch) remain only for boards given from outside (`from_boards`) and for scoring finished games.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from rlmeta.envs.board.core import BoardGame

N = 9
CELLS = N * N
PASS = CELLS  # 81
KOMI = 7.5
MAX_GAME_LENGTH = 2 * CELLS  # OpenSpiel's DefaultMaxGameLength(9) = 162
OFF = CELLS  # index of the off-board sentinel cell in "extended" [B, 82] tensors


class GoState(NamedTuple):
    """A batch of Go positions. The first five fields are `core.State`'s, so search code that maps
    over all fields (map_state, where_state, game.index) works unchanged."""

    board: Tensor  # [B, 9, 9] int8: 0 empty, +1 Black (player 0), -1 White (player 1)
    player: Tensor  # [B] int64: player to move
    terminal: Tensor  # [B] bool
    winner: Tensor  # [B] int64: -1 ongoing or draw (superko), else 0 / 1
    moves: Tensor  # [B] int64: plies played (passes included)
    ko: Tensor  # [B] int64: cell the side to move may not play (simple ko), -1 if none
    passes: Tensor  # [B] int64: consecutive passes just played (2 ends the game)
    chain: Tensor  # [B, 81] int8: id of each stone's chain (a cell of that chain), 81 at empty cells
    history: Tensor  # [B, 163] int64: board hash after ply t at index t (t = moves), -1 unused


class Go9(BoardGame):
    """9x9 Go with OpenSpiel's rules (see the module docstring).

    Example:
        >>> import torch
        >>> from rlmeta.envs.board import make
        >>> g = make("go9", batch_size=2)
        >>> s = g.step(g.reset(), torch.tensor([40, 81]))   # tengen / pass
        >>> g.legal_mask(s).sum(1).tolist(), g.observation(s).shape
        ([81, 82], torch.Size([2, 5, 9, 9]))
    """

    name = "go9"
    board_shape = (N, N)
    num_actions = CELLS + 1
    # planes: own stones, opponent stones, side to move is White (komi), ko point, opponent just passed
    obs_shape = (5, N, N)
    state_type = GoState
    pass_action = PASS
    komi = KOMI
    max_game_length = MAX_GAME_LENGTH

    def __init__(self, batch_size: int = 1, device: str | torch.device = "cpu", check: bool = True):
        super().__init__(batch_size, device, check)
        r, c = torch.arange(CELLS) // N, torch.arange(CELLS) % N
        nb = []
        for dr, dc in [(-1, 0), (1, 0), (0, -1), (0, 1)]:
            rr, cc = r + dr, c + dc
            inside = (rr >= 0) & (rr < N) & (cc >= 0) & (cc < N)
            nb.append(torch.where(inside, rr * N + cc, OFF))
        self._nb = torch.stack(nb, 1).to(self.device)  # [81, 4] neighbour cells, OFF off board
        self._cells = torch.arange(CELLS, device=self.device)
        # additive Zobrist-style keys below 2^56: a sum of 81 never overflows int64 and two
        # different boards collide with probability ~2^-56
        gen = torch.Generator().manual_seed(2765481)
        keys = torch.randint(0, 1 << 56, (2, CELLS), generator=gen, dtype=torch.long)
        self._keys = keys.to(self.device)  # [2, 81] Black, White

    # ---- construction -------------------------------------------------------------------
    def _extras(self, board: Tensor, moves: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        b = board.shape[0]
        ko = torch.full((b,), -1, dtype=torch.long, device=self.device)
        chain = self._labels(board.flatten(1)).to(torch.int8)
        hist = torch.full((b, MAX_GAME_LENGTH + 1), -1, dtype=torch.long, device=self.device)
        hist.scatter_(1, moves.clamp(max=MAX_GAME_LENGTH)[:, None], self._hash(board.flatten(1))[:, None])
        return ko, torch.zeros_like(ko), chain, hist

    def reset(self, batch_size: int | None = None) -> GoState:
        s = super().reset(batch_size)
        return GoState(*s, *self._extras(s.board, s.moves))

    def from_boards(self, board: Tensor, player: Tensor | int | None = None) -> GoState:
        """A GoState from boards [B, 9, 9] (tests, puzzles): no ko, no passes, the given board is
        the only one in the history; `moves` is the stone count, `player` defaults to its parity."""
        s = super().from_boards(board, player)
        return GoState(*s, *self._extras(s.board, s.moves))

    # ---- chains, liberties, reach ([B, 81] flat boards) -----------------------------------
    def _hash(self, flat: Tensor) -> Tensor:
        """[B, 81] int8 -> [B] int64 board hash (>= 0)."""
        return ((flat == 1).long() * self._keys[0] + (flat == -1).long() * self._keys[1]).sum(1)

    def _neighbours(self, x: Tensor, fill: int | bool) -> Tensor:
        """x [B, 81] -> [B, 81, 4]: the value at each cell's 4 neighbours (`fill` off board)."""
        ext = torch.cat([x, torch.full_like(x[:, :1], fill)], 1)  # [B, 82]
        return ext[:, self._nb]

    def _labels(self, flat: Tensor) -> Tensor:
        """[B, 81] int8 -> [B, 81] int64: each stone labelled by the smallest cell of its chain,
        empty cells OFF. Min-propagation over same-colour neighbours plus pointer jumping
        (a label is a cell of the same chain, whose own label can only be smaller). Only for
        boards given from outside (from_boards); moves update `GoState.chain` incrementally."""
        stone = flat != 0
        same = (self._neighbours(flat, 2) == flat[:, :, None]) & stone[:, :, None]  # [B, 81, 4]
        lab = torch.where(stone, self._cells, OFF)
        for _ in range(CELLS):
            nbl = _min4(torch.where(same, self._neighbours(lab, OFF), OFF))
            new = torch.minimum(lab, nbl)
            new = torch.where(stone, new.gather(1, new.clamp(max=CELLS - 1)), OFF)  # pointer jump
            if torch.equal(new, lab):
                break
            lab = new
        return lab

    def _liberties(self, flat: Tensor, lab: Tensor) -> Tensor:
        """[B, 81] distinct liberties of the chain through each stone (0 at empty cells)."""
        nbl = torch.where((flat == 0)[:, :, None], self._neighbours(lab, OFF), OFF)  # [B, 81, 4]
        # count a chain once per empty cell even if it touches that cell on several sides
        n0, n1, n2, n3 = nbl.unbind(-1)
        dup = torch.stack(
            [
                torch.zeros_like(n0, dtype=torch.bool),
                n1 == n0,
                (n2 == n0) | (n2 == n1),
                (n3 == n0) | (n3 == n1) | (n3 == n2),
            ],
            -1,
        )
        nbl = torch.where(dup, OFF, nbl).flatten(1)
        libs = torch.zeros(flat.shape[0], CELLS + 1, dtype=torch.long, device=flat.device)
        libs.scatter_add_(1, nbl, torch.ones_like(nbl))
        libs[:, OFF] = 0
        return libs.gather(1, lab)

    def _reach(self, flat: Tensor, color: int) -> Tensor:
        """[B, 81] bool: empty cells connected through empty cells to a stone of `color`."""
        empty = flat == 0
        reach = empty & _any4(self._neighbours(flat, 0) == color)
        for _ in range(CELLS):
            new = reach | (empty & _any4(self._neighbours(reach, False)))
            if torch.equal(new, reach):
                break
            reach = new
        return reach

    def score(self, state: GoState) -> Tensor:
        """[B] float32 Tromp-Taylor area score from Black's view, komi included (> 0: Black wins)."""
        return self._score_board(state.board.flatten(1))

    def _score_board(self, flat: Tensor) -> Tensor:
        rb, rw = self._reach(flat, 1), self._reach(flat, -1)
        black = (flat == 1) | (rb & ~rw)
        white = (flat == -1) | (rw & ~rb)
        return (black.sum(1) - white.sum(1)).float() - self.komi

    # ---- dynamics -----------------------------------------------------------------------
    def _own_rel(self, state: GoState) -> Tensor:
        """[B, 81] int8 board relative to the side to move: +1 own, -1 opponent."""
        sign = (1 - 2 * state.player).to(torch.int8)[:, None]
        return state.board.flatten(1) * sign

    def legal_mask(self, state: GoState) -> Tensor:
        rel = self._own_rel(state)
        libs = self._liberties(rel, state.chain.long())
        nrel = self._neighbours(rel, 2)  # [B, 81, 4] (2 = off board)
        nlib = self._neighbours(libs, 0)
        ok = _any4(
            (nrel == 0)  # an empty neighbour
            | ((nrel == 1) & (nlib >= 2))  # joins a chain that keeps another liberty
            | ((nrel == -1) & (nlib == 1))
        )  # captures a chain in atari
        ok &= rel == 0
        ok &= self._cells[None] != state.ko[:, None]
        legal = torch.cat([ok, torch.ones_like(ok[:, :1])], 1)
        return legal & ~state.terminal[:, None]  # [B, 82]

    def _step(self, state: GoState, action: Tensor) -> tuple[GoState, Tensor]:
        b = action.shape[0]
        live = ~state.terminal
        place = live & (action != PASS)
        cell = action.clamp(0, CELLS - 1)
        rel = self._own_rel(state)
        lab = state.chain.long()  # [B, 81]
        libs = self._liberties(rel, lab)
        # captures: opponent chains next to the new stone whose last liberty it takes
        nb = self._nb[cell]  # [B, 4]
        nrel = torch.cat([rel, torch.full_like(rel[:, :1], 2)], 1).gather(1, nb)
        nlab = torch.cat([lab, torch.full_like(lab[:, :1], OFF)], 1).gather(1, nb)
        nlib = torch.cat([libs, torch.zeros_like(libs[:, :1])], 1).gather(1, nb)
        # legal as in legal_mask: pass, or an empty non-ko point with a liberty after the move
        # (an empty neighbour, an own chain keeping another liberty, or a capture)
        legal = (action == PASS) | (
            (rel.gather(1, cell[:, None])[:, 0] == 0)
            & (cell != state.ko)
            & _any4((nrel == 0) | ((nrel == 1) & (nlib >= 2)) | ((nrel == -1) & (nlib == 1)))
        )
        dying = torch.where(place[:, None] & (nrel == -1) & (nlib == 1), nlab, -1)  # [B, 4] labels
        captured = _any4(lab[:, :, None] == dying[:, None, :])  # [B, 81]
        stone = place[:, None] & (self._cells[None] == cell[:, None])  # [B, 81] the new stone
        new = torch.where(stone, 1, torch.where(captured, 0, rel)).to(torch.int8)
        # chain ids without any flood fill: the new stone's id is its cell, given to every own
        # chain it touches; an id is always a cell of its chain, so ids stay unique
        joining = torch.where(place[:, None] & (nrel == 1), nlab, -1)  # [B, 4]
        joined = stone | _any4(lab[:, :, None] == joining[:, None, :])
        chain = torch.where(joined, cell[:, None], torch.where(captured, OFF, lab)).to(torch.int8)
        # simple ko (OpenSpiel): played into an "eye" of the opponent, capturing exactly one stone
        in_eye = _all4((nrel == -1) | (nrel == 2))
        ko = torch.where(place & in_eye & (captured.sum(1) == 1), captured.long().argmax(1), -1)
        sign = (1 - 2 * state.player).to(torch.int8)[:, None]
        flat = new * sign
        board = torch.where(live[:, None], flat, state.board.flatten(1)).view(b, N, N)
        # positional superko: a stone move back to any earlier board is a draw (OpenSpiel)
        h = self._hash(board.flatten(1))
        repeat = place & (state.history == h[:, None]).any(1)
        moves = state.moves + live.long()
        history = state.history.clone()
        idx = moves.clamp(max=MAX_GAME_LENGTH)[:, None]
        history.scatter_(1, idx, torch.where(live, h, history.gather(1, idx)[:, 0])[:, None])
        passes = torch.where(place, 0, state.passes + live.long())
        over = live & (repeat | (passes >= 2) | (moves >= MAX_GAME_LENGTH))
        winner = state.winner
        scored = over & ~repeat
        if bool(scored.any()):
            black_wins = self._score_board(board.flatten(1)) > 0
            winner = torch.where(scored, torch.where(black_wins, 0, 1), winner)
        return GoState(
            board,
            torch.where(live, 1 - state.player, state.player),
            state.terminal | over,
            winner,
            moves,
            torch.where(live, ko, state.ko),
            torch.where(live, passes, state.passes),
            chain,
            history,
        ), legal

    # ---- views --------------------------------------------------------------------------
    def observation(self, state: GoState) -> Tensor:
        """[B, 5, 9, 9] float32 from the side to move: own stones, opponent stones, all ones when
        White is to move (komi makes the colours unequal), the ko point, all ones when the
        opponent just passed (passing now ends the game)."""
        b = state.player.shape[0]
        rel = self._own_rel(state).view(b, N, N)
        white = (state.player == 1).view(b, 1, 1).expand(b, N, N)
        ko = (self._cells[None] == state.ko[:, None]).view(b, N, N)
        passed = (state.passes == 1).view(b, 1, 1).expand(b, N, N)
        return torch.stack([rel == 1, rel == -1, white, ko, passed], 1).float()

    def to_string(self, state: GoState, i: int = 0) -> str:
        """Rank 9 on top as OpenSpiel prints it; files a..i (OpenSpiel skips I: its J is our i)."""
        glyph = {0: "+", 1: "X", -1: "O"}
        rows = [f"{r + 1} " + " ".join(glyph[int(v)] for v in state.board[i, r].tolist()) for r in reversed(range(N))]
        ko = int(state.ko[i])
        extra = f", ko at {'abcdefghi'[ko % N]}{ko // N + 1}" if ko >= 0 else ""
        extra += ", opponent passed" if int(state.passes[i]) == 1 and not bool(state.terminal[i]) else ""
        if bool(state.terminal[i]):
            extra += f", Black - White - komi = {float(self.score(self.index(state, slice(i, i + 1)))[0]):+g}"
        return (
            self.status_line(state, i)
            + extra
            + "\n"
            + "\n".join(rows)
            + "\n  a b c d e f g h i"
            + f"\n(action = row*9+col, row 0 = rank 1, {PASS} = pass)"
        )


# reductions over a last dim of 4 as elementwise ops: torch's amin/any over a tiny last dim are
# ~40x slower on CPU than these
def _min4(x: Tensor) -> Tensor:
    return torch.minimum(torch.minimum(x[..., 0], x[..., 1]), torch.minimum(x[..., 2], x[..., 3]))


def _any4(x: Tensor) -> Tensor:
    return (x[..., 0] | x[..., 1]) | (x[..., 2] | x[..., 3])


def _all4(x: Tensor) -> Tensor:
    return (x[..., 0] & x[..., 1]) & (x[..., 2] & x[..., 3])
