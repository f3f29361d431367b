"""The command line as a user meets it: curves and checkpoints of a train run, resuming, env
keyword arguments, videos, torch-native ids end to end, and every error as one line."""

import csv
import json
import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest

import snn_rl.envs  # noqa: F401
from snn_rl.agents import SpikingAgent
from snn_rl.agents.cli import COMMANDS
from snn_rl.agents.cli import main as cli

TINY = ["--device", "cpu", "--no-progress", "--eval-episodes", "2"]


def train(tmp_path, *extra, env="CartPole-v1", name="run"):
    out = tmp_path / name
    code = cli(["train", env, "--output", str(out), *TINY, *extra])
    return code, out


def test_train_writes_the_curve_the_plot_checkpoints_and_tensorboard(tmp_path, capsys):
    tb = tmp_path / "tb"
    code, out = train(
        tmp_path,
        *("--total-timesteps", "120", "--n-envs", "2", "--eval-freq", "50"),
        *("--curve-episodes", "2", "--save-freq", "60", "--tensorboard-log", str(tb)),
    )
    assert code == 0
    with (out / "progress.csv").open() as f:
        rows = list(csv.DictReader(f))
    steps = [int(r["timesteps"]) for r in rows]
    assert steps[0] == 0 and steps[1] >= 50 and steps[-1] >= 120 and steps == sorted(steps)
    assert all(int(r["episodes"]) == 2 for r in rows)
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert len(saved) == 2 and all(
        p.startswith("model_") and p.endswith("_steps.zip") for p in saved
    )
    assert SpikingAgent.load(out / "checkpoints" / saved[0], device="cpu").num_timesteps >= 60
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (run,) = tb.iterdir()
    events = EventAccumulator(str(run))
    events.Reload()
    assert "eval/mean_reward" in events.Tags()["scalars"]
    assert len(events.Scalars("eval/mean_reward")) == len(rows)
    assert "progress.csv" in capsys.readouterr().out


def test_resume_continues_the_saved_model_and_refuses_new_settings(tmp_path, capsys):
    code, out = train(tmp_path, "--total-timesteps", "60", "--n-envs", "2", "--eval-freq", "0")
    assert code == 0 and not (out / "progress.csv").exists()
    first = SpikingAgent.load(out / "model.zip", device="cpu")
    code, again = train(
        tmp_path,
        *("--resume", str(out / "model.zip"), "--total-timesteps", "40", "--eval-freq", "0"),
        name="again",
    )
    assert code == 0
    resumed = SpikingAgent.load(again / "model.zip", device="cpu")
    assert resumed.num_timesteps >= first.num_timesteps + 40
    assert resumed.config == first.config
    capsys.readouterr()
    code, _ = train(tmp_path, "--resume", str(out / "model.zip"), "--set", "rule.lr=0.1")
    assert code == 2 and "drop --set" in capsys.readouterr().err


def test_env_kwargs_are_used_saved_and_evaluated_with(tmp_path, capsys):
    code, out = train(
        tmp_path,
        *("--total-timesteps", "200", "--eval-freq", "0", "--no-tuned"),
        *("--env-kwargs", "is_slippery=false", "map_name=4x4"),
        env="FrozenLake-v1",
    )
    assert code == 0
    agent = SpikingAgent.load(out / "model.zip", device="cpu")
    assert agent.env_kwargs == {"is_slippery": False, "map_name": "4x4"}
    capsys.readouterr()
    assert (
        cli(["evaluate", str(out / "model.zip"), "--episodes", "2", "--json", "--device", "cpu"])
        == 0
    )
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["episodes"] == 2
    assert cli(["train", "FrozenLake-v1", "--env-kwargs", "slippery", *TINY]) == 2
    assert "--env-kwargs takes NAME=VALUE" in capsys.readouterr().err


def test_env_kwargs_that_a_checkpoint_cannot_hold_are_refused_on_save(tmp_path):
    from snn_rl.agents import MSTDPETAgent

    agent = MSTDPETAgent(
        "FrozenLake-v1",
        env_kwargs={"desc": np.array([["S", "F"], ["H", "G"]])},
        device="cpu",
        seed=0,
    )
    with pytest.raises(ValueError, match=r"env_kwargs\[.desc.\] \(a ndarray\) cannot be saved"):
        agent.save(tmp_path / "m.zip")
    assert not (tmp_path / "m.zip").exists()


def test_torch_native_ids_train_evaluate_and_render(tmp_path, capsys):
    """The vector-only id trains on 8 torch envs; evaluation and the video use one env of
    the same dynamics (gym.make of the id) drawn by Gymnasium's CartPole."""
    code, out = train(
        tmp_path,
        "--total-timesteps",
        "80",
        "--n-envs",
        "8",
        "--eval-freq",
        "0",
        env="snn_rl/CartPole-v1",
    )
    assert code == 0
    assert cli(["evaluate", str(out / "model.zip"), "--episodes", "2", "--device", "cpu"]) == 0
    video = tmp_path / "cart.mp4"
    assert cli(["enjoy", str(out / "model.zip"), "--output", str(video), "--device", "cpu"]) == 0
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(video))
    meta = next(reader)
    frames = sum(1 for _ in reader)
    assert meta["size"] == (600, 400) and meta["fps"] == 50
    assert f"wrote {frames} frames" in capsys.readouterr().out


def test_torch_single_env_follows_the_vector_dynamics():
    env = gym.make("snn_rl/Pendulum-v1", render_mode="rgb_array")
    vec = gym.make_vec("snn_rl/Pendulum-v1", num_envs=1, vectorization_mode="vector_entry_point")
    obs, _ = env.reset(seed=3)
    vobs, _ = vec.reset(seed=3)
    np.testing.assert_allclose(obs, vobs.numpy()[0])
    for torque in (-2.0, 0.5, 2.0):
        obs, reward, terminated, truncated, _ = env.step(np.array([torque], dtype=np.float32))
        vobs, vreward, *_ = vec.step(np.array([[torque]], dtype=np.float32))
        np.testing.assert_allclose(obs, vobs.numpy()[0], rtol=1e-6)
        assert reward == pytest.approx(float(vreward[0]), rel=1e-6)
    assert env.render().shape == (500, 500, 3)
    with pytest.raises(TypeError, match="'num_envs' is fixed for a single env"):
        gym.make("snn_rl/CartPole-v1", num_envs=4)
    with pytest.raises(ValueError, match="render_mode must be one of"):
        gym.make("snn_rl/CartPole-v1", render_mode="ansi")


def test_enjoy_checks_its_output_before_playing_and_needs_a_display(tmp_path, capsys, monkeypatch):
    missing = tmp_path / "none.zip"
    assert cli(["enjoy", str(missing), "--output", str(tmp_path / "run.avi")]) == 2
    assert "--output must end in .mp4 or .gif" in capsys.readouterr().err  # before loading
    (tmp_path / "dir.mp4").mkdir()
    assert cli(["enjoy", str(missing), "--output", str(tmp_path / "dir.mp4")]) == 2
    assert "is a folder" in capsys.readouterr().err
    code, out = train(tmp_path, "--total-timesteps", "20", "--n-envs", "2", "--eval-freq", "0")
    gif = tmp_path / "cart.gif"
    assert cli(["enjoy", str(out / "model.zip"), "--output", str(gif), "--max-steps", "5"]) == 0
    from PIL import Image, ImageSequence

    with Image.open(gif) as image:  # Pillow merges equal frames, adding up their durations
        durations = [frame.info["duration"] for frame in ImageSequence.Iterator(image)]
        assert image.format == "GIF" and sum(durations) == 6 * 20  # reset + 5 steps at 50 fps
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    capsys.readouterr()
    assert cli(["enjoy", str(out / "model.zip"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "no display" in err and "--output run.mp4" in err and len(err.splitlines()) == 1


def test_every_error_reaches_the_user_as_one_line_with_exit_code_2(monkeypatch, capsys):
    def broken(args):
        raise gym.error.Error("registered but\n entry_point is not specified")

    monkeypatch.setitem(COMMANDS, "evaluate", broken)
    assert cli(["evaluate", "m.zip"]) == 2
    err = capsys.readouterr().err
    assert err == "snn-rl evaluate: error: Error: registered but entry_point is not specified\n"
    monkeypatch.setenv("SNN_RL_DEBUG", "1")
    with pytest.raises(gym.error.Error):
        cli(["evaluate", "m.zip"])


def test_compare_with_workers_from_a_script_without_main_guard_stops_with_the_reason(tmp_path):
    script = tmp_path / "noguard.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from snn_rl.agents.compare import compare
            compare("CartPole-v1", ["ppo"], [0, 1], output={str(tmp_path / "out")!r},
                    total_timesteps=64, eval_freq=64, eval_episodes=1, n_jobs=2, plot=False,
                    verbose=False)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=240, cwd=tmp_path
    )
    assert done.returncode == 1
    assert 'if __name__ == "__main__":' in done.stderr.splitlines()[-1]


def test_every_file_of_a_train_run_honours_the_umask(tmp_path):
    import os

    old = os.umask(0o002)
    try:
        code, out = train(
            tmp_path,
            "--total-timesteps",
            "40",
            "--n-envs",
            "2",
            "--eval-freq",
            "20",
            "--curve-episodes",
            "1",
            "--save-freq",
            "20",
        )
    finally:
        os.umask(old)
    assert code == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"model.zip", "config.yml", "progress.csv", "curves.png"}
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o664)}


def test_track_starts_a_wandb_run_that_syncs_tensorboard_and_finishes(tmp_path, monkeypatch):
    import types

    calls = []

    class Run:
        def finish(self):
            calls.append("finish")

    def init(**kwargs):
        calls.append(kwargs)
        return Run()

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    code, out = train(
        tmp_path, "--total-timesteps", "20", "--n-envs", "2", "--eval-freq", "0", "--track"
    )
    assert code == 0 and calls[-1] == "finish"
    kwargs = calls[0]
    assert kwargs["sync_tensorboard"] is True and kwargs["project"] == "snn-rl"
    assert kwargs["config"]["env_id"] == "CartPole-v1" and "rule" in kwargs["config"]
    assert any((out / "tensorboard").iterdir())  # the log W&B syncs
    monkeypatch.setitem(sys.modules, "wandb", None)
    assert train(tmp_path, "--total-timesteps", "20", "--track", name="b")[0] == 2


def test_key_value_options_name_themselves_when_malformed(capsys):
    from snn_rl.agents.cli import parse_assignments

    assert parse_assignments(["a.b=[1, 2]", "c=false"], "--set") == {"a.b": [1, 2], "c": False}
    assert cli(["train", "CartPole-v1", "--set", "rule.lr=[", *TINY]) == 2
    assert "--set 'rule.lr=[': the value is not YAML" in capsys.readouterr().err
    assert cli(["train", "CartPole-v1", "--env-kwargs", "a.b=1", *TINY]) == 2
    assert "--env-kwargs takes NAME=VALUE, got 'a.b=1'" in capsys.readouterr().err


def test_train_and_evaluate_run_on_one_torch_thread_unless_told(tmp_path, monkeypatch):
    import torch

    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    code, out = train(tmp_path, "--total-timesteps", "20", "--n-envs", "2", "--eval-freq", "0")
    assert code == 0
    assert cli(["evaluate", str(out / "model.zip"), "--episodes", "1", "--threads", "3"]) == 0
    assert calls == [1, 3]


def test_train_seeds_runs_one_population_and_writes_each_seeds_run(tmp_path, capsys):
    code, out = train(
        tmp_path,
        *("--seeds", "4", "7", "--total-timesteps", "120", "--n-envs", "2"),
        *("--eval-freq", "60", "--curve-episodes", "2", "--set", "rule.lr=0.02"),
    )
    assert code == 0
    for seed in (4, 7):
        folder = out / f"seed_{seed}"
        agent = SpikingAgent.load(folder / "model.zip", device="cpu")
        assert agent.seed == seed and agent.num_timesteps >= 120 and agent.n_envs == 2
        assert agent.config.rule.lr == 0.02
        with (folder / "progress.csv").open() as f:
            steps = [int(r["timesteps"]) for r in csv.DictReader(f)]
        assert steps[0] == 0 and steps[-1] >= 120
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["seed"] == seed and summary["episodes"] == 2
        assert (
            cli(["evaluate", str(folder / "model.zip"), "--episodes", "1", "--device", "cpu"]) == 0
        )
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "2 seeds trained together" in capsys.readouterr().out
    code, _ = train(tmp_path, "--seeds", "0", "1", "--save-freq", "50", name="bad")
    assert code == 2
    assert "--seeds trains a batched population, which does not take --save-freq" in (
        capsys.readouterr().err
    )


def test_train_writes_weight_images_of_the_feature_layers(tmp_path):
    code, out = train(
        tmp_path,
        *("--total-timesteps", "120", "--n-envs", "2", "--weight-images", "60"),
        *("--set", "features=[{size: 8}]"),
    )
    assert code == 0
    images = sorted(p.name for p in (out / "weights").glob("*.png"))
    assert len(images) >= 2 and all(p.startswith("features") for p in images)
    assert (out / "weights" / images[0]).read_bytes()[:4] == b"\x89PNG"
    assert train(tmp_path, "--seeds", "0", "1", "--weight-images", "60", name="s")[0] == 2


def test_weight_images_centre_fede_layers_on_their_w_init(monkeypatch):
    from snn_rl.agents import MSTDPETAgent, weight_images
    from snn_rl.agents.callbacks import WeightImages

    calls = []
    monkeypatch.setattr(weight_images, "save_weight_images", lambda *a: calls.append(a) or [])
    features = [{"size": 4, "w_init": 1.25}, {"size": 3, "frozen": True}]
    agent = MSTDPETAgent("CartPole-v1", seed=0, n_envs=2, overrides={"features": features})
    agent.learn(4, callback=WeightImages(100, "unused"))
    assert calls and calls[-1][4] == {"features0": 1.25}  # the frozen layer: no rule, raw


def test_weight_mosaics_tile_kernels_and_image_receptive_fields():
    import torch

    from snn_rl.agents.weight_images import weight_mosaic

    conv = weight_mosaic(torch.ones(3, 2, 4, 4))  # 3 rows of 2 kernels, NaN borders
    assert conv.shape == (3 * 5 - 1, 2 * 5 - 1) and np.isnan(conv[4, 0]) and conv[0, 0] == 1
    image = weight_mosaic(torch.arange(2 * 12.0).view(2, 12), (3, 4))
    assert image.shape == (2 * 4 - 1, 4) and image[0, 1] == 1.0 and image[4, 0] == 12.0
    assert weight_mosaic(torch.zeros(5, 7)).shape == (5, 7)
