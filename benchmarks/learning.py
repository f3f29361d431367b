"""Learning results of a spiking agent over seeds: first and sustained threshold crossings.

Protocol: per seed, train with the tuned configuration (``--set`` overrides it); every ``--eval-freq`` env
steps evaluate deterministically over ``--eval-episodes`` episodes (the shared evaluation of
``snn_rl.agents.evaluate``, through ``snn_rl.agents.compare``); report, for every seed, the
first evaluation >= threshold and the point from which every later evaluation stays >=
threshold, in env steps and training wall-clock (evaluation time excluded). Seeds run in
parallel processes with one torch thread each. An interrupted run resumes (finished seeds
in ``--output`` are kept).

    python benchmarks/learning.py CartPole-v1 --seeds 0 1 2 3 4 5 6 7 8 9 --output docs/results/learning_cartpole
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env_id")
    parser.add_argument("--algo", default="mstdpet", help="registered spiking agent")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument(
        "--total-timesteps",
        type=int,
        default=None,
        help="env steps per seed (default: the tuned n_timesteps)",
    )
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
        help="configuration overrides, e.g. rule.a_post=0.5 'network.hidden_sizes=[32]'",
    )
    parser.add_argument(
        "--no-tuned", action="store_true", help="defaults derived from the task, no YAML entry"
    )
    parser.add_argument("--max-episode-steps", type=int, default=None)
    parser.add_argument(
        "--batched",
        action="store_true",
        help="train the seeds as one batched population in one process (AgentPopulation)",
    )
    parser.add_argument("--output", type=Path, required=True, help="results folder")
    args = parser.parse_args(argv)

    from snn_rl.agents.cli import parse_assignments
    from snn_rl.agents.compare import compare
    from snn_rl.agents.report import load_runs, per_seed_table

    try:
        overrides = parse_assignments(args.set, "--set")
    except ValueError as err:
        parser.error(str(err))
    start = time.perf_counter()
    rows = compare(
        args.env_id,
        [args.algo],
        args.seeds,
        output=args.output,
        total_timesteps=args.total_timesteps,
        eval_freq=args.eval_freq,
        eval_episodes=args.eval_episodes,
        n_jobs=args.n_jobs,
        threshold=args.threshold,
        device=args.device,
        overrides={args.algo: overrides} if overrides else None,
        max_episode_steps=args.max_episode_steps,
        tuned=not args.no_tuned,
        batched=args.batched,
    )
    elapsed = time.perf_counter() - start
    row = rows[0]
    by_seed = load_runs(args.output, [args.algo], args.seeds)[args.algo]
    table = per_seed_table(by_seed, row["threshold"])
    command = "python benchmarks/learning.py " + " ".join(sys.argv[1:] if argv is None else argv)
    how = (
        f"all {len(args.seeds)} seeds as one batched population in one process"
        if args.batched
        else f"{args.n_jobs} jobs in parallel"
    )
    per = "of the whole batch" if args.batched else "per seed"
    report = (
        f"{args.env_id}, threshold {row['threshold']:g}, {row['timesteps']:,.0f} env steps per "
        f"seed, overrides {overrides or 'none'}\n\n{table}\n\n"
        f"Mean training wall-clock {per}: {row['train_seconds']:.0f} s "
        f"({how}, evaluation excluded).\n"
        f"Command: `{command}` ({elapsed:.0f} s in all)\n"
    )
    (args.output / "learning.md").write_text(report)
    print("\n" + report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
