"""SNNNetwork: layer validation, live layer_state_dict, forward order, resets."""

from collections import OrderedDict

import pytest
import torch

from snn_rl import Conv2d, FedeNeuron, IFNeuron, Input, LIFNeuron, Linear, SNNNetwork


def two_layer(batch=1, weight=0.6):
    net = SNNNetwork()
    inp, hid, out = Input(3), LIFNeuron(4, decay_v=0.5), LIFNeuron(2, decay_v=0.5)
    net.add_layer("fc1", Linear(3, 4, weight=weight), inp, hid)
    net.add_layer("fc2", Linear(4, 2, weight=weight), hid, out)
    net.reset_state(batch_size=batch)
    return net, inp, hid, out


def test_forward_propagates_same_step_through_layers():
    net, inp, hid, out = two_layer()
    z = net(torch.ones(1, 3))
    # fc1 current 3*0.6 = 1.8 -> hidden spikes; fc2 current 4*0.6 = 2.4 -> output spikes
    assert hid.spikes.tolist() == [[1.0] * 4]
    assert z.tolist() == [[1.0, 1.0]]
    assert torch.equal(out.spikes, z)


def test_layer_state_dict_is_live_and_fresh():
    net, inp, hid, out = two_layer()
    layers = net.layer_state_dict()
    assert isinstance(layers, OrderedDict) and list(layers) == ["fc1", "fc2"]
    fc1 = layers["fc1"]
    assert fc1["presynaptic"] is inp and fc1["postsynaptic"] is hid
    assert fc1["connection"] is net.connections["fc1"] and fc1["type"] is Linear
    fc1["connection"] = None  # changing the returned dict does not change the network
    assert net.layer_state_dict()["fc1"]["connection"] is net.connections["fc1"]
    net.to(torch.float64)
    assert net.layer_state_dict()["fc2"]["connection"].weight.dtype == torch.float64


def test_extra_currents_drive_a_population():
    net, _, _, out = two_layer(batch=2, weight=0.0)
    drive = torch.tensor([[2.0, -2.0], [0.0, 0.0]])
    z = net(torch.ones(2, 3), currents={"fc2": drive})
    assert z.tolist() == [[1.0, 0.0], [0.0, 0.0]]
    with pytest.raises(KeyError, match="unknown layer 'nope'"):
        net(torch.ones(2, 3), currents={"nope": drive})


def test_recurrent_layer_uses_previous_step_spikes():
    net = SNNNetwork()
    inp, a, b = Input(1), IFNeuron(1), IFNeuron(1)
    net.add_layer("in_a", Linear(1, 1, weight=1.0), inp, a)
    net.add_layer("a_b", Linear(1, 1, weight=1.0), a, b)
    net.add_layer("b_a", Linear(1, 1, weight=5.0), b, a)  # feedback: b -> a, one step late
    net.reset_state(1)
    seq = [net(torch.tensor([[1.0 if t == 0 else 0.0]])).item() for t in range(4)]
    a_seq = []
    net.reset_state()
    for t in range(4):
        net(torch.tensor([[1.0 if t == 0 else 0.0]]))
        a_seq.append(a.spikes.item())
    # t0: a spikes (input), b spikes (same step); t1: a spikes from b's feedback; ...
    assert a_seq == [1.0, 1.0, 1.0, 1.0]
    assert seq == [1.0, 1.0, 1.0, 1.0]


def test_multiple_layers_into_one_population_sum():
    net = SNNNetwork()
    inp, hid, out = Input(1), IFNeuron(1, thresh=10.0), IFNeuron(1, thresh=100.0)
    net.add_layer("direct", Linear(1, 1, weight=1.0), inp, out)
    net.add_layer("to_hid", Linear(1, 1, weight=20.0), inp, hid)
    net.add_layer("via_hid", Linear(1, 1, weight=3.0), hid, out)
    net.reset_state(1)
    net(torch.ones(1, 1))
    # out is scheduled first (appeared first as postsynaptic): direct 1 + via_hid from the
    # hidden spikes of the previous step (0) -> 1
    assert out.v.item() == pytest.approx(1.0)
    net(torch.ones(1, 1))
    assert out.v.item() == pytest.approx(1.0 + 1.0 + 3.0)


def test_fede_neuron_gets_receptive_field_trace_sum():
    net = SNNNetwork()
    inp = Input(3, decay_t=0.5)
    post = FedeNeuron(2, thresh=100.0, alpha_v=1.0, tau_v=1.0, dt=1.0, dtype=torch.float32)
    net.add_layer("fc", Linear(3, 2, weight=2.0), inp, post)
    net.reset_state(1)
    net(torch.tensor([[1.0, 1.0, 0.0]]))
    # v <- v + 1*(-v + (sum W s - sum x)) = (4 - 2) = 2
    assert post.v.tolist() == [[2.0, 2.0]]


def test_conv_layer_in_network():
    net = SNNNetwork()
    inp, post = Input((1, 4, 4)), LIFNeuron((2, 3, 3))
    net.add_layer("conv", Conv2d(1, 2, 2, input_size=(4, 4), weight=0.3), inp, post)
    net.reset_state(2)
    out = net(torch.ones(2, 1, 4, 4))
    assert out.shape == (2, 2, 3, 3) and out.sum() == 36


def test_reset_state_batch_and_mask():
    net, inp, hid, out = two_layer(batch=3)
    for _ in range(2):
        net(torch.ones(3, 3) * 0.3)
    assert net.batch_size == 3
    hv = hid.v.clone()
    net.reset_state(mask=torch.tensor([True, False, False]))
    assert torch.all(hid.v[0] == 0) and torch.equal(hid.v[1:], hv[1:])
    net.reset_state(batch_size=5)
    assert hid.v.shape == (5, 4) and net.connections["fc1"].spikes.shape == (5, 3)


def test_batch_rows_equal_single_runs():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(15, 4, 3, generator=g) < 0.5).float()
    net, *_ = two_layer(batch=4, weight=0.45)
    out_b = torch.stack([net(xt) for xt in x])
    for row in range(4):
        single, *_ = two_layer(batch=1, weight=0.45)
        out_s = torch.stack([single(xt[row : row + 1]) for xt in x])
        assert torch.equal(out_s[:, 0], out_b[:, row])


@pytest.mark.parametrize(
    ("args", "exc", "match"),
    [
        (("", Linear(3, 2), Input(3), LIFNeuron(2)), ValueError, "non-empty string"),
        (("a.b", Linear(3, 2), Input(3), LIFNeuron(2)), ValueError, "without '.'"),
        (("x", torch.nn.Linear(3, 2), Input(3), LIFNeuron(2)), TypeError, "Connection subclass"),
        (("x", Linear(3, 2), "in", LIFNeuron(2)), TypeError, "presynaptic must be"),
        (("x", Linear(3, 2), LIFNeuron(3), Input(2)), TypeError, "Input population cannot"),
        (("x", Linear(3, 2), Input(4), LIFNeuron(2)), ValueError, r"presynaptic .* \(3,\)"),
        (("x", Linear(3, 2), Input(3), LIFNeuron(5)), ValueError, r"postsynaptic .* \(2,\)"),
    ],
)
def test_add_layer_validation(args, exc, match):
    with pytest.raises(exc, match=match):
        SNNNetwork().add_layer(*args)


def test_duplicate_names_and_reused_connection():
    net = SNNNetwork()
    conn = Linear(3, 3)
    net.add_layer("a", conn, Input(3), LIFNeuron(3))
    with pytest.raises(ValueError, match="already exists"):
        net.add_layer("a", Linear(3, 3), Input(3), LIFNeuron(3))
    with pytest.raises(ValueError, match="reuses a connection"):
        net.add_layer("b", conn, Input(3), LIFNeuron(3))


def test_forward_needs_one_source():
    with pytest.raises(RuntimeError, match="no layers"):
        SNNNetwork()(torch.ones(1, 1))
    net = SNNNetwork()
    out = LIFNeuron(1)
    net.add_layer("a", Linear(1, 1), Input(1), out)
    net.add_layer("b", Linear(1, 1), Input(1), out)
    with pytest.raises(RuntimeError, match="exactly one source"):
        net(torch.ones(1, 1))


def test_modules_registered_once_and_moved_by_to():
    net, inp, hid, out = two_layer()
    assert sum(1 for m in net.modules() if m is hid) == 1
    net.to(torch.float64)
    assert hid.v.dtype == torch.float64 and inp.trace.dtype == torch.float64
    net.reset_state(2)
    assert net(torch.ones(2, 3)).dtype == torch.float64


def test_get_and_set_state_round_trip_across_batch_sizes():
    net = SNNNetwork()
    inp, out = Input(2), LIFNeuron(2, decay_v=0.9)
    net.add_layer("fc", Linear(2, 2, weight=0.4, delay=2), inp, out)
    net.reset_state(3)
    g = torch.Generator().manual_seed(0)
    xs = (torch.rand(10, 3, 2, generator=g) < 0.6).float()
    for x in xs[:5]:
        net(x)
    snap = net.get_state()
    assert snap["neurons.fc_post.v"].shape == (3, 2) and "connections.fc._spike_buf" in snap
    rest = torch.stack([net(x) for x in xs[5:]])
    net.reset_state(batch_size=1)  # e.g. an evaluation with another batch size
    net(torch.ones(1, 2))
    net.set_state(snap)
    assert net.batch_size == 3
    again = torch.stack([net(x) for x in xs[5:]])
    assert torch.equal(rest, again)
    with pytest.raises(KeyError, match="lacks"):
        out.set_state({"v": torch.zeros(3, 2)})


def test_layer_roles_are_declared_and_filter_layer_state_dict():
    net = SNNNetwork()
    inp, hid, out = Input(3), LIFNeuron(4), LIFNeuron(2)
    net.add_layer("feat", Linear(3, 4), inp, hid, role="features")
    net.add_layer("out", Linear(4, 2), hid, out)
    assert net.roles == {"feat": "features", "out": None}
    assert list(net.layer_state_dict(role="features")) == ["feat"]
    assert list(net.layer_state_dict(role="readout")) == []
    net.set_role("out", "readout")
    assert list(net.layer_state_dict(role="readout")) == ["out"]
    assert list(net.layer_state_dict()) == ["feat", "out"]
    with pytest.raises(ValueError, match="role must be one of"):
        net.add_layer("x", Linear(2, 2), out, LIFNeuron(2), role="teacher")
    with pytest.raises(KeyError, match="no layer named 'nope'"):
        net.set_role("nope", "fixed")
