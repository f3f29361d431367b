"""Pendulum-v1 as a torch-native vector env (Gymnasium's dynamics, state on any device)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from snn_rl._validation import check_positive

from .torch_vector import TorchVectorEnv

__all__ = ["TorchPendulumVec"]


class TorchPendulumVec(TorchVectorEnv):
    """Gymnasium's ``Pendulum-v1`` for ``num_envs`` pendulums at once, in torch.

    Same dynamics, torque clipping to ``[-2, 2]``, speed clipping to ``[-8, 8]``, reward,
    spaces and reset distribution (angle uniform in ``[-pi, pi]``, angular velocity uniform
    in ``[-1, 1]``; options ``x_init``/``y_init`` as Gymnasium's) as
    ``gymnasium.envs.classic_control.PendulumEnv``. Never terminates; truncated at the time
    limit. Autoreset, seeding, ``numpy``: see :class:`~snn_rl.envs.torch_vector.TorchVectorEnv`.

    Dynamics (``dt = 0.05``, ``m = l = 1``)::

        reward = -(norm(th)^2 + 0.1 thd^2 + 0.001 u^2),   norm(th) = ((th + pi) mod 2 pi) - pi
        thd <- clip(thd + (3 g / (2 l) sin th + 3 / (m l^2) u) dt, -8, 8);   th <- th + thd dt

    Args:
        num_envs: Number of pendulums B.
        device: Device of the state and of every returned tensor.
        dtype: Floating dtype of the simulation.
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default), ``SAME_STEP`` or ``DISABLED``.
        numpy: Return numpy arrays instead of tensors.
        max_episode_steps: Time limit (200 for Pendulum-v1).
        g: Gravity (Gymnasium's default 10.0).

    Shape:
        - actions: ``(B, 1)`` torques (clipped to [-2, 2]).
        - state: ``(B, 2)`` = (theta, theta_dot); obs: ``(B, 3)`` = (cos, sin, theta_dot).

    Example:
        >>> import torch
        >>> env = TorchPendulumVec(2, dtype=torch.float64)
        >>> _ = env.reset(seed=0)
        >>> env.set_state(torch.tensor([[0.0, 1.0], [math.pi / 2, 0.0]]))
        >>> obs, reward, terminated, truncated, _ = env.step(torch.tensor([[0.0], [5.0]]))
        >>> reward  # -(th^2 + 0.1 thd^2 + 0.001 u^2), u clipped to 2
        tensor([-0.1000, -2.4714], dtype=torch.float64)
    """

    state_names = ("theta", "theta_dot")
    max_speed = 8.0
    max_torque = 2.0
    dt = 0.05
    m = 1.0
    l = 1.0  # noqa: E741 (Gymnasium's name)

    def __init__(
        self,
        num_envs: int = 1,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        numpy: bool = False,
        max_episode_steps: int = 200,
        g: float = 10.0,
    ) -> None:
        high = np.array([1.0, 1.0, self.max_speed], dtype=np.float32)
        super().__init__(
            num_envs,
            device=device,
            dtype=dtype,
            autoreset_mode=autoreset_mode,
            numpy=numpy,
            max_episode_steps=max_episode_steps,
            single_observation_space=spaces.Box(-high, high, dtype=np.float32),
            single_action_space=spaces.Box(
                -self.max_torque, self.max_torque, shape=(1,), dtype=np.float32
            ),
            reset_low=(-math.pi, -1.0),
            reset_high=(math.pi, 1.0),
        )
        self.g = check_positive("g", g)

    def _reset_bounds(self, options: dict[str, Any] | None) -> tuple[tuple[float, ...], ...]:
        """Gymnasium's options: ``x_init`` (angle) and ``y_init`` (velocity), symmetric."""
        if not options or ("x_init" not in options and "y_init" not in options):
            return self._default_bounds
        x = float(options.get("x_init", math.pi))
        y = float(options.get("y_init", 1.0))
        return (-x, -y), (x, y)

    def _dynamics(
        self, state: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        theta, theta_dot = state
        u = action[:, 0].clamp(-self.max_torque, self.max_torque)
        normalized = torch.remainder(theta + math.pi, 2 * math.pi) - math.pi
        costs = normalized**2 + 0.1 * theta_dot**2 + 0.001 * u**2
        acc = 3 * self.g / (2 * self.l) * torch.sin(theta) + 3.0 / (self.m * self.l**2) * u
        new_theta_dot = (theta_dot + acc * self.dt).clamp(-self.max_speed, self.max_speed)
        new_theta = theta + new_theta_dot * self.dt
        terminated = torch.zeros_like(theta, dtype=torch.bool)
        return torch.stack((new_theta, new_theta_dot)), -costs, terminated

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        theta, theta_dot = state
        return torch.stack((torch.cos(theta), torch.sin(theta), theta_dot), dim=1)
