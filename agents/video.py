"""Watch a trained model, on the screen or as a video file (``snn-rl enjoy``).

``play(model, env_id, output="run.mp4")`` runs deterministic episodes of anything with SB3's
``predict`` (a spiking agent or an SB3 model) and streams the frames of
``render_mode="rgb_array"`` to an ``.mp4`` (H.264 through imageio-ffmpeg, at the env's
``render_fps``) or an animated ``.gif`` (Pillow); without ``output`` the env opens its own
window (``render_mode="human"``). Everything that can fail before the episode is checked
before it: the file's suffix, that its folder can be written, that the writer is installed,
and, for the screen, that there is a display. The file appears only when it is complete
(:func:`~snn_rl.agents._io.atomic_write`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from snn_rl._validation import check_int
from snn_rl.agents._io import atomic_write, check_output_dir

__all__ = ["VIDEO_SUFFIXES", "check_video_path", "play"]

VIDEO_SUFFIXES = (".mp4", ".gif")
DEFAULT_FPS = 30


def check_video_path(path: str | os.PathLike, option: str = "output") -> Path:
    """``path`` as a Path that a video can be written to: a ``.mp4`` or ``.gif`` name in a
    writable folder, with its writer installed; ValueError or ImportError naming ``option``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"{option} must end in .mp4 or .gif, got {path}")
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder; give a file name ending in {suffix}")
    check_output_dir(path.parent, option)
    try:
        if suffix == ".mp4":
            import imageio_ffmpeg  # noqa: F401
        else:
            import PIL  # noqa: F401
    except ImportError as err:
        need = "imageio-ffmpeg" if suffix == ".mp4" else "Pillow"
        raise ImportError(f"writing a {suffix} needs {need}; pip install 'snn-rl[video]'") from err
    return path


def has_display() -> bool:
    """Whether a window can be opened: always off Linux; on Linux an X or Wayland display,
    or an SDL video driver chosen by the user (``SDL_VIDEODRIVER``)."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"))


@contextmanager
def _mp4_writer(tmp: Path, fps: float) -> Iterator[Any]:
    import imageio_ffmpeg

    writer = None

    def add(frame: np.ndarray) -> None:
        nonlocal writer
        if writer is None:
            height, width = frame.shape[:2]
            writer = imageio_ffmpeg.write_frames(
                str(tmp),
                (width, height),
                fps=fps,
                output_params=["-f", "mp4"],  # the temporary name has no .mp4 suffix
                macro_block_size=2,
                ffmpeg_log_level="error",
            )
            writer.send(None)
        writer.send(np.ascontiguousarray(frame[..., :3], dtype=np.uint8))

    try:
        yield add
    finally:
        if writer is not None:
            writer.close()


@contextmanager
def _gif_writer(tmp: Path, fps: float) -> Iterator[Any]:
    from PIL import Image

    images = []  # palette images: a third of the memory of the RGB frames

    def add(frame: np.ndarray) -> None:
        images.append(Image.fromarray(np.asarray(frame[..., :3], dtype=np.uint8)).quantize())

    yield add
    if images:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(20, round(1000 / fps)),
            loop=0,
        )


def play(
    model: Any,
    env_id: str,
    *,
    episodes: int = 1,
    seed: int = 0,
    max_steps: int = 1000,
    output: str | os.PathLike | None = None,
    env_kwargs: dict | None = None,
) -> tuple[list[float], int]:
    """Run ``episodes`` deterministic episodes of ``model`` on ``env_id`` (seeded ``seed``,
    ``seed + 1``, ...; at most ``max_steps`` steps each) and show them on the screen, or
    write them to ``output`` (``.mp4`` or ``.gif``).

    Returns:
        The episode returns and the number of frames written (0 on the screen).
    """
    from snn_rl.agents.env_util import env_spec, make_env

    check_int("episodes", episodes, minimum=1)
    check_int("max_steps", max_steps, minimum=1)
    spec = env_spec(env_id)
    path = None if output is None else check_video_path(output)
    if path is None and not has_display():
        raise RuntimeError(
            f"no display to show {env_id} on (DISPLAY is not set); pass an output file "
            "(snn-rl enjoy ... --output run.mp4 or run.gif) to write a video instead"
        )
    try:
        env = make_env(
            env_id,
            env_kwargs=env_kwargs,
            render_mode="human" if path is None else "rgb_array",
            max_episode_steps=None if spec.max_episode_steps else max_steps,
        )
    except ImportError as err:
        raise ImportError(f"rendering {env_id} needs {err.name or err}: {err}") from err
    returns: list[float] = []
    frames = 0

    def run(add_frame: Any) -> None:
        nonlocal frames
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + episode)
            state, total, start = None, 0.0, True
            if add_frame is not None:
                add_frame(env.render())
                frames += 1
            for _ in range(max_steps):
                action, state = model.predict(
                    obs, state=state, episode_start=np.array([start]), deterministic=True
                )
                start = False
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                if add_frame is not None:
                    add_frame(env.render())
                    frames += 1
                if terminated or truncated:
                    break
            returns.append(total)

    try:
        if path is None:
            run(None)
        else:
            fps = float(env.metadata.get("render_fps") or DEFAULT_FPS)
            writer = _mp4_writer if path.suffix.lower() == ".mp4" else _gif_writer

            def write(tmp: Path) -> None:
                with writer(tmp, fps) as add:
                    run(add)

            atomic_write(path, write)
    finally:
        env.close()
    return returns, frames
