"""The cost of the engine's finiteness guard: the same network (and the same agent) with the
checks on and off, alternating in one process so that both see the same machine.

    python benchmarks/guard_cost.py --pairs 9

For N1/N3 of ``benchmarks/speed.py`` (MSTDPET / FedeSTDP, scalar-reward fast path) and the
CartPole-v1 agent, prints the rates with and without the checks per pair and the median
ratio. One torch thread, rates by process CPU time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed  # noqa: E402


def _rate(step, n: int) -> float:
    for t in range(min(200, n)):
        step(t)
    start = time.process_time()
    for t in range(n):
        step(t)
    return n / (time.process_time() - start)


def network_pairs(case: str, batch: int, pairs: int, steps: int) -> list[tuple[float, float]]:
    inputs = speed.make_inputs(case, batch, "cpu")
    on = speed.build_snn_rl(case, batch, inputs, "cpu", per_env=False, checked=True)
    off = speed.build_snn_rl(case, batch, inputs, "cpu", per_env=False, checked=False)
    return [(_rate(on, steps), _rate(off, steps)) for _ in range(pairs)]


def agent_pairs(n_envs: int, pairs: int, steps: int) -> list[tuple[float, float]]:
    from snn_rl.agents import MSTDPETAgent

    agents = []
    for checked in (True, False):
        agent = MSTDPETAgent("CartPole-v1", n_envs=n_envs, seed=0, device="cpu")
        agent.policy.network.set_check_finite(checked)
        for learner in agent.learners:
            learner.rule.check_finite = checked
        agent.learn(50 * n_envs)
        agents.append(agent)

    def rate(agent) -> float:
        start = time.process_time()
        agent.learn(steps, reset_num_timesteps=False)
        return steps / (time.process_time() - start)

    return [(rate(agents[0]), rate(agents[1])) for _ in range(pairs)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    runs = {
        "N1, B = 1": network_pairs("N1", 1, args.pairs, 3000),
        "N1, B = 64": network_pairs("N1", 64, args.pairs, 3000),
        "N3, B = 1": network_pairs("N3", 1, args.pairs, 400),
        "CartPole-v1 agent, 4 envs": agent_pairs(4, args.pairs, 4000),
    }
    print("| case | with checks (steps/s) | without | with / without, median (range) |")
    print("| --- | --- | --- | --- |")
    for name, pairs in runs.items():
        ratios = [a / b for a, b in pairs]
        on = ", ".join(f"{a:.0f}" for a, _ in pairs)
        off = ", ".join(f"{b:.0f}" for _, b in pairs)
        print(
            f"| {name} | {on} | {off} | {statistics.median(ratios):.2f} "
            f"({min(ratios):.2f}-{max(ratios):.2f}) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
