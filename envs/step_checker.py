"""StepChecker: a single env's reset/step outputs checked at every call, with errors that say
what the env returned and what its spaces promise (instead of an error from deep inside a
vector env's batching)."""

from __future__ import annotations

import numbers
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["StepChecker"]


class StepChecker(gym.Wrapper):
    """Raise ValueError when the wrapped env returns an observation that does not fit its
    observation space's shape, or a reward that is not one real number, or flags that are
    not bools. Everything else passes through unchanged.

    Example:
        >>> env = StepChecker(gym.make("CartPole-v1"))
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape
        (4,)
    """

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._check_obs(obs, "reset")
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._check_obs(obs, "step")
        if isinstance(reward, bool) or not isinstance(reward, numbers.Real | np.ndarray):
            raise ValueError(
                f"{self._name}.step returned a reward {reward!r}; a reward is a number"
            )
        if isinstance(reward, np.ndarray) and reward.size != 1:
            raise ValueError(
                f"{self._name}.step returned a reward of shape {reward.shape}; a reward is one "
                "number per step (combine vector rewards with a reward wrapper first)"
            )
        for name, flag in (("terminated", terminated), ("truncated", truncated)):
            if not isinstance(flag, bool | np.bool_):
                raise ValueError(f"{self._name}.step returned {name}={flag!r}; it must be a bool")
        return obs, reward, terminated, truncated, info

    @property
    def _name(self) -> str:
        spec = getattr(self.env, "spec", None)
        return getattr(spec, "id", None) or type(self.env.unwrapped).__name__

    def _check_obs(self, obs: Any, where: str) -> None:
        space = self.observation_space
        if isinstance(space, gym.spaces.Discrete):
            if np.ndim(obs) != 0:
                raise ValueError(
                    f"{self._name}.{where} returned an observation of shape {np.shape(obs)}, but "
                    f"its observation space {space} holds single integers"
                )
            return
        shape = getattr(space, "shape", None)
        if shape is not None and np.shape(obs) != tuple(shape):
            raise ValueError(
                f"{self._name}.{where} returned an observation of shape {np.shape(obs)}, but its "
                f"observation space {space} has shape {tuple(shape)}"
            )
