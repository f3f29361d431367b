"""Typed configuration: YAML and checkpoint round trips, field-named errors, overrides."""

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml

from snn_rl import IFNeuron, LIFNeuron, Linear, SNNNetwork
from snn_rl.agents import ConfigError, MSTDPETAgent, MSTDPETConfig
from snn_rl.agents.checkpoint import read_checkpoint
from snn_rl.agents.critics import RPEConfig, TDCriticConfig
from snn_rl.agents.sections import FeatureLayerConfig, RuleConfig
from snn_rl.agents.spiking_critic import SpikingCriticConfig
from snn_rl.envs.rewards import EnvReward, SumReward, TerminalReward


def resolved(env_id="CartPole-v1", **overrides):
    return MSTDPETAgent(env_id, n_envs=2, seed=0, device="cpu", overrides=overrides).config


def test_tuned_entry_and_overrides_resolve_in_order():
    cfg = resolved()
    assert cfg.n_envs == 2 and cfg.encoder.n_per_dim == (3, 3, 6, 5)
    assert cfg.reward == TerminalReward(-1.0) and cfg.critic == TDCriticConfig()
    assert MSTDPETConfig() != cfg  # the generic defaults differ from the tuned entry
    cfg = resolved(**{"rule": {"lr": 0.02}, "critic.gamma": 0.9})
    assert cfg.rule.lr == 0.02 and cfg.rule.a_pre == 1.0 and cfg.rule.w_max == 3.0
    assert cfg.critic.gamma == 0.9 and cfg.critic.lam == 0.8


def test_changing_a_tagged_type_starts_from_its_defaults_in_any_order():
    for overrides in (
        {"critic.gamma": 0.9, "critic.type": "spiking_td"},
        {"critic": {"type": "spiking_td", "gamma": 0.9}},
    ):
        cfg = resolved(**overrides)
        assert cfg.critic == SpikingCriticConfig(gamma=0.9)
    assert resolved(critic="rpe").critic == RPEConfig()
    assert resolved(reward={"type": "env", "scale": 0.01}).reward == EnvReward(scale=0.01)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"rule.lr": -1.0}, r"rule.lr must be >= 0, got -1.0"),
        ({"rule.lr": "fast"}, r"rule.lr must be a number, got 'fast'"),
        ({"rule.lrr": 1.0}, r"rule.lrr is not a field of RuleConfig; valid fields"),
        (
            {"critic.type": "tdd"},
            r"critic.type must be one of \['none', 'rpe', 'spiking_td', 'td'\]",
        ),
        ({"features": [{"lr": 0.1}]}, r"features\[0\].size is required"),
        ({"features": [{"size": 0}]}, r"features\[0\].size must be >= 1"),
        ({"network.hidden_sizes": [8, "x"]}, r"network.hidden_sizes\[1\] must be an int"),
        ({"network.neuron.decay_v": 1.5}, r"network.neuron.decay_v must lie in \[0, 1\]"),
        ({"n_envs": 0}, r"n_envs must be >= 1, got 0"),
        (
            {"exploration.type": "greedy"},
            r"exploration.type must be one of \['epsilon', 'softmax'\]",
        ),
        ({"rule.lr.x": 1}, r"rule.lr is not a section"),
        ({"reward": {"type": "env", "scale": float("nan")}}, r"reward.scale must be finite"),
        ({"reward.value": "x"}, r"reward.value must be a number, got 'x'"),
    ],
)
def test_errors_name_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolved(**overrides)


def test_direct_construction_converts_and_validates_once():
    cfg = MSTDPETConfig(rule={"lr": 0.5}, features=[{"size": 4}], critic="none")
    assert isinstance(cfg.rule, RuleConfig) and cfg.rule.lr == 0.5
    assert cfg.features == (FeatureLayerConfig(size=4),)
    with pytest.raises(ConfigError, match="lr must be a number"):
        RuleConfig(lr="fast")
    with pytest.raises(AttributeError):
        cfg.n_envs = 3  # frozen: validated once, changed only through merged()/replace()
    assert cfg.replace(n_envs=3).n_envs == 3


def test_yaml_round_trip_of_nested_sections_and_tagged_unions():
    cfg = resolved(
        **{
            "features": [{"size": 8, "lr": 0.002}, {"size": 4}],
            "critic": {"type": "spiking_td", "n_neurons": 20},
            "reward": SumReward((EnvReward(scale=0.5), TerminalReward(-2.0)), (1.0, 0.25)),
            "network.hidden_sizes": [16],
        }
    )
    text = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    back = MSTDPETConfig.from_dict(yaml.safe_load(text))
    assert back == cfg
    assert yaml.safe_load(text)["critic"]["type"] == "spiking_td"


def test_shipped_yaml_entries_are_valid_configs():
    from snn_rl.agents.hyperparams import tuned_env_ids
    from snn_rl.agents.registry import tuned_settings

    for env_id in tuned_env_ids("mstdpet"):
        overrides, budget, source = tuned_settings("mstdpet", env_id)
        cfg = MSTDPETConfig().merged(overrides, source=source)
        assert budget and budget > 0 and isinstance(cfg, MSTDPETConfig)


def test_checkpoint_round_trip_keeps_the_config(tmp_path):
    agent = MSTDPETAgent(
        "CartPole-v1",
        n_envs=2,
        seed=0,
        device="cpu",
        overrides={"critic": "rpe", "network.hidden_sizes": [8], "exploration.type": "softmax"},
    )
    agent.learn(20)
    loaded = MSTDPETAgent.load(agent.save(tmp_path / "a"), device="cpu")
    assert loaded.config == agent.config
    data = read_checkpoint(tmp_path / "a.zip", torch.device("cpu"))
    assert data["config"] == agent.config.to_dict() and data["format_version"] == 3


def test_old_checkpoints_are_refused_naming_the_format(tmp_path):
    torch.save({"format": "snn-rl-agent", "format_version": 1}, tmp_path / "old.zip")
    with pytest.raises(ValueError, match="checkpoint format 1 .*reads formats 2, 3"):
        MSTDPETAgent.load(tmp_path / "old.zip")


def test_a_format_2_feature_checkpoint_loads_with_the_network_it_was_saved_with(tmp_path):
    """Format 2 predates w_spread, winners and feature_skip: its feature layers were all at
    w_init, without competition or skip, and load so (not with today's defaults)."""
    import io
    import json
    import zipfile

    from snn_rl.agents.checkpoint import _digest

    old = {"features": [{"size": 6, "w_spread": 0.0, "winners": None}]}
    agent = MSTDPETAgent(
        "CartPole-v1", n_envs=2, seed=0, device="cpu",
        overrides={**old, "network.feature_skip": False},
    )  # fmt: skip
    agent.learn(20)
    path = agent.save(tmp_path / "v3.zip")
    with zipfile.ZipFile(path) as archive:
        header = json.loads(archive.read("snn-rl.json"))
        data = torch.load(io.BytesIO(archive.read("checkpoint.pt")), weights_only=True)
    for feature in data["config"]["features"]:  # what a format-2 file holds
        del feature["w_spread"], feature["winners"]
    del data["config"]["network"]["feature_skip"]
    data["format_version"] = 2
    buffer = io.BytesIO()
    torch.save(data, buffer)
    payload = buffer.getvalue()
    header.update(format_version=2, size=len(payload), sha256=_digest(payload))
    with zipfile.ZipFile(tmp_path / "v2.zip", "w") as archive:
        archive.writestr("snn-rl.json", json.dumps(header))
        archive.writestr("checkpoint.pt", payload)
    loaded = MSTDPETAgent.load(tmp_path / "v2.zip", device="cpu")
    assert loaded.config == agent.config
    assert "skip" not in loaded.policy.network.roles
    obs = np.zeros((3, 4), dtype=np.float32)
    assert np.array_equal(
        loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0]
    )


def test_custom_reward_function_is_reported_and_must_be_passed_to_load(tmp_path):
    def shaped(tr):
        return 1.0 - tr.next_obs[:, 0].abs() / 2.4

    agent = MSTDPETAgent("CartPole-v1", n_envs=2, seed=0, device="cpu", reward=shaped)
    assert agent.config.reward.fn is shaped and agent.config.critic == TDCriticConfig()
    assert agent.config.to_dict()["reward"] == {"type": "custom", "name": "shaped"}
    path = agent.save(tmp_path / "custom")
    with pytest.raises(ValueError, match="pass reward="):
        MSTDPETAgent.load(path)
    loaded = MSTDPETAgent.load(path, reward=shaped, device="cpu")
    assert loaded.config == agent.config
    with pytest.raises(ConfigError, match="custom reward function"):
        MSTDPETConfig.from_dict(agent.config.to_dict())


def _net(roles):
    net = SNNNetwork()
    inp, hid, out = IFNeuron(270), LIFNeuron(16, v_min=0.0), LIFNeuron(20, v_min=0.0)
    g = torch.Generator().manual_seed(0)
    net.add_layer("hid", Linear(270, 16, weight=0.3), inp, hid, role=roles[0])
    net.add_layer("out", Linear(16, 20, generator=g), hid, out, role=roles[1])
    return net


def test_layer_roles_of_a_user_network_decide_what_trains():
    with pytest.raises(ValueError, match=r"layers \['hid'\] declare no role"):
        MSTDPETAgent("CartPole-v1", n_envs=2, seed=0, device="cpu", network=_net([None, "readout"]))
    net = _net(["fixed", "readout"])
    agent = MSTDPETAgent("CartPole-v1", n_envs=2, seed=0, device="cpu", network=net)
    assert [lr.layer_names for lr in agent.learners] == [["out"]]
    fixed = net.connections["hid"].weight.clone()
    agent.learn(40)
    assert torch.equal(net.connections["hid"].weight, fixed)
    net.set_role("hid", "readout")
    both = MSTDPETAgent("CartPole-v1", n_envs=2, seed=0, device="cpu", network=net)
    assert both.learners[0].layer_names == ["hid", "out"]
    with pytest.raises(ValueError, match="role must be one of"):
        net.set_role("hid", "teacher")


def test_default_network_declares_roles_not_names():
    agent = MSTDPETAgent(
        "CartPole-v1",
        n_envs=2,
        seed=0,
        device="cpu",
        overrides={"features": [{"size": 12, "lr": 0.01}], "network.hidden_sizes": [16]},
    )
    roles = agent.policy.network.roles
    assert roles == {
        "features": "features",
        "hidden0": "readout",
        "skip": "readout",
        "output": "readout",
    }
    assert [type(lr.rule).__name__ for lr in agent.learners] == ["MSTDPET", "FedeSTDP"]
    assert agent.learners[0].layer_names == ["hidden0", "skip", "output"]
    before = agent.policy.network.connections["features"].weight.clone()
    agent.learn(100)
    after = agent.policy.network.connections["features"].weight
    assert torch.isfinite(after).all() and not torch.equal(before, after)


@pytest.mark.parametrize("hidden", [[], [16]])
def test_feature_skip_feeds_the_input_code_to_the_first_readout_population(hidden):
    overrides = {"features": [{"size": 12}], "network.hidden_sizes": hidden}
    agent = MSTDPETAgent(
        "CartPole-v1", n_envs=2, seed=0, device="cpu",
        overrides={**overrides, "network.feature_skip": True},
    )  # fmt: skip
    net = agent.policy.network
    first = "hidden0" if hidden else "output"
    assert net.roles["skip"] == "readout" and "skip" in agent.learners[0].layer_names
    assert net.connections["skip"].weight.shape == (net.connections[first].weight.shape[0], 270)
    before = net.connections["skip"].weight.clone()
    agent.learn(100)
    assert not torch.equal(before, net.connections["skip"].weight)  # MSTDPET trains it
    plain = MSTDPETAgent(
        "CartPole-v1", n_envs=2, seed=0, device="cpu",
        overrides={**overrides, "network.feature_skip": False},
    )  # fmt: skip
    assert "skip" not in plain.policy.network.roles
    no_features = MSTDPETAgent("CartPole-v1", seed=0, overrides={"network.feature_skip": True})
    assert "skip" not in no_features.policy.network.roles  # nothing to skip


def test_config_argument_is_used_as_given():
    cfg = MSTDPETConfig(n_envs=3)
    agent = MSTDPETAgent(gym.make("Acrobot-v1"), config=cfg, seed=0, device="cpu")
    assert agent.config == cfg  # no tuned entry applied to a given config
    assert MSTDPETAgent(gym.make("Acrobot-v1"), seed=0, device="cpu").config != cfg
    with pytest.raises(TypeError, match="config must be a MSTDPETConfig or a mapping"):
        MSTDPETAgent("CartPole-v1", config=3)
