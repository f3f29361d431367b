"""Envs without a time limit: training and evaluation cap their episodes, nothing hangs."""

import gymnasium as gym
import numpy as np
import pytest

from snn_rl.agents import MSTDPETAgent
from snn_rl.agents.cli import main
from snn_rl.agents.env_util import (
    DEFAULT_MAX_EPISODE_STEPS,
    as_vector_env,
    make_env,
    make_vec_env,
    time_limit_of,
)
from snn_rl.agents.evaluation import evaluate


class StandStill:
    """A policy that walks into the wall of CliffWalking's start cell: no episode ends."""

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        return np.full(len(obs), 3), None  # LEFT from the start cell stays put


def test_env_without_limit_is_capped_with_a_warning():
    with pytest.warns(UserWarning, match="CliffWalking-v1 sets no time limit.*1000"):
        env = make_env("CliffWalking-v1")
    assert env.spec.max_episode_steps == DEFAULT_MAX_EPISODE_STEPS


def test_explicit_limit_replaces_the_spec_and_does_not_warn(recwarn):
    env = make_env("CliffWalking-v1", max_episode_steps=7)
    env.reset(seed=0)
    for _ in range(6):
        assert not env.step(3)[3]
    assert env.step(3)[3]  # truncated at the 7th step
    assert not [w for w in recwarn if "time limit" in str(w.message)]
    short = make_env("CartPole-v1", max_episode_steps=3)
    assert short.spec.max_episode_steps == 3


def test_evaluation_of_a_policy_that_never_finishes_ends_at_the_cap():
    result = evaluate(StandStill(), "CliffWalking-v1", n_episodes=2, max_episode_steps=25)
    assert result.lengths.tolist() == [25, 25]
    assert result.returns.tolist() == [-25.0, -25.0]


def test_evaluation_progress_bar_counts_episodes(capsys):
    evaluate(StandStill(), "CliffWalking-v1", n_episodes=3, max_episode_steps=5, progress_bar=True)
    assert "3/3" in capsys.readouterr().err


def test_training_envs_are_capped():
    vec = make_vec_env("CliffWalking-v1", 2, max_episode_steps=4)
    vec.reset(seed=0)
    for _ in range(3):
        truncated = vec.step(np.array([3, 3]))[3]
    assert not truncated.any()
    assert vec.step(np.array([3, 3]))[3].all()


def test_agent_on_an_env_instance_without_limit_is_capped():
    raw = gym.make("CliffWalking-v1").unwrapped  # no TimeLimit anywhere in its chain
    with pytest.warns(UserWarning, match="sets no time limit"):
        agent = MSTDPETAgent(raw, seed=0, device="cpu")
    assert time_limit_of(agent.get_env().envs[0]) == DEFAULT_MAX_EPISODE_STEPS
    agent = MSTDPETAgent(
        gym.make("CliffWalking-v1").unwrapped, seed=0, device="cpu", max_episode_steps=10
    )
    assert time_limit_of(agent.get_env().envs[0]) == 10
    assert time_limit_of(gym.make("CliffWalking-v1").unwrapped) is None
    ends = []
    agent.learn(30, callback=lambda loc, _g: ends.append(bool(loc["dones"][0])) or True)
    # the goal is 13 steps from the start: every episode is truncated after 10 steps (the
    # vector step after each end is the autoreset step of the SyncVectorEnv)
    assert [i for i, end in enumerate(ends) if end][:2] == [9, 20]


def test_vector_env_with_a_cap_is_refused():
    vec = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
    with pytest.raises(ValueError, match="max_episode_steps applies to env ids"):
        as_vector_env(vec, 2, "cpu", max_episode_steps=10)
    with pytest.raises(ValueError, match="max_episode_steps"):
        make_env("CartPole-v1", max_episode_steps=0)


def test_cli_train_and_evaluate_take_the_cap(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "CliffWalking-v1",
        "--total-timesteps",
        "64",
        "--n-envs",
        "2",
        "--max-episode-steps",
        "20",
        "--eval-episodes",
        "2",
        "--no-progress",
        "--output",
        str(out),
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    assert "evaluation over 2 episodes" in capsys.readouterr().out
    assert (
        main(
            [
                "evaluate",
                str(out / "model.zip"),
                "--episodes",
                "2",
                "--json",
                "--max-episode-steps",
                "9",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert '"mean_length": 9.0' in capsys.readouterr().out  # the goal is 13 steps away
