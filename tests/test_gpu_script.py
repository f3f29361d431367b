"""benchmarks/gpu.sh is ready for a GPU machine: its CPU dry run runs every section."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_script_dry_run_writes_every_section(tmp_path):
    done = subprocess.run(
        ["bash", "benchmarks/gpu.sh", "--dry-run", "--output", str(tmp_path)],
        cwd=ROOT,
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads((tmp_path / "gpu.json").read_text())
    assert result["dry_run"] is True
    assert result["bandwidth"]["bytes_per_s"] > 0
    assert {r["sim"] for r in result["n2"]} == {"snn_rl", "floor"}
    assert all(r["step_us"] > 0 and r["x_bound"] > 0 for r in result["n2"])
    assert all(r["env_steps_per_s"] > 0 for r in result["env"] + result["agent"])
    assert result["graphs"][0]["graph"] == "CUDA graphs need a CUDA device"
    assert [r["agents"] for r in result["population"]] == [1, 2]
    assert all(
        r["env_steps_per_s"] > 0 and r["envs"] == 4 * r["agents"] for r in result["population"]
    )
    md = (tmp_path / "gpu.md").read_text()
    for title in (
        "N2 against the bandwidth bound",
        "Torch-native CartPole",
        "Agent loop",
        "Batched population",
    ):
        assert title in md
    assert "skipped" in (tmp_path / "tests.txt").read_text()  # no CUDA here: gpu tests skip


def test_gpu_script_refuses_unknown_arguments():
    done = subprocess.run(
        ["bash", "benchmarks/gpu.sh", "--fast"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2 and "unknown argument --fast" in done.stderr
