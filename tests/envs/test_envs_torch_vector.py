"""Torch-native vector envs: step-by-step equivalence with Gymnasium, autoreset, API."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

import snn_rl.envs  # noqa: F401  (registers the ids)
from snn_rl.envs import TorchAcrobotVec, TorchCartPoleVec, TorchMountainCarVec, TorchPendulumVec

# class, Gymnasium id, continuous actions, reset low, reset high (per state variable)
ENVS = {
    "cartpole": (TorchCartPoleVec, "CartPole-v1", False, [-0.05] * 4, [0.05] * 4),
    "acrobot": (TorchAcrobotVec, "Acrobot-v1", False, [-0.1] * 4, [0.1] * 4),
    "mountain_car": (TorchMountainCarVec, "MountainCar-v0", False, [-0.6, 0.0], [-0.4, 0.0]),
    "pendulum": (TorchPendulumVec, "Pendulum-v1", True, [-np.pi, -1.0], [np.pi, 1.0]),
}


def random_actions(rng, env, continuous):
    if continuous:
        return rng.uniform(-2.5, 2.5, size=(env.num_envs, 1))  # beyond the bounds: clipped
    return rng.integers(0, env.single_action_space.n, size=env.num_envs)


def assert_in_reset_range(state, low, high):
    assert np.all(state >= np.asarray(low) - 1e-12) and np.all(state <= np.asarray(high) + 1e-12)


def run_against_gymnasium(name, mode, steps=150, num_envs=3, max_episode_steps=40):
    """Drive the torch env and one Gymnasium env per row with the same actions.

    After every reset of a torch row, the Gymnasium env is reset and its state set to the torch
    row's state; then states, observations, rewards and flags must agree at every step.
    Returns the number of autoresets seen.
    """
    cls, gym_id, continuous, low, high = ENVS[name]
    env = cls(
        num_envs, dtype=torch.float64, autoreset_mode=mode, max_episode_steps=max_episode_steps
    )
    env.reset(seed=7)
    refs = [gym.make(gym_id, max_episode_steps=max_episode_steps) for _ in range(num_envs)]

    def sync(i):
        assert_in_reset_range(env.state[i].numpy(), low, high)
        refs[i].reset(seed=i)
        refs[i].unwrapped.state = env.state[i].numpy().copy()

    for i in range(num_envs):
        sync(i)
    rng = np.random.default_rng(0)
    dummy = np.zeros(num_envs, dtype=bool)
    resets = 0
    for _ in range(steps):
        actions = random_actions(rng, env, continuous)
        obs, reward, terminated, truncated, info = env.step(torch.as_tensor(actions))
        assert obs.dtype == reward.dtype == torch.float64 and terminated.dtype == torch.bool
        for i in range(num_envs):
            if dummy[i]:  # NEXT_STEP: action ignored, reward 0, flags False, reset obs
                assert (float(reward[i]), bool(terminated[i]), bool(truncated[i])) == (0, F, F)
                assert int(env.elapsed_steps[i]) == 0
                sync(i)
                resets += 1
                continue
            ref_obs, ref_reward, ref_term, ref_trunc, _ = refs[i].step(actions[i])
            done = ref_term or ref_trunc
            assert (bool(terminated[i]), bool(truncated[i])) == (ref_term, ref_trunc)
            assert float(reward[i]) == pytest.approx(ref_reward, abs=1e-5)
            true_next = info["final_obs"][i] if mode is AutoresetMode.SAME_STEP else obs[i]
            np.testing.assert_allclose(true_next.numpy(), ref_obs, atol=1e-5)
            if mode is AutoresetMode.SAME_STEP and done:
                assert bool(info["_final_obs"][i])
                sync(i)  # already reset in this step
                resets += 1
            else:
                ref_state = np.asarray(refs[i].unwrapped.state, dtype=np.float64)
                np.testing.assert_allclose(env.state[i].numpy(), ref_state, atol=1e-5)
        if mode is AutoresetMode.NEXT_STEP:
            dummy = (terminated | truncated).numpy()
    return resets


F = False


@pytest.mark.parametrize("name", list(ENVS))
def test_trajectories_equal_gymnasium_next_step(name):
    assert run_against_gymnasium(name, AutoresetMode.NEXT_STEP) >= 6  # several episodes per row


def test_acrobot_float64_follows_a_full_length_gymnasium_episode():
    """Chaotic dynamics: float64 still agrees within 1e-5 through 500-step episodes."""
    assert run_against_gymnasium("acrobot", AutoresetMode.NEXT_STEP, 520, 1, 500) >= 1


def test_trajectories_equal_gymnasium_same_step():
    assert run_against_gymnasium("cartpole", AutoresetMode.SAME_STEP) >= 6


def test_next_step_dummy_ignores_the_action():
    envs = [TorchCartPoleVec(1, max_episode_steps=3) for _ in range(2)]
    for env in envs:
        env.reset(seed=1)
    for _ in range(3):
        outs = [env.step(torch.tensor([1])) for env in envs]
    assert bool(outs[0][3][0])  # truncated at the third step
    dummy_outs = [env.step(torch.tensor([a])) for env, a in zip(envs, (0, 1), strict=True)]
    torch.testing.assert_close(dummy_outs[0][0], dummy_outs[1][0])
    assert float(dummy_outs[0][1][0]) == 0.0
    assert bool(dummy_outs[0][0].abs().max() <= 0.05)  # a reset observation
    outs = [env.step(torch.tensor([a])) for env, a in zip(envs, (0, 1), strict=True)]
    assert not torch.equal(outs[0][0], outs[1][0])  # after the dummy, actions count again


def test_same_step_final_obs_matches_next_step_run():
    """B=1, same seed: SAME_STEP's final obs is NEXT_STEP's done obs, its reset obs the dummy's."""
    same = TorchCartPoleVec(1, autoreset_mode="SameStep")
    assert TorchCartPoleVec(1, autoreset_mode="SAME_STEP").autoreset_mode is AutoresetMode.SAME_STEP
    nxt = TorchCartPoleVec(1)
    same.reset(seed=3)
    nxt.reset(seed=3)
    episodes = 0
    for _ in range(200):
        obs_s, rew_s, term_s, trunc_s, info = same.step(torch.tensor([0]))
        obs_n, rew_n, term_n, _, _ = nxt.step(torch.tensor([0]))
        torch.testing.assert_close(info["final_obs"], obs_n)
        assert bool(term_s[0]) == bool(term_n[0]) and float(rew_s[0]) == float(rew_n[0]) == 1.0
        if bool(term_n[0]):
            assert bool(info["_final_obs"][0])
            dummy_obs = nxt.step(torch.tensor([0]))[0]
            torch.testing.assert_close(obs_s, dummy_obs)
            episodes += 1
        else:
            torch.testing.assert_close(obs_s, obs_n)
    assert episodes >= 5


def test_time_limit_truncation_and_counter():
    env = TorchPendulumVec(2, max_episode_steps=3)
    env.reset(seed=0)
    flags = [env.step(torch.zeros(2, 1))[3].tolist() for _ in range(8)]
    # steps 1-3, dummy, 1-3, dummy
    assert flags == [[F, F], [F, F], [True, True], [F, F], [F, F], [F, F], [True, True], [F, F]]


def test_disabled_mode_reset_mask():
    env = TorchMountainCarVec(3, autoreset_mode=AutoresetMode.DISABLED)
    env.reset(seed=0)
    for _ in range(4):
        env.step(torch.tensor([2, 2, 2]))
    before = env.state.clone()
    obs, _ = env.reset(options={"reset_mask": np.array([F, True, F])})
    torch.testing.assert_close(obs[[0, 2]], before[[0, 2]])
    assert float(obs[1, 1]) == 0.0 and -0.6 <= float(obs[1, 0]) <= -0.4
    assert env.elapsed_steps.tolist() == [4, 0, 4]
    with pytest.raises(ValueError, match="DISABLED"):
        TorchMountainCarVec(3).reset(options={"reset_mask": np.array([True, F, F])})


def test_seeding_is_deterministic():
    def rollout(seed):
        env = TorchAcrobotVec(4)
        obs = [env.reset(seed=seed)[0]]
        actions = torch.tensor([0, 1, 2, 1])
        obs += [env.step(actions)[0] for _ in range(5)]
        return torch.stack(obs)

    torch.testing.assert_close(rollout(5), rollout(np.int64(5)))
    assert not torch.equal(rollout(5), rollout(6))


def test_reset_options_bounds_persist_for_autoresets():
    env = TorchCartPoleVec(64, max_episode_steps=1)
    obs, _ = env.reset(seed=0, options={"low": 0.2, "high": 0.3})
    assert bool(((obs >= 0.2) & (obs <= 0.3)).all())
    env.step(torch.zeros(64, dtype=torch.long))
    obs = env.step(torch.zeros(64, dtype=torch.long))[0]  # dummy step: autoreset rows
    assert bool(((obs >= 0.2) & (obs <= 0.3)).all())
    pendulum = TorchPendulumVec(64)
    obs, _ = pendulum.reset(seed=0, options={"x_init": 0.1, "y_init": 0.0})
    assert bool((obs[:, 0] >= np.cos(0.1)).all()) and bool((obs[:, 2] == 0).all())


def test_float32_follows_float64():
    runs = []
    for dtype in (torch.float32, torch.float64):
        env = TorchCartPoleVec(8, dtype=dtype)
        env.reset(seed=0)
        env.set_state(torch.linspace(-0.04, 0.04, 32).reshape(8, 4))
        runs.append(torch.stack([env.step(torch.arange(8) % 2)[0] for _ in range(5)]))
    torch.testing.assert_close(runs[0].double(), runs[1], atol=1e-5, rtol=0)


def test_batch_of_one_equals_each_row_of_four():
    state = torch.tensor(
        [
            [0.01, 0.0, 0.02, -0.01],
            [0.0, 0.1, -0.03, 0.2],
            [-0.02, -0.1, 0.0, 0.0],
            [0.03, 0.05, 0.01, -0.1],
        ],
        dtype=torch.float64,
    )
    actions = torch.tensor([0, 1, 1, 0])
    big = TorchCartPoleVec(4, dtype=torch.float64)
    big.reset(seed=0)
    big.set_state(state)
    big_obs = big.step(actions)[0]
    for i in range(4):
        one = TorchCartPoleVec(1, dtype=torch.float64)
        one.reset(seed=0)
        one.set_state(state[i : i + 1])
        torch.testing.assert_close(one.step(actions[i : i + 1])[0][0], big_obs[i])


def test_numpy_flag_and_make_vec():
    env = gym.make_vec(
        "snn_rl/CartPole-v1", num_envs=4, vectorization_mode="vector_entry_point", numpy=True
    )
    assert isinstance(env, TorchCartPoleVec) and env.max_episode_steps == 500
    assert env.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    obs, _ = env.reset(seed=0)
    assert isinstance(obs, np.ndarray) and env.observation_space.contains(obs)
    obs, reward, terminated, truncated, _ = env.step(np.array([0, 1, 0, 1]))
    assert env.observation_space.contains(obs)
    assert reward.dtype == np.float32 and terminated.dtype == truncated.dtype == np.bool_
    for env_id, cls in [
        ("snn_rl/Acrobot-v1", TorchAcrobotVec),
        ("snn_rl/MountainCar-v0", TorchMountainCarVec),
        ("snn_rl/Pendulum-v1", TorchPendulumVec),
    ]:
        vec = gym.make_vec(env_id, num_envs=2, device="cpu", dtype=torch.float64)
        assert isinstance(vec, cls) and vec.dtype == torch.float64
        assert vec.max_episode_steps == gym.spec(env_id).max_episode_steps


def test_spaces_match_gymnasium():
    for cls, gym_id, *_ in ENVS.values():
        ours, ref = cls(5), gym.make(gym_id)
        assert ours.single_observation_space == ref.observation_space
        assert ours.single_action_space == ref.action_space
        assert ours.observation_space.shape == (5, *ref.observation_space.shape)


def test_bad_arguments_raise():
    env = TorchCartPoleVec(2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(torch.tensor([0, 1]))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        env.step(np.array([0, 2]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        env.step(torch.tensor([-1, 0]))
    with pytest.raises(TypeError, match="integer"):
        env.step(torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="finite"):
        pendulum = TorchPendulumVec(1)
        pendulum.reset(seed=0)
        pendulum.step(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="state must have shape"):
        env.set_state(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="autoreset_mode"):
        TorchCartPoleVec(2, autoreset_mode="sometimes")
    with pytest.raises(ValueError, match="num_envs"):
        TorchCartPoleVec(0)
    with pytest.raises(ValueError, match="dtype"):
        TorchCartPoleVec(1, dtype=torch.int32)


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(ENVS))
def test_runs_on_cuda_like_cpu(name):
    cls, _, continuous, _, _ = ENVS[name]
    outs = {}
    for device in ("cpu", "cuda"):
        env = cls(16, device=device, dtype=torch.float64)
        env.reset(seed=0)
        env.set_state(torch.linspace(-0.05, 0.05, 16 * len(cls.state_names)).reshape(16, -1))
        rng = np.random.default_rng(0)
        steps = []
        for _ in range(5):
            out = env.step(torch.as_tensor(random_actions(rng, env, continuous), device=device))
            assert out[0].device.type == device
            steps.append(out[0].cpu())
        outs[device] = torch.stack(steps)
    torch.testing.assert_close(outs["cuda"], outs["cpu"], atol=1e-6, rtol=0)
