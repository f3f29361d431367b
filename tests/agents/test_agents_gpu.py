"""The agent on a CUDA device (skipped without one; run them where a GPU is lent)."""

import numpy as np
import pytest
import torch

from snn_rl.agents import MSTDPETAgent

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("env_id", ["CartPole-v1", "snn_rl/CartPole-v1"])
def test_learn_and_predict_on_cuda(env_id):
    agent = MSTDPETAgent(env_id, n_envs=8, seed=0, device="cuda")
    agent.learn(256)
    weight = agent.policy.network.connections["output"].weight
    assert weight.device.type == "cuda"
    assert agent.learners[0].rule.state["output"]["e_trace"].device.type == "cuda"
    assert agent.critic.state_dict()["weight"].device.type == "cuda"
    actions, _ = agent.predict(np.zeros((4, 4), dtype=np.float32), deterministic=True)
    assert actions.shape == (4,)


def test_cuda_and_cpu_agents_agree_on_the_first_decisions():
    cpu = MSTDPETAgent("CartPole-v1", n_envs=2, seed=0, device="cpu")
    gpu = MSTDPETAgent("CartPole-v1", n_envs=2, seed=0, device="cuda")
    obs = np.random.default_rng(0).uniform(-0.05, 0.05, (16, 4)).astype(np.float32)
    a_cpu, _ = cpu.predict(obs, deterministic=True)
    a_gpu, _ = gpu.predict(obs, deterministic=True)
    assert np.array_equal(a_cpu, a_gpu)
    assert torch.allclose(
        cpu.policy.network.connections["output"].weight,
        gpu.policy.network.connections["output"].weight.cpu(),
    )


@pytest.mark.parametrize("critic", ["spiking_td", "rpe"])
def test_other_critics_train_on_cuda(critic):
    agent = MSTDPETAgent(
        "snn_rl/CartPole-v1", n_envs=8, seed=0, device="cuda", overrides={"critic": critic}
    )
    agent.learn(128)
    assert agent.num_timesteps >= 128
