"""One evaluation protocol for spiking agents and SB3 models alike.

``evaluate(model, env_id, n_episodes=100, seed=0)`` runs ``n_episodes`` deterministic episodes
on an SB3 ``DummyVecEnv`` of up to ``max_envs`` Monitor-wrapped copies of the env (made by the
shared factory, seeded ``seed, seed+1, ...``) through
``stable_baselines3.common.evaluation.evaluate_policy``, so both arms of a comparison are
scored by the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv
from tqdm.auto import tqdm

from snn_rl._validation import check_bool, check_int
from snn_rl.agents.env_util import env_spec, episode_limit, make_env

__all__ = ["EvalResult", "evaluate", "make_eval_env"]


@dataclass(frozen=True)
class EvalResult:
    """Returns and lengths of the evaluation episodes."""

    returns: np.ndarray
    lengths: np.ndarray

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    def as_dict(self) -> dict:
        return {
            "mean_return": self.mean,
            "std_return": self.std,
            "min_return": float(np.min(self.returns)),
            "max_return": float(np.max(self.returns)),
            "mean_length": float(np.mean(self.lengths)),
            "episodes": int(len(self.returns)),
        }


def make_eval_env(
    env_id: str,
    n_envs: int,
    seed: int,
    env_kwargs: dict | None = None,
    max_episode_steps: int | None = None,
) -> DummyVecEnv:
    """An SB3 vector env of ``n_envs`` Monitor-wrapped copies, seeded ``seed + i``
    (``max_episode_steps`` as in :func:`~snn_rl.agents.env_util.make_env`)."""
    limit = episode_limit(env_spec(env_id), max_episode_steps, env_id)

    def make() -> Monitor:
        return Monitor(make_env(env_id, env_kwargs=env_kwargs, max_episode_steps=limit))

    vec = DummyVecEnv([make] * n_envs)
    vec.seed(seed)
    return vec


def evaluate(
    model,
    env_id: str,
    *,
    n_episodes: int = 100,
    seed: int = 0,
    deterministic: bool = True,
    max_envs: int = 100,
    env_kwargs: dict | None = None,
    max_episode_steps: int | None = None,
    progress_bar: bool = False,
) -> EvalResult:
    """Score ``model`` (anything with SB3's ``predict``) over ``n_episodes`` episodes.

    ``max_episode_steps`` caps each episode (default: the spec's time limit, else
    ``env_util.DEFAULT_MAX_EPISODE_STEPS``); ``progress_bar`` shows finished episodes.
    """
    check_int("n_episodes", n_episodes, minimum=1)
    check_bool("progress_bar", progress_bar)
    vec = make_eval_env(env_id, min(n_episodes, max_envs), seed, env_kwargs, max_episode_steps)
    bar = tqdm(total=n_episodes, desc="evaluating", unit="episode") if progress_bar else None

    def count_episodes(local: dict, _globals: dict) -> None:
        if local["done"]:
            bar.update(1)

    try:
        returns, lengths = evaluate_policy(
            model,
            vec,
            n_eval_episodes=n_episodes,
            deterministic=deterministic,
            return_episode_rewards=True,
            callback=count_episodes if bar is not None else None,
        )
    finally:
        vec.close()
        if bar is not None:
            bar.close()
    return EvalResult(np.asarray(returns, dtype=np.float64), np.asarray(lengths))
