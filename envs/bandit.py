"""``snn_rl/Bandit-v0``: a k-armed Bernoulli bandit, the smallest reward-learning task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from snn_rl._validation import check_int

__all__ = ["BanditEnv"]


class BanditEnv(gym.Env[np.int64, np.int64]):
    """k-armed Bernoulli bandit: pulling arm ``a`` pays 1 with probability ``probs[a]``, else 0.

    The observation is constant (``Discrete(1)``, always 0: the agents encode it as one
    input neuron that is always on), so the task is to learn which action pays best. An
    episode is ``episode_length`` pulls and then terminates. The registered
    ``reward_threshold`` (0.75 per pull for the default ``probs=(0.2, 0.8)``) needs the best
    arm on about 92 % of pulls; ``optimal_return`` gives the best possible mean return for
    other settings. Rewards are drawn from ``np_random`` (seed with ``reset(seed=...)``).

    Args:
        probs: Payout probability of each arm, each in [0, 1]; k = ``len(probs)`` >= 2.
        episode_length: Pulls per episode.
        render_mode: None or "ansi".

    Example:
        >>> env = BanditEnv(probs=(0.0, 1.0))
        >>> env.reset(seed=0)
        (0, {})
        >>> env.step(1)[:4], env.optimal_return
        ((0, 1.0, True, False), 1.0)
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        *,
        probs: Sequence[float] = (0.2, 0.8),
        episode_length: int = 1,
        render_mode: str | None = None,
    ) -> None:
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 1 or probs.size < 2 or not np.all((probs >= 0) & (probs <= 1)):
            raise ValueError(f"probs must be >= 2 probabilities in [0, 1], got {probs.tolist()}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.probs = probs
        self.episode_length = check_int("episode_length", episode_length, minimum=1)
        self.render_mode = render_mode
        self.observation_space = spaces.Discrete(1)
        self.action_space = spaces.Discrete(probs.size)
        self._pulls = 0
        self._last: tuple[int, float] | None = None

    @property
    def optimal_return(self) -> float:
        """Expected return of always pulling the best arm."""
        return float(self.probs.max() * self.episode_length)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self._pulls, self._last = 0, None
        return 0, {}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(
                f"action must be an int in [0, {self.action_space.n - 1}], got {action!r}"
            )
        arm = int(action)
        reward = float(self.np_random.random() < self.probs[arm])
        self._pulls += 1
        self._last = (arm, reward)
        info = {
            "expected_reward": float(self.probs[arm]),
            "regret": float(self.probs.max() - self.probs[arm]),
        }
        return 0, reward, self._pulls >= self.episode_length, False, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        if self._last is None:
            return f"bandit with probs {self.probs.tolist()}: no pull yet"
        arm, reward = self._last
        return f"pull {self._pulls}/{self.episode_length}: arm {arm} -> reward {reward:g}"
