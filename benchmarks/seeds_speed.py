"""Train CartPole-v1 for STEPS env steps per agent: one seed alone (K = 0), or K seeds as one
AgentPopulation, or K seeds times each readout learning rate of ``--lrs`` as one population
of hyperparameter variants. The sides of the batched-population speed figures in
docs/benchmarks.md:

    farm-bench -n 3 --vs "python benchmarks/seeds_speed.py 20000 0" -- python benchmarks/seeds_speed.py 20000 10
    farm-bench -n 3 --vs "python benchmarks/seeds_speed.py 20000 0" -- python benchmarks/seeds_speed.py 20000 10 --lrs 0.005 0.01 0.02 0.04
"""

from __future__ import annotations

import argparse

import torch

from snn_rl.agents import AgentPopulation, MSTDPETAgent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("steps", type=int, help="env steps per agent")
    parser.add_argument("k", type=int, help="seeds in the batch (0: one agent alone)")
    parser.add_argument("--lrs", type=float, nargs="+", default=None, help="rule.lr variants")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.k == 0:
        MSTDPETAgent("CartPole-v1", seed=0, device="cpu").learn(args.steps)
        return 0
    seeds = list(range(args.k))
    if args.lrs is None:
        AgentPopulation("CartPole-v1", seeds, device="cpu").learn(args.steps)
        return 0
    grid = [(s, lr) for lr in args.lrs for s in seeds]
    AgentPopulation(
        "CartPole-v1",
        [s for s, _ in grid],
        variants=[{"rule.lr": lr} for _, lr in grid],
        device="cpu",
    ).learn(args.steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
