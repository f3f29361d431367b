"""Connections: true convolution, delays, synapse-aligned views, batch rows, validation."""

import pytest
import torch
import torch.nn.functional as nnf

from snn_rl.connections import Conv2d, Linear


def test_linear_current_and_aligned_views():
    w = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]])
    c = Linear(3, 2, weight=w)
    c.reset_state(batch_size=2)
    s = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    x = torch.tensor([[0.5, 0.2, 1.0], [0.0, 1.0, 0.3]])
    out = c(s, x)
    assert out.tolist() == [[4.0, -0.5], [2.0, 0.0]]
    assert torch.equal(c.spikes, s) and torch.equal(c.trace, x)


def test_pysnn_conv_example_is_a_true_convolution():
    # weights [[1,2],[3,4]] on a 3x3 image with spikes at (0,0) and (1,2):
    # a true conv2d gives [[1,4],[0,2]] (PySNN gave [[1,2],[0,4]]).
    c = Conv2d(1, 1, 2, input_size=(3, 3), weight=torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]))
    img = torch.zeros(1, 1, 3, 3)
    img[0, 0, 0, 0] = 1.0
    img[0, 0, 1, 2] = 1.0
    assert c(img, img)[0, 0].tolist() == [[1.0, 4.0], [0.0, 2.0]]


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation"),
    [(3, 1, 0, 1), ((2, 3), (1, 2), 1, (2, 1)), (1, 2, 0, 1), ((3, 2), 1, (2, 0), 1)],
)
def test_conv2d_equals_functional_conv2d(kernel, stride, padding, dilation):
    g = torch.Generator().manual_seed(0)
    c = Conv2d(
        2,
        3,
        kernel,
        input_size=(7, 6),
        stride=stride,
        padding=padding,
        dilation=dilation,
        generator=g,
    )
    c.reset_state(batch_size=4)
    s = (torch.rand(4, 2, 7, 6, generator=g) < 0.4).float()
    ref = nnf.conv2d(s, c.weight, stride=stride, padding=padding, dilation=dilation)
    out = c(s, s)
    assert out.shape == ref.shape == (4, *c.post_shape)
    assert torch.allclose(out, ref, atol=1e-6)
    # synapse-aligned pre view: unfolded patches (B, K, L)
    kh, kw = c.kernel_size
    assert c.spikes.shape == (4, 2 * kh * kw, c.output_size[0] * c.output_size[1])


def test_delay_single_spike_leaves_after_d_steps():
    c = Linear(1, 1, delay=3, weight=1.0)
    c.reset_state(1)
    outs = []
    for t in range(7):
        s = torch.ones(1, 1) if t == 1 else torch.zeros(1, 1)
        outs.append(c(s, s * 0.5).item())
    assert outs == [0, 0, 0, 0, 1, 0, 0]


def test_delay_keeps_overlapping_spikes_and_delays_trace():
    # PySNN merged spikes entering at t=5 and t=6 (d=2) into one output at t=10.
    c = Linear(1, 1, delay=2, weight=1.0)
    c.reset_state(1)
    outs, traces = [], []
    for t in range(10):
        s = torch.ones(1, 1) if t in (5, 6) else torch.zeros(1, 1)
        outs.append(c(s, torch.full((1, 1), float(t))).item())
        traces.append(c.trace.item())
    assert outs == [0, 0, 0, 0, 0, 0, 0, 1, 1, 0]
    assert traces == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]  # the trace travels with the spikes


def test_per_synapse_delays_linear():
    d = torch.tensor([[0, 1, 2], [2, 0, 1]])
    c = Linear(3, 2, delay=d, weight=1.0)
    c.reset_state(2)
    seen = []
    for t in range(4):
        s = torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 0.0]]) if t == 0 else torch.zeros(2, 3)
        c(s, s)
        seen.append(c.spikes.clone())
    assert seen[0].shape == (2, 2, 3)
    # synapse (o, i) delivers input i's spike at step d[o, i]
    for t in range(3):
        expected = (d == t).float() * torch.tensor([1.0, 1.0, 1.0])
        assert torch.equal(seen[t][0], expected)
        assert torch.equal(seen[t][1], (d == t).float() * torch.tensor([0.0, 1.0, 0.0]))
    assert seen[3].sum() == 0


def test_per_synapse_delays_conv2d_match_manual():
    g = torch.Generator().manual_seed(3)
    d = torch.randint(0, 3, (2, 1, 2, 2), generator=g)
    c = Conv2d(1, 2, 2, input_size=(3, 3), delay=d, generator=g)
    c.reset_state(1)
    frames = [(torch.rand(1, 1, 3, 3, generator=g) < 0.5).float() for _ in range(5)]
    for t, f in enumerate(frames):
        out = c(f, f)
        # manual: output channel c, kernel element k uses the frame from t - d[c, k]
        expected = torch.zeros(1, 2, 2, 2)
        for ch in range(2):
            for ki in range(2):
                for kj in range(2):
                    lag = int(d[ch, 0, ki, kj])
                    if t - lag < 0:
                        continue
                    src = frames[t - lag][0, 0]
                    expected[0, ch] += c.weight[ch, 0, ki, kj] * src[ki : ki + 2, kj : kj + 2]
        assert torch.allclose(out, expected, atol=1e-6)


def test_batch_rows_equal_single_runs_with_delay():
    g = torch.Generator().manual_seed(0)
    w = torch.rand(4, 5, generator=g)
    spikes = (torch.rand(8, 3, 5, generator=g) < 0.5).float()
    batched = Linear(5, 4, delay=2, weight=w)
    batched.reset_state(3)
    out_b = torch.stack([batched(s, s) for s in spikes])
    for row in range(3):
        single = Linear(5, 4, delay=2, weight=w)
        single.reset_state(1)
        out_s = torch.stack([single(s[row : row + 1], s[row : row + 1]) for s in spikes])
        assert torch.allclose(out_s[:, 0], out_b[:, row])


def test_reset_by_mask_clears_spikes_in_flight_of_masked_rows_only():
    c = Linear(1, 1, delay=2, weight=1.0)
    c.reset_state(2)
    c(torch.ones(2, 1), torch.ones(2, 1))
    c.reset_state(mask=torch.tensor([True, False]))
    c(torch.zeros(2, 1), torch.zeros(2, 1))
    out = c(torch.zeros(2, 1), torch.zeros(2, 1))
    assert out.tolist() == [[0.0], [1.0]]


def test_pre_mult_post_and_reduce_match_loops():
    g = torch.Generator().manual_seed(0)
    pre = torch.rand(2, 3, generator=g)
    post = torch.rand(2, 4, generator=g)
    out = Linear.pre_mult_post(pre, post)
    for b in range(2):
        for o in range(4):
            for i in range(3):
                assert out[b, o, i] == pytest.approx(float(pre[b, i] * post[b, o]))
    assert torch.allclose(Linear.reduce_connections(out), out.mean(0))
    assert torch.equal(Linear.reduce_connections(out, torch.max), out.max(0).values)

    c = Conv2d(2, 3, 2, input_size=(3, 3), generator=g)
    img = torch.rand(2, 2, 3, 3, generator=g)
    c.reset_state(2)
    c(img, img)
    post = torch.rand(2, 3, 2, 2, generator=g)
    out = Conv2d.pre_mult_post(c.trace, post)
    assert out.shape == (2, 3, 8, 4)
    for b in range(2):
        for ch in range(3):
            for k in range(8):
                cin, rest = divmod(k, 4)
                ki, kj = divmod(rest, 2)
                for pos in range(4):
                    h, w = divmod(pos, 2)
                    val = img[b, cin, h + ki, w + kj] * post[b, ch, h, w]
                    assert out[b, ch, k, pos] == pytest.approx(float(val), abs=1e-6)
    red = Conv2d.reduce_connections(out)
    assert red.shape == (3, 8)
    assert torch.allclose(red, out.mean(dim=(0, 3)))
    assert torch.allclose(Conv2d.reduce_connections(out, torch.sum), out.sum(dim=(0, 3)))
    assert torch.allclose(Conv2d.reduce_connections(out, torch.amax), out.amax(dim=(0, 3)))


def test_pre_mult_post_dtypes():
    pre = torch.tensor([[True, False]])
    post = torch.tensor([[0.5]], dtype=torch.float64)
    assert Linear.pre_mult_post(pre, post).dtype == torch.float64
    with pytest.raises(TypeError, match="share a dtype"):
        Linear.pre_mult_post(torch.ones(1, 2), post)


def test_receptive_field_sum():
    c = Linear(3, 2)
    x = torch.tensor([[1.0, 2.0, 3.0]])
    assert c.receptive_field_sum(x).tolist() == [[6.0, 6.0]]
    conv = Conv2d(1, 2, 2, input_size=(2, 3))
    conv.reset_state(1)
    img = torch.arange(6.0).view(1, 1, 2, 3)
    conv(img, img)
    # windows: [0,1,3,4] -> 8, [1,2,4,5] -> 12
    assert conv.receptive_field_sum(conv.trace).tolist() == [[[[8.0, 12.0]], [[8.0, 12.0]]]]


def test_weight_initialisation():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a, b = Linear(4, 3, generator=g1), Linear(4, 3, generator=g2)
    assert torch.equal(a.weight, b.weight)
    assert 0.0 <= a.weight.min() and a.weight.max() < 1.0
    assert not a.weight.requires_grad
    a.reset_weights("normal", 0.3, 0.0)
    assert torch.allclose(a.weight, torch.full((3, 4), 0.3))
    assert torch.all(Linear(2, 2, weight=0.7).weight == 0.7)


def test_to_dtype_and_state_dict():
    c = Linear(2, 2, delay=1).to(torch.float64)
    c.reset_state(2)
    assert c(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.float64
    assert set(c.state_dict()) == {"weight"}
    d = Linear(2, 2, delay=torch.tensor([[0, 1], [1, 0]]))
    assert set(d.state_dict()) == {"weight", "delay"}


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Linear(0, 2), "in_features must be >= 1"),
        (lambda: Linear(2, 2, delay=-1), "delay must be >= 0"),
        (lambda: Linear(2, 2, delay=1.5), "delay must be an int"),
        (lambda: Linear(2, 2, delay=torch.ones(3, 2, dtype=torch.long)), "weight's shape"),
        (lambda: Linear(2, 2, delay=torch.full((2, 2), 0.5)), "whole numbers"),
        (lambda: Linear(2, 2, delay=-torch.ones(2, 2, dtype=torch.long)), ">= 0 everywhere"),
        (lambda: Linear(2, 2, weight=torch.ones(2, 3)), r"weight must have shape \(2, 2\)"),
        (lambda: Conv2d(1, 1, 4, input_size=(3, 3)), "does not fit"),
        (lambda: Conv2d(1, 1, 2, input_size=(3,)), r"input_size must be \(H, W\)"),
        (lambda: Conv2d(1, 1, (2, 2, 2), input_size=(3, 3)), "pair of ints"),
        (lambda: Linear(2, 2).reset_weights("cauchy"), "distribution must be one of"),
    ],
)
def test_validation_errors(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_forward_shape_errors():
    c = Linear(3, 2)
    c.reset_state(2)
    with pytest.raises(ValueError, match=r"shape \(B, 3\)"):
        c(torch.ones(2, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match="batch size 5 .* batch size 2"):
        c(torch.ones(5, 3), torch.ones(5, 3))


def test_linear_reads_a_population_of_any_shape_flattened():
    w = torch.arange(24.0).view(2, 12) / 10
    flat = Linear(12, 2, weight=w)
    maps = Linear(12, 2, weight=w, input_shape=(3, 2, 2))
    assert maps.pre_shape == (3, 2, 2)
    x = torch.rand(5, 3, 2, 2)
    for conn in (flat, maps):
        conn.reset_state(batch_size=5)
    torch.testing.assert_close(maps(x, x), flat(x.reshape(5, 12), x.reshape(5, 12)))
    assert maps.trace.shape == (5, 12)  # the rules see the flattened activity
    with pytest.raises(
        ValueError, match=r"input_shape \(3, 2, 3\) holds 18 neurons, not in_features = 12"
    ):
        Linear(12, 2, input_shape=(3, 2, 3))
