"""Wrappers that replace an env's reward by a reward function of the transition.

Both wrappers subclass the plain ``Wrapper`` / ``VectorWrapper`` rather than
``RewardWrapper``: a reward function reads the observations and the episode-end flags, which
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

from .rewards import RewardFunction, make_reward_function
from .transition import Transition

__all__ = ["RewardFunctionWrapper", "VectorRewardFunctionWrapper"]

RewardSpec = RewardFunction | str | Callable[[Transition], Any]
_ARRAY_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


def _check_obs_space(space: spaces.Space) -> None:
    if not isinstance(space, _ARRAY_SPACES):
        raise TypeError(
            f"reward-function wrappers need an array observation space "
            f"({', '.join(s.__name__ for s in _ARRAY_SPACES)}), got {space}"
        )


class RewardFunctionWrapper(gym.Wrapper):
    """Replace a single env's reward by a reward function applied with batch size 1.

    Args:
        env: The env (array observations: Box, Discrete, MultiDiscrete or MultiBinary).
        reward: A RewardFunction, a registry name, or a callable ``fn(tr) -> (1,)``.

    Example:
        >>> import gymnasium as gym
        >>> from snn_rl.envs.rewards import TerminalReward
        >>> env = RewardFunctionWrapper(gym.make("CartPole-v1"), TerminalReward(-1.0))
        >>> _ = env.reset(seed=0)
        >>> _, reward, terminated, _, info = env.step(0)
        >>> reward, info["env_reward"]
        (0.0, 1.0)
    """

    def __init__(self, env: gym.Env, reward: RewardSpec) -> None:
        super().__init__(env)
        _check_obs_space(env.observation_space)
        self.reward_function = make_reward_function(reward)
        self._obs: np.ndarray | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs = np.asarray(obs)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(action)
        tr = Transition.from_arrays(
            obs=self._obs[None],
            action=np.asarray(action)[None],
            reward=np.array([reward], dtype=np.float64),
            terminated=np.array([terminated]),
            truncated=np.array([truncated]),
            next_obs=np.asarray(obs)[None],
            info={k: [v] for k, v in info.items()},
        )
        self._obs = np.asarray(obs)
        value = float(self.reward_function(tr)[0])
        return obs, value, terminated, truncated, {**info, "env_reward": reward}


class VectorRewardFunctionWrapper(VectorWrapper):
    """Replace a vector env's rewards by a reward function, autoreset-aware.

    With NEXT_STEP autoreset the dummy step after a done is an inactive row (reward 0); with
    SAME_STEP the true next observation of rows that ended is taken from
    ``info["final_obs"]``. Works with Gymnasium's numpy vector envs (rewards come back as a
    numpy array) and with the torch-native ones (they come back as tensors).

    Args:
        env: The vector env (array observations).
        reward: A RewardFunction, a registry name, or a callable ``fn(tr) -> (B,)``.

    Example:
        >>> import gymnasium as gym
        >>> from snn_rl.envs.rewards import TerminalReward
        >>> envs = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="vector_entry_point")
        >>> envs = VectorRewardFunctionWrapper(envs, TerminalReward(-1.0))
        >>> _ = envs.reset(seed=0)
        >>> envs.step(np.array([0, 1]))[1]
        array([0., 0.], dtype=float32)
    """

    def __init__(self, env: VectorEnv, reward: RewardSpec) -> None:
        super().__init__(env)
        _check_obs_space(env.single_observation_space)
        self.reward_function = make_reward_function(reward)
        self._mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self._obs: Any = None
        self._prev_done: torch.Tensor | None = None

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs = obs
        self._prev_done = torch.zeros(self.num_envs, dtype=torch.bool)
        return obs, info

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        if self._prev_done is None:
            raise RuntimeError("call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(actions)
        device = reward.device if isinstance(reward, torch.Tensor) else None
        next_obs, active = obs, None
        if self._mode is AutoresetMode.NEXT_STEP:
            active = ~self._prev_done
        elif self._mode is AutoresetMode.SAME_STEP:
            next_obs = _true_next_obs(obs, info)
        tr = Transition.from_arrays(
            obs=self._obs,
            action=actions,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            next_obs=next_obs,
            active=active,
            new_obs=obs,
            info=info,
            device=device,
        )
        value = self.reward_function(tr)
        self._prev_done = (tr.done & tr.active).cpu()
        self._obs = obs
        if not isinstance(reward, torch.Tensor):
            value = value.cpu().numpy().astype(np.asarray(reward).dtype, copy=False)
        return obs, value, terminated, truncated, {**info, "env_reward": reward}


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
