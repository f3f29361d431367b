"""Learning results of MSTDPETAgent over seeds: first and sustained threshold crossings.

Protocol (issue 5): per seed, train with the tuned hyperparameters; every ``--eval-freq`` env
steps evaluate deterministically over ``--eval-episodes`` episodes (the shared
``snn_rl.agents.evaluate`` protocol); report the first evaluation >= threshold and the point
from which every later evaluation stays >= threshold, in env steps and training wall-clock
(evaluation time excluded). Seeds run in parallel processes, one torch thread each.

    python benchmarks/learning.py CartPole-v1 --seeds 0 1 2 3 4 5 6 7 8 9 --output docs/results/cartpole_mstdpet.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path


def run_seed(job: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    from snn_rl.agents import MSTDPETAgent, evaluate
    from snn_rl.agents.callbacks import ScheduledEvaluation

    env_id, seed = job["env_id"], job["seed"]

    def evaluate_fn(model):
        result = evaluate(model, env_id, n_episodes=job["eval_episodes"], seed=10_000 + seed)
        return result.returns, result.lengths

    def report(record):
        print(
            f"[{env_id} seed {seed}] {record['timesteps']:>7} steps "
            f"{record['train_seconds']:7.1f} s  mean {record['mean_return']:8.2f}",
            flush=True,
        )

    agent = MSTDPETAgent(env_id, seed=seed, device=job["device"], **job["overrides"])
    callback = ScheduledEvaluation(evaluate_fn, job["eval_freq"], on_result=report)
    start = time.perf_counter()
    agent.learn(job["total_timesteps"], callback=callback)
    return {"seed": seed, "curve": callback.records, "wall_seconds": time.perf_counter() - start}


def summarise(runs: list[dict], threshold: float) -> str:
    from snn_rl.agents.results import first_reach, sustained_from

    lines = [
        "| seed | first >= thr (steps) | train s to first | sustained from (steps) | final mean |",
        "| --- | --- | --- | --- | --- |",
    ]
    solved = sustained = 0
    for run in sorted(runs, key=lambda r: r["seed"]):
        first, sus = first_reach(run["curve"], threshold), sustained_from(run["curve"], threshold)
        final = run["curve"][-1]["mean_return"] if run["curve"] else float("nan")
        solved += first is not None
        sustained += sus is not None
        lines.append(
            f"| {run['seed']} | {first['timesteps'] if first else 'not reached'} | "
            f"{format(first['train_seconds'], '.0f') if first else '-'} | "
            f"{sus['timesteps'] if sus else 'not sustained'} | {final:.1f} |"
        )
    lines.append(
        f"\n{solved}/{len(runs)} seeds reached {threshold}; "
        f"{sustained}/{len(runs)} stayed at or above it to the end of training."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env_id")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--total-timesteps", type=int, default=None)
    parser.add_argument("--eval-freq", type=int, default=10_000)
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=YAML",
        help="override hyperparameters, e.g. a_post=0.5",
    )
    parser.add_argument("--output", type=Path, default=None, help="JSON file for all curves")
    args = parser.parse_args(argv)

    import gymnasium as gym
    import yaml

    import snn_rl.envs  # noqa: F401
    from snn_rl.agents.hyperparams import load_hyperparams

    threshold = (
        args.threshold if args.threshold is not None else gym.spec(args.env_id).reward_threshold
    )
    if threshold is None:
        parser.error(f"{args.env_id} has no reward_threshold; pass --threshold")
    total = args.total_timesteps or load_hyperparams("mstdpet", args.env_id).get(
        "n_timesteps", 100_000
    )
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    jobs = [
        {
            "env_id": args.env_id,
            "seed": s,
            "total_timesteps": int(total),
            "eval_freq": args.eval_freq,
            "eval_episodes": args.eval_episodes,
            "device": args.device,
            "overrides": overrides,
        }
        for s in args.seeds
    ]
    start = time.perf_counter()
    if args.n_jobs > 1:
        with mp.get_context("spawn").Pool(args.n_jobs) as pool:
            runs = pool.map(run_seed, jobs, chunksize=1)
    else:
        runs = [run_seed(j) for j in jobs]
    elapsed = time.perf_counter() - start
    table = summarise(runs, threshold)
    command = "python benchmarks/learning.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(
        f"\n{args.env_id}, threshold {threshold}, {total} env steps per seed, "
        f"{args.n_jobs} jobs, {elapsed:.0f} s in all\n\n{table}"
    )
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "env_id": args.env_id,
            "threshold": threshold,
            "total_timesteps": total,
            "overrides": overrides,
            "command": command,
            "elapsed_seconds": elapsed,
            "cpu_count": os.cpu_count(),
            "runs": runs,
            "table": table,
        }
        tmp = args.output.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=1))
        tmp.replace(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
