"""Fixed-seed short runs equal the numbers recorded before the agents were rebuilt from parts.

The values were measured with the agent of the previous design (one MSTDPETAgent class with
its own loop, critic and configuration), seed 3, on the CPU with one torch thread; the parts
reproduce them to float precision: the same random draws in the same order, the same
operations. ``wabs`` is the sum of |w| over the network's weights, ``critic`` the sum of the
linear critic's weights.
"""

import numpy as np
import pytest
import torch

from snn_rl.agents import MSTDPETAgent

GOLDEN = {
    # case: (env id, overrides, env steps, steps done, episodes, wabs, critic, greedy actions)
    "cartpole": ("CartPole-v1", {}, 2000, 2000, 16, 1508.9832960902713, -3.44052470299442, [1, 0, 0, 1, 1]),
    "torch_cartpole": ("snn_rl/CartPole-v1", {}, 1000, 1000, 13, 1524.5518190223956, -3.103034837443012, [0, 0, 0, 1, 1]),
    "features": ("CartPole-v1", {"features": [{"size": 16, "w_spread": 0.0, "winners": None}], "network.feature_skip": False}, 400, 401, 39, 5465.965352752479, -6.060718408347031, [0, 0, 0, 0, 0]),
    "spiking_critic": ("CartPole-v1", {"critic": {"type": "spiking_td", "gamma": 0.98}}, 400, 402, 10, 1531.5896575727966, None, [0, 0, 0, 1, 1]),
    "softmax_hidden_lr_schedule": (
        "CartPole-v1",
        {"exploration.type": "softmax", "network.hidden_sizes": [16], "schedule.lr_final": 0.001, "n_envs": 3},
        600, 600, 27, 1337.417212989414, -7.488792232329607, [0, 0, 0, 0, 0],
    ),
    "box_actions": ("snn_rl/TargetRate-v0", {}, 480, 480, 480, 8.843485206132755, -0.32537487149238586, None),
    "rpe_eps_schedule": (
        "Acrobot-v1",
        {"critic": {"type": "rpe", "alpha": 0.05}, "reward.scale": 1.0,
         "exploration": {"initial_eps": 0.5, "final_eps": 0.05, "fraction": 0.5},
         # the tuned entry's code when these numbers were recorded
         "encoder": {"n_per_dim": [3, 3, 3, 3, 5, 5], "low": None, "high": None}},
        600, 600, 0, 18175.776587279106, None, [1, 1, 1, 2, 2],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_short_run_equals_the_recorded_numbers(case):
    env_id, overrides, steps, done, episodes, wabs, critic, actions = GOLDEN[case]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        agent = MSTDPETAgent(env_id, seed=3, device="cpu", overrides=overrides)
        agent.learn(steps)
    finally:
        torch.set_num_threads(threads)
    assert (agent.num_timesteps, agent._episode_num) == (done, episodes)
    weights = agent.policy.network.state_dict().values()
    assert sum(float(w.double().abs().sum()) for w in weights) == pytest.approx(wabs, rel=1e-6)
    if critic is not None:
        assert float(agent.critic.state_dict()["weight"].double().sum()) == pytest.approx(
            critic, rel=1e-5
        )
    if actions is not None:
        obs = torch.linspace(-0.3, 0.3, 5).unsqueeze(1).expand(5, *agent.observation_space.shape)
        predicted, _ = agent.predict(np.ascontiguousarray(obs.numpy()), deterministic=True)
        assert predicted.tolist() == actions
