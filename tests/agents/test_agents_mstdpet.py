"""MSTDPETAgent: SB3 protocol, determinism, checkpoints, spaces, errors."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

import snn_rl.envs  # noqa: F401
from snn_rl.agents import MSTDPETAgent
from snn_rl.agents.checkpoint import read_checkpoint


def small(env="CartPole-v1", overrides=None, **kw):
    kw.setdefault("n_envs", 4)
    kw.setdefault("seed", 0)
    kw.setdefault("device", "cpu")
    return MSTDPETAgent(env, overrides=overrides, **kw)


def rule(agent):
    return agent.learners[0].rule


def test_tuned_defaults_are_applied_and_overridable():
    agent = small()
    assert agent.config.encoder.n_per_dim == (3, 3, 6, 5)
    assert agent.policy.encoder.out_features == 270
    assert agent.policy.output.shape == (20,)
    assert rule(agent).param_groups[0]["a_post"] == 0.0
    other = small(overrides={"rule.a_post": 0.5, "network.pop_size": 4})
    assert rule(other).param_groups[0]["a_post"] == 0.5
    assert other.policy.output.shape == (8,)


def test_evaluate_policy_works_on_the_agent():
    agent = small()
    env = Monitor(gym.make("CartPole-v1"))
    mean, std = evaluate_policy(agent, env, n_eval_episodes=3, deterministic=True)
    assert 8.0 <= mean <= 500.0 and std >= 0.0


@pytest.mark.parametrize(
    "env_id", ["CartPole-v1", "snn_rl/Bandit-v0", "snn_rl/XOR-v0", "snn_rl/TargetRate-v0"]
)
def test_learn_smoke_discrete_and_box(env_id):
    agent = small(env_id)
    before = {k: v.clone() for k, v in agent.policy.state_dict().items()}
    agent.learn(64)
    assert agent.num_timesteps >= 64
    changed = any(not torch.equal(before[k], v) for k, v in agent.policy.state_dict().items())
    assert changed


def test_learn_smoke_on_pendulum_box_actions():
    agent = small("Pendulum-v1", n_envs=2)
    agent.learn(64)
    action, _ = agent.predict(np.zeros(3, dtype=np.float32), deterministic=True)
    assert action.shape == (1,) and -2.0 <= action[0] <= 2.0


def test_learn_on_torch_native_vector_env():
    # the torch-native twin takes CartPole-v1's tuned configuration (it has none of its own)
    assert small("snn_rl/CartPole-v1").config == small("CartPole-v1").config
    agent = small("snn_rl/CartPole-v1")
    agent.learn(64)
    assert agent.num_timesteps >= 64
    assert agent._driver._tensor_env


def test_learn_on_a_user_vector_env_and_single_env():
    vec = gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="vector_entry_point")
    agent = MSTDPETAgent(vec, seed=1, device="cpu")
    assert agent.n_envs == 3 and agent.env_id == "CartPole-v1"
    agent.learn(30)
    single = MSTDPETAgent(gym.make("CartPole-v1"), seed=1, device="cpu")
    assert single.n_envs == 1
    single.learn(10)
    assert single.num_timesteps >= 10


def test_same_seed_gives_identical_actions_and_weights():
    a, b = small(seed=3), small(seed=3)
    a.learn(200)
    b.learn(200)
    for (ka, va), (kb, vb) in zip(
        a.policy.state_dict().items(), b.policy.state_dict().items(), strict=True
    ):
        assert ka == kb and torch.equal(va, vb)
    obs = np.random.default_rng(0).uniform(-0.1, 0.1, size=(8, 4)).astype(np.float32)
    assert np.array_equal(a.predict(obs)[0], b.predict(obs)[0])  # same exploration stream
    assert np.array_equal(
        a.predict(obs, deterministic=True)[0], b.predict(obs, deterministic=True)[0]
    )
    c = small(seed=4)
    c.learn(200)
    assert not torch.equal(
        c.policy.network.connections["output"].weight, a.policy.network.connections["output"].weight
    )


def test_predict_protocol_single_batch_state_and_training_state_untouched():
    agent = small()
    agent.learn(16)
    train_state = agent.policy.network.get_state()
    obs = np.zeros((5, 4), dtype=np.float32)
    actions, state = agent.predict(obs, deterministic=True)
    assert actions.shape == (5,) and actions.dtype.kind == "i"
    actions2, state2 = agent.predict(obs, state=state, episode_start=np.zeros(5, bool))
    assert state2["neurons.output_post.v"].shape == (5, 20)
    single, _ = agent.predict(obs[0], deterministic=True)
    assert np.ndim(single) == 0
    for key, value in agent.policy.network.get_state().items():
        assert torch.equal(value, train_state[key])
    with pytest.raises(ValueError, match="observation must have shape"):
        agent.predict(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        agent.predict(np.full((2, 4), np.nan, dtype=np.float32))


def test_predict_episode_start_resets_state_rows():
    agent = small()
    obs = np.full((2, 4), 0.05, dtype=np.float32)
    _, state = agent.predict(obs, deterministic=True)
    _, fresh = agent.predict(obs, deterministic=True)
    _, restarted = agent.predict(obs, state=state, episode_start=np.array([True, False]))
    key = "neurons.output_post.v"
    assert torch.equal(restarted[key][0], fresh[key][0])


def test_save_load_round_trip_predicts_identically(tmp_path):
    agent = small()
    agent.learn(200)
    path = agent.save(tmp_path / "agent")
    assert path.name == "agent.zip" and path.is_file()
    assert not list(tmp_path.glob(".*.tmp"))
    loaded = MSTDPETAgent.load(tmp_path / "agent", device="cpu")
    obs = np.random.default_rng(1).uniform(-0.2, 0.2, size=(16, 4)).astype(np.float32)
    assert np.array_equal(
        agent.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0]
    )
    assert loaded.num_timesteps == agent.num_timesteps and loaded.get_env() is None
    data = read_checkpoint(path, torch.device("cpu"))  # torch.load(weights_only=True) inside
    assert data["algo"] == "mstdpet"


def test_resumed_training_equals_uninterrupted(tmp_path):
    a = small(seed=7)
    a.learn(300)
    a.save(tmp_path / "ckpt.zip")
    a.learn(300, reset_num_timesteps=False)
    b = MSTDPETAgent.load(tmp_path / "ckpt.zip", env="CartPole-v1", device="cpu")
    assert b.n_envs == 4  # an env id is built with the saved n_envs
    b = MSTDPETAgent.load(
        tmp_path / "ckpt.zip",
        env=gym.make_vec("CartPole-v1", num_envs=4, vectorization_mode="vector_entry_point"),
        device="cpu",
    )
    b.learn(300, reset_num_timesteps=False)
    assert a.num_timesteps == b.num_timesteps
    for (k, va), vb in zip(
        a.policy.state_dict().items(), b.policy.state_dict().values(), strict=True
    ):
        assert torch.equal(va, vb), k
    sa, sb = a.critic.state_dict(), b.critic.state_dict()
    assert torch.equal(sa["weight"], sb["weight"])
    assert a._episode_num == b._episode_num > 0


def test_load_errors(tmp_path):
    agent = small()
    path = agent.save(tmp_path / "a.zip")
    with pytest.raises(ValueError, match="observation space"):
        MSTDPETAgent.load(path, env="Acrobot-v1", device="cpu")
    with pytest.raises(FileNotFoundError):
        MSTDPETAgent.load(tmp_path / "missing.zip")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not an snn-rl"):
        MSTDPETAgent.load(junk)
    torch.save({"format": "other"}, tmp_path / "other.zip")
    with pytest.raises(ValueError, match="not an snn-rl agent checkpoint"):
        MSTDPETAgent.load(tmp_path / "other.zip")


def test_bad_inputs():
    with pytest.raises(ValueError, match="unsupported observation space"):
        small(_DictObsEnv())
    with pytest.raises(ValueError, match="total_timesteps must be >= 0"):
        small().learn(-1)
    with pytest.raises(TypeError, match="total_timesteps must be an int"):
        small().learn(1.5)
    with pytest.raises(ValueError, match="learning_rate is not a field of MSTDPETConfig"):
        small(overrides={"learning_rate": 0.1})
    with pytest.raises(ValueError, match="unknown environment id"):
        small("NoSuchEnv-v9")
    with pytest.raises(
        ValueError, match=r"reward.type must be one of \['env', 'sum', 'terminal'\]"
    ):
        small(reward="nope")
    with pytest.raises(ValueError, match="n_envs must be >= 1"):
        small(n_envs=0)
    with pytest.raises(ValueError, match="device"):
        small(device="tpu")
    with pytest.raises(TypeError, match="seed must be an int"):
        small(seed=1.5)
    agent = small()
    with pytest.raises(ValueError, match=r"episode_start must have shape \(2,\)"):
        agent.predict(np.zeros((2, 4), np.float32), episode_start=np.zeros(3, bool))


class _DictObsEnv(gym.Env):
    observation_space = gym.spaces.Dict({"a": gym.spaces.Discrete(2)})
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        return {"a": 0}, {}

    def step(self, action):
        return {"a": 0}, 0.0, True, False, {}


class _NaNEnv(gym.Env):
    """Returns NaN observations or rewards after a few steps."""

    def __init__(self, where="obs"):
        self.where = where
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        bad = self.t >= 3
        obs = np.full(2, np.nan if bad and self.where == "obs" else 0.0, np.float32)
        reward = float("nan") if bad and self.where == "reward" else 0.0
        return obs, reward, False, False, {}


@pytest.mark.parametrize("where", ["obs", "reward"])
def test_nan_from_the_env_raises(where):
    agent = MSTDPETAgent(_NaNEnv(where), seed=0, device="cpu", overrides={"critic": "none"})
    with pytest.raises(ValueError, match="NaN"):
        agent.learn(20)


def test_nan_is_caught_by_the_accumulated_device_check():
    """On a GPU the driver checks tensor observations every `check_every` steps (one sync)."""
    from snn_rl.envs import TorchCartPoleVec

    class NaNAfterThree(TorchCartPoleVec):
        calls = 0

        def _observe(self, state):
            NaNAfterThree.calls += 1
            obs = super()._observe(state)
            return obs * float("nan") if NaNAfterThree.calls > 3 else obs

    env = NaNAfterThree(2, autoreset_mode="SAME_STEP")
    encoder = small().config.encoder  # CartPole's bounds: the env instance names no env id
    agent = MSTDPETAgent(
        env, seed=0, device="cpu", overrides={"critic": "none", "encoder": encoder}
    )
    agent._driver.check_every = 4
    agent.policy.set_check_finite(False)  # else the policy's own guard raises first
    with pytest.raises(ValueError, match="checked every 4 steps"):
        agent.learn(50)
    assert agent.num_timesteps < 8


def test_user_network_trains_saves_and_needs_an_equivalent_network_to_load(tmp_path):
    from snn_rl import IFNeuron, LIFNeuron, Linear, SNNNetwork

    def make():
        net = SNNNetwork()
        inp, hid, out = IFNeuron(270), LIFNeuron(32, v_min=0.0), LIFNeuron(20, v_min=0.0)
        g = torch.Generator().manual_seed(0)
        net.add_layer("hidden", Linear(270, 32, weight=0.3), inp, hid, role="readout")
        net.add_layer("out", Linear(32, 20, generator=g), hid, out, role="readout")
        return net

    agent = small(network=make())
    assert set(rule(agent).state) == {"hidden", "out"}
    agent.learn(100)
    path = agent.save(tmp_path / "custom.zip")
    with pytest.raises(ValueError, match="pass network="):
        MSTDPETAgent.load(path, device="cpu")
    loaded = MSTDPETAgent.load(path, device="cpu", network=make())
    obs = np.random.default_rng(0).uniform(-0.1, 0.1, (6, 4)).astype(np.float32)
    assert np.array_equal(
        agent.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0]
    )
    with pytest.raises(ValueError, match=r"must have shape \(8,\) = 2 x pop_size 4, got \(20,\)"):
        small(network=make(), overrides={"network.pop_size": 4})


def test_the_policy_checks_its_input_code_once_per_env_step():
    agent = small()
    assert agent.policy.network.source().check_finite is False  # encode checks instead

    class NaNCode(torch.nn.Module):
        def forward(self, obs):
            return torch.full((obs.shape[0], 270), float("nan"))

    agent.policy.encoder = NaNCode()
    with pytest.raises(ValueError, match="the input code of the observations .* NaN or inf"):
        agent.learn(20)
    agent.policy.set_check_finite(False)
    assert agent.policy.network.check_finite is False
    agent.policy.set_check_finite(True)
    assert agent.policy.network.check_finite and not agent.policy.network.source().check_finite


def test_the_efference_copy_drives_the_chosen_population_up_and_the_others_down():
    agent = small(overrides={"windows.feedback_current": 2.5})
    drive = agent.policy.efference_drive(torch.tensor([1, 0]))
    pop = agent.config.network.pop_size
    expected = torch.full((2, 2 * pop), -2.5)
    expected[0, pop:] = 2.5
    expected[1, :pop] = 2.5
    assert torch.equal(drive, expected)
