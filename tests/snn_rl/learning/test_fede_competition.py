"""Lateral inhibition lets a FedeSTDP layer learn distinct features: without it every neuron
of the layer ends up with the same response."""

import pytest
import torch

from snn_rl import FedeNeuron, Input, Linear, SNNNetwork
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
