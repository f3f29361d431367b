"""ConcatVectorEnv: several vector envs stepped as one, their rows side by side.

A population of agents (``snn_rl.agents.AgentPopulation``) runs each agent's own vector env
this way, so agent ``a``'s rows are exactly the envs it would step alone (the same class,
seeded the same way), whatever their vectorisation: CartPole-v1's native vector env has one
random stream for all its rows, and only a copy per agent reproduces each agent's episodes.

Rows are concatenated in order (env 0's rows first). ``reset(seed=[s_0, s_1, ...])`` gives
env ``k`` the seed ``s_k`` (an int seeds env ``k`` with ``seed + k * n`` where ``n`` is the
rows before it, as one vector env of all the rows would); actions are split in the same
order. The infos are merged key by key: arrays are concatenated, a key missing in one env
gets ``_key`` False on its rows (Gymnasium's batched-info convention).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv

__all__ = ["ConcatVectorEnv"]


class ConcatVectorEnv(VectorEnv):
    """Step ``envs`` (Gymnasium vector envs with equal single spaces and autoreset modes)
    as one vector env of all their rows (numpy; see the module docstring)."""

    def __init__(self, envs: Sequence[VectorEnv]) -> None:
        envs = list(envs)
        if not envs:
            raise ValueError("envs is empty; give at least one vector env")
        first = envs[0]
        for i, env in enumerate(envs):
            if not isinstance(env, VectorEnv):
                raise TypeError(
                    f"envs[{i}] must be a gymnasium VectorEnv, got {type(env).__name__}"
                )
            if (
                env.single_observation_space != first.single_observation_space
                or env.single_action_space != first.single_action_space
            ):
                raise ValueError(f"envs[{i}] has other spaces than envs[0]")
            if env.metadata.get("autoreset_mode") != first.metadata.get("autoreset_mode"):
                raise ValueError(f"envs[{i}] has another autoreset mode than envs[0]")
        self.envs = envs
        self.sizes = [env.num_envs for env in envs]
        self.num_envs = sum(self.sizes)
        self.single_observation_space = first.single_observation_space
        self.single_action_space = first.single_action_space
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, self.num_envs
        )
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self.metadata = dict(first.metadata)
        self.spec = first.spec
        self.render_mode = first.render_mode
        self._starts = np.cumsum([0, *self.sizes])

    def reset(self, *, seed: int | Sequence[int] | None = None, options: dict | None = None):
        if seed is None or isinstance(seed, int | np.integer):
            seeds = [None if seed is None else int(seed) + int(s) for s in self._starts[:-1]]
        else:
            seeds = list(seed)
            if len(seeds) != len(self.envs):
                raise ValueError(
                    f"seed must be an int or one per env ({len(self.envs)}), got {len(seeds)}"
                )
        results = [
            env.reset(seed=s, options=options) for env, s in zip(self.envs, seeds, strict=True)
        ]
        obs = np.concatenate([np.asarray(o) for o, _ in results])
        return obs, _merge_infos([info for _, info in results], self.sizes)

    def step(self, actions: Any):
        actions = np.asarray(actions)
        results = [
            env.step(actions[self._starts[k] : self._starts[k + 1]])
            for k, env in enumerate(self.envs)
        ]
        obs, rew, term, trunc = (
            np.concatenate([np.asarray(r[i]) for r in results]) for i in range(4)
        )
        return obs, rew, term, trunc, _merge_infos([r[4] for r in results], self.sizes)

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()


def _merge_infos(infos: list[dict], sizes: list[int]) -> dict:
    """Gymnasium batched infos of several vector envs as one (see the module docstring)."""
    keys = [k for k in dict.fromkeys(k for info in infos for k in info) if not k.startswith("_")]
    out: dict[str, Any] = {}
    for key in keys:
        present = [key in info for info in infos]
        values = [info.get(key) for info in infos]
        if all(isinstance(v, dict) for v, p in zip(values, present, strict=True) if p):
            out[key] = _merge_infos(
                [v if p else {} for v, p in zip(values, present, strict=True)], sizes
            )
        else:
            template = next(np.asarray(v) for v, p in zip(values, present, strict=True) if p)
            parts = [
                np.asarray(v) if p else np.zeros((n, *template.shape[1:]), dtype=template.dtype)
                for v, p, n in zip(values, present, sizes, strict=True)
            ]
            out[key] = np.concatenate(parts)
        masks = [
            np.asarray(info.get(f"_{key}", np.ones(n, bool))) if p else np.zeros(n, bool)
            for info, p, n in zip(infos, present, sizes, strict=True)
        ]
        out[f"_{key}"] = np.concatenate(masks)
    return out
