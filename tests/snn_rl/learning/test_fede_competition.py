"""Lateral inhibition lets a FedeSTDP layer learn distinct features: without it every neuron
of the layer ends up with the same response."""

import pytest
import torch

from snn_rl import Conv2d, FedeNeuron, IFNeuron, Input, LIFNeuron, Linear, SNNNetwork
from snn_rl.learning import FedeSTDP

N_IN, N_PAT = 16, 4
PATTERNS = torch.zeros(N_PAT, N_IN)
for _p in range(N_PAT):
    PATTERNS[_p, 4 * _p : 4 * _p + 4] = 1.0  # pattern p: inputs 4p..4p+3 fire with p = 0.9


def trained_responses(winners, spread, seed, steps=600, hold=10):
    """Spike counts (pattern x neuron) of a 4-neuron FedeSTDP layer after ``steps`` steps of
    the patterns in random order, each held ``hold`` steps (learning off while measuring)."""
    g = torch.Generator().manual_seed(seed)
    conn = Linear(N_IN, N_PAT, weight=1.0)
    with torch.no_grad():
        conn.weight.mul_(1 - spread + 2 * spread * torch.rand(conn.weight.shape, generator=g))
    net = SNNNetwork()
    post = FedeNeuron(N_PAT, winners=winners, thresh=0.2)
    net.add_layer("f", conn, Input(N_IN, decay_t=0.8, alpha_t=0.2), post)
    net.reset_state(batch_size=1)
    rule = FedeSTDP(net.layer_state_dict(), lr=0.05, w_init=1.0, a=0.0)

    def stimulus(p):
        return (torch.rand(N_IN, generator=g) < 0.9 * PATTERNS[p]).float().unsqueeze(0)

    for p in torch.randint(0, N_PAT, (steps // hold,), generator=g):
        for _ in range(hold):
            net(stimulus(p))
            rule.step()
    responses = torch.zeros(N_PAT, N_PAT)
    for p in range(N_PAT):
        net.reset_state(batch_size=1)
        for _ in range(50):
            responses[p] += net(stimulus(p))[0]
    return responses


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_winner_take_all_gives_each_pattern_its_own_feature(seed):
    r = trained_responses(winners=1, spread=0.5, seed=seed)
    preferred = r.argmax(1)
    assert len(set(preferred.tolist())) == N_PAT  # four patterns, four different neurons
    purity = (r.max(1).values / r.sum(1).clamp_min(1)).mean()  # share of the preferred one
    assert purity >= 0.95 and r.max(1).values.min() >= 3  # and each one fires


def test_without_competition_all_patterns_drive_the_same_neuron():
    r = trained_responses(winners=None, spread=0.5, seed=0)
    assert len(set(r.argmax(1).tolist())) == 1


def test_competition_lets_at_most_k_spike_and_resets_where_one_did():
    torch.manual_seed(0)
    neurons = FedeNeuron(6, winners=2, thresh=0.1, tau_v=1.0)
    neurons.reset_state(batch_size=3)
    current = torch.tensor([[5.0, 4.0, 3.0, 2.0, 0, 0], [0, 0, 0, 0, 0, 0], [1.0, 0, 0, 0, 0, 9]])
    z = neurons(current, torch.zeros(3, 6))
    assert z.tolist() == [[1, 1, 0, 0, 0, 0], [0] * 6, [1, 0, 0, 0, 0, 1]]
    v = neurons.v
    assert (v[0] == 0).all() and (v[2] == 0).all()  # rows with a spike reset all neurons
    conv = FedeNeuron((3, 2, 2), winners=1, thresh=0.1, tau_v=1.0)  # competes across channels
    conv.reset_state(batch_size=1)
    current = torch.zeros(1, 3, 2, 2)
    current[0, :, 0, 0] = torch.tensor([1.0, 2.0, 3.0])
    current[0, 0, 1, 1] = 1.0
    z = conv(current, torch.zeros(1, 3, 2, 2))
    assert z[0, :, 0, 0].tolist() == [0, 0, 1] and z[0, :, 1, 1].tolist() == [1, 0, 0]
    with pytest.raises(ValueError, match="winners"):
        FedeNeuron(4, winners=0)


def test_a_neighbourhood_competes_across_maps_and_positions():
    neurons = FedeNeuron((2, 1, 5), winners=1, inhibition_radius=1, thresh=0.1, tau_v=1.0)
    neurons.reset_state(batch_size=1)
    current = torch.zeros(1, 2, 1, 5)
    current[0, 0, 0, 0] = 2.0  # map 0 at x = 0, beaten by map 1 at x = 1 (its neighbour)
    current[0, 1, 0, 1] = 3.0
    current[0, 0, 0, 4] = 1.0  # two positions from x = 1: a winner of its own
    z = neurons(current, torch.zeros(1, 2, 1, 5))
    assert z[0, :, 0].tolist() == [[0, 0, 0, 0, 1], [0, 1, 0, 0, 0]]
    assert (neurons.v[0, :, 0, :3] == 0).all()  # within 1 of a crossing neuron: reset
    with pytest.raises(ValueError, match="inhibition_radius"):
        FedeNeuron((2, 1, 5), winners=2, inhibition_radius=1)
    with pytest.raises(ValueError, match="inhibition_radius"):
        FedeNeuron(4, winners=1, inhibition_radius=1)


def test_homeostasis_moves_each_maps_threshold_towards_the_target_rate():
    conn = Linear(4, 3, weight=1.0)
    net = SNNNetwork()
    post = FedeNeuron(3, thresh=1.0, tau_v=1e6)  # v keeps what is set in it for a step
    net.add_layer("f", conn, Input(4), post)
    net.reset_state(batch_size=2)
    rule = FedeSTDP(net.layer_state_dict(), lr=1e-9, w_init=1.0, a=0.0, target_rate=0.25)
    with torch.no_grad():
        post.v.copy_(torch.tensor([[5.0, 0.0, 5.0], [5.0, 0.0, 0.0]]))  # rates 1, 0, 0.5
    net(torch.zeros(2, 4))
    rule.step()
    assert post.thresh_offset.tolist() == pytest.approx([0.75, -0.25, 0.25])
    net.reset_state(batch_size=2)  # the offset is learned, not per-episode state
    assert post.thresh_offset.tolist() == pytest.approx([0.75, -0.25, 0.25])
    for _ in range(10):  # silent: down to v_rest + 0.1 * (thresh - v_rest), no further
        net(torch.zeros(2, 4))
        rule.step()
    assert post.thresh_offset.min().item() == pytest.approx(-0.9)
    assert any(k.endswith("thresh_offset") for k in net.state_dict())  # saved with the net
    with pytest.raises(TypeError, match="FedeNeuron"):
        other = SNNNetwork()
        other.add_layer("f", Linear(4, 3), Input(4), LIFNeuron(3))
        FedeSTDP(other.layer_state_dict(), lr=0.1, w_init=1.0, a=0.0, target_rate=0.1)
    with pytest.raises(ValueError, match="target_rate"):
        FedeSTDP(net.layer_state_dict(), lr=0.1, w_init=1.0, a=0.0, target_rate=0.0)


def test_a_state_dict_saved_before_the_offset_loads_with_offset_zero():
    conv = FedeNeuron((3, 4, 4), winners=1)
    assert conv.thresh_offset.shape == (3, 1, 1)  # one per map
    with torch.no_grad():
        conv.thresh_offset.fill_(0.5)
    old = {k: v for k, v in conv.state_dict().items() if k != "thresh_offset"}
    conv.load_state_dict(old)
    assert (conv.thresh_offset == 0).all()


def _conv_feature_net(device: str) -> SNNNetwork:
    conv = Conv2d(1, 3, 3, input_size=(6, 6), padding=1)
    with torch.no_grad():
        conv.weight.copy_(
            1.0 + torch.rand(conv.weight.shape, generator=torch.Generator().manual_seed(0))
        )
    source = IFNeuron((1, 6, 6), thresh=1.0, alpha_t=0.2, decay_t=0.8)
    post = FedeNeuron((3, 6, 6), winners=1, inhibition_radius=1)
    net = SNNNetwork()
    net.add_layer("f", conv, source, post)
    return net.to(device)


def _train_conv_features(device: str, steps: int = 12) -> SNNNetwork:
    net = _conv_feature_net(device)
    rule = FedeSTDP(net.layer_state_dict(), lr=0.05, w_init=1.5, a=0.0, target_rate=0.05)
    images = (torch.rand(8, 1, 6, 6, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    net.reset_state(batch_size=8)
    for _ in range(steps):
        net(images.to(device))
        rule.step()
    return net


def test_conv_features_with_homeostasis_learn_and_move_the_thresholds():
    net = _train_conv_features("cpu")
    start = _conv_feature_net("cpu")
    assert float((net.connections["f"].weight - start.connections["f"].weight).abs().max()) > 0
    assert float(net.neurons["f_post"].thresh_offset.abs().max()) > 0


@pytest.mark.gpu
def test_the_conv_path_with_homeostasis_runs_on_cuda_as_on_the_cpu():
    cpu, gpu = _train_conv_features("cpu"), _train_conv_features("cuda")
    assert gpu.connections["f"].weight.device.type == "cuda"
    torch.testing.assert_close(gpu.connections["f"].weight.cpu(), cpu.connections["f"].weight)
    torch.testing.assert_close(
        gpu.neurons["f_post"].thresh_offset.cpu(), cpu.neurons["f_post"].thresh_offset
    )
