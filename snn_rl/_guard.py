"""The engine's finiteness guard: NaN or inf in a neuron's input or a rule's weights raises,
naming what and the first step where it happened, instead of spreading silently.

On the CPU a check is one reduction and one host read (``float(x.sum())``; only when that
sum is not finite is the exact ``isfinite(x).all()`` computed, so large finite values never
raise) and raises at once. On other devices the check accumulates on the device, with no
host sync, and :meth:`FiniteGuard.verify` raises for the first failure; the owner verifies
at its own cadence (the agents: with the env driver's check, every 64 env steps).

A guard belongs to one object (a population, a rule) and counts that object's steps.
Turning checks off (``check_finite=False`` on a population or a rule) removes their cost.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["FiniteGuard", "NonFiniteError"]


class NonFiniteError(ValueError):
    """A tensor that must stay finite held NaN or inf."""


class FiniteGuard:
    """Finiteness checks of one object's tensors, with the step at which they failed.

    Attributes:
        step: the owner's step count (the owner increments it).
    """

    __slots__ = ("step", "_bad", "_first", "_what")

    def __init__(self) -> None:
        self.step = 0
        self._bad: Tensor | None = None
        self._first: Tensor | None = None
        self._what = ""

    def check(self, x: Tensor, what: str, *args: object) -> None:
        """Raise :class:`NonFiniteError` (CPU) or record (other devices) if ``x`` is not all
        finite; ``what.format(*args)`` describes it (formatted only for the message)."""
        if x.is_cpu:
            if math.isfinite(x.sum().item()) or bool(torch.isfinite(x).all()):
                return
            raise NonFiniteError(f"{what.format(*args)} became NaN or inf at step {self.step}")
        bad = ~torch.isfinite(x).all()
        if self._bad is None:
            self._bad = torch.zeros((), dtype=torch.bool, device=x.device)
            self._first = torch.full((), -1, dtype=torch.long, device=x.device)
        newly = bad & ~self._bad
        self._first = torch.where(newly, torch.full_like(self._first, self.step), self._first)
        if not self._what:
            self._what = what.format(*args)
        self._bad = self._bad | bad

    def verify(self) -> None:
        """Raise for a failure recorded on a non-CPU device (one host sync)."""
        if self._bad is not None and bool(self._bad):
            raise NonFiniteError(
                f"{self._what} became NaN or inf, first at step {int(self._first)}"
            )

    def reset(self) -> None:
        """Restart the step count (failures already recorded are kept until verified)."""
        self.step = 0
