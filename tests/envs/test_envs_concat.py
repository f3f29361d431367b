"""ConcatVectorEnv: rows side by side, each env seeded and stepped as alone, infos merged."""

import gymnasium as gym
import numpy as np
import pytest

from snn_rl.envs.concat import ConcatVectorEnv, _merge_infos


def _cartpoles(n):
    return gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")


def test_rows_are_each_envs_own_episodes():
    both = ConcatVectorEnv([_cartpoles(2), _cartpoles(3)])
    alone = [_cartpoles(2), _cartpoles(3)]
    assert both.num_envs == 5 and both.observation_space.shape == (5, 4)
    obs, _ = both.reset(seed=[7, 9])
    ref = [alone[0].reset(seed=7)[0], alone[1].reset(seed=9)[0]]
    np.testing.assert_array_equal(obs, np.concatenate(ref))
    rng = np.random.default_rng(0)
    for _ in range(40):
        act = rng.integers(2, size=5)
        out = both.step(act)
        parts = [alone[0].step(act[:2]), alone[1].step(act[2:])]
        for i in range(4):
            np.testing.assert_array_equal(out[i], np.concatenate([p[i] for p in parts]))
    with pytest.raises(ValueError, match=r"seed must be an int or one per env \(2\), got 3"):
        both.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match="envs\\[1\\] has other spaces"):
        ConcatVectorEnv([_cartpoles(1), gym.make_vec("Acrobot-v1", num_envs=1)])


def test_infos_merge_with_masks_for_missing_keys():
    merged = _merge_infos(
        [
            {
                "x": np.array([1, 2]),
                "_x": np.array([True, False]),
                "d": {"y": np.array([5.0, 6.0])},
            },
            {},
        ],
        [2, 1],
    )
    np.testing.assert_array_equal(merged["x"], [1, 2, 0])
    np.testing.assert_array_equal(merged["_x"], [True, False, False])
    np.testing.assert_array_equal(merged["d"]["y"], [5.0, 6.0, 0.0])
    np.testing.assert_array_equal(merged["d"]["_y"], [True, True, False])
