"""The examples run and produce what they claim."""

import importlib.util
from pathlib import Path

import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_layer_network_example_counts():
    counts = load("two_layer_network").run(steps=400, batch_size=2, rate=0.2, seed=0)
    assert counts["input"].shape == (2, 8)
    assert counts["hidden"].shape == (2, 16) and counts["output"].shape == (2, 4)
    # Bernoulli input at p = 0.2 over 400 steps: mean 80 per neuron
    assert abs(counts["input"].mean().item() - 80.0) < 8.0
    assert counts["hidden"].sum() > 0 and counts["output"].sum() > 0
    assert torch.all(counts["output"] <= 400)


def test_custom_reward_example_learns_the_better_arm():
    result = load("custom_reward").run(pulls=800)
    assert result["before"] < 0.3  # seed 2 starts on the arm that pays 0.2
    assert result["greedy_arm"] == 1 and result["after"] >= 0.7
