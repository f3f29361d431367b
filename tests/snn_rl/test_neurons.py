"""Neuron populations: golden sequences, batch rows, resets, dtypes and validation."""

import numpy as np
import pytest
import torch

from snn_rl.neurons import AdaptiveLIFNeuron, FedeNeuron, IFNeuron, Input, LIFNeuron


def run(neuron, currents, **kw):
    spikes, volts = [], []
    for c in currents:
        spikes.append(neuron(torch.tensor([[c]], dtype=torch.float64), **kw).item())
        volts.append(neuron.v.item())
    return spikes, volts


def test_input_binarises_and_traces():
    inp = Input(2, alpha_t=1.0, decay_t=0.5, dtype=torch.float64)
    out = inp(torch.tensor([[2.0, 0.0]], dtype=torch.float64))
    assert out.tolist() == [[1.0, 0.0]]
    assert inp.trace.tolist() == [[1.0, 0.0]]  # PySNN added the raw value 2
    inp(torch.tensor([[True, True]]))
    assert inp.trace[0].tolist() == pytest.approx([1.5, 1.0])


def test_if_neuron_golden_sequence():
    # v += 0.4*I, thresh 1: I=1 -> 0.4, 0.8, 1.2 spike -> reset 0, then 0.4
    n = IFNeuron(1, thresh=1.0, alpha_v=0.4, decay_t=0.5, dtype=torch.float64)
    spikes, volts = run(n, [1.0, 1.0, 1.0, 1.0])
    assert spikes == [0.0, 0.0, 1.0, 0.0]
    assert volts == pytest.approx([0.4, 0.8, 0.0, 0.4])
    # trace: 0, 0, 1, 0.5 (linear, tau_t 0.5)
    assert n.trace.item() == pytest.approx(0.5)


def test_lif_linear_golden_sequence_with_refractory():
    # v <- 0.5*v + 0.6*I; I = 1: 0.6, 0.9, 1.05 spike; refractory 2 steps: held at 0, 0; then 0.6
    n = LIFNeuron(
        1, thresh=1.0, alpha_v=0.6, decay_v=0.5, duration_refrac=2.0, dt=1.0, dtype=torch.float64
    )
    spikes, volts = run(n, [1.0] * 6)
    assert spikes == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert volts == pytest.approx([0.6, 0.9, 0.0, 0.0, 0.0, 0.6])


def test_lif_refractory_in_time_units():
    # duration_refrac = 1.0 with dt = 0.5 is 2 steps
    n = LIFNeuron(1, thresh=1.0, decay_v=0.5, duration_refrac=1.0, dt=0.5)
    assert n.refrac_steps == 2


def test_lif_exponential_golden():
    # v <- v + 0.5*(-v + 1*I), I = 1: 0.5, 0.75, 0.875
    n = LIFNeuron(
        1, thresh=2.0, tau_v=2.0, dt=1.0, tau_t=2.0, update_type="exponential", dtype=torch.float64
    )
    _, volts = run(n, [1.0, 1.0, 1.0])
    assert volts == pytest.approx([0.5, 0.75, 0.875])


def test_voltage_floor():
    n = LIFNeuron(1, decay_v=0.8, v_min=0.0, dtype=torch.float64)
    _, volts = run(n, [-5.0, 0.5])
    assert volts == pytest.approx([0.0, 0.5])
    m = LIFNeuron(1, decay_v=0.8, dtype=torch.float64)
    _, volts = run(m, [-5.0, 0.5])
    assert volts == pytest.approx([-5.0, -3.5])


def test_adaptive_threshold_jumps_and_relaxes_to_rest():
    n = AdaptiveLIFNeuron(1, thresh=1.0, decay_v=0.0, alpha_thresh=0.5, decay_thresh=0.5)
    n(torch.tensor([[1.0]]))
    assert n.spikes.item() == 1.0
    assert n.adaptive_thresh.item() == pytest.approx(1.5)
    n(torch.tensor([[1.2]]))  # 1.2 < 1.5: no spike; thresh 1 + 0.5*0.5 = 1.25
    assert n.spikes.item() == 0.0
    assert n.adaptive_thresh.item() == pytest.approx(1.25)
    for _ in range(40):
        n(torch.zeros(1, 1))
    assert n.adaptive_thresh.item() == pytest.approx(1.0)


def test_fede_neuron_forcing():
    n = FedeNeuron(1, thresh=10.0, alpha_v=2.0, tau_v=2.0, dt=1.0, dtype=torch.float64)
    # v <- v + 0.5*(-v + 2*(3 - 1)) = 2
    n(torch.tensor([[3.0]], dtype=torch.float64), torch.tensor([[1.0]], dtype=torch.float64))
    assert n.v.item() == pytest.approx(2.0)
    with pytest.raises(TypeError, match="needs trace_sum"):
        n(torch.ones(1, 1))
    with pytest.raises(TypeError, match="takes no trace_sum"):
        LIFNeuron(1)(torch.ones(1, 1), torch.ones(1, 1))


@pytest.mark.parametrize("cls", [IFNeuron, LIFNeuron, AdaptiveLIFNeuron])
def test_batch_rows_are_independent(cls):
    g = torch.Generator().manual_seed(0)
    currents = torch.rand(12, 4, 3, generator=g) * 1.5
    batched = cls(3, decay_t=0.7, duration_refrac=1.0)
    batched.reset_state(batch_size=4)
    out_b = torch.stack([batched(c) for c in currents])
    for row in range(4):
        single = cls(3, decay_t=0.7, duration_refrac=1.0)
        out_s = torch.stack([single(c[row : row + 1]) for c in currents])
        assert torch.equal(out_s[:, 0], out_b[:, row])
    assert out_b.sum() > 0


def test_reset_by_mask_touches_only_masked_rows():
    n = AdaptiveLIFNeuron(2, decay_v=0.9, alpha_thresh=0.3)
    n.reset_state(batch_size=3)
    for _ in range(3):
        n(torch.full((3, 2), 0.7))
    before = {k: getattr(n, k).clone() for k in n.state_names}
    n.reset_state(mask=torch.tensor([False, True, False]))
    for k in n.state_names:
        after = getattr(n, k)
        assert torch.equal(after[[0, 2]], before[k][[0, 2]])
    assert torch.all(n.v[1] == 0.0)
    assert torch.all(n.trace[1] == 0.0)
    assert torch.all(n.adaptive_thresh[1] == 1.0)


def test_batch_size_mismatch_raises_with_both_sizes():
    n = LIFNeuron(3)
    n.reset_state(batch_size=2)
    with pytest.raises(ValueError, match=r"batch size 5 .* batch size 2"):
        n(torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"shape \(B, 3\)"):
        n(torch.zeros(2, 4))


def test_float32_and_float64_agree():
    g = torch.Generator().manual_seed(1)
    currents = torch.rand(30, 2, 5, generator=g, dtype=torch.float64)
    n64 = LIFNeuron(5, decay_v=0.8, dtype=torch.float64)
    n32 = LIFNeuron(5, decay_v=0.8, dtype=torch.float32)
    n64.reset_state(2)
    n32.reset_state(2)
    for c in currents:
        n64(c)
        n32(c.float())
        assert torch.allclose(n32.v.double(), n64.v, atol=1e-5)


def test_to_dtype_moves_state():
    n = LIFNeuron(2).to(torch.float64)
    assert n.v.dtype == torch.float64
    n.reset_state(batch_size=3)
    assert n.v.dtype == torch.float64 and n.v.shape == (3, 2)
    assert n(torch.ones(3, 2)).dtype == torch.float64


def test_multidimensional_shape():
    n = LIFNeuron((2, 3, 3))
    n.reset_state(batch_size=2)
    assert n(torch.ones(2, 2, 3, 3)).shape == (2, 2, 3, 3)
    assert n.num_neurons == 18


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"decay_v": 1.5}, r"decay_v must lie in \[0.0, 1.0\]"),
        ({"decay_t": -0.1}, r"decay_t must lie in"),
        ({"tau_v": 0.5}, "tau_v is a time constant, used with update_type='exponential'"),
        ({"update_type": "exponential"}, "needs tau_t"),
        ({"update_type": "exponential", "tau_t": 2.0, "decay_v": 0.5}, "decay_v is a factor"),
        ({"dt": 0.0}, r"dt must be > 0"),
        ({"thresh": 0.0, "v_rest": 0.0}, "must be greater than v_rest"),
        ({"duration_refrac": 1.5}, "whole multiple of dt"),
        ({"duration_refrac": -1.0}, "duration_refrac must be >= 0"),
        ({"update_type": "cubic"}, "update_type must be one of"),
        ({"v_min": 0.5}, "v_min"),
        ({"alpha_v": float("nan")}, "alpha_v must be finite"),
        ({"thresh": "1"}, "thresh must be a real number"),
    ],
)
def test_validation_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        LIFNeuron(3, **kwargs)


@pytest.mark.parametrize("shape", [0, (), (2, -1), "3", 2.5])
def test_bad_shape(shape):
    with pytest.raises((ValueError, TypeError), match="shape must be"):
        Input(shape)


def test_bad_reset_arguments():
    n = LIFNeuron(2)
    with pytest.raises(ValueError, match="not both"):
        n.reset_state(batch_size=2, mask=torch.tensor([True]))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        n.reset_state(batch_size=0)
    with pytest.raises(ValueError, match=r"mask must have shape \(1,\)"):
        n.reset_state(mask=torch.tensor([True, False]))
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        n.reset_state(mask=torch.tensor([0.5]))


def test_exponential_decay_must_be_positive_time_constant():
    with pytest.raises(ValueError, match="tau_v must be > 0"):
        LIFNeuron(1, tau_v=0.0, tau_t=1.0, update_type="exponential")
    n = LIFNeuron(1, tau_v=20.0, tau_t=1.0, update_type="exponential")
    assert (n.tau_v, n.decay_v, n.tau_t, n.decay_t) == (20.0, None, 1.0, None)


def test_constructor_is_generated_from_the_declared_parameters():
    import inspect

    params = inspect.signature(AdaptiveLIFNeuron).parameters
    assert list(params)[0] == "shape"
    assert params["shape"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(params.values())[1:])
    assert {"decay_v", "tau_v", "decay_thresh", "tau_thresh", "alpha_t"} <= set(params)
    with pytest.raises(TypeError, match="unexpected keyword argument 'tau'"):
        LIFNeuron(2, tau=0.5)
    with pytest.raises(TypeError, match="positional"):
        LIFNeuron(2, 1.0)
    assert "update_type" not in inspect.signature(FedeNeuron).parameters  # always exponential
    assert "decay_v=0.8" in repr(LIFNeuron(2)) and "tau_v" not in repr(LIFNeuron(2))


def test_reset_mask_takes_bools_or_zero_one_integers():
    n = LIFNeuron(2)
    n.reset_state(batch_size=3)
    n.reset_state(mask=np.array([1, 0, 1]))
    n.reset_state(mask=[True, False, False])
    with pytest.raises(ValueError, match="bools or 0/1 integers"):
        n.reset_state(mask=torch.tensor([2, 0, 0]))
