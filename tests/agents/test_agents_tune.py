"""snn-rl tune: Optuna studies over an agent's search space, best.yml, trials.csv, resuming."""

import csv
import json
import math
import sys

import numpy as np
import pytest
import yaml

optuna = pytest.importorskip("optuna")

from snn_rl import NonFiniteError  # noqa: E402
from snn_rl.agents import AGENTS, MSTDPETAgent, MSTDPETConfig, SpikingAgent  # noqa: E402
from snn_rl.agents import tune as tune_mod  # noqa: E402
from snn_rl.agents.cli import main  # noqa: E402
from snn_rl.agents.evaluation import EvalResult  # noqa: E402
from snn_rl.agents.hyperparams import HYPERPARAMS_DIR  # noqa: E402
from snn_rl.agents.registry import register_agent, tuned_settings  # noqa: E402
from snn_rl.agents.tune import TRIAL_COLUMNS, tune  # noqa: E402

ENV = "snn_rl/Bandit-v0"
FAST = {"n_timesteps": 200, "eval_freq": 100, "eval_episodes": 2, "verbose": False}


def read_trials(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def scripted(monkeypatch):
    """Replace evaluation by a script of mean returns (one per call, then 0.5)."""
    values: list[float] = []

    def fake(model, env_id, **kwargs):
        value = values.pop(0) if values else 0.5
        return EvalResult(np.full(2, value), np.ones(2, dtype=int))

    monkeypatch.setattr(tune_mod, "evaluate", fake)
    return values


@pytest.fixture
def no_training(monkeypatch):
    """Trials that build their agent but skip training (for tests of the study's logic)."""
    monkeypatch.setattr(MSTDPETAgent, "learn", lambda self, *args, **kwargs: self)


@pytest.fixture
def extra_agent():
    """Register agent classes for one test (removed afterwards)."""
    names = []

    def register(name, cls):
        register_agent(name, cls, hyperparams=HYPERPARAMS_DIR / "mstdpet.yml")
        names.append(name)

    yield register
    for name in names:
        AGENTS.pop(name, None)


def test_best_yml_is_a_train_config_and_trials_csv_lists_every_trial(tmp_path):
    out = tmp_path / "tune"
    result = tune(ENV, n_trials=2, sampler="random", output=out, **FAST)
    assert result.best_path == out / "best.yml" and result.trials_path == out / "trials.csv"
    best = yaml.safe_load(result.best_path.read_text())
    assert best.pop("n_timesteps") == 200
    assert best == result.best_config
    for key, value in result.best_params.items():  # the sampled values are in the config
        section, _, name = key.rpartition(".")
        node = best[section] if section else best
        assert node[name] == value
    rows = read_trials(result.trials_path)
    assert tuple(rows[0]) == TRIAL_COLUMNS and [r["number"] for r in rows] == ["0", "1"]
    assert {r["state"] for r in rows} == {"COMPLETE"}
    assert json.loads(rows[result.best_number]["params"]) == result.best_params
    assert float(rows[result.best_number]["value"]) == result.best_value
    train_out = tmp_path / "train"
    argv = ["train", ENV, "--config", str(result.best_path), "--total-timesteps", "200"]
    argv += ["--output", str(train_out), "--eval-episodes", "2", "--no-progress"]
    assert main(argv) == 0
    trained = yaml.safe_load((train_out / "config.yml").read_text())
    assert trained.pop("n_timesteps") == 200 and trained == best


def test_a_sqlite_study_is_resumed_and_its_settings_checked(tmp_path, scripted, no_training):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    kw = {"storage": storage, "study_name": "s", "sampler": "random", **FAST}
    first = [t.params for t in tune(ENV, n_trials=2, output=tmp_path, **kw).study.get_trials()]
    trials = tune(ENV, n_trials=1, output=tmp_path, **kw).study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2]
    assert [t.params for t in trials[:2]] == first
    assert trials[2].params not in [t.params for t in trials[:2]]  # a new sampler stream
    assert len(read_trials(tmp_path / "trials.csv")) == 3
    with pytest.raises(ValueError, match="other settings"):
        tune(ENV, n_trials=1, **{**kw, "n_timesteps": 300})


def test_median_pruner_prunes_a_trial_below_the_median(tmp_path, scripted):
    scripted += [1.0, 1.0, 0.0]  # trial 0: 1.0 at steps 100 and 200; trial 1: 0.0 at 100
    kw = {"n_trials": 2, "sampler": "random", "n_startup_trials": 0, "n_warmup_steps": 0}
    result = tune(ENV, pruner="median", output=tmp_path, **kw, **FAST)
    states = [t.state.name for t in result.study.get_trials()]
    assert states == ["COMPLETE", "PRUNED"]
    assert scripted == []  # the pruned trial stopped before its last evaluation
    pruned = result.study.get_trials()[1]
    assert pruned.intermediate_values == {100: 0.0}
    assert "median pruner at step 100" in pruned.user_attrs["reason"]
    assert read_trials(tmp_path / "trials.csv")[1]["reason"] == pruned.user_attrs["reason"]
    scripted += [1.0, 1.0, 0.0]
    kept = tune(ENV, pruner="none", **kw, **FAST)
    assert [t.state.name for t in kept.study.get_trials()] == ["COMPLETE", "COMPLETE"]


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_seeded_sampler_proposes_the_same_trials(sampler, scripted, no_training):
    kw = {"n_trials": 3, "sampler": sampler, "n_startup_trials": 1, "pruner": "none", **FAST}

    def params(seed):
        return [t.params for t in tune(ENV, seed=seed, **kw).study.get_trials()]

    assert params(3) == params(3)
    assert params(3) != params(4)


def test_invalid_configurations_and_nan_are_pruned_with_their_reason(
    tmp_path, scripted, extra_agent, monkeypatch, capsys
):
    class BadSpace(MSTDPETAgent):
        @classmethod
        def search_space(cls, trial):
            return {"rule.lr": trial.suggest_float("rule.lr", -1.0, -0.5)}

    extra_agent("badspace", BadSpace)
    result = tune(ENV, "badspace", n_trials=2, output=tmp_path, **FAST)
    trials = result.study.get_trials()
    assert [t.state.name for t in trials] == ["PRUNED", "PRUNED"] and result.best_number is None
    assert "invalid configuration: rule.lr must be >= 0" in trials[0].user_attrs["reason"]
    assert not (tmp_path / "best.yml").exists() and len(read_trials(result.trials_path)) == 2
    argv = ["tune", ENV, "--algo", "badspace", "--n-trials", "1", "--n-timesteps", "200"]
    assert main([*argv, "--output", str(tmp_path / "cli"), "--quiet"]) == 2
    assert "no trial of the study completed" in capsys.readouterr().err
    scripted += [math.nan]
    nan = tune(ENV, n_trials=1, **FAST).study.get_trials()[0]
    assert nan.state.name == "PRUNED" and "return is nan" in nan.user_attrs["reason"]

    def diverge(self, *args, **kwargs):
        raise NonFiniteError("weight of layer output holds NaN")

    monkeypatch.setattr(MSTDPETAgent, "learn", diverge)
    diverged = tune(ENV, n_trials=1, **FAST).study.get_trials()[0]
    assert (
        diverged.state.name == "PRUNED"
        and "NaN or inf in training" in diverged.user_attrs["reason"]
    )


def test_parallel_trials_share_a_temporary_storage(tmp_path):
    result = tune(ENV, n_trials=2, n_jobs=2, sampler="random", output=tmp_path, **FAST)
    trials = result.study.get_trials()
    assert sorted(t.number for t in trials) == [0, 1]
    assert {t.state.name for t in trials} == {"COMPLETE"}
    assert trials[0].params != trials[1].params  # each worker has its own sampler stream
    assert isinstance(result.study._storage, optuna.storages.InMemoryStorage)
    assert (tmp_path / "best.yml").is_file() and len(read_trials(tmp_path / "trials.csv")) == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_trials": 0}, ValueError, "n_trials must be >= 1"),
        ({"sampler": "grid"}, ValueError, "sampler must be one of"),
        ({"pruner": "hyperband"}, ValueError, "pruner must be one of"),
        ({"storage": "study.db"}, ValueError, "storage must be an SQLAlchemy"),
        ({"storage": "nosuchdb://host/x"}, ValueError, "storage 'nosuchdb://host/x' cannot"),
        ({"eval_episodes": 0}, ValueError, "eval_episodes must be >= 1"),
        ({"n_jobs": 0}, ValueError, "n_jobs must be >= 1"),
        ({"algo": "nope"}, ValueError, "unknown spiking agent 'nope'"),
        ({"env_id": "NoSuchEnv-v0"}, ValueError, "unknown environment id"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, error, match):
    kwargs = {"env_id": ENV, **FAST, **kwargs}
    with pytest.raises(error, match=match):
        tune(kwargs.pop("env_id"), **kwargs)


def test_an_agent_without_a_search_space_cannot_be_tuned(extra_agent):
    class NoSpace(MSTDPETAgent):
        search_space = SpikingAgent.__dict__["search_space"]

    extra_agent("nospace", NoSpace)
    with pytest.raises(NotImplementedError, match="NoSpace defines no search space"):
        tune(ENV, "nospace", n_trials=1, **FAST)


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, capsys, monkeypatch):
    base = ["tune", ENV, "--n-trials", "1", "--output", str(tmp_path)]
    assert main([*base, "--storage", "study.db"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("snn-rl tune: error: storage must be") and "\n" not in err
    (tmp_path / "file").write_text("")
    assert main(["tune", ENV, "--output", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["tune", ENV, "--n-trials", "0"])
    assert exc.value.code == 2 and "--n-trials" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert main(base) == 2
    assert "pip install 'snn-rl[tune]'" in capsys.readouterr().err


def test_cli_tune_writes_best_yml(tmp_path, capsys):
    argv = ["tune", ENV, "--n-trials", "1", "--n-timesteps", "100", "--eval-episodes", "2"]
    assert main([*argv, "--sampler", "random", "--output", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "trial 0 COMPLETE" in printed and f"--config {tmp_path / 'best.yml'}" in printed
    assert yaml.safe_load((tmp_path / "best.yml").read_text())["n_timesteps"] == 100


@pytest.mark.parametrize("env_id", ["CartPole-v1", ENV, "snn_rl/XOR-v0"])
def test_search_space_values_are_valid_configurations(env_id):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    base = MSTDPETConfig().merged(tuned_settings("mstdpet", env_id)[0])
    for _ in range(30):
        space = MSTDPETAgent.search_space(study.ask())
        config = base.merged(space)
        assert config.rule.lr == space["rule.lr"] and config.critic.kind == "td"
    with pytest.raises(NotImplementedError, match="SpikingAgent defines no search space"):
        SpikingAgent.search_space(study.ask())


def test_batched_trials_share_the_shape_parameters_and_vary_the_rest(tmp_path, scripted):
    # batch 1: trials 0, 1 evaluated at 100 then 200; batch 2: trials 2, 3 at 100, where
    # trial 3 (0.0) falls below the completed trials' median and is pruned, then trial 2 at 200
    scripted += [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0]
    kw = {"n_trials": 4, "batch": 2, "sampler": "random", "n_startup_trials": 0}
    result = tune(ENV, n_warmup_steps=0, output=tmp_path, **kw, **FAST)
    trials = result.study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED"]
    assert scripted == []  # the pruned trial was not evaluated again
    assert trials[3].intermediate_values == {100: 0.0}
    assert all(t.user_attrs["batch"] == 2 for t in trials)
    variable = set(MSTDPETAgent.population_variants)
    for pair in (trials[:2], trials[2:]):
        shared = [{k: v for k, v in t.params.items() if k not in variable} for t in pair]
        assert shared[0] == shared[1] and "n_envs" in shared[0]
        assert pair[0].params["rule.lr"] != pair[1].params["rule.lr"]
        for trial in pair:  # each trial's stored configuration is its own
            assert trial.user_attrs["config"]["rule"]["lr"] == trial.params["rule.lr"]
    assert len(read_trials(tmp_path / "trials.csv")) == 4 and (tmp_path / "best.yml").is_file()


def test_batched_trials_prune_an_invalid_variant_alone(extra_agent, scripted):
    class HalfBad(MSTDPETAgent):
        @classmethod
        def search_space(cls, trial):
            return {"rule.lr": trial.suggest_float("rule.lr", -0.05, 0.05)}

    extra_agent("halfbad", HalfBad)
    result = tune(ENV, "halfbad", n_trials=6, batch=3, sampler="random", **FAST)
    trials = result.study.get_trials()
    for t in trials:
        if t.params["rule.lr"] < 0:
            assert t.state.name == "PRUNED"
            assert "invalid configuration: variants[" in t.user_attrs["reason"]
            assert "rule.lr must be >= 0" in t.user_attrs["reason"]
        else:
            assert t.state.name == "COMPLETE"
    assert {t.state.name for t in trials} == {"PRUNED", "COMPLETE"}


def test_cli_tune_batch_trains_trials_together(tmp_path, capsys):
    argv = ["tune", ENV, "--n-trials", "2", "--batch", "2", "--n-timesteps", "100"]
    assert (
        main([*argv, "--eval-episodes", "2", "--sampler", "random", "--output", str(tmp_path)]) == 0
    )
    printed = capsys.readouterr().out
    assert "trial 0 COMPLETE" in printed and "trial 1 COMPLETE" in printed
    rows = read_trials(tmp_path / "trials.csv")
    assert (
        len(rows) == 2
        and json.loads(rows[0]["params"])["n_envs"] == json.loads(rows[1]["params"])["n_envs"]
    )
