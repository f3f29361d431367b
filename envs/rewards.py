"""Reward functions: stateless shaping of a transition into the reward that learning uses.

A reward function maps a :class:`~snn_rl.envs.transition.Transition` to one value per env,
``r = f(tr)`` of shape ``(B,)``, and is 0 on inactive rows (NEXT_STEP dummies). It keeps no
state, so it can be shared, composed and saved as plain data. In the agents the reward
function feeds the critic, whose TD error is the modulator of plasticity; a function can
also replace an env's reward through :mod:`snn_rl.envs.reward_wrappers`.

Built-ins (registry names in :data:`REWARD_FUNCTIONS`): ``"env"`` (:class:`EnvReward`, the
env reward scaled and clipped), ``"terminal"`` (:class:`TerminalReward`, a value on
terminated rows only), ``"sum"`` (:class:`SumReward`); any callable ``f(tr) -> (B,)``
becomes a :class:`FunctionReward`. Functions combine: ``EnvReward() + 0.5 *
TerminalReward(-1.0)``.

Every built-in is a frozen dataclass: its fields are its whole configuration, written as
``{"type": name, **fields}`` in agent configs and checkpoints (a :class:`FunctionReward`
holds code, so it is written as ``{"type": "custom"}`` and must be passed again on load).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from snn_rl._validation import (
    check_bool,
    check_callable,
    check_finite,
    check_positive,
    register_class,
)

from .transition import Transition

__all__ = [
    "REWARD_FUNCTIONS",
    "EnvReward",
    "FunctionReward",
    "RewardFunction",
    "SumReward",
    "TerminalReward",
    "make_reward_function",
    "register_reward_function",
]


class RewardFunction:
    """Base class: ``__call__(tr)`` is :meth:`compute` set to 0 on inactive rows.

    Subclasses are frozen dataclasses implementing :meth:`compute` (``(B,)`` float on the
    transition's device); ``kind`` is their registry name.
    """

    kind: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[RewardFunction]]]  # set below: REWARD_FUNCTIONS

    def __call__(self, tr: Transition) -> Tensor:
        return torch.where(tr.active, self.compute(tr), 0.0)

    def compute(self, tr: Transition) -> Tensor:
        raise NotImplementedError

    # ----------------------------------------------------------------- composition
    def __add__(self, other: Any) -> RewardFunction:
        if isinstance(other, RewardFunction):
            return SumReward((self, other))
        if isinstance(other, int | float) and not isinstance(other, bool) and other == 0:
            return self  # lets sum([a, b]) start from 0
        return NotImplemented

    __radd__ = __add__

    def __mul__(self, weight: Any) -> RewardFunction:
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            return NotImplemented
        return SumReward((self,), (float(weight),))

    __rmul__ = __mul__

    def __neg__(self) -> RewardFunction:
        return SumReward((self,), (-1.0,))

    def __sub__(self, other: Any) -> RewardFunction:
        if not isinstance(other, RewardFunction):
            return NotImplemented
        return SumReward((self, other), (1.0, -1.0))


@dataclass(frozen=True)
class EnvReward(RewardFunction):
    """The env reward, scaled and optionally clipped: ``clip(scale * r, -clip, clip)``.

    Example:
        >>> tr = Transition.from_arrays(obs=[[0.0], [0.0]], reward=[1.0, -0.25],
        ...     terminated=[False, True], truncated=[False, False], next_obs=[[0.0], [0.0]])
        >>> EnvReward(scale=2.0, clip=1.5)(tr)
        tensor([ 1.5000, -0.5000])
    """

    kind: ClassVar[str] = "env"
    scale: float = 1.0
    clip: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", check_finite("scale", self.scale))
        if self.clip is not None:
            object.__setattr__(self, "clip", check_positive("clip", self.clip))

    def compute(self, tr: Transition) -> Tensor:
        reward = tr.reward * self.scale
        return reward if self.clip is None else reward.clamp(-self.clip, self.clip)


@dataclass(frozen=True)
class TerminalReward(RewardFunction):
    """``value`` on terminated rows, 0 elsewhere (truncation is not a failure).

    With ``value=-1`` this is the CartPole shaping of Gymnasium's ``sutton_barto_reward``.

    Example:
        >>> tr = Transition.from_arrays(obs=[[0.0]] * 3, reward=[1.0] * 3,
        ...     terminated=[False, True, False], truncated=[False, False, True],
        ...     next_obs=[[0.0]] * 3)
        >>> TerminalReward(-1.0)(tr)
        tensor([ 0., -1.,  0.])
    """

    kind: ClassVar[str] = "terminal"
    value: float = -1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", check_finite("value", self.value))

    def compute(self, tr: Transition) -> Tensor:
        return torch.zeros_like(tr.reward).masked_fill_(tr.terminated & tr.active, self.value)


@dataclass(frozen=True)
class FunctionReward(RewardFunction):
    """A user callable ``fn(tr) -> (B,)`` as a reward function.

    ``fn`` receives the whole transition (inactive rows included); its output is converted to
    a ``(B,)`` tensor on the transition's device, checked (shape; finite when
    ``check_finite``) and set to 0 on inactive rows. ``fn`` must be stateless.

    Example:
        >>> speed = FunctionReward(lambda tr: -tr.next_obs[:, 1].abs())
        >>> speed(Transition.from_arrays(obs=[[0.0, 0.0]], reward=[1.0], terminated=[False],
        ...     truncated=[False], next_obs=[[0.1, -0.5]]))
        tensor([-0.5000])
    """

    kind: ClassVar[str] = "custom"
    fn: Callable[[Transition], Any]
    check_finite: bool = True

    def __post_init__(self) -> None:
        check_callable("fn", self.fn, "fn(transition) -> (B,) rewards")
        _check_takes_one_argument(self.fn, self.name)
        object.__setattr__(self, "check_finite", check_bool("check_finite", self.check_finite))

    @property
    def name(self) -> str:
        return getattr(self.fn, "__name__", type(self.fn).__name__)

    def compute(self, tr: Transition) -> Tensor:
        out = self.fn(tr)
        out = torch.as_tensor(out, device=tr.reward.device).to(tr.reward.dtype)
        if out.shape != (tr.num_envs,):
            raise ValueError(
                f"the reward function {self.name} must return shape ({tr.num_envs},) (one value "
                f"per env), got {tuple(out.shape)}"
            )
        if self.check_finite and not bool(torch.isfinite(out).all()):
            raise ValueError(f"the reward function {self.name} returned NaN or inf")
        return out

    def __repr__(self) -> str:
        return f"FunctionReward({self.name})"


@dataclass(frozen=True)
class SumReward(RewardFunction):
    """Weighted sum ``sum_i w_i f_i(tr)`` of reward functions (nested sums are flattened).

    Example:
        >>> s = EnvReward() + 0.5 * TerminalReward(-1.0)
        >>> s(Transition.from_arrays(obs=[[0.0]] * 2, reward=[1.0, 1.0],
        ...     terminated=[False, True], truncated=[False, False], next_obs=[[0.0]] * 2))
        tensor([1.0000, 0.5000])
    """

    kind: ClassVar[str] = "sum"
    parts: tuple[RewardFunction, ...] = ()
    weights: tuple[float, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        parts = tuple(self.parts)
        weights = (1.0,) * len(parts) if self.weights is None else tuple(self.weights)
        if not parts or len(weights) != len(parts):
            raise ValueError("parts must be non-empty, with one weight per part")
        flat_parts: list[RewardFunction] = []
        flat_weights: list[float] = []
        for part, weight in zip(parts, weights, strict=True):
            if not isinstance(part, RewardFunction):
                raise TypeError(f"parts must be RewardFunction objects, got {part!r}")
            weight = check_finite("weights", weight)
            inner = (
                zip(part.parts, part.weights, strict=True)
                if isinstance(part, SumReward)
                else [(part, 1.0)]
            )
            for p, w in inner:
                flat_parts.append(p)
                flat_weights.append(weight * w)
        object.__setattr__(self, "parts", tuple(flat_parts))
        object.__setattr__(self, "weights", tuple(flat_weights))

    def compute(self, tr: Transition) -> Tensor:
        total = torch.zeros_like(tr.reward)
        for part, weight in zip(self.parts, self.weights, strict=True):
            total = total + weight * part.compute(tr)
        return total

    def __repr__(self) -> str:
        terms = " + ".join(f"{w:g} * {p!r}" for p, w in zip(self.parts, self.weights, strict=True))
        return f"SumReward({terms})"


def _check_takes_one_argument(fn: Callable, name: str) -> None:
    """Refuse at construction a callable that cannot be called as ``fn(transition)``."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to read (some builtins): called as is
        return
    try:
        signature.bind(object())
    except TypeError:
        raise TypeError(
            f"the reward function {name}{signature} must take one argument, the transition: "
            "f(tr) -> (B,) rewards, reading tr.reward, tr.terminated, tr.next_obs, ..."
        ) from None


REWARD_FUNCTIONS: dict[str, type[RewardFunction]] = {
    cls.kind: cls for cls in (EnvReward, TerminalReward, SumReward, FunctionReward)
}
RewardFunction.registry = REWARD_FUNCTIONS


def register_reward_function(
    name: str, cls: type[RewardFunction], *, overwrite: bool = False
) -> None:
    """Make ``make_reward_function(name, **kwargs)`` and configs (``{"type": name}``) build
    ``cls``, a frozen-dataclass :class:`RewardFunction` subclass (its ``kind`` becomes
    ``name``)."""
    register_class(
        REWARD_FUNCTIONS, name, cls, RewardFunction, what="reward function", overwrite=overwrite
    )


def make_reward_function(
    spec: str | RewardFunction | Callable[[Transition], Any], **kwargs: Any
) -> RewardFunction:
    """A reward function from a registry name (+ its fields), an instance, or a callable.

    Example:
        >>> make_reward_function("terminal", value=-2.0)
        TerminalReward(value=-2.0)
    """
    if isinstance(spec, str):
        if spec not in REWARD_FUNCTIONS or spec == FunctionReward.kind:
            valid = sorted(set(REWARD_FUNCTIONS) - {FunctionReward.kind})
            raise ValueError(f"unknown reward function {spec!r}; valid names: {valid}")
        return REWARD_FUNCTIONS[spec](**kwargs)
    if kwargs:
        raise TypeError(f"keyword arguments only apply to a registry name, got {sorted(kwargs)}")
    if isinstance(spec, RewardFunction):
        return spec
    if callable(spec):
        return FunctionReward(spec)
    raise TypeError(
        "reward must be a reward-function name, a RewardFunction, or a callable "
        f"f(transition) -> (B,), got {type(spec).__name__}"
    )
