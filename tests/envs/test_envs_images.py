"""EventFrames golden values, PixelFrames shapes, snn_rl/PixelCartPole-v1."""

import gymnasium as gym
import numpy as np
import pytest

import snn_rl.envs  # noqa: F401  (registers the ids)
from snn_rl.envs import EventFrames, PixelFrames


class Script(gym.Env):
    """Plays a fixed list of (2, 2) uint8 frames, one per step."""

    def __init__(self, frames):
        self.frames = [np.asarray(f, dtype=np.uint8) for f in frames]
        self.observation_space = gym.spaces.Box(0, 255, (2, 2), np.uint8)
        self.action_space = gym.spaces.Discrete(1)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return self.frames[0], {}

    def step(self, action):
        self.t += 1
        return self.frames[self.t], 0.0, self.t == len(self.frames) - 1, False, {}


def test_event_frames_golden_values():
    frames = [[[0, 255], [100, 100]], [[255, 255], [0, 110]], [[255, 0], [0, 255]]]
    env = EventFrames(Script(frames), threshold=0.1, keep_frame=True)
    assert env.observation_space.shape == (3, 2, 2)
    obs, _ = env.reset()
    np.testing.assert_array_equal(obs[:2], np.zeros((2, 2, 2)))  # no events at a reset
    np.testing.assert_allclose(obs[2], np.array(frames[0]) / 255, rtol=1e-6)
    obs, *_ = env.step(0)
    # +255 (ON), 0, -100 (OFF), +10 (below 0.1 * 255: nothing)
    np.testing.assert_array_equal(obs[0], [[1, 0], [0, 0]])
    np.testing.assert_array_equal(obs[1], [[0, 0], [1, 0]])
    obs, *_ = env.step(0)
    np.testing.assert_array_equal(obs[0], [[0, 0], [0, 1]])
    np.testing.assert_array_equal(obs[1], [[0, 1], [0, 0]])
    assert EventFrames(Script(frames)).observation_space.shape == (2, 2, 2)
    with pytest.raises(ValueError, match=r"threshold must lie in \[0, 1\)"):
        EventFrames(Script(frames), threshold=1.5)


def test_pixel_frames_and_pixel_cartpole():
    pytest.importorskip("pygame", reason="rendering needs the render extra")
    env = PixelFrames(gym.make("CartPole-v1", render_mode="rgb_array"), size=(20, 30))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (20, 30) and obs.dtype == np.uint8 and 0 < obs.mean() < 255
    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        PixelFrames(gym.make("CartPole-v1"))
    pixel = gym.make("snn_rl/PixelCartPole-v1")
    obs, _ = pixel.reset(seed=0)
    assert obs.shape == (3, 40, 60) and pixel.spec.max_episode_steps == 500
    events = 0.0
    for _ in range(6):  # pushing right: the cart and pole move, and the frames show it
        moved, *_ = pixel.step(1)
        events += float(moved[:2].sum())
    assert events > 0 and moved[2].min() < 1.0


def test_events_id_wraps_the_image_env_it_names():
    pytest.importorskip("minatar", reason="MinAtar is an optional extra")
    env = gym.make("snn_rl/Events-v0", env_id="MinAtar/Breakout-v1")
    assert env.observation_space.shape == (12, 10, 10)  # ON, OFF and the frame of 4 channels
    obs, _ = env.reset(seed=0)
    assert obs[:8].sum() == 0 and obs[8:].sum() > 0  # no events at a reset; the bricks show
    obs, *_ = env.step(1)  # the ball moves: an ON and an OFF event in its channel
    assert obs[1].sum() == 1 and obs[5].sum() == 1
    frames_only = gym.make("snn_rl/Events-v0", env_id="MinAtar/Breakout-v1", keep_frame=False)
    assert frames_only.observation_space.shape == (8, 10, 10)
    with pytest.raises(ValueError, match="env_id: unknown environment id 'NoSuchEnv-v0'"):
        gym.make("snn_rl/Events-v0", env_id="NoSuchEnv-v0")
