"""The speed benchmark compares like with like: its hand-written floor does snn_rl's math."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


speed = load("speed")


@pytest.mark.parametrize("case, batch", [("N1", 3), ("N2", 2), ("N3", 2)])
def test_floor_and_snn_rl_learn_the_same_weights(case, batch):
    inputs = speed.make_inputs(case, batch, "cpu")
    ours = speed.build_snn_rl(case, batch, inputs, "cpu", per_env=False)
    per_env = speed.build_snn_rl(case, batch, inputs, "cpu", per_env=True)
    floor = speed.build_floor(case, batch, inputs, "cpu")
    start = [w.clone() for w in floor.weights()]
    for t in range(40):
        ours(t), per_env(t), floor(t)
    for w0, a, b, f in zip(start, ours.weights(), per_env.weights(), floor.weights(), strict=True):
        torch.testing.assert_close(a, f, rtol=0, atol=1e-6)
        torch.testing.assert_close(b, f, rtol=0, atol=1e-6)
        assert (f - w0).abs().max() > 1e-5  # the rules did change the weights


@pytest.mark.parametrize("case", ["N1", "N2"])
def test_floor_with_a_reward_lag_applies_the_same_change_one_step_later(case):
    # SpikingJelly's reward alignment: the eligibility of step 9 is applied after step 10
    inputs = speed.make_inputs(case, 2, "cpu")
    plain = speed.build_floor(case, 2, inputs, "cpu")
    lagged = speed.build_floor(case, 2, inputs, "cpu", reward_lag=1)
    start = [w.clone() for w in plain.weights()]
    for t in range(10):
        plain(t), lagged(t)
    for w0, a, b in zip(start, plain.weights(), lagged.weights(), strict=True):
        assert (a - w0).abs().max() > 1e-5  # plain: changed after step 9
        torch.testing.assert_close(b, w0, rtol=0, atol=0)  # lagged: not yet
    lagged(10)
    for a, b in zip(plain.weights(), lagged.weights(), strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=0)  # same e of step 9, one step later
    with pytest.raises(ValueError, match="reward_lag"):
        speed.build_floor("N3", 2, speed.make_inputs("N3", 2, "cpu"), "cpu", reward_lag=1)


def test_every_peer_has_notes_for_every_case(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # speed_peers imports the shared parameters
    peers = load("speed_peers")  # (torch only: each library is imported when it builds)
    assert set(peers.SIMS) == set(speed.PEERS) <= set(speed.SIMS)
    for sim in peers.SIMS:
        for case in speed.IN_SHAPES:
            assert peers.NOTES[(sim, case)]
    assert speed.reward_lag("spikingjelly", "N1") == 1 and speed.reward_lag("pysnn", "N1") == 0


def test_worker_reports_a_rate_and_memory(capsys):
    speed.main(["--worker", "--sim", "floor", "--case", "N1", "--batch", "2", "--seconds",
                "0.02", "--repeats", "2"])  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result["sim"] == "floor" and result["batch"] == 2
    assert result["steps_per_s"] > 0 and len(result["steps_per_s_all"]) == 2
    assert result["peak_rss_mib"] >= result["rss_after_torch_mib"] > 0


def test_table_ratios():
    rows = [
        {"sim": "snn_rl", "case": "N1", "batch": 64, "steps_per_s": 2000.0, "peak_rss_mib": 1},
        {"sim": "floor", "case": "N1", "batch": 64, "steps_per_s": 3000.0, "peak_rss_mib": 1},
        {"sim": "pysnn", "case": "N1", "batch": 64, "steps_per_s": 100.0, "peak_rss_mib": 9},
        {"sim": "bindsnet", "case": "N1", "batch": 64, "error": "ImportError"},
        {"sim": "spikingjelly", "case": "N1", "batch": 64, "steps_per_s": 400.0, "peak_rss_mib": 5},
    ]
    header, _, line = speed.table(rows).splitlines()
    assert header.count("|") == line.count("|")
    assert "| 20x | - | 5.00x |" in line and "| 1.50x |" in line and "| 1 / 9 / - / 5 |" in line


def test_bad_arguments_name_the_option():
    with pytest.raises(SystemExit):
        speed.parse_args(["--cases", "N9"])
    with pytest.raises(SystemExit):
        speed.parse_args(["--sims", "brian2"])


def test_plot_speed_writes_an_image(tmp_path):
    pytest.importorskip("matplotlib")
    plot_speed = load("plot_speed")
    results = [
        {"sim": sim, "case": "N1", "batch": b, "steps_per_s": rate * b**0.5}
        for sim, rate in (("snn_rl", 5000.0), ("floor", 9000.0))
        for b in (1, 16, 64)
    ]
    results += [
        {"sim": "snn_rl", "case": "agent:gym", "batch": 16, "steps_per_s": 2000.0},
        {"sim": "snn_rl", "case": "agent:torch", "batch": 16, "error": "boom"},
    ]
    src = tmp_path / "speed.json"
    src.write_text(json.dumps({"machine": {"cpu": "test"}, "results": results}))
    plot_speed.main([str(src)])
    image = tmp_path / "speed.png"
    assert image.stat().st_size > 1000 and image.read_bytes()[:4] == b"\x89PNG"
    assert list(plot_speed.series(results)) == ["N1", "agent"]


def test_guard_cost_script_measures_both_settings():
    guard = load("guard_cost")
    pairs = guard.network_pairs("N1", 1, pairs=1, steps=5)
    assert len(pairs) == 1 and all(rate > 0 for rate in pairs[0])


def test_grid_trains_every_variant_and_seed_as_one_population(tmp_path):
    grid = load("grid")
    out = tmp_path / "grid"
    argv = ["snn_rl/Bandit-v0", "--seeds", "0", "1", "--grid", "rule.lr=[0.01, 0.05]"]
    argv += ["--total-timesteps", "200", "--eval-freq", "100", "--eval-episodes", "2"]
    assert grid.main([*argv, "--output", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())["summary"]
    assert [s["variant"] for s in summary] == [{"rule.lr": 0.01}, {"rule.lr": 0.05}]
    assert all(set(s["final"]) == {"0", "1"} for s in summary)
    rows = (out / "curves.csv").read_text().splitlines()
    assert rows[0].startswith("agent,seed,variant") and len(rows) == 1 + 4 * 2  # at 100, 200


def test_shaped_reward_scores_the_env_return(tmp_path):
    shaped = load("shaped_reward")
    out = tmp_path / "shaped"
    argv = ["--seeds", "0", "--total-timesteps", "200", "--eval-freq", "100"]
    assert shaped.main([*argv, "--eval-episodes", "2", "--output", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["reward"]["name"] == "centre"  # the user function, by name
    assert set(summary["per_seed"]) == {"0"}


def test_reference_policies_score_each_constant_action_and_random(tmp_path, capsys):
    ref = load("reference_policies")
    out = tmp_path / "ref.json"
    argv = ["CartPole-v1", "--seeds", "0", "1", "--episodes", "5", "--output", str(out)]
    assert ref.main(argv) == 0
    results = json.loads(out.read_text())
    assert list(results) == ["always 0", "always 1", "uniformly random"]
    # pushing one way topples the pole within about ten steps; random lasts longer
    assert all(5 <= results[f"always {a}"]["mean"] <= 12 for a in (0, 1))
    assert results["uniformly random"]["mean"] > results["always 1"]["mean"]
    assert set(results["always 0"]["per_seed"]) == {"0", "1"}
    assert "always 1: " in capsys.readouterr().out
    assert ref.main([*argv, "--actions", "1", "--no-random"]) == 0
    assert list(json.loads(out.read_text())) == ["always 1"]
    with pytest.raises(SystemExit):
        ref.main(["CartPole-v1", "--actions", "3"])
    assert "--actions: 3 is not an action of Discrete(2)" in capsys.readouterr().err


def test_homeostasis_and_a_neighbourhood_make_conv_features_orientation_selective():
    bars = load("fede_bars")
    scores = {}
    for radius, rate in ((0, None), (2, 0.002)):
        net = bars.build(1, 4, 1.5, 0.5, 1.0, radius)
        scores[radius] = bars.train(net, 0.02, steps=200, seed=1, target_rate=rate, points=1)
    plain_after, after, favourites = scores[0][-1][0], *scores[2][-1]
    assert plain_after < 0.5  # FedeSTDP alone: every map answers several orientations
    assert after >= 0.95 and favourites == 4  # each map one orientation, all four covered
