"""Atari 2600 games through the Arcade Learning Environment's native vector env (ale-py).

`ale_py.vector_env.AtariVectorEnv` steps N emulators in C++ threads and does the standard
preprocessing there (Machado et al. 2018; the wrappers of CleanRL's ppo_atari.py / SB3's
AtariWrapper): up to 30 no-op actions at reset, FIRE at reset where the game needs it, frame
skip 4 with a max-pool over the last two frames, 84x84 grayscale, a stack of the last 4 frames.
One Python call per step for all N games (gymnasium's vector envs pay one per game per step).

Two training-only conventions are applied here, on top of the raw game:
- episodic life: losing a life is a terminal for the learner (no bootstrap), but the game goes on
  (the emulator is not reset, as in SB3's EpisodicLifeEnv);
- reward clipping to {-1, 0, +1} (the sign of the game's reward).
The episode statistics and test episodes see the game itself: raw rewards, and an episode that ends
when the game does (`info["raw_reward"]`, `info["episode_over"]` of `step`).

Ids: `BreakoutNoFrameskip-v4` style (no sticky actions, as CleanRL) and `ALE/Breakout-v5` style
(sticky actions with probability 0.25, the v5 default). Needs the `atari` extra (`pip install
'rlmeta[atari]'`, ale-py ships the ROMs).

Example:
    >>> b = AtariBackend("BreakoutNoFrameskip-v4", num_envs=8)
    >>> obs = b.reset(seed=0)                              # [8, 4, 84, 84] uint8
    >>> obs, r, term, trunc, final_obs, info = b.step(np.zeros(8, np.int64))
"""

from __future__ import annotations

import difflib
import functools
import re

import numpy as np

from rlmeta.core.env_ids import ATARI_V4, ATARI_V5, is_atari
from rlmeta.core.errors import ConfigError

# the id forms live in the core layer (a config sizes an Atari run before rlmeta.envs is imported)
_V4, _V5 = ATARI_V4, ATARI_V5


def game_settings(env_id: str) -> tuple[str, float]:
    """id -> (ALE game name, sticky-action probability): `BreakoutNoFrameskip-v4` -> ('breakout', 0.0),
    `ALE/MsPacman-v5` -> ('ms_pacman', 0.25)."""
    m = _V4.match(env_id) or _V5.match(env_id)
    if m is None:
        raise ConfigError(f"'{env_id}' is not an Atari id (<Game>NoFrameskip-v4 or ALE/<Game>-v5)")
    # CamelCase -> the ROM's snake_case name (MsPacman -> ms_pacman, SpaceInvaders -> space_invaders)
    game = re.sub(r"(?<!^)(?=[A-Z])", "_", m.group("game")).lower()
    return game, (0.0 if _V4.match(env_id) else 0.25)


def _require_ale():
    try:
        import ale_py
        from ale_py.vector_env import AtariVectorEnv
    except ImportError:
        raise ConfigError("Atari envs need ale-py: pip install 'rlmeta[atari]'") from None
    return ale_py, AtariVectorEnv


def gym_env(env_id: str, render_mode: str | None = None):
    """One gymnasium Atari env whose observations are the policy's: gymnasium's AtariPreprocessing
    (up to 30 no-ops, frame skip 4 with max-pool, 84x84 grayscale) and a 4-frame stack, [4, 84, 84]
    uint8; an episode is a whole game. The per-env counterpart of AtariBackend's native vector env."""
    import gymnasium as gym

    ale_py, _ = _require_ale()
    gym.register_envs(ale_py)
    game, sticky = game_settings(env_id)
    env = gym.make(
        f"ALE/{''.join(w.capitalize() for w in game.split('_'))}-v5",
        frameskip=1,
        repeat_action_probability=sticky,
        render_mode=render_mode,
    )
    env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84, grayscale_obs=True)
    return gym.wrappers.FrameStackObservation(env, 4)  # [4, 84, 84] uint8


def recording_env(env_id: str):
    """For videos (rlmeta.core.recording.EpisodeRecorder): a zero-argument factory of `gym_env(env_id)`
    with render_mode rgb_array (full-size RGB frames). None for ids that are not Atari."""
    if not is_atari(env_id):
        return None
    _require_ale()  # the missing extra is named here, not at the first video
    return functools.partial(gym_env, env_id, "rgb_array")


class AtariBackend:
    """N Atari games as a VecEnv backend (SAME_STEP autoreset), uint8 frame stacks [N, 4, 84, 84].

    `step(actions [N] int)` -> obs, reward [N] (clipped when `clip_rewards`), terminated [N] (game over,
    or a lost life when `episodic_life`), truncated [N] (108,000 frames), final_obs, info with
    `raw_reward` [N] and `episode_over` [N] (the game's own reward and end, for statistics).
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        threads: int = 0,
        episodic_life: bool = True,
        clip_rewards: bool = True,
        frame_stack: int = 4,
        screen_size: int = 84,
    ):
        import gymnasium as gym

        ale_py, AtariVectorEnv = _require_ale()
        game, sticky = game_settings(env_id)
        known = list(ale_py.roms.get_all_rom_ids())
        if game not in known:
            close = difflib.get_close_matches(game, known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"Atari game '{game}' (from '{env_id}') is not available in ale-py{hint}")
        # reward clipping and life loss are done here, so the raw reward and the game's own end stay
        # visible for the statistics
        self.env = AtariVectorEnv(
            game,
            num_envs,
            num_threads=threads,
            repeat_action_probability=sticky,
            stack_num=frame_stack,
            img_height=screen_size,
            img_width=screen_size,
            episodic_life=False,
            life_loss_info=False,
            reward_clipping=False,
            autoreset_mode="SameStep",
        )
        self.env_id, self.num_envs = env_id, num_envs
        self.episodic_life, self.clip_rewards = episodic_life, clip_rewards
        self.single_observation_space = self.env.single_observation_space  # Box(0, 255, (4, 84, 84), uint8)
        self.single_action_space = gym.spaces.Discrete(int(self.env.single_action_space.n))
        self._lives = np.zeros(num_envs, np.int64)

    def reset(self, seed: int) -> np.ndarray:
        obs, info = self.env.reset(seed=int(seed))
        self._lives = np.asarray(info["lives"], np.int64).copy()
        return obs

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions, np.int64).reshape(self.num_envs)
        obs, reward, term, trunc, info = self.env.step(actions)
        term, trunc = np.asarray(term, bool), np.asarray(trunc, bool)
        lives = np.asarray(info["lives"], np.int64)
        over = term | trunc
        # a life lost in a game that goes on (where a game ended, `lives` is already the new game's)
        life_lost = (lives < self._lives) & ~over
        self._lives = lives.copy()
        final_obs = obs.copy()
        if over.any():
            final_obs[over] = info["final_obs"][over]
        raw = np.asarray(reward, np.float64)
        train_reward = np.sign(raw) if self.clip_rewards else raw
        train_term = term | life_lost if self.episodic_life else term
        return obs, train_reward, train_term, trunc, final_obs, {"raw_reward": raw, "episode_over": over}

    def close(self) -> None:
        self.env.close()
