"""Image observations as spiking agents take them: frames from a renderer, and an event code.

:class:`PixelFrames` replaces an env's observation by its rendered frame, downsampled (and
grey by default); :class:`EventFrames` turns an image env into an event camera's ON/OFF
channels. ``snn_rl/PixelCartPole-v1`` is CartPole-v1 seen that way: 40 x 60 grey frames,
event-coded with the current frame kept, ``(3, 40, 60)`` channels first; ``snn_rl/Events-v0``
is any image env seen that way, named by its ``env_id`` keyword (``gym.make("snn_rl/Events-v0",
env_id="MinAtar/Breakout-v1")``, or ``snn-rl train snn_rl/Events-v0 --env-kwargs
env_id=MinAtar/Breakout-v1``), so the spiking agents and the SB3 baselines train on the same
event stream.

Event code, per pixel and channel, with ``I_t`` the frame scaled to ``[0, 1]`` (from the
space's bounds) in channels-first order and ``d = I_t - I_{t-1}``::

    ON_t  = 1 if d >  threshold else 0
    OFF_t = 1 if d < -threshold else 0

At a reset ``I_{t-1} = I_t`` (no events). The observation is ``Box(0, 1, (2C, H, W))``
float32: the C ON channels, then the C OFF channels, then (``keep_frame=True``) the C
channels of ``I_t`` itself. An event camera reports changes of log intensity per pixel;
frames of a simulator change in steps, so the difference of successive frames is the
discrete-time form of the same ON/OFF stream.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as nnf

from snn_rl.encoding import image_layout

__all__ = ["EventFrames", "PixelFrames", "make_event_env", "make_pixel_cartpole"]


def _channels_first(frame: np.ndarray, layout: str) -> np.ndarray:
    if layout == "hw":
        return frame[None]
    if layout == "hwc":
        return np.moveaxis(frame, -1, 0)
    return frame


class EventFrames(gym.Wrapper):
    """ON/OFF event channels from successive frames of an image env (module docstring).

    Args:
        env: an env with an image ``Box`` observation space of finite bounds.
        threshold: the change of scaled intensity that makes an event, in ``[0, 1)``.
        keep_frame: also pass the current frame (scaled), after the event channels.
        layout: the env's image layout ("hw", "hwc", "chw" or "auto", see
            :func:`snn_rl.encoding.image_layout`).
    """

    def __init__(
        self, env: gym.Env, threshold: float = 0.1, keep_frame: bool = False, layout: str = "auto"
    ) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box):
            raise ValueError(f"EventFrames needs an image Box observation space, got {space}")
        self.layout = image_layout(space.shape, layout)
        if not 0.0 <= float(threshold) < 1.0:
            raise ValueError(f"threshold must lie in [0, 1), got {threshold}")
        self.threshold, self.keep_frame = float(threshold), bool(keep_frame)
        low, high = float(np.min(space.low)), float(np.max(space.high))
        if not (np.isfinite(low) and np.isfinite(high) and high > low):
            raise ValueError(f"EventFrames needs finite image bounds, got {low:g} to {high:g}")
        self._low, self._range = low, high - low
        c, h, w = _channels_first(np.zeros(space.shape), self.layout).shape
        channels = c * (3 if self.keep_frame else 2)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (channels, h, w), np.float32)
        self._previous: np.ndarray | None = None

    def _scaled(self, obs: Any) -> np.ndarray:
        frame = _channels_first(np.asarray(obs, dtype=np.float32), self.layout)
        return np.clip((frame - self._low) / self._range, 0.0, 1.0)

    def _events(self, frame: np.ndarray) -> np.ndarray:
        d = frame - self._previous
        parts = [d > self.threshold, d < -self.threshold]
        out = np.concatenate(
            [p.astype(np.float32) for p in parts] + ([frame] if self.keep_frame else [])
        )
        self._previous = frame
        return out

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._previous = self._scaled(obs)
        return self._events(self._previous), info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._events(self._scaled(obs)), reward, terminated, truncated, info


class PixelFrames(gym.ObservationWrapper):
    """The env's rendered frame as its observation: ``env.render()`` (``render_mode
    "rgb_array"``) shrunk to ``size = (H, W)`` by averaging blocks of pixels (torch's
    ``adaptive_avg_pool2d``), grey (the mean of R, G, B) unless ``grayscale=False``. Observation: ``Box(0, 255, (H, W) or (H, W, 3), uint8)``."""

    def __init__(self, env: gym.Env, size: tuple[int, int] = (40, 60), grayscale: bool = True):
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise ValueError(
                f"PixelFrames needs an env made with render_mode='rgb_array', got {env.render_mode!r}"
            )
        self.size = (int(size[0]), int(size[1]))
        if min(self.size) < 1:
            raise ValueError(f"size must be two positive ints (H, W), got {size}")
        self.grayscale = bool(grayscale)
        shape = self.size if self.grayscale else (*self.size, 3)
        self.observation_space = gym.spaces.Box(0, 255, shape, np.uint8)

    def observation(self, observation: Any) -> np.ndarray:
        frame = torch.from_numpy(np.ascontiguousarray(self.env.render()))  # (H0, W0, 3) uint8
        x = frame.permute(2, 0, 1).to(torch.float32)
        if self.grayscale:
            x = x.mean(0, keepdim=True)
        small = nnf.adaptive_avg_pool2d(x, self.size)  # block means (overlapping at uneven sizes)
        out = small.round_().to(torch.uint8)
        return (out[0] if self.grayscale else out.permute(1, 2, 0)).numpy()


def make_pixel_cartpole(
    size: tuple[int, int] = (40, 60), threshold: float = 0.1, render_mode: str | None = None
) -> gym.Env:
    """CartPole-v1 seen through its frames: :class:`PixelFrames` (grey, ``size``), then
    :class:`EventFrames` with the frame kept, ``(3, H, W)``. ``render_mode`` is accepted for
    ``gymnasium.make``'s sake; the frames always come from an rgb_array renderer."""
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv

    env = PixelFrames(CartPoleEnv(render_mode="rgb_array"), size=size)
    return EventFrames(env, threshold=threshold, keep_frame=True, layout="hw")


def make_event_env(
    env_id: str,
    threshold: float = 0.1,
    keep_frame: bool = True,
    layout: str = "auto",
    render_mode: str | None = None,
    **env_kwargs: Any,
) -> gym.Env:
    """The image env ``env_id`` (made with ``env_kwargs``, its own time limit kept) seen
    through :class:`EventFrames`: ``snn_rl/Events-v0``'s entry point. ``keep_frame`` defaults to
    True here, so a still object (a paddle at rest) stays visible beside the events."""
    from snn_rl.envs.external import ensure_registered

    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be the id of an image env, got {type(env_id).__name__}")
    ensure_registered(env_id)
    if env_id not in gym.registry:
        raise ValueError(f"env_id: unknown environment id {env_id!r}")
    env = gym.make(env_id, render_mode=render_mode, **env_kwargs)
    return EventFrames(env, threshold=threshold, keep_frame=keep_frame, layout=layout)
