"""The transition record: one vector step of B envs, made by the env driver and read by
everything downstream (reward functions, critics, learners, diagnostics, callbacks).

With Gymnasium's autoreset a vector env returns, on a row whose episode just ended, either
the true final observation (NEXT_STEP; the row's next step is then a dummy) or already the
reset observation (SAME_STEP, with the final one in ``info["final_obs"]``). A transition
keeps both apart:

* ``next_obs`` is the TRUE next observation of ``(obs, action)``: the final observation on
  rows that ended. Reward functions and critics read it.
* ``new_obs`` is the observation the agent acts on at the next step: the reset observation
  on rows that an autoreset restarted, ``next_obs`` elsewhere. When no row was restarted it
  is the same tensor object as ``next_obs``.
* ``active`` marks real transitions; NEXT_STEP's dummy step after a done is inactive
  (its action is ignored by the env, its reward is 0, and nothing may learn from it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch import Tensor

from snn_rl._validation import check_mask

__all__ = ["Transition", "split_vector_info"]


@dataclass(frozen=True)
class Transition:
    """One vector step, all tensors batch-first ``(B, ...)`` on one device.

    Attributes:
        obs: ``(B, *obs_shape)`` the observations the actions were chosen on.
        action: ``(B,)`` long (Discrete) or ``(B, action_dim)`` float (Box) actions.
        reward: ``(B,)`` float env rewards.
        terminated, truncated: ``(B,)`` bool.
        next_obs: ``(B, *obs_shape)`` the true next observations (see the module docstring).
        active: ``(B,)`` bool, the rows that are real transitions.
        new_obs: ``(B, *obs_shape)`` the observations to act on next.
        info: the env's info, as Gymnasium vector envs return it (a dict of batched values
            with ``_key`` masks); :attr:`infos` splits it per env.

    Shape:
        Observations are float in the driver's dtype, or long for Discrete observations.
    """

    obs: Tensor
    action: Tensor
    reward: Tensor
    terminated: Tensor
    truncated: Tensor
    next_obs: Tensor
    active: Tensor
    new_obs: Tensor
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> Tensor:
        """``terminated | truncated``, ``(B,)``."""
        return self.terminated | self.truncated

    @property
    def num_envs(self) -> int:
        return self.reward.shape[0]

    @cached_property
    def infos(self) -> list[dict[str, Any]]:
        """The info split per env, one dict per row (Stable-Baselines3's form)."""
        return split_vector_info(self.info, self.num_envs)

    @classmethod
    def from_arrays(
        cls,
        *,
        obs: Any,
        reward: Any,
        terminated: Any,
        truncated: Any,
        next_obs: Any,
        action: Any = None,
        active: Any = None,
        new_obs: Any = None,
        info: Mapping[str, Any] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Transition:
        """Build a validated transition from arrays, lists or tensors (tests, wrappers, users).

        ``active`` defaults to all True, ``new_obs`` to ``next_obs``, ``action`` to zeros.
        Raises ValueError naming the argument for a wrong shape or dtype.
        """
        device = torch.device("cpu") if device is None else torch.device(device)
        reward = torch.as_tensor(np.asarray(reward) if not isinstance(reward, Tensor) else reward)
        if reward.ndim != 1 or reward.dtype == torch.bool or reward.is_complex():
            raise ValueError(
                f"reward must be a real (B,) array, got shape {tuple(reward.shape)} "
                f"dtype {reward.dtype}"
            )
        batch = reward.shape[0]
        obs = _as_obs("obs", obs, batch, device, dtype)
        next_obs = _as_obs("next_obs", next_obs, batch, device, dtype)
        new_obs = next_obs if new_obs is None else _as_obs("new_obs", new_obs, batch, device, dtype)
        for name, value in (("next_obs", next_obs), ("new_obs", new_obs)):
            if value.shape != obs.shape:
                raise ValueError(
                    f"{name} must have the shape of obs {tuple(obs.shape)}, got {tuple(value.shape)}"
                )
        flags = {
            name: check_mask(value, batch, name=name, device=device)
            for name, value in (("terminated", terminated), ("truncated", truncated))
        }
        active = (
            torch.ones(batch, dtype=torch.bool, device=device)
            if active is None
            else check_mask(active, batch, name="active", device=device)
        )
        action = (
            torch.zeros(batch, dtype=torch.long, device=device)
            if action is None
            else torch.as_tensor(np.asarray(action) if not isinstance(action, Tensor) else action)
        )
        if action.ndim < 1 or action.shape[0] != batch:
            raise ValueError(f"action must have shape (B, ...) with B={batch}, got {action.shape}")
        return cls(
            obs=obs,
            action=action.to(device),
            reward=reward.to(device, dtype),
            next_obs=next_obs,
            active=active,
            new_obs=new_obs,
            info=dict(info or {}),
            **flags,
        )


def _as_obs(name: str, value: Any, batch: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    value = torch.as_tensor(np.asarray(value) if not isinstance(value, Tensor) else value)
    if value.ndim < 1 or value.shape[0] != batch:
        raise ValueError(
            f"{name} must have shape (B, *obs_shape) with B={batch} (the reward's length), "
            f"got {tuple(value.shape)}"
        )
    return value.to(device, dtype) if value.is_floating_point() else value.to(device)


def split_vector_info(info: Mapping[str, Any], num_envs: int) -> list[dict[str, Any]]:
    """Gymnasium's vector info (batched values, ``_key`` masks) as one dict per env.

    A key whose mask ``_key`` is False on a row is left out of that row's dict; nested
    dicts (such as ``final_info``) are split the same way.
    """
    rows: list[dict[str, Any]] = [{} for _ in range(num_envs)]
    for key, value in info.items():
        if key.startswith("_"):
            continue
        mask = info.get(f"_{key}")
        if isinstance(mask, Tensor):
            mask = mask.detach().cpu().numpy()
        parts = (
            split_vector_info(value, num_envs)
            if isinstance(value, Mapping)
            else [value[i] for i in range(num_envs)]
            if _is_batched(value, num_envs)
            else [value] * num_envs
        )
        for i in range(num_envs):
            if mask is None or bool(mask[i]):
                rows[i][key] = parts[i]
    return rows


def _is_batched(value: Any, num_envs: int) -> bool:
    return isinstance(value, np.ndarray | Tensor | list | tuple) and len(value) == num_envs
