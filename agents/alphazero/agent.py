"""AlphaZero (Silver et al. 2018) on batched board games, with a Gumbel MuZero search option.

Reads top to bottom: config -> envs (the batched game) -> agent. One iteration = `moves_per_iteration`
batched self-play moves in all `num_envs` games (one search each, see search.py), finished games
go to the replay buffer (selfplay.py), then `updates_per_iteration` minibatch steps on
cross-entropy(search policy) + MSE(outcome) (selfplay.alphazero_loss).

global_step counts self-play MOVES (positions searched), summed over the parallel games, like the
env steps of the other agents; charts/games_finished counts games.

Presets: `tictactoe` (default: 15k self-play moves, about 25 s of one CPU core, after which a
64-simulation search with the network plays an optimal move in all 4520 reachable positions; see
tests/test_alphazero.py), `connect4` (see benchmarks/results/alphazero_connect4.md), `connect4-gpu`
(4096 games at once and AlphaZero.jl's 128 x 5 ResNet, for one GPU; see benchmarks/gpu_alphazero.py)
and `go9`.

Example:
    rlmeta train alphazero --env tictactoe --total-steps 20000 --run-dir runs/az-ttt
    rlmeta eval tictactoe --checkpoint runs/az-ttt/checkpoint.pt
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from rlmeta.agents.alphazero.config import SearchConfig
from rlmeta.agents.alphazero.network import PolicyValueNet, model_fn
from rlmeta.agents.alphazero.selfplay import ReplayBuffer, SelfPlay, alphazero_loss
from rlmeta.agents.base import Agent
from rlmeta.core.config import RunConfig
from rlmeta.core.errors import ConfigError


@dataclass
class AlphaZeroConfig(RunConfig):
    """AlphaZero hyperparameters (defaults: the tictactoe preset)."""

    preset: str = "tictactoe"
    """Named preset that sets the defaults below: tictactoe, connect4, connect4-gpu or go9 (or a .json/.yaml file)."""
    env: str = "tictactoe"
    """Board game: tictactoe, connect4, othello or gomoku (envs/board)."""
    total_steps: int = 15_000
    """Self-play moves to train for, summed over the parallel games."""
    num_envs: int = 128
    """Self-play games played in parallel (one batched search per move for all of them)."""
    checkpoint_every: int = 10_000
    """Write checkpoint.pt every this many self-play moves; always at the end."""
    # --- search
    search: Literal["puct", "gumbel"] = "gumbel"
    """Search used in self-play: gumbel (Gumbel MuZero, good with few simulations) or puct (AlphaZero)."""
    num_simulations: int = 16
    """Simulations per self-play move."""
    c_init: float = 1.25
    """PUCT exploration constant (puct)."""
    dirichlet_alpha: float = 1.0
    """Root Dirichlet noise concentration (puct); AlphaZero used 0.3 (chess) / 0.03 (Go)."""
    dirichlet_fraction: float = 0.25
    """Root Dirichlet noise weight (puct)."""
    temperature_moves: int = 4
    """puct: plies per game whose move is sampled from the visit shares (then greedy)."""
    max_considered: int = 16
    """gumbel: root actions sampled without replacement and then sequentially halved (m)."""
    c_visit: float = 50.0
    """gumbel: sigma(q) = (c_visit + max N) * c_scale * q."""
    c_scale: float = 0.1
    """gumbel: sigma(q) scale."""
    solver: bool = False
    """MCTS-Solver in every search of this run: check each new node for a move that wins now, back up
    proven wins/losses, play the quickest proven win, never a proven loss when some move is not one,
    and the latest loss when every move is one (costs one extra batched game step per simulation)."""
    random_opening_moves: int = 4
    """Each self-play game starts with U{0..this} uniformly random plies (not recorded as samples):
    positions good play never reaches still get searched and learned from."""
    value_target_mix: float = 0.0
    """Value target (1 - m) z + m v_root: m mixes the search's root value into the game outcome z."""
    reuse_tree: bool = True
    """Keep the chosen child's subtree as the next root (exact simulators make this free)."""
    # --- network
    channels: int = 32
    """Channels of the residual trunk."""
    blocks: int = 1
    """Residual blocks."""
    value_hidden: int = 32
    """Hidden units of the value head."""
    # --- learner
    lr: float = 3e-3
    """Adam learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay (AlphaZero's L2 term)."""
    batch_size: int = 256
    """Minibatch size of the learner."""
    replay_size: int = 20_000
    """Positions kept in the replay buffer (FIFO)."""
    min_replay: int = 512
    """No updates until the buffer holds this many positions."""
    moves_per_iteration: int = 4
    """Self-play moves (in every game) per iteration."""
    updates_per_iteration: int = 64
    """Learner minibatch steps per iteration."""
    value_coef: float = 1.0
    """Weight of the value MSE in the loss."""
    eval_every: int = 0
    """Every this many iterations, log charts/optimal_move_share (tictactoe, exact solver); 0 = off."""

    bf16: bool = False
    """On CUDA: self-play and training in bfloat16 autocast (the connect4-gpu preset; ignored on the CPU)."""
    tf32: bool = False
    """On CUDA: TF32 for float32 matmuls and convolutions (torch.set_float32_matmul_precision("high"))."""
    cudnn_benchmark: bool = False
    """On CUDA: let cuDNN time and pick its fastest convolutions (the shapes are fixed)."""

    memory_flags = "--num-envs / --num-simulations / --replay-size / --channels"

    def memory_estimate(self) -> dict[str, int]:
        """Lower bound with 9 board cells and actions (tic-tac-toe): the search tree of every game
        ([B, N] node arrays and [B, N, A] child arrays, about 8 of them, float32), the replay buffer of
        positions and the network's first layer activations for a batch."""
        cells = 9
        nodes = self.num_simulations + 1
        return {
            "search trees": self.num_envs * nodes * (8 + 8 * cells) * 4,
            "replay buffer": self.replay_size * (2 * cells + 1) * 4,
            "activations": max(self.num_envs, self.batch_size) * self.channels * cells * 4 * 4,
        }

    def validate(self) -> None:
        super().validate()
        from rlmeta.envs.board import GAMES

        if self.env not in GAMES:
            raise ConfigError(f"alphazero plays board games ({', '.join(GAMES)}), not '{self.env}'")
        checks = {
            "num_simulations": self.num_simulations >= 1,
            "channels": self.channels > 0,
            "blocks": self.blocks >= 0,
            "lr": self.lr > 0,
            "batch_size": self.batch_size > 0,
            "replay_size": self.replay_size >= self.batch_size,
            "moves_per_iteration": self.moves_per_iteration > 0,
            "updates_per_iteration": self.updates_per_iteration >= 0,
            "max_considered": self.max_considered >= 1,
            "min_replay": self.min_replay >= 1,
            "dirichlet_fraction": 0 <= self.dirichlet_fraction <= 1,
            "random_opening_moves": self.random_opening_moves >= 0,
            "value_target_mix": 0 <= self.value_target_mix <= 1,
            "dirichlet_alpha": self.dirichlet_alpha > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"--{name.replace('_', '-')}: invalid value {getattr(self, name)!r}")

    def search_config(self, training: bool = True) -> SearchConfig:
        return SearchConfig(
            num_simulations=self.num_simulations,
            algorithm=self.search,
            c_init=self.c_init,
            dirichlet_alpha=self.dirichlet_alpha,
            dirichlet_fraction=self.dirichlet_fraction if training else 0.0,
            max_considered=self.max_considered,
            gumbel_scale=1.0 if training else 0.0,
            c_visit=self.c_visit,
            c_scale=self.c_scale,
            solver=self.solver,
        )

    @classmethod
    def presets(cls) -> dict[str, AlphaZeroConfig]:
        return {
            "tictactoe": cls(),
            # sized for about 15 minutes of one CPU core (~800 self-play positions/s)
            "connect4": cls(
                preset="connect4",
                env="connect4",
                total_steps=600_000,
                num_envs=256,
                num_simulations=16,
                max_considered=7,
                channels=32,
                blocks=2,
                value_hidden=32,
                lr=2e-3,
                batch_size=512,
                replay_size=200_000,
                min_replay=5_000,
                moves_per_iteration=8,
                updates_per_iteration=16,
                checkpoint_every=100_000,
                eval_every=0,
                random_opening_moves=8,
            ),
            # one GPU (benchmarks/gpu_alphazero.py): thousands of games at once, search, network, replay and
            # learner on the device; AlphaZero.jl's Connect Four network (128 channels x 5 residual blocks);
            # each position is trained on about 4 times (64 x 1024 samples per 4 x 4096 moves), as in `connect4`.
            # Sized by estimate, not yet measured on a GPU.
            "connect4-gpu": cls(
                preset="connect4-gpu",
                env="connect4",
                total_steps=20_000_000,
                num_envs=4096,
                num_simulations=32,
                max_considered=7,
                channels=128,
                blocks=5,
                value_hidden=128,
                lr=2e-3,
                batch_size=1024,
                replay_size=1_000_000,
                min_replay=50_000,
                moves_per_iteration=4,
                updates_per_iteration=64,
                checkpoint_every=2_000_000,
                eval_every=0,
                random_opening_moves=8,
                bf16=True,
                tf32=True,
                cudnn_benchmark=True,
            ),
            # 9x9 Go (OpenSpiel's rules, 162-ply cap): ~480 self-play positions/s on one CPU core
            "go9": cls(
                preset="go9",
                env="go9",
                total_steps=600_000,
                num_envs=256,
                num_simulations=16,
                max_considered=16,
                channels=32,
                blocks=2,
                value_hidden=32,
                lr=2e-3,
                batch_size=512,
                replay_size=200_000,
                min_replay=5_000,
                moves_per_iteration=8,
                updates_per_iteration=16,
                checkpoint_every=100_000,
                eval_every=0,
                random_opening_moves=4,
            ),
        }


class BoardEnvs:
    """What the runner needs from `make_envs`: the batched game with close/state_dict/load_state_dict.
    The game itself is stateless; the games in progress belong to the agent's SelfPlay and are
    checkpointed with it."""

    def __init__(self, name: str, num_games: int, device: torch.device):
        from rlmeta.envs.board import make

        try:
            self.game = make(name, num_games, device)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        self.env_id = name

    def close(self) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        pass


def build_net(cfg: AlphaZeroConfig, game: Any) -> PolicyValueNet:
    return PolicyValueNet(tuple(game.obs_shape), game.num_actions, cfg.channels, cfg.blocks, cfg.value_hidden)


class AlphaZero(Agent):
    algo = "alphazero"
    Config = AlphaZeroConfig
    continuous_actions = False
    lr_fields: ClassVar[dict[str, str]] = {"lr": "opt"}  # --resume RUN --lr X reaches the optimizer

    @property
    def steps_per_iteration(self) -> int:
        return self.cfg.moves_per_iteration * self.cfg.num_envs

    @classmethod
    def make_envs(cls, cfg: AlphaZeroConfig, device: torch.device) -> BoardEnvs:
        return BoardEnvs(cfg.env, cfg.num_envs, device)

    @classmethod
    def check_env(cls, envs: Any) -> None:
        if not isinstance(envs, BoardEnvs):
            raise ConfigError("alphazero needs a batched board game (rlmeta.envs.board)")

    def __init__(self, cfg: AlphaZeroConfig, envs: BoardEnvs, device: torch.device):
        super().__init__(cfg, envs, device)
        if device.type == "cuda":  # the preset's GPU settings: what benchmarks/gpu_alphazero.py measures
            if cfg.cudnn_benchmark:
                torch.backends.cudnn.benchmark = True
            if cfg.tf32:
                torch.set_float32_matmul_precision("high")
                torch.backends.cudnn.allow_tf32 = True
        self.autocast = (
            (lambda: torch.autocast("cuda", dtype=torch.bfloat16))
            if cfg.bf16 and device.type == "cuda"
            else contextlib.nullcontext
        )
        self.game = envs.game
        self.net = build_net(cfg, self.game).to(device)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.selfplay = SelfPlay(
            self.game,
            cfg.search_config(training=True),
            cfg.temperature_moves,
            cfg.reuse_tree,
            random_opening_moves=cfg.random_opening_moves,
            value_target_mix=cfg.value_target_mix,
        )
        self.replay = ReplayBuffer(cfg.replay_size, tuple(self.game.obs_shape), self.game.num_actions, device)
        self.iterations = 0
        self._evaluator = None

    def iteration(self) -> dict[str, float]:
        cfg = self.cfg
        with self.autocast():
            return self._iteration(cfg)

    def _iteration(self, cfg: AlphaZeroConfig) -> dict[str, float]:
        model = model_fn(self.net)
        self.net.eval()  # self-play uses batch-norm running statistics, as evaluation does
        for _ in range(cfg.moves_per_iteration):
            self.replay.add(self.selfplay.step(model))
        self.global_step += cfg.moves_per_iteration * cfg.num_envs
        self.iterations += 1

        metrics: dict[str, float] = {}
        if len(self.replay) >= cfg.min_replay:
            self.net.train()
            for _ in range(cfg.updates_per_iteration):
                batch = self.replay.sample(cfg.batch_size, self.game)
                loss, m = alphazero_loss(self.net, batch, cfg.value_coef)
                extra, em = self.extra_loss(batch)
                self.opt.zero_grad(set_to_none=True)
                (loss + extra).backward()
                self.opt.step()
                metrics.update(m)
                metrics.update(em)
        metrics["charts/replay_size"] = float(len(self.replay))
        metrics.update(self.selfplay.pop_stats())
        if cfg.eval_every and self.iterations % cfg.eval_every == 0 and cfg.env == "tictactoe":
            metrics["charts/optimal_move_share"] = self.optimal_move_share()
        return metrics

    def state_dict(self) -> dict[str, Any]:
        # with the runner's RNG states, everything a resumed run needs to continue bit for bit: it
        # trains on the same positions and plays on the same games with the same search trees
        d = super().state_dict()
        d["replay"] = self.replay.state_dict()
        d["selfplay"] = self.selfplay.state_dict()
        d["iterations"] = self.iterations
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        super().load_state_dict(d)
        if "replay" in d:
            self.replay.load_state_dict(d["replay"])
        if "selfplay" in d:  # checkpoints from before it was saved: fresh games
            self.selfplay.load_state_dict(d["selfplay"])
        self.iterations = int(d.get("iterations", 0))

    def optimal_move_share(self, num_simulations: int = 0) -> float:
        """Share of reachable tic-tac-toe positions where the greedy move (raw network, or a search
        with num_simulations) is optimal under exact minimax."""
        from rlmeta.agents.alphazero.evaluate import TicTacToeEvaluator

        if self._evaluator is None:
            self._evaluator = TicTacToeEvaluator(self.device)
        return self._evaluator.optimal_share(self.player(num_simulations))["share"]

    def player(self, num_simulations: int = 0):
        """A deterministic player (State -> action [B]) for evaluation and the arena."""
        from rlmeta.agents.alphazero.players import NetworkPlayer

        cfg = self.cfg.search_config(training=False)
        cfg.num_simulations = max(num_simulations, 1)
        return NetworkPlayer(self.game.__class__(1, self.device), self.net, num_simulations, cfg)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Raw network: obs [N, C, H, W] -> argmax action [N] (legality not known here; use player())."""
        self.net.eval()
        logits, _ = self.net(torch.as_tensor(obs, device=self.device, dtype=torch.float32))
        return logits.argmax(-1).cpu().numpy()
