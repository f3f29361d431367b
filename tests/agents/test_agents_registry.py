"""The agent registry: a tiny agent defined here trains, saves, loads and compares through it."""

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from snn_rl import IFNeuron, LIFNeuron, Linear, SNNNetwork
from snn_rl.agents import AGENTS, SpikingAgent, register_agent
from snn_rl.agents.base import AgentParts
from snn_rl.agents.cli import main as cli
from snn_rl.agents.compare import compare
from snn_rl.agents.config import AgentConfig
from snn_rl.agents.critics import RPEConfig
from snn_rl.agents.learners import ReadoutLearner
from snn_rl.agents.policy import Exploration, SpikingPolicy
from snn_rl.agents.sections import EncoderConfig
from snn_rl.learning import MSTDP

ENV = "snn_rl/Bandit-v0"


@dataclass(frozen=True)
class TinyConfig(AgentConfig):
    """One layer trained by MSTDP (no eligibility trace), modulated by the reward's RPE."""

    n_envs: int = 4
    pop_size: int = 4
    lr: float = 0.05
    epsilon: float = 0.2

    def validate(self) -> None:
        super().validate()
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


class TinyAgent(SpikingAgent):
    config_class = TinyConfig

    def _build(self, network):
        cfg = self.config
        encoder = EncoderConfig().build(self.observation_space)
        n_out = int(self.action_space.n) * cfg.pop_size
        if network is None:
            network = SNNNetwork()
            gen = torch.Generator().manual_seed(self.seed)
            network.add_layer(
                "out",
                Linear(encoder.out_features, n_out, generator=gen),
                IFNeuron(encoder.out_features),
                LIFNeuron(n_out, v_min=0.0),
                role="readout",
            )
        exploration = Exploration(
            "epsilon",
            self.action_space,
            pop_size=cfg.pop_size,
            temperature=1.0,
            generator=self.generator,
            schedule=lambda progress: cfg.epsilon,
        )
        policy = SpikingPolicy(
            encoder,
            network,
            self.action_space,
            exploration,
            pop_size=cfg.pop_size,
            decision_steps=4,
            feedback_steps=2,
            feedback_current=2.0,
        ).to(self.device)
        rule = MSTDP(network.layer_state_dict(role="readout"), a_pre=1.0, a_post=0.0, lr=cfg.lr)
        critic = RPEConfig(alpha=0.1).build(
            encoder.out_features, seed=self.seed, device=self.device
        )
        return AgentParts(policy=policy, critic=critic, learners=[ReadoutLearner(rule)])


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yml"
    path.write_text(f"{ENV}:\n  n_timesteps: 96\n  lr: 0.1\n")
    register_agent("tiny", TinyAgent, hyperparams=path)
    yield TinyAgent
    AGENTS.pop("tiny", None)


def test_registered_agent_trains_saves_and_loads_generically(tiny, tmp_path):
    agent = tiny(ENV, seed=0, device="cpu")
    assert agent.config == TinyConfig(lr=0.1)  # the tuned YAML entry applies
    assert "TinyAgent(env='snn_rl/Bandit-v0'" in repr(agent) and "MSTDP on ['out']" in repr(agent)
    before = agent.policy.network.connections["out"].weight.clone()
    agent.learn(64)
    assert not torch.equal(before, agent.policy.network.connections["out"].weight)
    path = agent.save(tmp_path / "tiny_model")
    loaded = SpikingAgent.load(path, device="cpu")
    assert type(loaded) is TinyAgent and loaded.config == agent.config
    obs = np.zeros(6, dtype=np.int64)
    assert np.array_equal(
        loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0]
    )
    from snn_rl.agents import MSTDPETAgent

    with pytest.raises(ValueError, match="holds a TinyAgent, not a MSTDPETAgent"):
        MSTDPETAgent.load(path)
    AGENTS.pop("tiny")
    with pytest.raises(ValueError, match="'tiny' agent, which is not registered"):
        SpikingAgent.load(path)


def test_registered_agent_in_compare_and_the_cli(tiny, tmp_path, capsys):
    rows = compare(
        ENV,
        ["tiny", "a2c"],
        [0],
        output=tmp_path / "cmp",
        total_timesteps=64,
        eval_freq=32,
        eval_episodes=4,
        plot=False,
        verbose=False,
    )
    assert [row["algo"] for row in rows] == ["tiny", "a2c"]
    done = json.loads((tmp_path / "cmp" / "runs" / "tiny_0.done.json").read_text())
    assert done["hyperparams"]["lr"] == 0.1 and done["num_timesteps"] >= 64
    out = tmp_path / "run"
    args = ["train", ENV, "--algo", "tiny", "--set", "lr=0.2", "--output", str(out)]
    assert cli([*args, "--device", "cpu", "--eval-episodes", "2", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algo"] == "tiny" and summary["total_timesteps"] >= 96  # the YAML budget
    assert cli(["evaluate", str(out / "model.zip"), "--episodes", "2", "--device", "cpu"]) == 0
    assert cli(["train", ENV, "--algo", "nope", "--total-timesteps", "1"]) == 2
    assert (
        "unknown spiking agent 'nope'; registered: ['mstdpet', 'tiny']" in capsys.readouterr().err
    )


def test_register_agent_checks_its_arguments(tiny):
    with pytest.raises(ValueError, match="already registered"):
        register_agent("tiny", type("Other", (TinyAgent,), {}))
    with pytest.raises(ValueError, match="name of an SB3 baseline"):
        register_agent("ppo", TinyAgent)
    with pytest.raises(ValueError, match="lower-case identifier"):
        register_agent("Tiny Agent", TinyAgent)
    with pytest.raises(TypeError, match="SpikingAgent subclass"):
        register_agent("dictagent", dict)
    with pytest.raises(FileNotFoundError, match="hyperparams"):
        register_agent("tiny2", TinyAgent, hyperparams="/no/such/file.yml")
