"""AlphaGo-style pieces (Silver et al. 2016), usable together with the batched search:

1. expert game records in a plain text format (`write_records` / `read_records`), generated here
   by a strong player (`generate_games`: the exact solver, or any search player);
2. a supervised policy network p_sigma trained on the expert moves (`policy_sl_loss`);
3. a fast rollout policy p_pi (a linear softmax, `LinearRolloutPolicy`) trained on the same moves;
4. a value network v_theta trained on positions of games played by the SL policy, one position per
   game (AlphaGo's fix for overfitting to correlated positions), against the final outcome
   (`value_data`, `value_loss`);
5. the search: priors from p_sigma, leaf value V = (1 - lambda) v_theta + lambda z with z the
   outcome of one p_pi rollout (`alphago_player`; SearchConfig.rollout_weight is lambda).

Record format (one game per line after a header; actions are the game's action ids; result from
the first player's view: 1-0, 0-1 or 1/2-1/2; a game may stop before the end, then `*`):

    # rlmeta game records v1 game=tictactoe
    4 0 8 2 1 7 6 3 5 1/2-1/2

Example:
    >>> rec = generate_games("tictactoe", SolverPlayer("tictactoe", randomize=True), 200)
    >>> write_records("expert.txt", rec); rec = read_records("expert.txt")
    >>> policy = PolicyValueNet((2, 3, 3), 9, 32, 1)
    >>> fit(policy, policy_sl_loss, expert_samples(rec), steps=500)
    >>> player = alphago_player("tictactoe", policy, value_net, rollout, lam=0.5, num_simulations=64)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, Optional

import torch
from torch import nn
from torch.nn import functional as F

from rlmeta.agents.alphazero.config import SearchConfig
from rlmeta.agents.alphazero.network import LinearRolloutPolicy, PolicyValueNet, model_fn, policy_fn  # noqa: F401
from rlmeta.core.errors import ConfigError
from rlmeta.envs.board.core import random_legal_action, where_state

HEADER = "# rlmeta game records v1 game="
RESULTS = {"1-0": 0, "0-1": 1, "1/2-1/2": -1, "*": -2}  # -> winner id (-1 draw, -2 unfinished)


class GameRecords(NamedTuple):
    game: str  # rlmeta.envs.board game name
    actions: list[list[int]]  # one action list per game
    winners: list[int]  # 0 / 1, -1 draw, -2 unfinished


# ---------------------------------------------------------------------- records
def write_records(path: str | Path, rec: GameRecords) -> None:
    inv = {v: k for k, v in RESULTS.items()}
    lines = [HEADER + rec.game] + [" ".join(map(str, a)) + " " + inv[w] for a, w in zip(rec.actions, rec.winners)]
    Path(path).write_text("\n".join(lines) + "\n")


def read_records(path: str | Path) -> GameRecords:
    """Parse a record file; every game is replayed and must be legal (ConfigError otherwise)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"no game records at {path}")
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    if not lines or not lines[0].startswith(HEADER):
        raise ConfigError(f"{path}: first line must be '{HEADER}<game>'")
    game = lines[0][len(HEADER) :].strip()
    actions, winners = [], []
    for n, ln in enumerate(lines[1:], start=2):
        *acts, res = ln.split()
        if res not in RESULTS:
            raise ConfigError(f"{path}:{n}: result must be one of {', '.join(RESULTS)}, got {res!r}")
        try:
            actions.append([int(a) for a in acts])
        except ValueError:
            raise ConfigError(f"{path}:{n}: actions must be integers") from None
        winners.append(RESULTS[res])
    rec = GameRecords(game, actions, winners)
    _replay(rec, check=True)
    return rec


def _replay(rec: GameRecords, check: bool = False, device: str | torch.device = "cpu"):
    """Replay all games in one batch -> (obs [n, C, H, W], action [n], player [n], game index [n],
    final State [G]) for every recorded move. With check, illegal moves and wrong results raise."""
    from rlmeta.envs.board import make

    try:
        game = make(rec.game, len(rec.actions), device)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    G = len(rec.actions)
    T = max((len(a) for a in rec.actions), default=0)
    acts = torch.full((G, T), -1, dtype=torch.long)
    for i, a in enumerate(rec.actions):
        acts[i, : len(a)] = torch.tensor(a, dtype=torch.long)
    acts = acts.to(game.device)
    s = game.reset()
    obs, act, player, gidx = [], [], [], []
    for t in range(T):
        live = acts[:, t] >= 0
        if check:
            bad = live & (s.terminal | ~game.legal_mask(s).gather(1, acts[:, t].clamp(min=0)[:, None])[:, 0])
            if bool(bad.any()):
                i = int(bad.nonzero()[0, 0])
                raise ConfigError(f"game {i + 1} of the records: illegal move {rec.actions[i][t]} at ply {t + 1}")
        rows = live.nonzero().squeeze(1)
        obs.append(game.observation(game.index(s, rows)))
        act.append(acts[rows, t])
        player.append(s.player[rows])
        gidx.append(rows)
        # rows past the end of their record step a placeholder action that where_state drops (with
        # `check` the moves were validated above; without, they were when the records were read)
        s = where_state(live, game.step(s, acts[:, t].clamp(min=0), check=False), s)
    if check:
        w = torch.tensor(rec.winners, device=game.device)
        done = w != -2
        wrong = done & (~s.terminal | (s.winner != w))
        if bool(wrong.any()):
            i = int(wrong.nonzero()[0, 0])
            raise ConfigError(f"game {i + 1} of the records: the recorded result does not match the moves")
    cat = lambda xs, *shape: torch.cat(xs) if xs else torch.zeros(0, *shape)  # noqa: E731
    return cat(obs, *game.obs_shape), cat(act).long(), cat(player).long(), cat(gidx).long(), s


@torch.no_grad()
def generate_games(
    game_name: str, player: Callable, num_games: int, random_plies: int = 0, device: str | torch.device = "cpu"
) -> GameRecords:
    """`num_games` games of `player` against itself (batched); the first U{0..random_plies} plies
    of each game are uniformly random (diversity; they are part of the record)."""
    from rlmeta.envs.board import make

    game = make(game_name, num_games, device)
    s = game.reset()
    opening = torch.randint(0, random_plies + 1, (num_games,), device=game.device)
    history = []
    while not bool(s.terminal.all()):
        legal = game.legal_mask(s)
        action = random_legal_action(legal)
        rows = (~s.terminal & (s.moves >= opening)).nonzero().squeeze(1)
        if rows.numel():
            action[rows] = player(game, game.index(s, rows)).long()
        history.append(torch.where(s.terminal, -1, action))
        s = where_state(s.terminal, s, game.step(s, action))
    h = torch.stack(history, 1).tolist() if history else [[] for _ in range(num_games)]
    return GameRecords(game_name, [[a for a in row if a >= 0] for row in h], s.winner.tolist())


# ---------------------------------------------------------------------- datasets and losses
class Supervised(NamedTuple):
    obs: torch.Tensor  # [n, C, H, W] from the view of the player to move
    action: torch.Tensor  # [n] the expert's move (a one-hot policy target)
    value: torch.Tensor  # [n] final outcome for the player to move (+1 / 0 / -1)


def expert_samples(rec: GameRecords, device: str | torch.device = "cpu") -> Supervised:
    """Every move of every finished game of `rec` as (position, move, outcome)."""
    obs, act, player, gidx, final = _replay(rec, device=device)
    from rlmeta.envs.board import make

    r = make(rec.game, 1, device).rewards(final).float()  # [G, 2]
    z = r[gidx, player]
    return Supervised(obs, act, z)


def policy_sl_loss(net: nn.Module, b: Supervised) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy of the expert move (AlphaGo's SL policy objective). -> (loss, metrics)"""
    out = net(b.obs)
    logits = out[0] if isinstance(out, tuple) else out  # PolicyValueNet or LinearRolloutPolicy
    loss = F.cross_entropy(logits, b.action)
    acc = (logits.argmax(-1) == b.action).float().mean()
    return loss, {"losses/policy_ce": loss.item(), "charts/move_accuracy": acc.item()}


def value_loss(net: nn.Module, b: Supervised) -> tuple[torch.Tensor, dict[str, float]]:
    """MSE of the value head to the outcome. -> (loss, metrics)"""
    _, v = net(b.obs)
    loss = F.mse_loss(v, b.value)
    return loss, {"losses/value_mse": loss.item()}


def _augment(game: Any, b: Supervised, gen: Optional[torch.Generator] = None) -> Supervised:
    """One random symmetry of the game per sample (the move transformed with the board)."""
    onehot = F.one_hot(b.action, game.num_actions).float()
    variants = game.symmetries(b.obs, onehot)
    if len(variants) == 1:
        return b
    k = torch.randint(0, len(variants), (b.action.shape[0],), generator=gen)
    obs = torch.stack([o for o, _ in variants])[k, torch.arange(len(k))]
    act = torch.stack([p for _, p in variants])[k, torch.arange(len(k))].argmax(-1)
    return Supervised(obs, act, b.value)


def fit(
    net: nn.Module,
    loss_fn: Callable[[nn.Module, Supervised], tuple[torch.Tensor, dict]],
    data: Supervised,
    steps: int = 1000,
    batch_size: int = 256,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    game: Any = None,
    seed: int = 0,
) -> dict[str, float]:
    """Minibatch AdamW on loss_fn(net, batch) for `steps` steps (with `game`: random symmetries).
    Returns the metrics of the last step."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    n = data.action.shape[0]
    if n == 0:
        raise ConfigError("no training positions")
    net.train()
    metrics: dict[str, float] = {}
    for _ in range(steps):
        idx = torch.randint(0, n, (min(batch_size, n),), generator=gen).to(data.action.device)
        b = Supervised(*(x[idx] for x in data))
        if game is not None:
            b = _augment(game, b, gen)
        loss, metrics = loss_fn(net, b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    return metrics


@torch.no_grad()
def value_data(
    game_name: str, policy: nn.Module, num_games: int, temperature: float = 1.0, device: str | torch.device = "cpu"
) -> Supervised:
    """AlphaGo's value-network data: `num_games` games of the policy against itself (moves
    sampled from softmax(logits / temperature)); ONE uniformly chosen position per game with the
    game's final outcome, so the samples are not correlated."""
    from rlmeta.envs.board import make

    game = make(game_name, num_games, device)
    fn = policy_fn(policy)
    s = game.reset()
    pick = torch.full((num_games,), -1, dtype=torch.long, device=game.device)
    obs = torch.zeros(num_games, *game.obs_shape, device=game.device)
    player = torch.zeros(num_games, dtype=torch.long, device=game.device)
    seen = torch.zeros(num_games, device=game.device)
    while not bool(s.terminal.all()):
        live = ~s.terminal
        # reservoir sampling of one position per game: keep the t-th with probability 1/t
        seen = seen + live.float()
        take = live & (torch.rand(num_games, device=game.device) * seen < 1.0)
        obs = torch.where(take.view(-1, 1, 1, 1), game.observation(s), obs)
        player = torch.where(take, s.player, player)
        pick = torch.where(take, s.moves, pick)
        legal = game.legal_mask(s)
        logits = torch.where(legal, fn(game.observation(s), legal).float() / temperature, -float("inf"))
        logits = torch.where(live[:, None], logits, 0.0)
        action = torch.distributions.Categorical(logits=logits).sample()
        s = where_state(s.terminal, s, game.step(s, action))
    z = game.rewards(s).float().gather(1, player[:, None]).squeeze(1)
    return Supervised(obs, torch.zeros(num_games, dtype=torch.long, device=game.device), z)


def alphago_player(
    game_name: str,
    policy: nn.Module,
    value_net: Optional[nn.Module],
    rollout: Optional[nn.Module],
    lam: float = 0.5,
    num_simulations: int = 64,
    c_init: float = 1.25,
):
    """A search player with AlphaGo's leaf evaluation: priors from `policy`, value
    (1 - lam) * value_net + lam * (outcome of one `rollout` playout); value_net=None needs lam=1."""
    from rlmeta.agents.alphazero.players import SearchPlayer

    if value_net is None and lam < 1.0:
        raise ConfigError("alphago_player without a value network needs lam = 1 (pure rollouts)")
    cfg = SearchConfig(num_simulations=num_simulations, algorithm="puct", c_init=c_init, rollout_weight=lam)
    cfg.validate()
    model = model_fn(policy, value_net)  # value_net None: lam = 1 gives the policy's value weight 0
    return SearchPlayer(
        model,
        cfg,
        name=f"alphago:lam={lam}:{num_simulations}",
        rollout_policy=policy_fn(rollout) if rollout is not None else None,
    )
