"""Train CartPole-v1 for STEPS env steps per seed: one seed alone (K = 0) or K seeds as one
AgentPopulation. The two sides of the batched-population speed figure in docs/benchmarks.md:

    farm-bench -n 3 --vs "python benchmarks/seeds_speed.py 20000 0" -- python benchmarks/seeds_speed.py 20000 10
"""

from __future__ import annotations

import sys

import torch

from snn_rl.agents import AgentPopulation, MSTDPETAgent


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python benchmarks/seeds_speed.py STEPS K", file=sys.stderr)
        return 2
    steps, k = int(args[0]), int(args[1])
    torch.set_num_threads(1)
    if k == 0:
        MSTDPETAgent("CartPole-v1", seed=0, device="cpu").learn(steps)
    else:
        AgentPopulation("CartPole-v1", list(range(k)), device="cpu").learn(steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
