"""``snn_rl/XOR-v0``: Florian's (2007) XOR task for reward-modulated plasticity."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from snn_rl._validation import check_int

__all__ = ["XOREnv"]


class XOREnv(gym.Env[np.ndarray, np.int64]):
    """Show two binary inputs; the agent must answer their XOR: +1 if right, -1 if wrong.

    The observation is ``Box(0, 1, (2,), float32)`` holding the two bits (each 0.0 or 1.0),
    drawn uniformly from the four patterns with ``np_random``; the action is ``Discrete(2)``.
    An episode is ``episode_length`` trials (a new pattern after each), then terminates. The
    registered ``reward_threshold`` is 0.9 per trial (about 95 % correct answers).

    Args:
        episode_length: Trials per episode.
        render_mode: None or "ansi".

    Example:
        >>> env = XOREnv()
        >>> obs, _ = env.reset(seed=0)
        >>> answer = int(obs[0]) ^ int(obs[1])
        >>> env.step(answer)[1:3]
        (1.0, True)
        >>> _ = env.reset(seed=0)
        >>> env.step(1 - answer)[1]
        -1.0
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, *, episode_length: int = 1, render_mode: str | None = None) -> None:
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.episode_length = check_int("episode_length", episode_length, minimum=1)
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self._bits = np.zeros(2, dtype=np.int64)
        self._trials = 0
        self._last: tuple[str, int, float] | None = None

    def _draw(self) -> np.ndarray:
        self._bits = self.np_random.integers(0, 2, size=2)
        return self._bits.astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._trials, self._last = 0, None
        return self._draw(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0 or 1, got {action!r}")
        target = int(self._bits[0] ^ self._bits[1])
        reward = 1.0 if int(action) == target else -1.0
        self._trials += 1
        self._last = (f"{self._bits[0]} xor {self._bits[1]}", int(action), reward)
        terminated = self._trials >= self.episode_length
        obs = self._bits.astype(np.float32) if terminated else self._draw()
        return obs, reward, terminated, False, {"target": target}

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        if self._last is None:
            return f"inputs {self._bits[0]} xor {self._bits[1]}"
        bits, action, reward = self._last
        return (
            f"trial {self._trials}/{self.episode_length}: {bits}, answered {action} -> {reward:g}"
        )
