"""Critics: golden TD and RPE numbers from the equations, masks, state, the spiking critic."""

import io

import numpy as np
import pytest
import torch

from snn_rl.agents.critics import (
    CRITICS,
    NoCriticConfig,
    RewardPredictionError,
    RPEConfig,
    TDCritic,
    TDCriticConfig,
)
from snn_rl.agents.spiking_critic import SpikingCriticConfig, SpikingTDCritic
from snn_rl.envs.transition import Transition

F, T = False, True


def tr(b, terminated=None, truncated=None, active=None):
    return Transition.from_arrays(
        obs=[[0.0]] * b,
        reward=[0.0] * b,
        terminated=[F] * b if terminated is None else terminated,
        truncated=[F] * b if truncated is None else truncated,
        next_obs=[[0.0]] * b,
        active=active,
    )


def oh(*states, n=3, scale=1.0):
    return scale * torch.nn.functional.one_hot(torch.tensor(states), n).float()


def r(*values):
    return torch.tensor(values)


def td_call(td, reward, s, s_next, terminated=None, truncated=None, active=None):
    t = tr(len(reward), terminated, truncated, active)
    return td(r(*reward), oh(*s), oh(*s_next), t)


def test_td_golden_sequence_termination_and_truncation():
    td = TDCritic(3, gamma=0.5, lam=0.5, lr=1.0, lr_bias=0.0, feature_norm_sq=1.0)
    # s=0 -> 1, r=0: V=0 so delta=0; e=[1,0,0]
    torch.testing.assert_close(td_call(td, [0.0], [0], [1]), r(0.0))
    torch.testing.assert_close(td.e_trace, torch.tensor([[1.0, 0.0, 0.0]]))
    # s=1 -> 2 terminated, r=1: delta = 1; e = 0.25*[1,0,0] + [0,1,0]; w += e; e <- 0
    torch.testing.assert_close(td_call(td, [1.0], [1], [2], [T]), r(1.0))
    torch.testing.assert_close(td.weight, torch.tensor([0.25, 1.0, 0.0]))
    torch.testing.assert_close(td.e_trace, torch.zeros(1, 3))
    # s=0 -> 1: delta = 0.5*V(1) - V(0) = 0.25; w[0] += 0.25
    torch.testing.assert_close(td_call(td, [0.0], [0], [1]), r(0.25))
    torch.testing.assert_close(td.weight, torch.tensor([0.5, 1.0, 0.0]))
    # s=1 -> 0 TRUNCATED bootstraps: delta = 0.5*V(0) - V(1) = -0.75
    torch.testing.assert_close(td_call(td, [0.0], [1], [0], [F], [T]), r(-0.75))
    torch.testing.assert_close(td.weight, torch.tensor([0.3125, 0.25, 0.0]))
    # TERMINATED does not bootstrap: delta = -V(1) = -0.25
    torch.testing.assert_close(td_call(td, [0.0], [1], [0], [T], [F]), r(-0.25))
    torch.testing.assert_close(td.value(torch.eye(3)), td.weight)


def test_td_batch_mean_and_default_feature_norm():
    td = TDCritic(3, gamma=0.5, lam=0.0, lr=1.0, lr_bias=0.0)
    out = td(r(1.0, 2.0), oh(0, 1, scale=2.0), oh(1, 2, scale=2.0), tr(2))
    torch.testing.assert_close(out, r(1.0, 2.0))
    assert td.feature_norm_sq == pytest.approx(4.0)  # mean ||2 one_hot||^2 of the first batch
    torch.testing.assert_close(td.weight, torch.tensor([0.25, 0.5, 0.0]))


def test_td_bias_mean_over_active_rows_and_active_mask():
    td = TDCritic(3, gamma=0.5, lam=0.5, lr=0.0, lr_bias=0.5, feature_norm_sq=1.0)
    torch.testing.assert_close(td_call(td, [1.0, 3.0], [0, 1], [0, 1]), r(1.0, 3.0))
    assert float(td.bias) == pytest.approx(1.0)
    torch.testing.assert_close(td_call(td, [0.0, 0.0], [0, 1], [0, 1]), r(-0.5, -0.5))
    e_before = td.e_trace.clone()
    out = td_call(td, [2.0, 100.0], [0, 1], [0, 1], active=[T, F])
    torch.testing.assert_close(out, r(1.625, 0.0))  # 2 + 0.5*0.75 - 0.75
    assert float(td.bias) == pytest.approx(0.75 + 0.5 * 1.625)
    torch.testing.assert_close(td.e_trace[1], e_before[1])  # inactive row untouched


def test_td_reset_by_mask_batch_size_and_state_round_trip():
    td = TDCritic(3, gamma=1.0, lam=1.0, lr=0.1, lr_bias=0.01, feature_norm_sq=1.0)
    td_call(td, [0.5, 0.0], [0, 1], [1, 2])
    td.reset(np.array([T, F]))
    torch.testing.assert_close(td.e_trace, torch.tensor([[0.0, 0, 0], [0, 1, 0]]))
    with pytest.raises(ValueError, match="batch of 3"):
        td_call(td, [0.0] * 3, [0] * 3, [0] * 3)
    with pytest.raises(ValueError, match="mask"):
        td.reset(torch.tensor([T, F, T]))
    buffer = io.BytesIO()
    torch.save(td.state_dict(), buffer)
    buffer.seek(0)
    clone = TDCritic(3, gamma=1.0, lam=1.0, lr=0.1, lr_bias=0.01)
    clone.load_state_dict(torch.load(buffer, weights_only=True))
    torch.testing.assert_close(
        td_call(clone, [1.0, 0.0], [2, 0], [0, 0]), td_call(td, [1.0, 0.0], [2, 0], [0, 0])
    )
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        clone.load_state_dict({**td.state_dict(), "weight": torch.zeros(4)})
    td.reset()  # drops the traces: another batch size is fine now
    td_call(td, [0.0] * 3, [0] * 3, [0] * 3)
    assert td.e_trace.shape == (3, 3)


def test_rpe_shared_and_per_env_golden():
    rpe = RewardPredictionError(alpha=0.5)
    torch.testing.assert_close(rpe(r(1.0, 3.0), None, None, tr(2)), r(1.0, 3.0))
    torch.testing.assert_close(rpe(r(0.0, 2.0), None, None, tr(2)), r(-1.0, 1.0))
    torch.testing.assert_close(rpe(r(4.0, 0.0), None, None, tr(2, active=[T, F])), r(3.0, 0.0))
    assert float(rpe.mean) == pytest.approx(2.5)
    rpe.reset(torch.tensor([T, T]))  # a long-run baseline: reset leaves it alone
    assert float(rpe.mean) == pytest.approx(2.5)
    per_env = RewardPredictionError(alpha=0.5, per_env=True)
    per_env(r(1.0, 2.0), None, None, tr(2))
    torch.testing.assert_close(per_env.mean, r(0.5, 1.0))
    with pytest.raises(ValueError, match="tracks 2 envs"):
        per_env(r(1.0, 1.0, 1.0), None, None, tr(3))
    clone = RewardPredictionError(alpha=0.5, per_env=True)
    clone.load_state_dict(per_env.state_dict())
    torch.testing.assert_close(clone.mean, r(0.5, 1.0))


def test_configs_build_their_critics_and_validate():
    cpu = torch.device("cpu")
    assert set(CRITICS) >= {"td", "spiking_td", "rpe", "none"}
    assert isinstance(TDCriticConfig().build(4, seed=0, device=cpu), TDCritic)
    assert isinstance(RPEConfig().build(4, seed=0, device=cpu), RewardPredictionError)
    none = NoCriticConfig().build(4, seed=0, device=cpu)
    torch.testing.assert_close(none(r(0.5, -1.0), None, None, tr(2)), r(0.5, -1.0))
    with pytest.raises(ValueError, match="gamma must lie in"):
        TDCriticConfig(gamma=1.5)
    with pytest.raises(ValueError, match="alpha must lie in"):
        RPEConfig(alpha=0.0)


def spiking(seed=0, **kw):
    kw = {"n_neurons": 8, "weight_init_mean": 0.4, "weight_init_std": 0.1, **kw}
    return SpikingCriticConfig(**kw).build(3, seed=seed, device=torch.device("cpu"))


def test_spiking_delta_is_the_td_error_of_the_spiking_value():
    td = spiking(gamma=0.5)
    v, v_next = td.value(oh(0, 1)), td.value(oh(1, 2))
    delta = td(r(1.0, 0.0), oh(0, 1), oh(1, 2), tr(2, terminated=[F, T]))
    expected = torch.stack([1.0 + 0.5 * v_next[0] - v[0], 0.0 - v[1]])
    assert torch.allclose(delta, expected, atol=1e-6)
    v, v_next = td.value(oh(0, 0)), td.value(oh(2, 2))
    delta = td(r(0.0, 0.0), oh(0, 0), oh(2, 2), tr(2, truncated=[T, F], active=[T, F]))
    assert delta[0].item() == pytest.approx((0.5 * v_next[0] - v[0]).item(), abs=1e-6)
    assert delta[1].item() == 0.0


@pytest.mark.parametrize("reward", [1.0, -1.0])
def test_spiking_value_moves_towards_the_reward(reward):
    td = spiking(gamma=0.0, lr=0.01)
    before = td.value(oh(1))[0].item()
    for _ in range(30):
        td(r(reward, reward), oh(1, 1), oh(1, 1), tr(2, terminated=[T, T]))
    assert (td.value(oh(1))[0].item() - before) * reward > 0.05
    untouched = spiking().value(oh(0))[0].item()  # a state never visited keeps its value
    assert td.value(oh(0))[0].item() == pytest.approx(untouched, abs=1e-6)


def test_spiking_state_round_trip_and_shape_error():
    td = spiking(gamma=0.5)
    td(r(1.0, -1.0), oh(0, 2), oh(0, 2), tr(2))
    again = spiking(gamma=0.5, seed=1)
    again.load_state_dict(td.state_dict())
    assert torch.equal(again.value(oh(0, 2)), td.value(oh(0, 2)))
    assert isinstance(td, SpikingTDCritic)
    with pytest.raises(ValueError, match=r"phi must have shape \(B, 3\)"):
        td.value(torch.zeros(1, 4))


def test_td_optimistic_start_gives_a_modulator_before_any_reward():
    td = TDCritic(3, gamma=0.5, lam=0.0, lr=1.0, lr_bias=0.0, feature_norm_sq=1.0, init_value=2.0)
    # V = 2 everywhere: delta = 0 + 0.5 * 2 - 2 = -1 with no reward; terminal: -2
    torch.testing.assert_close(td_call(td, [0.0], [0], [1]), r(-1.0))
    torch.testing.assert_close(td_call(td, [0.0], [1], [2], [T]), r(-2.0))
    torch.testing.assert_close(td.value(torch.eye(3)), torch.tensor([1.0, 0.0, 2.0]))
    with pytest.raises(ValueError, match="init_value must be finite"):
        TDCriticConfig(init_value=float("nan"))


def test_td_normalized_modulator_is_delta_over_its_running_rms():
    kwargs = {"gamma": 0.0, "lam": 0.0, "lr": 0.0, "lr_bias": 0.0, "feature_norm_sq": 1.0}
    td = TDCritic(3, normalize=True, norm_rate=0.5, **kwargs)
    # first call: m = mean(delta^2) exactly (bias-corrected): rows 3 and -1 -> m = 5
    out = td_call(td, [3.0, -1.0], [0, 1], [1, 2])
    torch.testing.assert_close(out, r(3.0, -1.0) / 5.0**0.5)
    td2 = TDCritic(3, normalize=True, norm_rate=0.5, **kwargs)
    td_call(td2, [2.0], [0], [1])  # m_raw = 0.5 * 4 = 2, weight 0.5 -> m = 4
    out = td_call(td2, [4.0], [0], [1])  # m_raw = 2 + 0.5 * (16 - 2) = 9, weight 0.75 -> 12
    torch.testing.assert_close(out, r(4.0) / 12.0**0.5)
    # a scaled reward gives the same modulator
    td3 = TDCritic(3, normalize=True, norm_rate=0.5, **kwargs)
    td_call(td3, [200.0], [0], [1])
    torch.testing.assert_close(td_call(td3, [400.0], [0], [1]), out)
    state = td3.state_dict()
    assert {"delta_sq", "norm_weight"} <= set(state)
    fresh = TDCritic(3, normalize=True, norm_rate=0.5, **kwargs)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.norm_weight, td3.norm_weight)
    # without normalize the state keeps the keys older checkpoints hold
    assert "delta_sq" not in TDCritic(3, **kwargs).state_dict()
