"""FedeSTDP: hand-computed updates (both modes, Linear and Conv2d), the fixed point, no NaN on
an all-zero trace, Conv2d channels, validation."""

import math

import pytest
import torch

from snn_rl import Conv2d, Input, LIFNeuron, Linear, SNNNetwork
from snn_rl.learning import FedeSTDP

E = math.e
W0 = [[0.3, 0.5, 0.7], [0.1, 0.2, 0.3]]


def f(w, p, q, w_init=0.5, a=0.2):
    """Fede update of one weight given P = mean e^x_hat and Q = mean e^(1 - x_hat)."""
    d = w - w_init
    return math.exp(-d) * (p - a) - math.exp(d) * (q - a)


def linear_net(weight=W0, batch_size=2):
    # LIFNeuron(decay_v=0): v = I, a spike iff I >= 1 (weights here never reach 1 alone)
    net = SNNNetwork()
    w = torch.tensor(weight, dtype=torch.float64)
    net.add_layer(
        "fc",
        Linear(w.shape[1], w.shape[0], weight=w),
        Input(w.shape[1], decay_t=0.5),
        LIFNeuron(w.shape[0], decay_v=0.0),
    )
    net.to(torch.float64)
    net.reset_state(batch_size=batch_size)
    return net


def drive_linear(net, post_current=None):
    # t0: env0 [1,0,0], env1 [0,1,1]; t1: env0 [0,1,0], env1 [0,0,0]
    # traces after t1: env0 [.5,1,0] (max 1), env1 [0,.5,.5] (max .5)
    # x_hat: env0 [.5,1,0], env1 [0,1,1]
    net(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], dtype=torch.float64))
    currents = None if post_current is None else {"fc": post_current}
    net(torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64), currents=currents)


def test_every_step_linear_hand_computed():
    net = linear_net()
    rule = FedeSTDP(net.layer_state_dict(), lr=0.1, w_init=0.5, a=0.2, mode="every_step")
    drive_linear(net)
    rule.step()
    # P_i = mean_b e^x_hat, Q_i = mean_b e^(1 - x_hat) over both env rows, every neuron
    p = [(math.exp(0.5) + 1) / 2, E, (1 + E) / 2]
    q = [(math.exp(0.5) + E) / 2, 1.0, (E + 1) / 2]
    expected = [[W0[o][i] + 0.1 * f(W0[o][i], p[i], q[i]) for i in range(3)] for o in range(2)]
    torch.testing.assert_close(net.connections["fc"].weight, torch.tensor(expected).double())


def test_post_spike_linear_counts_only_neurons_that_fired():
    net = linear_net()
    rule = FedeSTDP(net.layer_state_dict(), lr=0.1, w_init=0.5, a=0.2)  # mode="post_spike"
    forced = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    drive_linear(net, post_current=forced)
    assert net.layer_state_dict()["fc"]["postsynaptic"].spikes.tolist() == forced.tolist()
    rule.step()
    # neuron 0 fired in both envs; neuron 1 only in env1 (x_hat [0,1,1])
    p0, q0 = [(math.exp(0.5) + 1) / 2, E, (1 + E) / 2], [(math.exp(0.5) + E) / 2, 1.0, (E + 1) / 2]
    p1, q1 = [1.0, E, E], [E, 1.0, 1.0]
    expected = [
        [W0[0][i] + 0.1 * f(W0[0][i], p0[i], q0[i]) for i in range(3)],
        [W0[1][i] + 0.1 * f(W0[1][i], p1[i], q1[i]) for i in range(3)],
    ]
    torch.testing.assert_close(net.connections["fc"].weight, torch.tensor(expected).double())


def test_post_spike_without_spikes_changes_nothing():
    net = linear_net()
    rule = FedeSTDP(net.layer_state_dict(), lr=0.1, w_init=0.5, a=0.2)
    w0 = net.connections["fc"].weight.clone()
    drive_linear(net)  # synaptic currents stay below the threshold: no post spike at t1
    rule.step()
    assert torch.equal(net.connections["fc"].weight, w0)


@pytest.mark.parametrize("mode", ["every_step", "post_spike"])
def test_all_zero_trace_gives_no_change_and_no_nan(mode):
    net = linear_net()
    rule = FedeSTDP(net.layer_state_dict(), lr=0.1, w_init=0.5, a=0.2, mode=mode)
    w0 = net.connections["fc"].weight.clone()
    net(torch.zeros(2, 3, dtype=torch.float64), currents={"fc": torch.ones(2, 2).double()})
    assert net.layer_state_dict()["fc"]["postsynaptic"].spikes.sum() == 4
    rule.step()
    assert torch.equal(net.connections["fc"].weight, w0)


def test_every_step_skips_silent_rows():
    # env1 has no presynaptic activity: the batch result equals env0 alone
    both, alone = linear_net(batch_size=2), linear_net(batch_size=1)
    rules = [
        FedeSTDP(n.layer_state_dict(), lr=0.1, w_init=0.5, a=0.2, mode="every_step")
        for n in (both, alone)
    ]
    both(torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=torch.float64))
    alone(torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64))
    for rule in rules:
        rule.step()
    w = both.connections["fc"].weight
    torch.testing.assert_close(w, alone.connections["fc"].weight)
    assert not torch.isnan(w).any() and not torch.equal(w, linear_net().connections["fc"].weight)


@pytest.mark.parametrize("mode", ["every_step", "post_spike"])
def test_converges_to_the_fixed_point(mode):
    net = linear_net()
    a, w_init = 0.2, 0.5
    rule = FedeSTDP(net.layer_state_dict(), lr=0.1, w_init=w_init, a=a, mode=mode)
    forced = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    drive_linear(net, post_current=forced)
    for _ in range(300):  # the network is not stepped: the normalised trace stays fixed
        rule.step()
    x_hat = {0: [0.5, 1.0, 0.0], 1: [0.0, 1.0, 1.0]}
    rows = {0: (0, 1), 1: (0, 1) if mode == "every_step" else (1,)}  # env rows that count
    for o in range(2):
        for i in range(3):
            p = sum(math.exp(x_hat[b][i]) for b in rows[o]) / len(rows[o])
            q = sum(math.exp(1 - x_hat[b][i]) for b in rows[o]) / len(rows[o])
            fixed = w_init + 0.5 * math.log((p - a) / (q - a))
            assert net.connections["fc"].weight[o, i].item() == pytest.approx(fixed, abs=1e-9)


def conv_net(out_channels=1, weight=0.1):
    # Conv2d(1 -> C, 2x2) on a 2x3 image: K = 4, L = 2 positions (patch l covers columns l, l+1)
    net = SNNNetwork()
    conn = Conv2d(1, out_channels, 2, input_size=(2, 3), weight=weight)
    post = LIFNeuron((out_channels, 1, 2), decay_v=0.0)
    net.add_layer("conv", conn, Input((1, 2, 3), decay_t=0.5), post)
    net.to(torch.float64)
    net.reset_state(batch_size=1)
    return net


def drive_conv(net, images, fire):
    """Step the images; on the last step force the positions in ``fire`` (out channel 0)."""
    for t, img in enumerate(images):
        current = torch.zeros(1, *net.connections["conv"].post_shape, dtype=torch.float64)
        if t == len(images) - 1:
            for pos in fire:
                current[0, :, 0, pos] = 1.0
        net(torch.tensor(img, dtype=torch.float64).view(1, 1, 2, 3), currents={"conv": current})


def test_conv2d_post_spike_normalises_per_receptive_field():
    net = conv_net()
    # pixel trace after two steps: [[.5,0,1],[0,0,.5]]
    # patch l0 (k order (0,0),(0,1),(1,0),(1,1)): [.5,0,0,0] -> max .5 -> x_hat [1,0,0,0]
    # patch l1: [0,1,0,.5] -> max 1 -> x_hat [0,1,0,.5]
    drive_conv(net, [[[1, 0, 0], [0, 0, 1]], [[0, 0, 1], [0, 0, 0]]], fire=[1])
    FedeSTDP(net.layer_state_dict(), lr=0.1, w_init=0.5, a=0.2).step()
    x_hat = [0.0, 1.0, 0.0, 0.5]  # only position l1 fired
    expected = [0.1 + 0.1 * f(0.1, math.exp(v), math.exp(1 - v)) for v in x_hat]
    torch.testing.assert_close(
        net.connections["conv"].weight.flatten(), torch.tensor(expected).double()
    )


def test_conv2d_every_step_averages_positions_with_the_row_max():
    net = conv_net()
    drive_conv(net, [[[1, 0, 0], [0, 0, 1]], [[0, 0, 1], [0, 0, 0]]], fire=[])
    FedeSTDP(net.layer_state_dict(), lr=0.1, w_init=0.5, a=0.2, mode="every_step").step()
    # row max 1: x_hat l0 [.5,0,0,0], l1 [0,1,0,.5]; mean over the two positions
    l0, l1 = [0.5, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.5]
    expected = [
        0.1 + 0.1 * f(0.1, (math.exp(u) + math.exp(v)) / 2, (math.exp(1 - u) + math.exp(1 - v)) / 2)
        for u, v in zip(l0, l1, strict=True)
    ]
    torch.testing.assert_close(
        net.connections["conv"].weight.flatten(), torch.tensor(expected).double()
    )


def test_conv2d_neuron_with_silent_receptive_field_does_not_count():
    net = conv_net()
    drive_conv(net, [[[0, 0, 1], [0, 0, 0]]], fire=[0])  # patch l0 is all zero, l0 forced
    FedeSTDP(net.layer_state_dict(), lr=0.1, w_init=0.5, a=0.2).step()
    assert torch.equal(net.connections["conv"].weight, torch.full((1, 1, 2, 2), 0.1).double())


@pytest.mark.parametrize("mode", ["every_step", "post_spike"])
def test_conv2d_channels_seeing_the_same_input_get_the_same_update(mode):
    # PySNN viewed (B, C_out, K, L) as (B*L, C_out, ...) and gave two such channels different updates
    g = torch.Generator().manual_seed(0)
    net = SNNNetwork()
    conn = Conv2d(2, 2, 2, input_size=(4, 4), padding=1, weight=0.3)
    net.add_layer("conv", conn, Input((2, 4, 4)), LIFNeuron(conn.post_shape, decay_v=0.0))
    net.to(torch.float64)
    net.reset_state(batch_size=3)
    rule = FedeSTDP(net.layer_state_dict(), lr=0.05, w_init=0.3, a=0.1, mode=mode)
    for _ in range(4):
        x = (torch.rand(3, 2, 4, 4, generator=g) < 0.5).double()
        force = torch.ones(3, *conn.post_shape, dtype=torch.float64)
        net(x, currents={"conv": force})  # every neuron fires: both modes use every position
        rule.step()
    w = conn.weight
    assert torch.equal(w[0], w[1]) and not torch.equal(w[0], torch.full_like(w[0], 0.3))


def test_validation():
    layers = linear_net().layer_state_dict()
    with pytest.raises(ValueError, match="lr must be > 0"):
        FedeSTDP(layers, lr=0.0, w_init=0.5, a=0.2)
    with pytest.raises(ValueError, match=r"a must lie in \[0.0, 1.0\)"):
        FedeSTDP(layers, lr=0.1, w_init=0.5, a=1.0)
    with pytest.raises(ValueError, match=r"a must lie in \[0.0, 1.0\)"):
        FedeSTDP(layers, lr=0.1, w_init=0.5, a=-0.1)
    with pytest.raises(ValueError, match=r"mode must be one of \['post_spike', 'every_step'\]"):
        FedeSTDP(layers, lr=0.1, w_init=0.5, a=0.2, mode="paper")
    with pytest.raises(ValueError, match="w_init must be finite"):
        FedeSTDP(layers, lr=0.1, w_init=float("nan"), a=0.2)


@pytest.mark.parametrize("mode", ["every_step", "post_spike"])
def test_post_spike_mode_keeps_neurons_selective_every_step_erases_it(mode):
    # two patterns (inputs 0-7 or 8-15 fire at 30 %) on alternating env rows; neuron 0 starts
    # tuned to pattern A, neuron 1 to B
    w0 = torch.full((2, 16), 0.2)
    w0[0, :8] = w0[1, 8:] = 0.8
    rates = torch.zeros(8, 16)
    rates[0::2, :8] = rates[1::2, 8:] = 0.3
    g = torch.Generator().manual_seed(0)
    net = SNNNetwork()
    net.add_layer("fc", Linear(16, 2, weight=w0), Input(16), LIFNeuron(2, decay_v=0.8, thresh=2.0))
    net.reset_state(batch_size=8)
    rule = FedeSTDP(net.layer_state_dict(), lr=0.01, w_init=0.5, a=0.0, mode=mode)
    for _ in range(300):
        net((torch.rand(8, 16, generator=g) < rates).float())
        rule.step()
    w = net.connections["fc"].weight
    if mode == "post_spike":
        # a neuron fires for its own pattern only: the other half goes to the fixed point of
        # x_hat = 0, w_init + 0.5*ln((1 - a)/(e - a)) = 0.5 - 0.5 = 0
        assert w[0, 8:].abs().max() < 1e-3 and w[1, :8].abs().max() < 1e-3
        assert w[0, :8].mean() > 0.4 and w[1, 8:].mean() > 0.4
    else:
        # every neuron gets the same update: the rows become equal, the tuning is gone
        torch.testing.assert_close(w[0], w[1], atol=1e-4, rtol=0)
