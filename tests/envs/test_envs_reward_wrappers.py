"""Reward-signal wrappers for single and vector envs."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from snn_rl.envs import (
    FunctionReward,
    RewardPredictionError,
    RewardSignalWrapper,
    TDError,
    TerminalReward,
    TorchCartPoleVec,
    VectorRewardSignalWrapper,
)


def test_single_env_terminal_shaping_and_env_reward_in_info():
    env = RewardSignalWrapper(gym.make("CartPole-v1"), TerminalReward(-1.0))
    env.reset(seed=0)
    rewards, terminated = [], False
    while not terminated:
        _, reward, terminated, truncated, info = env.step(1)  # always right: falls quickly
        rewards.append(reward)
        assert info["env_reward"] == 1.0 and not truncated
    assert rewards[-1] == -1.0 and set(rewards[:-1]) == {0.0} and len(rewards) > 3


def test_single_env_rpe_numbers_and_callable():
    env = RewardSignalWrapper(gym.make("CartPole-v1"), RewardPredictionError(alpha=0.5))
    env.reset(seed=0)
    assert [env.step(0)[1] for _ in range(3)] == [1.0, 0.5, 0.25]
    env = RewardSignalWrapper(
        gym.make("MountainCar-v0"), lambda r, te, tr, o, o2: o2[:, 0] - o[:, 0]
    )
    obs, _ = env.reset(seed=0)
    next_obs, reward, *_ = env.step(2)
    assert reward == pytest.approx(float(next_obs[0] - obs[0]), abs=1e-6)


def test_single_env_resets_the_signal_at_episode_end():
    features = lambda obs: obs.float()  # noqa: E731
    env = RewardSignalWrapper(gym.make("CartPole-v1"), TDError(features, feature_norm_sq=1.0))
    env.reset(seed=0)
    terminated = False
    while not terminated:
        terminated = env.step(1)[2]
        if not terminated:
            assert env.signal.e_trace is not None
    assert env.signal.e_trace is None
    with pytest.raises(TypeError, match="array observation space"):
        RewardSignalWrapper(gym.make("Blackjack-v1"), TerminalReward())


def test_vector_next_step_dummy_rows_are_inactive():
    """Per-env RPE with alpha=1 tracks the last reward: CartPole's +1 gives 1, then 0 forever.

    If a dummy step (env reward 0) counted, its row would show -1 and then +1.
    """
    envs = gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="vector_entry_point")
    envs = VectorRewardSignalWrapper(envs, RewardPredictionError(alpha=1.0, per_env=True))
    envs.reset(seed=0)
    first = envs.step(np.array([1, 1, 1]))[1]
    np.testing.assert_array_equal(first, [1.0, 1.0, 1.0])
    dummies = 0
    done = np.zeros(3, dtype=bool)
    for _ in range(60):
        _, signal, terminated, truncated, info = envs.step(np.array([1, 0, 1]))
        np.testing.assert_array_equal(signal, np.zeros(3))
        dummies += int(done.sum())
        assert np.all(info["env_reward"][done] == 0.0)
        done = terminated | truncated
    assert dummies >= 3 and isinstance(signal, np.ndarray) and signal.dtype == np.float32


def test_vector_same_step_uses_final_obs():
    def record_x(reward, terminated, truncated, obs, next_obs):
        return next_obs[:, 0]

    for envs in (
        gym.make_vec(
            "CartPole-v1",
            num_envs=2,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        ),
        TorchCartPoleVec(2, autoreset_mode=AutoresetMode.SAME_STEP),
    ):
        wrapped = VectorRewardSignalWrapper(envs, FunctionReward(record_x))
        wrapped.reset(seed=0)
        ends = 0
        for _ in range(40):
            obs, signal, terminated, truncated, info = wrapped.step(np.array([1, 1]))
            for i in range(2):
                expected = info["final_obs"][i][0] if terminated[i] or truncated[i] else obs[i][0]
                assert float(signal[i]) == pytest.approx(float(expected), abs=1e-6)
                ends += bool(terminated[i])
        assert ends >= 2


def test_vector_wrapper_on_torch_env_returns_tensors():
    wrapped = VectorRewardSignalWrapper(TorchCartPoleVec(2), "terminal")
    wrapped.reset(seed=0)
    signal = wrapped.step(torch.tensor([1, 1]))[1]
    assert isinstance(signal, torch.Tensor)
    torch.testing.assert_close(signal, torch.zeros(2))
