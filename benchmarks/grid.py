"""A hyperparameter grid times seeds, trained as one batched AgentPopulation.

Every combination of the ``--grid`` values, for every seed, is one agent of the population
(hyperparameter variants, docs/agents.md); each is evaluated every ``--eval-freq`` env steps
over ``--eval-episodes`` deterministic episodes (env seeds ``10000 + seed, ...``, as
``snn-rl train`` reports).

    python benchmarks/grid.py MountainCarContinuous-v0 --seeds 0 1 \\
        --grid 'critic.init_value=[0.5, 1.0]' 'exploration.final_eps=[0.1, 0.3]' \\
        --total-timesteps 300000 --eval-freq 50000 --output runs/grid_mcc

Writes ``curves.csv`` (agent, seed, variant, env steps, training seconds, mean return) and
``summary.json`` (per variant: the final mean return of each seed), and prints the summary.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
from pathlib import Path

import torch
import yaml

from snn_rl.agents import AgentPopulation, evaluate
from snn_rl.agents.callbacks import ScheduledEvaluation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env_id")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument(
        "--grid", nargs="*", default=[], metavar="KEY=[V1, V2]", help="values to vary (YAML list)"
    )
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=YAML", help="shared overrides")
    parser.add_argument("--no-tuned", action="store_true")
    parser.add_argument("--total-timesteps", type=int, required=True)
    parser.add_argument("--eval-freq", type=int, default=50_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)

    from snn_rl.agents.cli import parse_assignments

    torch.set_num_threads(1)
    axes = {}
    for item in args.grid:
        key, _, text = item.partition("=")
        values = yaml.safe_load(text)
        if not key or not isinstance(values, list) or not values:
            parser.error(f"--grid takes KEY=[V1, V2, ...], got {item!r}")
        axes[key] = values
    combos = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    agents = [(c, s) for c in combos for s in args.seeds]
    pop = AgentPopulation(
        args.env_id,
        [s for _, s in agents],
        variants=[c for c, _ in agents],
        overrides=parse_assignments(args.set, "--set"),
        tuned=not args.no_tuned,
        device="cpu",
    )
    args.output.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []

    def callback(index: int, variant: dict, seed: int) -> ScheduledEvaluation:
        def run(model):
            r = evaluate(model, args.env_id, n_episodes=args.eval_episodes, seed=10_000 + seed)
            return r.returns, r.lengths

        def on_result(point: dict) -> None:
            rows.append(
                {
                    "agent": index,
                    "seed": seed,
                    "variant": json.dumps(variant),
                    "env_steps": point["timesteps"],
                    "train_seconds": round(point["train_seconds"], 2),
                    "mean_return": round(float(point["mean_return"]), 3),
                }
            )
            print(rows[-1], flush=True)

        return ScheduledEvaluation(
            run, args.eval_freq, on_result=on_result, eval_at_end=True, clock=pop.training_clock
        )

    callbacks = [callback(i, c, s) for i, (c, s) in enumerate(agents)]
    pop.learn(args.total_timesteps, callbacks=callbacks)
    with open(args.output / "curves.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = []
    for c in combos:
        finals = {}
        for i, (v, s) in enumerate(agents):
            if v == c:
                finals[s] = [r for r in rows if r["agent"] == i][-1]["mean_return"]
        summary.append({"variant": c, "final": finals})
        print(json.dumps(c), "final:", finals, flush=True)
    (args.output / "summary.json").write_text(
        json.dumps({"env_id": args.env_id, "set": args.set, "summary": summary}, indent=1)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
