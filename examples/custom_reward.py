"""Plug your own reward function into a spiking agent: a two-armed bandit learned from a
user function of the transition.

    python examples/custom_reward.py --pulls 800

The function receives the whole :class:`~snn_rl.envs.Transition` of one vector step
(``obs``, ``action``, ``reward``, ``terminated``, ``truncated``, ``next_obs``, ...; one row
per env) and returns one reward per env. By default that reward feeds the agent's critic,
whose TD error modulates plasticity; here the critic is switched off (``critic: none``), an
explicit choice, so the function's output is the modulator itself: the payout centred on a
fixed guess of its mean, the simplest reward-prediction error.
"""

from __future__ import annotations

import argparse

import torch

from snn_rl.agents import MSTDPETAgent, evaluate


def centred_payout(tr):
    """Reward - 0.5: positive after a payout, negative after none."""
    return tr.reward - 0.5


def run(pulls: int = 800, seed: int = 2) -> dict:
    agent = MSTDPETAgent(
        "snn_rl/Bandit-v0",
        reward=centred_payout,
        overrides={"critic": "none"},
        seed=seed,
        device="cpu",
    )
    before = evaluate(agent, "snn_rl/Bandit-v0", n_episodes=200, seed=1).mean
    agent.learn(pulls)
    after = evaluate(agent, "snn_rl/Bandit-v0", n_episodes=200, seed=1).mean
    action, _ = agent.predict(torch.zeros(1, dtype=torch.long), deterministic=True)
    return {"before": before, "after": after, "greedy_arm": int(action[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pulls", type=int, default=800)
    parser.add_argument("--seed", type=int, default=2, help="seed 2 starts on the worse arm")
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = run(args.pulls, args.seed)
    print(f"mean payout per pull before training: {result['before']:.2f}")
    print(f"after {args.pulls} pulls: {result['after']:.2f} (best arm pays 0.8)")
    print(f"greedy arm: {result['greedy_arm']}")


if __name__ == "__main__":
    main()
