"""Wrappers that replace an env's reward by a reward signal (shaping the reward itself).

Both wrappers subclass the plain ``Wrapper`` / ``VectorWrapper`` rather than
``RewardWrapper``: a reward signal needs the observations and the episode-end flags, which
``RewardWrapper.reward(reward)`` never sees. The original reward is kept in
``info["env_reward"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from .rewards import RewardSignal, make_reward_signal

__all__ = ["RewardSignalWrapper", "VectorRewardSignalWrapper"]

SignalSpec = RewardSignal | str | Callable[..., Any]
_ARRAY_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


def _check_obs_space(space: spaces.Space) -> None:
    if not isinstance(space, _ARRAY_SPACES):
        raise TypeError(
            f"reward-signal wrappers need an array observation space "
            f"({', '.join(s.__name__ for s in _ARRAY_SPACES)}), got {space}"
        )


class RewardSignalWrapper(gym.Wrapper):
    """Replace a single env's reward by a reward signal applied with batch size 1.

    Each step calls ``signal([r], [terminated], [truncated], [obs], [next_obs])`` and returns
    its value as the reward; the signal is reset when an episode ends and on ``reset()``.

    Args:
        env: The env (array observations: Box, Discrete, MultiDiscrete or MultiBinary).
        signal: A RewardSignal, a registry name (see ``make_reward_signal``), or a callable
            ``fn(reward, terminated, truncated, obs, next_obs) -> (1,)``.

    Example:
        >>> import gymnasium as gym
        >>> from snn_rl.envs.rewards import TerminalReward
        >>> env = RewardSignalWrapper(gym.make("CartPole-v1"), TerminalReward(-1.0))
        >>> _ = env.reset(seed=0)
        >>> _, reward, terminated, _, info = env.step(0)
        >>> reward, info["env_reward"]
        (0.0, 1.0)
    """

    def __init__(self, env: gym.Env, signal: SignalSpec) -> None:
        super().__init__(env)
        _check_obs_space(env.observation_space)
        self.signal = make_reward_signal(signal)
        self._obs: np.ndarray | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.signal.reset()
        self._obs = np.asarray(obs)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(action)
        value = self.signal(
            np.array([reward], dtype=np.float64),
            np.array([terminated]),
            np.array([truncated]),
            self._obs[None],
            np.asarray(obs)[None],
        )
        if terminated or truncated:
            self.signal.reset()
        self._obs = np.asarray(obs)
        return obs, float(value[0]), terminated, truncated, {**info, "env_reward": reward}


class VectorRewardSignalWrapper(VectorWrapper):
    """Replace a vector env's rewards by a reward signal, autoreset-aware.

    With NEXT_STEP autoreset the dummy step after a done is passed as inactive (signal 0, no
    state change); with SAME_STEP the true next observation of rows that ended is taken from
    ``info["final_obs"]``. Rows whose episode ended are reset in the signal after each step.
    Works with Gymnasium's numpy vector envs (the signal comes back as a numpy array) and
    with the torch-native ones (it comes back as a tensor on the signal's device).

    Args:
        env: The vector env (array observations).
        signal: A RewardSignal, a registry name, or a callable (see RewardSignalWrapper).

    Example:
        >>> import gymnasium as gym
        >>> from snn_rl.envs.rewards import TerminalReward
        >>> envs = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="vector_entry_point")
        >>> envs = VectorRewardSignalWrapper(envs, TerminalReward(-1.0))
        >>> _ = envs.reset(seed=0)
        >>> envs.step(np.array([0, 1]))[1]
        array([0., 0.], dtype=float32)
    """

    def __init__(self, env: VectorEnv, signal: SignalSpec) -> None:
        super().__init__(env)
        _check_obs_space(env.single_observation_space)
        self.signal = make_reward_signal(signal)
        self._mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self._obs: Any = None
        self._prev_done: torch.Tensor | None = None

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        mask = None if options is None else options.get("reset_mask")
        obs, info = self.env.reset(seed=seed, options=options)
        self.signal.reset(None if mask is None else self._flags(mask))
        self._obs = obs
        self._prev_done = torch.zeros(self.num_envs, dtype=torch.bool, device=self.signal.device)
        return obs, info

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        if self._prev_done is None:
            raise RuntimeError("call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(actions)
        next_obs, active = obs, None
        if self._mode is AutoresetMode.NEXT_STEP:
            active = ~self._prev_done
        elif self._mode is AutoresetMode.SAME_STEP:
            next_obs = _true_next_obs(obs, info)
        value = self.signal(reward, terminated, truncated, self._obs, next_obs, active=active)
        done = self._flags(terminated) | self._flags(truncated)
        self.signal.reset(done if active is None else done & active)
        self._prev_done = done
        self._obs = obs
        if not isinstance(reward, torch.Tensor):
            value = value.cpu().numpy().astype(np.asarray(reward).dtype, copy=False)
        return obs, value, terminated, truncated, {**info, "env_reward": reward}

    def _flags(self, value: Any) -> torch.Tensor:
        return torch.as_tensor(value, device=self.signal.device).bool()


def _true_next_obs(obs: Any, info: dict[str, Any]) -> Any:
    """SAME_STEP: replace the reset observation of rows that ended by their final one."""
    final, mask = info.get("final_obs"), info.get("_final_obs")
    if final is None:
        return obs
    if isinstance(final, torch.Tensor):
        return final  # the torch envs give every row's true next observation
    next_obs = np.array(obs, copy=True)
    for i in np.flatnonzero(mask):
        next_obs[i] = final[i]
    return next_obs
