"""MountainCar-v0 as a torch-native vector env (Gymnasium's dynamics, state on any device)."""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from snn_rl._validation import check_finite

from .torch_vector import TorchVectorEnv

__all__ = ["TorchMountainCarVec"]


class TorchMountainCarVec(TorchVectorEnv):
    """Gymnasium's ``MountainCar-v0`` for ``num_envs`` cars at once, in torch.

    Same dynamics, bounds, termination (``position >= 0.5`` and ``velocity >=
    goal_velocity``), reward (-1 per step), spaces and reset distribution (position uniform
    in ``[-0.6, -0.4]``, velocity 0) as ``gymnasium.envs.classic_control.MountainCarEnv``.
    Autoreset, time limit, seeding, ``numpy``: see
    :class:`~snn_rl.envs.torch_vector.TorchVectorEnv`.

    Dynamics::

        v <- clip(v + (a - 1) * 0.001 - 0.0025 * cos(3 p), -0.07, 0.07)
        p <- clip(p + v, -1.2, 0.6);  v <- 0 where p == -1.2 and v < 0

    Args:
        num_envs: Number of cars B.
        device: Device of the state and of every returned tensor.
        dtype: Floating dtype of the simulation.
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default), ``SAME_STEP`` or ``DISABLED``.
        numpy: Return numpy arrays instead of tensors.
        max_episode_steps: Time limit (200 for MountainCar-v0).
        goal_velocity: Gymnasium's option: minimum velocity at the goal.

    Shape:
        - actions: ``(B,)`` integers in {0, 1, 2} (push left, none, right).
        - obs = state: ``(B, 2)`` = (position, velocity).

    Example:
        >>> import torch
        >>> env = TorchMountainCarVec(2)
        >>> obs, info = env.reset(seed=0)
        >>> obs[:, 1]
        tensor([0., 0.])
        >>> env.step(torch.tensor([2, 0]))[1]
        tensor([-1., -1.])
    """

    state_names = ("position", "velocity")
    min_position = -1.2
    max_position = 0.6
    max_speed = 0.07
    goal_position = 0.5
    force = 0.001
    gravity = 0.0025

    def __init__(
        self,
        num_envs: int = 1,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        numpy: bool = False,
        max_episode_steps: int = 200,
        goal_velocity: float = 0.0,
    ) -> None:
        low = np.array([self.min_position, -self.max_speed], dtype=np.float32)
        high = np.array([self.max_position, self.max_speed], dtype=np.float32)
        super().__init__(
            num_envs,
            device=device,
            dtype=dtype,
            autoreset_mode=autoreset_mode,
            numpy=numpy,
            max_episode_steps=max_episode_steps,
            single_observation_space=spaces.Box(low, high, dtype=np.float32),
            single_action_space=spaces.Discrete(3),
            reset_low=(-0.6, 0.0),
            reset_high=(-0.4, 0.0),
        )
        self.goal_velocity = check_finite("goal_velocity", goal_velocity)

    def _reset_bounds(self, options: dict | None) -> tuple[tuple[float, ...], ...]:
        """Gymnasium's ``low``/``high`` options bound the position only (velocity stays 0)."""
        if not options or ("low" not in options and "high" not in options):
            return self._default_bounds
        low = float(options.get("low", -0.6))
        high = float(options.get("high", -0.4))
        if not low <= high:
            raise ValueError(f"options['low'] ({low}) must be <= options['high'] ({high})")
        return (low, 0.0), (high, 0.0)

    def _dynamics(
        self, state: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        position, velocity = state
        push = (action - 1).to(self.dtype) * self.force
        velocity = velocity + (push + torch.cos(3 * position) * -self.gravity)
        velocity = velocity.clamp(-self.max_speed, self.max_speed)
        position = (position + velocity).clamp(self.min_position, self.max_position)
        velocity = velocity.masked_fill((position == self.min_position) & (velocity < 0), 0.0)
        terminated = (position >= self.goal_position) & (velocity >= self.goal_velocity)
        reward = torch.full_like(position, -1.0)
        return torch.stack((position, velocity)), reward, terminated

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        return state.T
