"""Golden values for the pure learning-rule math in snn_rl.functional."""

import math

import pytest
import torch

from snn_rl import functional as F


def t(values):
    return torch.tensor(values, dtype=torch.float64)


def test_eligibility_update_golden_linear():
    # B=1, out=1, K=2, L=1: E' = .5*E + 1*x*z - .5*s*y
    e = t([[[1.0, -1.0]]])
    x, s = t([[[0.5], [1.0]]]), t([[[1.0], [0.0]]])
    z, y = t([[[1.0]]]), t([[[2.0]]])
    new = F.eligibility_update(e, x, s, z, y, a_pre=1.0, a_post=0.5, e_trace_decay=0.5)
    # k0: .5*1 + .5*1 - .5*1*2 = 0;  k1: .5*-1 + 1*1 - 0 = .5
    assert new.tolist() == [[[0.0, 0.5]]]
    assert e.tolist() == [[[1.0, -1.0]]]  # arguments untouched


def test_eligibility_update_averages_over_positions():
    # L=2 positions sharing one weight: term = mean_l(x*z) - mean_l(a_post*s*y)
    x, s = t([[[1.0, 3.0]]]), t([[[1.0, 1.0]]])
    z, y = t([[[1.0, 1.0]]]), t([[[0.0, 4.0]]])
    new = F.eligibility_update(
        torch.zeros(1, 1, 1, dtype=torch.float64),
        x,
        s,
        z,
        y,
        a_pre=1.0,
        a_post=0.5,
        e_trace_decay=0.9,
    )
    assert new.item() == pytest.approx((1 + 3) / 2 - 0.5 * (0 + 4) / 2)


def random_terms(g, b=3, out=4, k=5, positions=2):
    x, s = (
        torch.rand(b, k, positions, generator=g),
        (torch.rand(b, k, positions, generator=g) < 0.5),
    )
    z = (torch.rand(b, out, positions, generator=g) < 0.5).double()
    y = torch.rand(b, out, positions, generator=g)
    return x.double(), s.double(), z, y.double()


def test_per_synapse_layout_and_batch_mean_agree_with_the_shared_layout():
    g = torch.Generator().manual_seed(0)
    x, s, z, y = random_terms(g)
    e = torch.rand(3, 4, 5, generator=g).double()
    kw = {"a_pre": 0.7, "a_post": 0.3, "e_trace_decay": 0.8}
    shared = F.eligibility_update(e, x, s, z, y, **kw)
    per_syn = F.eligibility_update(
        e, x.unsqueeze(1).expand(3, 4, 5, 2), s.unsqueeze(1).expand(3, 4, 5, 2), z, y, **kw
    )
    mean = F.eligibility_update(e.mean(0), x, s, z, y, **kw)
    torch.testing.assert_close(per_syn, shared)
    torch.testing.assert_close(mean, shared.mean(0))
    # explicit loop for one entry
    b, o, k = 1, 2, 3
    want = 0.8 * e[b, o, k] + sum(
        0.7 * x[b, k, l_] * z[b, o, l_] / 2 - 0.3 * s[b, k, l_] * y[b, o, l_] / 2 for l_ in range(2)
    )
    assert shared[b, o, k].item() == pytest.approx(want.item())


def test_stdp_update_is_the_eligibility_term_from_zero():
    g = torch.Generator().manual_seed(1)
    x, s, z, y = random_terms(g)
    kw = {"a_pre": 1.0, "a_post": 0.4}
    zeros = torch.zeros(3, 4, 5, dtype=torch.float64)
    per_env = F.stdp_update(x, s, z, y, batch_mean=False, **kw)
    torch.testing.assert_close(
        per_env, F.eligibility_update(zeros, x, s, z, y, e_trace_decay=0.3, **kw)
    )
    torch.testing.assert_close(F.stdp_update(x, s, z, y, batch_mean=True, **kw), per_env.mean(0))


def test_fede_delta_golden_and_zero_trace():
    w = t([[0.5, 0.5]])
    pre = t([[[2.0], [0.0]]])  # x_hat = [1, 0]
    spiked = t([[[1.0]]])
    for mode in ("every_step", "post_spike"):
        d = F.fede_delta(w, pre, spiked, w_init=0.5, a=0.0, mode=mode)
        # d = 0: dW = (e^x_hat - 0) - (e^(1 - x_hat) - 0) = +-(e - 1)
        assert d[0].tolist() == pytest.approx([math.e - 1, 1 - math.e])
        zero = F.fede_delta(w, torch.zeros_like(pre), spiked, w_init=0.5, a=0.0, mode=mode)
        assert zero.tolist() == [[0.0, 0.0]]
    silent = F.fede_delta(w, pre, torch.zeros_like(spiked), w_init=0.5, a=0.0, mode="post_spike")
    assert silent.tolist() == [[0.0, 0.0]]
    with pytest.raises(ValueError, match=r"mode must be one of \['post_spike', 'every_step'\]"):
        F.fede_delta(w, pre, spiked, w_init=0.5, a=0.0, mode="paper")


def test_eligibility_update_out_writes_in_place():
    g = torch.Generator().manual_seed(2)
    x, s, z, y = random_terms(g)
    e = torch.rand(3, 4, 5, generator=g).double()
    kw = {"a_pre": 1.0, "a_post": 0.5, "e_trace_decay": 0.9}
    pure = F.eligibility_update(e, x, s, z, y, **kw)
    other = torch.empty_like(e)
    assert F.eligibility_update(e, x, s, z, y, out=other, **kw) is other
    torch.testing.assert_close(other, pure)
    same = F.eligibility_update(e, x, s, z, y, out=e, **kw)
    assert same is e
    torch.testing.assert_close(e, pure)


@pytest.mark.parametrize("batch_mean", [True, False])
def test_linear_layout_without_positions_equals_the_synapse_layout(batch_mean):
    gen = torch.Generator().manual_seed(0)
    b, n_in, n_out = 3, 5, 4
    x, s = torch.rand(b, n_in, generator=gen), (torch.rand(b, n_in, generator=gen) < 0.5).float()
    z, y = (torch.rand(b, n_out, generator=gen) < 0.5).float(), torch.rand(b, n_out, generator=gen)
    e0 = torch.rand((n_out, n_in) if batch_mean else (b, n_out, n_in), generator=gen)
    kw = dict(a_pre=1.0, a_post=0.4, e_trace_decay=0.9)
    dense = F.eligibility_update(e0, x, s, z, y, **kw)
    aligned = F.eligibility_update(
        e0, x.unsqueeze(-1), s.unsqueeze(-1), z.unsqueeze(-1), y.unsqueeze(-1), **kw
    )
    torch.testing.assert_close(dense, aligned)
    torch.testing.assert_close(
        F.stdp_update(x, s, z, y, a_pre=1.0, a_post=0.4, batch_mean=batch_mean),
        F.stdp_update(
            x.unsqueeze(-1), s.unsqueeze(-1), z.unsqueeze(-1), y.unsqueeze(-1),
            a_pre=1.0, a_post=0.4, batch_mean=batch_mean,
        ),
    )  # fmt: skip
