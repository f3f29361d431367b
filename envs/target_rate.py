"""``snn_rl/TargetRate-v0``: produce a target output firing pattern (Florian 2007)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from snn_rl._validation import check_int

__all__ = ["TargetRateEnv"]


class TargetRateEnv(gym.Env[np.int64, np.ndarray]):
    """Show one of ``n`` input patterns; the agent must fire its outputs at the target rates.

    The observation is the index of the pattern shown (``Discrete(n_patterns)``, drawn
    uniformly with ``np_random``). The action is the vector of output firing rates,
    ``Box(0, 1, (n_out,), float32)`` (the fraction of simulation steps in which each output
    neuron spiked). The reward is the negative mean absolute distance to the pattern's target::

        reward = -mean_j |action_j - targets[pattern, j]|

    An episode is ``episode_length`` trials (a new pattern after each), then terminates. The
    registered ``reward_threshold`` is -0.1 per trial (mean rate error at most 0.1) for the
    default ``targets``.

    Args:
        targets: ``(n_patterns, n_out)`` target rates in [0, 1] (default: two patterns, two
            outputs, each pattern asking one output for 0.8 and the other for 0.2).
        episode_length: Trials per episode.
        render_mode: None or "ansi".

    Example:
        >>> env = TargetRateEnv()
        >>> pattern, _ = env.reset(seed=0)
        >>> env.step(env.targets[pattern])[1]
        0.0
        >>> _ = env.reset(seed=0)
        >>> round(env.step(np.array([0.5, 0.5], dtype=np.float32))[1], 6)  # both off by 0.3
        -0.3
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        *,
        targets: Sequence[Sequence[float]] = ((0.8, 0.2), (0.2, 0.8)),
        episode_length: int = 1,
        render_mode: str | None = None,
    ) -> None:
        targets = np.asarray(targets, dtype=np.float64)
        if targets.ndim != 2 or targets.size == 0 or not np.all((targets >= 0) & (targets <= 1)):
            raise ValueError(
                f"targets must be a non-empty (n_patterns, n_out) array in [0, 1], got {targets}"
            )
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.targets = targets
        self.episode_length = check_int("episode_length", episode_length, minimum=1)
        self.render_mode = render_mode
        self.observation_space = spaces.Discrete(targets.shape[0])
        self.action_space = spaces.Box(0.0, 1.0, shape=(targets.shape[1],), dtype=np.float32)
        self._pattern = 0
        self._trials = 0
        self._last: tuple[int, np.ndarray, float] | None = None

    def _draw(self) -> int:
        self._pattern = int(self.np_random.integers(self.targets.shape[0]))
        return self._pattern

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self._trials, self._last = 0, None
        return self._draw(), {}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        rates = np.asarray(action, dtype=np.float64)
        if rates.shape != self.action_space.shape or not np.all((rates >= 0) & (rates <= 1)):
            raise ValueError(
                f"action must be {self.action_space.shape[0]} firing rates in [0, 1], "
                f"got {action!r}"
            )
        target = self.targets[self._pattern]
        error = float(np.abs(rates - target).mean())
        self._trials += 1
        reward = 0.0 - error  # (not -error: no negative zero)
        self._last = (self._pattern, rates, reward)
        terminated = self._trials >= self.episode_length
        obs = self._pattern if terminated else self._draw()
        return obs, reward, terminated, False, {"target": target.copy(), "error": error}

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        if self._last is None:
            return f"pattern {self._pattern}"
        pattern, rates, reward = self._last
        return (
            f"trial {self._trials}/{self.episode_length}: pattern {pattern}, rates "
            f"{np.round(rates, 3).tolist()} (target {self.targets[pattern].tolist()}) -> "
            f"{reward:.3f}"
        )
