"""Training loop: reward timing, SB3 callbacks, logger keys, learning a bandit, the CLI."""

import csv
import json
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.logger import configure

import snn_rl.envs  # noqa: F401
from snn_rl.agents import MSTDPETAgent, evaluate
from snn_rl.agents.callbacks import ScheduledEvaluation
from snn_rl.agents.cli import main as cli
from snn_rl.agents.report import first_reach, sustained_from


def test_reward_of_step_t_modulates_the_eligibility_of_action_t():
    """W(after step t) - W(before) = lr * mean_b(signal_b * E_b), E read when the signal is
    computed: after the decision and efference windows of action t, before resets."""
    seen = {}
    updates = []

    def modulator(tr):
        rule = seen["agent"].learners[0].rule
        seen["e"] = rule.state["output"]["e_trace"].clone()
        seen["w"] = seen["agent"].policy.network.connections["output"].weight.clone()
        seen["updates_at_signal"] = len(updates)
        return torch.linspace(-1.0, 1.0, tr.num_envs)

    agent = MSTDPETAgent(
        "CartPole-v1",
        n_envs=3,
        seed=0,
        device="cpu",
        reward=modulator,
        overrides={"critic": "none", "rule": {"w_min": -100.0, "w_max": 100.0, "lr": 0.5}},
    )
    seen["agent"] = agent
    learner = agent.learners[0]
    original = learner.after_sim_step

    def counting_update(window):
        updates.append(window)
        original(window)

    learner.after_sim_step = counting_update
    agent.learn(3)  # one vector step of 3 envs
    cfg = agent.config
    assert seen["updates_at_signal"] == cfg.windows.decision_steps + cfg.windows.feedback_steps
    w_after = agent.policy.network.connections["output"].weight
    r = torch.linspace(-1.0, 1.0, 3).view(3, 1, 1)
    expected = seen["w"] + cfg.rule.lr * (r * seen["e"]).mean(0)
    assert torch.allclose(w_after, expected, atol=1e-6)
    assert seen["e"].abs().sum() > 0


def test_logger_records_learning_and_plasticity_keys(tmp_path):
    agent = MSTDPETAgent("CartPole-v1", n_envs=4, seed=0, device="cpu")
    agent.set_logger(configure(str(tmp_path), ["csv"]))
    agent.learn(600, log_interval=200)
    with open(tmp_path / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 3
    keys = set(rows[-1])
    for key in (
        "rollout/ep_rew_mean",
        "time/fps",
        "time/total_timesteps",
        "rollout/exploration_rate",
        "snn/firing_rate/output",
        "snn/silent_fraction/output",
        "snn/eligibility_abs/output",
        "snn/mean_abs_dw",
        "snn/weight_norm/output",
        "snn/weight_drift/output",
        "snn/selectivity/output",
        "modulator/mean",
        "modulator/std",
        "train/learning_rate",
    ):
        assert key in keys, key
    last = rows[-1]
    assert 0.0 < float(last["snn/firing_rate/output"]) <= 1.0
    assert float(last["snn/mean_abs_dw"]) > 0.0
    assert float(last["snn/weight_drift/output"]) > 0.0
    assert 0.0 <= float(last["snn/selectivity/output"]) <= 1.0
    assert 8.0 <= float(last["rollout/ep_rew_mean"]) <= 500.0


def test_selectivity_is_zero_for_uniform_answers_and_one_for_a_single_sample():
    from snn_rl.agents.diagnostics import Diagnostics

    class Layer:
        def __init__(self):
            self.spikes = torch.zeros(4, 3)

    post = Layer()
    conn = torch.nn.Linear(2, 3, bias=False)
    diag = Diagnostics({"l": {"connection": conn, "postsynaptic": post}}, ["l"], every=1)

    def step(spikes):
        assert diag.sampling()
        post.spikes = spikes
        diag.after_sim_step()
        diag.after_env_step(torch.zeros(4), torch.ones(4, dtype=torch.bool))

    # neuron 0 fires for every sample, neuron 1 for one sample of 8, neuron 2 never
    step(torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    step(torch.tensor([[1.0, 0.0, 0.0]] * 4))
    assert diag.samples == 8
    assert diag.selectivity("l") == pytest.approx((0.0 + 1.0) / 2)
    recorded = {}
    diag.record(SimpleNamespace(record=lambda key, value, **kw: recorded.update({key: value})), {})
    assert recorded["snn/silent_fraction/l"] == pytest.approx(1 / 3)  # neuron 2 never fired
    assert recorded["snn/selectivity/l"] == pytest.approx(0.5)


def test_agent_learns_the_bandit():
    agent = MSTDPETAgent("snn_rl/Bandit-v0", seed=2, device="cpu")
    obs = np.zeros((4,), dtype=np.int64)
    before, _ = agent.predict(obs, deterministic=True)
    agent.learn(600)  # 600 one-pull episodes
    after, _ = agent.predict(obs, deterministic=True)
    assert before.tolist() == [0, 0, 0, 0]  # this seed starts on the worse arm
    assert after.tolist() == [1, 1, 1, 1]  # the arm that pays with p = 0.8
    result = evaluate(agent, "snn_rl/Bandit-v0", n_episodes=400, seed=0)
    assert result.mean >= gym.spec("snn_rl/Bandit-v0").reward_threshold


def test_scheduled_evaluation_and_curve_reading():
    agent = MSTDPETAgent("CartPole-v1", n_envs=4, seed=0, device="cpu")
    seen = []

    def fake_eval(model):
        return np.array([float(model.num_timesteps)]), np.array([1])

    cb = ScheduledEvaluation(fake_eval, 40, on_result=seen.append)
    agent.learn(200, callback=cb)
    steps = [r["timesteps"] for r in cb.records]
    assert len(steps) == 5 and all(s >= 40 * (i + 1) for i, s in enumerate(steps))
    assert seen == cb.records
    curve = [
        {"timesteps": t, "train_seconds": 0.0, "mean_return": m}
        for t, m in [(1, 100), (2, 480), (3, 400), (4, 490), (5, 500)]
    ]
    assert first_reach(curve, 475)["timesteps"] == 2
    assert sustained_from(curve, 475)["timesteps"] == 4
    assert sustained_from(curve[:3], 475) is None and first_reach(curve[:1], 475) is None


def test_cli_train_evaluate_enjoy(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli(
        [
            "train",
            "CartPole-v1",
            "--total-timesteps",
            "64",
            "--n-envs",
            "2",
            "--seed",
            "1",
            "--device",
            "cpu",
            "--output",
            str(out),
            "--eval-episodes",
            "2",
            "--no-progress",
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 2 and summary["total_timesteps"] >= 64
    assert "mean return" in capsys.readouterr().out
    assert (
        cli(["evaluate", str(out / "model.zip"), "--episodes", "3", "--json", "--device", "cpu"])
        == 0
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["env_id"] == "CartPole-v1" and result["episodes"] == 3
    gif = tmp_path / "cart.gif"
    assert (
        cli(
            [
                "enjoy",
                str(out / "model.zip"),
                "--output",
                str(gif),
                "--max-steps",
                "20",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")


def test_cli_errors(tmp_path, capsys):
    assert cli(["evaluate", str(tmp_path / "none.zip")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert cli(["train", "NoSuchEnv-v0", "--total-timesteps", "1"]) == 2
    assert "unknown environment id" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(["train", "CartPole-v1", "--total-timesteps", "-5"])


@pytest.mark.parametrize("credit", ["both", "feedback"])
def test_credit_feedback_leaves_unchosen_populations_without_eligibility(credit):
    overrides = {
        "windows": {"credit": credit, "feedback_current": 5.0},
        "network": {"weight_init_mean": 1.0, "weight_init_std": 0.0},  # all fire deciding
        "exploration": {"initial_eps": 1.0, "final_eps": 1.0},
    }
    agent = MSTDPETAgent("CartPole-v1", n_envs=2, seed=0, device="cpu", overrides=overrides)
    actions = []
    agent.learn(2, callback=lambda loc, _g: actions.append(loc["actions"]) or True)
    e = agent.learners[0].eligibility()["output"]  # (B, 2 actions x 10, inputs)
    per_action = e.abs().sum(-1).view(2, 2, 10).sum(-1)  # (B, action)
    chosen = torch.as_tensor(actions[0]).long()
    rows = torch.arange(2)
    assert (per_action[rows, chosen] > 0).all()
    unchosen = per_action[rows, 1 - chosen]
    assert (unchosen == 0).all() if credit == "feedback" else (unchosen > 0).all()
