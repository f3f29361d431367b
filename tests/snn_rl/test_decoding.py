"""Tests of snn_rl.decoding: hand-made counts, frequency checks with fixed generators."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from snn_rl.decoding import (
    EpsilonGreedyDecoder,
    GreedyDecoder,
    PopulationVectorDecoder,
    SoftmaxDecoder,
    population_counts,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def chi_square(actions: torch.Tensor, probs: list[float]) -> float:
    n = actions.numel()
    observed = torch.bincount(actions, minlength=len(probs)).double()
    expected = torch.tensor(probs, dtype=torch.float64) * n
    return float(((observed - expected) ** 2 / expected).sum())


# chi-square quantiles at 0.999: 1 dof 10.83, 2 dof 13.82
CHI2_999 = {1: 10.83, 2: 13.82}


# ---------------------------------------------------------------- population counts


def test_population_counts_sums_each_population():
    counts = torch.tensor([[1, 2, 0, 0, 5, 1], [0, 0, 3, 3, 0, 1]])  # 3 actions x 2 neurons
    assert torch.equal(population_counts(counts, 3), torch.tensor([[3, 0, 6], [0, 6, 1]]))
    assert torch.equal(population_counts(counts.float(), 2), torch.tensor([[3.0, 6.0], [3.0, 4.0]]))


@pytest.mark.parametrize(
    ("counts", "n_actions", "error", "match"),
    [
        (torch.zeros(4, 7), 2, ValueError, r"counts must have shape \(B, 2 \* pop_size"),
        (torch.zeros(4, 0), 2, ValueError, r"\(B, 2 \* pop_size\)"),
        (torch.zeros(6), 2, ValueError, r"counts must have shape \(B, n\)"),
        (torch.tensor([[1.0, -1.0]]), 2, ValueError, "non-negative"),
        (torch.tensor([[1.0, float("nan")]]), 2, ValueError, "finite"),
        (torch.tensor([[True, False]]), 2, TypeError, "real numbers"),
        ([[1.0, 2.0]], 2, TypeError, "torch.Tensor"),
        (torch.zeros(1, 2), 0, ValueError, "n_actions must be >= 1"),
    ],
)
def test_population_counts_validation(counts, n_actions, error, match):
    with pytest.raises(error, match=match):
        population_counts(counts, n_actions)


# ---------------------------------------------------------------- greedy


def test_greedy_choices_and_first_index_ties():
    counts = torch.tensor(
        [
            [5.0, 0.0, 1.0, 1.0, 0.0, 0.0],  # totals 5, 2, 0 -> 0
            [0.0, 1.0, 3.0, 0.0, 2.0, 2.0],  # totals 1, 3, 4 -> 2
            [2.0, 0.0, 1.0, 1.0, 2.0, 0.0],  # totals 2, 2, 2 -> 0 (first)
            [0.0, 0.0, 1.0, 2.0, 3.0, 0.0],  # totals 0, 3, 3 -> 1 (first)
        ]
    )
    actions = GreedyDecoder(3)(counts)
    assert actions.dtype == torch.long and actions.tolist() == [0, 2, 0, 1]
    one = GreedyDecoder(3)(counts[1:2])
    assert one.shape == (1,) and one.tolist() == [2]


def test_greedy_tie_break_orders_only_exact_ties():
    counts = torch.tensor(
        [
            [2.0, 0.0, 1.0, 1.0, 0.0, 0.0],  # totals 2, 2, 0: tie between 0 and 1
            [0.0, 0.0, 1.0, 2.0, 3.0, 0.0],  # totals 0, 3, 3: tie between 1 and 2
            [4.0, 0.0, 1.0, 2.0, 0.0, 0.0],  # totals 4, 3, 0: no tie
            [1.0, 1.0, 1.0, 1.0, 0.0, 0.0],  # totals 2, 2, 0, equal scores -> first
        ]
    )
    scores = torch.tensor(
        [
            [0.1, 0.1, 0.9, 0.0, 5.0, 5.0],  # population means 0.1, 0.45, 5 (5 is not tied)
            [9.0, 9.0, 0.2, 0.2, 0.3, 0.5],  # means 9 (not tied), 0.2, 0.4 -> 2
            [0.0, 0.0, 900.0, 900.0, 0.0, 0.0],  # huge score cannot beat a count difference
            [0.25, 0.25, 0.0, 0.5, 0.0, 0.0],  # means 0.25, 0.25 -> 0
        ]
    )
    assert GreedyDecoder(3)(counts, tie_break=scores).tolist() == [1, 2, 0, 0]


def test_greedy_integer_counts_and_exact_shape_check():
    dec = GreedyDecoder(2, pop_size=10)
    counts = torch.zeros(4, 20, dtype=torch.long)
    counts[:, 15] = torch.tensor([0, 1, 2, 3])
    assert dec(counts).tolist() == [0, 1, 1, 1]
    with pytest.raises(ValueError, match=r"counts must have shape \(B, 20\) for 2 actions x 10 neurons, got \(4, 18\)"):  # fmt: skip
        dec(torch.zeros(4, 18))


@pytest.mark.parametrize(
    ("tie_break", "error", "match"),
    [
        (torch.zeros(2, 6), ValueError, r"tie_break must have shape \(2, 4\)"),
        (torch.tensor([[0.0, float("inf"), 0.0, 0.0]] * 2), ValueError, "tie_break must be finite"),
        (np.zeros((2, 4)), TypeError, "tie_break must be a torch.Tensor"),
    ],
)
def test_tie_break_validation(tie_break, error, match):
    with pytest.raises(error, match=match):
        GreedyDecoder(2)(torch.ones(2, 4), tie_break=tie_break)


def test_decoder_arguments_validated():
    with pytest.raises(ValueError, match="n_actions must be >= 1"):
        GreedyDecoder(0)
    with pytest.raises(ValueError, match="pop_size must be >= 1"):
        GreedyDecoder(2, pop_size=0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        SoftmaxDecoder(2, temperature=0.0)
    with pytest.raises(ValueError, match=r"epsilon must lie in \[0.0, 1.0\]"):
        EpsilonGreedyDecoder(2, epsilon=1.5)
    with pytest.raises(ValueError, match="epsilon must be finite"):
        EpsilonGreedyDecoder(2, epsilon=float("nan"))
    with pytest.raises(TypeError, match="generator"):
        SoftmaxDecoder(2, temperature=1.0, generator=np.random.default_rng(0))


# ---------------------------------------------------------------- epsilon-greedy


def test_epsilon_zero_equals_greedy():
    counts = torch.randint(0, 4, (500, 3 * 5), generator=gen(1))
    scores = torch.rand(500, 15, generator=gen(2))
    greedy = GreedyDecoder(3)(counts, tie_break=scores)
    eps = EpsilonGreedyDecoder(3, epsilon=0.0, generator=gen(3))(counts, tie_break=scores)
    assert torch.equal(eps, greedy)


def test_epsilon_one_is_uniform_and_independent_of_network():
    counts = torch.zeros(30000, 3 * 4)
    counts[:, 0] = 10.0  # the network strongly prefers action 0
    actions = EpsilonGreedyDecoder(3, epsilon=1.0, generator=gen(4))(counts)
    assert chi_square(actions, [1 / 3] * 3) < CHI2_999[2]


def test_epsilon_is_settable_and_mixes_at_the_expected_rate():
    dec = EpsilonGreedyDecoder(2, epsilon=1.0, generator=gen(5))
    dec.epsilon = 0.25
    assert dec.epsilon == 0.25
    counts = torch.zeros(40000, 2)
    counts[:, 0] = 1.0  # greedy = 0; P(action 1) = epsilon / 2 = 0.125
    actions = dec(counts)
    assert chi_square(actions, [0.875, 0.125]) < CHI2_999[1]
    with pytest.raises(ValueError, match="epsilon"):
        dec.epsilon = -0.1
    assert dec.epsilon == 0.25


def test_epsilon_greedy_same_seed_same_actions():
    counts = torch.randint(0, 3, (200, 4), generator=gen(6))
    a = EpsilonGreedyDecoder(2, epsilon=0.5, generator=gen(9))(counts)
    b = EpsilonGreedyDecoder(2, epsilon=0.5, generator=gen(9))(counts)
    c = EpsilonGreedyDecoder(2, epsilon=0.5, generator=gen(10))(counts)
    assert torch.equal(a, b) and not torch.equal(a, c)


# ---------------------------------------------------------------- softmax


def test_softmax_probabilities_golden_and_sampled_frequencies():
    dec = SoftmaxDecoder(3, temperature=1.0, generator=gen(7))
    counts = torch.tensor([[1.0, 1.0, 0.0, 1.0, 0.0, 0.0]]).repeat(30000, 1)  # totals 2, 1, 0
    z = math.e**2 + math.e + 1.0
    want = [math.e**2 / z, math.e / z, 1.0 / z]  # 0.6652, 0.2447, 0.0900
    torch.testing.assert_close(dec.probabilities(counts[:1]), torch.tensor([want]))
    actions = dec(counts)
    assert actions.shape == (30000,) and actions.dtype == torch.long
    assert chi_square(actions, want) < CHI2_999[2]


def test_softmax_temperature_settable_and_scales_logits():
    dec = SoftmaxDecoder(2, temperature=1.0)
    dec.temperature = 2.0
    counts = torch.tensor([[4, 0, 0, 0]])  # totals 4, 0 -> logits 2, 0
    want = [math.e**2 / (math.e**2 + 1), 1 / (math.e**2 + 1)]
    torch.testing.assert_close(dec.probabilities(counts), torch.tensor([want]))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        dec.temperature = -1.0


def test_softmax_same_seed_same_actions_and_cold_limit_is_greedy():
    counts = torch.randint(0, 5, (300, 6), generator=gen(11)).float()
    a = SoftmaxDecoder(3, temperature=3.0, generator=gen(12))(counts)
    b = SoftmaxDecoder(3, temperature=3.0, generator=gen(12))(counts)
    assert torch.equal(a, b)
    totals = population_counts(counts, 3)
    unique_max = (totals == totals.max(dim=1, keepdim=True).values).sum(dim=1) == 1
    cold = SoftmaxDecoder(3, temperature=1e-3, generator=gen(13))(counts)
    assert torch.equal(cold[unique_max], GreedyDecoder(3)(counts)[unique_max])
    with pytest.raises(ValueError, match=r"tie_break must have shape \(300, 6\)"):
        SoftmaxDecoder(3, temperature=1.0)(counts, tie_break=torch.zeros(300, 3))


@pytest.mark.gpu
def test_decoders_on_cuda_keep_device_and_check_generator():
    counts = torch.tensor([[0.0, 3.0]], device="cuda")
    assert GreedyDecoder(2)(counts).device.type == "cuda"
    with pytest.raises(ValueError, match="generator is on cpu"):
        EpsilonGreedyDecoder(2, epsilon=0.5, generator=gen(0))(counts)
    cuda_gen = torch.Generator(device="cuda").manual_seed(0)
    out = SoftmaxDecoder(2, temperature=1.0, generator=cuda_gen)(counts)
    assert out.device.type == "cuda" and out.shape == (1,)


# ---------------------------------------------------------------- population vector


def test_population_vector_golden_values_and_silent_midpoint():
    # dim 0: preferred -1, 0, 1; dim 1: preferred 0, 10.
    dec = PopulationVectorDecoder([-1.0, 0.0], [1.0, 10.0], (3, 2))
    counts = torch.tensor([[0.0, 1.0, 3.0, 1.0, 1.0], [2.0, 0.0, 0.0, 0.0, 0.0], [0, 0, 0, 1, 4]])
    want = [[0.75, 5.0], [-1.0, 5.0], [0.0, 8.0]]  # (0 + 3) / 4; (0 + 10) / 2; silent -> mid
    torch.testing.assert_close(dec(counts), torch.tensor(want))
    one = dec(counts[2:3])
    assert one.shape == (1, 2)
    torch.testing.assert_close(dec.preferred_values, torch.tensor([-1.0, 0.0, 1.0, 0.0, 10.0]))


def test_population_vector_single_neuron_int_counts_and_float64():
    dec = PopulationVectorDecoder([0.0, -2.0], [4.0, 2.0], 1, dtype=torch.float64)
    out = dec(torch.tensor([[3, 0]]))  # a lone neuron prefers the midpoint
    assert out.dtype == torch.float64 and out.tolist() == [[2.0, 0.0]]
    moved = PopulationVectorDecoder([-1.0], [1.0], 5).to(torch.float64)
    out = moved(torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0]]))
    assert out.dtype == torch.float64 and out.tolist() == [[0.0]]


def test_population_vector_stays_within_bounds():
    dec = PopulationVectorDecoder([-2.0, 0.1], [3.0, 0.2], (7, 4))
    out = dec(torch.rand(1000, 11, generator=gen(14)) * 5)
    assert bool((out[:, 0] >= -2.0).all() and (out[:, 0] <= 3.0).all())
    assert bool((out[:, 1] >= 0.1).all() and (out[:, 1] <= 0.2).all())


def test_population_vector_from_space_and_errors():
    box = SimpleNamespace(low=np.array([-np.inf]), high=np.array([1.0]))
    with pytest.raises(ValueError, match=r"dimension 0 has infinite bounds \(-inf, 1.0\)"):
        PopulationVectorDecoder.from_space(box, 4)
    dec = PopulationVectorDecoder.from_space(box, 3, low=[-3.0])
    torch.testing.assert_close(dec.preferred_values, torch.tensor([-3.0, -1.0, 1.0]))
    msg = r"counts must have shape \(B, 3\) for 1 action dimensions with pop_size=\(3,\)"
    with pytest.raises(ValueError, match=msg):
        dec(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=msg):
        dec(torch.zeros(3))
    with pytest.raises(ValueError, match="non-negative"):
        dec(torch.tensor([[1.0, -1.0, 0.0]]))
    with pytest.raises(ValueError, match="finite"):
        dec(torch.tensor([[1.0, float("nan"), 0.0]]))
