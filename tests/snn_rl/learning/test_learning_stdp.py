"""Unsupervised pair-based STDP: a hand-computed batch-2 sequence, signs, bounds."""

import pytest
import torch

from snn_rl import Input, LIFNeuron, Linear, SNNNetwork
from snn_rl.learning import STDP


def net_2x2(weight, batch_size):
    # LIFNeuron(decay_v=0): v = I every step, a spike iff I >= 1; traces x <- 0.5*x + s
    net = SNNNetwork()
    w = torch.tensor(weight)
    net.add_layer(
        "fc",
        Linear(w.shape[1], w.shape[0], weight=w),
        Input(w.shape[1], decay_t=0.5),
        LIFNeuron(w.shape[0], decay_v=0.0, decay_t=0.5),
    )
    net.reset_state(batch_size=batch_size)
    return net


def test_stdp_hand_computed_sequence():
    net = net_2x2([[1.5, 0.2], [0.2, 1.5]], batch_size=2)  # output o fires iff input o spikes
    rule = STDP(net.layer_state_dict(), lr=0.01, a_pre=1.0, a_post=0.5)
    spikes = torch.tensor(
        [[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]]
    )
    for t in range(3):
        net(spikes[t])
        rule.step()
    # term[o,i] = x_i z_o - .5 s_i y_o per env (x = y, z = s here):
    #   t0: env0 [[.5,0],[0,0]], env1 [[0,0],[0,.5]]            mean [[.25,0],[0,.25]]
    #   t1: env0 [[0,-.25],[.5,.5]], env1 0                     mean [[0,-.125],[.25,.25]]
    #   t2: env0 [[.625,.875],[.5,.75]], env1 [[.5,.25],[-.125,0]]  mean [[.5625,.5625],[.1875,.375]]
    # W = W0 + .01 * (sum of the means)
    expected = torch.tensor([[1.508125, 0.204375], [0.204375, 1.50875]])
    torch.testing.assert_close(net.connections["fc"].weight, expected, atol=1e-6, rtol=0)
    assert rule.last_delta["fc"] == pytest.approx(
        0.01 * (0.5625 + 0.5625 + 0.1875 + 0.375) / 4, abs=1e-7
    )


def pair(pre, post, **kw):
    net = net_2x2([[0.5]], batch_size=1)  # the post neuron fires only when forced
    rule = STDP(net.layer_state_dict(), **kw)
    for s, z in zip(pre, post, strict=True):
        net(torch.tensor([[s]]), currents={"fc": torch.tensor([[z]])})
        rule.step()
    return net.connections["fc"].weight.item()


def test_pre_before_post_potentiates_post_before_pre_depresses():
    # pre t0, post t1: x = .5 when z = 1 -> +lr*.5 ; post t0, pre t1: s = 1 when y = .5 -> -lr*.5
    assert pair([1.0, 0.0], [0.0, 1.0], lr=0.1) == pytest.approx(0.55)
    assert pair([0.0, 1.0], [1.0, 0.0], lr=0.1) == pytest.approx(0.45)
    assert pair([0.0, 1.0], [1.0, 0.0], lr=0.1, a_post=0.0) == pytest.approx(0.5)


def test_stdp_bounds():
    assert pair([1.0, 0.0], [0.0, 1.0], lr=10.0, w_max=0.7) == pytest.approx(0.7)
    assert pair([0.0, 1.0], [1.0, 0.0], lr=10.0, w_min=0.1) == pytest.approx(0.1)
