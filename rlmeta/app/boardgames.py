"""`rlmeta eval | arena | play` for board games, and `render_game` for `rlmeta render`.

    rlmeta eval tictactoe --checkpoint runs/az-ttt/checkpoint.pt --simulations 64
    rlmeta eval connect4 --checkpoint runs/az-c4/checkpoint.pt --pons benchmarks/reference/connect4 --limit 100
    rlmeta arena connect4 runs/az-c4/checkpoint.pt mcts:200 --games 40
    rlmeta play tictactoe --checkpoint runs/az-ttt/checkpoint.pt --seat 1

Players (eval --player, arena A B, play --opponent): random, mcts:N, solver, minimax:D (connect4),
a checkpoint path (searching --simulations per move; 0 = the raw policy), az:CKPT:SIMS.

torch, the games and the players are imported only once the arguments are known good: a misspelt
game or flag is answered at once (tests/test_cli_errors.py checks torch is not imported then).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional, TextIO

import tyro

from rlmeta.app.cli import parse_command
from rlmeta.core.errors import ConfigError
from rlmeta.core.memory import check_fits

if TYPE_CHECKING:
    from rlmeta.agents.alphazero.players import Player

DEFAULT_PONS = str(Path(__file__).resolve().parents[2] / "benchmarks" / "reference" / "connect4")
# The built-in games' names, known without importing rlmeta.envs.board (and torch) so that a misspelt
# game is answered at once; tests/test_cli_errors.py checks they equal rlmeta.envs.board.GAMES.
GAME_NAMES = ("tictactoe", "connect4", "othello", "gomoku", "go9")


def _seed(seed: int) -> int:
    """--seed in the range every RNG here accepts (a one-line error instead of a traceback)."""
    from rlmeta.core.config import SEED_LIMIT

    if not 0 <= seed < SEED_LIMIT:
        raise ConfigError(f"--seed must be in [0, {SEED_LIMIT - 1}], got {seed}")
    return seed


def _check_game(name: str) -> str:
    """name, or a ConfigError naming close matches. A game registered into rlmeta.envs.board.GAMES
    by code in this process (the board-game tutorial) counts once that module is imported."""
    board = sys.modules.get("rlmeta.envs.board")
    games = list(getattr(board, "GAMES", GAME_NAMES))
    if name not in games:
        import difflib

        close = difflib.get_close_matches(name, games, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"unknown board game '{name}'{hint}; choose from {', '.join(games)}")
    return name


def _parse_player(spec: str, game: str, device: str, sims: int, search: Optional[str], solver: bool) -> Player:
    from rlmeta.agents.alphazero.loading import parse_player

    return parse_player(spec, game, device, default_sims=sims, search=search, solver=solver or None)


def _manual_seed(seed: int) -> None:
    seed = _seed(seed)  # checked before torch is imported
    import torch

    torch.manual_seed(seed)


def _device(name: str) -> str:
    import torch

    from rlmeta.core.seeding import set_torch_threads

    # one intra-op thread: these nets and batches are small, and extra threads spinning on a busy
    # machine made evaluation 10x slower here
    set_torch_threads(1)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device available")
    return name


@dataclass
class SearchFlags:
    """The search flags of eval, arena and play (checkpoint players)."""

    search: Literal["trained", "puct", "gumbel"] = "trained"
    """Search of checkpoint players (trained: the one the run was trained with)."""
    solver: bool = False
    """Checkpoint players search with MCTS-Solver: every new node is checked for a move that wins now, proven wins/losses are backed up, a proven loss is never played if a move is not one."""

    @property
    def search_kind(self) -> Optional[str]:
        return None if self.search == "trained" else self.search


def _player_spec(checkpoint: Optional[str], player: Optional[str], flag: str = "--player") -> str:
    """The spec of the player given by --checkpoint or by `flag` (eval: --player, play: --opponent)."""
    if checkpoint and player:
        raise ConfigError(f"give either --checkpoint or {flag}, not both")
    if not checkpoint and not player:
        raise ConfigError(f"give --checkpoint CKPT (or {flag} SPEC)")
    if checkpoint and not Path(checkpoint).exists():
        raise ConfigError(f"no checkpoint at {checkpoint}")
    return checkpoint or player or ""  # (one of them is given)


# ---------------------------------------------------------------------- eval
@dataclass
class EvalArgs(SearchFlags):
    """`rlmeta eval GAME [FLAGS]`."""

    game: tyro.conf.Positional[str] = tyro.MISSING
    """tictactoe or connect4."""
    checkpoint: Optional[str] = None
    """checkpoint.pt of an alphazero run."""
    player: Optional[str] = None
    """Evaluate a built-in player instead: random, mcts:N, solver, minimax:D, az:CKPT:SIMS."""
    simulations: int = 0
    """Search simulations per move for the checkpoint (0 = greedy raw network policy)."""
    pons: str = DEFAULT_PONS
    """connect4: directory holding the Pons test sets Test_L?_R? (default: the copy in benchmarks/reference/connect4, with precomputed labels)."""
    limit: Optional[int] = None
    """connect4: only the first N positions of each set."""
    games: int = 100
    """tictactoe: games per seat against the perfect player."""
    seed: int = 0
    """Seed of the random tie-breaking and of the games."""
    device: Literal["auto", "cpu", "cuda"] = "cpu"
    """Torch device."""
    json: Optional[str] = None
    """Also write the results to this JSON file."""


def cmd_eval(args: list[str]) -> int:
    a = parse_command(
        EvalArgs,
        args,
        "rlmeta eval",
        "Evaluate a board-game player exactly. tictactoe: share of minimax-optimal moves over all 4520 reachable "
        "non-terminal positions, and W/D/L against a perfect player from both seats. connect4: mistake rate on each "
        "of Pascal Pons' six test sets (a move is a mistake if another legal move has a strictly better "
        "game-theoretic outcome).",
    )
    game = _check_game(a.game)
    if game not in ("tictactoe", "connect4"):
        raise ConfigError(
            f"rlmeta eval has exact references for tictactoe and connect4, not {game}; "
            f"use `rlmeta arena {game} A B` to compare players"
        )
    if a.simulations < 0 or a.games < 0 or (a.limit is not None and a.limit < 1):
        raise ConfigError("--simulations and --games must be >= 0, --limit >= 1")
    spec = _player_spec(a.checkpoint, a.player)
    _manual_seed(a.seed)
    dev = _device(a.device)
    player = _parse_player(spec, game, dev, a.simulations, a.search_kind, a.solver)
    print(f"rlmeta eval {game}: player {player.name}")
    if game == "tictactoe":
        from rlmeta.agents.alphazero.evaluate import TicTacToeEvaluator

        ev = TicTacToeEvaluator(dev)
        res: dict[str, Any] = ev.optimal_share(player)
        print(
            f"optimal moves: {res['share']:.2%} of {int(res['positions'])} positions "
            f"(X to move {res['share_x']:.2%}, O to move {res['share_o']:.2%}; winning {res['share_winning']:.2%}, "
            f"drawn {res['share_drawn']:.2%}, lost {res['share_lost']:.2%})"
        )
        if a.games:
            vs = ev.vs_perfect(player, a.games)
            res["vs_perfect"] = vs
            for seat, (w, d, l) in vs.items():
                print(f"vs perfect player, moving {seat}: W {w}  D {d}  L {l}")
    else:
        from rlmeta.agents.alphazero.evaluate import connect4_mistake_rates

        res = connect4_mistake_rates(player, a.pons, a.limit, dev)
        print(f"{'test set':<15}{'positions':>10}{'mistakes':>10}")
        for name, r in res.items():
            print(f"{name:<15}{int(r['positions']):>10}{r['mistake_rate']:>10.1%}")
    if a.json:
        Path(a.json).write_text(json.dumps({"game": game, "player": player.name, "results": res}, indent=1))
    return 0


# ---------------------------------------------------------------------- arena
@dataclass
class ArenaArgs(SearchFlags):
    """`rlmeta arena GAME A B [FLAGS]`."""

    game: tyro.conf.Positional[str] = tyro.MISSING
    """tictactoe, connect4, othello, gomoku or go9."""
    a: tyro.conf.Positional[str] = tyro.MISSING
    """Player A: a checkpoint path, az:CKPT:SIMS, random, mcts:N, solver or minimax:D."""
    b: tyro.conf.Positional[str] = tyro.MISSING
    """Player B (same choices)."""
    games: int = 100
    """Number of games (seats alternate: ceil(N/2) with A first)."""
    simulations: int = 0
    """Search simulations per move for bare checkpoint paths (0 = greedy raw network policy)."""
    seed: int = 0
    """Torch seed (random players, rollouts)."""
    device: Literal["auto", "cpu", "cuda"] = "cpu"
    """Torch device."""
    json: Optional[str] = None
    """Also write the results to this JSON file."""


def cmd_arena(args: list[str]) -> int:
    a = parse_command(
        ArenaArgs,
        args,
        "rlmeta arena",
        "Play A against B, half the games with A moving first. Prints win/draw/loss per seat and Elo(A) - Elo(B) "
        "with a 95% confidence interval (normal approximation of the mean score; when one side won every game, a "
        "one-sided exact binomial bound).",
    )
    game = _check_game(a.game)
    if a.games < 1 or a.simulations < 0:
        raise ConfigError("--games must be >= 1 and --simulations >= 0")
    # all games are played side by side: board, player and a search tree per game
    check_fits({"games": a.games * (1 + a.simulations) * 1024}, "--games / --simulations")
    _manual_seed(a.seed)
    dev = _device(a.device)
    pa, pb = (_parse_player(x, game, dev, a.simulations, a.search_kind, a.solver) for x in (a.a, a.b))
    if pa.name == pb.name:
        pb.name = pb.name + "'"
    from rlmeta.agents.alphazero.players import arena

    res = arena(game, pa, pb, a.games, dev)
    print(res.table())
    if a.json:
        lo, hi = res.elo_ci
        Path(a.json).write_text(
            json.dumps(
                {
                    "game": game,
                    "a": res.a,
                    "b": res.b,
                    "wins": res.wins,
                    "draws": res.draws,
                    "losses": res.losses,
                    "per_seat": res.per_seat,
                    "score": res.score,
                    "elo": _finite(res.elo),
                    "elo_ci": [_finite(lo), _finite(hi)],
                },
                indent=1,
            )
        )
    return 0


def _finite(x: float) -> Any:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


# ---------------------------------------------------------------------- play
def _parse_move(game: Any, text: str) -> int:
    """Human input -> action id. tictactoe: cell 1-9 (row by row); connect4: column 1-7;
    othello / gomoku: column letter + row number (d3, h8) or `pass` (othello)."""
    t = text.strip().lower()
    h, w = game.board_shape
    if game.name == "tictactoe":
        if t.isdigit() and 1 <= int(t) <= 9:
            return int(t) - 1
        raise ValueError("enter a cell 1-9 (1 2 3 on the top row, 7 8 9 on the bottom row)")
    if game.name == "connect4":
        if t.isdigit() and 1 <= int(t) <= 7:
            return int(t) - 1
        raise ValueError("enter a column 1-7")
    if t == "pass" and game.pass_action is not None:
        return game.pass_action
    if len(t) >= 2 and t[0].isalpha() and t[1:].isdigit():
        c, r = ord(t[0]) - ord("a"), int(t[1:]) - 1
        if 0 <= c < w and 0 <= r < h:
            return r * w + c
    raise ValueError(
        f"enter a column letter and a row number, e.g. a1 or {chr(ord('a') + w - 1)}{h}"
        + (", or pass" if game.pass_action is not None else "")
    )


def _board_text(game: Any, state: Any) -> str:
    if game.name == "tictactoe":
        glyph = {0: None, 1: "X", -1: "O"}
        cells = state.board[0].flatten().tolist()
        rows = [
            " ".join(glyph[v] or str(3 * r + c + 1) for c, v in enumerate(cells[3 * r : 3 * r + 3])) for r in range(3)
        ]
        return game.status_line(state, 0) + "\n" + "\n".join(rows)
    if game.name == "gomoku":
        stones = {0: ".", 1: "X", -1: "O"}
        head = "   " + " ".join(chr(ord("a") + c) for c in range(15))
        rows = [
            f"{r + 1:>2} " + " ".join(stones[int(v)] for v in game_row)
            for r, game_row in enumerate(state.board[0].tolist())
        ]
        return game.status_line(state, 0) + "\n" + head + "\n" + "\n".join(rows)
    return game.to_string(state, 0)


def play_terminal(game_name: str, opponent: Any, human_seat: int, inp: TextIO, out: TextIO) -> Optional[int]:
    """One game of a human (reading `inp`) against `opponent`; returns the winner (-1 draw), or
    None if the input ended first."""
    import torch

    from rlmeta.envs.board import make

    game = make(game_name, 1)
    s = game.reset()
    mark = "XO"
    print(f"you are {mark[human_seat]} (player {human_seat}); type `quit` to stop", file=out)
    while not bool(s.terminal[0]):
        print(_board_text(game, s), file=out)
        if int(s.player[0]) == human_seat:
            legal = game.legal_mask(s)[0]
            while True:
                print("your move: ", end="", file=out, flush=True)
                line = inp.readline()
                if not line or line.strip().lower() in ("quit", "exit", "q"):
                    print("\nbye", file=out)
                    return None
                try:
                    a = _parse_move(game, line)
                except ValueError as e:
                    print(str(e), file=out)
                    continue
                if not bool(legal[a]):
                    print("that move is not legal here", file=out)
                    continue
                break
        else:
            a = int(opponent(game, s)[0])
            print(f"agent plays {_move_name(game, a)}", file=out)
        s = game.step(s, torch.tensor([a]))
    print(_board_text(game, s), file=out)
    w = int(s.winner[0])
    print("draw" if w < 0 else ("you win" if w == human_seat else "the agent wins"), file=out)
    return w


def _move_name(game: Any, a: int) -> str:
    w = game.board_shape[1]
    if game.name == "tictactoe":
        return str(a + 1)
    if game.name == "connect4":
        return str(a + 1)
    if game.pass_action is not None and a == game.pass_action:
        return "pass"
    return f"{chr(ord('a') + a % w)}{a // w + 1}"


@dataclass
class PlayArgs(SearchFlags):
    """`rlmeta play GAME [FLAGS]`."""

    game: tyro.conf.Positional[str] = tyro.MISSING
    """tictactoe, connect4, othello, gomoku or go9."""
    checkpoint: Optional[str] = None
    """checkpoint.pt of an alphazero run to play against."""
    opponent: Optional[str] = None
    """A built-in opponent instead: random, mcts:N, solver, minimax:D, az:CKPT:SIMS."""
    simulations: int = 64
    """Search simulations per agent move (0 = greedy raw network policy)."""
    seat: Literal[0, 1] = 0
    """0: you move first (X), 1: the agent does."""
    seed: int = 0
    """Torch seed."""


def cmd_play(args: list[str]) -> int:
    a = parse_command(
        PlayArgs,
        args,
        "rlmeta play",
        "Play a board game against an agent in the terminal. Moves: tictactoe cell 1-9 (row by row), connect4 "
        "column 1-7, othello/gomoku column letter + row number (d3) or `pass`. `quit` ends.",
    )
    game = _check_game(a.game)
    if a.simulations < 0:
        raise ConfigError("--simulations must be >= 0")
    spec = _player_spec(a.checkpoint, a.opponent, "--opponent")
    _manual_seed(a.seed)
    opponent = _parse_player(spec, game, _device("cpu"), a.simulations, a.search_kind, a.solver)
    play_terminal(game, opponent, a.seat, sys.stdin, sys.stdout)
    return 0


# ---------------------------------------------------------------------- render
def render_game(run_dir: str, episodes: int = 1) -> str:
    """Text of `episodes` self-play games of the run's checkpointed agent: every position as a
    board, with the move that led to it. The first game is the agent's greedy play (no noise);
    later ones sample the Gumbel root noise of training, so they differ.

    Example:
        >>> print(render_game("runs/az-ttt", 1))
    """
    import torch

    with torch.no_grad():
        return _render_game(run_dir, episodes)


def _render_game(run_dir: str, episodes: int) -> str:
    from rlmeta.agents.alphazero.loading import load_network
    from rlmeta.agents.alphazero.network import model_fn
    from rlmeta.agents.alphazero.search import SearchConfig, search
    from rlmeta.core.seeding import set_torch_threads
    from rlmeta.envs.board import make

    ckpt = Path(run_dir) / "checkpoint.pt"
    if not ckpt.exists():
        raise ConfigError(f"no checkpoint.pt in {run_dir}")
    set_torch_threads(1)
    net, cfg, name = load_network(ckpt)
    game = make(name, 1)
    model = model_fn(net)
    blocks = []
    for ep in range(episodes):
        scfg = SearchConfig(
            num_simulations=cfg.num_simulations,
            algorithm=cfg.search,
            c_init=cfg.c_init,
            max_considered=cfg.max_considered,
            c_visit=cfg.c_visit,
            c_scale=cfg.c_scale,
            gumbel_scale=0.0 if ep == 0 else 1.0,
            dirichlet_fraction=0.0 if ep == 0 else cfg.dirichlet_fraction,
            dirichlet_alpha=cfg.dirichlet_alpha,
        )
        s = game.reset()
        lines = [
            f"game {ep + 1} of {episodes}: {name}, self-play with {cfg.num_simulations} simulations per move "
            f"(checkpoint step {_ckpt_step(ckpt)})",
            _board_text(game, s),
        ]
        while not bool(s.terminal[0]):
            out = search(game, s, model, scfg)
            a = int(out.action[0])
            lines.append(
                f"\n{'XO'[int(s.player[0])]} plays {_move_name(game, a)} (root value {float(out.root_value[0]):+.2f})"
            )
            s = game.step(s, out.action)
            lines.append(_board_text(game, s))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _ckpt_step(path: Path) -> int:
    from rlmeta.core.checkpoint import load_checkpoint

    return int(load_checkpoint(path).get("global_step", 0))
