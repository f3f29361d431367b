"""A single synapse trained with MSTDPET: reward +1 for the first half, -1 for the second.

Random presynaptic spikes drive one LIF neuron through one weight. While the weight is large
enough, every presynaptic spike makes the neuron fire in the same step, so pre and post traces
are equal and the eligibility grows by ``(a_pre - a_post) * x > 0`` per pairing: a positive
reward raises the weight, a negative one lowers it (until the neuron stops firing and the
eligibility fades).

    python examples/mstdpet_single_synapse.py --steps 100
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch

from snn_rl import Input, LIFNeuron, Linear, SNNNetwork
from snn_rl.learning import MSTDPET


@dataclass
class Config:
    steps: int = 100  # reward +1 for the first half, -1 for the rest
    seed: int = 0
    rate: float = 0.5  # presynaptic spike probability per step
    w0: float = 1.0
    lr: float = 0.01
    a_pre: float = 1.0
    a_post: float = 0.5
    e_trace_decay: float = 0.8
    print_every: int = 10  # 0: print nothing


def main(config: Config) -> list[float]:
    """Run the experiment; return the weight after every step (``steps + 1`` values)."""
    g = torch.Generator().manual_seed(config.seed)
    net = SNNNetwork()
    net.add_layer("syn", Linear(1, 1, weight=config.w0), Input(1), LIFNeuron(1, decay_v=0.5))
    net.reset_state(batch_size=1)
    rule = MSTDPET(
        net.layer_state_dict(),
        lr=config.lr,
        a_pre=config.a_pre,
        a_post=config.a_post,
        e_trace_decay=config.e_trace_decay,
    )
    weight = net.connections["syn"].weight
    trajectory = [weight.item()]
    for t in range(config.steps):
        reward = 1.0 if t < config.steps // 2 else -1.0
        net((torch.rand(1, 1, generator=g) < config.rate).float())
        rule.update_state()
        rule.step(reward)
        trajectory.append(weight.item())
        if config.print_every and (t + 1) % config.print_every == 0:
            e = rule.state["syn"]["e_trace"].item()
            print(f"step {t + 1:4d}  reward {reward:+.0f}  E {e:7.3f}  w {weight.item():.4f}")
    return trajectory


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=Config.steps)
    parser.add_argument("--seed", type=int, default=Config.seed)
    args = parser.parse_args()
    torch.set_num_threads(1)
    weights = main(Config(steps=args.steps, seed=args.seed))
    half = args.steps // 2
    print(f"w: start {weights[0]:.4f}, after +1 phase {weights[half]:.4f}, end {weights[-1]:.4f}")
