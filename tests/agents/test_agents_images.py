"""Image observations: MinAtar ids, the intensity code, save/load, and clear errors."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from snn_rl.agents import AgentPopulation, MSTDPETAgent, SpikingAgent
from snn_rl.encoding import ImageEncoder

pytest.importorskip("minatar", reason="MinAtar is an optional extra: pip install 'snn-rl[minatar]'")


class Frames(gym.Env):
    """A tiny image env: the left or the right half bright (axis 1); the matching action pays 1."""

    def __init__(self, shape=(6, 6, 3), dtype=np.uint8):
        high = 255 if dtype == np.uint8 else 1.0
        self.observation_space = gym.spaces.Box(0, high, shape, dtype=dtype)
        self.action_space = gym.spaces.Discrete(2)
        self._side = 0

    def _obs(self):
        obs = np.zeros(self.observation_space.shape, self.observation_space.dtype)
        half = obs.shape[1] // 2
        bright = self.observation_space.high.flat[0]
        if self._side == 0:
            obs[:, :half] = bright
        else:
            obs[:, half:] = bright
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._side = int(self.np_random.integers(2))
        return self._obs(), {}

    def step(self, action):
        return self._obs(), float(action == self._side), True, False, {}


def test_minatar_ids_train_save_load_and_evaluate(tmp_path):
    with pytest.warns(UserWarning, match="sets no time limit"):
        agent = MSTDPETAgent("MinAtar/Breakout-v1", seed=0, device="cpu", n_envs=2)
    assert isinstance(agent.policy.encoder, ImageEncoder)
    assert agent.policy.encoder.image_shape == (4, 10, 10)
    agent.learn(64)
    path = agent.save(tmp_path / "breakout")
    loaded = SpikingAgent.load(path, device="cpu")
    assert loaded.observation_space == agent.observation_space
    obs = np.zeros((3, 10, 10, 4), dtype=bool)
    obs[:, 9, 4, 0] = True
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0]
    )
    pop = AgentPopulation(
        "MinAtar/Breakout-v1", [0, 1], device="cpu", n_envs=2, max_episode_steps=50
    )
    pop.learn(40)
    assert all(m.num_timesteps >= 40 for m in pop.members)


def test_a_population_of_conv_feature_agents_equals_each_seed_alone():
    feat = {
        "features": [{"size": 3, "kernel_size": 3, "inhibition_radius": 1, "target_rate": 0.02}],
        "n_envs": 2,
    }
    opts = {"device": "cpu", "overrides": feat, "max_episode_steps": 50}
    pop = AgentPopulation("MinAtar/Breakout-v1", [0, 1], **opts)
    pop.learn(24)
    alone = MSTDPETAgent("MinAtar/Breakout-v1", seed=1, **opts)
    alone.learn(pop.members[1].num_timesteps)
    member = pop.members[1].policy.network
    for name, conn in alone.policy.network.connections.items():
        torch.testing.assert_close(member.connections[name].weight, conn.weight, atol=1e-5, rtol=0)
    theirs = alone.policy.network.neurons["features_post"].thresh_offset
    torch.testing.assert_close(member.neurons["features_post"].thresh_offset, theirs)
    assert float(theirs.abs().max()) > 0 and member.connections["features"].weight.dim() == 4


def test_an_image_env_instance_gets_the_intensity_code_in_its_layout():
    agent = MSTDPETAgent(Frames(), seed=0, device="cpu")
    enc = agent.policy.encoder
    assert (enc.layout, enc.image_shape, enc.out_features) == ("hwc", (3, 6, 6), 108)
    assert (enc.low, enc.high) == (0.0, 255.0)
    agent.learn(32)
    chw = MSTDPETAgent(
        Frames((5, 5, 5), np.float32), seed=0, device="cpu", overrides={"encoder.layout": "chw"}
    )
    assert chw.policy.encoder.image_shape == (5, 5, 5)


def test_image_spaces_the_code_cannot_take_are_refused_by_name():
    with pytest.raises(
        ValueError, match=r"cannot tell which dimension of the image shape \(5, 5, 5\)"
    ):
        MSTDPETAgent(Frames((5, 5, 5), np.float32), seed=0, device="cpu")
    with pytest.raises(ValueError, match=r"got shape \(2, 4, 4, 3\); flatten a vector with"):
        MSTDPETAgent(Frames((2, 4, 4, 3)), seed=0, device="cpu")
    with pytest.raises(ValueError, match="an image's intensity range is one number"):
        MSTDPETAgent(Frames(), seed=0, device="cpu", overrides={"encoder.low": [0, 0]})
    with pytest.raises(ValueError, match="needs 'image'"):
        MSTDPETAgent(Frames(), seed=0, device="cpu", overrides={"encoder.type": "gaussian"})


def test_convolutional_feature_layers_learn_save_and_load(tmp_path):
    homeostatic = {"inhibition_radius": 1, "target_rate": 0.01}
    features = [
        {"size": 6, "kernel_size": 3, **homeostatic},
        {"size": 4, "kernel_size": 3, "stride": 2},
    ]
    agent = MSTDPETAgent(
        Frames((8, 8, 2)), seed=0, device="cpu", overrides={"features": features, "n_envs": 2}
    )
    conns = agent.policy.network.connections
    assert (conns["features0"].post_shape, conns["features1"].post_shape) == ((6, 8, 8), (4, 4, 4))
    assert conns["skip"].pre_shape == (2, 8, 8) and conns["output"].pre_shape == (4, 4, 4)
    before = {n: c.weight.clone() for n, c in conns.items()}
    agent.learn(60)
    assert all(float((c.weight - before[n]).abs().max()) > 0 for n, c in conns.items())
    offset = agent.policy.network.neurons["features0_post"].thresh_offset
    assert offset.shape == (6, 1, 1) and float(offset.abs().max()) > 0  # homeostasis moved it
    loaded = SpikingAgent.load(agent.save(tmp_path / "conv"), device="cpu")
    for name, conn in conns.items():
        assert torch.equal(loaded.policy.network.connections[name].weight, conn.weight)
    assert torch.equal(loaded.policy.network.neurons["features0_post"].thresh_offset, offset)
    obs = np.stack([Frames((8, 8, 2))._obs() for _ in range(3)])
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0]
    )


def test_frozen_feature_layers_keep_their_random_start():
    features = [{"size": 4, "kernel_size": 3, "frozen": True, "target_rate": 0.01}]
    agent = MSTDPETAgent(
        Frames((8, 8, 2)), seed=0, device="cpu", overrides={"features": features, "n_envs": 2}
    )
    network = agent.policy.network
    assert network.roles["features"] == "fixed" and len(agent.learners) == 1  # readout only
    before = {n: c.weight.clone() for n, c in network.connections.items()}
    agent.learn(40)
    assert torch.equal(network.connections["features"].weight, before["features"])
    assert (network.neurons["features_post"].thresh_offset == 0).all()
    assert not torch.equal(network.connections["output"].weight, before["output"])  # readout


def test_convolutional_features_need_images_and_come_first():
    with pytest.raises(
        ValueError, match="convolutional layers \\(kernel_size\\) need image observations"
    ):
        MSTDPETAgent(
            "CartPole-v1", device="cpu", overrides={"features": [{"size": 4, "kernel_size": 3}]}
        )
    dense_first = [{"size": 4}, {"size": 4, "kernel_size": 3}]
    with pytest.raises(ValueError, match="convolutional layers must come before the dense ones"):
        MSTDPETAgent(Frames(), device="cpu", overrides={"features": dense_first})
    with pytest.raises(
        ValueError, match="set kernel_size: stride and padding apply to convolutional layers only"
    ):
        MSTDPETAgent(Frames(), device="cpu", overrides={"features": [{"size": 4, "stride": 2}]})
    dense = [{"size": 4, "inhibition_radius": 1}]
    with pytest.raises(
        ValueError, match=r"features\[0\].inhibition_radius: needs a convolutional layer"
    ):
        MSTDPETAgent(Frames(), device="cpu", overrides={"features": dense})
