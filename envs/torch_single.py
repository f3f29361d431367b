"""One env of a torch-native vector env as a ``gymnasium.Env``: what ``gym.make`` returns.

The ``snn_rl/`` twins of the classic-control tasks are vector envs first
(``gym.make_vec(..., vectorization_mode="vector_entry_point")``). Everything that needs a
single env of the same id (SB3's evaluation, ``snn-rl evaluate`` and ``enjoy`` on a model
trained on ``snn_rl/CartPole-v1``, a user's ``gym.make``) gets a :class:`TorchSingleEnv`:
the same dynamics (the vector class with one row, on the CPU, numpy in and out, autoreset
off: the caller resets, as with any ``gymnasium.Env``; the time limit is the ``TimeLimit``
wrapper that ``gym.make`` adds from the spec).

Rendering borrows the picture of the Gymnasium task the twin reproduces: the twin's state
variables are the Gymnasium env's ``state`` in the same order, so ``render()`` copies the
current state into a Gymnasium env of that task and lets it draw.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from snn_rl.envs.torch_vector import TorchVectorEnv

__all__ = ["TorchSingleEnv"]

# Large enough never to truncate: the spec's TimeLimit wrapper is the single env's limit.
_NO_LIMIT = 2**62


class TorchSingleEnv(gym.Env):
    """``vector_cls`` with one row as a Gymnasium env; ``twin`` names the Gymnasium task
    (``"CartPole-v1"``) whose renderer draws it. Other keyword arguments go to ``vector_cls``.

    Example:
        >>> from snn_rl.envs.torch_cartpole import TorchCartPoleVec
        >>> env = TorchSingleEnv(TorchCartPoleVec, "CartPole-v1")
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, obs.dtype
        ((4,), dtype('float32'))
        >>> obs, reward, terminated, truncated, info = env.step(1)
        >>> float(reward), bool(terminated), bool(truncated)
        (1.0, False, False)
    """

    def __init__(
        self,
        vector_cls: type[TorchVectorEnv],
        twin: str,
        *,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        twin_meta = gym.spec(twin).entry_point
        twin_meta = gym.envs.registration.load_env_creator(twin_meta).metadata
        self.metadata = {
            "render_modes": list(twin_meta.get("render_modes", [])),
            "render_fps": twin_meta.get("render_fps"),
        }
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        for reserved in ("num_envs", "device", "numpy", "autoreset_mode"):
            if reserved in kwargs:
                raise TypeError(
                    f"{reserved!r} is fixed for a single env (one row, CPU, numpy, the caller "
                    "resets); use gym.make_vec for a batch"
                )
        kwargs.setdefault("max_episode_steps", _NO_LIMIT)
        self.render_mode = render_mode
        self.twin = twin
        self.vector = vector_cls(
            1, device="cpu", numpy=True, autoreset_mode=AutoresetMode.DISABLED, **kwargs
        )
        self.observation_space = self.vector.single_observation_space
        self.action_space = self.vector.single_action_space
        self._renderer: gym.Env | None = None
        self._last_action: np.ndarray | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs, info = self.vector.reset(seed=seed, options=options)
        self._last_action = None
        if self.render_mode == "human":
            self.render()
        return obs[0], info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        batch = np.asarray(action)[None, ...]
        obs, reward, terminated, truncated, _ = self.vector.step(batch)
        self._last_action = batch[0]
        if self.render_mode == "human":
            self.render()
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), {}

    def render(self) -> np.ndarray | None:
        """The twin task's picture of the current state (None without a ``render_mode``)."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode to gym.make")
            return None
        if self._renderer is None:
            self._renderer = gym.make(self.twin, render_mode=self.render_mode).unwrapped
            self._renderer.reset(seed=0)
        self._renderer.state = self.vector.state[0].numpy().astype(np.float64)
        if hasattr(self._renderer, "last_u"):  # Pendulum draws the last torque
            last = self._last_action
            self._renderer.last_u = None if last is None else float(np.ravel(last)[0])
        return self._renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
