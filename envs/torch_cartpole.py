"""CartPole-v1 as a torch-native vector env (Gymnasium's dynamics, state on any device)."""

from __future__ import annotations

import math

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from snn_rl._validation import check_bool

from .torch_vector import TorchVectorEnv

__all__ = ["TorchCartPoleVec"]


class TorchCartPoleVec(TorchVectorEnv):
    """Gymnasium's ``CartPole-v1`` for ``num_envs`` carts at once, in torch.

    Same constants, Euler integration, termination (``|x| > 2.4`` or ``|theta| > 12 deg``),
    reward (+1 every step, or with ``sutton_barto_reward`` -1 on termination and 0
    otherwise), spaces and reset distribution (every state variable uniform in
    ``[-0.05, 0.05]``) as ``gymnasium.envs.classic_control.CartPoleEnv``; the random
    numbers come from a ``torch.Generator`` instead of numpy, so trajectories are not
    bit-identical to Gymnasium's for one seed. Autoreset, time limit, seeding and the
    ``numpy`` flag: see :class:`~snn_rl.envs.torch_vector.TorchVectorEnv`.

    Dynamics (force ``F = +-10``, ``tau = 0.02``, pole half-length ``l = 0.5``)::

        temp     = (F + m_p l thd^2 sin th) / (m_c + m_p)
        thdd     = (g sin th - cos th temp) / (l (4/3 - m_p cos^2 th / (m_c + m_p)))
        xdd      = temp - m_p l thdd cos th / (m_c + m_p)
        (x, xd, th, thd) <- (x, xd, th, thd) + tau (xd, xdd, thd, thdd)

    Args:
        num_envs: Number of carts B.
        device: Device of the state and of every returned tensor.
        dtype: Floating dtype of the simulation.
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default), ``SAME_STEP`` or ``DISABLED``.
        numpy: Return numpy arrays instead of tensors.
        max_episode_steps: Time limit (500 for CartPole-v1).
        sutton_barto_reward: Gymnasium's option: reward -1 on termination, 0 otherwise.

    Shape:
        - actions: ``(B,)`` integers in {0, 1} (0 pushes left, 1 right).
        - obs: ``(B, 4)`` = (x, x_dot, theta, theta_dot); reward, flags: ``(B,)``.

    Example:
        >>> import torch
        >>> env = TorchCartPoleVec(3)
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, bool(obs.abs().max() <= 0.05)
        (torch.Size([3, 4]), True)
        >>> obs, reward, terminated, truncated, info = env.step(torch.tensor([0, 1, 1]))
        >>> reward
        tensor([1., 1., 1.])
    """

    state_names = ("x", "x_dot", "theta", "theta_dot")
    gravity = 9.8
    masscart = 1.0
    masspole = 0.1
    length = 0.5
    force_mag = 10.0
    tau = 0.02
    theta_threshold_radians = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def __init__(
        self,
        num_envs: int = 1,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        numpy: bool = False,
        max_episode_steps: int = 500,
        sutton_barto_reward: bool = False,
    ) -> None:
        high = np.array(
            [self.x_threshold * 2, np.inf, self.theta_threshold_radians * 2, np.inf],
            dtype=np.float32,
        )
        super().__init__(
            num_envs,
            device=device,
            dtype=dtype,
            autoreset_mode=autoreset_mode,
            numpy=numpy,
            max_episode_steps=max_episode_steps,
            single_observation_space=spaces.Box(-high, high, dtype=np.float32),
            single_action_space=spaces.Discrete(2),
            reset_low=(-0.05,) * 4,
            reset_high=(0.05,) * 4,
        )
        self.sutton_barto_reward = check_bool("sutton_barto_reward", sutton_barto_reward)
        # Constants folded so that one step costs few torch calls (each call has a fixed
        # dispatch cost that dominates at small and medium batch sizes).
        total_mass = self.masspole + self.masscart
        pml = self.masspole * self.length
        l_over_g = self.length / self.gravity
        kwargs = {"dtype": dtype, "device": self.device}
        self._neg_force = torch.tensor(-self.force_mag / total_mass, **kwargs)
        self._den_const = torch.tensor(4.0 / 3.0 * l_over_g, **kwargs)
        self._thresholds = torch.tensor(
            [[self.x_threshold], [self.theta_threshold_radians]], **kwargs
        )
        self._two_force = 2 * self.force_mag / total_mass
        self._pml_over_mass = pml / total_mass
        self._den_coef = -self.masspole / total_mass * l_over_g

    def _dynamics(
        self, state: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _, x_dot, theta, theta_dot = state
        cos, sin = torch.cos(theta), torch.sin(theta)
        # temp = (F + m_p l thd^2 sin) / M with F = (2a - 1) F_max
        force = torch.add(self._neg_force, action, alpha=self._two_force)
        temp = torch.addcmul(force, theta_dot * theta_dot, sin, value=self._pml_over_mass)
        # thdd = (g sin - cos temp) / (l (4/3 - m_p cos^2 / M)), numerator and denominator / g
        num = torch.addcmul(sin, cos, temp, value=-1.0 / self.gravity)
        den = torch.addcmul(self._den_const, cos, cos, value=self._den_coef)
        thetaacc = num.div_(den)
        xacc = torch.addcmul(temp, thetaacc, cos, value=-self._pml_over_mass)
        new = torch.add(state, torch.stack((x_dot, xacc, theta_dot, thetaacc)), alpha=self.tau)
        terminated = (new[0::2].abs() > self._thresholds).any(0)
        if self.sutton_barto_reward:
            return new, -terminated.to(self.dtype), terminated
        return new, torch.ones_like(terminated, dtype=self.dtype), terminated

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        return state.T
