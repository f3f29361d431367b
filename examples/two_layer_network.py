"""Build a two-layer spiking network, drive it with Poisson-like input, print spike counts.

The first thing to run after installing snn-rl:

    python examples/two_layer_network.py
"""

from __future__ import annotations

import argparse

import torch

from snn_rl import Input, LIFNeuron, Linear, SNNNetwork


def build(n_in: int = 8, n_hidden: int = 16, n_out: int = 4, seed: int = 0) -> SNNNetwork:
    g = torch.Generator().manual_seed(seed)
    net = SNNNetwork()
    inp = Input(n_in)
    hidden = LIFNeuron(n_hidden, thresh=1.0, decay_v=0.8)
    out = LIFNeuron(n_out, thresh=1.0, decay_v=0.8)
    net.add_layer("fc1", Linear(n_in, n_hidden, generator=g), inp, hidden)
    net.add_layer("fc2", Linear(n_hidden, n_out, generator=g), hidden, out)
    with torch.no_grad():
        net.connections["fc1"].reset_weights("uniform", 0.0, 0.5, generator=g)
        net.connections["fc2"].reset_weights("uniform", 0.0, 0.3, generator=g)
    return net


def run(steps: int = 100, batch_size: int = 2, rate: float = 0.2, seed: int = 0) -> dict:
    """Simulate ``steps`` steps and return the spike counts per population ``(B, n)``."""
    g = torch.Generator().manual_seed(seed + 1)
    net = build(seed=seed)
    net.reset_state(batch_size=batch_size)
    layers = net.layer_state_dict()
    hidden, out = layers["fc1"]["postsynaptic"], layers["fc2"]["postsynaptic"]
    counts = {
        "input": torch.zeros(batch_size, 8),
        "hidden": torch.zeros(batch_size, 16),
        "output": torch.zeros(batch_size, 4),
    }
    for _ in range(steps):
        x = (torch.rand(batch_size, 8, generator=g) < rate).float()
        net(x)
        counts["input"] += x
        counts["hidden"] += hidden.spikes
        counts["output"] += out.spikes
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    counts = run(steps=args.steps, batch_size=args.batch_size)
    for name, c in counts.items():
        print(f"{name:>6} spikes per neuron (env 0): {c[0].int().tolist()}")


if __name__ == "__main__":
    main()
