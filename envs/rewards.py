"""Reward signals by name: the registry, and every built-in signal in one import.

The call protocol is in :mod:`snn_rl.envs.reward_signal`; the stateless built-ins in
:mod:`snn_rl.envs.basic_rewards`; the learning critics in :mod:`snn_rl.envs.critics` and
:mod:`snn_rl.envs.spiking_critic`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .basic_rewards import EnvReward, FunctionReward, SumSignal, TerminalReward
from .critics import RewardPredictionError, TDError
from .reward_signal import RewardSignal, Transition
from .spiking_critic import SpikingTDError

__all__ = [
    "REWARD_SIGNALS",
    "EnvReward",
    "FunctionReward",
    "RewardPredictionError",
    "RewardSignal",
    "SpikingTDError",
    "SumSignal",
    "TDError",
    "TerminalReward",
    "Transition",
    "make_reward_signal",
    "register_reward_signal",
]


REWARD_SIGNALS: dict[str, type[RewardSignal]] = {
    "env": EnvReward,
    "rpe": RewardPredictionError,
    "td": TDError,
    "spiking_td": SpikingTDError,
    "terminal": TerminalReward,
}


def register_reward_signal(name: str, cls: type[RewardSignal], *, overwrite: bool = False) -> None:
    """Make ``make_reward_signal(name, **kwargs)`` build ``cls(**kwargs)``.

    Args:
        name: The registry name (a non-empty string).
        cls: A :class:`RewardSignal` subclass.
        overwrite: Replace an existing entry instead of raising ValueError.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, RewardSignal)):
        raise TypeError(f"cls must be a RewardSignal subclass, got {cls!r}")
    if name in REWARD_SIGNALS and not overwrite:
        raise ValueError(f"reward signal {name!r} is already registered; pass overwrite=True")
    REWARD_SIGNALS[name] = cls


def make_reward_signal(
    spec: str | RewardSignal | type[RewardSignal] | Callable[..., Any], **kwargs: Any
) -> RewardSignal:
    """Build a reward signal from a registry name, class, instance or plain callable.

    Args:
        spec: A name in :data:`REWARD_SIGNALS` (``"env"``, ``"rpe"``, ``"td"``,
            ``"terminal"``, or one added by :func:`register_reward_signal`); a RewardSignal
            subclass; an instance (returned as is); or a callable with the
            ``(reward, terminated, truncated, obs, next_obs)`` signature (wrapped in
            :class:`FunctionReward`).
        **kwargs: Constructor arguments for a name or class (e.g. ``features=`` for "td").

    Returns:
        The reward signal.

    Example:
        >>> make_reward_signal("rpe", alpha=0.1)
        RewardPredictionError(alpha=0.1, per_env=False)
    """
    if isinstance(spec, str):
        if spec not in REWARD_SIGNALS:
            raise ValueError(
                f"unknown reward signal {spec!r}; valid names: {sorted(REWARD_SIGNALS)}"
            )
        return REWARD_SIGNALS[spec](**kwargs)
    if isinstance(spec, type) and issubclass(spec, RewardSignal):
        return spec(**kwargs)
    if kwargs:
        raise TypeError(f"keyword arguments only apply to a name or class, got {sorted(kwargs)}")
    if isinstance(spec, RewardSignal):
        return spec
    if callable(spec):
        return FunctionReward(spec)
    raise TypeError(
        f"spec must be a reward-signal name, RewardSignal, or callable, got {type(spec).__name__}"
    )
