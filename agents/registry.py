"""The agent registry: spiking agent classes by name, for the CLI, ``compare`` and loading.

``register_agent("mstdpet", MSTDPETAgent)`` makes ``snn-rl train ENV --algo mstdpet``,
``compare(..., algos=["mstdpet", "ppo"])`` and ``SpikingAgent.load(path)`` find the class.
Its tuned hyperparameters are read from a YAML file mapping env ids to configuration
overrides (``agents/hyperparams/<name>.yml`` for the shipped agents; any file for others).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snn_rl.agents.hyperparams import HYPERPARAMS_DIR, load_hyperparams

if TYPE_CHECKING:
    from snn_rl.agents.base import SpikingAgent
    from snn_rl.agents.task import Choice, TaskInfo

__all__ = ["AGENTS", "agent_class", "register_agent", "resolve_config", "tuned_settings"]

#: Registered spiking agents, name -> class.
AGENTS: dict[str, type[SpikingAgent]] = {}
_HYPERPARAMS: dict[str, Path | None] = {}


def register_agent(
    name: str,
    cls: type[SpikingAgent],
    *,
    hyperparams: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> type[SpikingAgent]:
    """Register a spiking agent class under ``name`` (lower-case, e.g. "mstdpet").

    Args:
        cls: a :class:`~snn_rl.agents.SpikingAgent` subclass with a ``config_class``.
        hyperparams: YAML file of tuned configurations per env id (default:
            ``agents/hyperparams/<name>.yml`` when it exists, else none).
        overwrite: replace an existing entry instead of raising.
    """
    from snn_rl.agents.base import SpikingAgent
    from snn_rl.agents.baselines import SB3_ALGOS

    if not isinstance(name, str) or not name or name != name.lower() or not name.isidentifier():
        raise ValueError(f"name must be a lower-case identifier, got {name!r}")
    if name in SB3_ALGOS:
        raise ValueError(f"{name!r} is the name of an SB3 baseline; choose another name")
    if not (isinstance(cls, type) and issubclass(cls, SpikingAgent)):
        raise TypeError(f"cls must be a SpikingAgent subclass, got {cls!r}")
    if name in AGENTS and AGENTS[name] is not cls and not overwrite:
        raise ValueError(f"an agent named {name!r} is already registered; pass overwrite=True")
    if hyperparams is None:
        default = HYPERPARAMS_DIR / f"{name}.yml"
        path = default if default.is_file() else None
    else:
        path = Path(hyperparams)
        if not path.is_file():
            raise FileNotFoundError(f"hyperparams: no file at {path}")
    cls.algo_name = name
    AGENTS[name] = cls
    _HYPERPARAMS[name] = path
    return cls


def agent_class(name: str) -> type[SpikingAgent]:
    """The class registered as ``name``; ValueError listing the registered names."""
    if name not in AGENTS:
        raise ValueError(f"unknown spiking agent {name!r}; registered: {sorted(AGENTS)}")
    return AGENTS[name]


def tuned_settings(name: str, env_id: str | None) -> tuple[dict[str, Any], int | None, str]:
    """(configuration overrides, training budget ``n_timesteps`` or None, source) of the
    tuned entry for ``env_id``; ``({}, None, "")`` without one."""
    path = _HYPERPARAMS.get(name)
    if path is None or env_id is None:
        return {}, None, ""
    entry = load_hyperparams(name, env_id, path=path)
    budget = entry.pop("n_timesteps", None)
    return entry, None if budget is None else int(budget), f"{path.name} [{env_id}]"


def resolve_config(
    cls: type[SpikingAgent],
    env_id: str | None,
    config: Any,
    overrides: Mapping[str, Any] | None,
    n_envs: int | None,
    reward: Any,
    *,
    task: Callable[[], TaskInfo | None] | None = None,
    tuned: bool = True,
) -> tuple[Any, list[Choice]]:
    """The configuration an agent of class ``cls`` uses (see :class:`SpikingAgent`), and the
    task-derived choices in it.

    ``config`` as given (an instance); or merged onto the base (a mapping); or, for None,
    the tuned entry for ``env_id`` merged onto the generic defaults (with ``tuned`` and an
    entry), else the base. The base is the generic defaults with ``cls.task_defaults(task())``
    applied; ``task`` is called only then (the generic defaults alone when it gives None).
    Then ``overrides``, then the ``n_envs`` and ``reward`` shorthands."""
    from snn_rl.envs.rewards import RewardFunction, make_reward_function

    config_class = cls.config_class
    entry, _, source = tuned_settings(cls.algo_name, env_id) if tuned else ({}, None, "")
    choices: list[Choice] = []
    if config is None and entry:
        resolved = config_class().merged(entry, source=source)
    elif isinstance(config, config_class):
        resolved = config
    elif config is None or isinstance(config, Mapping):
        info = None if task is None else task()
        choices = [] if info is None else list(cls.task_defaults(info))
        derived = {c.key: c.value for c in choices}
        resolved = config_class().merged(derived, source="task defaults")
        if config is not None:
            resolved = resolved.merged(config, source="config")
    else:
        raise TypeError(f"config must be a {config_class.__name__} or a mapping, got {config!r}")
    extra: dict[str, Any] = {}
    if n_envs is not None:
        extra["n_envs"] = n_envs
    if reward is not None:
        if not isinstance(reward, str | RewardFunction) and not callable(reward):
            raise TypeError(
                "reward must be a reward-function name, a RewardFunction or a callable "
                f"f(transition) -> (B,), got {type(reward).__name__}"
            )
        extra["reward"] = make_reward_function(reward) if callable(reward) else reward
    return resolved.merged(overrides, source="overrides").merged(extra), choices
