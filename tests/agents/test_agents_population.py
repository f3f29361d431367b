"""AgentPopulation: agent a of a batched population equals the agent of seed a run alone."""

import numpy as np
import pytest
import torch
from stable_baselines3.common.callbacks import ConvertCallback

from snn_rl.agents import AgentPopulation, MSTDPETAgent, SpikingAgent


class _StopAfter:
    """A callback that stops training after ``n`` vector steps."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __call__(self, locals_, globals_) -> bool:
        self.calls += 1
        return self.calls < self.n


def conn_of(agent: SpikingAgent, name: str) -> torch.Tensor:
    return agent.policy.network.connections[name].weight


# The batch steps each agent's own vector env (Acrobot: a SyncVectorEnv; CartPole: its
# native vector env with one random stream), so agent a sees the episodes of its run alone.
@pytest.mark.parametrize(
    "env_id, overrides",
    [
        ("Acrobot-v1", {}),
        ("CartPole-v1", {}),
        (
            "Acrobot-v1",
            {"critic": {"type": "td", "normalize": True}, "exploration.type": "softmax"},
        ),
        (
            "CartPole-v1",
            {"features": [{"size": 8, "target_rate": 0.05}, {"size": 6, "frozen": True}]},
        ),
    ],
    ids=["acrobot", "cartpole", "normalized_softmax", "fede_features"],
)
def test_each_member_equals_the_agent_of_its_seed_alone(env_id, overrides):
    seeds, steps = [3, 11], 40
    pop = AgentPopulation(env_id, seeds, device="cpu", overrides=overrides)
    pop.learn(10_000, callbacks=[ConvertCallback(_StopAfter(steps)) for _ in seeds])
    for member, seed in zip(pop.members, seeds, strict=True):
        alone = MSTDPETAgent(env_id, seed=seed, device="cpu", overrides=overrides)
        alone.learn(10_000, callback=_StopAfter(steps))
        assert member.num_timesteps == alone.num_timesteps
        assert member._episode_num == alone._episode_num
        for name, conn in alone.policy.network.connections.items():
            torch.testing.assert_close(
                member.policy.network.connections[name].weight, conn.weight, atol=1e-5, rtol=0
            )
        ours, theirs = member.critic.state_dict(), alone.critic.state_dict()
        torch.testing.assert_close(ours["weight"], theirs["weight"], atol=1e-5, rtol=0)
        assert ours["feature_norm_sq"] == pytest.approx(theirs["feature_norm_sq"])
        e_ours = member.learners[0].eligibility()["output"]
        torch.testing.assert_close(
            e_ours, alone.learners[0].eligibility()["output"], atol=1e-5, rtol=0
        )
        assert torch.equal(member.generator.get_state(), alone.generator.get_state())
        if "features" in overrides:  # FedeSTDP moved each member's features, from its own rows
            start = MSTDPETAgent(env_id, seed=seed, device="cpu", overrides=overrides)
            moved = start.policy.network.connections["features0"].weight
            assert float((conn_of(member, "features0") - moved).abs().max()) > 1e-3
            offsets = [
                a.policy.network.neurons["features0_post"].thresh_offset for a in (member, alone)
            ]
            torch.testing.assert_close(*offsets, atol=1e-5, rtol=0)  # its own homeostasis
            assert float(offsets[0].abs().max()) > 0
            assert torch.equal(
                conn_of(member, "features1"), start.policy.network.connections["features1"].weight
            )  # frozen
    # the members learned different things: they are not one agent copied
    w = [m.policy.network.connections["output"].weight for m in pop.members]
    assert float((w[0] - w[1]).abs().max()) > 1e-2


def test_members_train_their_budget_save_and_load_as_ordinary_agents(tmp_path):
    pop = AgentPopulation("CartPole-v1", [0, 1, 2], device="cpu")
    pop.learn(300)
    assert all(m.num_timesteps >= 300 for m in pop.members)
    assert pop.num_timesteps == sum(m.num_timesteps for m in pop.members)
    assert all(m._episode_num > 0 for m in pop.members)
    paths = pop.save(tmp_path)
    assert [p.name for p in paths] == ["seed_0.zip", "seed_1.zip", "seed_2.zip"]
    obs = np.random.default_rng(0).normal(0, 0.1, (8, 4)).astype(np.float32)
    for member, path in zip(pop.members, paths, strict=True):
        loaded = SpikingAgent.load(path, device="cpu")
        assert isinstance(loaded, MSTDPETAgent) and loaded.seed == member.seed
        assert loaded.num_timesteps == member.num_timesteps
        for name, conn in member.policy.network.connections.items():
            assert torch.equal(loaded.policy.network.connections[name].weight, conn.weight)
        np.testing.assert_array_equal(
            loaded.predict(obs, deterministic=True)[0], member.predict(obs, deterministic=True)[0]
        )
    # a second learn call continues every member
    before = [m.num_timesteps for m in pop.members]
    pop.learn(100)
    assert all(m.num_timesteps >= b + 100 for m, b in zip(pop.members, before, strict=True))


def test_a_population_of_one_is_that_agent():
    pop = AgentPopulation("Acrobot-v1", [5], device="cpu")
    pop.learn(10_000, callbacks=[ConvertCallback(_StopAfter(20))])
    alone = MSTDPETAgent("Acrobot-v1", seed=5, device="cpu")
    alone.learn(10_000, callback=_StopAfter(20))
    for name, conn in alone.policy.network.connections.items():
        assert torch.equal(pop.members[0].policy.network.connections[name].weight, conn.weight)
    assert torch.equal(pop.members[0].critic.weight, alone.critic.weight)


def test_torch_native_envs_run_as_one_population():
    pop = AgentPopulation("snn_rl/CartPole-v1", [0, 1], device="cpu", n_envs=4)
    pop.learn(200)
    assert pop.runner.n_envs == 8
    assert all(m.num_timesteps >= 200 for m in pop.members)


def test_bad_populations_get_clear_errors():
    with pytest.raises(ValueError, match="seeds is empty"):
        AgentPopulation("CartPole-v1", [], device="cpu")
    with pytest.raises(ValueError, match="seeds must be distinct"):
        AgentPopulation("CartPole-v1", [1, 1], device="cpu")
    with pytest.raises(TypeError, match="seeds must be a sequence of ints"):
        AgentPopulation("CartPole-v1", 3, device="cpu")
    with pytest.raises(TypeError, match=r"seeds\[i\] must be an int"):
        AgentPopulation("CartPole-v1", [0, 1.5], device="cpu")
    with pytest.raises(TypeError, match="env must be a Gymnasium env id"):
        AgentPopulation(None, [0], device="cpu")
    with pytest.raises(ValueError, match="SpikingTDCritic cannot run in a population"):
        AgentPopulation(
            "CartPole-v1", [0, 1], device="cpu", overrides={"critic": {"type": "spiking_td"}}
        )
    pop = AgentPopulation("CartPole-v1", [0, 1], device="cpu")
    with pytest.raises(ValueError, match=r"callbacks must hold one entry per agent \(2\), got 1"):
        pop.learn(10, callbacks=[None])


# Hyperparameter variants: agent a runs with its own rule, critic, schedule, exploration
# and efference settings (one value per agent inside the batch), as the agent alone would.
VARIANTS = [
    {"rule.lr": 0.01, "critic.gamma": 0.9, "schedule.lr_final": 0.001},
    {
        "rule.lr": 0.003,
        "rule.a_post": 0.5,
        "rule.e_trace_decay": 0.9,
        "rule.w_max": 0.5,
        "critic.lr": 0.05,
        "critic.init_value": 1.0,
        "exploration.initial_eps": 0.4,
        "exploration.fraction": 0.5,
        "windows.feedback_current": 3.0,
        "network.weight_init_mean": 0.2,
    },
]


def test_variants_train_each_agent_with_its_own_hyperparameters(tmp_path):
    steps = 40  # Acrobot: no episode ends this early, so every agent's progress is equal
    pop = AgentPopulation("Acrobot-v1", [5, 5], variants=VARIANTS, n_envs=4, device="cpu")
    assert "rule.lr" in pop.varied and "critic.gamma" in pop.varied
    pop.learn(2_000, callbacks=[ConvertCallback(_StopAfter(steps)) for _ in VARIANTS])
    for member, variant in zip(pop.members, VARIANTS, strict=True):
        alone = MSTDPETAgent("Acrobot-v1", overrides=variant, n_envs=4, seed=5, device="cpu")
        alone.learn(2_000, callback=_StopAfter(steps))
        assert member.config == alone.config
        torch.testing.assert_close(
            member.policy.network.connections["output"].weight,
            alone.policy.network.connections["output"].weight,
            atol=1e-5,
            rtol=0,
        )
        torch.testing.assert_close(member.critic.weight, alone.critic.weight, atol=1e-5, rtol=0)
        ours, theirs = member.learners[0].state_dict(), alone.learners[0].state_dict()
        assert ours["param_groups"][0]["lr"] == pytest.approx(theirs["param_groups"][0]["lr"])
        assert member._exploration_rate == pytest.approx(alone._exploration_rate)
    assert float(pop.members[1].policy.network.connections["output"].weight.max()) <= 0.5 + 1e-6
    # the same seed twice: members are saved by their place in the population
    assert [p.name for p in pop.save(tmp_path)] == ["agent_0_seed_5.zip", "agent_1_seed_5.zip"]


def test_variants_get_clear_errors():
    with pytest.raises(ValueError, match=r"differ in \['network.pop_size'\].*can vary"):
        AgentPopulation("CartPole-v1", [0, 1], variants=[{}, {"network.pop_size": 5}])
    with pytest.raises(ValueError, match=r"one overrides mapping per agent \(2 seeds\), got 1"):
        AgentPopulation("CartPole-v1", [0, 1], variants=[{}])
    with pytest.raises(TypeError, match=r"variants\[1\] must be an overrides mapping"):
        AgentPopulation("CartPole-v1", [0, 1], variants=[{}, 0.1])
    with pytest.raises(TypeError, match="variants must be a list of overrides mappings"):
        AgentPopulation("CartPole-v1", [0, 1], variants={"rule.lr": 0.1})
    with pytest.raises(ValueError, match="seeds must be distinct"):
        AgentPopulation("CartPole-v1", [0, 0])


def test_agents_learn_with_subnormals_flushed_and_restore_the_mode(monkeypatch):
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormal floats")

    def tiny_survives() -> bool:
        return float(torch.tensor([1e-39]) * 1.0) != 0.0

    seen = []
    agent = MSTDPETAgent("CartPole-v1", seed=0, device="cpu", n_envs=2)
    pop = AgentPopulation("CartPole-v1", [0, 1], device="cpu", n_envs=2)
    for runner in (agent, pop.runner):
        original = runner._train_step

        def spy(*args, _original=original, **kwargs):
            seen.append(tiny_survives())
            return _original(*args, **kwargs)

        monkeypatch.setattr(runner, "_train_step", spy)
    agent.learn(20)
    pop.learn(20)
    assert len(seen) >= 20 and not any(seen)
    assert tiny_survives()  # the mode is back afterwards


def test_an_invalid_variant_is_named_by_its_index():
    from snn_rl.agents.population import VariantError

    with pytest.raises(VariantError, match=r"variants\[1\]\.rule\.lr must be >= 0") as err:
        AgentPopulation("CartPole-v1", [0, 1], variants=[{}, {"rule.lr": -1.0}])
    assert err.value.agent == 1


def test_box_action_variants_explore_with_their_own_noise():
    variants = [{"exploration.final_eps": 0.05}, {"exploration.final_eps": 0.4, "rule.lr": 0.02}]
    steps = 30  # Pendulum: 200-step episodes, none ends this early
    pop = AgentPopulation("Pendulum-v1", [1, 1], variants=variants, n_envs=2, device="cpu")
    pop.learn(1_000, callbacks=[ConvertCallback(_StopAfter(steps)) for _ in variants])
    for member, variant in zip(pop.members, variants, strict=True):
        alone = MSTDPETAgent("Pendulum-v1", overrides=variant, n_envs=2, seed=1, device="cpu")
        alone.learn(1_000, callback=_StopAfter(steps))
        torch.testing.assert_close(
            member.policy.network.connections["output"].weight,
            alone.policy.network.connections["output"].weight,
            atol=1e-5,
            rtol=0,
        )
        assert member._exploration_rate == pytest.approx(variant["exploration.final_eps"])
