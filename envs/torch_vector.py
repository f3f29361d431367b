"""Shared base of the torch-native vector envs: autoreset, time limit, seeding, numpy output.

A subclass holds its physical state as one ``(D, B)`` tensor (one row per state variable, so
each variable is a contiguous ``(B,)`` row) and implements three pure functions: the
dynamics of one step, the observation of a state and the bounds of its reset distribution.
Everything that is the same for every env lives here, written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from snn_rl._validation import check_bool, check_int, check_mask, resolve_device

__all__ = ["TorchVectorEnv"]


def _autoreset_mode(value: AutoresetMode | str) -> AutoresetMode:
    """An AutoresetMode from itself, its value ("NextStep") or its name ("NEXT_STEP")."""
    if isinstance(value, AutoresetMode):
        return value
    for mode in AutoresetMode:
        if value in (mode.value, mode.name):
            return mode
    valid = [m.value for m in AutoresetMode] + [m.name for m in AutoresetMode]
    raise ValueError(
        f"autoreset_mode must be a gymnasium.vector.AutoresetMode or one of {valid}, got {value!r}"
    )


class TorchVectorEnv(VectorEnv):
    """Base class of a batch of ``num_envs`` copies of one env whose state is a torch tensor.

    Subclasses set ``state_names`` (one name per state variable), call ``__init__`` with their
    single spaces and default reset bounds, and implement ``_dynamics``, ``_observe`` and (if
    their reset options differ from ``low``/``high``) ``_reset_bounds``.

    Autoreset (``metadata["autoreset_mode"]``), the same three modes as Gymnasium:

    - ``NEXT_STEP`` (default, as Gymnasium's own vector CartPole): the step that returns
      ``terminated | truncated`` returns the true final observation; the next ``step()`` of
      that row is a dummy: its action is ignored, it returns the reset observation, reward 0
      and both flags False.
    - ``SAME_STEP``: a row that ends is reset in the same step and returns the reset
      observation; ``info["final_obs"]`` is a ``(B, *obs_shape)`` batch holding the true
      next observation of every row (for rows that did not end it equals the returned
      observation) and ``info["_final_obs"]`` the ``(B,)`` bool mask of rows that ended.
    - ``DISABLED``: nothing is reset by ``step()``; reset rows with
      ``reset(options={"reset_mask": mask})``.

    ``step()`` never synchronises with the device on CUDA: no ``.item()`` and no Python
    branching on tensor values (on CPU, where there is nothing to synchronise, the reset rows
    are drawn by index, which is cheaper than drawing a reset state for every row). The time
    limit is a per-env step counter tensor: ``truncated = steps >= max_episode_steps``.

    Args:
        num_envs: Number of envs B.
        device: Device of the state and of every returned tensor (``"auto"``: CUDA when
            available, else the CPU).
        dtype: Floating dtype of the simulation (float64 reproduces Gymnasium's numpy
            arithmetic most closely; float32 is faster).
        autoreset_mode: A ``gymnasium.vector.AutoresetMode`` (or its string value).
        numpy: Return numpy arrays (observations cast to the observation space's dtype)
            instead of tensors.
        max_episode_steps: Time limit; a row is truncated at its ``max_episode_steps``-th step.
        single_observation_space: The observation space of one env.
        single_action_space: The action space of one env (``Discrete`` or ``Box``).
        reset_low: Default lower bounds of the uniform reset distribution, one per state
            variable.
        reset_high: Default upper bounds, one per state variable.
    """

    metadata: dict[str, Any] = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}
    state_names: tuple[str, ...] = ()

    def __init__(
        self,
        num_envs: int,
        *,
        device: str | torch.device,
        dtype: torch.dtype,
        autoreset_mode: AutoresetMode | str,
        numpy: bool,
        max_episode_steps: int,
        single_observation_space: spaces.Box,
        single_action_space: spaces.Discrete | spaces.Box,
        reset_low: Sequence[float],
        reset_high: Sequence[float],
    ) -> None:
        self.num_envs = check_int("num_envs", num_envs, minimum=1)
        self.max_episode_steps = check_int("max_episode_steps", max_episode_steps, minimum=1)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        mode = _autoreset_mode(autoreset_mode)
        check_bool("numpy", numpy)
        self.device = resolve_device("device", device)
        self.dtype = dtype
        self.autoreset_mode = mode
        self.numpy = numpy
        self.metadata = {**type(self).metadata, "autoreset_mode": mode}
        self.single_observation_space = single_observation_space
        self.single_action_space = single_action_space
        self.observation_space = batch_space(single_observation_space, self.num_envs)
        self.action_space = batch_space(single_action_space, self.num_envs)
        n_state = len(self.state_names)
        self._default_bounds = (tuple(reset_low), tuple(reset_high))
        if len(reset_low) != n_state or len(reset_high) != n_state:
            raise ValueError(f"reset bounds need {n_state} entries, one per state variable")
        self._set_reset_bounds(*self._default_bounds)
        self._generator = torch.Generator(device=self.device)
        self._generator.seed()
        self._state: torch.Tensor | None = None
        self._steps = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self._prev_done = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    # ----------------------------------------------------------------- subclass interface
    def _dynamics(
        self, state: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step of every row: ``(D, B) state, action -> (D, B) next state, (B,) reward,
        (B,) bool terminated``, all three freshly allocated (the caller writes into them);
        ``state`` itself must not be modified."""
        raise NotImplementedError

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        """Observation ``(B, *obs_shape)`` of a ``(D, B)`` state."""
        raise NotImplementedError

    def _reset_bounds(self, options: dict[str, Any] | None) -> tuple[Sequence[float], ...]:
        """Reset bounds (low, high) per state variable from the ``reset()`` options.

        Default: Gymnasium's ``options={"low": l, "high": h}`` for every variable.
        """
        if not options or ("low" not in options and "high" not in options):
            return self._default_bounds
        low = float(options.get("low", self._default_bounds[0][0]))
        high = float(options.get("high", self._default_bounds[1][0]))
        if not low <= high:
            raise ValueError(f"options['low'] ({low}) must be <= options['high'] ({high})")
        n = len(self.state_names)
        return (low,) * n, (high,) * n

    # ----------------------------------------------------------------------- public API
    @property
    def state(self) -> torch.Tensor:
        """A copy of the physical state, shape ``(B, D)`` (columns follow ``state_names``)."""
        if self._state is None:
            raise RuntimeError("call reset() before reading the state")
        return self._state.T.clone()

    def set_state(self, state: torch.Tensor | np.ndarray) -> None:
        """Overwrite the physical state of every row (step counters are left as they are).

        Args:
            state: New state, shape ``(B, D)``, finite.
        """
        state = torch.as_tensor(state, dtype=self.dtype, device=self.device)
        expected = (self.num_envs, len(self.state_names))
        if tuple(state.shape) != expected:
            raise ValueError(f"state must have shape {expected}, got {tuple(state.shape)}")
        if not bool(torch.isfinite(state).all()):
            raise ValueError("state must be finite")
        self._state = state.T.contiguous()

    @property
    def elapsed_steps(self) -> torch.Tensor:
        """Steps taken in the current episode of every row, shape ``(B,)`` int64."""
        return self._steps.clone()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every row (or the rows of ``options["reset_mask"]`` in DISABLED mode).

        Args:
            seed: Seeds the env's ``torch.Generator`` (and ``np_random``).
            options: The env's reset-bound options (as Gymnasium's; they stay in force for
                later autoresets until the next ``reset``) and, in DISABLED mode only,
                ``"reset_mask"``: a ``(B,)`` bool array or tensor of rows to reset.

        Returns:
            ``(obs, info)`` with obs of shape ``(B, *obs_shape)`` and an empty info.
        """
        if seed is not None:
            seed = check_int("seed", seed, minimum=None)
        super().reset(seed=seed)
        if seed is not None:
            self._generator.manual_seed(seed)
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        self._set_reset_bounds(*self._reset_bounds(options))
        if mask is None:
            self._state = self._sample_initial(self.num_envs)
            self._steps.zero_()
            self._prev_done.zero_()
        else:
            if self.autoreset_mode is not AutoresetMode.DISABLED or self._state is None:
                raise ValueError(
                    "options['reset_mask'] needs autoreset_mode=DISABLED and a first full reset"
                )
            mask = self._as_mask(mask)
            self._state = self._reset_rows(self._state.clone(), mask)
            self._steps.masked_fill_(mask, 0)
        return self._output(self._observe(self._state)), {}

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        """Advance every row one step.

        Args:
            actions: ``(B,)`` integer actions (Discrete) or ``(B, *action_shape)`` floats
                (Box), as a tensor (any device) or numpy array. Out-of-range discrete actions
                and non-finite Box actions raise ValueError when they are on the host (numpy
                or a CPU tensor); CUDA tensors are not checked, to avoid a sync.

        Returns:
            ``(obs, reward, terminated, truncated, info)``, batch-first ``(B, ...)``: tensors on
            ``device`` (obs and reward in ``dtype``, flags bool), or numpy arrays with
            ``numpy=True``.
        """
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        action = self._as_action(actions)
        state, reward, terminated = self._dynamics(self._state, action)
        self._steps += 1
        truncated = self._steps >= self.max_episode_steps
        info: dict[str, Any] = {}
        if self.autoreset_mode is AutoresetMode.NEXT_STEP:
            dummy = self._prev_done  # rows whose previous step ended: this step is a dummy
            state = self._reset_rows(state, dummy)
            reward.masked_fill_(dummy, 0.0)
            terminated.masked_fill_(dummy, False)
            truncated.masked_fill_(dummy, False)
            self._steps.masked_fill_(dummy, 0)
            self._prev_done = terminated | truncated
        elif self.autoreset_mode is AutoresetMode.SAME_STEP:
            done = terminated | truncated
            final_obs = self._observe(state).clone()  # the reset below writes into ``state``
            info = {"final_obs": self._output(final_obs), "_final_obs": done}
            state = self._reset_rows(state, done)
            self._steps.masked_fill_(done, 0)
            if self.numpy:
                info["_final_obs"] = done.cpu().numpy()
        self._state = state
        obs = self._observe(state)
        if self.numpy:
            return (
                self._output(obs),
                reward.cpu().numpy(),
                terminated.cpu().numpy(),
                truncated.cpu().numpy(),
                info,
            )
        return obs, reward, terminated, truncated, info

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_envs={self.num_envs}, device={self.device}, "
            f"dtype={self.dtype}, autoreset_mode={self.autoreset_mode.name})"
        )

    # -------------------------------------------------------------------------- helpers
    def _set_reset_bounds(self, low: Sequence[float], high: Sequence[float]) -> None:
        kwargs = {"dtype": self.dtype, "device": self.device}
        self._reset_low = torch.tensor(low, **kwargs).unsqueeze(1)
        self._reset_span = torch.tensor(high, **kwargs).unsqueeze(1) - self._reset_low

    def _sample_initial(self, n: int) -> torch.Tensor:
        """``n`` reset states drawn uniformly within the bounds, shape ``(D, n)``."""
        u = torch.rand(
            (len(self.state_names), n),
            generator=self._generator,
            dtype=self.dtype,
            device=self.device,
        )
        return torch.addcmul(self._reset_low, u, self._reset_span)

    def _reset_rows(self, state: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Replace the masked rows of a fresh ``(D, B)`` state by reset states."""
        if self.device.type == "cpu":
            index = mask.nonzero().squeeze(1)
            state[:, index] = self._sample_initial(index.numel())
            return state
        return torch.where(mask, self._sample_initial(self.num_envs), state)

    def _as_mask(self, mask: Any) -> torch.Tensor:
        return check_mask(mask, self.num_envs, name="options['reset_mask']", device=self.device)

    def _as_action(self, actions: Any) -> torch.Tensor:
        space = self.single_action_space
        host = not isinstance(actions, torch.Tensor)
        if host:
            actions = np.asarray(actions)
        expected = (self.num_envs, *space.shape)
        if tuple(actions.shape) != expected:
            raise ValueError(f"actions must have shape {expected}, got {tuple(actions.shape)}")
        if isinstance(space, spaces.Discrete):
            return self._as_discrete_action(actions, host, int(space.n))
        if host:
            actions = np.asarray(actions, dtype=np.float64)
            if not np.isfinite(actions).all():
                raise ValueError("actions must be finite")
        action = torch.as_tensor(actions, device=self.device).to(self.dtype)
        if not action.is_floating_point():
            raise TypeError(f"actions must be floating point, got {action.dtype}")
        if not host and actions.device.type == "cpu" and not bool(torch.isfinite(action).all()):
            raise ValueError("actions must be finite")
        return action

    def _as_discrete_action(self, actions: Any, host: bool, n: int) -> torch.Tensor:
        if host:
            if not np.issubdtype(actions.dtype, np.integer):
                raise TypeError(f"actions must be integers, got dtype {actions.dtype}")
            if actions.size and (actions.min() < 0 or actions.max() >= n):
                raise ValueError(f"actions must lie in [0, {n - 1}], got {actions}")
            return torch.as_tensor(actions, device=self.device)
        if actions.is_floating_point() or actions.is_complex() or actions.dtype == torch.bool:
            raise TypeError(f"actions must be an integer tensor, got {actions.dtype}")
        if actions.device.type == "cpu":
            low, high = torch.aminmax(actions)
            if low.item() < 0 or high.item() >= n:
                raise ValueError(f"actions must lie in [0, {n - 1}], got {actions}")
        return actions.to(self.device)

    def _output(self, obs: torch.Tensor) -> Any:
        if not self.numpy:
            return obs
        dtype = self.single_observation_space.dtype
        return obs.detach().cpu().numpy().astype(dtype, copy=False)
