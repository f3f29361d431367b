"""Environment factory and the vector-env driver used by the agents' training loop.

The factory is shared by our agents and the SB3 baselines so that both arms of a comparison
train on the same environment (same id, keyword arguments and wrappers).

:class:`VecEnvDriver` hides the three Gymnasium autoreset modes from the agent loop:

* ``NEXT_STEP`` (Gymnasium's default, and its native vector CartPole): the step that ends an
  episode returns the true final observation; the *next* step of that row is a dummy (action
  ignored, reward 0, flags False, returns the reset observation). The driver marks that row
  inactive, so no learning, no reward-signal update and no env-step count happen for it.
* ``SAME_STEP``: the ending step already returns the reset observation and puts the final
  one in ``info["final_obs"]``; the driver substitutes it as the transition's next
  observation. Every row is active on every step.
* ``DISABLED``: the driver resets ended rows itself (``reset_mask``) after the step.

Everything leaves the driver as torch tensors on the agent's device; torch-native envs
(``snn_rl/...`` ids) stay on their device without a host round-trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from torch import Tensor

import snn_rl.envs  # noqa: F401  (registers the snn_rl/ ids)

__all__ = ["make_env", "make_vec_env", "VecEnvDriver", "Transition", "resolve_device"]


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        ) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA device is available")
    return device


def _check_env_id(env_id: str) -> gym.envs.registration.EnvSpec:
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a string, got {type(env_id).__name__}")
    try:
        return gym.spec(env_id)
    except gym.error.Error as err:
        raise ValueError(f"unknown environment id {env_id!r}: {err}") from err


def make_env(env_id: str, *, env_kwargs: dict | None = None, render_mode: str | None = None):
    """Create one Gymnasium environment (the single-env factory shared with SB3 baselines)."""
    _check_env_id(env_id)
    return gym.make(env_id, render_mode=render_mode, **(env_kwargs or {}))


def make_vec_env(
    env_id: str,
    n_envs: int = 1,
    *,
    device: str | torch.device = "cpu",
    env_kwargs: dict | None = None,
) -> VectorEnv:
    """Create a vector env of ``n_envs`` copies of ``env_id``.

    Torch-native ids (``snn_rl/CartPole-v1`` ...) are built on ``device`` with SAME_STEP
    autoreset (no dummy steps, no host sync); ids with a native vector implementation use
    it; everything else is a ``SyncVectorEnv`` of :func:`make_env`.
    """
    spec = _check_env_id(env_id)
    if isinstance(n_envs, bool) or not isinstance(n_envs, int) or n_envs < 1:
        raise ValueError(f"n_envs must be a positive int, got {n_envs!r}")
    kwargs = dict(env_kwargs or {})
    if env_id.startswith("snn_rl/") and spec.vector_entry_point is not None:
        kwargs.setdefault("device", str(resolve_device(device)))
        kwargs.setdefault("autoreset_mode", AutoresetMode.SAME_STEP)
        return gym.make_vec(
            env_id, num_envs=n_envs, vectorization_mode="vector_entry_point", **kwargs
        )
    if spec.vector_entry_point is not None and not kwargs:
        return gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point")
    return gym.vector.SyncVectorEnv([lambda: make_env(env_id, env_kwargs=kwargs)] * n_envs)


@dataclass
class Transition:
    """One vector step as the agent loop sees it (all tensors ``(B, ...)`` on the agent device).

    Attributes:
        next_obs: the transition's true next observation (final observation on ended rows).
        obs: the observation to act on at the next step (reset observation on ended rows
            in SAME_STEP/DISABLED modes).
        reward, terminated, truncated: as returned by the env.
        active: rows that are real transitions (False on NEXT_STEP dummy steps).
    """

    next_obs: Tensor
    obs: Tensor
    reward: Tensor
    terminated: Tensor
    truncated: Tensor
    active: Tensor

    @property
    def done(self) -> Tensor:
        return self.terminated | self.truncated


class VecEnvDriver:
    """Drive a Gymnasium ``VectorEnv`` with torch actions; see the module docstring."""

    def __init__(
        self,
        env: VectorEnv,
        device: torch.device,
        *,
        obs_space: gym.spaces.Space | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        if not isinstance(env, VectorEnv):
            raise TypeError(f"env must be a gymnasium VectorEnv, got {type(env).__name__}")
        self.env = env
        self.device = device
        obs_space = obs_space or env.single_observation_space
        self.obs_dtype = torch.long if isinstance(obs_space, gym.spaces.Discrete) else dtype
        self.dtype = dtype
        self.num_envs = env.num_envs
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if isinstance(mode, str):
            mode = AutoresetMode(mode)
        self.mode = mode
        self.discrete = isinstance(env.single_action_space, gym.spaces.Discrete)
        self._tensor_env = False
        self._prev_done = torch.zeros(self.num_envs, dtype=torch.bool, device=device)
        # On a GPU, finiteness is accumulated on the device and checked (one sync) every
        # ``check_every`` steps instead of every step; on the CPU every step is checked.
        self.check_every = 1 if device.type == "cpu" else 64
        self._bad = torch.zeros((), dtype=torch.bool, device=device)
        self._steps = 0

    def _obs(self, obs: Any) -> Tensor:
        if isinstance(obs, Tensor):
            self._tensor_env = True
            out = obs.to(self.device, self.obs_dtype)
        else:
            array = np.asarray(obs)
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise ValueError("the env returned an observation with NaN or inf")
            return torch.as_tensor(array, device=self.device, dtype=self.obs_dtype)
        if out.is_floating_point():
            self._flag_nonfinite(out, "an observation")
        return out

    def _flag_nonfinite(self, x: Tensor, what: str) -> None:
        if self.check_every == 1:
            if not bool(torch.isfinite(x).all()):
                raise ValueError(f"the env returned {what} with NaN or inf")
            return
        self._bad |= ~torch.isfinite(x).all()

    def _check_flag(self) -> None:
        self._steps += 1
        if self.check_every > 1 and self._steps % self.check_every == 0 and bool(self._bad):
            raise ValueError(
                f"the env returned an observation or reward with NaN or inf "
                f"(checked every {self.check_every} steps on {self.device})"
            )

    def _flags(self, x: Any) -> Tensor:
        return torch.as_tensor(x, device=self.device).to(torch.bool).reshape(self.num_envs)

    def reset(self, seed: int | None = None) -> Tensor:
        obs, _ = self.env.reset(seed=seed)
        self._prev_done = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return self._obs(obs)

    def _action_for_env(self, action: Tensor) -> Any:
        if self._tensor_env:
            return action
        out = action.detach().cpu().numpy()
        if not self.discrete:
            out = out.astype(self.env.single_action_space.dtype, copy=False)
        return out

    def step(self, action: Tensor) -> Transition:
        obs, reward, terminated, truncated, info = self.env.step(self._action_for_env(action))
        obs = self._obs(obs)
        reward = torch.as_tensor(reward, device=self.device).to(self.dtype).reshape(self.num_envs)
        self._flag_nonfinite(reward, "a reward")
        self._check_flag()
        terminated, truncated = self._flags(terminated), self._flags(truncated)
        done = terminated | truncated
        active = torch.ones_like(done)
        next_obs = obs
        if self.mode == AutoresetMode.NEXT_STEP:
            active = ~self._prev_done
            self._prev_done = done & active
        elif self.mode == AutoresetMode.SAME_STEP:
            next_obs = self._final_obs(obs, done, info)
        else:  # DISABLED: reset ended rows ourselves
            if bool(done.any()):
                mask = done.cpu().numpy()
                reset_obs, _ = self.env.reset(options={"reset_mask": mask})
                obs = torch.where(
                    done.view(-1, *([1] * (obs.dim() - 1))), self._obs(reset_obs), obs
                )
        return Transition(next_obs, obs, reward, terminated, truncated, active)

    def _final_obs(self, obs: Tensor, done: Tensor, info: dict) -> Tensor:
        if "final_obs" not in info:
            return obs
        final = info["final_obs"]
        if isinstance(final, Tensor):
            final = final.to(self.device, obs.dtype)
        else:
            mask = np.asarray(info.get("_final_obs", done.cpu().numpy()), dtype=bool)
            rows = obs.clone()
            for i in np.flatnonzero(mask):
                rows[i] = torch.as_tensor(np.asarray(final[i]), device=self.device).to(rows.dtype)
            return rows
        return torch.where(done.view(-1, *([1] * (obs.dim() - 1))), final, obs)
