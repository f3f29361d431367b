"""`snn-rl compare`: run files, summary numbers, resume, plot, errors, CLI, Ray and the pool."""

import csv
import json
import math
import shutil
import sys

import pytest

from snn_rl.agents import compare as compare_mod
from snn_rl.agents.cli import main
from snn_rl.agents.compare import (
    CURVE_COLUMNS,
    SUMMARY_COLUMNS,
    compare,
    plot_curves,
    summarize,
    write_summary,
)

ALGOS = ["mstdpet", "ppo", "a2c", "dqn"]
SEEDS = [0, 1]
SETTINGS = {"total_timesteps": 512, "eval_freq": 256, "eval_episodes": 2, "threshold": 20.0}


def read_csv(path):
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One tiny comparison shared by the read-only tests (each run takes well under 1 s)."""
    out = tmp_path_factory.mktemp("compare")
    compare("CartPole-v1", ALGOS, SEEDS, output=out, verbose=False, **SETTINGS)
    return out


def test_all_files_are_written_with_the_right_columns(compared):
    runs = compared / "runs"
    for algo in ALGOS:
        for seed in SEEDS:
            header, rows = read_csv(runs / f"{algo}_{seed}.csv")
            assert tuple(header) == CURVE_COLUMNS
            assert all(int(r["episodes"]) == 2 for r in rows)
            done = json.loads((runs / f"{algo}_{seed}.done.json").read_text())
            assert done["settings"] == {
                "env_id": "CartPole-v1",
                "algo": algo,
                "seed": seed,
                "total_timesteps": 512,
                "eval_freq": 256,
                "eval_episodes": 2,
                "overrides": {},
            }
            assert done["num_timesteps"] == int(rows[-1]["timesteps"])
    assert not list(compared.rglob("*.tmp"))
    header, rows = read_csv(compared / "summary.csv")
    assert tuple(header) == SUMMARY_COLUMNS
    assert [r["algo"] for r in rows] == ALGOS
    md = (compared / "summary.md").read_text()
    assert md.startswith("# CartPole-v1: comparison over seeds")
    assert all(f"| {algo} | 2 | " in md for algo in ALGOS)


def test_every_arm_is_evaluated_on_the_same_schedule(compared):
    def steps(algo, seed):
        return [int(r["timesteps"]) for r in read_csv(compared / "runs" / f"{algo}_{seed}.csv")[1]]

    for seed in SEEDS:
        # PPO: 8 envs x 32 steps per rollout; DQN: 1 env; both stop at 512 exactly.
        assert steps("ppo", seed) == [0, 256, 512]
        assert steps("dqn", seed) == [0, 256, 512]
        # A2C: 8 envs x 5 steps = 40 per rollout, so training ends at 13 x 40 = 520 > 512,
        # off the schedule: one more evaluation there.
        assert steps("a2c", seed) == [0, 256, 512, 520]
        # MSTDPET counts real transitions of n_envs envs: the first count >= each point.
        done = json.loads((compared / "runs" / f"mstdpet_{seed}.done.json").read_text())
        n_envs = done["hyperparams"]["n_envs"]
        ms = steps("mstdpet", seed)
        assert ms[0] == 0 and 256 <= ms[1] < 256 + n_envs and 512 <= ms[2] < 512 + n_envs


def test_summary_numbers_equal_those_recomputed_from_the_run_csvs(compared):
    _, summary = read_csv(compared / "summary.csv")
    for row in summary:
        curves = [read_csv(compared / "runs" / f"{row['algo']}_{s}.csv")[1] for s in SEEDS]
        finals = [float(c[-1]["mean_return"]) for c in curves]
        mean = sum(finals) / len(finals)
        std = math.sqrt(sum((x - mean) ** 2 for x in finals) / len(finals))
        assert float(row["final_mean"]) == pytest.approx(mean, rel=1e-12)
        assert float(row["final_std"]) == pytest.approx(std, rel=1e-12, abs=1e-12)
        assert float(row["timesteps"]) == sum(float(c[-1]["timesteps"]) for c in curves) / 2
        firsts = [next((r for r in c if float(r["mean_return"]) >= 20.0), None) for c in curves]
        reached = [r for r in firsts if r is not None]
        assert int(row["reached"]) == len(reached)
        if reached:
            expected = sum(float(r["timesteps"]) for r in reached) / len(reached)
            assert float(row["first_steps"]) == pytest.approx(expected)
        else:
            assert row["first_steps"] == "" and row["first_seconds"] == ""


def curve(*points):
    return [{"timesteps": t, "train_seconds": s, "mean_return": r} for t, s, r in points]


def test_summarize_golden_values(tmp_path):
    runs = {
        "x": {
            0: curve((0, 0.0, 10.0), (100, 1.0, 60.0), (200, 2.5, 40.0), (300, 4.0, 70.0)),
            1: curve((0, 0.0, 20.0), (100, 2.0, 55.0), (200, 3.0, 65.0), (300, 5.0, 80.0)),
            2: curve((0, 0.0, 5.0), (100, 1.5, 15.0), (200, 2.0, 30.0), (300, 3.0, 45.0)),
        },
        "y": {4: curve((0, 0.0, 1.0), (100, 1.0, 2.0))},
    }
    x, y = summarize(runs, 50.0)
    # finals 70, 80, 45: mean 65, population std sqrt((25 + 225 + 400) / 3)
    assert x["final_mean"] == 65.0 and x["final_std"] == pytest.approx(math.sqrt(650 / 3))
    assert (x["seeds"], x["timesteps"], x["train_seconds"]) == (3, 300.0, 4.0)
    # first reach: seed 0 at 100 steps / 1.0 s, seed 1 at 100 / 2.0 s, seed 2 never
    assert (x["reached"], x["first_steps"], x["first_seconds"]) == (2, 100.0, 1.5)
    # sustained: seed 0 from 300 / 4.0 s (dips to 40 at 200), seed 1 from 100 / 2.0 s
    assert (x["sustained"], x["sustained_steps"], x["sustained_seconds"]) == (2, 200.0, 3.0)
    assert (y["reached"], y["first_steps"], y["sustained"], y["sustained_steps"]) == (
        0,
        None,
        0,
        None,
    )
    write_summary(
        tmp_path, [x, y], {"env_id": "E", "threshold": 50.0, "eval_freq": 100, "eval_episodes": 5}
    )
    md = (tmp_path / "summary.md").read_text()
    assert (
        "| x | 3 | 300 | 4.0 | 65.0 +/- 14.7 | 100 steps, 1.5 s (2/3) | 200 steps, 3.0 s (2/3) |"
        in md
    )
    assert "| y | 1 | 100 | 1.0 | 2.0 +/- 0.0 | not reached (0/1) | not reached (0/1) |" in md
    _, rows = read_csv(tmp_path / "summary.csv")
    assert rows[1]["first_steps"] == "" and float(rows[0]["final_mean"]) == 65.0


def test_plot_is_a_png_of_real_size(compared, tmp_path):
    data = (compared / "curves.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    path = plot_curves({"x": {0: curve((0, 0.0, 1.0), (10, 1.0, 3.0))}}, tmp_path / "c.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_matplotlib_names_the_extra(monkeypatch, tmp_path):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'snn-rl\[plot\]'"):
        plot_curves({}, tmp_path / "c.png")
    with pytest.raises(ImportError, match=r"snn-rl\[plot\]"):
        compare("CartPole-v1", ["ppo"], [0], output=tmp_path, total_timesteps=64)
    assert not (tmp_path / "runs").exists()  # before any training


def test_resume_skips_finished_runs_and_reruns_unfinished_ones(compared, tmp_path, monkeypatch):
    out = tmp_path / "cmp"
    shutil.copytree(compared, out)
    calls = []
    real = compare_mod.run_one

    def counting(spec):
        calls.append(spec.name)
        return real(spec)

    monkeypatch.setattr(compare_mod, "run_one", counting)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    rows = compare("CartPole-v1", ALGOS, SEEDS, output=out, verbose=False, **SETTINGS)
    assert calls == []
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()} == mtimes
    assert (out / "summary.csv").read_text() == (compared / "summary.csv").read_text()
    assert [r["final_mean"] for r in rows] == [r["final_mean"] for r in summarize_dir(compared)]
    (out / "runs" / "ppo_1.done.json").unlink()  # as if interrupted during ppo_1
    compare("CartPole-v1", ["ppo"], [0, 1, 2], output=out, verbose=False, plot=False, **SETTINGS)
    assert calls == ["ppo_1", "ppo_2"]
    assert (out / "runs" / "ppo_1.csv").stat().st_mtime_ns > mtimes["ppo_1.csv"]
    assert mean_returns(out, "ppo_1") == mean_returns(compared, "ppo_1")  # same seed, same run
    assert (out / "runs" / "ppo_2.done.json").is_file()


def summarize_dir(out):
    return compare_mod.summarize(compare_mod.load_runs(out, ALGOS, SEEDS), 20.0)


def test_finished_run_with_other_settings_is_an_error(compared, tmp_path):
    out = tmp_path / "cmp"
    shutil.copytree(compared, out)
    settings = {**SETTINGS, "eval_episodes": 3}
    with pytest.raises(ValueError, match="finished run with other settings"):
        compare("CartPole-v1", ["ppo"], [0], output=out, verbose=False, **settings)


def test_every_arm_of_a_seed_uses_the_same_evaluation_seed(tmp_path, monkeypatch):
    seen = []
    real = compare_mod.evaluate

    def recording(model, env_id, *, n_episodes, seed, max_episode_steps):
        seen.append((type(model).__name__, n_episodes, seed))
        return real(
            model, env_id, n_episodes=n_episodes, seed=seed, max_episode_steps=max_episode_steps
        )

    monkeypatch.setattr(compare_mod, "evaluate", recording)
    compare(
        "CartPole-v1",
        ["mstdpet", "dqn"],
        [3],
        output=tmp_path,
        total_timesteps=64,
        eval_freq=64,
        eval_episodes=1,
        threshold=20.0,
        plot=False,
        verbose=False,
    )
    assert {name for name, _, _ in seen} == {"MSTDPETAgent", "DQN"}
    assert {(n, s) for _, n, s in seen} == {(1, 10_003)}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"algos": ["ppo", "trpo"]}, r"unknown algorithms \['trpo'\]; valid: \['mstdpet', 'a2c'"),
        ({"env_id": "CartPole-v9"}, r"unknown environment id .*registered ids: .*CartPole-v1"),
        ({"env_id": "Pendulum-v1", "algos": ["sac"]}, "no reward_threshold.*--threshold"),
        ({"seeds": [-1]}, "seeds"),
        ({"eval_freq": 0}, "eval_freq must be >= 1"),
        ({"backend": "dask"}, "backend must be 'local' or 'ray'"),
    ],
)
def test_bad_arguments_raise_before_any_training(kwargs, match, tmp_path):
    args = {"env_id": "CartPole-v1", "algos": ["ppo"], "seeds": [0], **kwargs}
    with pytest.raises(ValueError, match=match):
        compare(args.pop("env_id"), args.pop("algos"), args.pop("seeds"), output=tmp_path, **args)
    assert not (tmp_path / "runs").exists()


def test_ray_backend_without_ray_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'snn-rl\[ray\]'"):
        compare("CartPole-v1", ["ppo"], [0], output=tmp_path, backend="ray")
    assert main(["compare", "CartPole-v1", "--output", str(tmp_path), "--backend", "ray"]) == 2
    assert "pip install 'snn-rl[ray]'" in capsys.readouterr().err


def test_cli_compare_end_to_end(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["compare", "CartPole-v1", "--algos", "mstdpet", "ppo", "--seeds", "0"]
    argv += ["--total-timesteps", "256", "--eval-freq", "128", "--eval-episodes", "2"]
    assert main([*argv, "--threshold", "20", "--output", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| mstdpet | 1 | " in printed and "| ppo | 1 | " in printed
    assert [r["algo"] for r in read_csv(out / "summary.csv")[1]] == ["mstdpet", "ppo"]
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert [int(r["timesteps"]) for r in read_csv(out / "runs" / "ppo_0.csv")[1]] == [0, 128, 256]
    assert main(["compare", "CartPole-v1", "--algos", "nope", "--output", str(out)]) == 2
    assert (
        "valid: ['mstdpet', 'a2c', 'ddpg', 'dqn', 'ppo', 'sac', 'td3']" in capsys.readouterr().err
    )


def mean_returns(out, name):
    return [r["mean_return"] for r in read_csv(out / "runs" / f"{name}.csv")[1]]


@pytest.mark.slow
def test_process_pool_gives_the_same_curves_as_in_process_runs(compared, tmp_path):
    compare(
        "CartPole-v1", ["mstdpet", "ppo"], [1], output=tmp_path, n_jobs=2, plot=False, **SETTINGS
    )
    for name in ("mstdpet_1", "ppo_1"):
        assert mean_returns(tmp_path, name) == mean_returns(compared, name)


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'snn-rl[ray]'")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_backend_on_a_local_instance(local_ray, compared, tmp_path):
    compare("CartPole-v1", ["ppo"], [0], output=tmp_path, backend="ray", plot=False, **SETTINGS)
    assert mean_returns(tmp_path, "ppo_0") == mean_returns(compared, "ppo_0")
    assert json.loads((tmp_path / "runs" / "ppo_0.done.json").read_text())["num_timesteps"] == 512
    assert local_ray.is_initialized()  # an instance we started is left to us


def test_overrides_reach_the_models_and_are_part_of_the_settings(tmp_path):
    out = tmp_path / "ovr"
    compare(
        "CartPole-v1",
        ["mstdpet"],
        [0],
        output=out,
        verbose=False,
        plot=False,
        total_timesteps=64,
        eval_freq=64,
        eval_episodes=1,
        overrides={"mstdpet": {"network.pop_size": 4}},
    )
    done = json.loads((out / "runs" / "mstdpet_0.done.json").read_text())
    assert done["hyperparams"]["network"]["pop_size"] == 4
    assert done["settings"]["overrides"] == {"network.pop_size": 4}
    with pytest.raises(ValueError, match="other settings"):
        compare(
            "CartPole-v1",
            ["mstdpet"],
            [0],
            output=out,
            verbose=False,
            plot=False,
            total_timesteps=64,
            eval_freq=64,
            eval_episodes=1,
        )
    with pytest.raises(ValueError, match="overrides name algorithms not compared"):
        compare(
            "CartPole-v1",
            ["mstdpet"],
            [0],
            output=out,
            plot=False,
            overrides={"ppo": {"n_steps": 8}},
        )


def test_per_seed_table_numbers():
    from snn_rl.agents.report import per_seed_table

    by_seed = {
        0: curve((10, 1.0, 480.0), (20, 2.0, 490.0)),
        1: curve((10, 1.0, 480.0), (20, 2.0, 100.0)),
        2: curve((10, 1.0, 10.0), (20, 2.0, 20.0)),
    }
    table = per_seed_table(by_seed, 475.0)
    lines = table.splitlines()
    assert lines[2] == "| 0 | 10 | 1 | 10 | 1 | 490 |"
    assert lines[3] == "| 1 | 10 | 1 | not sustained | - | 100 |"
    assert lines[4] == "| 2 | not reached | - | not sustained | - | 20 |"
    assert "2/3 seeds reached 475; 1/3 stayed" in table


def test_batched_spiking_arm_writes_every_seed_as_its_own_run(compared, tmp_path, monkeypatch):
    compare(
        "CartPole-v1",
        ["mstdpet"],
        SEEDS,
        output=tmp_path,
        batched=True,
        plot=False,
        verbose=False,
        **SETTINGS,
    )
    for seed in SEEDS:
        name = f"mstdpet_{seed}"
        steps = [int(r["timesteps"]) for r in read_csv(tmp_path / "runs" / f"{name}.csv")[1]]
        ref = [int(r["timesteps"]) for r in read_csv(compared / "runs" / f"{name}.csv")[1]]
        # the same schedule; a seed that got to its budget before the others trains on with
        # the batch for a few steps, and is evaluated once more at the end
        assert steps[0] == 0 and steps[1] >= 256 and steps[-1] >= 512
        assert len(steps) in (len(ref), len(ref) + 1)
        done = json.loads((tmp_path / "runs" / f"{name}.done.json").read_text())
        assert done["batched"] == 2 and done["num_timesteps"] >= 512
        assert (
            done["settings"]
            == json.loads((compared / "runs" / f"{name}.done.json").read_text())["settings"]
        )
    # finished seeds are skipped when the comparison runs again
    monkeypatch.setattr(compare_mod, "run_population", lambda specs: pytest.fail("retrained"))
    compare(
        "CartPole-v1",
        ["mstdpet"],
        SEEDS,
        output=tmp_path,
        batched=True,
        plot=False,
        verbose=False,
        **SETTINGS,
    )
