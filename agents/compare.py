"""Compare spiking agents with SB3 baselines over seeds: curves, summary table and plot.

Protocol: every run (one algorithm, one seed) trains on the env made by the shared factory
and is evaluated on one schedule, :class:`~snn_rl.agents.callbacks.ScheduledEvaluation`
every ``eval_freq`` env steps (and at step 0 and at the end), with ``eval_episodes``
deterministic episodes of the shared :func:`~snn_rl.agents.evaluation.evaluate`, seeded
``10000 + seed`` for every algorithm of that seed. Each point records env steps, training
wall-clock (evaluation excluded) and the mean/std return.

Files under ``output``:

* ``runs/<algo>_<seed>.csv``: the curve (rewritten atomically after every point);
  ``runs/<algo>_<seed>.done.json`` marks a finished run (settings, hyperparameters, timing).
  Finished runs are skipped, so an interrupted comparison resumes where it stopped.
* ``summary.csv`` / ``summary.md``: per algorithm, the final mean return (mean and std over
  seeds of each seed's last evaluation), the training time, and the env steps and seconds
  to the reward threshold (first evaluation >= threshold, and the point from which every
  later one stays >= threshold), averaged over the seeds that reached it, with their count.
* ``curves.png``: mean return over seeds (band: min to max over seeds) against env steps and
  against training wall-clock.

Runs go to a local spawn process pool (``n_jobs``) or to a Ray cluster (``backend="ray"``).
With ``batched=True`` the seeds of each spiking agent train as one
:class:`~snn_rl.agents.population.AgentPopulation` in one worker (one batched program); each
seed is still evaluated on its own schedule and written as its own run, and its training
wall-clock is the population's (the whole batch's time at that point).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from snn_rl._validation import check_bool, check_int
from snn_rl.agents import baselines
from snn_rl.agents._io import atomic_write
from snn_rl.agents.callbacks import ScheduledEvaluation
from snn_rl.agents.evaluation import evaluate
from snn_rl.agents.registry import AGENTS, tuned_settings
from snn_rl.agents.report import (
    CURVE_COLUMNS,
    SUMMARY_COLUMNS,
    curve_digest,
    load_runs,
    plot_curves,
    read_done,
    require_matplotlib,
    summarize,
    write_curve,
    write_summary,
)

__all__ = [
    "CURVE_COLUMNS",
    "SUMMARY_COLUMNS",
    "RunSpec",
    "algos_available",
    "compare",
    "load_runs",
    "plot_curves",
    "run_job",
    "run_one",
    "run_population",
    "summarize",
    "write_summary",
]


def algos_available() -> list[str]:
    """Every algorithm a comparison can run: the registered spiking agents, then SB3's."""
    return [*sorted(AGENTS), *sorted(baselines.SB3_ALGOS)]


EVAL_SEED_OFFSET = 10_000
DEFAULT_TIMESTEPS = 100_000
Backend = Literal["local", "ray"]


@dataclass(frozen=True)
class RunSpec:
    """One run of a comparison (plain data, sent to worker processes)."""

    env_id: str
    algo: str
    seed: int
    total_timesteps: int
    eval_freq: int
    eval_episodes: int
    output: str
    device: str = "cpu"
    overrides: dict = field(default_factory=dict)
    max_episode_steps: int | None = None
    tuned: bool = True
    write_progress: bool = True
    verbose: bool = True

    @property
    def name(self) -> str:
        return f"{self.algo}_{self.seed}"

    def settings(self) -> dict:
        keys = ("env_id", "algo", "seed", "total_timesteps", "eval_freq", "eval_episodes")
        out = {**{k: getattr(self, k) for k in keys}, "overrides": self.overrides}
        if self.max_episode_steps is not None:  # absent by default: older runs still match
            out["max_episode_steps"] = self.max_episode_steps
        if not self.tuned:
            out["tuned"] = False
        return out


def _build(spec: RunSpec) -> tuple[Any, Any, dict]:
    """(model, model -> what to evaluate, hyperparameters as JSON-able data)."""
    if spec.algo in AGENTS:
        agent = AGENTS[spec.algo](
            spec.env_id,
            seed=spec.seed,
            device=spec.device,
            overrides=spec.overrides,
            max_episode_steps=spec.max_episode_steps,
            tuned=spec.tuned,
        )
        return agent, lambda m: m, agent.config.to_dict()
    model = baselines.make_baseline(
        spec.algo,
        spec.env_id,
        seed=spec.seed,
        device=spec.device,
        hyperparams=spec.overrides,
        max_episode_steps=spec.max_episode_steps,
    )
    tuned = baselines.baseline_hyperparams(spec.algo, spec.env_id)
    return model, baselines.eval_policy, {**tuned, **spec.overrides}


def _scheduled_evaluation(spec: RunSpec, to_policy: Any, clock: Any = None) -> ScheduledEvaluation:
    """The evaluation schedule of one run, writing its curve after every point."""
    curve = Path(spec.output) / "runs" / f"{spec.name}.csv"

    def evaluate_fn(m: Any) -> tuple[np.ndarray, np.ndarray]:
        result = evaluate(
            to_policy(m),
            spec.env_id,
            n_episodes=spec.eval_episodes,
            seed=EVAL_SEED_OFFSET + spec.seed,
            max_episode_steps=spec.max_episode_steps,
        )
        return result.returns, result.lengths

    def on_result(record: dict) -> None:
        if spec.write_progress:
            write_curve(curve, callback.records)
        if spec.verbose:
            print(
                f"[{spec.env_id} {spec.name}] {record['timesteps']:>8} steps "
                f"{record['train_seconds']:8.1f} s  mean {record['mean_return']:9.2f}",
                flush=True,
            )

    callback = ScheduledEvaluation(
        evaluate_fn,
        spec.eval_freq,
        on_result=on_result,
        eval_at_start=True,
        eval_at_end=True,
        clock=clock,
    )
    return callback


def run_job(specs: list[RunSpec]) -> list[dict]:
    """A worker's job: one run (:func:`run_one`) or the seeds of one spiking agent as one
    population (:func:`run_population`)."""
    return [run_one(specs[0])] if len(specs) == 1 else run_population(specs)


def run_population(specs: list[RunSpec]) -> list[dict]:
    """Train the runs ``specs`` (one spiking agent, one setting, several seeds) as one
    :class:`~snn_rl.agents.population.AgentPopulation` (one torch thread). Returns their
    results, as :func:`run_one` would."""
    from snn_rl.agents.population import AgentPopulation

    first = specs[0]
    same = {k: v for k, v in first.settings().items() if k != "seed"}
    if any({k: v for k, v in s.settings().items() if k != "seed"} != same for s in specs):
        raise ValueError("a population's runs must differ only in their seed")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pop = AgentPopulation(
            first.env_id,
            [s.seed for s in specs],
            agent=first.algo,
            device=first.device,
            overrides=first.overrides,
            max_episode_steps=first.max_episode_steps,
            tuned=first.tuned,
        )
        callbacks = [_scheduled_evaluation(s, lambda m: m, pop.training_clock) for s in specs]
        start = time.perf_counter()
        pop.learn(first.total_timesteps, callbacks=callbacks)
        wall = time.perf_counter() - start
        return [
            {
                "settings": spec.settings(),
                "records": cb.records,
                "num_timesteps": int(member.num_timesteps),
                "wall_seconds": wall,
                "train_seconds": pop.train_seconds,
                "batched": len(specs),
                "device": spec.device,
                "hyperparams": pop.config.to_dict(),
            }
            for spec, cb, member in zip(specs, callbacks, pop.members, strict=True)
        ]
    finally:
        torch.set_num_threads(threads)


def run_one(spec: RunSpec) -> dict:
    """Train and evaluate one run (the worker; one torch thread). Returns its result."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, to_policy, hyperparams = _build(spec)
        callback = _scheduled_evaluation(spec, to_policy)
        start = time.perf_counter()
        model.learn(spec.total_timesteps, callback=callback)
        return {
            "settings": spec.settings(),
            "records": callback.records,
            "num_timesteps": int(model.num_timesteps),
            "wall_seconds": time.perf_counter() - start,
            "device": spec.device,
            "hyperparams": hyperparams,
        }
    finally:
        torch.set_num_threads(threads)


def _finish(output: Path, result: dict) -> None:
    """Write a run's final curve, then its done marker."""
    s = result["settings"]
    runs = output / "runs"
    curve = runs / f"{s['algo']}_{s['seed']}.csv"
    write_curve(curve, result["records"])
    meta = {k: v for k, v in result.items() if k != "records"}
    meta.update(n_records=len(result["records"]), curve_sha256=curve_digest(curve))
    text = json.dumps(meta, indent=1, default=str) + "\n"
    atomic_write(runs / f"{s['algo']}_{s['seed']}.done.json", lambda p: p.write_text(text))


def _is_done(spec: RunSpec) -> bool:
    marker = Path(spec.output) / "runs" / f"{spec.name}.done.json"
    if not marker.is_file():
        return False
    done = read_done(marker)["settings"]
    if done != spec.settings():
        raise ValueError(
            f"{marker} is a finished run with other settings ({done}, asked for "
            f"{spec.settings()}); use another output folder or delete that run"
        )
    return True


def _run_local(jobs: list[list[RunSpec]], n_jobs: int) -> Iterator[dict]:
    if n_jobs == 1 or len(jobs) <= 1:
        for job in jobs:
            yield from run_job(job)
        return
    pool = ProcessPoolExecutor(min(n_jobs, len(jobs)), mp_context=mp.get_context("spawn"))
    with pool:
        futures = [pool.submit(run_job, job) for job in jobs]
        try:
            for future in as_completed(futures):
                yield from future.result()
        except BrokenProcessPool as err:
            raise RuntimeError(
                "a compare worker process died before finishing its run; when compare(n_jobs>1) "
                'runs from a script, call it under `if __name__ == "__main__":` (each spawned '
                "worker imports the script)"
            ) from err
        finally:
            for future in futures:
                future.cancel()


def _check_not_a_worker(n_jobs: int) -> None:
    """compare(n_jobs>1) inside a spawned worker means a script without a ``__main__``
    guard is being imported by the pool it started: stop the worker with the reason,
    instead of spawning workers of workers."""
    if n_jobs > 1 and mp.parent_process() is not None:
        raise RuntimeError(
            "compare(n_jobs>1) was called while a worker process imported the main script; "
            'put the call under `if __name__ == "__main__":`'
        )


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise ImportError(
            "backend='ray' needs Ray, an optional extra: pip install 'snn-rl[ray]'"
        ) from err
    return ray


def _run_ray(jobs: list[list[RunSpec]], address: str | None) -> Iterator[dict]:
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address)
    try:
        task = ray.remote(num_cpus=1)(run_job)
        pending = [task.remote([replace(s, write_progress=False) for s in job]) for job in jobs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield from ray.get(done[0])
    finally:
        if started:
            ray.shutdown()


def _resolve_budget(algo: str, env_id: str, total_timesteps: int | None) -> int:
    if total_timesteps is not None:
        return total_timesteps
    if algo in AGENTS:
        tuned = tuned_settings(algo, env_id)[1]
    else:
        tuned = baselines.baseline_budget(algo, env_id)
    return DEFAULT_TIMESTEPS if tuned is None else int(tuned)


def _check_args(
    env_id: str,
    algos: Sequence[str],
    seeds: Sequence[int],
    threshold: float | None,
    backend: str,
    **ints: int | None,
) -> float:
    """Validate a comparison's arguments; return the reward threshold to use."""
    spec = baselines.check_env_id(env_id)
    valid = algos_available()
    if isinstance(algos, str) or not algos:
        raise ValueError(f"algos must be a non-empty list of names from {valid}")
    unknown = [a for a in algos if a not in valid]
    if unknown:
        raise ValueError(f"unknown algorithms {unknown}; valid: {valid}")
    if isinstance(seeds, str) or not seeds:
        raise ValueError(f"seeds must be a non-empty list of ints >= 0, got {seeds!r}")
    for i, seed in enumerate(seeds):
        check_int(f"seeds[{i}]", seed, minimum=0)
    if len(set(algos)) != len(algos) or len(set(seeds)) != len(seeds):
        raise ValueError("algos and seeds must not repeat")
    for name, value in ints.items():
        if value is not None:
            check_int(name, value, minimum=1)
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    if backend == "ray":
        _import_ray()
    threshold = spec.reward_threshold if threshold is None else float(threshold)
    if threshold is None or not np.isfinite(threshold):
        raise ValueError(
            f"{env_id} has no reward_threshold in its spec; pass one (--threshold on the CLI)"
        )
    return threshold


def compare(
    env_id: str,
    algos: Sequence[str],
    seeds: Sequence[int],
    *,
    output: str | os.PathLike,
    total_timesteps: int | None = None,
    eval_freq: int = 10_000,
    eval_episodes: int = 100,
    n_jobs: int = 1,
    backend: Backend = "local",
    ray_address: str | None = None,
    threshold: float | None = None,
    device: str = "cpu",
    overrides: Mapping[str, dict] | None = None,
    max_episode_steps: int | None = None,
    tuned: bool = True,
    plot: bool = True,
    verbose: bool = True,
    batched: bool = False,
) -> list[dict]:
    """Run (or resume) a comparison and write its curves, summary and plot.

    Args:
        env_id: a registered Gymnasium id.
        algos: names from :func:`algos` (the registered spiking agents, such as "mstdpet",
            and the SB3 algorithms).
        seeds: training seeds; evaluation of seed ``s`` uses seed ``10000 + s``.
        output: folder for the files listed in the module docstring.
        total_timesteps: env steps per run (None: each algorithm's tuned budget; give one
            number for a like-for-like comparison).
        eval_freq: env steps between evaluations.
        eval_episodes: deterministic episodes per evaluation.
        n_jobs: parallel worker processes of the local backend.
        backend: "local" (spawn process pool) or "ray" (needs the ``ray`` extra).
        ray_address: Ray cluster to join (None: ``RAY_ADDRESS`` or a new local instance).
        threshold: reward threshold (default: the env spec's ``reward_threshold``).
        device: torch device of every model.
        overrides: per algorithm, hyperparameters that replace the tuned ones, e.g.
            ``{"mstdpet": {"rule.a_post": 0.5}, "ppo": {"n_steps": 64}}`` (a spiking
            agent's are configuration overrides, an SB3 algorithm's constructor arguments).
        max_episode_steps: episode cap of training and evaluation envs, every arm (default:
            the spec's time limit, else ``env_util.DEFAULT_MAX_EPISODE_STEPS``).
        tuned: spiking agents use their tuned entry (False: the defaults derived from the
            task; SB3 arms keep theirs).
        plot: write ``curves.png`` (needs matplotlib).
        verbose: print a line per evaluation.
        batched: train the seeds of each spiking agent as one population in one worker
            (see the module docstring); SB3 arms run one process per seed as always.

    Returns:
        The summary rows (one dict per algorithm, keys :data:`SUMMARY_COLUMNS`).
    """
    ints = {"total_timesteps": total_timesteps, "eval_freq": eval_freq, "n_jobs": n_jobs}
    ints["eval_episodes"] = eval_episodes
    threshold = _check_args(env_id, algos, seeds, threshold, backend, **ints)
    if backend == "local":
        _check_not_a_worker(n_jobs)
    if max_episode_steps is not None:
        max_episode_steps = check_int("max_episode_steps", max_episode_steps, minimum=1)
    overrides = dict(overrides or {})
    if set(overrides) - set(algos):
        raise ValueError(
            f"overrides name algorithms not compared: {sorted(set(overrides) - set(algos))}"
        )
    if plot:
        require_matplotlib()  # fail before training, not after
    out = Path(output)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    specs = [
        RunSpec(
            env_id=env_id,
            algo=algo,
            seed=seed,
            total_timesteps=_resolve_budget(algo, env_id, total_timesteps),
            eval_freq=eval_freq,
            eval_episodes=eval_episodes,
            output=str(out),
            device=device,
            overrides=dict(overrides.get(algo, {})),
            max_episode_steps=max_episode_steps,
            tuned=check_bool("tuned", tuned),
            verbose=verbose,
        )
        for algo in algos
        for seed in seeds
    ]
    pending = [s for s in specs if not _is_done(s)]
    jobs = [[s] for s in pending if not (check_bool("batched", batched) and s.algo in AGENTS)]
    for algo in algos:
        seeds_left = [s for s in pending if batched and s.algo == algo and algo in AGENTS]
        if seeds_left:
            jobs.insert(0, seeds_left)  # the longest job first
    results = _run_ray(jobs, ray_address) if backend == "ray" else _run_local(jobs, n_jobs)
    for result in results:
        _finish(out, result)
    runs = load_runs(out, algos, seeds)
    rows = summarize(runs, threshold)
    settings = {"env_id": env_id, "eval_freq": eval_freq, "eval_episodes": eval_episodes}
    write_summary(out, rows, {**settings, "threshold": threshold})
    if plot:
        plot_curves(runs, out / "curves.png", threshold=threshold, title=env_id)
    return rows
