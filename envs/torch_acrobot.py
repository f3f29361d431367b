"""Acrobot-v1 as a torch-native vector env (Gymnasium's "book" dynamics, RK4, any device)."""

from __future__ import annotations

import math

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from .torch_vector import TorchVectorEnv

__all__ = ["TorchAcrobotVec"]


def _wrap(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Gymnasium's ``wrap`` (subtract/add the period while outside ``[low, high]``), batched.

    Adds or subtracts whole periods in one step; for the usual single period the result is
    the same floating-point number as Gymnasium's loop.
    """
    period = high - low
    x = x - torch.ceil((x - high) / period).clamp_(min=0) * period
    return x + torch.ceil((low - x) / period).clamp_(min=0) * period


class TorchAcrobotVec(TorchVectorEnv):
    """Gymnasium's ``Acrobot-v1`` for ``num_envs`` two-link pendulums at once, in torch.

    Same constants, "book" equations of motion, one RK4 step of ``dt = 0.2`` s per env step,
    angle wrapping to ``[-pi, pi]``, velocity bounds (``4 pi``, ``9 pi``), termination
    (``-cos th1 - cos(th1 + th2) > 1``), reward (-1 per step, 0 on the terminating step),
    spaces and reset distribution (every state variable uniform in ``[-0.1, 0.1]``) as
    ``gymnasium.envs.classic_control.AcrobotEnv`` without torque noise (its default).
    Acrobot is chaotic: use ``dtype=torch.float64`` when trajectories must follow
    Gymnasium's float64 ones for long. Autoreset, time limit, seeding, ``numpy``: see
    :class:`~snn_rl.envs.torch_vector.TorchVectorEnv`.

    Args:
        num_envs: Number of acrobots B.
        device: Device of the state and of every returned tensor.
        dtype: Floating dtype of the simulation.
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default), ``SAME_STEP`` or ``DISABLED``.
        numpy: Return numpy arrays instead of tensors.
        max_episode_steps: Time limit (500 for Acrobot-v1).

    Shape:
        - actions: ``(B,)`` integers in {0, 1, 2} (torque -1, 0, +1).
        - state: ``(B, 4)`` = (th1, th2, dth1, dth2).
        - obs: ``(B, 6)`` = (cos th1, sin th1, cos th2, sin th2, dth1, dth2).

    Example:
        >>> import torch
        >>> env = TorchAcrobotVec(2)
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape
        torch.Size([2, 6])
        >>> _, reward, terminated, truncated, _ = env.step(torch.tensor([0, 2]))
        >>> reward, terminated
        (tensor([-1., -1.]), tensor([False, False]))
    """

    state_names = ("theta1", "theta2", "dtheta1", "dtheta2")
    dt = 0.2
    LINK_LENGTH_1 = 1.0
    LINK_MASS_1 = 1.0
    LINK_MASS_2 = 1.0
    LINK_COM_POS_1 = 0.5
    LINK_COM_POS_2 = 0.5
    LINK_MOI = 1.0
    MAX_VEL_1 = 4 * math.pi
    MAX_VEL_2 = 9 * math.pi
    gravity = 9.8

    def __init__(
        self,
        num_envs: int = 1,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        numpy: bool = False,
        max_episode_steps: int = 500,
    ) -> None:
        high = np.array([1.0, 1.0, 1.0, 1.0, self.MAX_VEL_1, self.MAX_VEL_2], dtype=np.float32)
        super().__init__(
            num_envs,
            device=device,
            dtype=dtype,
            autoreset_mode=autoreset_mode,
            numpy=numpy,
            max_episode_steps=max_episode_steps,
            single_observation_space=spaces.Box(-high, high, dtype=np.float32),
            single_action_space=spaces.Discrete(3),
            reset_low=(-0.1,) * 4,
            reset_high=(0.1,) * 4,
        )

    def _derivatives(self, s: torch.Tensor, torque: torch.Tensor) -> torch.Tensor:
        """Time derivative of a ``(4, B)`` state under ``torque`` (Gymnasium's ``_dsdt``)."""
        m1, m2 = self.LINK_MASS_1, self.LINK_MASS_2
        l1, lc1, lc2 = self.LINK_LENGTH_1, self.LINK_COM_POS_1, self.LINK_COM_POS_2
        i1 = i2 = self.LINK_MOI
        g = self.gravity
        theta1, theta2, dtheta1, dtheta2 = s
        cos2, sin2 = torch.cos(theta2), torch.sin(theta2)
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos2) + i1 + i2
        d2 = m2 * (lc2**2 + l1 * lc2 * cos2) + i2
        phi2 = m2 * lc2 * g * torch.cos(theta1 + theta2 - math.pi / 2.0)
        phi1 = (
            -m2 * l1 * lc2 * dtheta2**2 * sin2
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin2
            + (m1 * lc1 + m2 * l1) * g * torch.cos(theta1 - math.pi / 2)
            + phi2
        )
        ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * sin2 - phi2) / (
            m2 * lc2**2 + i2 - d2**2 / d1
        )
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return torch.stack((dtheta1, dtheta2, ddtheta1, ddtheta2))

    def _dynamics(
        self, state: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        torque = (action - 1).to(self.dtype)  # AVAIL_TORQUE = [-1, 0, +1]
        dt, dt2 = self.dt, self.dt / 2.0
        k1 = self._derivatives(state, torque)
        k2 = self._derivatives(state + dt2 * k1, torque)
        k3 = self._derivatives(state + dt2 * k2, torque)
        k4 = self._derivatives(state + dt * k3, torque)
        new = state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        new = torch.stack(
            (
                _wrap(new[0], -math.pi, math.pi),
                _wrap(new[1], -math.pi, math.pi),
                new[2].clamp(-self.MAX_VEL_1, self.MAX_VEL_1),
                new[3].clamp(-self.MAX_VEL_2, self.MAX_VEL_2),
            )
        )
        terminated = -torch.cos(new[0]) - torch.cos(new[1] + new[0]) > 1.0
        reward = terminated.to(self.dtype) - 1.0
        return new, reward, terminated

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        theta1, theta2, dtheta1, dtheta2 = state
        return torch.stack(
            (
                torch.cos(theta1),
                torch.sin(theta1),
                torch.cos(theta2),
                torch.sin(theta2),
                dtheta1,
                dtheta2,
            ),
            dim=1,
        )
