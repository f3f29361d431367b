"""What an agent can know about its task before training, and the defaults derived from it.

:func:`describe_task` gathers the spaces, the episode horizon (the time limit) and, for an
env that can be built from its id, a short uniformly random rollout: the range of each
observation dimension and the rewards seen. An agent class turns a :class:`TaskInfo` into
configuration :class:`Choice`\\ s (``SpikingAgent.task_defaults``), each with the rule that
made it, so that an env without a tuned entry still gets a configuration that fits it;
``verbose=1`` prints them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from stable_baselines3.common.vec_env import VecEnv

from snn_rl.agents.env_util import (
    DEFAULT_MAX_EPISODE_STEPS,
    env_spec,
    make_vec_env,
    time_limit_of,
)

__all__ = ["ROLLOUT_STEPS", "Choice", "TaskInfo", "describe_task", "rollout_bounds"]

#: Uniformly random env steps of the rollout that measures observation ranges and rewards.
ROLLOUT_STEPS = 2000
#: A Box bound beyond this magnitude counts as unbounded (gymnasium writes 3.4e38 or inf).
UNBOUNDED = 1e6


@dataclass(frozen=True)
class Choice:
    """One derived configuration value: ``key`` (dotted field path), ``value``, ``rule``."""

    key: str
    value: Any
    rule: str

    def __str__(self) -> str:
        return f"{self.key} = {self.value!r}: {self.rule}"


@dataclass(frozen=True)
class TaskInfo:
    """The task as seen before training.

    Attributes:
        observation_space, action_space: of one env.
        horizon: the episode cap in env steps (the time limit), None when unknown.
        obs_low, obs_high: per-dimension range of the random rollout's observations
            (flattened Box observations only), None without a rollout.
        rewards: the rollout's rewards, None without a rollout.
        obs_mean: per-dimension mean of the rollout's observations (flattened), None
            without a rollout.
    """

    observation_space: gym.spaces.Space
    action_space: gym.spaces.Space
    horizon: int | None = None
    obs_low: np.ndarray | None = None
    obs_high: np.ndarray | None = None
    rewards: np.ndarray | None = None
    obs_mean: np.ndarray | None = None


def _horizon(env: Any, max_episode_steps: int | None) -> int | None:
    if max_episode_steps is not None:
        return int(max_episode_steps)
    spec = getattr(env, "spec", None)
    if isinstance(env, gym.Env):
        return time_limit_of(env) or DEFAULT_MAX_EPISODE_STEPS  # as_vector_env's cap
    if spec is not None and spec.max_episode_steps is not None:
        return int(spec.max_episode_steps)
    return None


def describe_task(
    env: Any, max_episode_steps: int | None = None, env_kwargs: dict | None = None
) -> TaskInfo | None:
    """The :class:`TaskInfo` of ``env`` (an id, ``gymnasium.Env``, ``VectorEnv`` or SB3
    ``VecEnv``), or None for ``env=None``. Only an env id gets a rollout (of the env made
    with ``env_kwargs``): it runs on a fresh copy, so nothing of the user's envs changes."""
    if env is None:
        return None
    if isinstance(env, str):
        spec = env_spec(env)
        limit = max_episode_steps or spec.max_episode_steps or DEFAULT_MAX_EPISODE_STEPS
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the training envs warn about a missing limit
            # a vector-only (torch-native) id: one env of it, on the CPU, SAME_STEP resets
            probe = make_vec_env(env, 1, env_kwargs=env_kwargs, max_episode_steps=limit)
        try:
            low, high, rewards, mean = _rollout(probe, ROLLOUT_STEPS, seed=0)
            return TaskInfo(
                probe.single_observation_space,
                probe.single_action_space,
                int(limit),
                low,
                high,
                rewards,
                mean,
            )
        finally:
            probe.close()
    if isinstance(env, VectorEnv):
        obs_space, act_space = env.single_observation_space, env.single_action_space
    elif isinstance(env, VecEnv):
        obs_space, act_space = env.observation_space, env.action_space
        envs = getattr(env, "envs", None)
        env = envs[0] if envs else env
    else:
        obs_space, act_space = env.observation_space, env.action_space
    return TaskInfo(obs_space, act_space, _horizon(env, max_episode_steps))


def _numpy(x: Any) -> np.ndarray:
    return np.asarray(x.cpu() if hasattr(x, "cpu") else x, dtype=np.float64)


def _rollout(
    vec: VectorEnv, steps: int, seed: int
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Uniformly random actions on a one-env vector env: (obs min, obs max, rewards, obs
    mean).

    With NEXT_STEP autoreset the step after an episode's end is a reset (its reward is not
    a transition's and is left out; its observation is a first one and is kept)."""
    vec.action_space.seed(seed)
    obs, _ = vec.reset(seed=seed)
    box = isinstance(vec.single_observation_space, gym.spaces.Box)
    seen = [_numpy(obs).reshape(1, -1)[0]] if box else []
    same_step = vec.metadata.get("autoreset_mode") == AutoresetMode.SAME_STEP
    rewards, resetting = [], False
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = vec.step(vec.action_space.sample())
        if not resetting:
            rewards.append(float(_numpy(reward).reshape(-1)[0]))
        if box:
            seen.append(_numpy(obs).reshape(1, -1)[0])
        ended = bool(_numpy(terminated).reshape(-1)[0] or _numpy(truncated).reshape(-1)[0])
        resetting = ended and not same_step and not resetting
    rewards_array = np.asarray(rewards)
    if not box:
        return None, None, rewards_array, None
    data = np.asarray(seen, dtype=np.float64)
    return data.min(0), data.max(0), rewards_array, data.mean(0)


def rollout_bounds(task: TaskInfo) -> tuple[list[float], list[float], list[str]] | None:
    """Encoder bounds of a Box observation: the space's where finite, else the random
    rollout's range widened by a quarter on each side. Returns (low, high, notes) or None
    when every bound is finite. A dimension the rollout did not see vary gets a warning
    naming it and the range ``[-1, 1]`` around what it saw."""
    space = task.observation_space
    low = np.asarray(space.low, dtype=np.float64).ravel()
    high = np.asarray(space.high, dtype=np.float64).ravel()
    open_dims = [i for i in range(low.size) if not (abs(low[i]) < UNBOUNDED > abs(high[i]))]
    if not open_dims:
        return None
    notes = []
    for i in open_dims:
        if task.obs_low is None:
            raise ValueError(
                f"observation dimension {i} is unbounded ({low[i]:g} to {high[i]:g}) and no "
                "random rollout could measure it; give encoder.low and encoder.high"
            )
        seen_low, seen_high = float(task.obs_low[i]), float(task.obs_high[i])
        spread = seen_high - seen_low
        if not spread > 0 or not math.isfinite(spread):
            warnings.warn(
                f"observation dimension {i} is unbounded and did not vary over "
                f"{ROLLOUT_STEPS} random steps; encoding it over [{seen_low - 1:g}, "
                f"{seen_high + 1:g}] (give encoder.low and encoder.high)",
                UserWarning,
                stacklevel=2,
            )
            lo, hi = seen_low - 1.0, seen_high + 1.0
        else:
            lo, hi = seen_low - spread / 4, seen_high + spread / 4
        lo, hi = max(lo, low[i]), min(hi, high[i])
        low[i], high[i] = lo, hi
        notes.append(f"dim {i}: [{lo:.3g}, {hi:.3g}]")
    return [float(x) for x in low], [float(x) for x in high], notes
