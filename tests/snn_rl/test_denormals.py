"""flush_denormals: subnormal floats read and compute as zero inside, not outside."""

import pytest
import torch

from snn_rl import flush_denormals

TINY = 1e-39  # subnormal in float32


def _tiny_survives() -> bool:
    return float(torch.tensor([TINY]) * 1.0) != 0.0


@pytest.fixture(autouse=True)
def _needs_the_instruction():
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormal floats")


def test_the_block_flushes_nests_and_restores():
    assert _tiny_survives()
    with flush_denormals():
        assert not _tiny_survives()
        with flush_denormals():
            assert not _tiny_survives()
        assert not _tiny_survives()  # the outer block is still running
    assert _tiny_survives()
