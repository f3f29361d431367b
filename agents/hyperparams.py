"""Tuned hyperparameters per algorithm and env id, shipped as YAML (like rl-zoo's).

``agents/hyperparams/<algo>.yml`` maps env ids to settings: for a spiking agent, overrides of
its configuration (nested sections); for an SB3 algorithm, rl-zoo's constructor keywords. Both
may hold ``n_timesteps``, the training budget. ``load_hyperparams("mstdpet", "CartPole-v1")``
returns the entry (a new dict), or ``{}`` when the env has none. A torch-native twin (``snn_rl/CartPole-v1``: same spaces
and dynamics as ``CartPole-v1``) without an entry of its own uses its Gymnasium task's entry.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import yaml

__all__ = ["HYPERPARAMS_DIR", "available_algos", "load_hyperparams", "tuned_env_ids"]

HYPERPARAMS_DIR = Path(__file__).resolve().parent / "hyperparams"
TWIN_PREFIX = "snn_rl/"  # torch-native twins of Gymnasium tasks: snn_rl/CartPole-v1, ...


@cache
def _read(algo: str, path: Path | None = None) -> dict:
    path = HYPERPARAMS_DIR / f"{algo}.yml" if path is None else path
    if not path.is_file():
        raise ValueError(
            f"no hyperparameter file for algo {algo!r}; available: {available_algos()}"
        )
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path} must map env ids to mappings of hyperparameters")
    return data


def available_algos() -> list[str]:
    return sorted(p.stem for p in HYPERPARAMS_DIR.glob("*.yml"))


def tuned_env_ids(algo: str) -> list[str]:
    """Env ids that have tuned hyperparameters for ``algo``."""
    return sorted(_read(algo))


def load_hyperparams(algo: str, env_id: str | None, *, path: Path | None = None) -> dict:
    """Tuned settings for ``algo`` on ``env_id`` (a deep copy; ``{}`` if none), from
    ``path`` (default: the shipped ``hyperparams/<algo>.yml``)."""
    if env_id is None:
        return {}
    table = _read(algo, path)
    if env_id not in table and env_id.startswith(TWIN_PREFIX):
        env_id = env_id[len(TWIN_PREFIX) :]
    return copy.deepcopy(table.get(env_id, {}))
