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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from snn_rl._validation import check_finite as _check_number
from snn_rl._validation import check_positive

__all__ = [
    "REWARD_SIGNALS",
    "EnvReward",
    "FunctionReward",
    "RewardPredictionError",
    "RewardSignal",
    "SumSignal",
    "TDError",
    "TerminalReward",
    "Transition",
    "make_reward_signal",
    "register_reward_signal",
]


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
    def __add__(self, other: Any) -> RewardSignal:
        if isinstance(other, RewardSignal):
            return SumSignal([self, other])
        if isinstance(other, int | float) and other == 0:
            return self  # lets sum([a, b]) start from 0
        return NotImplemented

    __radd__ = __add__

    def __mul__(self, weight: Any) -> RewardSignal:
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            return NotImplemented
        return SumSignal([self], [float(weight)])

    __rmul__ = __mul__

    def __neg__(self) -> RewardSignal:
        return SumSignal([self], [-1.0])

    def __sub__(self, other: Any) -> RewardSignal:
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


class RewardPredictionError(RewardSignal):
    """Reward minus its running mean: ``delta_t = r_t - m_{t-1}``, then the mean moves.

    ``m <- m + alpha * (r - m)`` after the signal is computed, per env (``per_env=True``,
    one mean per row) or shared (the mean of the active rows' rewards drives one ``m``).
    ``m`` starts at 0. With a shared mean the batch size is free; with ``per_env`` it is
    fixed by the first call. ``reset`` leaves ``m`` alone (it is a long-run baseline, not
    per-episode state).

    Caveat: for a constant reward (CartPole's +1 every step) ``delta`` decays to 0 and then
    carries no information about what went well; use :class:`TerminalReward` shaping or a
    :class:`TDError` critic there.

    Args:
        alpha: Running-mean rate in (0, 1].
        per_env: One mean per env instead of one shared mean.
        check_finite: See :class:`RewardSignal`.

    Shape:
        - reward, output: ``(B,)``.

    Example:
        >>> rpe = RewardPredictionError(alpha=0.5)
        >>> [float(rpe([r], [False], [False], [[0.0]], [[0.0]])[0]) for r in (1.0, 1.0, 0.0)]
        [1.0, 0.5, -0.75]
    """

    def __init__(
        self, *, alpha: float = 0.01, per_env: bool = False, check_finite: bool = True
    ) -> None:
        super().__init__(check_finite=check_finite)
        alpha = check_positive("alpha", alpha)
        if alpha > 1:
            raise ValueError(f"alpha must lie in (0, 1], got {alpha}")
        if not isinstance(per_env, bool):
            raise TypeError(f"per_env must be a bool, got {type(per_env).__name__}")
        self.alpha, self.per_env = alpha, per_env
        self.mean: torch.Tensor | None = None if per_env else torch.zeros(())

    def compute(self, t: Transition) -> torch.Tensor:
        batch = t.reward.shape[0]
        if self.mean is None:
            self.mean = torch.zeros(batch, dtype=self.dtype, device=self.device)
        elif self.per_env and self.mean.shape[0] != batch:
            raise ValueError(
                f"this per-env RewardPredictionError tracks {self.mean.shape[0]} envs, got a "
                f"batch of {batch}"
            )
        signal = torch.where(t.active, t.reward - self.mean, 0.0)
        if self.per_env:
            self.mean = self.mean + self.alpha * signal
        else:
            count = t.active.sum()
            batch_mean = (t.reward * t.active).sum() / count.clamp(min=1)
            self.mean = self.mean + self.alpha * (batch_mean - self.mean) * (count > 0)
        return signal

    def _move(self) -> None:
        if self.mean is not None:
            self.mean = self.mean.to(self.device, self.dtype)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": None if self.mean is None else self.mean.clone()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        mean = state_dict["mean"]
        if mean is not None and (not self.per_env) != (mean.ndim == 0):
            raise ValueError(
                f"mean of shape {tuple(mean.shape)} does not fit per_env={self.per_env}"
            )
        self.mean = None if mean is None else mean.to(self.device, self.dtype).clone()

    def __repr__(self) -> str:
        return f"RewardPredictionError(alpha={self.alpha}, per_env={self.per_env})"


class TDError(RewardSignal):
    """TD error of a linear critic learned online by TD(lambda), as the modulator.

    ``V(s) = w . phi(s) + b`` with ``phi = features(obs)``, the SAME function for ``s`` and
    ``s'`` (a critic whose two feature computations differed diverged in the measured
    recipe). Per call, with the active rows only:

    - ``delta = r + gamma * V(s') * (1 - terminated) - V(s)`` (truncation bootstraps from the
      final observation, termination does not); inactive rows get ``delta = 0``.
    - ``e <- gamma * lam * e + phi(s)`` per env (the eligibility trace of the critic).
    - ``w <- w + lr / feature_norm_sq * mean_b(delta_b e_b)``, ``b <- b + lr_bias *
      mean_b(delta_b)``, means over the active rows (one critic shared by all envs).
    - rows that ended (terminated or truncated) get ``e = 0``.

    ``w``, ``b`` start at 0. The signal returned is ``delta`` computed before the update.
    ``w``, ``e`` and (by default) ``feature_norm_sq`` are set up at the first call: F from
    the features, B from the batch, ``feature_norm_sq`` = the mean ``||phi(s)||^2`` of that
    first batch (the measured recipe used ``||phi(0)||^2 = 0.82``). ``reset(mask)`` zeros the
    masked rows of ``e``; ``reset()`` drops ``e`` (the next call may use another B).

    Args:
        features: Callable or ``nn.Module`` mapping ``(B, *obs_shape)`` to ``(B, F)`` features
            (the agents pass their input population code). An ``nn.Module`` is moved by
            :meth:`to`; its own parameters are not part of :meth:`state_dict`.
        gamma: Discount in [0, 1].
        lam: Trace decay lambda in [0, 1].
        lr: Critic weight learning rate (divided by ``feature_norm_sq``).
        lr_bias: Bias learning rate.
        feature_norm_sq: Step normaliser (None: measured on the first batch).
        terminal_reward: Shorthand for ``reward=TerminalReward(terminal_reward)``.
        reward: The signal the critic learns to predict (default: the env reward).
        check_finite: See :class:`RewardSignal` (also checks the features).

    Shape:
        - obs, next_obs: ``(B, *obs_shape)``; features: ``(B, F)``; output: ``(B,)``.

    Example:
        >>> one_hot = lambda obs: torch.nn.functional.one_hot(obs[:, 0], 2).float()
        >>> td = TDError(one_hot, gamma=0.5, lam=0.0, lr=1.0, lr_bias=0.0, feature_norm_sq=1.0)
        >>> td([1.0], [False], [False], [[0]], [[1]])  # V = 0 everywhere: delta = r
        tensor([1.])
        >>> td.value(torch.tensor([[0], [1]]))  # w[0] moved by lr * delta * e = 1
        tensor([1., 0.])
    """

    def __init__(
        self,
        features: Callable[[torch.Tensor], torch.Tensor],
        *,
        gamma: float = 0.98,
        lam: float = 0.8,
        lr: float = 0.1,
        lr_bias: float = 0.01,
        feature_norm_sq: float | None = None,
        terminal_reward: float | None = None,
        reward: RewardSignal | None = None,
        check_finite: bool = True,
    ) -> None:
        super().__init__(check_finite=check_finite)
        if not callable(features):
            raise TypeError(f"features must be callable, got {type(features).__name__}")
        for name, value in (("gamma", gamma), ("lam", lam)):
            if not 0.0 <= _check_number(name, value) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if terminal_reward is not None and reward is not None:
            raise ValueError("give terminal_reward or reward, not both")
        if reward is not None and not isinstance(reward, RewardSignal):
            raise TypeError(f"reward must be a RewardSignal or None, got {type(reward).__name__}")
        self.features = features
        self.gamma, self.lam = float(gamma), float(lam)
        self.lr, self.lr_bias = _check_number("lr", lr), _check_number("lr_bias", lr_bias)
        self.feature_norm_sq = (
            None if feature_norm_sq is None else check_positive("feature_norm_sq", feature_norm_sq)
        )
        self.reward = TerminalReward(terminal_reward) if terminal_reward is not None else reward
        if self.reward is not None:
            self.reward.to(self.device, self.dtype)
        params = (
            list(features.parameters()) + list(features.buffers())
            if isinstance(features, torch.nn.Module)
            else []
        )
        if params:
            self.device = params[0].device
            self._move()
        self.weight: torch.Tensor | None = None
        self.bias = torch.zeros((), dtype=self.dtype, device=self.device)
        self.e_trace: torch.Tensor | None = None

    def _phi(self, obs: torch.Tensor) -> torch.Tensor:
        phi = torch.as_tensor(self.features(obs)).to(self.device, self.dtype)
        if phi.ndim != 2 or phi.shape[0] != obs.shape[0]:
            raise ValueError(
                f"features must map (B, *obs_shape) to (B, F), got {tuple(phi.shape)} "
                f"for obs {tuple(obs.shape)}"
            )
        if self.weight is not None and phi.shape[1] != self.weight.shape[0]:
            raise ValueError(
                f"features gave F={phi.shape[1]}, the critic has {self.weight.shape[0]}"
            )
        return phi

    def value(self, obs: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Critic value ``V(s) = w . phi(s) + b`` of a batch of observations, shape ``(B,)``."""
        obs = self._as_obs("obs", obs, len(obs))
        phi = self._phi(obs)
        if self.weight is None:
            return self.bias.expand(phi.shape[0]).clone()
        return phi @ self.weight + self.bias

    def compute(self, t: Transition) -> torch.Tensor:
        reward = t.reward if self.reward is None else self.reward.compute(t)
        phi, phi_next = self._phi(t.obs), self._phi(t.next_obs)
        if self.check_finite:
            _raise_if_not_finite({"features(obs)": phi, "features(next_obs)": phi_next})
        self._setup(phi)
        value = phi @ self.weight + self.bias
        value_next = phi_next @ self.weight + self.bias
        delta = reward + self.gamma * value_next * ~t.terminated - value
        delta = torch.where(t.active, delta, 0.0)
        active = t.active.unsqueeze(1)
        self.e_trace = torch.where(active, self.gamma * self.lam * self.e_trace + phi, self.e_trace)
        count = t.active.sum().clamp(min=1)
        self.weight = self.weight + self.lr / self.feature_norm_sq * (delta @ self.e_trace) / count
        self.bias = self.bias + self.lr_bias * delta.sum() / count
        ended = (t.terminated | t.truncated) & t.active
        self.e_trace = self.e_trace.masked_fill(ended.unsqueeze(1), 0.0)
        return delta

    def _setup(self, phi: torch.Tensor) -> None:
        batch, n_features = phi.shape
        if self.weight is None:
            self.weight = torch.zeros(n_features, dtype=self.dtype, device=self.device)
        if self.e_trace is None:
            self.e_trace = torch.zeros(batch, n_features, dtype=self.dtype, device=self.device)
        elif self.e_trace.shape[0] != batch:
            raise ValueError(
                f"TDError holds traces for {self.e_trace.shape[0]} envs, got a batch of {batch}; "
                "call reset() (no mask) to start traces for another batch size"
            )
        if self.feature_norm_sq is None:
            norm_sq = float((phi**2).sum(1).mean())
            if not norm_sq > 0:
                raise ValueError("features of the first batch are all zero; set feature_norm_sq")
            self.feature_norm_sq = norm_sq

    def reset(self, mask: torch.Tensor | np.ndarray | None = None) -> None:
        if self.reward is not None:
            self.reward.reset(mask)
        if mask is None or self.e_trace is None:
            self.e_trace = None if mask is None else self.e_trace
            return
        mask = self._check_mask(mask, self.e_trace.shape[0])
        self.e_trace = self.e_trace.masked_fill(mask.unsqueeze(1), 0.0)

    def _move(self) -> None:
        if isinstance(self.features, torch.nn.Module):
            self.features.to(self.device)
        if self.reward is not None:
            self.reward.to(self.device, self.dtype)
        for name in ("weight", "bias", "e_trace"):
            value = getattr(self, name, None)
            if value is not None:
                setattr(self, name, value.to(self.device, self.dtype))

    def state_dict(self) -> dict[str, Any]:
        return {
            "weight": None if self.weight is None else self.weight.clone(),
            "bias": self.bias.clone(),
            "e_trace": None if self.e_trace is None else self.e_trace.clone(),
            "feature_norm_sq": self.feature_norm_sq,
            "reward": None if self.reward is None else self.reward.state_dict(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if (state_dict["reward"] is None) != (self.reward is None):
            raise ValueError("state_dict['reward'] does not match this critic's reward signal")
        if self.reward is not None:
            self.reward.load_state_dict(state_dict["reward"])
        for name in ("weight", "bias", "e_trace"):
            value = state_dict[name]
            setattr(self, name, None if value is None else value.to(self.device, self.dtype))
        norm = state_dict["feature_norm_sq"]
        self.feature_norm_sq = None if norm is None else float(norm)

    def __repr__(self) -> str:
        return (
            f"TDError(gamma={self.gamma}, lam={self.lam}, lr={self.lr}, lr_bias={self.lr_bias}, "
            f"feature_norm_sq={self.feature_norm_sq}, reward={self.reward!r})"
        )


REWARD_SIGNALS: dict[str, type[RewardSignal]] = {
    "env": EnvReward,
    "rpe": RewardPredictionError,
    "td": TDError,
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
