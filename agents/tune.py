"""Hyperparameter tuning of spiking agents on Optuna, with rl-baselines3-zoo's habits.

``tune("CartPole-v1", n_trials=20, n_timesteps=20_000, output="runs/tune")`` runs an Optuna
study that maximises the mean evaluation return. Each trial:

1. samples configuration overrides from the agent class's ``search_space(trial)``;
2. builds the agent through the registry with them (on top of the tuned entry, or of the
   task-derived defaults with ``tuned=False``), seeded ``seed``;
3. trains ``n_timesteps`` env steps in one ``learn`` call and evaluates every ``eval_freq``
   env steps with :func:`~snn_rl.agents.evaluation.evaluate` (``eval_episodes``
   deterministic episodes on the env seeds ``20000 + seed, ...``, apart from the training
   seeds and from the ``10000 + seed`` that ``snn-rl train`` reports on);
4. reports each evaluation to Optuna at its scheduled step and stops when the pruner says
   so; the trial's value is the last evaluation's mean return.

A sampled configuration that is invalid (:class:`~snn_rl.agents.config.ConfigError`) or
that drives training to NaN or inf is pruned with its reason (as rl-zoo does), so the study
goes on and the sampler learns to avoid that region. ``storage`` (an SQLAlchemy URL such as
``sqlite:///study.db``) keeps the study: a rerun, or another process, with the same storage
and study name adds trials to it. ``n_jobs > 1`` runs trials in spawned processes that share
the storage (a temporary SQLite file when none is given). Files written to ``output``:
``best.yml`` (the best trial's configuration, a ``snn-rl train --config`` file) and
``trials.csv`` (columns :data:`TRIAL_COLUMNS`).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import torch

from snn_rl import NonFiniteError
from snn_rl._validation import check_bool, check_int
from snn_rl.agents.callbacks import BaseCallback
from snn_rl.agents.config import ConfigError
from snn_rl.agents.evaluation import evaluate
from snn_rl.agents.population import AgentPopulation, VariantError
from snn_rl.agents.registry import agent_class, tuned_settings
from snn_rl.agents.study import (
    EVAL_SEED_OFFSET,
    PRUNERS,
    SAMPLERS,
    TRIAL_COLUMNS,
    TuneSpec,
    best_trial,
    check_study,
    open_storage,
    open_study,
    require_optuna,
    write_results,
)

if TYPE_CHECKING:
    import optuna

__all__ = ["TRIAL_COLUMNS", "TuneResult", "TuneSpec", "require_optuna", "tune"]

DEFAULT_TIMESTEPS = 100_000


@dataclass(frozen=True)
class TuneResult:
    """The study and its best trial (``best_*`` are None when no trial completed)."""

    study: optuna.Study
    best_number: int | None
    best_value: float | None
    best_params: dict | None
    best_config: dict | None
    best_path: Path | None
    trials_path: Path | None


# ---------------------------------------------------------------------- trials
class _TrialEvaluation(BaseCallback):
    """Evaluate every ``eval_freq`` env steps, report to the trial, stop when pruned."""

    reads_step_locals = False

    def __init__(
        self, trial: optuna.Trial, spec: TuneSpec, batch: list[_TrialEvaluation] | None = None
    ) -> None:
        super().__init__()
        self.trial, self.spec = trial, spec
        self.next_step = spec.eval_freq
        self.pruned = False
        # in a batch (one population), a pruned trial stops evaluating but the batch goes on
        # until every trial in it is pruned
        self.batch = batch

    def evaluate_at(self, model: Any, step: int) -> float:
        spec = self.spec
        result = evaluate(
            model,
            spec.env_id,
            n_episodes=spec.eval_episodes,
            seed=EVAL_SEED_OFFSET + spec.seed,
            max_episode_steps=spec.max_episode_steps,
        )
        mean = result.mean
        if not math.isfinite(mean):
            _prune(self.trial, f"the mean evaluation return is {mean} at step {step}")
        self.trial.report(mean, step)
        return mean

    def _on_step(self) -> bool:
        if self.pruned:  # only in a batch: the others still train
            return not all(e.pruned for e in self.batch or [self])
        now, freq = self.model.num_timesteps, self.spec.eval_freq
        if now < self.next_step:
            return True
        step = (now // freq) * freq  # the schedule's point: trials compare at the same steps
        self.next_step = step + freq
        if step >= self.spec.n_timesteps:
            return True  # the last point is evaluated after learn
        mean = self.evaluate_at(self.model, step)
        if self.trial.should_prune():
            reason = f"{self.spec.pruner} pruner at step {step} (mean return {mean:.4g})"
            self.trial.set_user_attr("reason", reason)
            self.pruned = True
            return self.batch is not None and not all(e.pruned for e in self.batch)
        return True


def _prune(trial: optuna.Trial, reason: str) -> NoReturn:
    trial.set_user_attr("reason", reason)
    raise require_optuna().TrialPruned(reason)


def run_trial(spec: TuneSpec, trial: optuna.Trial) -> float:
    """One trial (the objective): sample, build, train with evaluations, return the value."""
    cls = agent_class(spec.algo)
    overrides = dict(cls.search_space(trial))
    try:
        agent = cls(
            spec.env_id,
            overrides=overrides,
            seed=spec.seed,
            device=spec.device,
            max_episode_steps=spec.max_episode_steps,
            tuned=spec.tuned,
        )
    except ConfigError as err:
        _prune(trial, f"invalid configuration: {err}")
    trial.set_user_attr("config", agent.config.to_dict())
    trial.set_user_attr("seed", spec.seed)  # processes sharing a study may differ in seed
    evaluation = _TrialEvaluation(trial, spec)
    try:
        agent.learn(spec.n_timesteps, callback=evaluation)
    except NonFiniteError as err:
        _prune(trial, f"NaN or inf in training: {err}")
    if evaluation.pruned:
        raise require_optuna().TrialPruned(trial.user_attrs["reason"])
    return evaluation.evaluate_at(agent, spec.n_timesteps)


def run_batch(spec: TuneSpec, study: optuna.Study, size: int) -> list[optuna.trial.FrozenTrial]:
    """``size`` trials trained as one :class:`~snn_rl.agents.AgentPopulation` (one batched
    program), told to the study; returns them finished.

    The first trial samples the whole search space; the others are enqueued with its values
    of every parameter that a population cannot vary by agent (those not in the agent
    class's ``population_variants``; search-space parameters are named by their dotted
    configuration keys) and sample the rest. Trials that still differ in such a parameter
    (another process sharing the storage took an enqueued one) train as a population of
    their own. Each trial is evaluated and pruned on its own; pruned trials train on until
    every trial of their population is pruned. A configuration error prunes its trial only;
    NaN or inf in training prunes its population (which cannot tell whose weights they were).
    """
    cls = agent_class(spec.algo)

    def fixed(trial: optuna.Trial) -> dict[str, Any]:  # what a population cannot vary
        return {k: v for k, v in trial.params.items() if k not in cls.population_variants}

    first = study.ask()
    asked = [(first, dict(cls.search_space(first)))]
    for _ in range(size - 1):
        study.enqueue_trial(fixed(first), skip_if_exists=False)
        trial = study.ask()
        asked.append((trial, dict(cls.search_space(trial))))
    groups: dict[str, list[tuple[optuna.Trial, dict[str, Any]]]] = {}
    for trial, variant in asked:
        groups.setdefault(repr(sorted(fixed(trial).items())), []).append((trial, variant))
    finished: list[optuna.trial.FrozenTrial] = []
    for group in groups.values():
        finished.extend(_run_population(spec, study, cls, group))
    return finished


def _run_population(
    spec: TuneSpec, study: optuna.Study, cls: type, group: list[tuple[optuna.Trial, dict]]
) -> list[optuna.trial.FrozenTrial]:
    """Train trials that differ only in ``population_variants`` as one population."""
    optuna = require_optuna()
    trials = [trial for trial, _ in group]
    variants = [variant for _, variant in group]
    finished: list[optuna.trial.FrozenTrial] = []

    def tell(trial: optuna.Trial, value: float | None, reason: str | None = None) -> None:
        if reason is not None:
            trial.set_user_attr("reason", reason)
        if value is None:
            finished.append(study.tell(trial, state=optuna.trial.TrialState.PRUNED))
        else:
            finished.append(study.tell(trial, value))

    pop = None
    while trials and pop is None:
        try:
            pop = AgentPopulation(
                spec.env_id,
                [spec.seed] * len(trials),
                agent=cls,
                variants=variants,
                device=spec.device,
                max_episode_steps=spec.max_episode_steps,
                tuned=spec.tuned,
            )
        except VariantError as err:  # that trial's configuration only
            tell(trials.pop(err.agent), None, f"invalid configuration: {err}")
            variants.pop(err.agent)
        except ConfigError as err:  # one that every trial shares
            for trial in trials:
                tell(trial, None, f"invalid configuration: {err}")
            trials = []
    if pop is None:
        return finished
    batch: list[_TrialEvaluation] = []
    batch.extend(_TrialEvaluation(trial, spec, batch) for trial in trials)
    for trial, member in zip(trials, pop.members, strict=True):
        trial.set_user_attr("config", member.config.to_dict())
        trial.set_user_attr("seed", spec.seed)
        trial.set_user_attr("batch", len(trials))
    try:
        pop.learn(spec.n_timesteps, callbacks=batch)
    except NonFiniteError as err:
        for trial in trials:
            tell(trial, None, f"NaN or inf in training (a population of {len(trials)}): {err}")
        return finished
    for trial, member, evaluation in zip(trials, pop.members, batch, strict=True):
        if evaluation.pruned:
            tell(trial, None)
            continue
        try:
            tell(trial, evaluation.evaluate_at(member, spec.n_timesteps))
        except optuna.TrialPruned:  # a non-finite final evaluation (its reason is set)
            tell(trial, None)
    return finished


def _print_trial(spec: TuneSpec, trial: optuna.trial.FrozenTrial) -> None:
    value = "" if trial.value is None else f" value {trial.value:.4g}"
    took = trial.duration.total_seconds() if trial.duration is not None else 0.0
    params = " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items()
    )
    reason = trial.user_attrs.get("reason")
    print(
        f"[tune {spec.env_id}] trial {trial.number} {trial.state.name}{value} in {took:.1f} s"
        + (f" ({reason})" if reason else "")
        + f": {params}",
        flush=True,
    )


def _optimize(
    study: optuna.Study, spec: TuneSpec, n_trials: int, output: str | None, batch: int = 1
) -> None:
    """Run ``n_trials`` trials of ``study`` here, one torch thread, files after each (after
    each batch of ``batch`` trials trained as one population, when ``batch > 1``)."""

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if spec.verbose:
            _print_trial(spec, trial)
        if output is not None:
            write_results(study, Path(output), spec)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if batch == 1:
            study.optimize(lambda t: run_trial(spec, t), n_trials=n_trials, callbacks=[after_trial])
            return
        done = 0
        while done < n_trials:
            size = min(batch, n_trials - done)
            for trial in run_batch(spec, study, size):
                after_trial(study, trial)
            done += size
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class _Job:
    spec: TuneSpec
    storage: str
    n_trials: int
    worker: int
    n_existing: int
    output: str | None
    batch: int = 1


def _worker(job: _Job) -> int:
    """A spawned process: join the stored study and run this worker's share of trials."""
    optuna = require_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(job.spec, open_storage(job.storage), job.worker, job.n_existing)
    _optimize(study, job.spec, job.n_trials, job.output, job.batch)
    return job.n_trials


def _run_workers(spec: TuneSpec, storage: str, n_trials: int, n_jobs: int, **job: Any) -> None:
    n_workers = min(n_jobs, n_trials)
    jobs = [
        _Job(spec, storage, n_trials // n_workers + (i < n_trials % n_workers), i, **job)
        for i in range(n_workers)
    ]
    with mp.get_context("spawn").Pool(n_workers) as pool:
        pool.map(_worker, jobs, chunksize=1)


# ------------------------------------------------------------------------ tune
@contextmanager
def _quiet(optuna: Any) -> Iterator[None]:
    """Optuna's log at WARNING (a line per trial comes from ``verbose``), then as it was."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _check_search_space(cls: type) -> None:
    """Call the search space once on a throw-away trial: an agent without one, or one that
    returns something else than overrides, fails before any training."""
    optuna = require_optuna()
    probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    space = cls.search_space(probe)
    if not isinstance(space, dict) or not all(isinstance(k, str) and k for k in space):
        raise TypeError(
            f"{cls.__name__}.search_space(trial) must return a dict of dotted configuration "
            f"overrides, got {space!r}"
        )


def _make_spec(env_id: str, algo: str, **kw: Any) -> TuneSpec:
    from snn_rl.agents.baselines import check_env_id

    check_env_id(env_id)
    _check_search_space(agent_class(algo))
    for name in ("n_timesteps", "eval_freq", "eval_episodes"):
        kw[name] = check_int(name, kw[name], minimum=1)
    for name in ("seed", "n_startup_trials", "n_warmup_steps"):
        kw[name] = check_int(name, kw[name], minimum=0)
    if kw["max_episode_steps"] is not None:
        check_int("max_episode_steps", kw["max_episode_steps"], minimum=1)
    for name, valid in (("sampler", SAMPLERS), ("pruner", PRUNERS)):
        if kw[name] not in valid:
            raise ValueError(f"{name} must be one of {list(valid)}, got {kw[name]!r}")
    if not isinstance(kw["study_name"], str) or not kw["study_name"]:
        raise ValueError(f"study_name must be a non-empty string, got {kw['study_name']!r}")
    check_bool("tuned", kw["tuned"])
    check_bool("verbose", kw["verbose"])
    return TuneSpec(env_id=env_id, algo=algo, device=str(kw.pop("device")), **kw)


def tune(
    env_id: str,
    algo: str = "mstdpet",
    *,
    n_trials: int = 20,
    n_timesteps: int | None = None,
    sampler: str = "tpe",
    pruner: str = "median",
    n_jobs: int = 1,
    storage: str | None = None,
    study_name: str | None = None,
    seed: int = 0,
    eval_freq: int | None = None,
    eval_episodes: int = 10,
    n_startup_trials: int = 10,
    n_warmup_steps: int | None = None,
    output: str | os.PathLike | None = None,
    tuned: bool = True,
    max_episode_steps: int | None = None,
    device: str = "cpu",
    verbose: bool = True,
    batch: int = 1,
) -> TuneResult:
    """Run (or continue) a study of ``n_trials`` more trials; write its files to ``output``.

    Args:
        env_id: a registered single-env Gymnasium id.
        algo: a registered spiking agent whose class defines ``search_space``.
        n_trials: trials this call runs (a stored study keeps those of earlier calls).
        n_timesteps: env steps per trial (default: the tuned budget, else 100000).
        sampler: ``"tpe"`` (after ``n_startup_trials`` random ones) or ``"random"``;
            seeded from ``seed``, the number of trials already in the study and the worker.
        pruner: ``"median"`` (after ``n_startup_trials`` trials, from ``n_warmup_steps``
            env steps on; default a third of ``n_timesteps``) or ``"none"``.
        n_jobs: trial processes; they share ``storage`` (a temporary SQLite file if None).
        storage: SQLAlchemy URL of the study's database, e.g. ``"sqlite:///study.db"``.
        study_name: default ``"<algo>-<env_id>"``; a stored study of that name is resumed
            (its settings must match).
        seed: training seed of every trial; evaluations use env seeds ``20000 + seed, ...``.
        eval_freq: env steps between evaluations (default: ``n_timesteps // 5``).
        eval_episodes: deterministic episodes per evaluation.
        output: folder for ``best.yml`` and ``trials.csv`` (None: no files).
        tuned: trials start from the tuned entry (False: the task-derived defaults).
        max_episode_steps: episode cap of training and evaluation envs.
        device: torch device of every trial.
        verbose: print a line per finished trial.
        batch: trials trained together as one batched population (:func:`run_batch`): they
            share the parameters that change shapes or the loop and sample the rest. 1: each
            trial alone.

    Returns:
        A :class:`TuneResult`; its ``study`` is the study with every trial (in memory
        when no storage was given).
    """
    optuna = require_optuna()
    with _quiet(optuna):
        cls = agent_class(algo)
        if n_timesteps is None:
            budget = tuned_settings(cls.algo_name, env_id)[1] if tuned else None
            n_timesteps = DEFAULT_TIMESTEPS if budget is None else budget
        check_int("n_timesteps", n_timesteps, minimum=1)
        spec = _make_spec(
            env_id,
            algo,
            n_timesteps=n_timesteps,
            eval_freq=max(n_timesteps // 5, 1) if eval_freq is None else eval_freq,
            eval_episodes=eval_episodes,
            seed=seed,
            tuned=tuned,
            max_episode_steps=max_episode_steps,
            device=device,
            sampler=sampler,
            pruner=pruner,
            n_startup_trials=n_startup_trials,
            n_warmup_steps=n_timesteps // 3 if n_warmup_steps is None else n_warmup_steps,
            study_name=f"{algo}-{env_id}" if study_name is None else study_name,
            verbose=verbose,
        )
        n_trials = check_int("n_trials", n_trials, minimum=1)
        n_jobs = check_int("n_jobs", n_jobs, minimum=1)
        batch = check_int("batch", batch, minimum=1)
        out = None if output is None else Path(output)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        if storage is not None or n_jobs == 1:
            return _run_study(spec, storage, n_trials, n_jobs, out, batch=batch)
        scratch = tempfile.mkdtemp(prefix="snn-rl-tune-")
        try:
            url = f"sqlite:///{scratch}/study.db"
            return _run_study(spec, url, n_trials, n_jobs, out, True, batch=batch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _run_study(
    spec: TuneSpec,
    url: str | None,
    n_trials: int,
    n_jobs: int,
    out: Path | None,
    to_memory: bool = False,
    batch: int = 1,
) -> TuneResult:
    """Open (or create) the study, run the trials here or in workers, write the files."""
    optuna = require_optuna()
    backend = None if url is None else open_storage(url)
    study = open_study(spec, backend, 0, -1)
    check_study(study, spec)
    where = None if out is None else str(out)
    if n_jobs == 1:
        _optimize(study, spec, n_trials, where, batch)
    else:
        n_existing = len(study.get_trials(deepcopy=False))
        _run_workers(spec, url, n_trials, n_jobs, n_existing=n_existing, output=where, batch=batch)
        study = optuna.load_study(study_name=spec.study_name, storage=backend)
    if to_memory:  # a temporary storage: hand back an in-memory study, as for n_jobs=1
        memory = optuna.storages.InMemoryStorage()
        optuna.copy_study(from_study_name=spec.study_name, from_storage=backend, to_storage=memory)
        study = optuna.load_study(study_name=spec.study_name, storage=memory)
    return _result(study, out, spec)


def _result(study: optuna.Study, out: Path | None, spec: TuneSpec) -> TuneResult:
    best_path = trials_path = None
    if out is not None:
        best_path, trials_path = write_results(study, out, spec)
    best = best_trial(study)
    return TuneResult(
        study=study,
        best_number=None if best is None else best.number,
        best_value=None if best is None else float(best.value),
        best_params=None if best is None else dict(best.params),
        best_config=None if best is None else best.user_attrs["config"],
        best_path=best_path,
        trials_path=trials_path,
    )
