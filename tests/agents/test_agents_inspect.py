"""record_episode / plot_episode and `snn-rl inspect`: shapes, fidelity to predict, no side
effects on the agent, the PNG files, and the command line's errors."""

import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

from snn_rl.agents import MSTDPETAgent, SpikingAgent
from snn_rl.agents.cli import main
from snn_rl.agents.inspect_run import EpisodeRecord, plot_episode, record_episode

PNG = b"\x89PNG\r\n\x1a\n"
FILES = ["raster.png", "rates.png", "weights.png", "learning.png"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny trained agent's checkpoint (a file: each test loads its own agent from it)."""
    agent = MSTDPETAgent("CartPole-v1", n_envs=2, seed=0, device="cpu")
    agent.learn(200)
    return agent.save(tmp_path_factory.mktemp("inspect") / "run" / "model")


@pytest.fixture
def agent(checkpoint):
    agent = SpikingAgent.load(checkpoint, env="CartPole-v1", device="cpu")
    agent.learn(10)  # mid-training state: eligibility, critic traces and phi in use
    return agent


def _snapshot(agent):
    params = agent.get_parameters()
    return {
        "policy": params["policy"],
        "critic": {
            k: v.clone() if torch.is_tensor(v) else v for k, v in agent.critic.state_dict().items()
        },
        "e_trace": [
            {n: st["e_trace"].clone() for n, st in lr.rule.state.items()} for lr in agent.learners
        ],
        "net_state": agent.policy.network.get_state(),
        "generator": agent.generator.get_state().clone(),
        "phi": agent._phi.clone(),
        "num_timesteps": agent.num_timesteps,
        "lr": [g["lr"] for lr in agent.learners for g in lr.rule.param_groups],
    }


def _assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif torch.is_tensor(a):
        assert torch.equal(a, b)
    else:
        assert a == b


def test_record_shapes_and_types(agent):
    rec = record_episode(agent, seed=1, max_steps=12)
    assert isinstance(rec, EpisodeRecord) and rec.env_id == "CartPole-v1"
    t, w = rec.n_env_steps, rec.window_steps
    assert 1 <= t <= 12 and w == agent.policy.decision_steps + agent.policy.feedback_steps
    n_out = agent.policy.n_actions * agent.policy.pop_size
    assert list(rec.spikes) == ["input", "output"]
    assert rec.spikes["input"].shape == (t * w, agent.policy.encoder.out_features)
    assert rec.spikes["output"].shape == (t * w, n_out)
    for name, z in rec.spikes.items():
        assert z.dtype == np.bool_ and rec.v[name].shape == z.shape
    assert rec.spikes["output"].any()  # the default network fires
    assert rec.eligibility["output"].shape == (t * w, n_out)
    assert rec.eligibility_abs["output"].shape == (t * w,)
    assert rec.observations.shape == (t, 4) and rec.actions.shape == (t,)
    assert set(np.unique(rec.actions)) <= {0, 1}
    for series in (rec.rewards, rec.reward_signal, rec.modulator):
        assert series.shape == (t,) and np.isfinite(series).all()
    assert rec.weights["output"].shape == (n_out, agent.policy.encoder.out_features)
    assert rec.layers == {"output": ("input", "output")} and rec.output == "output"
    assert rec.rates("output").shape == (t, n_out)
    assert rec.weight_change == {}  # predict's windows never change weights
    np.testing.assert_array_equal(rec.final_weights["output"], rec.weights["output"])
    assert rec.terminated or rec.truncated


def test_train_windows_follow_the_training_step(agent):
    rec = record_episode(agent, seed=1, max_steps=12, windows="train")
    t, d, w = rec.n_env_steps, rec.decision_steps, rec.window_steps
    assert rec.weight_change["output"].shape == (t,)
    assert not np.array_equal(rec.final_weights["output"], rec.weights["output"])
    # the efference copy: the chosen population fires, the others are driven silent
    out = rec.spikes["output"].reshape(t, w, agent.policy.n_actions, agent.policy.pop_size)
    feedback = out[:, d:].sum(axis=(1, 3))  # (T, n_actions) spike counts
    chosen = feedback[np.arange(t), rec.actions]
    assert (chosen >= feedback.max(1)).all() and chosen.sum() > 0


@pytest.mark.parametrize("seed", [0, 7])
def test_decisions_equal_predict(agent, seed):
    rec = record_episode(agent, seed=seed)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    actions, state, start, done = [], None, True, False
    while not done:
        action, state = agent.predict(obs, state=state, episode_start=[start], deterministic=True)
        start = False
        actions.append(int(action))
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    np.testing.assert_array_equal(rec.actions, actions)


@pytest.mark.parametrize("windows", ["predict", "train"])
def test_recording_leaves_the_agent_unchanged(agent, windows):
    before = _snapshot(agent)
    env = agent.get_env()
    record_episode(agent, seed=2, max_steps=15, windows=windows, deterministic=False)
    _assert_same(before, _snapshot(agent))
    assert agent.get_env() is env
    agent.learn(20)  # and it still trains on its own env


def test_plot_writes_the_pngs(agent, tmp_path):
    rec = record_episode(agent, seed=1, max_steps=15, windows="train")
    paths = plot_episode(rec, tmp_path / "pics", raster_steps=5)
    assert [p.name for p in paths] == FILES
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000
    assert not list((tmp_path / "pics").glob(".*.tmp"))  # atomic writes leave nothing behind


def test_bad_arguments(agent, tmp_path):
    with pytest.raises(ValueError, match="unknown environment id"):
        record_episode(agent, "NoSuchEnv-v0")
    with pytest.raises(ValueError, match="windows must be one of"):
        record_episode(agent, windows="eval")
    with pytest.raises(ValueError, match="differs from the agent"):
        record_episode(agent, "MountainCarContinuous-v0")
    with pytest.raises(TypeError, match="SpikingAgent"):
        record_episode(object())
    file = tmp_path / "file.png"
    file.write_bytes(b"")
    rec = record_episode(agent, max_steps=3)
    with pytest.raises(ValueError, match="is a file"):
        plot_episode(rec, file)


def test_cli_inspect(checkpoint, capsys):
    model = checkpoint
    argv = ["inspect", str(model), "--env", "CartPole-v1", "--seed", "3", "--max-steps", "10"]
    assert main([*argv, "--raster-steps", "4", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "CartPole-v1, seed 3" in out and "wrote" in out
    for name in FILES:  # default folder: beside the model
        assert (model.parent / "inspect" / name).stat().st_size > 0


def test_cli_inspect_errors(checkpoint, tmp_path, capsys, monkeypatch):
    model = checkpoint
    assert main(["inspect", str(model), "--env", "NoSuchEnv-v0", "--output", str(tmp_path)]) == 2
    assert "unknown environment id 'NoSuchEnv-v0'" in capsys.readouterr().err
    file = tmp_path / "taken"
    file.write_text("")
    assert main(["inspect", str(model), "--output", str(file)]) == 2
    assert "is a file" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # matplotlib not installed
    assert main(["inspect", str(model), "--output", str(tmp_path / "x")]) == 2
    assert "pip install 'snn-rl[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # it failed before any work
