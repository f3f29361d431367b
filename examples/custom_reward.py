"""Plug your own reward signal into a spiking agent: a two-armed bandit learned with a
user function as the modulator of MSTDPET.

    python examples/custom_reward_signal.py --pulls 800

The function receives the batch of transitions (reward, terminated, truncated, obs,
next_obs; one row per env) and returns one modulator per env. Here it centres the reward
on a fixed guess of its mean, the simplest reward-prediction error.
"""

from __future__ import annotations

import argparse

import torch

from snn_rl.agents import MSTDPETAgent, evaluate


def centred_reward(reward, terminated, truncated, obs, next_obs):
    """Modulator = reward - 0.5: positive after a payout, negative after none."""
    return reward - 0.5


def run(pulls: int = 800, seed: int = 0) -> dict:
    agent = MSTDPETAgent("snn_rl/Bandit-v0", reward_signal=centred_reward, seed=seed, device="cpu")
    before = evaluate(agent, "snn_rl/Bandit-v0", n_episodes=200, seed=1).mean
    agent.learn(pulls)
    after = evaluate(agent, "snn_rl/Bandit-v0", n_episodes=200, seed=1).mean
    action, _ = agent.predict(torch.zeros(1, dtype=torch.long), deterministic=True)
    return {"before": before, "after": after, "greedy_arm": int(action[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pulls", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = run(args.pulls, args.seed)
    print(f"mean payout per pull before training: {result['before']:.2f}")
    print(f"after {args.pulls} pulls: {result['after']:.2f} (best arm pays 0.8)")
    print(f"greedy arm: {result['greedy_arm']}")


if __name__ == "__main__":
    main()
