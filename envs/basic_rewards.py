"""Built-in reward signals without learned state: raw, terminal shaping, user function, sums."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from snn_rl._validation import check_finite as _check_number
from snn_rl._validation import check_positive

from .reward_signal import RewardSignal, Transition, _raise_if_not_finite

__all__ = ["EnvReward", "FunctionReward", "SumSignal", "TerminalReward"]


class EnvReward(RewardSignal):
    """The env reward itself, optionally scaled and clipped: ``clip(scale * r, -c, c)``.

    Args:
        scale: Multiplies the reward.
        clip: Symmetric clip bound ``c > 0`` applied after scaling (None: no clip).
        check_finite: See :class:`RewardSignal`.

    Shape:
        - reward, output: ``(B,)``.

    Example:
        >>> EnvReward(scale=2.0, clip=1.5)([1.0, -0.25], [False, True], [False, False],
        ...                               [[0.0], [0.0]], [[0.0], [0.0]])
        tensor([ 1.5000, -0.5000])
    """

    def __init__(
        self, *, scale: float = 1.0, clip: float | None = None, check_finite: bool = True
    ) -> None:
        super().__init__(check_finite=check_finite)
        self.scale = _check_number("scale", scale)
        self.clip = None if clip is None else check_positive("clip", clip)

    def compute(self, t: Transition) -> torch.Tensor:
        signal = t.reward * self.scale
        if self.clip is not None:
            signal = signal.clamp(-self.clip, self.clip)
        return torch.where(t.active, signal, 0.0)

    def __repr__(self) -> str:
        return f"EnvReward(scale={self.scale}, clip={self.clip})"


class TerminalReward(RewardSignal):
    """Shaping: ``value`` on terminated rows, 0 elsewhere (truncation is not a failure).

    With ``value=-1`` this is the CartPole shaping of the measured recipe (and of
    Gymnasium's ``sutton_barto_reward``). Use it on its own, inside a sum, or as the reward
    a :class:`~snn_rl.envs.rewards.TDError` critic learns from.

    Args:
        value: Signal on terminated rows.
        check_finite: See :class:`RewardSignal`.

    Example:
        >>> TerminalReward(-1.0)([1.0, 1.0, 1.0], [False, True, False], [False, False, True],
        ...                      [[0.0]] * 3, [[0.0]] * 3)
        tensor([ 0., -1.,  0.])
    """

    def __init__(self, value: float = -1.0, *, check_finite: bool = True) -> None:
        super().__init__(check_finite=check_finite)
        self.value = _check_number("value", value)

    def compute(self, t: Transition) -> torch.Tensor:
        return torch.zeros_like(t.reward).masked_fill_(t.terminated & t.active, self.value)

    def __repr__(self) -> str:
        return f"TerminalReward({self.value})"


class FunctionReward(RewardSignal):
    """Any callable ``fn(reward, terminated, truncated, obs, next_obs) -> (B,)`` as a signal.

    ``fn`` receives the validated tensors on the signal's device (all rows, including
    inactive ones); its output is converted to a ``(B,)`` tensor, checked (shape, finite)
    and set to 0 on inactive rows. ``fn`` is assumed stateless (nothing to reset or save).

    Args:
        fn: The callable.
        check_finite: Also check that ``fn``'s output is finite.

    Example:
        >>> speed = FunctionReward(lambda r, te, tr, o, o2: -o2[:, 1].abs())
        >>> speed([1.0], [False], [False], [[0.0, 0.0]], [[0.1, -0.5]])
        tensor([-0.5000])
    """

    def __init__(
        self,
        fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], Any],
        *,
        check_finite: bool = True,
    ) -> None:
        super().__init__(check_finite=check_finite)
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        self.fn = fn

    def compute(self, t: Transition) -> torch.Tensor:
        out = self.fn(t.reward, t.terminated, t.truncated, t.obs, t.next_obs)
        out = torch.as_tensor(out, device=self.device).to(self.dtype)
        batch = t.reward.shape[0]
        if out.shape != (batch,):
            raise ValueError(
                f"{self!r} must return shape ({batch},) (one value per env), got {tuple(out.shape)}"
            )
        if self.check_finite:
            _raise_if_not_finite({f"output of {self!r}": out})
        return torch.where(t.active, out, 0.0)

    def __repr__(self) -> str:
        return f"FunctionReward({getattr(self.fn, '__name__', type(self.fn).__name__)})"


class SumSignal(RewardSignal):
    """Weighted sum ``sum_i w_i * signal_i`` of reward signals (each keeps its own state).

    Nested sums are flattened and a signal that appears twice has its weights added, so each
    part updates its state once per call. ``reset``, ``to``, ``state_dict`` and
    ``load_state_dict`` apply to every part. Inputs are validated once, by the sum.

    Args:
        signals: The parts (all on one device and dtype).
        weights: One float per part (default 1.0 each).
        check_finite: See :class:`RewardSignal`.

    Example:
        >>> s = EnvReward() + 0.5 * TerminalReward(-1.0)
        >>> s([1.0, 1.0], [False, True], [False, False], [[0.0]] * 2, [[0.0]] * 2)
        tensor([1.0000, 0.5000])
    """

    def __init__(
        self,
        signals: list[RewardSignal] | tuple[RewardSignal, ...],
        weights: list[float] | tuple[float, ...] | None = None,
        *,
        check_finite: bool = True,
    ) -> None:
        super().__init__(check_finite=check_finite)
        signals = list(signals)
        weights = [1.0] * len(signals) if weights is None else list(weights)
        if not signals or len(weights) != len(signals):
            raise ValueError("signals must be non-empty, with one weight per signal")
        parts: list[RewardSignal] = []
        merged: list[float] = []
        for signal, weight in zip(signals, weights, strict=True):
            if not isinstance(signal, RewardSignal):
                raise TypeError(f"signals must be RewardSignal objects, got {signal!r}")
            weight = _check_number("weights", weight)
            inner = (
                list(zip(signal.parts, signal.weights, strict=True))
                if isinstance(signal, SumSignal)
                else [(signal, 1.0)]
            )
            for part, w in inner:
                index = next((i for i, p in enumerate(parts) if p is part), None)
                if index is None:
                    parts.append(part)
                    merged.append(weight * w)
                else:
                    merged[index] += weight * w
        if len({(p.device, p.dtype) for p in parts}) != 1:
            raise ValueError("all parts must share one device and dtype; call .to() first")
        self.parts, self.weights = parts, merged
        self.device, self.dtype = parts[0].device, parts[0].dtype

    def compute(self, t: Transition) -> torch.Tensor:
        total = torch.zeros_like(t.reward)
        for part, weight in zip(self.parts, self.weights, strict=True):
            total = total + weight * part.compute(t)
        return total

    def reset(self, mask: torch.Tensor | np.ndarray | None = None) -> None:
        for part in self.parts:
            part.reset(mask)

    def _move(self) -> None:
        for part in self.parts:
            part.to(self.device, self.dtype)

    def state_dict(self) -> dict[str, Any]:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        parts = state_dict.get("parts")
        if set(state_dict) != {"parts"} or len(parts) != len(self.parts):
            raise KeyError(f"SumSignal state_dict needs 'parts' with {len(self.parts)} entries")
        for part, state in zip(self.parts, parts, strict=True):
            part.load_state_dict(state)

    def __repr__(self) -> str:
        terms = " + ".join(f"{w:g} * {p!r}" for p, w in zip(self.parts, self.weights, strict=True))
        return f"SumSignal({terms})"
