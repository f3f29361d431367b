"""SB3 parity: every callback class of stable_baselines3.common.callbacks, SB3 VecEnvs as
training envs, get/set_parameters, a readable repr."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common import callbacks as sb3
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecNormalize

from snn_rl.agents import MSTDPETAgent


def agent(env="CartPole-v1", **kw):
    return MSTDPETAgent(env, n_envs=kw.pop("n_envs", 4), seed=0, device="cpu", **kw)


class Recorder(sb3.BaseCallback):
    """A custom callback that keeps what SB3 callbacks read from ``self.locals``."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def _on_step(self):
        loc = self.locals
        self.steps.append({k: loc[k] for k in ("new_obs", "rewards", "dones", "infos", "actions")})
        return True


def test_base_callback_sees_sb3_step_locals():
    rec = Recorder()
    agent().learn(200, callback=rec)
    first = rec.steps[0]
    assert first["new_obs"].shape == (4, 4) and first["new_obs"].dtype == np.float32
    assert first["rewards"].shape == (4,) and first["dones"].dtype == bool
    assert first["actions"].shape == (4,) and len(first["infos"]) == 4
    assert sum(int(s["dones"].sum()) for s in rec.steps) >= 4
    assert rec.n_calls == len(rec.steps) and rec.locals["self"] is rec.model


def test_stop_training_on_max_episodes_reads_dones():
    model = agent()
    model.learn(100_000, callback=sb3.StopTrainingOnMaxEpisodes(max_episodes=3, verbose=1))
    # every env counts its episodes: 4 envs x 3 episodes
    assert model._episode_num == 12 and model.num_timesteps < 100_000


def test_eval_callback_stop_on_threshold_and_no_improvement(tmp_path):
    model = agent()
    eval_env = Monitor(gym.make("CartPole-v1"))
    threshold = sb3.StopTrainingOnRewardThreshold(reward_threshold=0.0)
    ev = sb3.EvalCallback(
        eval_env,
        eval_freq=20,
        n_eval_episodes=2,
        callback_on_new_best=threshold,
        best_model_save_path=str(tmp_path / "best"),
        warn=False,
    )
    model.learn(10_000, callback=ev)
    assert model.num_timesteps <= 20 * 4 and (tmp_path / "best" / "best_model.zip").is_file()
    patience = sb3.StopTrainingOnNoModelImprovement(max_no_improvement_evals=1)
    ev2 = sb3.EvalCallback(
        Monitor(gym.make("CartPole-v1")),
        eval_freq=5,
        n_eval_episodes=1,
        callback_after_eval=patience,
        warn=False,
        deterministic=True,
    )
    model.learn(5_000, callback=ev2)
    assert model.num_timesteps < 5_000 and patience.no_improvement_evals == 2


def test_checkpoint_every_n_and_callback_list(tmp_path):
    model = agent()
    ckpt = sb3.CheckpointCallback(save_freq=10, save_path=str(tmp_path), name_prefix="m")
    fired = []
    every = sb3.EveryNTimesteps(
        n_steps=40, callback=sb3.ConvertCallback(lambda loc, glob: fired.append(1) or True)
    )
    model.learn(160, callback=sb3.CallbackList([ckpt, every]))
    saved = sorted(tmp_path.glob("m_*_steps.zip"))
    assert saved and MSTDPETAgent.load(saved[-1], device="cpu").num_timesteps > 0
    assert 3 <= len(fired) <= 4


def test_convert_callback_from_a_callable_stops_training():
    calls = []

    def callback(locals_, globals_):
        calls.append(locals_["self"].num_timesteps)
        return len(calls) < 5

    model = agent(n_envs=2)
    model.learn(1000, callback=callback)
    assert len(calls) == 5 and model.num_timesteps == calls[-1] <= 10


def test_log_every_n_timesteps_dumps_the_logger(tmp_path):
    model = agent()
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(200, callback=sb3.LogEveryNTimesteps(n_steps=40), log_interval=10_000)
    rows = (tmp_path / "progress.csv").read_text().strip().splitlines()
    assert len(rows) - 1 >= 5 and "time/total_timesteps" in rows[0]


def test_sb3_progress_bar_callback(capsys):
    model = agent()
    bar = sb3.ProgressBarCallback()
    model.learn(40, callback=bar)
    assert bar.pbar.n >= 40


def test_sb3_vec_env_trains_with_true_next_obs():
    venv = make_vec_env("CartPole-v1", n_envs=4, seed=0)
    model = MSTDPETAgent(venv, seed=0, device="cpu")
    assert model.n_envs == 4 and model.get_env() is venv and model.env_id == "CartPole-v1"
    assert model.config.encoder.n_per_dim == (3, 3, 6, 5)  # the tuned entry of its env id
    ends = []

    class Ends(sb3.BaseCallback):
        def _on_step(self):
            tr = self.locals["transition"]
            for i in np.flatnonzero(self.locals["dones"]):
                ends.append(
                    (tr.next_obs[i].numpy(), self.locals["infos"][i], tr.new_obs[i].numpy())
                )
            return True

    model.learn(400, callback=Ends())
    assert model.num_timesteps >= 400 and ends
    for next_obs, info, new_obs in ends:
        np.testing.assert_allclose(next_obs, info["terminal_observation"], atol=1e-6)
        assert not np.allclose(next_obs, new_obs)


def test_sb3_vec_normalize_is_found_and_truncation_is_not_termination():
    venv = VecNormalize(make_vec_env("Pendulum-v1", n_envs=2, seed=0))
    model = MSTDPETAgent(
        venv, seed=0, device="cpu", overrides={"encoder": {"low": [-5.0] * 3, "high": [5.0] * 3}}
    )
    assert model.get_vec_normalize_env() is venv
    seen = []
    model.learn(
        420, callback=sb3.ConvertCallback(lambda loc, glob: seen.append(loc["transition"]) or True)
    )
    ended = [tr for tr in seen if bool(tr.done.any())]
    assert ended and all(
        bool(tr.truncated[tr.done].all()) and not bool(tr.terminated.any()) for tr in ended
    )


def test_get_and_set_parameters():
    a, b = agent(), MSTDPETAgent("CartPole-v1", n_envs=4, seed=9, device="cpu")
    a.learn(200)
    obs = np.random.default_rng(0).uniform(-0.1, 0.1, (8, 4)).astype(np.float32)
    b.set_parameters(a.get_parameters())
    assert np.array_equal(
        a.predict(obs, deterministic=True)[0], b.predict(obs, deterministic=True)[0]
    )
    assert torch.equal(a.critic.state_dict()["weight"], b.critic.state_dict()["weight"])
    c = MSTDPETAgent("CartPole-v1", n_envs=4, seed=5, device="cpu")
    c.set_parameters({"policy": a.get_parameters()["policy"]}, exact_match=False)
    with pytest.raises(ValueError, match="missing"):
        c.set_parameters({"policy": a.get_parameters()["policy"]})
    with pytest.raises(ValueError, match="unknown"):
        c.set_parameters({**a.get_parameters(), "optimizer": {}})


def test_repr_names_the_parts():
    text = repr(agent(overrides={"network.hidden_sizes": [8]}))
    assert text.startswith("MSTDPETAgent(env='CartPole-v1', n_envs=4, device=cpu, seed=0")
    assert "hidden0': 'readout'" in text and "TDCritic(n_features=270" in text
    assert "MSTDPET on ['hidden0', 'output']" in text and "TerminalReward(value=-1.0)" in text
