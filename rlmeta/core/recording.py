"""Episode videos: record a policy's deterministic episodes headlessly and write mp4 (and GIF).

`EpisodeRecorder`: the runner keeps one open while training with `capture_video` and records one
episode every `video_every` checkpoints to RUN_DIR/videos/step-NNNNNNNN.mp4 (and to W&B);
`rlmeta render RUN_DIR` (rlmeta.app.render) re-renders a checkpointed policy with it.

Headless rendering: MuJoCo renders offscreen through EGL (mesa's software llvmpipe on a machine
without a GPU, the NVIDIA driver's EGL on one with) or OSMesa, picked by MUJOCO_GL. When MUJOCO_GL
is unset and there is no X display we choose egl *before* gymnasium builds its first renderer:
gymnasium otherwise tries glfw first, and that attempt fixes PyOpenGL's platform to GLX for the
whole process, after which EGL fails too.

Example:
    >>> rec = EpisodeRecorder("Hopper-v5", seed=0, size=256)
    >>> frames, ret, length = rec.record(lambda obs: agent.act(obs, True), agent.envs.normalize)
    >>> write_mp4(frames, "hopper.mp4", rec.fps); rec.close()
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rlmeta.core.errors import ConfigError, require_extra

PolicyFn = Callable[[np.ndarray], np.ndarray]  # obs [N, obs_dim] (normalised as in training) -> actions [N, act_dim]
GIF_MAX_FPS = 25  # GIF players cap frame delays at 10-20 ms; Hopper's 125 fps would play in slow motion
GIF_MAX_SIZE = 256


def require_video() -> None:
    """ConfigError naming the `video` extra unless imageio and its ffmpeg plugin import: checked
    before rendering or training, not when the first mp4 is written."""
    require_extra("imageio", "video", "video recording")
    require_extra("imageio_ffmpeg", "video", "mp4 writing")


def default_gl_backend() -> str:
    """Set MUJOCO_GL=egl when unset on a display-less machine; returns the backend in effect."""
    if not os.environ.get("MUJOCO_GL") and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "egl"
    return os.environ.get("MUJOCO_GL", "")


class EpisodeRecorder:
    """A gymnasium env with render_mode="rgb_array", kept open so its GL context is made once.

    Shadows and reflections are switched off: on this 2-core CPU (mesa llvmpipe) a 480x480 Hopper
    frame takes ~118 ms with them and ~34 ms without (measured); the picture barely changes.
    """

    def __init__(
        self,
        env_id: str,
        seed: int = 0,
        size: int = 256,
        shadows: bool = False,
        make_env: Callable[[], Any] | None = None,
    ):
        """make_env: builds the env to record (render_mode rgb_array, observations as the policy was
        trained on), for envs that need more than `gym.make(env_id)`: Atari's preprocessing
        (rlmeta.envs.atari.recording_env)."""
        import gymnasium as gym

        if make_env is None and env_id not in gym.registry:
            raise ConfigError(
                f"videos record gymnasium envs and '{env_id}' is not one "
                "(board-game runs: `rlmeta render RUN_DIR` prints their games)"
            )
        require_video()
        gl = default_gl_backend()
        self.env_id, self.seed, self.shadows = env_id, seed, shadows
        self.env: Any = None  # the gymnasium env (None once closed)
        self._episodes = 0
        try:  # make and draw one frame now, so a machine that cannot render fails in one line up front
            if make_env is not None:
                self.env = make_env()
            else:
                try:
                    self.env = gym.make(env_id, render_mode="rgb_array", width=size, height=size)
                except TypeError:  # non-MuJoCo envs take no width/height
                    self.env = gym.make(env_id, render_mode="rgb_array")
            self.fps = int(self.env.metadata.get("render_fps") or 30)
            self.env.reset(seed=seed)
            self._render()
        except ConfigError:
            raise
        except gym.error.DependencyNotInstalled as e:  # e.g. classic-control envs need pygame
            self.close()
            raise ConfigError(f"cannot render '{env_id}': {str(e).splitlines()[0][:160]}") from None
        except Exception as e:
            self.close()
            raise ConfigError(
                f"headless rendering of '{env_id}' failed with MUJOCO_GL={gl or 'unset'} "
                f"({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}); MuJoCo needs "
                f"mesa's EGL (apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri) for egl, "
                f"or libosmesa6 for osmesa"
            ) from None

    def _render(self) -> np.ndarray:
        frame = self.env.render()  # [H, W, 3] uint8
        viewer = getattr(getattr(self.env.unwrapped, "mujoco_renderer", None), "viewer", None)
        if viewer is not None and not self.shadows and hasattr(viewer, "scn"):
            import mujoco

            # flags persist in the scene; set after the constructor's probe frame, so every
            # recorded frame is rendered without them
            viewer.scn.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            viewer.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        return frame

    def record(
        self,
        policy_fn: PolicyFn,
        normalize: Callable[[np.ndarray], np.ndarray] | None = None,
        max_steps: int = 100_000,
        seed: int | None = None,
    ) -> tuple[np.ndarray, float, int]:
        """One episode -> (frames [T+1, H, W, 3] uint8 incl. the reset frame, raw return, length T).

        normalize: the training VecEnv's `normalize` (frozen observation statistics), so the policy
        sees observations as in training. Actions are clipped to the action box, as the VecEnv does.
        seed: the episode's reset seed; default: the constructor's seed + k for the k-th episode.
        """
        import gymnasium as gym

        obs, _ = self.env.reset(seed=self.seed + self._episodes if seed is None else seed)
        self._episodes += 1
        space = self.env.action_space
        frames, ret, t = [self._render()], 0.0, 0
        for t in range(1, max_steps + 1):  # noqa: B007 (t, the steps taken, is read after the loop)
            x = np.asarray(obs)[None]  # [1, obs_dim] (or [1, 4, 84, 84] uint8 frames)
            x = x if x.dtype == np.uint8 else x.astype(np.float32)
            if normalize is not None:
                x = normalize(x)
            action: Any = policy_fn(x)[0]
            if isinstance(space, gym.spaces.Box):
                action = np.clip(action, space.low, space.high)
            elif isinstance(space, gym.spaces.Discrete):  # a [1] float index -> the env's integer
                action = int(np.asarray(action).reshape(-1)[0]) + int(space.start)
            elif isinstance(space, gym.spaces.MultiDiscrete):  # [K] float indices -> integers
                action = np.asarray(action).astype(np.int64) + space.start
            obs, reward, term, trunc, _ = self.env.step(action)
            ret += float(reward)
            frames.append(self._render())
            if term or trunc:
                break
        return np.stack(frames), ret, t

    def close(self) -> None:
        if self.env is not None:
            self.env.close()


def write_mp4(frames: np.ndarray, path: str | Path, fps: int) -> Path:
    """frames [T, H, W, 3] uint8 -> H.264 mp4 (yuv420p, plays in browsers and W&B); atomic."""
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.mp4")
    # macro_block_size=1: keep the exact size (ffmpeg would otherwise pad to multiples of 16)
    with imageio.get_writer(
        tmp, fps=fps, codec="libx264", quality=7, pixelformat="yuv420p", macro_block_size=1, ffmpeg_log_level="error"
    ) as w:
        for f in frames:
            w.append_data(f)  # type: ignore[attr-defined]  # (imageio's stubs type v2's writer as its base)
    tmp.replace(path)
    return path


def write_gif(frames: np.ndarray, path: str | Path, fps: int) -> Path:
    """A small GIF for a README: subsampled to <= GIF_MAX_FPS and <= GIF_MAX_SIZE pixels wide."""
    import imageio.v2 as imageio

    step = max(1, -(-fps // GIF_MAX_FPS))  # ceil
    stride = max(1, -(-frames.shape[2] // GIF_MAX_SIZE))
    small = frames[::step, ::stride, ::stride]  # [T', H', W', 3]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, list(small), duration=1000 * step / fps, loop=0)
    return path


def read_frames(path: str | Path) -> np.ndarray:
    """Decode a video to frames [T, H, W, 3] uint8 (used by tests and for checking a file)."""
    import imageio.v2 as imageio

    with imageio.get_reader(path) as r:
        return np.stack([frame for frame in r])  # type: ignore[attr-defined]  # noqa: C416 (stubs: not iterable)
