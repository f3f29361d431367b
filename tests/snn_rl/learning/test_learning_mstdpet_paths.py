"""MSTDPET layouts and plumbing: shared vs per-env path, B=1 vs batch rows, Conv2d against
PySNN's per-position eligibility, dtype moves, batch-size changes, resets, validation."""

import copy

import numpy as np
import pytest
import torch

from snn_rl import Conv2d, Input, LIFNeuron, Linear, SNNNetwork
from snn_rl.learning import MSTDP, MSTDPET, LearningRule


def mlp(batch_size, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    net = SNNNetwork()
    inp, hid, out = Input(6), LIFNeuron(5, decay_v=0.6), LIFNeuron(3, decay_v=0.6)
    net.add_layer("fc1", Linear(6, 5, generator=g), inp, hid)
    net.add_layer("fc2", Linear(5, 3, delay=1, generator=g), hid, out)
    net.to(dtype)
    net.reset_state(batch_size=batch_size)
    return net


def convnet(batch_size, seed=0, delay=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    net = SNNNetwork()
    conn = Conv2d(2, 3, 2, input_size=(4, 4), padding=1, stride=(1, 2), delay=delay, generator=g)
    with torch.no_grad():
        conn.reset_weights("uniform", 0.0, 0.6, generator=g)
    net.add_layer("conv", conn, Input((2, 4, 4)), LIFNeuron(conn.post_shape, decay_v=0.6))
    net.to(dtype)
    net.reset_state(batch_size=batch_size)
    return net


def spikes(steps, shape, seed=1, p=0.5):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, *shape, generator=g) < p).double()


def run(net, rule, x, rewards):
    for t in range(len(x)):
        net(x[t])
        rule.update_state()
        if rewards[t] is not None:
            rule.step(rewards[t])


REWARDS = [None, 1.0, None, -0.5, 2.0, None, -1.0, 0.3, None, 1.5, -2.0, 0.7]


@pytest.mark.parametrize("build", [mlp, convnet])
def test_shared_path_equals_per_env_path_with_scalar_rewards(build):
    net = build(3)
    twin = copy.deepcopy(net)
    x = spikes(12, (3, *net.source().shape))
    kw = {"lr": 0.05, "a_pre": 1.0, "a_post": 0.6, "e_trace_decay": 0.8}
    per_env = MSTDPET(net.layer_state_dict(), per_env=True, **kw)
    shared = MSTDPET(twin.layer_state_dict(), per_env=False, **kw)
    run(net, per_env, x, REWARDS)
    run(twin, shared, x, REWARDS)
    for name in net.connections:
        e, e_mean = per_env.state[name]["e_trace"], shared.state[name]["e_trace"]
        assert e.dim() == 3 and e_mean.dim() == 2
        torch.testing.assert_close(e.mean(0), e_mean, atol=1e-12, rtol=0)
        w, w_twin = net.connections[name].weight, twin.connections[name].weight
        torch.testing.assert_close(w, w_twin, atol=1e-12, rtol=0)
        assert not torch.equal(w, build(3).connections[name].weight)  # it learned


def test_batch_of_three_equals_three_single_env_runs():
    net = mlp(3)
    singles = [mlp(1) for _ in range(3)]
    x = spikes(8, (3, 6))
    rule = MSTDPET(net.layer_state_dict(), lr=0.1, a_post=0.5, e_trace_decay=0.7)
    single_rules = [
        MSTDPET(n.layer_state_dict(), lr=0.1, a_post=0.5, e_trace_decay=0.7) for n in singles
    ]
    for t in range(8):
        net(x[t])
        rule.update_state()
        for b, (n, r) in enumerate(zip(singles, single_rules, strict=True)):
            n(x[t, b : b + 1])
            r.update_state()
    w0 = {name: net.connections[name].weight.clone() for name in net.connections}
    reward = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    rule.step(reward)
    for b, r in enumerate(single_rules):
        r.step(float(reward[b]))
    for name in net.connections:
        e = rule.state[name]["e_trace"]
        for b in range(3):
            torch.testing.assert_close(e[b : b + 1], single_rules[b].state[name]["e_trace"])
        # per-env rewards: the batch update is the mean of the single-env updates
        deltas = [s.connections[name].weight - w0[name] for s in singles]
        torch.testing.assert_close(net.connections[name].weight - w0[name], sum(deltas) / 3)
        assert (net.connections[name].weight != w0[name]).any()


@pytest.mark.parametrize("delay", [0, "per_synapse"])
def test_conv2d_matches_pysnn_per_position_eligibility(delay):
    if delay == "per_synapse":
        delay = torch.arange(3 * 2 * 2 * 2).reshape(3, 2, 2, 2) % 3
    net = convnet(2, delay=delay)
    layer = net.layer_state_dict()["conv"]
    conn, post = layer["connection"], layer["postsynaptic"]
    w0 = conn.weight.clone()
    rule = MSTDPET(net.layer_state_dict(), lr=0.2, a_pre=0.9, a_post=0.4, e_trace_decay=0.75)
    x = spikes(7, (2, 2, 4, 4), p=0.6)
    e4 = 0.0  # PySNN's layout: (B, C_out, K, L)
    for t in range(7):
        net(x[t])
        rule.update_state()
        e4 = (
            0.75 * e4
            + 0.9 * LearningRule.pre_mult_post(conn.trace, post.spikes, Conv2d)
            - 0.4 * LearningRule.pre_mult_post(conn.spikes, post.trace, "conv2d")
        )
    assert e4.shape == (2, 3, 8, conn.output_size[0] * conn.output_size[1])
    torch.testing.assert_close(rule.state["conv"]["e_trace"], e4.mean(3))
    rule.step(1.5)
    expected = w0 + 0.2 * 1.5 * LearningRule.reduce_connections(e4, Conv2d).reshape(w0.shape)
    torch.testing.assert_close(conn.weight, expected)
    assert e4.abs().sum() > 0


def test_network_to_float64_after_building_the_rule_keeps_working():
    x = spikes(8, (2, 6)).float()
    net = mlp(2, dtype=torch.float32)
    reference = mlp(2, dtype=torch.float64)
    rule = MSTDPET(net.layer_state_dict(), lr=0.1, a_post=0.5, e_trace_decay=0.8)
    ref_rule = MSTDPET(reference.layer_state_dict(), lr=0.1, a_post=0.5, e_trace_decay=0.8)
    for t in range(8):
        if t == 4:
            net.to(torch.float64)
        for n, r in ((net, rule), (reference, ref_rule)):
            n(x[t])
            r.update_state()
            r.step(0.5)
    for name in net.connections:
        assert rule.state[name]["e_trace"].dtype == torch.float64
        assert net.connections[name].weight.dtype == torch.float64
        torch.testing.assert_close(
            net.connections[name].weight, reference.connections[name].weight, atol=1e-6, rtol=0
        )
        torch.testing.assert_close(
            rule.state[name]["e_trace"], ref_rule.state[name]["e_trace"], atol=1e-6, rtol=0
        )


def test_batch_size_change_needs_reset_state_which_reallocates():
    net = mlp(2)
    rule = MSTDPET(net.layer_state_dict(), lr=0.1, e_trace_decay=0.8)
    net.reset_state(batch_size=4)
    net(torch.ones(4, 6, dtype=torch.float64))
    with pytest.raises(RuntimeError, match=r"runs 4 envs .* 2 rows; call rule.reset_state\(\)"):
        rule.update_state()
    rule.reset_state()
    rule.update_state()
    assert rule.state["fc1"]["e_trace"].shape == (4, 5, 6)


def test_masked_reset_zeroes_only_the_masked_rows():
    net = mlp(3)
    rule = MSTDPET(net.layer_state_dict(), lr=0.1, a_post=0.2, e_trace_decay=0.8)
    run(net, rule, spikes(5, (3, 6), p=0.9), [None] * 5)
    before = rule.state["fc1"]["e_trace"].clone()
    assert (before.flatten(1).abs().sum(1) > 0).all()
    rule.reset_state(torch.tensor([True, False, True]))
    after = rule.state["fc1"]["e_trace"]
    assert after[0].abs().sum() == 0 and after[2].abs().sum() == 0
    assert torch.equal(after[1], before[1])


def test_shared_path_rejects_per_env_rewards_and_row_resets():
    net = mlp(2)
    rule = MSTDP(net.layer_state_dict(), lr=0.1, per_env=False)
    rule.update_state()
    with pytest.raises(ValueError, match="needs per_env=True"):
        rule.step(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="needs per_env=True"):
        rule.reset_state(torch.tensor([True, False]))
    rule.step(torch.tensor(1.0))  # a 0-d tensor is fine
    rule.reset_state()
    assert rule.state["fc1"]["e_trace"].abs().sum() == 0


@pytest.mark.parametrize(
    ("reward", "error", "match"),
    [
        (None, TypeError, "needs a reward"),
        (True, TypeError, "got bool"),
        ("1.0", TypeError, "must be a float, a 0-d tensor"),
        (float("nan"), ValueError, "finite"),
        (torch.tensor([1.0, float("inf")]), ValueError, "finite"),
        (torch.ones(2, 1), ValueError, r"got shape \(2, 1\)"),
        (torch.ones(3), ValueError, r"3 entries but layer 'fc1' holds 2 env rows"),
        (torch.tensor([True, False]), TypeError, "dtype torch.bool"),
    ],
)
def test_bad_rewards_raise_what_was_expected(reward, error, match):
    net = mlp(2)
    rule = MSTDPET(net.layer_state_dict(), lr=0.1, e_trace_decay=0.5)
    rule.update_state()
    with pytest.raises(error, match=match):
        rule.step(reward)


def test_numpy_and_integer_rewards_are_accepted():
    net = mlp(2)
    net(torch.ones(2, 6, dtype=torch.float64))
    kw = {"lr": 0.1, "a_post": 0.5, "e_trace_decay": 0.5}
    rules = [MSTDPET(copy.deepcopy(net).layer_state_dict(), **kw) for _ in range(3)]
    for rule, reward in zip(rules, (np.array([2.0, 2.0]), 2, torch.tensor(2)), strict=True):
        rule.update_state()
        rule.step(reward)
    w = [r.param_groups[0]["layers"]["fc1"]["connection"].weight for r in rules]
    assert torch.equal(w[0], w[1]) and torch.equal(w[1], w[2])
    assert not torch.equal(w[0], net.connections["fc1"].weight)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": 0.0, "e_trace_decay": 0.5}, "lr must be > 0"),
        ({"lr": 0.1, "e_trace_decay": 1.5}, r"e_trace_decay must lie in \[0, 1\]"),
        ({"lr": 0.1}, "exactly one of e_trace_decay"),
        ({"lr": 0.1, "e_trace_decay": 0.5, "tau_e": 3.0}, "exactly one of e_trace_decay"),
        ({"lr": 0.1, "tau_e": -1.0}, "tau_e must be > 0"),
        ({"lr": 0.1, "tau_e": 2.0, "a_post": -1.0}, "a_post must be >= 0"),
        ({"lr": 0.1, "tau_e": 2.0, "w_min": 1.0, "w_max": 1.0}, "w_min .* smaller than w_max"),
        ({"lr": 0.1, "tau_e": 2.0, "w_max": float("inf")}, "w_max must be finite"),
    ],
)
def test_bad_hyperparameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MSTDPET(mlp(1).layer_state_dict(), **kwargs)


def test_per_env_must_be_bool():
    with pytest.raises(TypeError, match="per_env must be a bool"):
        MSTDPET(mlp(1).layer_state_dict(), lr=0.1, e_trace_decay=0.5, per_env=1)


@pytest.mark.gpu
def test_rule_follows_the_network_to_cuda():
    x = spikes(6, (2, 6))
    net = mlp(2)
    ref = copy.deepcopy(net)
    kw = {"lr": 0.1, "a_post": 0.5, "e_trace_decay": 0.8}
    rule, ref_rule = MSTDPET(net.layer_state_dict(), **kw), MSTDPET(ref.layer_state_dict(), **kw)
    net.to("cuda")
    for t in range(6):
        net(x[t].cuda())
        ref(x[t])
        rule.update_state()
        ref_rule.update_state()
        rule.step(torch.tensor([1.0, -0.5]))  # a CPU reward is moved to the weight's device
        ref_rule.step(torch.tensor([1.0, -0.5]))
    rule.reset_state(torch.tensor([True, False]))
    ref_rule.reset_state(torch.tensor([True, False]))
    for name in net.connections:
        assert rule.state[name]["e_trace"].device.type == "cuda"
        torch.testing.assert_close(
            rule.state[name]["e_trace"].cpu(), ref_rule.state[name]["e_trace"]
        )
        torch.testing.assert_close(net.connections[name].weight.cpu(), ref.connections[name].weight)
