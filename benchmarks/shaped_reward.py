"""CartPole-v1 learned from a user reward function instead of the env's reward.

The function ``1 - |x| / 2.4`` (``x``: the cart position after the step) pays for staying near
the centre and is positive on every step, so it says nothing directly about the pole. Passed
as ``reward=``, it replaces only the reward function: the tuned entry's TD critic turns it
into a centred TD error (falling ends the positive stream, so its value drops). Every seed
trains as one member of an AgentPopulation; each evaluation is the *env's* return (the
usual CartPole score, up to 500) over ``--eval-episodes`` deterministic episodes.

    python benchmarks/shaped_reward.py --seeds 0 1 2 3 4 5 6 7 8 9 --total-timesteps 100000 \\
        --output docs/results/shaped_cartpole

Writes ``curves.csv`` (seed, env steps, training seconds, mean return) and ``summary.json``
(per seed: first evaluation >= 475, and the step from which every later one stays >= 475).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import torch

from snn_rl.agents import AgentPopulation, evaluate
from snn_rl.agents.callbacks import ScheduledEvaluation

THRESHOLD = 475.0


def centre(tr) -> torch.Tensor:
    """The user reward: 1 at the centre of the track, 0.5 at its edges."""
    return 1.0 - tr.next_obs[:, 0].abs() / 2.4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--total-timesteps", type=int, default=100_000)
    parser.add_argument("--eval-freq", type=int, default=10_000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=YAML", help="configuration overrides"
    )
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)

    from snn_rl.agents.cli import parse_assignments

    torch.set_num_threads(1)
    args.output.mkdir(parents=True, exist_ok=True)
    pop = AgentPopulation(
        "CartPole-v1",
        args.seeds,
        reward=centre,
        overrides=parse_assignments(args.set, "--set"),
        device="cpu",
    )
    rows: list[dict] = []

    def evaluator(seed: int):
        def run(model):
            result = evaluate(
                model, "CartPole-v1", n_episodes=args.eval_episodes, seed=10_000 + seed
            )
            return result.returns, result.lengths

        return run

    def record(seed: int):
        def on_result(point: dict) -> None:
            rows.append(
                {
                    "seed": seed,
                    "env_steps": point["timesteps"],
                    "train_seconds": round(point["train_seconds"], 2),
                    "mean_return": round(float(point["mean_return"]), 2),
                }
            )
            print(rows[-1], flush=True)

        return on_result

    callbacks = [
        ScheduledEvaluation(
            evaluator(s),
            args.eval_freq,
            on_result=record(s),
            eval_at_end=True,
            clock=pop.training_clock,
        )
        for s in args.seeds
    ]
    pop.learn(args.total_timesteps, callbacks=callbacks)
    with open(args.output / "curves.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = {}
    for s in args.seeds:
        curve = [r for r in rows if r["seed"] == s]
        first = next((r["env_steps"] for r in curve if r["mean_return"] >= THRESHOLD), None)
        sustained = None
        for i, r in enumerate(curve):
            if all(q["mean_return"] >= THRESHOLD for q in curve[i:]):
                sustained = r["env_steps"]
                break
        summary[s] = {"first": first, "sustained": sustained, "final": curve[-1]["mean_return"]}
    config = pop.config.to_dict()
    (args.output / "summary.json").write_text(
        json.dumps({"config": config, "per_seed": summary, "argv": argv or []}, indent=1)
    )
    reached = sum(v["first"] is not None for v in summary.values())
    kept = sum(v["sustained"] is not None for v in summary.values())
    print(f"{reached}/{len(summary)} seeds reached {THRESHOLD}; {kept} sustained it", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
