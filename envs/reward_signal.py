"""Reward signals: the modulatory third factor that plasticity sees, computed from transitions.

The signal that gates a three-factor rule is not always the env reward: it may be the reward
minus its running mean (reward-prediction error), the TD error of a critic, a shaped reward,
or a user function. Every signal is a :class:`RewardSignal` called once per env step::

    signal = reward_signal(reward, terminated, truncated, obs, next_obs, active=active)

with ``reward``, ``terminated``, ``truncated`` of shape ``(B,)`` and ``obs``, ``next_obs`` of
shape ``(B, *obs_shape)`` (numpy arrays or tensors on any device). ``next_obs`` is the TRUE
next observation of the transition: for a row whose episode ended it is the final
observation, not the reset one (with Gymnasium's NEXT_STEP autoreset that is what the done
step returns; with SAME_STEP it is ``info["final_obs"]``). ``active`` marks the rows that are
real transitions; the others (such as NEXT_STEP's dummy step after a done) get signal 0 and
change no internal state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["RewardSignal", "Transition"]


@dataclass(frozen=True)
class Transition:
    """One validated batch of transitions on the signal's device.

    Attributes:
        reward: ``(B,)`` float env rewards.
        terminated: ``(B,)`` bool.
        truncated: ``(B,)`` bool.
        obs: ``(B, *obs_shape)`` observations (float in the signal's dtype, or integer for
            discrete observations).
        next_obs: Same shape: the true next observations.
        active: ``(B,)`` bool, rows that are real transitions.
    """

    reward: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    obs: torch.Tensor
    next_obs: torch.Tensor
    active: torch.Tensor


class RewardSignal:
    """Base class of reward signals (see the module docstring for the call protocol).

    A subclass implements :meth:`compute` (signal of a validated :class:`Transition`; 0 on
    inactive rows, internal state updated from active rows only) and, if it has state,
    :meth:`reset`, :meth:`state_dict`, :meth:`load_state_dict` and :meth:`_move`.
    ``reset`` clears per-episode state only (eligibility traces); learned quantities
    (running means, critic weights) persist and are what ``state_dict`` saves.

    Signals combine: ``a + b``, ``a - b``, ``0.5 * a`` and ``sum([a, b])`` build a
    :class:`SumSignal` whose parts keep their own state.

    Args:
        check_finite: Raise ValueError on non-finite rewards or observations (one host sync
            per call on CUDA; turn off in a loop that must not sync).
    """

    def __init__(self, *, check_finite: bool = True) -> None:
        if not isinstance(check_finite, bool):
            raise TypeError(f"check_finite must be a bool, got {type(check_finite).__name__}")
        self.check_finite = check_finite
        self.device = torch.device("cpu")
        self.dtype = torch.float32

    def __call__(
        self,
        reward: Any,
        terminated: Any,
        truncated: Any,
        obs: Any,
        next_obs: Any,
        *,
        active: Any = None,
    ) -> torch.Tensor:
        """Signal of one batch of transitions, shape ``(B,)`` on ``device`` in ``dtype``."""
        return self.compute(self.transition(reward, terminated, truncated, obs, next_obs, active))

    def compute(self, t: Transition) -> torch.Tensor:
        """Signal ``(B,)`` of a validated transition; subclasses implement it."""
        raise NotImplementedError

    def reset(self, mask: torch.Tensor | np.ndarray | None = None) -> None:
        """Clear per-episode state of all rows (``mask=None``) or of the ``(B,)`` masked rows."""

    def state_dict(self) -> dict[str, Any]:
        """State as plain tensors and Python values (``torch.load(weights_only=True)`` safe)."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        expected = set(self.state_dict())
        if set(state_dict) != expected:
            raise KeyError(
                f"{type(self).__name__} state_dict needs keys {sorted(expected)}, "
                f"got {sorted(state_dict)}"
            )

    def to(
        self, device: str | torch.device | None = None, dtype: torch.dtype | None = None
    ) -> RewardSignal:
        """Move the signal's state (and its output) to ``device`` / ``dtype``; returns self."""
        if dtype is not None and not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating dtype, got {dtype}")
        self.device = torch.device(device) if device is not None else self.device
        self.dtype = dtype or self.dtype
        self._move()
        return self

    def _move(self) -> None:
        """Move state tensors to ``self.device`` / ``self.dtype`` (stateless: nothing)."""

    # ------------------------------------------------------------------ input handling
    def transition(
        self,
        reward: Any,
        terminated: Any,
        truncated: Any,
        obs: Any,
        next_obs: Any,
        active: Any = None,
    ) -> Transition:
        """Validate and convert the call arguments (see the module docstring)."""
        reward = torch.as_tensor(reward, device=self.device)
        if reward.ndim != 1 or reward.dtype == torch.bool or reward.is_complex():
            raise ValueError(
                f"reward must be a real (B,) array, got shape {tuple(reward.shape)} "
                f"dtype {reward.dtype}"
            )
        batch = reward.shape[0]
        obs, next_obs = self._as_obs("obs", obs, batch), self._as_obs("next_obs", next_obs, batch)
        if next_obs.shape != obs.shape:
            raise ValueError(
                f"next_obs must have the shape of obs {tuple(obs.shape)}, "
                f"got {tuple(next_obs.shape)}"
            )
        t = Transition(
            reward=reward.to(self.dtype),
            terminated=self._as_flags("terminated", terminated, batch),
            truncated=self._as_flags("truncated", truncated, batch),
            obs=obs,
            next_obs=next_obs,
            active=(
                torch.ones(batch, dtype=torch.bool, device=self.device)
                if active is None
                else self._as_flags("active", active, batch)
            ),
        )
        if self.check_finite:
            _raise_if_not_finite({"reward": t.reward, "obs": t.obs, "next_obs": t.next_obs})
        return t

    def _as_obs(self, name: str, value: Any, batch: int) -> torch.Tensor:
        value = torch.as_tensor(value, device=self.device)
        if value.ndim < 1 or value.shape[0] != batch:
            raise ValueError(
                f"{name} must have shape (B, *obs_shape) with B={batch} (the reward's length), "
                f"got {tuple(value.shape)}"
            )
        return value.to(self.dtype) if value.is_floating_point() else value

    def _as_flags(self, name: str, value: Any, batch: int) -> torch.Tensor:
        value = torch.as_tensor(value, device=self.device)
        if value.shape != (batch,) or value.is_floating_point() or value.is_complex():
            raise ValueError(
                f"{name} must be a bool (B,) array with B={batch}, got shape "
                f"{tuple(value.shape)} dtype {value.dtype}"
            )
        return value.bool()

    def _check_mask(self, mask: Any, batch: int) -> torch.Tensor:
        return self._as_flags("mask", mask, batch)

    # -------------------------------------------------------------------- composition
    # SumSignal is defined with the other built-ins; imported here to avoid an import cycle.
    def __add__(self, other: Any) -> RewardSignal:
        from .basic_rewards import SumSignal

        if isinstance(other, RewardSignal):
            return SumSignal([self, other])
        if isinstance(other, int | float) and other == 0:
            return self  # lets sum([a, b]) start from 0
        return NotImplemented

    __radd__ = __add__

    def __mul__(self, weight: Any) -> RewardSignal:
        from .basic_rewards import SumSignal

        if isinstance(weight, bool) or not isinstance(weight, int | float):
            return NotImplemented
        return SumSignal([self], [float(weight)])

    __rmul__ = __mul__

    def __neg__(self) -> RewardSignal:
        from .basic_rewards import SumSignal

        return SumSignal([self], [-1.0])

    def __sub__(self, other: Any) -> RewardSignal:
        from .basic_rewards import SumSignal

        if not isinstance(other, RewardSignal):
            return NotImplemented
        return SumSignal([self, other], [1.0, -1.0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _raise_if_not_finite(tensors: dict[str, torch.Tensor]) -> None:
    floats = {k: v for k, v in tensors.items() if v.is_floating_point()}
    if not floats:
        return
    ok = torch.stack([torch.isfinite(v).all() for v in floats.values()])
    if bool(ok.all()):
        return
    bad = [name for name, good in zip(floats, ok.tolist(), strict=True) if not good]
    raise ValueError(f"{', '.join(bad)} must be finite (found NaN or inf)")
