"""Tests of snn_rl.encoding: golden values from the equations, statistics with fixed generators."""

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from snn_rl.encoding import (
    BernoulliEncoder,
    ConjunctiveGaussianEncoder,
    GaussianPopulationEncoder,
    OneHotEncoder,
    PairwiseGaussianEncoder,
    PoissonEncoder,
)
from snn_rl.neurons import IFNeuron

E = math.exp
CARTPOLE_LOW = [-2.4, -1.5, -0.2095, -2.0]
CARTPOLE_HIGH = [2.4, 1.5, 0.2095, 2.0]
CARTPOLE_N = (3, 3, 6, 5)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- Poisson / Bernoulli


def test_poisson_rate_matches_probability_within_three_sigma():
    enc = PoissonEncoder(dt=1.0, generator=gen(1))
    spikes = enc(torch.full((1, 20000), 200.0))  # p = 200 Hz * 1 ms = 0.2
    sigma = math.sqrt(0.2 * 0.8 / 20000)
    assert abs(spikes.mean().item() - 0.2) < 3 * sigma
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}


def test_poisson_dt_scales_probability_and_encode_is_time_first():
    enc = PoissonEncoder(dt=0.5, generator=gen(2))
    spikes = enc.encode(torch.full((2, 500), 200.0), steps=20)  # p = 0.1
    assert spikes.shape == (20, 2, 500)
    assert abs(spikes.mean().item() - 0.1) < 3 * math.sqrt(0.1 * 0.9 / 20000)


def test_poisson_probability_clamped_to_one_and_max_rate_ceiling():
    assert PoissonEncoder(dt=1.0)(torch.full((3, 50), 1000.0)).eq(1).all()
    assert PoissonEncoder(dt=2.0)(torch.full((3, 50), 700.0)).eq(1).all()  # p = 1.4 -> 1
    enc = PoissonEncoder(dt=1.0, max_rate=100.0, generator=gen(3))
    rate = enc(torch.full((1, 20000), 5000.0)).mean().item()  # clipped to 100 Hz -> p = 0.1
    assert abs(rate - 0.1) < 3 * math.sqrt(0.1 * 0.9 / 20000)


def test_poisson_zero_rate_never_spikes():
    enc = PoissonEncoder(dt=1.0, generator=gen(4))
    assert enc.encode(torch.zeros(4, 100), steps=50).sum().item() == 0


def test_poisson_same_seed_same_spikes_and_encode_equals_successive_calls():
    x = torch.full((2, 300), 300.0)
    a = PoissonEncoder(generator=gen(7)).encode(x, 5)
    b = PoissonEncoder(generator=gen(7)).encode(x, 5)
    c = PoissonEncoder(generator=gen(8)).encode(x, 5)
    assert torch.equal(a, b) and not torch.equal(a, c)
    enc = PoissonEncoder(generator=gen(7))
    assert torch.equal(a, torch.stack([enc(x) for _ in range(5)]))


def test_poisson_output_dtype_follows_input_and_integers_become_float():
    assert PoissonEncoder()(torch.zeros(1, 3, dtype=torch.float64)).dtype == torch.float64
    out = PoissonEncoder()(torch.tensor([[0, 2000]]))
    assert out.dtype == torch.get_default_dtype() and out.tolist() == [[0.0, 1.0]]


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (torch.tensor([[-1.0, 2.0]]), ValueError, "non-negative"),
        (torch.tensor([[float("nan")]]), ValueError, "finite"),
        (torch.tensor([[float("inf")]]), ValueError, "finite"),
        (torch.tensor([5.0]), ValueError, r"\(B, \*shape\)"),
        ([[1.0]], TypeError, "torch.Tensor"),
    ],
)
def test_poisson_invalid_intensities_raise(x, error, match):
    with pytest.raises(error, match=match):
        PoissonEncoder()(x)


def test_spike_encoder_arguments_validated():
    with pytest.raises(ValueError, match="dt must be > 0"):
        PoissonEncoder(dt=0.0)
    with pytest.raises(ValueError, match="max_rate must be > 0"):
        PoissonEncoder(max_rate=-5.0)
    with pytest.raises(TypeError, match="generator"):
        PoissonEncoder(generator=0)
    with pytest.raises(ValueError, match="scale must be > 0"):
        BernoulliEncoder(scale=0.0)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        PoissonEncoder().encode(torch.ones(1, 1), 0)


def test_bernoulli_probability_scale_and_extremes():
    enc = BernoulliEncoder(scale=0.5, generator=gen(5))
    rate = enc(torch.full((1, 20000), 0.6)).mean().item()  # p = 0.3
    assert abs(rate - 0.3) < 3 * math.sqrt(0.3 * 0.7 / 20000)
    spikes = BernoulliEncoder(generator=gen(6)).encode(torch.tensor([[0.0, 1.0]]), 100)
    assert spikes[:, 0, 0].sum().item() == 0 and spikes[:, 0, 1].sum().item() == 100


def test_bernoulli_out_of_range_values_raise():
    with pytest.raises(ValueError, match=r"values \* scale must lie in \[0, 1\]"):
        BernoulliEncoder(scale=2.0)(torch.tensor([[0.6]]))
    with pytest.raises(ValueError, match="non-negative"):
        BernoulliEncoder()(torch.tensor([[-0.1]]))


@pytest.mark.gpu
def test_generator_on_wrong_device_raises():
    enc = PoissonEncoder(generator=gen(0))
    with pytest.raises(ValueError, match="generator is on cpu"):
        enc(torch.ones(1, 2, device="cuda"))
    cuda_gen = torch.Generator(device="cuda").manual_seed(0)
    out = PoissonEncoder(generator=cuda_gen)(torch.full((1, 2), 1000.0, device="cuda"))
    assert out.device.type == "cuda" and out.sum().item() == 2


# ---------------------------------------------------------------- Gaussian population code


def test_gaussian_golden_values():
    # dim 0: centres 0, 1, 2, sigma 0.5; dim 1: centres -1, 1, sigma 1.
    enc = GaussianPopulationEncoder([0.0, -1.0], [2.0, 1.0], (3, 2))
    assert enc.out_features == 5
    out = enc(torch.tensor([[0.5, 0.0]]))
    expected = [E(-0.5), E(-0.5), E(-4.5), E(-0.5), E(-0.5)]
    torch.testing.assert_close(out, torch.tensor([expected]))


def test_gaussian_int_n_single_centre_and_clipping():
    enc = GaussianPopulationEncoder([0.0, 0.0], [2.0, 4.0], 1)  # midpoints 1, 2; sigma 1, 2
    torch.testing.assert_close(enc(torch.tensor([[0.0, 4.0]])), torch.tensor([[E(-0.5)] * 2]))
    enc = GaussianPopulationEncoder([0.0, -1.0], [2.0, 1.0], (3, 2))
    inside = enc(torch.tensor([[2.0, -1.0]]))
    torch.testing.assert_close(enc(torch.tensor([[5.0, -3.0]])), inside)
    torch.testing.assert_close(inside, torch.tensor([[E(-8), E(-2), 1.0, 1.0, E(-2)]]))
    free = GaussianPopulationEncoder([0.0, -1.0], [2.0, 1.0], (3, 2), clip=False)
    out = free(torch.tensor([[3.0, -1.0]]))
    torch.testing.assert_close(out, torch.tensor([[E(-18), E(-8), E(-2), 1.0, E(-2)]]))


def test_gaussian_accepts_numpy_and_batch_rows_are_independent():
    enc = GaussianPopulationEncoder([-1.0, 0.0, 5.0], [1.0, 3.0, 6.0], (4, 5, 2))
    obs = np.array([[0.1, 2.9, 5.5], [-3.0, 0.0, 5.0], [0.7, 1.1, 5.9], [1.0, 3.0, 6.0]])
    batch = enc(obs)
    assert batch.shape == (4, 11)
    for i in range(4):
        assert torch.equal(enc(obs[i : i + 1]), batch[i : i + 1])


def test_gaussian_infinite_bounds_error_and_from_space_override():
    box = SimpleNamespace(low=np.array([0.0, -np.inf]), high=np.array([1.0, np.inf]))
    msg = r"dimension 1 has infinite bounds \(-inf, inf\); pass finite low/high for it"
    with pytest.raises(ValueError, match=msg):
        GaussianPopulationEncoder.from_space(box, 3)
    enc = GaussianPopulationEncoder.from_space(box, 3, low=[0.0, -1.0], high=[1.0, 1.0])
    assert isinstance(enc, GaussianPopulationEncoder) and enc.out_features == 6
    torch.testing.assert_close(enc.sigma, torch.tensor([0.25] * 3 + [0.5] * 3))
    with pytest.raises(TypeError, match="Box-like"):
        GaussianPopulationEncoder.from_space(SimpleNamespace(n=3), 3)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([0.0, 1.0], [1.0, 1.0], 3), {}, r"dimension 1 needs high > low"),
        (([0.0, 1.0], [1.0], 3), {}, "same length"),
        (([[0.0]], [[1.0]], 3), {}, "1-D"),
        (([0.0, float("nan")], [1.0, 2.0], 3), {}, "NaN"),
        (([0.0, 0.0], [1.0, 1.0], (3, 3, 3)), {}, "n_per_dim must be an int or have 2"),
        (([0.0], [1.0], 0), {}, r"n_per_dim\[0\] must be >= 1"),
        (([0.0], [1.0], 3), {"sigma_scale": 0.0}, "sigma_scale must be > 0"),
    ],
)
def test_gaussian_invalid_arguments_raise(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaussianPopulationEncoder(*args, **kwargs)


@pytest.mark.parametrize(
    ("obs", "match"),
    [
        (torch.tensor([0.5, 0.5]), r"obs must have shape \(B, 2\)"),
        (torch.tensor([[0.5, 0.5, 0.5]]), r"obs must have shape \(B, 2\)"),
        (torch.tensor([[0.5, float("nan")]]), "finite"),
    ],
)
def test_gaussian_invalid_observations_raise(obs, match):
    enc = GaussianPopulationEncoder([0.0, 0.0], [1.0, 1.0], 3)
    with pytest.raises(ValueError, match=match):
        enc(obs)


@pytest.mark.parametrize("cls", [GaussianPopulationEncoder, ConjunctiveGaussianEncoder])
def test_float32_float64_agree_and_to_double(cls):
    obs = torch.tensor([[0.3, -1.2, 0.05, 1.7], [2.0, 0.1, -0.2, -0.4]], dtype=torch.float64)
    enc32 = cls(CARTPOLE_LOW, CARTPOLE_HIGH, CARTPOLE_N)
    enc64 = cls(CARTPOLE_LOW, CARTPOLE_HIGH, CARTPOLE_N, dtype=torch.float64)
    out32, out64 = enc32(obs), enc64(obs)
    assert out32.dtype == torch.float32 and out64.dtype == torch.float64
    torch.testing.assert_close(out32.double(), out64, rtol=1e-5, atol=1e-6)
    moved = enc32.to(torch.float64)
    assert moved.sigma.dtype == torch.float64 and moved.dim_index.dtype == torch.long
    torch.testing.assert_close(moved(obs), out64, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- conjunctive grid code


def test_conjunctive_cartpole_recipe_numbers():
    enc = ConjunctiveGaussianEncoder(CARTPOLE_LOW, CARTPOLE_HIGH, CARTPOLE_N, dtype=torch.float64)
    assert enc.out_features == 270 and enc.n_per_dim == (3, 3, 6, 5)
    sigmas = [s.unique().tolist() for s in torch.split(enc.sigma, list(CARTPOLE_N))]
    for got, want in zip(sigmas, [1.2, 0.75, 0.0419, 0.5], strict=True):
        assert len(got) == 1 and got[0] == pytest.approx(want, abs=1e-12)
    theta_centres = torch.split(enc.centres, list(CARTPOLE_N))[2]
    want = [-0.2095, -0.1257, -0.0419, 0.0419, 0.1257, 0.2095]
    torch.testing.assert_close(theta_centres, torch.tensor(want, dtype=torch.float64))
    # obs = 0: factors x, x_dot (e^-2, 1, e^-2), theta (.., e^-0.5, e^-0.5, ..), theta_dot (.., 1, ..)
    out = enc(torch.zeros(1, 4))
    assert out.shape == (1, 270)
    assert out[0, ((1 * 3 + 1) * 6 + 2) * 5 + 2].item() == pytest.approx(E(-0.5))
    assert out[0, ((1 * 3 + 1) * 6 + 3) * 5 + 2].item() == pytest.approx(E(-0.5))
    assert int((out > 0.5).sum()) == 2 and int((out > 0.1).sum()) == 2
    assert out[0, ((0 * 3 + 1) * 6 + 2) * 5 + 1].item() == pytest.approx(E(-2) * E(-0.5) * E(-2))


def test_conjunctive_golden_state_and_row_major_order():
    # obs at whole multiples of sigma from every centre: z = (3,1,-1), (1,-1,-3),
    # (7,5,3,1,-1,-3), (5,3,1,-1,-3) per dimension.
    enc = ConjunctiveGaussianEncoder(CARTPOLE_LOW, CARTPOLE_HIGH, CARTPOLE_N, dtype=torch.float64)
    out = enc(torch.tensor([[1.2, -0.75, 0.0838, 0.5]], dtype=torch.float64))[0]
    z = [(3, 1, -1), (1, -1, -3), (7, 5, 3, 1, -1, -3), (5, 3, 1, -1, -3)]
    expected = [E(-0.5 * sum(k * k for k in cell)) for cell in itertools.product(*z)]
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64), rtol=1e-9, atol=0)
    assert out[((2 * 3 + 0) * 6 + 3) * 5 + 2].item() == pytest.approx(E(-2))
    assert out[((0 * 3 + 2) * 6 + 0) * 5 + 0].item() == pytest.approx(E(-46), rel=1e-9)
    assert int(torch.isclose(out, torch.tensor(E(-2), dtype=torch.float64)).sum()) == 16


def test_conjunctive_small_grid_is_outer_product_and_clips():
    enc = ConjunctiveGaussianEncoder([0.0, 0.0], [1.0, 2.0], (2, 3))  # sigma 0.5 each
    out = enc(torch.tensor([[0.0, 1.0], [7.0, -1.0]]))
    g1, g2 = [1.0, E(-2)], [E(-2), 1.0, E(-2)]
    torch.testing.assert_close(out[0], torch.tensor([a * b for a in g1 for b in g2]))
    h1, h2 = [E(-2), 1.0], [1.0, E(-2), E(-8)]  # clipped to (1, 0)
    torch.testing.assert_close(out[1], torch.tensor([a * b for a in h1 for b in h2]))
    single = ConjunctiveGaussianEncoder([0.0, -1.0], [2.0, 1.0], (1, 2))
    torch.testing.assert_close(single(torch.tensor([[1.0, 1.0]])), torch.tensor([[E(-2), 1.0]]))


def test_conjunctive_batch_rows_equal_single_rows():
    enc = ConjunctiveGaussianEncoder(CARTPOLE_LOW, CARTPOLE_HIGH, CARTPOLE_N)
    obs = torch.tensor(
        [[0.1, 0.2, 0.01, -0.3], [-2.0, 1.4, -0.2, 1.9], [3.0, -5.0, 0.3, 0.0], [0, 0, 0, 0.0]]
    )
    batch = enc(obs)
    for i in range(4):
        assert torch.equal(enc(obs[i : i + 1]), batch[i : i + 1])


def test_conjunctive_from_space_infinite_bounds_and_cell_limit():
    gym_spaces = pytest.importorskip("gymnasium.spaces")
    high = np.array([4.8, np.inf, 0.41887903, np.inf], dtype=np.float32)
    box = gym_spaces.Box(-high, high, dtype=np.float32)  # CartPole-v1's observation space
    msg = r"dimension 1 has infinite bounds \(-inf, inf\); pass finite low/high for it"
    with pytest.raises(ValueError, match=msg):
        ConjunctiveGaussianEncoder.from_space(box, CARTPOLE_N)
    enc = ConjunctiveGaussianEncoder.from_space(
        box, CARTPOLE_N, low=CARTPOLE_LOW, high=CARTPOLE_HIGH
    )
    assert isinstance(enc, ConjunctiveGaussianEncoder) and enc.out_features == 270
    with pytest.raises(ValueError, match="fewer centres per dimension"):
        ConjunctiveGaussianEncoder([0.0] * 3, [1.0] * 3, (100, 100, 101))


def test_conjunctive_currents_drive_if_neurons_at_rate_i():
    # The recipe's deterministic rate code: v += I, spike at v >= 1, reset to 0.
    enc = ConjunctiveGaussianEncoder([0.0, 0.0], [1.0, 2.0], (2, 3))
    current = enc(torch.tensor([[0.0, 1.0]]))  # cells 1.0 and e^-2 = 0.1353 among others
    neurons = IFNeuron(6, thresh=1.0, v_rest=0.0, alpha_v=1.0)
    neurons.reset_state(batch_size=1)
    counts = sum(neurons(current) for _ in range(100))
    assert counts[0, 1].item() == 100  # I = 1: every step
    # I = e^-2: v reaches 1 after ceil(1 / 0.1353) = 8 steps, the reset to 0 drops the rest.
    assert counts[0, 0].item() == 12


# ---------------------------------------------------------------- one-hot


def test_one_hot_values_shapes_and_start():
    enc = OneHotEncoder(4, value=0.5)
    expected = torch.tensor([[0.0, 0.0, 0.5, 0.0], [0.5, 0.0, 0.0, 0.0]])
    assert torch.equal(enc(torch.tensor([2, 0])), expected)
    assert torch.equal(enc(np.array([[2], [0]])), expected)
    assert torch.equal(enc(torch.tensor([3.0])), torch.tensor([[0.0, 0.0, 0.0, 0.5]]))
    shifted = OneHotEncoder.from_space(SimpleNamespace(n=3, start=-1))
    assert torch.equal(shifted(torch.tensor([-1, 1])), torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
    assert enc.to(torch.float64)(torch.tensor([1])).dtype == torch.float64


@pytest.mark.parametrize(
    ("obs", "error", "match"),
    [
        (torch.tensor([4]), ValueError, r"obs must lie in \[0, 3\]"),
        (torch.tensor([-1]), ValueError, r"obs must lie in \[0, 3\]"),
        (torch.tensor([1.5]), ValueError, r"integers in \[0, 3\]"),
        (torch.tensor([float("nan")]), ValueError, r"integers in \[0, 3\]"),
        (torch.tensor([True]), TypeError, r"integers in \[0, 3\]"),
        (torch.tensor([[1, 2]]), ValueError, r"\(B,\) or \(B, 1\)"),
    ],
)
def test_one_hot_invalid_observations_raise(obs, error, match):
    with pytest.raises(error, match=match):
        OneHotEncoder(4)(obs)


def test_one_hot_invalid_arguments_raise():
    with pytest.raises(ValueError, match="n must be >= 1"):
        OneHotEncoder(0)
    with pytest.raises(ValueError, match="value must be > 0"):
        OneHotEncoder(3, value=0.0)
    with pytest.raises(TypeError, match="Discrete-like"):
        OneHotEncoder.from_space(SimpleNamespace(low=0, high=1))


# ------------------------------------------------------------------------------ images
def test_image_encoder_golden_values_in_every_layout():
    from snn_rl.encoding import ImageEncoder

    hwc = torch.tensor([[[[0, 255], [51, 0]], [[102, 0], [255, 255]]]], dtype=torch.uint8)
    enc = ImageEncoder((2, 2, 2), layout="hwc", low=0, high=255)
    assert enc.image_shape == (2, 2, 2) and enc.out_features == 8
    # channels first: channel 0 is [[0, 51], [102, 255]], channel 1 [[255, 0], [0, 255]]
    expected = torch.tensor([[0.0, 0.2, 0.4, 1.0, 1.0, 0.0, 0.0, 1.0]])
    torch.testing.assert_close(enc(hwc), expected)
    chw = ImageEncoder((2, 2, 2), layout="chw", low=0, high=255)
    torch.testing.assert_close(chw(hwc.permute(0, 3, 1, 2)), expected)
    hw = ImageEncoder((1, 3), layout="hw", low=-1.0, high=1.0)
    torch.testing.assert_close(
        hw(torch.tensor([[[-1.0, 0.0, 3.0]]])), torch.tensor([[0.0, 0.5, 1.0]])
    )
    minatar = ImageEncoder((10, 10, 4))  # bool grids, channels last
    assert minatar.layout == "hwc" and minatar.image_shape == (4, 10, 10)
    obs = torch.zeros(3, 10, 10, 4, dtype=torch.bool)
    obs[1, 2, 5, 3] = True
    out = minatar(obs)
    assert out.shape == (3, 400) and float(out.sum()) == 1.0 and float(out[1, 3 * 100 + 25]) == 1.0


def test_image_layouts_are_read_from_the_shape_or_refused_by_name():
    from snn_rl.encoding import image_layout

    assert image_layout((84, 84)) == "hw"
    assert image_layout((84, 84, 3)) == "hwc"
    assert image_layout((3, 84, 84)) == "chw"
    assert image_layout((12, 10, 10)) == "chw"  # more channels than pixels a side, square image
    assert image_layout((10, 10, 12)) == "hwc"
    with pytest.raises(
        ValueError, match=r"cannot tell which dimension of the image shape \(10, 10, 10\)"
    ):
        image_layout((10, 10, 10))
    with pytest.raises(ValueError, match=r"got shape \(4, 84, 84, 3\); flatten a vector with"):
        image_layout((4, 84, 84, 3))
    with pytest.raises(ValueError, match="layout 'hw' does not fit the 3-dimensional shape"):
        image_layout((3, 8, 8), "hw")
    with pytest.raises(ValueError, match="layout must be one of"):
        image_layout((3, 8, 8), "whc")


def test_pairwise_code_is_the_populations_then_every_pair_grid():
    low, high = [-1.0, 0.0, 2.0], [1.0, 4.0, 3.0]
    enc = PairwiseGaussianEncoder(low, high, (2, 3, 4))
    assert enc.out_features == 2 + 3 + 4 + 2 * 3 + 2 * 4 + 3 * 4
    obs = torch.tensor([[0.3, 1.0, 2.9], [-5.0, 4.0, 2.0]])  # row 1 clips dimension 0
    out = enc(obs)
    g = GaussianPopulationEncoder(low, high, (2, 3, 4))(obs)
    parts = [g[:, :2], g[:, 2:5], g[:, 5:]]
    expected = [g]
    for i, j in itertools.combinations(range(3), 2):
        expected.append((parts[i].unsqueeze(2) * parts[j].unsqueeze(1)).flatten(1))
    torch.testing.assert_close(out, torch.cat(expected, dim=1))
    # two dimensions: the populations and the full grid of ConjunctiveGaussianEncoder
    two = PairwiseGaussianEncoder([0.0, 0.0], [1.0, 1.0], 3)
    x = torch.rand(5, 2)
    grid = ConjunctiveGaussianEncoder([0.0, 0.0], [1.0, 1.0], 3)(x)
    torch.testing.assert_close(two(x)[:, 6:], grid)
    with pytest.raises(ValueError, match="a pairwise code needs at least 2 dimensions, got 1"):
        PairwiseGaussianEncoder([0.0], [1.0], 3)
    assert PairwiseGaussianEncoder([-1.0] * 8, [1.0] * 8, 5).out_features == 740
