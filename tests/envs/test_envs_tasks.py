"""Research tasks: check_env, seeding, rewards, registration."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import snn_rl.envs  # noqa: F401  (registers the ids)
from snn_rl.envs import BanditEnv, TargetRateEnv, XOREnv

TASK_IDS = ["snn_rl/Bandit-v0", "snn_rl/XOR-v0", "snn_rl/TargetRate-v0"]


@pytest.mark.parametrize("env_id", TASK_IDS)
@pytest.mark.parametrize("render_mode", [None, "ansi"])
def test_check_env_passes_without_warnings(env_id, render_mode):
    env = gym.make(env_id, render_mode=render_mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    if render_mode == "ansi":
        env.reset(seed=0)
        env.step(env.action_space.sample())
        assert "trial 1/1" in env.render() or "pull 1/1" in env.render()


@pytest.mark.parametrize("env_id", TASK_IDS)
def test_seeded_episodes_repeat(env_id):
    def rollout(seed):
        env = gym.make(env_id)
        env.action_space.seed(seed)
        out = []
        for episode in range(20):
            obs, _ = env.reset(seed=seed if episode == 0 else None)
            reward = env.step(env.action_space.sample())[1]
            out.append((np.asarray(obs).tolist(), reward))
        return out

    assert rollout(3) == rollout(3)
    assert rollout(3) != rollout(4)


def test_on_demand_import_form_and_thresholds():
    env = gym.make("snn_rl.envs:snn_rl/Bandit-v0")
    assert isinstance(env.unwrapped, BanditEnv)
    thresholds = {env_id: gym.spec(env_id).reward_threshold for env_id in TASK_IDS}
    assert thresholds == {
        "snn_rl/Bandit-v0": 0.75,
        "snn_rl/XOR-v0": 0.9,
        "snn_rl/TargetRate-v0": -0.1,
    }


def test_bandit_payout_frequencies_and_episode_length():
    env = BanditEnv(probs=(0.3, 0.7, 0.0), episode_length=4)
    env.reset(seed=0)
    payouts = {0: [], 1: [], 2: []}
    steps = 0
    while steps < 6000:
        arm = steps % 3
        obs, reward, terminated, truncated, info = env.step(arm)
        payouts[arm].append(reward)
        steps += 1
        assert obs == 0 and not truncated and terminated == (steps % 4 == 0)
        assert info["regret"] == pytest.approx(0.7 - env.probs[arm])
        if terminated:
            env.reset()
    # 2000 pulls each: binomial standard deviation about 0.01
    assert np.mean(payouts[0]) == pytest.approx(0.3, abs=0.05)
    assert np.mean(payouts[1]) == pytest.approx(0.7, abs=0.05)
    assert np.mean(payouts[2]) == 0.0
    assert env.optimal_return == pytest.approx(2.8)


def test_bandit_validation():
    with pytest.raises(ValueError, match="probs"):
        BanditEnv(probs=(0.5,))
    with pytest.raises(ValueError, match="probs"):
        BanditEnv(probs=(0.5, 1.2))
    with pytest.raises(ValueError, match="episode_length"):
        BanditEnv(episode_length=0)
    env = BanditEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(2)


def test_xor_rewards_every_pattern():
    env = XOREnv()
    seen = {}
    for seed in range(400):
        obs, _ = env.reset(seed=seed)
        bits = (int(obs[0]), int(obs[1]))
        assert set(obs.tolist()) <= {0.0, 1.0} and obs.dtype == np.float32
        answer = bits[0] ^ bits[1]
        right = env.step(answer)
        env.reset(seed=seed)
        wrong = env.step(1 - answer)
        assert (right[1], wrong[1], right[2], right[4]["target"]) == (1.0, -1.0, True, answer)
        seen[bits] = seen.get(bits, 0) + 1
    assert set(seen) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert all(60 <= count <= 140 for count in seen.values())  # uniform: 100 +- ~9 each


def test_xor_multi_trial_episode():
    env = XOREnv(episode_length=3)
    obs, _ = env.reset(seed=1)
    for trial in range(3):
        target = int(obs[0]) ^ int(obs[1])
        obs, reward, terminated, _, info = env.step(target)
        assert reward == 1.0 and info["target"] == target and terminated == (trial == 2)


def test_target_rate_rewards():
    env = TargetRateEnv()
    for seed in range(10):
        pattern, _ = env.reset(seed=seed)
        target = np.array([[0.8, 0.2], [0.2, 0.8]])[pattern]
        assert env.step(target.astype(np.float32))[1] == pytest.approx(0.0, abs=1e-7)
        env.reset(seed=seed)
        _, reward, terminated, _, info = env.step(np.array([0.5, 0.5], dtype=np.float32))
        assert reward == pytest.approx(-0.3) and info["error"] == pytest.approx(0.3)
        env.reset(seed=seed)
        opposite = np.array([[0.8, 0.2], [0.2, 0.8]])[1 - pattern].astype(np.float32)
        assert env.step(opposite)[1] == pytest.approx(-0.6)
        assert terminated
    with pytest.raises(ValueError, match="firing rates"):
        env.step(np.array([1.5, 0.0], dtype=np.float32))
    with pytest.raises(ValueError, match="firing rates"):
        env.step(np.array([0.5], dtype=np.float32))
    with pytest.raises(ValueError, match="targets"):
        TargetRateEnv(targets=((0.5, 1.5),))
