"""Self-play on batched games, the replay buffer (with symmetry augmentation) and the loss.

One `SelfPlay.step` = one batched search over all G games + one move in each; finished games are
turned into (obs, policy target, value target) samples and restarted in place.

Example:
    >>> game = make("tictactoe", 64)
    >>> sp = SelfPlay(game, SearchConfig(num_simulations=32), temperature_moves=4)
    >>> samples = sp.step(model)          # Samples of the games that ended this move (maybe none)
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import torch
from torch.nn import functional as F

from rlmeta.agents.alphazero.config import SearchConfig
from rlmeta.agents.alphazero.search import ModelFn, search
from rlmeta.agents.alphazero.tree import Tree, compact_tree, reuse_subtree
from rlmeta.envs.board.core import random_legal_action, where_state


def _planes(x: torch.Tensor) -> torch.Tensor:
    """Observation planes for a checkpoint: uint8 when every value is 0 or 1 (stone planes, 4x
    smaller, exact), else as they are."""
    return x.to(torch.uint8) if bool(((x == 0) | (x == 1)).all()) else x


def _cpu(obj: Any) -> Any:
    """A copy on the CPU of a tensor, or of the tensors in a (nested) dict."""
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    return obj.cpu().clone() if torch.is_tensor(obj) else obj


class Samples(NamedTuple):
    obs: torch.Tensor  # [n, C, H, W] position, from the view of the player to move
    policy: torch.Tensor  # [n, A] search policy target
    value: torch.Tensor  # [n] final outcome for the player to move at that position


class ReplayBuffer:
    """FIFO buffer of the last `capacity` positions. `sample` draws uniformly and applies one random
    symmetry of the game (dihedral for square boards, the mirror for Connect Four) per sample."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], num_actions: int, device: torch.device):
        self.capacity = capacity
        self.obs = torch.zeros(capacity, *obs_shape, device=device)
        self.policy = torch.zeros(capacity, num_actions, device=device)
        self.value = torch.zeros(capacity, device=device)
        self.pos, self.size = 0, 0

    def __len__(self) -> int:
        return self.size

    def add(self, s: Samples) -> None:
        n = s.value.shape[0]
        if n == 0:
            return
        if n > self.capacity:
            s = Samples(*(x[-self.capacity :] for x in s))
            n = self.capacity
        idx = (self.pos + torch.arange(n, device=self.value.device)) % self.capacity
        self.obs[idx], self.policy[idx], self.value[idx] = s.obs, s.policy, s.value
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, game: Any = None, generator: Optional[torch.Generator] = None) -> Samples:
        idx = torch.randint(0, self.size, (batch_size,), device=self.value.device, generator=generator)
        obs, pi, z = self.obs[idx], self.policy[idx], self.value[idx]
        if game is not None:
            variants = game.symmetries(obs, pi)  # list of K (obs [n, ...], policy [n, A])
            if len(variants) > 1:
                k = torch.randint(0, len(variants), (batch_size,), device=obs.device, generator=generator)
                all_obs = torch.stack([o for o, _ in variants])  # [K, n, C, H, W]
                all_pi = torch.stack([p for _, p in variants])  # [K, n, A]
                r = torch.arange(batch_size, device=obs.device)
                obs, pi = all_obs[k, r], all_pi[k, r]
        return Samples(obs, pi, z)

    def state_dict(self) -> dict[str, Any]:
        n = self.size
        return _cpu({"obs": _planes(self.obs[:n]), "policy": self.policy[:n], "value": self.value[:n], "pos": self.pos})

    def load_state_dict(self, d: dict[str, Any]) -> None:
        n = min(d["value"].shape[0], self.capacity)
        dev = self.value.device
        self.obs[:n] = d["obs"][:n].to(dev, torch.float32)
        self.policy[:n], self.value[:n] = d["policy"][:n].to(dev), d["value"][:n].to(dev)
        self.size, self.pos = n, int(d["pos"]) % self.capacity


def alphazero_loss(net: torch.nn.Module, b: Samples, value_coef: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy to the search policy + value_coef * MSE to the outcome. -> (loss, metrics)"""
    logits, v = net(b.obs)  # [n, A], [n]
    logp = F.log_softmax(logits, -1)
    policy_loss = -(b.policy * logp).sum(-1).mean()
    value_loss = F.mse_loss(v, b.value)
    loss = policy_loss + value_coef * value_loss
    with torch.no_grad():
        entropy = -(b.policy * b.policy.clamp(min=1e-12).log()).sum(-1).mean()  # lower bound of the CE
    return loss, {
        "losses/policy_loss": policy_loss.item(),
        "losses/value_loss": value_loss.item(),
        "losses/target_entropy": entropy.item(),
    }


class SelfPlay:
    """G games played in parallel by search; restarts finished games; optional subtree reuse.

    Move choice: for the first `temperature_moves` plies of a game, PUCT samples from the visit
    shares (temperature 1), then plays the most visited move; Gumbel always plays the action its
    sequential halving selected (the Gumbel noise already makes it a sample)."""

    def __init__(
        self,
        game: Any,
        cfg: SearchConfig,
        temperature_moves: int = 0,
        reuse_tree: bool = True,
        max_moves: Optional[int] = None,
        random_opening_moves: int = 0,
        value_target_mix: float = 0.0,
    ):
        self.game, self.cfg = game, cfg
        self.temperature_moves = temperature_moves
        self.reuse_tree = reuse_tree
        self.random_opening_moves = random_opening_moves
        self.value_target_mix = value_target_mix
        self.state = game.reset()
        G = self.state.player.shape[0]
        dev = self.state.player.device
        # plies of each game played uniformly at random (and not recorded: their outcome targets
        # would be bent by later random plies): visits positions good play never reaches
        self.opening = self._draw_openings(G, dev)
        # upper bound on plies in a game: one stone per cell (passes can double that in Othello).
        # Not num_actions: Connect Four has 7 actions but 42 plies.
        cells = game.board_shape[0] * game.board_shape[1]
        self.max_moves = max_moves or (2 * cells + 2 if game.pass_action is not None else cells + 1)
        T = self.max_moves
        self.hist_obs = torch.zeros(T, G, *game.obs_shape, device=dev)  # [T, G, C, H, W]
        self.hist_pi = torch.zeros(T, G, game.num_actions, device=dev)  # [T, G, A]
        self.hist_player = torch.zeros(T, G, dtype=torch.long, device=dev)  # [T, G]
        self.hist_v = torch.zeros(T, G, device=dev)  # [T, G] search root value, player to move's view
        self.hist_keep = torch.zeros(T, G, dtype=torch.bool, device=dev)  # [T, G] recorded (not a random ply)
        self.tree: Optional[Tree] = None
        self.games_finished = 0
        self.finished_stats = {"length": 0.0, "p0_win": 0.0, "draw": 0.0, "n": 0}

    def _draw_openings(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.randint(0, self.random_opening_moves + 1, (n,), device=device)

    @torch.no_grad()
    def step(self, model: ModelFn) -> Samples:
        game, s = self.game, self.state
        G = s.player.shape[0]
        r = torch.arange(G, device=s.player.device)
        out = search(game, s, model, self.cfg, tree=self.tree if self.reuse_tree else None)
        action = out.action
        if self.cfg.algorithm == "puct" and self.temperature_moves > 0:
            explore = s.moves < self.temperature_moves
            sampled = torch.multinomial(out.policy.clamp(min=0) + 1e-12 * game.legal_mask(s), 1).squeeze(1)
            action = torch.where(explore, sampled, action)
        in_opening = s.moves < self.opening
        if self.random_opening_moves > 0:
            legal = game.legal_mask(s)
            random_move = random_legal_action(legal)
            action = torch.where(in_opening, random_move, action)
        t = s.moves.clamp(max=self.max_moves - 1)
        self.hist_obs[t, r] = game.observation(s)
        self.hist_pi[t, r] = out.policy
        self.hist_player[t, r] = s.player
        self.hist_v[t, r] = out.root_value
        self.hist_keep[t, r] = ~in_opening
        nxt = game.step(s, action)
        done = nxt.terminal
        samples = self._finished(nxt, done)
        if self.reuse_tree:
            self.tree = reuse_subtree(out.tree, action, keep=~done)
        self.state = where_state(done, game.reset(G), nxt)
        if self.random_opening_moves > 0:
            self.opening = torch.where(done, self._draw_openings(G, done.device), self.opening)
        return samples

    def _finished(self, final: Any, done: torch.Tensor) -> Samples:
        game = self.game
        idx = done.nonzero().squeeze(1)
        if idx.numel() == 0:
            z = torch.zeros(0, device=done.device)
            return Samples(self.hist_obs[:0, 0], self.hist_pi[:0, 0], z)
        length = final.moves[idx].clamp(max=self.max_moves)  # [g]
        mask = torch.arange(self.max_moves, device=done.device)[:, None] < length[None]  # [T, g]
        mask = mask & self.hist_keep[:, idx]
        obs = self.hist_obs[:, idx][mask]
        pi = self.hist_pi[:, idx][mask]
        player = self.hist_player[:, idx][mask]
        rewards = game.rewards(game.index(final, idx)).float()  # [g, 2]
        col = torch.arange(idx.numel(), device=done.device)[None].expand_as(mask)[mask]
        z = rewards[col, player]
        if self.value_target_mix > 0:  # (1 - m) z + m v_root: less noise from later exploratory moves
            z = (1 - self.value_target_mix) * z + self.value_target_mix * self.hist_v[:, idx][mask]
        st = self.finished_stats
        st["n"] += idx.numel()
        st["length"] += float(length.float().sum())
        st["p0_win"] += float((final.winner[idx] == 0).float().sum())
        st["draw"] += float((final.winner[idx] < 0).float().sum())
        self.games_finished += idx.numel()
        return Samples(obs, pi, z)

    def state_dict(self) -> dict[str, Any]:
        """The games in progress, so that a resumed run plays on exactly as an uninterrupted one:
        positions, the per-ply records of the finished part of each game, random-opening lengths,
        the search tree kept for the next move (compacted to its used nodes) and the counters.
        Plain tensors and numbers only (torch.load(weights_only=True))."""
        tree = None if self.tree is None else compact_tree(self.tree, self.game, self.state).state_dict()
        return _cpu(
            {
                "state": self.state._asdict(),
                "opening": self.opening,
                "hist_obs": _planes(self.hist_obs),
                "hist_pi": self.hist_pi,
                "hist_player": self.hist_player,
                "hist_v": self.hist_v,
                "hist_keep": self.hist_keep,
                "tree": tree,
                "games_finished": self.games_finished,
                "finished_stats": dict(self.finished_stats),
            }
        )

    def load_state_dict(self, d: dict[str, Any]) -> None:
        dev = self.state.player.device
        self.state = type(self.state)(**{k: v.to(dev) for k, v in d["state"].items()})
        self.opening = d["opening"].to(dev)
        for name in ("hist_obs", "hist_pi", "hist_player", "hist_v", "hist_keep"):
            old = getattr(self, name)
            if d[name].shape != old.shape:
                raise ValueError(f"self-play {name} has shape {tuple(d[name].shape)}, this run {tuple(old.shape)}")
            setattr(self, name, d[name].to(dev, old.dtype))
        self.tree = None if d["tree"] is None else Tree.from_state_dict(d["tree"], type(self.state), dev)
        self.games_finished = int(d["games_finished"])
        self.finished_stats = dict(d["finished_stats"])

    def pop_stats(self) -> dict[str, float]:
        st = self.finished_stats
        n = st["n"]
        self.finished_stats = {"length": 0.0, "p0_win": 0.0, "draw": 0.0, "n": 0}
        if n == 0:
            return {}
        return {
            "charts/episodic_length": st["length"] / n,
            "charts/first_player_win_rate": st["p0_win"] / n,
            "charts/draw_rate": st["draw"] / n,
            "charts/games_finished": float(self.games_finished),
        }
