"""Fault injection: corrupted checkpoints, a save killed midway, a comparison killed midway.
Nothing saved may be lost or silently wrong: every fault either raises an error naming the
file or leaves data that is exactly what was saved."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import pytest
import torch

from snn_rl.agents import MSTDPETAgent
from snn_rl.agents.checkpoint import CheckpointError
from snn_rl.agents.compare import compare
from snn_rl.agents.report import load_runs


def same_parameters(a, b):
    def flat(tree, prefix=""):
        if isinstance(tree, torch.Tensor):
            return {prefix: tree}
        if isinstance(tree, dict):
            return {k2: v2 for k, v in tree.items() for k2, v2 in flat(v, f"{prefix}/{k}").items()}
        if isinstance(tree, list | tuple):
            return {
                k2: v2 for i, v in enumerate(tree) for k2, v2 in flat(v, f"{prefix}[{i}]").items()
            }
        return {prefix: tree}

    fa, fb = flat(a), flat(b)
    return fa.keys() == fb.keys() and all(
        torch.equal(fa[k], fb[k]) if isinstance(fa[k], torch.Tensor) else fa[k] == fb[k] for k in fa
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    agent = MSTDPETAgent("CartPole-v1", n_envs=2, seed=0, device="cpu")
    agent.learn(60)
    path = agent.save(tmp_path_factory.mktemp("ckpt") / "agent.zip")
    return path, agent.get_parameters(), agent.config


def test_byte_flips_anywhere_raise_or_leave_the_content_exact(checkpoint, tmp_path):
    path, params, config = checkpoint
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("checkpoint.pt")
    payload = range(
        info.header_offset + 30 + len(info.filename),
        info.header_offset + 30 + len(info.filename) + info.file_size,
    )
    offsets = sorted({*range(0, len(data), max(1, len(data) // 60)), len(data) - 1, len(data) - 30,
                      payload[0], payload[len(payload) // 2], payload[-1], 40, 60, 100})  # fmt: skip
    raised = 0
    for offset in offsets:
        bad = bytearray(data)
        bad[offset] ^= 0xFF
        target = tmp_path / f"flip_{offset}.zip"
        target.write_bytes(bytes(bad))
        try:
            loaded = MSTDPETAgent.load(target, device="cpu")
        except CheckpointError as err:
            assert str(target) in str(err)
            raised += 1
            continue
        assert offset not in payload, f"a flip inside the payload at {offset} loaded"
        assert same_parameters(loaded.get_parameters(), params) and loaded.config == config
    assert raised >= len(offsets) * 0.8  # almost every byte is covered by a CRC or the digest


def test_truncated_checkpoints_raise(checkpoint, tmp_path):
    path = checkpoint[0]
    data = path.read_bytes()
    for size in (0, 1, 22, len(data) // 4, len(data) // 2, len(data) - 1):
        target = tmp_path / f"cut_{size}.zip"
        target.write_bytes(data[:size])
        with pytest.raises(CheckpointError, match="cut_"):
            MSTDPETAgent.load(target, device="cpu")


def test_edited_header_fields_raise(checkpoint, tmp_path):
    path = checkpoint[0]
    with zipfile.ZipFile(path) as archive:
        header = json.loads(archive.read("snn-rl.json"))
        payload = archive.read("checkpoint.pt")
    for field, value, message in (
        ("sha256", "0" * 64, "does not match the digest"),
        ("size", 12, "does not match the digest"),
        ("format_version", 4, "checkpoint format 4"),
        ("format", "other", "not an snn-rl agent checkpoint"),
    ):
        target = tmp_path / f"edit_{field}.zip"
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr("snn-rl.json", json.dumps({**header, field: value}))
            archive.writestr("checkpoint.pt", payload)
        with pytest.raises(CheckpointError, match=message):
            MSTDPETAgent.load(target, device="cpu")


SLOW_SAVE = """
import sys, time, zipfile
import torch
torch.set_num_threads(1)
from snn_rl.agents import MSTDPETAgent
agent = MSTDPETAgent("CartPole-v1", n_envs=2, seed=0, device="cpu")
agent.save(sys.argv[1])
agent.learn(20)
original = zipfile.ZipFile.writestr
def slow(self, name, data, *args, **kwargs):
    if name == "checkpoint.pt":
        print("writing", flush=True)
        time.sleep(60)
    return original(self, name, data, *args, **kwargs)
zipfile.ZipFile.writestr = slow
agent.save(sys.argv[1])
"""


def test_a_save_killed_midway_loses_nothing(tmp_path):
    path = tmp_path / "agent.zip"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SAVE, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = list(tmp_path.glob(".agent.zip.*.tmp"))
    assert len(left) == 1  # the killed writer's half-written file, beside the intact one
    loaded = MSTDPETAgent.load(path, device="cpu")  # the first save, complete and verified
    assert loaded.num_timesteps == 0
    loaded.save(path)  # the next save to the same path removes the dead writer's file
    assert not list(tmp_path.glob(".agent.zip.*.tmp"))


def test_a_comparison_killed_midway_resumes_without_damage(tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", "CartPole-v1", "--algos", "mstdpet", "--seeds", "0", "1",
            "--total-timesteps", "400", "--eval-freq", "100", "--eval-episodes", "1",
            "--threshold", "20", "--no-plot", "--quiet", "--device", "cpu", "--output", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "snn_rl.agents.cli", *args], env=env)
    first = out / "runs" / "mstdpet_0.done.json"
    deadline = time.time() + 120
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert first.exists()
    stamp = first.stat().st_mtime_ns
    rows = compare(
        "CartPole-v1", ["mstdpet"], [0, 1], output=out, total_timesteps=400, eval_freq=100,
        eval_episodes=1, threshold=20.0, plot=False, verbose=False,
    )  # fmt: skip
    assert first.stat().st_mtime_ns == stamp  # the finished run was kept, not redone
    assert rows[0]["seeds"] == 2
    runs = load_runs(out, ["mstdpet"], [0, 1])["mstdpet"]  # both curves verified and complete
    assert all(curve[-1]["timesteps"] >= 400 for curve in runs.values())
