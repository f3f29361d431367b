"""SB3 baselines: YAML hyperparameters (schedules), the shared env factory, normalisation."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecNormalize
from torch import nn

from snn_rl.agents import baselines
from snn_rl.agents.baselines import (
    NormalizedPolicy,
    baseline_budget,
    baseline_hyperparams,
    eval_policy,
    make_baseline,
    parse_hyperparams,
    parse_schedule,
)
from snn_rl.agents.hyperparams import available_algos, tuned_env_ids


def test_linear_schedule_is_progress_remaining_times_initial_value():
    schedule = parse_schedule("lin_0.001", name="learning_rate")
    assert schedule(1.0) == pytest.approx(0.001)
    assert schedule(0.5) == pytest.approx(0.0005)
    assert schedule(0.1) == pytest.approx(0.0001)
    assert schedule(0.0) == 0.0
    assert parse_schedule(0.2) == 0.2
    assert parse_schedule("1e-3") == 0.001  # YAML reads 1e-3 (no dot) as a string


@pytest.mark.parametrize("bad", ["exp_0.1", "lin_x", "lin_", float("nan"), True, None])
def test_bad_schedules_name_the_key(bad):
    with pytest.raises(ValueError, match="clip_range"):
        parse_schedule(bad, name="clip_range")


def test_yaml_entry_is_parsed_with_numbers_schedules_and_policy_kwargs():
    raw = yaml.safe_load(
        """
        n_timesteps: !!float 1e5
        n_envs: 4
        policy: MlpPolicy
        learning_rate: lin_2.5e-4
        clip_range: 1e-1
        gamma: 0.98
        normalize: {norm_obs: true, norm_reward: false}
        policy_kwargs: {net_arch: [64, 64], activation_fn: relu}
        """
    )
    config = parse_hyperparams("PPO", raw)
    assert config.algo == "ppo"
    assert config.n_timesteps == 100_000 and isinstance(config.n_timesteps, int)
    assert config.n_envs == 4 and config.policy == "MlpPolicy"
    assert config.kwargs["learning_rate"](0.4) == pytest.approx(1e-4)
    assert config.kwargs["clip_range"] == 0.1
    assert config.kwargs["gamma"] == 0.98
    assert config.normalize == {"norm_obs": True, "norm_reward": False}
    assert config.kwargs["policy_kwargs"] == {"net_arch": [64, 64], "activation_fn": nn.ReLU}
    assert parse_hyperparams("ppo", {"normalize": True}).normalize == {}
    assert parse_hyperparams("ppo", {}).n_timesteps is None


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"n_stepz": 8}, "n_steps"),
        ({"n_envs": 0}, "n_envs"),
        ({"n_timesteps": 1.5}, "n_timesteps"),
        ({"policy_kwargs": {"activation_fn": "swish"}}, "relu"),
        ({"normalize": "yes"}, "normalize"),
    ],
)
def test_bad_hyperparameters_raise_clear_errors(raw, match):
    with pytest.raises(ValueError, match=match):
        parse_hyperparams("ppo", raw)


def test_every_shipped_entry_parses_and_names_a_registered_env():
    for algo in set(available_algos()) - {"mstdpet"}:
        for env_id in tuned_env_ids(algo):
            baselines.check_env_id(env_id)
            assert parse_hyperparams(algo, baseline_hyperparams(algo, env_id)).n_timesteps > 0


def test_zoo_budgets():
    assert baseline_budget("ppo", "CartPole-v1") == 100_000
    assert baseline_budget("a2c", "CartPole-v1") == 500_000
    assert baseline_budget("dqn", "CartPole-v1") == 50_000
    assert baseline_budget("dqn", "Acrobot-v1") == 100_000
    assert baseline_budget("sac", "Pendulum-v1") == 20_000
    assert baseline_budget("td3", "Pendulum-v1") is None  # no YAML file: SB3 defaults


def test_ppo_cartpole_gets_the_zoo_values_on_monitor_wrapped_factory_envs(monkeypatch):
    made = []
    real = baselines.make_env

    def counting(env_id, **kwargs):
        made.append(env_id)
        return real(env_id, **kwargs)

    monkeypatch.setattr(baselines, "make_env", counting)
    model = make_baseline("ppo", "CartPole-v1", seed=0)
    assert made == ["CartPole-v1"] * 8
    assert (model.n_envs, model.n_steps, model.batch_size, model.n_epochs) == (8, 32, 256, 20)
    assert (model.gamma, model.gae_lambda) == (0.98, 0.8)
    assert model.lr_schedule(0.5) == pytest.approx(5e-4)
    assert model.clip_range(0.25) == pytest.approx(0.05)
    assert all(isinstance(env, Monitor) for env in model.get_env().envs)
    assert eval_policy(model) is model


def test_overrides_and_dqn_net_arch():
    model = make_baseline(
        "ppo", "CartPole-v1", seed=0, n_envs=2, hyperparams={"n_steps": 16, "batch_size": 32}
    )
    assert (model.n_envs, model.n_steps, model.batch_size, model.n_epochs) == (2, 16, 32, 20)
    dqn = make_baseline("dqn", "CartPole-v1", seed=0)
    assert dqn.policy.net_arch == [256, 256]
    assert (dqn.train_freq.frequency, dqn.gradient_steps) == (256, 128)


def test_same_seed_trains_the_same_model():
    def train() -> dict:
        model = make_baseline(
            "ppo", "CartPole-v1", seed=3, n_envs=2, hyperparams={"n_steps": 32, "batch_size": 32}
        )
        model.learn(128)
        return model.policy.state_dict()

    first, second = train(), train()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_unknown_algo_env_and_action_space_raise_listing_valid_ones():
    with pytest.raises(ValueError, match=r"valid: \['a2c', 'ddpg', 'dqn', 'ppo', 'sac', 'td3'\]"):
        make_baseline("trpo", "CartPole-v1", seed=0)
    with pytest.raises(
        ValueError, match=r"unknown environment id 'CartPole-v9'; registered ids: .*CartPole-v1, "
    ):
        make_baseline("ppo", "CartPole-v9", seed=0)
    with pytest.raises(ValueError, match="dqn needs a Discrete action space; Pendulum-v1 has Box"):
        make_baseline("dqn", "Pendulum-v1", seed=0)
    with pytest.raises(ValueError, match="seed"):
        make_baseline("ppo", "CartPole-v1", seed=-1)
    if "test/VectorOnly-v0" not in gym.registry:
        gym.register("test/VectorOnly-v0", vector_entry_point="snn_rl.envs:TorchCartPoleVec")
    with pytest.raises(ValueError, match="test/VectorOnly-v0 is a vector-only env"):
        make_baseline("ppo", "test/VectorOnly-v0", seed=0)
    # the torch-native twins have a single-env entry point of the same dynamics
    assert make_baseline("ppo", "snn_rl/CartPole-v1", seed=0).observation_space.shape == (4,)


def test_any_sb3_algorithm_by_name():
    sac = make_baseline("SAC", "Pendulum-v1", seed=0, hyperparams={"buffer_size": 1000})
    assert sac.lr_schedule(1.0) == pytest.approx(0.001)
    assert sac.n_envs == 1


def test_normalized_model_is_evaluated_with_frozen_training_statistics():
    model = make_baseline(
        "ppo", "Acrobot-v1", seed=0, n_envs=2, hyperparams={"n_steps": 8, "batch_size": 16}
    )
    norm = model.get_vec_normalize_env()
    assert isinstance(norm, VecNormalize) and norm.gamma == 0.99
    model.learn(32)
    policy = eval_policy(model)
    assert isinstance(policy, NormalizedPolicy)
    mean, var = norm.obs_rms.mean.copy(), norm.obs_rms.var.copy()
    model.learn(64)  # the training statistics move on; the snapshot does not
    assert not np.allclose(norm.obs_rms.mean, mean)
    obs = np.full((1, 6), 0.5, dtype=np.float32)
    expected = np.clip((obs - mean) / np.sqrt(var + 1e-8), -10.0, 10.0).astype(np.float32)
    np.testing.assert_allclose(policy.vec_normalize.normalize_obs(obs), expected, rtol=1e-6)
    action, _ = policy.predict(obs, deterministic=True)
    assert np.array_equal(action, model.predict(expected, deterministic=True)[0])
    # counts: epsilon 1e-4 + 2 reset observations + 2 envs x 16 steps, then + 2 + 64
    assert math.isclose(policy.vec_normalize.obs_rms.count, 1e-4 + 2 + 32)
    assert math.isclose(norm.obs_rms.count, 1e-4 + 2 + 32 + 2 + 64)
