"""Reward-function wrappers for single and vector envs."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from snn_rl.envs import (
    EnvReward,
    FunctionReward,
    RewardFunctionWrapper,
    TerminalReward,
    TorchCartPoleVec,
    VectorRewardFunctionWrapper,
)


def test_single_env_terminal_shaping_and_env_reward_in_info():
    env = RewardFunctionWrapper(gym.make("CartPole-v1"), TerminalReward(-1.0))
    env.reset(seed=0)
    rewards, terminated = [], False
    while not terminated:
        _, reward, terminated, truncated, info = env.step(1)  # always right: falls quickly
        rewards.append(reward)
        assert info["env_reward"] == 1.0 and not truncated
    assert rewards[-1] == -1.0 and set(rewards[:-1]) == {0.0} and len(rewards) > 3
    with pytest.raises(TypeError, match="array observation space"):
        RewardFunctionWrapper(gym.make("Blackjack-v1"), TerminalReward())


def test_single_env_callable_sees_obs_next_obs_and_action():
    seen = []

    def progress(tr):
        seen.append(int(tr.action[0]))
        return tr.next_obs[:, 0] - tr.obs[:, 0]

    env = RewardFunctionWrapper(gym.make("MountainCar-v0"), progress)
    obs, _ = env.reset(seed=0)
    next_obs, reward, *_ = env.step(2)
    assert reward == pytest.approx(float(next_obs[0] - obs[0]), abs=1e-6)
    assert seen == [2]


def test_vector_next_step_dummy_rows_are_inactive():
    """A dummy step after a done (env reward 0) gives 0 whatever the function says."""
    envs = gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="vector_entry_point")
    envs = VectorRewardFunctionWrapper(
        envs, EnvReward(scale=1.0) + FunctionReward(lambda t: t.reward * 0 + 5)
    )
    envs.reset(seed=0)
    dummies, done = 0, np.zeros(3, dtype=bool)
    for _ in range(60):
        _, signal, terminated, truncated, info = envs.step(np.array([1, 0, 1]))
        np.testing.assert_array_equal(signal[done], 0.0)
        np.testing.assert_array_equal(signal[~done], 6.0)
        dummies += int(done.sum())
        assert np.all(info["env_reward"][done] == 0.0)
        done = terminated | truncated
    assert dummies >= 3 and isinstance(signal, np.ndarray) and signal.dtype == np.float32


def test_vector_same_step_uses_final_obs():
    def record_x(tr):
        return tr.next_obs[:, 0]

    for envs in (
        gym.make_vec(
            "CartPole-v1",
            num_envs=2,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        ),
        TorchCartPoleVec(2, autoreset_mode=AutoresetMode.SAME_STEP),
    ):
        wrapped = VectorRewardFunctionWrapper(envs, FunctionReward(record_x))
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
    wrapped = VectorRewardFunctionWrapper(TorchCartPoleVec(2), "terminal")
    wrapped.reset(seed=0)
    signal = wrapped.step(torch.tensor([1, 1]))[1]
    assert isinstance(signal, torch.Tensor)
    torch.testing.assert_close(signal, torch.zeros(2))
