"""Environment factory, device resolution, and Stable-Baselines3 vector envs as Gymnasium ones.

The factory is shared by our agents and the SB3 baselines so that both arms of a comparison
train on the same environment (same id, keyword arguments and wrappers). The agents drive
every env through :class:`snn_rl.envs.driver.VecEnvDriver`; an SB3 ``VecEnv`` gets there
through :class:`SB3VecEnvAdapter`.
"""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from stable_baselines3.common.vec_env import VecEnv

import snn_rl.envs  # noqa: F401  (registers the snn_rl/ ids)
from snn_rl._validation import check_int
from snn_rl._validation import resolve_device as _resolve_device
from snn_rl.envs.external import ensure_registered
from snn_rl.envs.step_checker import StepChecker

__all__ = [
    "DEFAULT_MAX_EPISODE_STEPS",
    "SB3VecEnvAdapter",
    "as_vector_env",
    "env_spec",
    "episode_limit",
    "make_env",
    "make_vec_env",
    "resolve_device",
    "time_limit_of",
    "wrapper_chain",
]

#: The episode cap of envs whose spec sets no time limit (CliffWalking, Blackjack, ...),
#: so that neither training nor evaluation can hang on a policy that never ends an episode.
DEFAULT_MAX_EPISODE_STEPS = 1000


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else must be a device torch can
    compute on here (``snn_rl._validation.resolve_device``)."""
    return _resolve_device("device", device)


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registered spec of ``env_id``; ValueError naming the id otherwise."""
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a string, got {type(env_id).__name__}")
    ensure_registered(env_id)
    try:
        return gym.spec(env_id)
    except gym.error.Error as err:
        raise ValueError(f"unknown environment id {env_id!r}: {err}") from err


def episode_limit(
    spec: gym.envs.registration.EnvSpec | None, max_episode_steps: int | None, what: str
) -> int | None:
    """The episode cap to apply: ``max_episode_steps`` when given; None when the env's
    ``spec`` has a time limit already; else :data:`DEFAULT_MAX_EPISODE_STEPS`, with a
    warning naming ``what`` (the env)."""
    if max_episode_steps is not None:
        return check_int("max_episode_steps", max_episode_steps, minimum=1)
    if spec is not None and spec.max_episode_steps is not None:
        return None
    warnings.warn(
        f"{what} sets no time limit; episodes are capped at {DEFAULT_MAX_EPISODE_STEPS} steps "
        "(pass max_episode_steps, or --max-episode-steps, to choose the cap)",
        UserWarning,
        stacklevel=3,
    )
    return DEFAULT_MAX_EPISODE_STEPS


def make_env(
    env_id: str,
    *,
    env_kwargs: dict | None = None,
    render_mode: str | None = None,
    max_episode_steps: int | None = None,
):
    """Create one Gymnasium environment (the single-env factory shared with SB3 baselines).

    ``max_episode_steps`` replaces the spec's time limit; an env registered without one is
    capped at :data:`DEFAULT_MAX_EPISODE_STEPS` (with a warning).
    """
    spec = env_spec(env_id)
    kwargs = dict(env_kwargs or {})
    limit = episode_limit(spec, max_episode_steps, env_id)
    if limit is not None:
        kwargs["max_episode_steps"] = limit
    return gym.make(env_id, render_mode=render_mode, **kwargs)


def wrapper_chain(env: Any) -> list[Any]:
    """The wrappers around ``env``, outermost first (Gymnasium env and vector wrappers)."""
    chain = []
    while isinstance(env, gym.Wrapper | gym.vector.VectorWrapper):
        chain.append(env)
        env = env.env
    return chain


def time_limit_of(env: Any) -> int | None:
    """The cap of the outermost ``TimeLimit`` wrapper around ``env``, None without one."""
    for wrapper in wrapper_chain(env):
        if isinstance(wrapper, gym.wrappers.TimeLimit):
            return int(wrapper._max_episode_steps)
    return None


def make_vec_env(
    env_id: str,
    n_envs: int = 1,
    *,
    device: str | torch.device = "cpu",
    env_kwargs: dict | None = None,
    max_episode_steps: int | None = None,
) -> VectorEnv:
    """Create a vector env of ``n_envs`` copies of ``env_id``.

    Torch-native ids (``snn_rl/CartPole-v1`` ...) are built on ``device`` with SAME_STEP
    autoreset (no dummy steps, no host sync); ids with a native vector implementation use
    it; everything else is a ``SyncVectorEnv`` of :func:`make_env`. ``max_episode_steps``
    as in :func:`make_env`.
    """
    spec = env_spec(env_id)
    n_envs = check_int("n_envs", n_envs, minimum=1)
    kwargs = dict(env_kwargs or {})
    if env_id.startswith("snn_rl/") and spec.vector_entry_point is not None:
        kwargs.setdefault("device", str(resolve_device(device)))
        kwargs.setdefault("autoreset_mode", AutoresetMode.SAME_STEP)
        if max_episode_steps is not None:
            kwargs["max_episode_steps"] = check_int(
                "max_episode_steps", max_episode_steps, minimum=1
            )
        return gym.make_vec(
            env_id, num_envs=n_envs, vectorization_mode="vector_entry_point", **kwargs
        )
    if spec.vector_entry_point is not None and not kwargs and max_episode_steps is None:
        return gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point")
    limit = episode_limit(spec, max_episode_steps, env_id)
    return gym.vector.SyncVectorEnv(
        [lambda: StepChecker(make_env(env_id, env_kwargs=kwargs, max_episode_steps=limit))] * n_envs
    )


class SB3VecEnvAdapter(VectorEnv):
    """A Stable-Baselines3 ``VecEnv`` seen as a Gymnasium ``VectorEnv`` with SAME_STEP autoreset.

    SB3 vector envs reset finished envs themselves and report the final observation in
    ``infos[i]["terminal_observation"]`` and time-limit ends in
    ``infos[i]["TimeLimit.truncated"]``; the adapter turns those into ``terminated``,
    ``truncated`` and ``info["final_obs"]``, and the per-env info dicts into Gymnasium's
    batched info. ``reset(seed=s)`` seeds env i with ``s + i`` (SB3's ``VecEnv.seed``).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, venv: VecEnv) -> None:
        self.venv = venv
        self.num_envs = venv.num_envs
        self.single_observation_space = venv.observation_space
        self.single_action_space = venv.action_space
        self.observation_space = gym.vector.utils.batch_space(venv.observation_space, venv.num_envs)
        self.action_space = gym.vector.utils.batch_space(venv.action_space, venv.num_envs)
        self.metadata = {**getattr(venv, "metadata", {}), **self.metadata}
        self.spec = None
        envs = getattr(venv, "envs", None)
        if envs:
            self.spec = getattr(envs[0], "spec", None)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if options:
            raise ValueError("an SB3 VecEnv takes no reset options")
        if seed is not None:
            self.venv.seed(seed)
        return self.venv.reset(), {}

    def step(self, actions: Any):
        obs, rewards, dones, infos = self.venv.step(actions)
        dones = np.asarray(dones, dtype=bool)
        truncated = np.array([bool(i.get("TimeLimit.truncated", False)) for i in infos]) & dones
        info: dict[str, Any] = {}
        for i, env_info in enumerate(infos):
            extra = {}
            if dones[i] and "terminal_observation" in env_info:
                extra["final_obs"] = env_info["terminal_observation"]
            info = self._add_info(info, {**env_info, **extra}, i)
        return obs, np.asarray(rewards), dones & ~truncated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        self.venv.close()


def as_vector_env(
    env: Any,
    n_envs: int,
    device: torch.device,
    max_episode_steps: int | None = None,
    env_kwargs: dict | None = None,
) -> VectorEnv:
    """The Gymnasium vector env an agent drives: an env id (``n_envs`` copies), a
    ``gymnasium.Env`` (one env), a Gymnasium ``VectorEnv`` or an SB3 ``VecEnv``.

    ``max_episode_steps`` caps the episodes of an env id or a ``gymnasium.Env`` (one with no
    time limit of its own gets :data:`DEFAULT_MAX_EPISODE_STEPS`, with a warning); vector
    envs are used as they are, so it must be None for them. ``env_kwargs`` go to the
    constructor of an env id.
    """
    if isinstance(env, VectorEnv | VecEnv) and max_episode_steps is not None:
        raise ValueError(
            "max_episode_steps applies to env ids and gymnasium.Env instances; wrap the "
            "envs of a vector env in gymnasium.wrappers.TimeLimit yourself"
        )
    if isinstance(env, VectorEnv):
        return env
    if isinstance(env, VecEnv):
        return SB3VecEnvAdapter(env)
    if isinstance(env, str):
        return make_vec_env(
            env,
            n_envs,
            device=device,
            env_kwargs=env_kwargs,
            max_episode_steps=max_episode_steps,
        )
    if isinstance(env, gym.Env):
        limit = max_episode_steps
        if limit is not None or time_limit_of(env) is None:
            limit = episode_limit(None, max_episode_steps, f"the env {env}")
            env = gym.wrappers.TimeLimit(env, max_episode_steps=limit)
        return gym.vector.SyncVectorEnv([lambda: StepChecker(env)])
    raise TypeError(
        "env must be a Gymnasium env id, a gymnasium.Env, a gymnasium.vector.VectorEnv or a "
        f"stable_baselines3 VecEnv, got {type(env).__name__}"
    )
