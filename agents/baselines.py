"""Stable-Baselines3 baselines, built through the same env factory as our spiking agents.

``make_baseline("ppo", "CartPole-v1", seed=0)`` returns an SB3 model with rl-baselines3-zoo's
published hyperparameters for the env, on an SB3 ``VecEnv`` of ``n_envs`` Monitor-wrapped
envs made by :func:`snn_rl.agents.env_util.make_env` (the factory our agents use), so both
arms of a comparison train on the same environment. :func:`baseline_budget` gives the
training budget (``n_timesteps``) that goes with the hyperparameters.

The hyperparameters live in ``agents/hyperparams/<algo>.yml``, one mapping per env id, with
rl-zoo's keys: ``n_timesteps`` (budget), ``n_envs``, ``policy``, ``normalize`` (true, or a
mapping of ``VecNormalize`` arguments), ``policy_kwargs`` (a YAML mapping;
``activation_fn`` by name, e.g. ``relu``) and any constructor argument of the algorithm.
``learning_rate``, ``clip_range`` and ``clip_range_vf`` may be linear schedules written
``lin_<initial value>``. An algorithm without a file, or an env without an entry, gets SB3's
defaults with ``MlpPolicy``.

A model trained with ``normalize`` sees normalised observations; :func:`eval_policy` wraps it
so that an evaluation on raw envs (the shared :func:`snn_rl.agents.evaluation.evaluate`)
normalises them with the training statistics, frozen at the time of the call.
"""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from torch import nn

import snn_rl.envs  # noqa: F401  (registers the snn_rl/ ids)
from snn_rl._validation import check_int
from snn_rl.agents.env_util import make_env
from snn_rl.agents.hyperparams import available_algos, load_hyperparams
from snn_rl.envs.external import ensure_registered

__all__ = [
    "SB3_ALGOS",
    "BaselineConfig",
    "NormalizedPolicy",
    "baseline_budget",
    "baseline_hyperparams",
    "check_env_id",
    "eval_policy",
    "make_baseline",
    "parse_hyperparams",
    "parse_schedule",
]

SB3_ALGOS: dict[str, type[BaseAlgorithm]] = {
    "a2c": A2C,
    "ddpg": DDPG,
    "dqn": DQN,
    "ppo": PPO,
    "sac": SAC,
    "td3": TD3,
}
_ACTION_SPACES: dict[str, tuple[type, ...]] = {
    "dqn": (gym.spaces.Discrete,),
    "ddpg": (gym.spaces.Box,),
    "sac": (gym.spaces.Box,),
    "td3": (gym.spaces.Box,),
}
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}
SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")
_SETTINGS = ("n_timesteps", "n_envs", "policy", "normalize")


def algo_class(algo: str) -> type[BaseAlgorithm]:
    """The SB3 class of ``algo`` ("ppo", "dqn", ...); ValueError listing valid names."""
    if not isinstance(algo, str) or algo.lower() not in SB3_ALGOS:
        raise ValueError(f"unknown SB3 algorithm {algo!r}; valid: {sorted(SB3_ALGOS)}")
    return SB3_ALGOS[algo.lower()]


def check_env_id(env_id: str) -> gym.envs.registration.EnvSpec:
    """The spec of a registered single-env id; ValueError listing the valid ids otherwise."""
    ensure_registered(env_id)
    if not isinstance(env_id, str) or env_id not in gym.registry:
        raise ValueError(
            f"unknown environment id {env_id!r}; registered ids: {', '.join(sorted(gym.registry))}"
        )
    spec = gym.spec(env_id)
    if spec.entry_point is None:
        raise ValueError(
            f"{env_id} is a vector-only env; baselines and evaluation need a single env "
            "(register an entry_point for it, or use an id that has one)"
        )
    return spec


def _number(value: Any) -> Any:
    """YAML reads ``1e-3`` (no dot) as a string; turn numeric strings into floats."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_schedule(value: float | str, *, name: str = "value") -> float | Callable[[float], float]:
    """A number, or ``"lin_<v0>"``: the linear schedule of SB3's progress remaining ``p``.

    Equation: ``value(p) = p * v0`` with ``p`` going from 1 (start of training) to 0 (end).

    Example:
        >>> schedule = parse_schedule("lin_0.001", name="learning_rate")
        >>> schedule(1.0), schedule(0.25)
        (0.001, 0.00025)
        >>> parse_schedule(0.2)
        0.2
    """
    value = _number(value)
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number or 'lin_<number>', got {value!r}")
    if isinstance(value, int | float):
        if not np.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return float(value)
    if isinstance(value, str) and value.startswith("lin_"):
        start = _number(value[4:])
        if isinstance(start, float) and np.isfinite(start):
            return LinearSchedule(start, 0.0, 1.0)
    raise ValueError(f"{name} must be a number or 'lin_<number>' (e.g. 'lin_0.001'), got {value!r}")


def _policy_kwargs(raw: Any) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"policy_kwargs must be a mapping, got {raw!r}")
    kwargs = {k: _number(v) for k, v in raw.items()}
    act = kwargs.get("activation_fn")
    if act is not None:
        if act not in ACTIVATIONS:
            raise ValueError(f"activation_fn must be one of {sorted(ACTIVATIONS)}, got {act!r}")
        kwargs["activation_fn"] = ACTIVATIONS[act]
    return kwargs


def _normalize(raw: Any) -> dict | None:
    if raw is None or raw is False:
        return None
    if raw is True:
        return {}
    if isinstance(raw, dict):
        return dict(raw)
    raise ValueError(
        f"normalize must be true, false or a mapping of VecNormalize args, got {raw!r}"
    )


@dataclass(frozen=True)
class BaselineConfig:
    """Parsed hyperparameters of one SB3 baseline.

    Attributes:
        algo: lower-case algorithm name.
        n_timesteps: training budget in env steps (None: not given).
        n_envs: number of training envs.
        policy: SB3 policy name.
        normalize: ``VecNormalize`` keyword arguments, or None for no normalisation.
        kwargs: constructor keyword arguments (schedules as callables).
    """

    algo: str
    n_timesteps: int | None = None
    n_envs: int = 1
    policy: str = "MlpPolicy"
    normalize: dict | None = None
    kwargs: dict = field(default_factory=dict)


def parse_hyperparams(algo: str, raw: dict) -> BaselineConfig:
    """Check and convert one YAML entry (see the module docstring) for ``algo``."""
    cls = algo_class(algo)
    if not isinstance(raw, dict):
        raise ValueError(f"hyperparameters must be a mapping, got {type(raw).__name__}")
    valid = set(inspect.signature(cls.__init__).parameters) - {"self", "policy", "env"}
    unknown = set(raw) - valid - set(_SETTINGS)
    if unknown:
        raise ValueError(
            f"unknown {algo} hyperparameters {sorted(unknown)}; valid: {sorted(valid | set(_SETTINGS))}"
        )
    kwargs = {k: _number(v) for k, v in raw.items() if k not in _SETTINGS}
    for key in SCHEDULE_KEYS:
        if key in kwargs:
            kwargs[key] = parse_schedule(kwargs[key], name=key)
    if "policy_kwargs" in kwargs:
        kwargs["policy_kwargs"] = _policy_kwargs(kwargs["policy_kwargs"])
    if isinstance(kwargs.get("train_freq"), list):
        kwargs["train_freq"] = tuple(kwargs["train_freq"])
    n_timesteps = _number(raw.get("n_timesteps"))
    n_envs = raw.get("n_envs", 1)
    if n_timesteps is not None and (
        isinstance(n_timesteps, bool | str)
        or not float(n_timesteps).is_integer()
        or n_timesteps < 0
    ):
        raise ValueError(f"n_timesteps must be a non-negative integer, got {n_timesteps!r}")
    n_envs = check_int("n_envs", n_envs, minimum=1)
    return BaselineConfig(
        algo=algo.lower(),
        n_timesteps=None if n_timesteps is None else int(n_timesteps),
        n_envs=n_envs,
        policy=str(raw.get("policy", "MlpPolicy")),
        normalize=_normalize(raw.get("normalize")),
        kwargs=kwargs,
    )


def baseline_hyperparams(algo: str, env_id: str) -> dict:
    """The YAML entry of ``algo`` for ``env_id`` as written (``{}`` if none)."""
    algo_class(algo)
    name = algo.lower()
    return load_hyperparams(name, env_id) if name in available_algos() else {}


def baseline_budget(algo: str, env_id: str) -> int | None:
    """rl-zoo's training budget ``n_timesteps`` of ``algo`` on ``env_id`` (None if none)."""
    return parse_hyperparams(algo, baseline_hyperparams(algo, env_id)).n_timesteps


def make_baseline(
    algo: str,
    env_id: str,
    *,
    seed: int,
    device: str = "cpu",
    n_envs: int | None = None,
    hyperparams: dict | None = None,
    env_kwargs: dict | None = None,
    max_episode_steps: int | None = None,
    verbose: int = 0,
) -> BaseAlgorithm:
    """An SB3 model of ``algo`` for ``env_id`` with the tuned hyperparameters.

    Args:
        algo: a name of :data:`SB3_ALGOS` (case-insensitive).
        env_id: a registered Gymnasium id.
        seed: seeds the model and the training envs (``seed + i`` for env ``i``).
        device: torch device of the model ("cpu" is fastest for small MLPs).
        n_envs: training envs (default: the tuned value, else 1).
        hyperparams: keys of the YAML entry that override the tuned ones.
        env_kwargs: keyword arguments of ``make_env``.
        max_episode_steps: episode cap (``make_env``'s).
        verbose: SB3 verbosity.

    Returns:
        The untrained model; its env is a ``VecNormalize`` when ``normalize`` is set.
    """
    cls = algo_class(algo)
    check_env_id(env_id)
    check_int("seed", seed, minimum=0)
    raw = {**baseline_hyperparams(algo, env_id), **(hyperparams or {})}
    if n_envs is not None:
        raw["n_envs"] = n_envs
    config = parse_hyperparams(algo, raw)
    venv: VecEnv = make_vec_env(
        lambda: make_env(env_id, env_kwargs=env_kwargs, max_episode_steps=max_episode_steps),
        n_envs=config.n_envs,
        seed=seed,
    )
    allowed = _ACTION_SPACES.get(config.algo)
    if allowed is not None and not isinstance(venv.action_space, allowed):
        venv.close()
        names = [t.__name__ for t in allowed]
        raise ValueError(
            f"{config.algo} needs a {' or '.join(names)} action space; {env_id} has "
            f"{type(venv.action_space).__name__}"
        )
    if config.normalize is not None:
        venv = VecNormalize(venv, **{"gamma": config.kwargs.get("gamma", 0.99), **config.normalize})
    return cls(config.policy, venv, seed=seed, device=device, verbose=verbose, **config.kwargs)


class NormalizedPolicy:
    """``predict`` through frozen ``VecNormalize`` observation statistics.

    Equation: ``obs' = clip((obs - mean) / sqrt(var + eps), -clip_obs, clip_obs)`` with the
    statistics copied at construction (later training does not change them).

    Args:
        model: the SB3 model.
        vec_normalize: its training ``VecNormalize``.
    """

    def __init__(self, model: BaseAlgorithm, vec_normalize: VecNormalize) -> None:
        self.model = model
        self.vec_normalize: VecNormalize = pickle.loads(pickle.dumps(vec_normalize))
        self.vec_normalize.training = False

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Any]:
        obs = self.vec_normalize.normalize_obs(observation)
        return self.model.predict(obs, state, episode_start, deterministic)


def eval_policy(model: Any) -> Any:
    """What to evaluate on raw envs: the model, or :class:`NormalizedPolicy` if it normalises."""
    get_norm = getattr(model, "get_vec_normalize_env", None)
    norm = get_norm() if get_norm is not None else None
    return model if norm is None else NormalizedPolicy(model, norm)
