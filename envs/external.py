"""Env ids that another package registers only when asked: registered on first use.

MinAtar (``pip install minatar``, or the ``minatar`` extra) registers its
``MinAtar/<Game>-v0`` / ``-v1`` Gymnasium ids only when ``minatar.gym.register_envs()`` is
called, so ``gym.make("MinAtar/Breakout-v1")`` fails in a fresh process.
:func:`ensure_registered` makes such an id known before the toolkit looks it up (the env
factories, evaluation and the SB3 baselines all call it), so ``snn-rl train
MinAtar/Breakout-v1`` works as any registered id does.
"""

from __future__ import annotations

import importlib

import gymnasium as gym

__all__ = ["ON_DEMAND", "ensure_registered"]

#: id prefix -> (module, registering function, what to install)
ON_DEMAND: dict[str, tuple[str, str, str]] = {
    "MinAtar/": ("minatar.gym", "register_envs", "pip install minatar (or 'snn-rl[minatar]')"),
}


def ensure_registered(env_id: object) -> None:
    """Register the package behind ``env_id`` if the id is one of :data:`ON_DEMAND`'s and not
    registered yet; ImportError naming the package when it is not installed."""
    if not isinstance(env_id, str) or env_id in gym.registry:
        return
    for prefix, (module, function, install) in ON_DEMAND.items():
        if env_id.startswith(prefix):
            try:
                register = getattr(importlib.import_module(module), function)
            except ImportError as err:
                raise ImportError(
                    f"{env_id} needs the {module.split('.')[0]} package: {install}"
                ) from err
            register()
            return
