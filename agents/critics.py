"""Reward signals that learn: reward-prediction error and the TD error of a linear critic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from snn_rl._validation import check_finite as _check_number
from snn_rl._validation import check_positive

from .basic_rewards import TerminalReward
from .reward_signal import RewardSignal, Transition, _raise_if_not_finite

__all__ = ["RewardPredictionError", "TDError"]


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
        reward_scale: Factor applied to the reward before the TD error (e.g. 0.01 for -1
            per step rewards, so that the signal's size suits the actor's learning rate).
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
        reward_scale: float = 1.0,
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
        self.reward_scale = _check_number("reward_scale", reward_scale)
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
        if self.reward_scale != 1.0:
            reward = reward * self.reward_scale
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
