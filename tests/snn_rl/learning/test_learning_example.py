"""examples/mstdpet_single_synapse.py: the weight rises under reward +1, then falls under -1."""

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[3] / "examples" / "mstdpet_single_synapse.py"


def load_example():
    spec = importlib.util.spec_from_file_location("mstdpet_single_synapse", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", [0, 1])
def test_weight_rises_then_falls(seed, capsys):
    example = load_example()
    weights = example.main(example.Config(steps=40, seed=seed, print_every=10))
    assert len(weights) == 41
    start, peak, end = weights[0], weights[20], weights[-1]
    assert peak > start + 0.1  # reward +1 for steps 0..19
    assert end < peak - 0.1  # reward -1 for steps 20..39
    # while w >= 1 every pre spike fires the post neuron: x = y and E >= 0, so +1 never lowers w
    assert all(b >= a for a, b in zip(weights[:20], weights[1:21], strict=True))
    assert capsys.readouterr().out.count("step") == 4
