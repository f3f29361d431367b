"""NIR export and import: the documented mapping, snnTorch's simulation of the exported graph,
the agent round trip (predictions, metadata, continued learning) and ``snn-rl export``."""

import contextlib
import io
import json
import warnings

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")

from snn_rl import (  # noqa: E402
    AdaptiveLIFNeuron,
    Conv2d,
    FedeNeuron,
    IFNeuron,
    Input,
    LIFNeuron,
    Linear,
    SNNNetwork,
)
from snn_rl.agents import MSTDPETAgent  # noqa: E402
from snn_rl.agents.cli import main  # noqa: E402
from snn_rl.agents.nir_export import export_nir, import_nir  # noqa: E402
from snn_rl.agents.nir_graph import NIR_DT, network_from_nir, network_to_nir  # noqa: E402


def small(**kw):
    kw.setdefault("n_envs", 2)
    return MSTDPETAgent("CartPole-v1", seed=0, device="cpu", **kw)


def quiet_export(agent, path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return export_nir(agent, path, **kw)


def snntorch_model(graph):
    """snnTorch's reading of ``graph`` (it prints its progress: kept out of the test log)."""
    reader = pytest.importorskip("snntorch.import_nir")
    with contextlib.redirect_stdout(io.StringIO()):
        return reader.import_from_nir(graph)


def simulate_both(network, graph, inputs, populations=None):
    """Per population node: our spikes and snnTorch's, each ``(T, B, *shape)``, for the
    input sequence ``inputs`` ``(T, B, *source shape)`` from rest. ``populations`` maps the
    graph's neuron nodes to ours (default: the names ``network_to_nir`` gives them)."""
    model = snntorch_model(graph)
    if populations is None:
        populations = {f"pop_{key}": n for key, n in network.neurons.items()}
    theirs = {name: [] for name, _ in model.named_children() if name in populations}
    for name in theirs:
        getattr(model, name).register_forward_hook(
            lambda m, i, out, name=name: theirs[name].append(out.clone())
        )
    ours = {name: [] for name in theirs}
    network.reset_state(batch_size=inputs.shape[1])
    with torch.no_grad():
        for x in inputs:
            network(x)
            model(x)
            for name in ours:
                ours[name].append(populations[name].spikes.clone())
    return {k: (torch.stack(ours[k]), torch.stack(theirs[k]).to(torch.float32)) for k in ours}


def euler_counts(graph, inputs):
    """Spike counts per IF/LIF node under NIR's own equations, integrated by forward Euler
    with dt = NIR_DT in float64: an independent reader of a feed-forward graph."""
    order = list(dict.fromkeys(name for edge in graph.edges for name in edge))
    v, counts = {}, {}
    for x in inputs.double().numpy():
        out = {"input": x}
        for name in order[1:]:
            node = graph.nodes[name]
            i = sum(out[a] for a, b in graph.edges if b == name)
            if isinstance(node, nir.Linear):
                out[name] = i @ node.weight.astype(np.float64).T
            elif isinstance(node, nir.IF | nir.LIF):
                u = v.get(name, np.zeros_like(i))
                if isinstance(node, nir.IF):  # dv/dt = r*I
                    u = u + NIR_DT * node.r * i
                else:  # tau*dv/dt = (v_leak - v) + r*I
                    u = u + NIR_DT / node.tau * (node.v_leak - u + node.r * i)
                z = u > node.v_threshold
                v[name], out[name] = np.where(z, node.v_reset, u), z.astype(np.float64)
                counts[name] = counts.get(name, 0) + z
            else:
                out[name] = i
    return counts


# ------------------------------------------------------------------------ the mapping
def test_export_writes_the_documented_nodes_and_parameters(tmp_path):
    agent = small()
    with pytest.warns(UserWarning, match="voltage floor v_min=0.0"):
        path = agent.export_nir(tmp_path / "agent")
    assert path == tmp_path / "agent.nir"
    graph = nir.read(path)
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    assert kinds == {
        "input": "Input",
        "pop_output_pre": "IF",
        "conn_output": "Linear",
        "pop_output_post": "LIF",
        "output": "Output",
    }
    assert graph.edges == [
        ("input", "pop_output_pre"),
        ("pop_output_pre", "conn_output"),
        ("conn_output", "pop_output_post"),
        ("pop_output_post", "output"),
    ]
    src, out = graph.nodes["pop_output_pre"], graph.nodes["pop_output_post"]
    assert src.r.shape == (270,) and out.tau.shape == (20,)
    np.testing.assert_allclose(src.r, 1.0 / 1e-4)  # IF: r = alpha_v/dt, alpha_v = 1
    np.testing.assert_array_equal(src.v_threshold, 1.0)  # thresh - v_rest = 1 - 0
    np.testing.assert_array_equal(src.v_reset, 0.0)
    np.testing.assert_allclose(out.tau, 1e-4 / (1 - 0.8))  # dt/(1 - decay_v) = 5e-4
    np.testing.assert_allclose(out.r, 1.0 / (1 - 0.8))  # alpha_v/(1 - decay_v) = 5
    np.testing.assert_array_equal(out.v_leak, 0.0)
    np.testing.assert_array_equal(out.v_threshold, 1.0)
    weight = agent.policy.network.connections["output"].weight
    np.testing.assert_array_equal(graph.nodes["conn_output"].weight, weight.numpy())
    exact = json.loads(out.metadata["snn_rl"])
    assert exact["class"] == "LIFNeuron" and exact["params"]["v_min"] == 0.0
    assert exact["params"]["decay_v"] == 0.8 and exact["params"]["decay_t"] == 0.8
    notes = json.loads(graph.metadata["snn_rl"]["approximations"])
    assert len(notes) == 1 and "output_post" in notes[0] and "v_min=0.0" in notes[0]


def test_lif_and_if_formulas_with_offsets_gains_and_both_update_types():
    net = SNNNetwork()
    a = LIFNeuron(3, decay_v=0.5, alpha_v=2.0, v_rest=-0.5, thresh=1.0)
    b = LIFNeuron(2, update_type="exponential", tau_v=4.0, tau_t=2.0, dt=2.0, alpha_v=3.0)
    c = LIFNeuron(2, decay_v=1.0, alpha_v=0.25)
    d = IFNeuron(1, alpha_v=0.5, v_rest=-1.0, thresh=1.0)
    net.add_layer("ab", Linear(3, 2, weight=0.5), a, b)
    net.add_layer("bc", Linear(2, 2, weight=0.5), b, c)
    net.add_layer("cd", Linear(2, 1, weight=0.5), c, d)
    nodes = network_to_nir(net).nodes
    # linear: k = 1 - 0.5; tau = 1e-4/0.5; r = alpha_v/k = 4; v_threshold = 1 - (-0.5)
    np.testing.assert_allclose(nodes["pop_ab_pre"].tau, 2e-4)
    np.testing.assert_allclose(nodes["pop_ab_pre"].r, 4.0)
    np.testing.assert_allclose(nodes["pop_ab_pre"].v_threshold, 1.5)
    # exponential: k = dt/tau_v = 2/4; tau = 1e-4/0.5; g = k*alpha_v = 1.5; r = g/k = alpha_v
    np.testing.assert_allclose(nodes["pop_ab_post"].tau, 2e-4)
    np.testing.assert_allclose(nodes["pop_ab_post"].r, 3.0)
    # decay_v = 1 leaks nothing: an IF node, r = alpha_v/dt = 0.25/1e-4
    assert isinstance(nodes["pop_bc_post"], nir.IF)
    np.testing.assert_allclose(nodes["pop_bc_post"].r, 2500.0)
    # IF: r = 0.5/1e-4; v_threshold = 1 - (-1)
    np.testing.assert_allclose(nodes["pop_cd_post"].r, 5000.0)
    np.testing.assert_allclose(nodes["pop_cd_post"].v_threshold, 2.0)
    rebuilt = network_from_nir(network_to_nir(net))
    assert rebuilt.neurons["ab_post"].tau_v == 4.0 and rebuilt.neurons["ab_post"].dt == 2.0
    assert rebuilt.neurons["cd_post"].v_rest == -1.0


def _net_with(post, conn=None):
    net = SNNNetwork()
    net.add_layer("fc", conn or Linear(2, 2, weight=0.5), IFNeuron(2), post)
    return net


def _recurrent():
    net, a, b = SNNNetwork(), IFNeuron(2), LIFNeuron(2)
    net.add_layer("fwd", Linear(2, 2, weight=0.5), a, b)
    net.add_layer("back", Linear(2, 2, weight=0.5), b, b)
    return net


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: _net_with(AdaptiveLIFNeuron(2)), "adaptive threshold"),
        (lambda: _net_with(FedeNeuron(2)), "trace sum"),
        (lambda: _net_with(LIFNeuron(2, duration_refrac=2.0)), "refractory period"),
        (lambda: _net_with(LIFNeuron(2), Linear(2, 2, weight=0.5, delay=1)), "delays"),
        (_recurrent, "recurrent"),
    ],
)
def test_features_without_a_nir_equivalent_raise_naming_them(make, match):
    with pytest.raises(ValueError, match=match):
        network_to_nir(make())


def test_strict_refuses_the_voltage_floor(tmp_path):
    with pytest.raises(ValueError, match="v_min=0.0.*strict=True"):
        export_nir(small(), tmp_path / "a.nir", strict=True)
    assert not (tmp_path / "a.nir").exists()


# ------------------------------------------------------------- independent simulations
def test_snntorch_simulates_an_exported_lif_agent_to_the_same_spikes(tmp_path):
    """Every population LIF and no v_min: snnTorch's reading equals ours spike for spike."""
    gen = torch.Generator().manual_seed(1)
    src = LIFNeuron(270, decay_v=0.5, thresh=0.5)
    hidden = LIFNeuron(32, decay_v=0.8, v_rest=-0.2)
    out = LIFNeuron(20, update_type="exponential", tau_v=3.0, tau_t=3.0, alpha_v=2.0)
    net = SNNNetwork()
    net.add_layer("hidden", Linear(270, 32, generator=gen), src, hidden, role="readout")
    net.add_layer("output", Linear(32, 20, generator=gen), hidden, out, role="readout")
    net.connections["hidden"].reset_weights("normal", 0.3, 0.3, generator=gen)
    net.connections["output"].reset_weights("normal", 0.5, 0.3, generator=gen)
    agent = small(network=net)
    agent.learn(64)
    graph = nir.read(export_nir(agent, tmp_path / "lif.nir"))
    obs = torch.as_tensor(
        np.random.default_rng(0).uniform(-0.2, 0.2, (3, 8, 4)), dtype=torch.float32
    )
    with torch.no_grad():
        phi = torch.stack([agent.policy.encode(o) for o in obs]).repeat_interleave(10, dim=0)
    spikes = simulate_both(agent.policy.network, graph, phi)  # 30 steps, 8 envs
    assert set(spikes) == {"pop_hidden_pre", "pop_hidden_post", "pop_output_post"}
    for name, (ours, theirs) in spikes.items():
        assert ours.sum() > 0, name
        assert torch.equal(ours, theirs), name


def test_snntorch_simulates_a_conv2d_layer_to_the_same_spikes():
    gen = torch.Generator().manual_seed(0)
    net = SNNNetwork()
    conv = Conv2d(1, 2, 3, input_size=(6, 6), padding=1, stride=2, generator=gen)
    net.add_layer("conv", conv, Input((1, 6, 6)), LIFNeuron((2, 3, 3), decay_v=0.7))
    graph = network_to_nir(net)
    node = graph.nodes["conn_conv"]
    assert isinstance(node, nir.Conv2d) and graph.edges[0] == ("input", "conn_conv")
    assert tuple(node.stride) == (2, 2) and tuple(node.padding) == (1, 1)
    np.testing.assert_array_equal(node.bias, 0.0)
    inputs = (torch.rand(20, 2, 1, 6, 6, generator=gen) < 0.4).float()
    ((ours, theirs),) = simulate_both(net, graph, inputs).values()
    assert ours.sum() > 0 and torch.equal(ours, theirs)


def test_nir_equations_reproduce_the_default_agent_with_its_if_inputs():
    """snnTorch 1.0 cannot read NIR IF nodes (it requires r == 1 and leaks them with
    beta 0.9), so the default network's IF inputs are checked against NIR's equations."""
    agent = small(overrides={"network.neuron.v_min": None})
    graph = network_to_nir(agent.policy.network)
    obs = torch.as_tensor(np.random.default_rng(1).uniform(-0.2, 0.2, (4, 4)), dtype=torch.float32)
    phi = agent.policy.encode(obs).expand(10, -1, -1)
    net = agent.policy.network
    net.reset_state(batch_size=4)
    counts = {"pop_output_pre": 0, "pop_output_post": 0}
    with torch.no_grad():
        for x in phi:
            net(x)
            counts["pop_output_pre"] += net.neurons["output_pre"].spikes
            counts["pop_output_post"] += net.neurons["output_post"].spikes
    reference = euler_counts(graph, phi)
    for name, ours in counts.items():
        assert ours.sum() > 0
        np.testing.assert_array_equal(ours.numpy(), reference[name], err_msg=name)


def test_a_graph_without_snn_rl_metadata_imports_from_its_nir_parameters():
    rng = np.random.default_rng(0)
    lif = dict(v_leak=np.zeros(4), v_reset=np.zeros(4), v_threshold=np.ones(4))
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([3])}),
            "fc": nir.Linear(weight=rng.normal(0.5, 0.5, (4, 3)).astype(np.float32)),
            "lif": nir.LIF(tau=np.full(4, 4e-4), r=np.full(4, 4.0), **lif),
            "output": nir.Output(output_type={"output": np.array([4])}),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
    )
    net = network_from_nir(graph)
    neuron = net.neurons["fc_post"]  # k = dt/tau = 0.25: decay_v = 0.75, alpha_v = r*k = 1
    assert isinstance(net.neurons["fc_pre"], Input)
    assert neuron.decay_v == pytest.approx(0.75) and neuron.alpha_v == pytest.approx(1.0)
    spikes = (torch.rand(40, 2, 3, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    ((ours, theirs),) = simulate_both(net, graph, spikes, {"lif": neuron}).values()
    assert ours.sum() > 0 and torch.equal(ours, theirs)


# ----------------------------------------------------------------- agent round trip
def test_import_predicts_as_the_exported_agent_and_continues_learning_identically(tmp_path):
    agent = small()
    agent.learn(100)
    copy = import_nir(quiet_export(agent, tmp_path / "a.nir"))
    assert type(copy) is MSTDPETAgent and copy.config == agent.config
    assert copy.env_id == "CartPole-v1" and copy.num_timesteps == agent.num_timesteps
    params, again = agent.get_parameters(), copy.get_parameters()
    assert torch.equal(again["policy"]["network.connections.output.weight"],
                       params["policy"]["network.connections.output.weight"])  # fmt: skip
    assert torch.equal(again["critic"]["weight"], params["critic"]["weight"])
    e = params["learners"][0]["state"]["output"]["e_trace"]
    assert e.abs().sum() > 0
    assert torch.equal(again["learners"][0]["state"]["output"]["e_trace"], e)
    obs = np.random.default_rng(0).uniform(-0.2, 0.2, (16, 4)).astype(np.float32)
    a, state_a = agent.predict(obs, deterministic=True)
    b, state_b = copy.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a, b)
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    copy.set_env("CartPole-v1")
    agent.learn(64)
    copy.learn(64)
    for key, value in agent.get_parameters()["policy"].items():
        assert torch.equal(copy.get_parameters()["policy"][key], value), key


def test_metadata_holds_the_documented_convention(tmp_path):
    agent = small()
    agent.learn(20)
    meta = nir.read(quiet_export(agent, tmp_path / "a.nir")).metadata["snn_rl"]
    assert meta["format"] == "snn-rl-nir" and int(meta["format_version"]) == 1
    assert float(meta["dt"]) == NIR_DT and meta["env_id"] == "CartPole-v1"
    assert json.loads(meta["config"]) == json.loads(json.dumps(agent.config.to_dict()))
    info = json.loads(meta["agent"])
    assert info["algo"] == "mstdpet" and info["class"] == "MSTDPETAgent" and info["seed"] == 0
    assert info["env_kwargs"] == {} and info["max_episode_steps"] is None
    (rule,) = json.loads(meta["learning"])
    assert rule["rule"] == "MSTDPET" and rule["role"] == "readout" and rule["per_env"] is True
    group = rule["param_groups"][0]
    assert (group["lr"], group["a_pre"], group["a_post"]) == (0.01, 1.0, 0.0)
    assert group["e_trace_decay"] == 0.97793 and group["layers"] == ["output"]
    assert json.loads(meta["encoder"])["class"] == "ConjunctiveGaussianEncoder"
    decoder = json.loads(meta["decoder"])
    assert (decoder["pop_size"], decoder["decision_steps"], decoder["feedback_steps"]) == (10, 5, 5)
    ref = json.loads(meta["state"])["learners"][0]["state"]["output"]["e_trace"]
    values = np.asarray(meta["tensors"][ref["tensor"]]).reshape(ref["shape"])
    e = agent.learners[0].rule.state["output"]["e_trace"]
    np.testing.assert_array_equal(values, e.numpy())
    layers = json.loads(meta["network"])["layers"]
    assert layers == [
        {
            "name": "output",
            "connection": "conn_output",
            "pre": "pop_output_pre",
            "post": "pop_output_post",
            "role": "readout",
        }
    ]


def test_import_refuses_files_it_cannot_use(tmp_path):
    text = tmp_path / "a.nir"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match="not a readable NIR file"):
        import_nir(text)
    bare = tmp_path / "net.nir"
    nir.write(bare, network_to_nir(_net_with(LIFNeuron(2))))
    with pytest.raises(ValueError, match="network_from_nir"):
        import_nir(bare)
    with pytest.raises(FileNotFoundError):
        import_nir(tmp_path / "missing.nir")
    graph = network_to_nir(_net_with(LIFNeuron(2)))
    graph.nodes["pop_fc_post"].v_threshold = np.full(2, 3.0)  # edited after export
    with pytest.raises(ValueError, match="differ from the exact snn_rl parameters"):
        network_from_nir(graph)


# ------------------------------------------------------------------------------ CLI
def test_cli_exports_a_trained_agent_end_to_end(tmp_path, capsys):
    agent = small()
    agent.learn(300)
    model = agent.save(tmp_path / "model.zip")
    target = tmp_path / "out" / "cartpole.nir"
    assert main(["export", str(model), "--nir", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {target}" in out and "note: NIR export approximates" in out
    copy = import_nir(target)
    weight = agent.policy.network.connections["output"].weight
    assert torch.equal(copy.policy.network.connections["output"].weight, weight)
    assert copy.num_timesteps == agent.num_timesteps >= 300


def test_cli_export_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    missing = tmp_path / "missing.zip"
    assert main(["export", str(missing), "--nir", str(blocker / "a.nir")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("snn-rl export: error:") and "--nir" in err
    assert main(["export", str(missing), "--nir", str(tmp_path / "a.nir")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no checkpoint" in err
    model = small(n_envs=1).save(tmp_path / "model.zip")
    assert main(["export", str(model), "--nir", str(tmp_path / "a.nir"), "--strict"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "v_min" in err
    assert not (tmp_path / "a.nir").exists()
