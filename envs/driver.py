"""The vector-env driver: steps a Gymnasium ``VectorEnv`` with torch actions and returns one
:class:`~snn_rl.envs.transition.Transition` per step, whatever the env's autoreset mode.

* ``NEXT_STEP`` (Gymnasium's default, and its native vector CartPole): the step that ends an
  episode returns the true final observation; the *next* step of that row is a dummy (action
  ignored, reward 0, flags False, returns the reset observation). The driver marks that row
  inactive.
* ``SAME_STEP``: the ending step already returns the reset observation and puts the final
  one in ``info["final_obs"]``; the driver makes that the transition's ``next_obs`` and the
  reset observation its ``new_obs``. Every row is active on every step.
* ``DISABLED``: the driver resets ended rows itself (``reset_mask``) after the step.

Everything leaves the driver as torch tensors on its device; torch-native envs (``snn_rl/``
ids) stay on their device without a host round-trip. Observations and rewards are checked
finite: on the CPU at every step, on a GPU accumulated on the device and checked every
``check_every`` steps (one host sync).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from torch import Tensor

from .transition import Transition

__all__ = ["VecEnvDriver"]


class VecEnvDriver:
    """Drive a Gymnasium ``VectorEnv`` with torch actions; see the module docstring.

    Args:
        env: the vector env.
        device: where every tensor of the transitions lives.
        obs_space: the single-env observation space (default: the env's).
        dtype: float dtype of observations (Box) and rewards.
    """

    def __init__(
        self,
        env: VectorEnv,
        device: torch.device,
        *,
        obs_space: gym.spaces.Space | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if not isinstance(env, VectorEnv):
            raise TypeError(f"env must be a gymnasium VectorEnv, got {type(env).__name__}")
        self.env = env
        self.device = device
        obs_space = obs_space or env.single_observation_space
        self.obs_shape = (env.num_envs, *obs_space.shape)
        self.obs_dtype = torch.long if isinstance(obs_space, gym.spaces.Discrete) else dtype
        self.dtype = dtype
        self.num_envs = env.num_envs
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self.mode = AutoresetMode(mode) if isinstance(mode, str) else mode
        self.discrete = isinstance(env.single_action_space, gym.spaces.Discrete)
        self._tensor_env = False
        self._prev_done = torch.zeros(self.num_envs, dtype=torch.bool, device=device)
        self._obs: Tensor | None = None
        self.check_every = 1 if device.type == "cpu" else 64
        self._bad = torch.zeros((), dtype=torch.bool, device=device)
        self.steps = 0

    # ------------------------------------------------------------------------ inputs
    def _as_obs(self, obs: Any) -> Tensor:
        if tuple(obs.shape) != self.obs_shape:
            raise ValueError(
                f"the env returned observations of shape {tuple(obs.shape)}, expected "
                f"{self.obs_shape} ({self.num_envs} envs x the observation space's shape)"
            )
        if isinstance(obs, Tensor):
            self._tensor_env = True
            out = obs.to(self.device, self.obs_dtype)
            if out.is_floating_point():
                self._flag_nonfinite(out, "an observation")
            return out
        array = np.asarray(obs)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError("the env returned an observation with NaN or inf")
        return torch.as_tensor(array, device=self.device, dtype=self.obs_dtype)

    def _flag_nonfinite(self, x: Tensor, what: str) -> None:
        if self.check_every == 1:
            if not bool(torch.isfinite(x).all()):
                raise ValueError(f"the env returned {what} with NaN or inf")
            return
        self._bad |= ~torch.isfinite(x).all()

    def _check_flag(self) -> None:
        self.steps += 1
        if self.check_every > 1 and self.steps % self.check_every == 0 and bool(self._bad):
            raise ValueError(
                f"the env returned an observation or reward with NaN or inf "
                f"(checked every {self.check_every} steps on {self.device})"
            )

    def _flags(self, x: Any) -> Tensor:
        return torch.as_tensor(x, device=self.device).to(torch.bool).reshape(self.num_envs)

    def _action_for_env(self, action: Tensor) -> Any:
        if self._tensor_env:
            return action
        out = action.detach().cpu().numpy()
        if not self.discrete:
            out = out.astype(self.env.single_action_space.dtype, copy=False)
        return out

    # --------------------------------------------------------------------------- api
    def reset(self, seed: int | None = None) -> Tensor:
        """Reset every env (``seed`` seeds env i with ``seed + i``); returns the observations."""
        obs, _ = self.env.reset(seed=seed)
        self._prev_done = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        self._obs = self._as_obs(np.asarray(obs) if not isinstance(obs, Tensor) else obs)
        return self._obs

    def step(self, action: Tensor) -> Transition:
        """Step every env with ``action`` (on the driver's device); returns the transition."""
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(self._action_for_env(action))
        obs = self._as_obs(np.asarray(obs) if not isinstance(obs, Tensor) else obs)
        if tuple(np.shape(reward)) != (self.num_envs,):
            raise ValueError(
                f"the env returned rewards of shape {tuple(np.shape(reward))}, expected "
                f"({self.num_envs},): one number per env"
            )
        reward = torch.as_tensor(reward, device=self.device).to(self.dtype)
        self._flag_nonfinite(reward, "a reward")
        self._check_flag()
        terminated, truncated = self._flags(terminated), self._flags(truncated)
        done = terminated | truncated
        active = torch.ones_like(done)
        next_obs = new_obs = obs
        if self.mode == AutoresetMode.NEXT_STEP:
            active = ~self._prev_done
            self._prev_done = done & active
        elif self.mode == AutoresetMode.SAME_STEP:
            next_obs = self._final_obs(obs, done, info)
        elif bool(done.any()):  # DISABLED: reset ended rows ourselves
            reset_obs, _ = self.env.reset(options={"reset_mask": done.cpu().numpy()})
            reset_obs = np.asarray(reset_obs) if not isinstance(reset_obs, Tensor) else reset_obs
            rows = done.view(-1, *([1] * (obs.dim() - 1)))
            new_obs = torch.where(rows, self._as_obs(reset_obs), obs)
        tr = Transition(
            obs=self._obs,
            action=action,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            next_obs=next_obs,
            active=active,
            new_obs=new_obs,
            info=info,
        )
        self._obs = new_obs
        return tr

    def count_real(self, tr: Transition) -> int:
        """Real transitions in ``tr``: all rows, except NEXT_STEP's dummies (a host sync there)."""
        if self.mode == AutoresetMode.NEXT_STEP:
            return int(tr.active.sum())
        return self.num_envs

    def _final_obs(self, obs: Tensor, done: Tensor, info: dict) -> Tensor:
        if "final_obs" not in info:
            return obs
        final = info["final_obs"]
        if isinstance(final, Tensor):
            final = final.to(self.device, obs.dtype)
            return torch.where(done.view(-1, *([1] * (obs.dim() - 1))), final, obs)
        mask = np.asarray(info.get("_final_obs", done.cpu().numpy()), dtype=bool)
        rows = obs.clone()
        for i in np.flatnonzero(mask):
            rows[i] = torch.as_tensor(np.asarray(final[i]), device=self.device).to(rows.dtype)
        return rows
