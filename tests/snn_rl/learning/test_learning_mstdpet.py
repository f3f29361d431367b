"""MSTDPET and MSTDP: hand-computed sequences (Linear and Conv2d, batch 2), signs, decay.

The hand-computed networks use ``LIFNeuron(decay_v=0)`` (``v = I`` each step, spike iff
``I >= 1``) and traces ``x <- 0.5*x + s``, so every spike, trace and eligibility value can be
worked out on paper; the comments show the arithmetic.
"""

import math

import pytest
import torch

from snn_rl import Conv2d, Input, LIFNeuron, Linear, SNNNetwork
from snn_rl.learning import MSTDP, MSTDPET

W0 = [[1.5, 0.2], [0.2, 1.5]]  # output o fires iff input o spikes
# (T=3, B=2, in=2)
SPIKES = torch.tensor(
    [[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]]
)
# E per env after each step, a_pre=1, a_post=0.5, g=0.5 (term[o,i] = x_i z_o - 0.5 s_i y_o):
# env0  t0 x=y=[1,0], z=s=[1,0]             term [[.5,0],[0,0]]         E [[.5,0],[0,0]]
#       t1 x=y=[.5,1], z=s=[0,1]            term [[0,-.25],[.5,.5]]     E [[.25,-.25],[.5,.5]]
#       t2 x=y=[1.25,1.5], z=s=[1,1]        term [[.625,.875],[.5,.75]] E [[.75,.75],[.75,1]]
# env1  t0 x=y=[0,1], z=s=[0,1]             term [[0,0],[0,.5]]         E [[0,0],[0,.5]]
#       t1 x=y=[0,.5], z=s=[0,0]            term 0                      E [[0,0],[0,.25]]
#       t2 x=y=[1,.25], z=s=[1,0]           term [[.5,.25],[-.125,0]]   E [[.5,.25],[-.125,.125]]
E_ENV0 = [[[0.5, 0.0], [0.0, 0.0]], [[0.25, -0.25], [0.5, 0.5]], [[0.75, 0.75], [0.75, 1.0]]]
E_ENV1 = [[[0.0, 0.0], [0.0, 0.5]], [[0.0, 0.0], [0.0, 0.25]], [[0.5, 0.25], [-0.125, 0.125]]]


def close(actual, expected, atol=1e-6):
    """Compare a tensor with hand-computed (nested list) values."""
    expected = torch.as_tensor(expected, dtype=torch.float64)
    torch.testing.assert_close(actual.detach().double(), expected, atol=atol, rtol=0)


def linear_net(weight=W0, batch_size=2, delay=0, dtype=torch.float32):
    net = SNNNetwork()
    w = torch.tensor(weight) if not isinstance(weight, torch.Tensor) else weight
    n_out, n_in = w.shape
    net.add_layer(
        "fc",
        Linear(n_in, n_out, weight=w, delay=delay),
        Input(n_in, decay_t=0.5),
        LIFNeuron(n_out, decay_v=0.0, decay_t=0.5),
    )
    net.to(dtype)
    net.reset_state(batch_size=batch_size)
    return net


def run_linear(rule_cls, rewards, **kwargs):
    net = linear_net()
    rule = rule_cls(net.layer_state_dict(), **kwargs)
    traces = []
    for t in range(3):
        net(SPIKES[t])
        rule.update_state()
        traces.append(rule.state["fc"]["e_trace"].clone())
        rule.step(rewards[t])
    return net.connections["fc"].weight, traces


def test_mstdpet_linear_scalar_rewards_hand_computed():
    w, traces = run_linear(
        MSTDPET, [1.0, -2.0, 0.5], lr=0.01, a_pre=1.0, a_post=0.5, e_trace_decay=0.5
    )
    for t in range(3):
        close(traces[t], [E_ENV0[t], E_ENV1[t]])
    # dW_t = 0.01 * r_t * mean_b E_t:  mean E = [[.25,0],[0,.25]], [[.125,-.125],[.25,.375]],
    # [[.625,.5],[.3125,.5625]];  W = W0 + .01*mean0 - .02*mean1 + .005*mean2
    expected = [[1.503125, 0.205], [0.1965625, 1.4978125]]
    close(w, expected)


def test_mstdpet_linear_per_env_rewards_hand_computed():
    rewards = [torch.tensor([1.0, -1.0]), torch.tensor([0.0, 2.0]), torch.tensor([-1.0, 0.5])]
    w, _ = run_linear(MSTDPET, rewards, lr=0.01, a_post=0.5, e_trace_decay=0.5)
    # dW_t = 0.01 * mean_b(r_b E_b): t0 [[.25,0],[0,-.25]], t1 [[0,0],[0,.25]],
    # t2 (-E2_env0 + .5 E2_env1)/2 = [[-.25,-.3125],[-.40625,-.46875]]   (all x 0.01)
    expected = [[1.5, 0.196875], [0.1959375, 1.4953125]]
    close(w, expected)


def test_mstdpet_shared_path_keeps_the_batch_mean_and_gives_the_same_weights():
    w, traces = run_linear(
        MSTDPET, [1.0, -2.0, 0.5], lr=0.01, a_post=0.5, e_trace_decay=0.5, per_env=False
    )
    for t in range(3):
        mean = [
            [(a + b) / 2 for a, b in zip(r0, r1, strict=True)]
            for r0, r1 in zip(E_ENV0[t], E_ENV1[t], strict=True)
        ]
        close(traces[t], mean)
    close(w, [[1.503125, 0.205], [0.1965625, 1.4978125]])


def test_mstdp_uses_only_the_current_term():
    w, traces = run_linear(MSTDP, [1.0, -2.0, 0.5], lr=0.01, a_post=0.5)
    # E_t = term_t (table above); batch means [[.25,0],[0,.25]], [[0,-.125],[.25,.25]],
    # [[.5625,.5625],[.1875,.375]];  W = W0 + .01*m0 - .02*m1 + .005*m2
    close(traces[1], [[[0.0, -0.25], [0.5, 0.5]], [[0.0] * 2] * 2])
    expected = [[1.5053125, 0.2053125], [0.1959375, 1.499375]]
    close(w, expected)


def conv_net(batch_size=2):
    # Conv2d(1 -> 1, 2x2 kernel) on a 2x3 image: K = 4 (kernel elements), L = 2 positions.
    # Weight 1.5 on the top-left element, 0.1 elsewhere: a position fires iff its top-left
    # pixel spikes (the other three add at most 0.3).
    net = SNNNetwork()
    w = torch.tensor([[[[1.5, 0.1], [0.1, 0.1]]]])
    conn = Conv2d(1, 1, 2, input_size=(2, 3), weight=w)
    net.add_layer(
        "conv", conn, Input((1, 2, 3), decay_t=0.5), LIFNeuron((1, 1, 2), decay_v=0.0, decay_t=0.5)
    )
    net.reset_state(batch_size=batch_size)
    return net


CONV_SPIKES = torch.tensor(
    [
        [[[[1, 0, 0], [0, 0, 0]]], [[[0, 0, 0], [0, 1, 1]]]],  # t0: env0, env1
        [[[[0, 1, 0], [0, 0, 1]]], [[[1, 1, 0], [0, 0, 0]]]],  # t1
    ],
    dtype=torch.float32,
)
# Patch l covers columns l, l+1; kernel order k = (0,0), (0,1), (1,0), (1,1).
# env0 t0: s patches l0 [1,0,0,0], l1 0; z = [1,0], y = [1,0]; E = mean_l(...) = [.25,0,0,0]
# env0 t1: pixel trace [[.5,1,0],[0,0,1]]; x l0 [.5,1,0,0], l1 [1,0,0,1]; s l0 [0,1,0,0],
#   l1 [1,0,0,1]; z = [0,1], y = [.5,1]; term = ([0,-.25,0,0] + [.5,0,0,.5]) / 2
#   E = .5*[.25,0,0,0] + [.25,-.125,0,.25] = [.375,-.125,0,.25]
# env1 t0: no position fires (0.1, 0.2), y = 0: E = 0
# env1 t1: pixel trace [[1,1,0],[0,.5,.5]]; x l0 [1,1,0,.5], l1 [1,0,.5,.5]; s l0 [1,1,0,0],
#   l1 [1,0,0,0]; z = y = [1,1]; E = ([.5,.5,0,.5] + [.5,0,.5,.5]) / 2 = [.5,.25,.25,.5]
CONV_E = [[[0.375, -0.125, 0.0, 0.25]], [[0.5, 0.25, 0.25, 0.5]]]


@pytest.mark.parametrize(
    ("reward", "expected"),
    [
        # 0.1 * 2 * mean_b E = .2 * [.4375,.0625,.125,.375]
        (2.0, [[1.5875, 0.1125], [0.125, 0.175]]),
        # 0.1 * (E_env0 - E_env1) / 2 = [-.00625,-.01875,-.0125,-.0125]
        (torch.tensor([1.0, -1.0]), [[1.49375, 0.08125], [0.0875, 0.0875]]),
    ],
)
def test_mstdpet_conv2d_hand_computed(reward, expected):
    net = conv_net()
    rule = MSTDPET(net.layer_state_dict(), lr=0.1, a_post=0.5, e_trace_decay=0.5)
    for t in range(2):
        net(CONV_SPIKES[t])
        rule.update_state()
    close(rule.state["conv"]["e_trace"], CONV_E)
    rule.step(reward)
    close(net.connections["conv"].weight[0, 0], expected)


# ---------------------------------------------------------------------- signs
def pairing_net(weight=0.5):
    # one synapse; the post neuron fires only when forced by an extra current
    net = linear_net(weight=[[weight]], batch_size=1)
    return net, net.connections["fc"]


def drive(net, rule, pre, post):
    for s, z in zip(pre, post, strict=True):
        net(torch.tensor([[s]]), currents={"fc": torch.tensor([[z]])})
        rule.update_state()


@pytest.mark.parametrize(("reward", "sign"), [(1.0, 1), (-1.0, -1), (0.0, 0)])
def test_pre_before_post_sign_follows_reward(reward, sign):
    net, conn = pairing_net()
    rule = MSTDPET(net.layer_state_dict(), lr=0.1, a_post=1.0, e_trace_decay=0.9)
    drive(net, rule, pre=[1.0, 0.0], post=[0.0, 1.0])  # pre at t0, post at t1
    # t0: x=1, z=0, s=1, y=0 -> 0;  t1: x=.5, z=1, s=0 -> E = .9*0 + .5
    assert rule.state["fc"]["e_trace"].item() == pytest.approx(0.5)
    rule.step(reward)
    assert conn.weight.item() == pytest.approx(0.5 + sign * 0.05)


def test_post_before_pre_depresses_under_positive_reward():
    net, conn = pairing_net()
    rule = MSTDPET(net.layer_state_dict(), lr=0.1, a_post=1.0, e_trace_decay=0.9)
    drive(net, rule, pre=[0.0, 1.0], post=[1.0, 0.0])  # post at t0, pre at t1
    # t1: x=1, z=0, s=1, y=.5 -> E = -1 * 1 * .5
    assert rule.state["fc"]["e_trace"].item() == pytest.approx(-0.5)
    rule.step(1.0)
    assert conn.weight.item() == pytest.approx(0.45)


def test_eligibility_decays_by_e_trace_decay_per_silent_step():
    net, _ = pairing_net()
    rule = MSTDPET(net.layer_state_dict(), lr=0.1, e_trace_decay=0.7)
    drive(net, rule, pre=[1.0, 0.0], post=[0.0, 1.0])
    e = rule.state["fc"]["e_trace"].item()
    for k in range(1, 5):
        drive(net, rule, pre=[0.0], post=[0.0])
        assert rule.state["fc"]["e_trace"].item() == pytest.approx(e * 0.7**k)


def test_tau_e_sets_the_decay_from_the_postsynaptic_dt():
    net = SNNNetwork()
    net.add_layer(
        "fc",
        Linear(1, 1, weight=0.5),
        Input(1, decay_t=0.5, dt=0.5),
        LIFNeuron(1, decay_v=0.0, decay_t=0.5, dt=0.5),
    )
    rule = MSTDPET(net.layer_state_dict(), lr=0.1, tau_e=2.0)
    drive(net, rule, pre=[1.0, 0.0], post=[0.0, 1.0])
    e = rule.state["fc"]["e_trace"].item()
    drive(net, rule, pre=[0.0, 0.0], post=[0.0, 0.0])
    assert rule.state["fc"]["e_trace"].item() == pytest.approx(e * math.exp(-0.25) ** 2)


def test_weight_bounds_clamp_after_each_step():
    net, conn = pairing_net()
    rule = MSTDPET(net.layer_state_dict(), lr=10.0, e_trace_decay=0.9, w_min=0.0, w_max=0.8)
    drive(net, rule, pre=[1.0, 0.0], post=[0.0, 1.0])
    rule.step(1.0)
    assert conn.weight.item() == pytest.approx(0.8)
    rule.step(-1.0)
    assert conn.weight.item() == 0.0


# ---------------------------------------------------------------------- delays
def test_uniform_delay_pairs_the_delayed_trace_and_spikes():
    net = linear_net(weight=[[0.5]], batch_size=1, delay=2)
    rule = MSTDPET(net.layer_state_dict(), lr=0.1, a_post=0.5, e_trace_decay=0.5)
    values = []
    for s, z in ((1.0, 0.0), (0.0, 1.0), (0.0, 1.0)):
        net(torch.tensor([[s]]), currents={"fc": torch.tensor([[z]])})
        rule.update_state()
        values.append(rule.state["fc"]["e_trace"].item())
    # t1: nothing has arrived yet (un-delayed, PySNN would pair x=.5 with z=1): E = 0
    # t2: the spike and its trace x=1 arrive; z=1, y=.5*1+1=1.5: E = 1 - .5*1*1.5 = .25
    assert values == pytest.approx([0.0, 0.0, 0.25])


def test_per_synapse_delays_against_explicit_loop():
    g = torch.Generator().manual_seed(3)
    delay = torch.tensor([[0, 1, 2], [2, 0, 1]])
    w = torch.rand(2, 3, generator=g) + 0.4
    net = linear_net(weight=w, batch_size=2, delay=delay)
    conn = net.connections["fc"]
    post = net.layer_state_dict()["fc"]["postsynaptic"]
    rule = MSTDPET(net.layer_state_dict(), lr=0.05, a_pre=0.8, a_post=0.3, e_trace_decay=0.6)
    e_ref = [[[0.0] * 3 for _ in range(2)] for _ in range(2)]
    for _ in range(6):
        net((torch.rand(2, 3, generator=g) < 0.6).float())
        rule.update_state()
        assert conn.spikes.shape == (2, 2, 3)
        for b in range(2):
            for o in range(2):
                for i in range(3):
                    e_ref[b][o][i] = (
                        0.6 * e_ref[b][o][i]
                        + 0.8 * float(conn.trace[b, o, i]) * float(post.spikes[b, o])
                        - 0.3 * float(conn.spikes[b, o, i]) * float(post.trace[b, o])
                    )
    close(rule.state["fc"]["e_trace"], e_ref)
    assert abs(rule.state["fc"]["e_trace"]).sum() > 0
