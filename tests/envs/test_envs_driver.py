"""The env driver's transitions: true next observation, dummy rows, the three autoreset modes."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from snn_rl.envs import TorchCartPoleVec, VecEnvDriver

CPU = torch.device("cpu")


def run(driver, steps, action_fn):
    obs = driver.reset(seed=0)
    out = []
    for t in range(steps):
        action = action_fn(t)
        tr = driver.step(action)
        assert tr.obs is obs and tr.action is action  # the obs acted on, the action taken
        out.append(tr)
        obs = tr.new_obs
    return out


def test_next_step_mode_marks_the_dummy_row_inactive_and_keeps_the_final_obs():
    env = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="vector_entry_point")
    driver = VecEnvDriver(env, CPU)
    trs = run(driver, 80, lambda t: torch.tensor([1, 0]))
    ends = [(i, t) for i, tr in enumerate(trs) for t in range(2) if tr.done[t]]
    assert ends
    for i, row in ends:
        done_tr = trs[i]
        assert done_tr.active[row] and done_tr.next_obs is done_tr.new_obs
        assert (
            abs(float(done_tr.next_obs[row, 2])) > 0.2 or abs(float(done_tr.next_obs[row, 0])) > 2.4
        )
        if i + 1 < len(trs):
            dummy = trs[i + 1]
            assert not dummy.active[row] and dummy.reward[row] == 0.0 and not dummy.done[row]
            assert abs(float(dummy.next_obs[row, 2])) < 0.06  # the reset observation
    real = sum(driver.count_real(tr) for tr in trs)
    assert real == sum(int(tr.active.sum()) for tr in trs) < 2 * len(trs)


def test_same_step_mode_separates_true_next_obs_from_the_reset_obs():
    env = gym.make_vec(
        "CartPole-v1",
        num_envs=2,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
    )
    driver = VecEnvDriver(env, CPU)
    trs = run(driver, 60, lambda t: torch.tensor([1, 1]))
    done_trs = [tr for tr in trs if bool(tr.done.any())]
    assert done_trs and all(bool(tr.active.all()) for tr in trs)
    for tr in done_trs:
        row = int(tr.done.nonzero()[0])
        final = np.asarray(tr.info["final_obs"][row])
        np.testing.assert_allclose(tr.next_obs[row].numpy(), final, atol=1e-6)
        assert not torch.equal(tr.next_obs[row], tr.new_obs[row])
        assert tr.infos[row]["final_obs"] is tr.info["final_obs"][row]
    assert all(tr.next_obs is tr.new_obs for tr in trs if not bool(tr.done.any()))
    assert driver.count_real(trs[0]) == 2


def test_disabled_mode_resets_ended_rows_itself():
    env = TorchCartPoleVec(3, autoreset_mode=AutoresetMode.DISABLED)
    driver = VecEnvDriver(env, CPU)
    trs = run(driver, 60, lambda t: torch.tensor([1, 1, 0]))
    done_trs = [tr for tr in trs if bool(tr.done.any())]
    assert done_trs
    for tr in done_trs:
        rows = tr.done
        assert torch.all(tr.next_obs[rows].abs().amax(1) > 0.2)  # the true final states
        assert torch.all(tr.new_obs[rows].abs().amax(1) < 0.06)  # fresh starts
        assert torch.equal(tr.next_obs[~rows], tr.new_obs[~rows])


def test_step_before_reset_and_bad_env_raise():
    env = gym.make_vec("CartPole-v1", num_envs=1, vectorization_mode="vector_entry_point")
    with pytest.raises(RuntimeError, match="reset"):
        VecEnvDriver(env, CPU).step(torch.tensor([0]))
    with pytest.raises(TypeError, match="VectorEnv"):
        VecEnvDriver(gym.make("CartPole-v1"), CPU)
