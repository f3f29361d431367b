"""Defaults derived from the task: what each space kind gets, and when they apply."""

import gymnasium as gym
import numpy as np
import pytest

from snn_rl.agents import MSTDPETAgent
from snn_rl.agents.mstdpet import mstdpet_task_defaults
from snn_rl.agents.task import ROLLOUT_STEPS, TaskInfo, describe_task, rollout_bounds


def _choices(task):
    return {c.key: c.value for c in mstdpet_task_defaults(task)}


def test_discrete_observations_get_a_one_hot_code_and_horizon_matched_discounts():
    task = describe_task("FrozenLake-v1")
    assert task.horizon == 100 and task.rewards.size > ROLLOUT_STEPS * 0.8
    got = _choices(task)
    assert got["encoder.type"] == "onehot"
    assert got["critic.gamma"] == 0.99
    assert got["windows.feedback_current"] == 5.0
    assert got["critic.normalize"] is True and got["rule.lr"] == 0.002
    # the goal pays 1 on a few random steps: sparse, so the critic starts optimistic
    assert got["critic.init_value"] == 0.5 and got["critic.lr_bias"] == 0.0


def test_rewards_that_are_never_positive_keep_a_zero_start():
    got = _choices(describe_task("CliffWalking-v1"))
    assert "critic.init_value" not in got  # V = 0 is above every return already
    assert got["critic.gamma"] == 0.99  # horizon 1000 (the default cap): gamma at its cap


def test_short_horizons_discount_more():
    space = gym.spaces.Discrete(3)
    got = _choices(TaskInfo(space, space, horizon=20))
    assert got["critic.gamma"] == 0.95
    assert "critic.init_value" not in got  # no rollout, no reward statistics


def test_unbounded_box_dimensions_take_the_rollout_range():
    task = describe_task("CartPole-v1")
    low, high, notes = rollout_bounds(task)
    space = task.observation_space
    assert low[0] == pytest.approx(float(space.low[0])) and high[2] == pytest.approx(
        float(space.high[2])
    )  # finite bounds stay
    for i in (1, 3):  # the velocities are unbounded
        spread = task.obs_high[i] - task.obs_low[i]
        assert low[i] == pytest.approx(task.obs_low[i] - spread / 4)
        assert high[i] == pytest.approx(task.obs_high[i] + spread / 4)
    assert [n.split(":")[0] for n in notes] == ["dim 1", "dim 3"]


def test_an_unbounded_dimension_that_never_varies_warns_naming_it():
    space = gym.spaces.Box(-np.inf, np.inf, (2,))
    task = TaskInfo(space, gym.spaces.Discrete(2), 100, np.array([0.0, 3.0]), np.array([1.0, 3.0]))
    with pytest.warns(UserWarning, match="observation dimension 1 is unbounded and did not vary"):
        low, high, _ = rollout_bounds(task)
    assert (low[1], high[1]) == (2.0, 4.0)
    blind = TaskInfo(space, gym.spaces.Discrete(2), 100)
    with pytest.raises(ValueError, match="dimension 0 is unbounded"):
        rollout_bounds(blind)


def test_agents_use_task_defaults_only_without_a_tuned_entry(capsys):
    untuned = MSTDPETAgent("FrozenLake-v1", seed=0, device="cpu", verbose=1, tuned=False)
    assert untuned.config.windows.feedback_current == 5.0 and untuned.task_choices
    assert "critic.init_value = 0.5: sparse reward" in capsys.readouterr().out
    tuned = MSTDPETAgent("CartPole-v1", seed=0, device="cpu")
    assert tuned.task_choices == [] and tuned.config.encoder.type == "conjunctive"
    assert tuned.config.windows.feedback_current == 2.0 and tuned.config.critic.gamma == 0.98
    generic = MSTDPETAgent("CartPole-v1", seed=0, device="cpu", tuned=False)
    assert generic.config.critic.gamma == 0.99  # 1 - 1/500, capped
    assert generic.config.encoder.low[1] < -0.5  # the velocity bound from the rollout
    # a config mapping goes over the task defaults; the user's value wins
    mapped = MSTDPETAgent("FrozenLake-v1", seed=0, device="cpu", config={"critic.gamma": 0.9})
    assert mapped.config.critic.gamma == 0.9 and mapped.config.windows.feedback_current == 5.0


def test_a_config_instance_is_used_as_it_is():
    cfg = MSTDPETAgent("FrozenLake-v1", seed=0, device="cpu").config
    again = MSTDPETAgent("FrozenLake-v1", seed=1, device="cpu", config=cfg)
    assert again.config == cfg and again.task_choices == []


def test_a_reward_wrapper_the_tuned_reward_ignores_is_named():
    shaped = gym.wrappers.TransformReward(gym.make("CartPole-v1"), lambda r: 0.5 * r)
    with pytest.warns(UserWarning, match="reward wrapper.*reward='env'"):
        MSTDPETAgent(shaped, seed=0, device="cpu")  # the tuned entry learns from terminal
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        agent = MSTDPETAgent(shaped, seed=0, device="cpu", reward="env")
    assert agent.config.reward.kind == "env"


def test_non_slippery_frozen_lake_is_learned_with_the_task_defaults():
    from snn_rl.agents import evaluate

    def make():
        return gym.make("FrozenLake-v1", is_slippery=False)

    agent = MSTDPETAgent("FrozenLake-v1", n_envs=4, seed=0, device="cpu", tuned=False)
    assert agent.task_choices  # the tuned entry ignored: the derived defaults
    agent.set_env(gym.vector.SyncVectorEnv([make] * 4))
    assert (
        evaluate(agent, "FrozenLake-v1", n_episodes=3, env_kwargs={"is_slippery": False}).mean == 0
    )
    agent.learn(2000)
    result = evaluate(agent, "FrozenLake-v1", n_episodes=3, env_kwargs={"is_slippery": False})
    assert result.mean == 1.0 and result.lengths.max() == 6  # the shortest path


def test_image_readout_weights_scale_with_the_mean_input_activity():
    space = gym.spaces.Box(0, 255, (4, 5), np.uint8)
    mean = np.full(20, 255 * 0.4)  # 8 inputs' worth of activity on average
    got = _choices(TaskInfo(space, gym.spaces.Discrete(2), 100, None, None, None, mean))
    assert got["network.weight_init_mean"] == pytest.approx(0.3 / 8)
    assert got["network.weight_init_std"] == pytest.approx(0.1 / 8)
    sparse = _choices(TaskInfo(space, gym.spaces.Discrete(2), 100, None, None, None, mean / 10))
    assert "network.weight_init_mean" not in sparse  # under one active input: the defaults


def test_the_pairwise_code_is_a_config_choice():
    from snn_rl import PairwiseGaussianEncoder

    agent = MSTDPETAgent(
        "Pendulum-v1",
        n_envs=2,
        seed=0,
        device="cpu",
        overrides={"encoder.type": "pairwise", "encoder.n_per_dim": 4},
    )
    assert isinstance(agent.policy.encoder, PairwiseGaussianEncoder)
    assert agent.policy.encoder.out_features == 3 * 4 + 3 * 16
    agent.learn(40)


def test_auto_code_is_the_grid_up_to_six_dimensions_and_pairwise_above():
    from snn_rl import ConjunctiveGaussianEncoder, PairwiseGaussianEncoder
    from snn_rl.agents.sections import EncoderConfig

    def built(dims):
        return EncoderConfig().build(gym.spaces.Box(-1.0, 1.0, (dims,), np.float32))

    assert isinstance(built(4), ConjunctiveGaussianEncoder) and built(4).out_features == 5**4
    assert built(6).out_features == 3**6
    eight = built(8)  # LunarLander's size: 8 x 5 populations + 28 pair grids of 5 x 5
    assert isinstance(eight, PairwiseGaussianEncoder) and eight.out_features == 40 + 28 * 25
    assert built(24).out_features == 24 * 3 + 276 * 9
