"""Hardening: every bad input gets a clear error naming it, at the earliest point; nothing
saved is lost or silently wrong. One test per class of failure (faults: test_agents_faults.py)."""

import hashlib
import io
import json
import os
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch

from snn_rl import ConjunctiveGaussianEncoder
from snn_rl.agents import MSTDPETAgent
from snn_rl.agents._io import atomic_write
from snn_rl.agents.checkpoint import CheckpointError
from snn_rl.agents.cli import main as cli
from snn_rl.agents.compare import compare
from snn_rl.envs.rewards import FunctionReward


def small(env="CartPole-v1", **kw):
    kw = {"n_envs": 2, "seed": 0, "device": "cpu", **kw}
    return MSTDPETAgent(env, **kw)


def rewrite(path, edit):
    """Apply ``edit(payload_dict)`` to a checkpoint and write it back with a valid digest
    (an intentional edit, not corruption: the content checks must catch it)."""
    with zipfile.ZipFile(path) as archive:
        header = json.loads(archive.read("snn-rl.json"))
        data = torch.load(io.BytesIO(archive.read("checkpoint.pt")), weights_only=True)
    edit(data)
    buffer = io.BytesIO()
    torch.save(data, buffer)
    payload = buffer.getvalue()
    header.update(size=len(payload), sha256=hashlib.sha256(payload).hexdigest())
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("snn-rl.json", json.dumps(header))
        archive.writestr("checkpoint.pt", payload)


@pytest.fixture
def saved(tmp_path):
    agent = small()
    agent.learn(40)
    return agent, agent.save(tmp_path / "agent")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["policy"].__setitem__(
                "network.connections.output.weight",
                torch.full_like(d["policy"]["network.connections.output.weight"], float("nan")),
            ),
            r"policy parameter network.connections.output.weight holds NaN or inf",
        ),
        (
            lambda d: d["policy"].__setitem__(
                "network.connections.output.weight", torch.zeros(20, 3)
            ),
            r"policy parameter 'network.connections.output.weight' has shape \(20, 3\), this "
            r"agent's is \(20, 270\)",
        ),
        (lambda d: d["config"]["rule"].__setitem__("lrr", 1.0), "rule.lrr is not a field"),
        (lambda d: d.pop("observation_space"), r"lacks \['observation_space'\]"),
        (lambda d: d["observation_space"].pop("low"), "'low'"),
        (
            lambda d: d["critic"].__setitem__("bias", torch.tensor(float("inf"))),
            "critic parameter bias holds NaN or inf",
        ),
    ],
)
def test_edited_checkpoints_are_refused_naming_the_file_and_what(saved, edit, message):
    agent, path = saved
    rewrite(path, edit)
    with pytest.raises(CheckpointError, match=message) as info:
        MSTDPETAgent.load(path, device="cpu")
    assert str(path) in str(info.value)


def test_set_parameters_checks_everything_before_assigning(saved):
    agent, _ = saved
    params = agent.get_parameters()
    before = {k: v.clone() for k, v in agent.policy.state_dict().items()}
    params["critic"]["weight"] = torch.zeros(5)  # wrong shape: the critic raises while loading
    with pytest.raises(ValueError, match=r"critic weight must have shape \(270,\)"):
        agent.set_parameters(params)
    for k, v in agent.policy.state_dict().items():  # the policy was put back as it was
        assert torch.equal(v, before[k])


def test_inputs_that_were_ignored_now_raise_or_count(tmp_path, capsys):
    agent = small()
    with pytest.raises(ValueError, match=r"episode_start must have shape \(3,\)"):
        agent.predict(np.zeros((3, 4), np.float32), episode_start=np.zeros(2, bool))
    out = tmp_path / "zero"
    args = ["train", "CartPole-v1", "--total-timesteps", "0", "--device", "cpu"]
    assert cli([*args, "--output", str(out), "--eval-episodes", "1", "--no-progress"]) == 0
    assert json.loads((out / "summary.json").read_text())["total_timesteps"] == 0


def test_comparison_damage_is_reported_with_the_file(tmp_path):
    settings = dict(total_timesteps=32, eval_freq=32, eval_episodes=1, threshold=20.0, plot=False)
    out = tmp_path / "cmp"
    compare("CartPole-v1", ["mstdpet"], [0], output=out, verbose=False, **settings)
    curve = out / "runs" / "mstdpet_0.csv"
    done = out / "runs" / "mstdpet_0.done.json"
    good_curve, good_done = curve.read_text(), done.read_text()

    curve.write_text(good_curve.splitlines()[0] + "\n" + good_curve.splitlines()[1] + "\n")
    with pytest.raises(ValueError, match="mstdpet_0.csv does not match .*done.json"):
        compare("CartPole-v1", ["mstdpet"], [0], output=out, verbose=False, **settings)
    lines = good_curve.splitlines()
    lines[-1] = lines[-1].replace(lines[-1].split(",")[2], "nan", 1)
    curve.write_text("\n".join(lines) + "\n")
    meta = json.loads(good_done)
    meta.pop("curve_sha256")  # an older marker without a digest: the values are still checked
    done.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"mstdpet_0.csv line \d+: mean_return is nan"):
        compare("CartPole-v1", ["mstdpet"], [0], output=out, verbose=False, **settings)
    curve.write_text(good_curve)
    done.write_text(good_done[: len(good_done) // 2])
    with pytest.raises(ValueError, match="mstdpet_0.done.json is damaged"):
        compare("CartPole-v1", ["mstdpet"], [0], output=out, verbose=False, **settings)


class _Bad(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, mode):
        self.mode = mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, np.float32), {}

    def step(self, action):
        obs = np.zeros(3 if self.mode == "obs" else 4, np.float32)
        reward = np.array([1.0, 2.0]) if self.mode == "reward" else 1.0
        return obs, reward, False, False, {}


def test_errors_from_inside_libraries_are_ours():
    bounds = {"encoder": {"low": [-1.0] * 4, "high": [1.0] * 4}, "critic": "none"}
    with pytest.raises(ValueError, match=r"_Bad.step returned an observation of shape \(3,\)"):
        MSTDPETAgent(_Bad("obs"), seed=0, device="cpu", overrides=bounds).learn(4)
    with pytest.raises(ValueError, match=r"a reward of shape \(2,\); a reward is one number"):
        MSTDPETAgent(_Bad("reward"), seed=0, device="cpu", overrides=bounds).learn(4)
    with pytest.raises(TypeError, match=r"must take one argument, the transition"):
        small(reward=lambda reward, terminated, truncated, obs, next_obs: reward)
    with pytest.raises(TypeError, match="must take one argument"):
        FunctionReward(lambda: 0.0)
    for device in ("meta", "tpu"):
        with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or 'cuda:N'"):
            small(device=device)
        with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or 'cuda:N'"):
            gym.make_vec("snn_rl/CartPole-v1", num_envs=2, vectorization_mode="vector_entry_point",
                         device=device)  # fmt: skip
    with pytest.raises(ValueError, match="low has 3 entries but the space has 4 dimensions"):
        ConjunctiveGaussianEncoder.from_space(gym.spaces.Box(-1, 1, (4,)), 3, low=[0.0] * 3)
    with pytest.raises(ValueError, match="rule.lr must be a number, got 'fast'"):
        small(overrides={"rule.lr": "fast"})


def test_output_that_is_a_file_fails_before_training(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("a file")
    args = ["train", "CartPole-v1", "--total-timesteps", "100000", "--output", str(target)]
    assert cli([*args, "--device", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr()
    assert "is a file; give a folder" in err.err and "training" not in err.out


def test_saved_files_honour_the_umask_and_stale_temporaries_go(tmp_path):
    old = os.umask(0o027)
    try:
        path = small().save(tmp_path / "m.zip")
        assert path.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
    stale = tmp_path / ".m.zip.999999.abcd1234.tmp"  # a writer (pid 999999) killed midway
    stale.write_bytes(b"half a checkpoint")
    live = tmp_path / f".m.zip.{os.getpid()}.ffff0000.tmp"  # a live writer's file stays
    live.write_bytes(b"in progress")
    small().save(tmp_path / "m.zip")
    assert not stale.exists() and live.exists()


def test_the_directory_entry_is_synced(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def record(fd):
        synced.append(
            os.path.isdir(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else True
        )
        return real(fd)

    monkeypatch.setattr(os, "fsync", record)
    atomic_write(tmp_path / "f.txt", lambda p: p.write_text("x"))
    assert synced == [False, True]  # the file, then its directory
