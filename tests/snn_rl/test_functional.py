"""Golden values for every pure step function, hand-computed from the equations."""

import pytest
import torch

from snn_rl import functional as F


def t(*values):
    return torch.tensor(values, dtype=torch.float64)


def test_trace_linear_sequence():
    # y <- 0.5*y + 2*z with z = 1, 0, 1: 2, 1, 2.5
    y = t(0.0)
    out = []
    for z in (1.0, 0.0, 1.0):
        y = F.trace_update(y, t(z), alpha_t=2.0, decay_t=0.5, update_type="linear")
        out.append(y.item())
    assert out == pytest.approx([2.0, 1.0, 2.5])


def test_trace_exponential_sequence():
    # y <- y + dt/tau*(-y + a*z), dt=1, tau=4, a=1: z=1 -> 0.25; z=0 -> 0.1875; z=1 -> 0.390625
    y = t(0.0)
    out = []
    for z in (1.0, 0.0, 1.0):
        y = F.trace_update(y, t(z), alpha_t=1.0, tau_t=4.0, dt=1.0, update_type="exponential")
        out.append(y.item())
    assert out == pytest.approx([0.25, 0.1875, 0.390625])


def test_if_voltage_gated():
    v = t(0.2, 0.2)
    out = F.if_voltage_update(v, t(1.0, 1.0), alpha_v=0.5, gate=t(1.0, 0.0))
    assert out.tolist() == pytest.approx([0.7, 0.2])


def test_lif_linear_and_refractory_clamp():
    # v_rest=-1: v <- -1 + gate*((v+1)*0.5 + 2*I)
    v = t(0.0, 0.0)
    out = F.lif_voltage_update(
        v, t(0.25, 0.25), v_rest=-1.0, alpha_v=2.0, decay_v=0.5, gate=t(1.0, 0.0)
    )
    assert out.tolist() == pytest.approx([0.0, -1.0])


def test_lif_exponential():
    # v <- v + dt/tau*(-(v - v_rest) + a*I) = 0.5 + 0.5*(-(0.5-0) + 1*1) = 0.75
    out = F.lif_voltage_update(
        t(0.5),
        t(1.0),
        v_rest=0.0,
        alpha_v=1.0,
        tau_v=2.0,
        gate=t(1.0),
        dt=1.0,
        update_type="exponential",
    )
    assert out.item() == pytest.approx(0.75)


def test_fede_voltage():
    # forcing = 2*(3 - 1) = 4; v <- 1 + 0.5*(-(1 - 0) + 4) = 2.5
    out = F.fede_voltage_update(
        t(1.0), t(3.0), t(1.0), v_rest=0.0, alpha_v=2.0, tau_v=2.0, gate=t(1.0), dt=1.0
    )
    assert out.item() == pytest.approx(2.5)


def test_spike_uses_greater_equal_and_keeps_dtype():
    z = F.spike(t(0.99, 1.0, 1.5), 1.0)
    assert z.tolist() == [0.0, 1.0, 1.0]
    assert z.dtype == torch.float64


def test_threshold_relaxes_to_rest_value():
    th = t(1.0)
    th = F.threshold_update(
        th, t(1.0), thresh_rest=1.0, alpha_thresh=0.5, decay_thresh=0.5, update_type="linear"
    )
    assert th.item() == pytest.approx(1.5)
    for _ in range(40):
        th = F.threshold_update(
            th, t(0.0), thresh_rest=1.0, alpha_thresh=0.5, decay_thresh=0.5, update_type="linear"
        )
    assert th.item() == pytest.approx(1.0)  # relaxes to its resting value, not to 0
    th = F.threshold_update(
        t(2.0),
        t(0.0),
        thresh_rest=1.0,
        alpha_thresh=0.5,
        tau_thresh=4.0,
        dt=1.0,
        update_type="exponential",
    )
    assert th.item() == pytest.approx(1.75)


def test_refractory_counting():
    counts = t(0.0)
    seq = []
    for z in (1.0, 0.0, 0.0, 0.0):
        seq.append(F.refractory_gate(counts).item())
        counts = F.refractory_update(counts, t(z), refrac_steps=2)
    # integrates at step 0, blocked at steps 1 and 2, free again at step 3
    assert seq == [1.0, 0.0, 0.0, 1.0]


def test_reset_voltage():
    out = F.reset_voltage(t(1.2, 0.3), t(1.0, 0.0), v_rest=-0.5)
    assert out.tolist() == pytest.approx([-0.5, 0.3])


def test_voltage_floor():
    assert F.voltage_floor(t(-2.0, 1.0), 0.0).tolist() == [0.0, 1.0]
    assert F.voltage_floor(t(-2.0), None).item() == -2.0


def test_functions_do_not_mutate_inputs():
    v, i, y, z = t(0.3), t(1.0), t(0.2), t(1.0)
    before = [x.clone() for x in (v, i, y, z)]
    F.lif_voltage_update(v, i, v_rest=0.0, alpha_v=1.0, decay_v=0.5, gate=t(1.0))
    F.trace_update(y, z, alpha_t=1.0, decay_t=0.5)
    F.reset_voltage(v, z, v_rest=0.0)
    for a, b in zip((v, i, y, z), before, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "fn",
    [
        lambda: F.trace_update(t(0.0), t(1.0), alpha_t=1.0, tau_t=0.5, update_type="cubic"),
        lambda: F.lif_voltage_update(
            t(0.0), t(1.0), v_rest=0.0, alpha_v=1.0, tau_v=0.5, gate=t(1.0), update_type="x"
        ),
        lambda: F.threshold_update(
            t(1.0), t(0.0), thresh_rest=1.0, alpha_thresh=0.1, tau_thresh=0.5, update_type="x"
        ),
    ],
)
def test_unknown_update_type_raises(fn):
    with pytest.raises(ValueError, match="update_type must be one of"):
        fn()


def test_each_mode_needs_its_own_parameter():
    with pytest.raises(ValueError, match="update_type='linear' needs decay_t"):
        F.trace_update(t(0.0), t(1.0), alpha_t=1.0, tau_t=0.5)
    with pytest.raises(ValueError, match="update_type='exponential' needs tau_v"):
        F.lif_voltage_update(
            t(0.0), t(1.0), v_rest=0.0, alpha_v=1.0, decay_v=0.5, update_type="exponential"
        )
    with pytest.raises(ValueError, match="needs decay_thresh"):
        F.threshold_update(t(1.0), t(0.0), thresh_rest=1.0, alpha_thresh=0.1, tau_thresh=2.0)
