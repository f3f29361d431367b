"""The parts of an Optuna study of spiking agents that :mod:`snn_rl.agents.tune` runs.

:class:`TuneSpec` (a study's settings, checked when a stored study is resumed), the sampler,
the pruner, the storage (an SQLAlchemy URL opened with heartbeats), the seeding of sampler
streams, and the two files of a study: ``trials.csv`` (columns :data:`TRIAL_COLUMNS`) and
``best.yml`` (the best trial's whole configuration and the training budget, the format of
``snn-rl train``'s ``config.yml``). Optuna is imported on first use (the ``tune`` extra).
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from snn_rl.agents._io import atomic_write

if TYPE_CHECKING:
    import optuna

__all__ = [
    "EVAL_SEED_OFFSET",
    "TRIAL_COLUMNS",
    "TuneSpec",
    "best_yaml",
    "make_pruner",
    "make_sampler",
    "open_storage",
    "open_study",
    "require_optuna",
    "write_results",
]

EVAL_SEED_OFFSET = 20_000
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")
TRIAL_COLUMNS = ("number", "state", "value", "params", "duration", "reason")
#: Trials still running when a process stops are marked failed by the next trial of the
#: study that starts this long after their last heartbeat (RDB storages only).
HEARTBEAT_S, GRACE_S = 60, 180


def require_optuna() -> Any:
    """The ``optuna`` module, or ImportError saying how to install it."""
    try:
        import optuna
    except ImportError as err:
        raise ImportError(
            "tuning needs Optuna, an optional extra: pip install 'snn-rl[tune]'"
        ) from err
    return optuna


@dataclass(frozen=True)
class TuneSpec:
    """A study's settings (plain data, sent to worker processes)."""

    env_id: str
    algo: str
    n_timesteps: int
    eval_freq: int
    eval_episodes: int
    seed: int
    tuned: bool
    max_episode_steps: int | None
    device: str
    sampler: str
    pruner: str
    n_startup_trials: int
    n_warmup_steps: int
    study_name: str
    verbose: bool

    def study_settings(self) -> dict:
        """What makes the trials of one study comparable (checked when a study is resumed)."""
        keys = ("env_id", "algo", "n_timesteps", "eval_freq", "eval_episodes", "tuned")
        return {**{k: getattr(self, k) for k in keys}, "max_episode_steps": self.max_episode_steps}


def make_sampler(name: str, seed: int, n_startup_trials: int) -> optuna.samplers.BaseSampler:
    """``"tpe"`` (multivariate, ``n_startup_trials`` random trials first) or ``"random"``."""
    optuna = require_optuna()
    if name == "tpe":
        return optuna.samplers.TPESampler(
            n_startup_trials=n_startup_trials, seed=seed, multivariate=True
        )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {name!r}")


def make_pruner(name: str, n_startup_trials: int, n_warmup_steps: int) -> optuna.pruners.BasePruner:
    """``"median"``: prune a trial whose best value so far is below the median of the other
    trials' values at the same step, after ``n_startup_trials`` trials and from
    ``n_warmup_steps`` env steps on; ``"none"``: never prune."""
    optuna = require_optuna()
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps
        )
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"pruner must be one of {list(PRUNERS)}, got {name!r}")


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna RDB storage at the SQLAlchemy ``url``, with heartbeats; ValueError naming
    ``storage`` when it cannot be opened."""
    optuna = require_optuna()
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(
            f"storage must be an SQLAlchemy database URL such as sqlite:///study.db, got {url!r}"
        )
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
            )
    except Exception as err:  # SQLAlchemy raises its own types for bad URLs and drivers
        raise ValueError(f"storage {url!r} cannot be opened: {err}") from err


def _sampler_seed(seed: int, n_existing: int, worker: int) -> int:
    """Distinct sampler streams per worker and per rerun of a stored study (the same
    stream again would propose the same random trials again)."""
    return int(np.random.SeedSequence([seed, n_existing, worker]).generate_state(1)[0])


def open_study(spec: TuneSpec, storage: Any, worker: int, n_existing: int) -> optuna.Study:
    optuna = require_optuna()
    study = optuna.create_study(
        storage=storage,
        study_name=spec.study_name,
        direction="maximize",
        load_if_exists=True,
        sampler=make_sampler(spec.sampler, spec.seed, spec.n_startup_trials),
        pruner=make_pruner(spec.pruner, spec.n_startup_trials, spec.n_warmup_steps),
    )
    if n_existing < 0:
        n_existing = len(study.get_trials(deepcopy=False))
    study.sampler = make_sampler(
        spec.sampler, _sampler_seed(spec.seed, n_existing, worker), spec.n_startup_trials
    )
    return study


def check_study(study: optuna.Study, spec: TuneSpec) -> None:
    """Record the settings in a new study; refuse a stored study made with others."""
    settings = study.user_attrs.get("settings")
    if settings is None:
        study.set_user_attr("settings", spec.study_settings())
    elif settings != spec.study_settings():
        raise ValueError(
            f"study {spec.study_name!r} in the storage was made with other settings "
            f"({settings}, asked for {spec.study_settings()}); trials of different settings "
            "do not compare: give another study name"
        )


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The completed trial of the highest value (None before any completed)."""
    optuna = require_optuna()
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return max(done, key=lambda t: t.value, default=None)


def _trials_csv(study: optuna.Study) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(TRIAL_COLUMNS)
    for t in study.get_trials(deepcopy=False):
        duration = "" if t.duration is None else f"{t.duration.total_seconds():.2f}"
        value = "" if t.value is None else repr(float(t.value))
        params = json.dumps(t.params)
        writer.writerow(
            [t.number, t.state.name, value, params, duration, t.user_attrs.get("reason", "")]
        )
    return buf.getvalue()


def best_yaml(trial: optuna.trial.FrozenTrial, spec: TuneSpec) -> str:
    """The text of ``best.yml``: comments on the trial, then its whole configuration and the
    training budget (the format of ``snn-rl train``'s ``config.yml``)."""
    params = json.dumps(trial.params)
    seed = trial.user_attrs.get("seed", spec.seed)
    lines = [
        f"# snn-rl tune {spec.env_id} --algo {spec.algo}: trial {trial.number} of study "
        f"{spec.study_name!r}, the best so far",
        f"# mean return {trial.value:.6g} over {spec.eval_episodes} evaluation episodes "
        f"(env seeds {EVAL_SEED_OFFSET + seed}+) after {spec.n_timesteps} env steps, "
        f"training seed {seed}",
        f"# sampled: {params}",
        f"# train it: snn-rl train {spec.env_id} --algo {spec.algo} --config best.yml "
        f"--seed {seed}",
    ]
    data = {**trial.user_attrs["config"], "n_timesteps": spec.n_timesteps}
    return "\n".join(lines) + "\n" + yaml.safe_dump(data, sort_keys=False)


def write_results(study: optuna.Study, output: Path, spec: TuneSpec) -> tuple[Path | None, Path]:
    """Write ``trials.csv`` and (when a trial completed) ``best.yml``; their paths."""
    text = _trials_csv(study)
    trials_path = atomic_write(output / "trials.csv", lambda p: p.write_text(text))
    best = best_trial(study)
    if best is None:
        return None, trials_path
    best_text = best_yaml(best, spec)
    return atomic_write(output / "best.yml", lambda p: p.write_text(best_text)), trials_path
