"""Connections holding one weight per agent, and MSTDPET training each agent from its own rows:
a stacked network of A agents must compute what A separate networks compute."""

import pytest
import torch

from snn_rl import FedeNeuron, Input, LIFNeuron, Linear, SNNNetwork
from snn_rl._coding import draw_rows
from snn_rl.connections import Conv2d
from snn_rl.decoding import EpsilonGreedyDecoder, SoftmaxDecoder
from snn_rl.learning import MSTDPET, FedeSTDP


def _net(seed: int, n_in: int = 6, n_out: int = 4) -> SNNNetwork:
    gen = torch.Generator().manual_seed(seed)
    net = SNNNetwork()
    conn = Linear(n_in, n_out, generator=gen)
    conn.reset_weights("normal", 0.5, 0.3, generator=gen)
    net.add_layer("fc", conn, Input(n_in), LIFNeuron(n_out, decay_v=0.8))
    return net


def _inputs(steps: int, batch: int, n_in: int = 6) -> torch.Tensor:
    gen = torch.Generator().manual_seed(99)
    return (torch.rand(steps, batch, n_in, generator=gen) < 0.4).float()


def _side_by_side(settings, per_env, reward, *, vary=False, decay_every=None, n=2, steps=25):
    """Train a stacked network of ``len(settings)`` agents and one network per agent (rule
    hyperparameters ``settings[a]``) on the same inputs; the stacked rule starts from
    ``settings[0]`` and, with ``vary``, takes every agent's own by ``vary_by_agent``.
    ``decay_every``: also a ``decay_state`` step every that many steps. Returns the stacked
    network, the single networks, the stacked rule and, per step, both sides' spikes."""
    agents = len(settings)
    singles = [_net(s) for s in range(agents)]
    rules = [
        MSTDPET(m.layer_state_dict(), per_env=per_env, **kw)
        for m, kw in zip(singles, settings, strict=True)
    ]
    stacked = _net(0)
    stacked.stack_agents([_net(s) for s in range(agents)])
    stacked.reset_state(batch_size=agents * n)
    rule = MSTDPET(stacked.layer_state_dict(), per_env=per_env, **settings[0])
    varied = rule.vary_by_agent(rules) if vary else None
    rule.reset_state()
    for m, r in zip(singles, rules, strict=True):
        m.reset_state(batch_size=n)
        r.reset_state()
    x = _inputs(steps, agents * n)
    rewards = torch.linspace(-1, 1, agents * n)
    outs = []
    for t in range(steps):
        decay = decay_every is not None and t % decay_every == decay_every - 1
        out = stacked(x[t])
        rule.update_state()
        if decay:
            rule.decay_state()
        rule.step(rewards if reward == "rows" else 0.5)
        parts = []
        for a, (m, r) in enumerate(zip(singles, rules, strict=True)):
            parts.append(m(x[t, a * n : (a + 1) * n]))
            r.update_state()
            if decay:
                r.decay_state()
            r.step(rewards[a * n : (a + 1) * n] if reward == "rows" else 0.5)
        outs.append((out, torch.cat(parts)))
    return stacked, singles, varied, outs


@pytest.mark.parametrize("per_env", [True, False])
@pytest.mark.parametrize("reward", ["scalar", "rows"])
def test_stacked_agents_learn_as_separate_networks(per_env, reward):
    if reward == "rows" and not per_env:
        pytest.skip("per-row rewards need per_env=True")
    agents = 3
    settings = [dict(lr=0.05, e_trace_decay=0.9)] * agents
    stacked, singles, _, outs = _side_by_side(settings, per_env, reward)
    assert stacked.connections["fc"].weight.shape == (agents, 4, 6)
    for a, m in enumerate(singles):
        torch.testing.assert_close(
            stacked.connections["fc"].agent_weight(a), m.connections["fc"].weight
        )
        assert torch.equal(
            stacked.agent_state_dict(a)["connections.fc.weight"],
            stacked.connections["fc"].weight[a],
        )
    assert all(torch.equal(a, b) for a, b in outs)  # the same spikes at every step
    moved = stacked.connections["fc"].weight - torch.stack(
        [_net(s).connections["fc"].weight for s in range(agents)]
    )
    assert float(moved.abs().max()) > 1e-3  # the rule did change the weights


def test_stacking_refuses_what_it_cannot_run():
    net = _net(0)
    with pytest.raises(ValueError, match=r"weights must have shape \(A, 4, 6\)"):
        net.connections["fc"].stack_agents(torch.zeros(2, 6, 4))
    conv = Conv2d(1, 2, 3, input_size=(5, 5))
    with pytest.raises(ValueError, match=r"weights must have shape \(A, 2, 1, 3, 3\)"):
        conv.stack_agents(torch.zeros(2, 2, 3, 3))
    net.stack_agents([_net(1), _net(2)])
    with pytest.raises(ValueError, match="batch_size must be a multiple of the 2 agents"):
        net.reset_state(batch_size=3)
    with pytest.raises(IndexError, match="agent 2 out of range for 2 agents"):
        net.connections["fc"].agent_weight(2)
    with pytest.raises(ValueError, match="members\\[0\\] must be an SNNNetwork"):
        net.stack_agents([object()])


def _fede_net(seed: int) -> SNNNetwork:
    gen = torch.Generator().manual_seed(seed)
    conn = Linear(6, 4, weight=1.0)
    with torch.no_grad():
        conn.weight.mul_(0.5 + torch.rand(conn.weight.shape, generator=gen))
    net = SNNNetwork()
    net.add_layer("fc", conn, Input(6, decay_t=0.8, alpha_t=0.2), FedeNeuron(4, winners=1))
    return net


@pytest.mark.parametrize("mode", ["post_spike", "every_step"])
def test_fede_trains_each_agents_block_from_its_own_rows(mode):
    agents, n, steps = 3, 2, 30
    singles = [_fede_net(s) for s in range(agents)]
    stacked = _fede_net(0)
    stacked.stack_agents([_fede_net(s) for s in range(agents)])
    stacked.reset_state(batch_size=agents * n)
    kw = {"lr": 0.05, "w_init": 1.0, "a": 0.0, "mode": mode, "target_rate": 0.1}
    rule = FedeSTDP(stacked.layer_state_dict(), **kw)
    rules = [FedeSTDP(m.layer_state_dict(), **kw) for m in singles]
    assert rule.vary_by_agent(rules) == []
    for m in singles:
        m.reset_state(batch_size=n)
    x = _inputs(steps, agents * n)
    x[:, :n] = 0.0  # agent 0 sees nothing: its block must stay put whatever the others do
    for t in range(steps):
        stacked(x[t])
        rule.step()
        for a, (m, r) in enumerate(zip(singles, rules, strict=True)):
            m(x[t, a * n : (a + 1) * n])
            r.step()
    w = stacked.connections["fc"].weight
    for a, m in enumerate(singles):
        torch.testing.assert_close(w[a], m.connections["fc"].weight, atol=1e-6, rtol=0)
    assert torch.equal(w[0], _fede_net(0).connections["fc"].weight)
    assert float((w[1] - _fede_net(1).connections["fc"].weight).abs().max()) > 1e-3
    offsets = stacked.neurons["fc_post"].thresh_offset
    assert offsets.shape == (agents, 4)  # one block per agent, each from its own rows
    for a, m in enumerate(singles):
        torch.testing.assert_close(offsets[a], m.neurons["fc_post"].thresh_offset)
    assert torch.equal(stacked.agent_state_dict(2)["neurons.fc_post.thresh_offset"], offsets[2])
    half = _fede_net(0)  # weights stacked by hand, thresholds not: refused, not shared
    half.connections["fc"].stack_agents(
        torch.stack([_fede_net(s).connections["fc"].weight for s in range(2)])
    )
    half.reset_state(batch_size=4)
    lone = FedeSTDP(half.layer_state_dict(), **kw)
    half(torch.ones(4, 6))
    with pytest.raises(ValueError, match="stack the whole network"):
        lone.step()


def _conv_net(seed: int, fede: bool) -> SNNNetwork:
    conv = Conv2d(2, 3, 3, input_size=(5, 5), padding=1)
    with torch.no_grad():
        conv.weight.copy_(
            0.3 + torch.rand(conv.weight.shape, generator=torch.Generator().manual_seed(seed))
        )
    post = (
        FedeNeuron((3, 5, 5), winners=1, inhibition_radius=1)
        if fede
        else LIFNeuron((3, 5, 5), decay_v=0.8)
    )
    net = SNNNetwork()
    net.add_layer("c", conv, Input((2, 5, 5), decay_t=0.8, alpha_t=0.2), post)
    return net


@pytest.mark.parametrize("rule_cls", [FedeSTDP, MSTDPET])
def test_stacked_conv_agents_learn_as_separate_networks(rule_cls):
    agents, n, steps = 3, 2, 20
    fede = rule_cls is FedeSTDP
    kw = (
        {"lr": 0.05, "w_init": 1.0, "a": 0.0, "target_rate": 0.05}
        if fede
        else {"lr": 0.05, "e_trace_decay": 0.9, "per_env": True}
    )
    singles = [_conv_net(s, fede) for s in range(agents)]
    stacked = _conv_net(0, fede)
    stacked.stack_agents([_conv_net(s, fede) for s in range(agents)])
    stacked.reset_state(batch_size=agents * n)
    rule = rule_cls(stacked.layer_state_dict(), **kw)
    rules = [rule_cls(m.layer_state_dict(), **kw) for m in singles]
    rule.vary_by_agent(rules)
    for m, r in zip(singles, rules, strict=True):
        m.reset_state(batch_size=n)
        r.reset_state()
    rule.reset_state()
    x = (
        torch.rand(steps, agents * n, 2, 5, 5, generator=torch.Generator().manual_seed(5)) < 0.4
    ).float()

    def step(net, r, inputs):
        out = net(inputs)
        if fede:
            r.step()
        else:
            r.update_state()
            r.step(0.5)
        return out

    for t in range(steps):
        out = step(stacked, rule, x[t])
        parts = [
            step(m, r, x[t, a * n : (a + 1) * n])
            for a, (m, r) in enumerate(zip(singles, rules, strict=True))
        ]
        assert torch.equal(out, torch.cat(parts))
    w = stacked.connections["c"].weight
    assert w.shape == (agents, 3, 2, 3, 3)
    for a, m in enumerate(singles):
        torch.testing.assert_close(w[a], m.connections["c"].weight, atol=1e-6, rtol=0)
    assert float((w[1] - _conv_net(1, fede).connections["c"].weight).abs().max()) > 1e-2


def test_decoders_draw_each_agents_rows_from_its_own_generator():
    counts = torch.rand(6, 6, generator=torch.Generator().manual_seed(1)) * 5
    gens = [torch.Generator().manual_seed(s) for s in (4, 5, 6)]
    dec = EpsilonGreedyDecoder(3, epsilon=0.5, generator=gens, pop_size=2)
    soft = SoftmaxDecoder(
        3,
        temperature=2.0,
        generator=[torch.Generator().manual_seed(s) for s in (4, 5, 6)],
        pop_size=2,
    )
    both, sampled = dec(counts), soft(counts)
    for a, s in enumerate((4, 5, 6)):
        rows = slice(2 * a, 2 * a + 2)
        alone = EpsilonGreedyDecoder(
            3, epsilon=0.5, generator=torch.Generator().manual_seed(s), pop_size=2
        )
        assert torch.equal(both[rows], alone(counts[rows]))
        alone_soft = SoftmaxDecoder(
            3, temperature=2.0, generator=torch.Generator().manual_seed(s), pop_size=2
        )
        assert torch.equal(sampled[rows], alone_soft(counts[rows]))
    with pytest.raises(ValueError, match="5 rows cannot be split among 3 agents' generators"):
        draw_rows(lambda rows, g: torch.rand(rows.stop - rows.start, generator=g), 5, gens)
    with pytest.raises(TypeError, match="generator must be a torch.Generator, a sequence"):
        EpsilonGreedyDecoder(3, epsilon=0.1, generator=[1, 2])


@pytest.mark.parametrize("per_env", [True, False])
def test_zero_sum_steps_keep_each_inputs_total_weight(per_env):
    agents, n = 2, 3
    net = _net(0)
    net.stack_agents([_net(0), _net(1)])
    net.reset_state(batch_size=agents * n)
    rule = MSTDPET(
        net.layer_state_dict(), lr=0.1, e_trace_decay=0.9, per_env=per_env, zero_sum=True
    )
    start = net.connections["fc"].weight.clone()
    x = _inputs(20, agents * n)
    for t in range(20):
        net(x[t])
        rule.update_state()
        rule.step(torch.linspace(-1, 1, agents * n) if per_env else -0.7)
    change = net.connections["fc"].weight - start
    assert float(change.abs().max()) > 1e-3
    torch.testing.assert_close(change.sum(dim=1), torch.zeros(agents, 6), atol=1e-5, rtol=0)


def test_a_rule_state_saved_before_zero_sum_existed_loads_without_it():
    net = _net(0)
    net.reset_state(batch_size=2)
    rule = MSTDPET(net.layer_state_dict(), lr=0.1, e_trace_decay=0.9)
    state = rule.state_dict()
    for group in state["param_groups"]:
        del group["zero_sum"]
    fresh = MSTDPET(net.layer_state_dict(), lr=0.5, e_trace_decay=0.9, zero_sum=True)
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["zero_sum"] is False and fresh.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("per_env", [True, False])
@pytest.mark.parametrize("reward", ["scalar", "rows"])
def test_hyperparameters_vary_by_agent_as_separate_rules(per_env, reward):
    if reward == "rows" and not per_env:
        pytest.skip("per-row rewards need per_env=True")
    settings = [
        dict(lr=0.05, a_pre=1.0, a_post=0.0, e_trace_decay=0.9, w_min=-1.0, w_max=1.0),
        dict(lr=0.02, a_pre=0.5, a_post=0.3, e_trace_decay=0.5, w_min=-0.2, w_max=0.8),
        dict(lr=0.10, a_pre=2.0, a_post=1.0, e_trace_decay=0.99, w_min=-1.0, w_max=0.6),
    ]
    stacked, singles, varied, _ = _side_by_side(settings, per_env, reward, vary=True, decay_every=5)
    assert varied == ["a_post", "a_pre", "e_trace_decay", "lr", "w_max", "w_min"]
    for a, m in enumerate(singles):
        torch.testing.assert_close(
            stacked.connections["fc"].agent_weight(a), m.connections["fc"].weight
        )
    # each agent's own bounds were reached (and held)
    tops = [float(stacked.connections["fc"].agent_weight(a).max()) for a in (1, 2)]
    assert tops == pytest.approx([0.8, 0.6])


def test_vary_by_agent_refuses_what_cannot_vary():
    singles = [_net(s) for s in range(2)]
    stacked = _net(0)
    stacked.stack_agents(singles)
    rule = MSTDPET(stacked.layer_state_dict(), lr=0.05, e_trace_decay=0.9)
    others = [MSTDPET(m.layer_state_dict(), lr=0.05, e_trace_decay=0.9) for m in singles]
    assert rule.vary_by_agent(others) == []  # agreeing rules: plain values stay plain
    assert rule.param_groups[0]["lr"] == 0.05
    zero = MSTDPET(singles[1].layer_state_dict(), lr=0.05, e_trace_decay=0.9, zero_sum=True)
    with pytest.raises(
        ValueError, match=r"'zero_sum' differs between the agents \(\[False, True\]"
    ):
        rule.vary_by_agent([others[0], zero])
    unbounded = MSTDPET(singles[1].layer_state_dict(), lr=0.05, e_trace_decay=0.9, w_min=-1.0)
    with pytest.raises(ValueError, match="'w_min' differs .* as numbers"):
        rule.vary_by_agent([others[0], unbounded])
    alone = MSTDPET(_net(0).layer_state_dict(), lr=0.05, e_trace_decay=0.9)
    faster = MSTDPET(_net(1).layer_state_dict(), lr=0.1, e_trace_decay=0.9)
    with pytest.raises(ValueError, match="holds the weights of 1 agents, not 2"):
        alone.vary_by_agent([alone, faster])
    with pytest.raises(ValueError, match="one MSTDPET per agent"):
        rule.vary_by_agent([others[0], object()])


def test_agent_rows_spreads_one_value_per_agent_over_its_rows():
    from snn_rl._coding import agent_rows

    per_agent = torch.tensor([1.0, 2.0, 3.0])
    like = torch.zeros(6, 4, 5, dtype=torch.float64)
    spread = agent_rows(per_agent, like)
    assert spread.shape == (6, 1, 1) and spread.dtype == torch.float64
    assert spread.flatten().tolist() == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    assert agent_rows(per_agent, torch.zeros(6, dtype=torch.long)).dtype == torch.float32
    assert agent_rows(0.5, like) == 0.5  # a plain number passes through
