"""Reward signals: golden numbers from the equations, masks, state, composition, registry."""

import io

import numpy as np
import pytest
import torch

from snn_rl.envs.rewards import (
    REWARD_SIGNALS,
    EnvReward,
    FunctionReward,
    RewardPredictionError,
    RewardSignal,
    SumSignal,
    TDError,
    TerminalReward,
    make_reward_signal,
    register_reward_signal,
)

F, T = False, True


def call(signal, reward, terminated=None, truncated=None, obs=None, next_obs=None, active=None):
    """Call a signal with defaults: not done, a zero 1-d observation per row."""
    b = len(reward)
    terminated = [F] * b if terminated is None else terminated
    truncated = [F] * b if truncated is None else truncated
    obs = [[0.0]] * b if obs is None else obs
    next_obs = obs if next_obs is None else next_obs
    return signal(reward, terminated, truncated, obs, next_obs, active=active)


def one_hot(scale=1.0, n=3):
    """Features of a discrete state given as an integer observation of shape (B, 1)."""
    return lambda obs: scale * torch.nn.functional.one_hot(obs[:, 0].long(), n).float()


def test_env_reward_scale_clip_and_inactive_rows():
    signal = EnvReward(scale=2.0, clip=3.0)
    out = call(signal, [1.0, -2.5, 4.0], active=[T, T, F])
    torch.testing.assert_close(out, torch.tensor([2.0, -3.0, 0.0]))
    assert out.dtype == torch.float32 and out.shape == (3,)
    with pytest.raises(ValueError, match="clip"):
        EnvReward(clip=0.0)


def test_terminal_reward_only_on_terminated_active_rows():
    out = call(TerminalReward(-2.0), [1.0] * 4, [T, F, T, F], [F, T, F, F], active=[T, T, F, T])
    torch.testing.assert_close(out, torch.tensor([-2.0, 0.0, 0.0, 0.0]))


def test_rpe_shared_running_mean_golden():
    rpe = RewardPredictionError(alpha=0.5)
    # m = 0: signals r - 0; m <- 0 + 0.5 * (mean(1, 3) - 0) = 1
    torch.testing.assert_close(call(rpe, [1.0, 3.0]), torch.tensor([1.0, 3.0]))
    # signals r - 1; m <- 1 + 0.5 * (1 - 1) = 1
    torch.testing.assert_close(call(rpe, [0.0, 2.0]), torch.tensor([-1.0, 1.0]))
    # only row 0 active: signal [4 - 1, 0]; m <- 1 + 0.5 * (4 - 1) = 2.5
    torch.testing.assert_close(call(rpe, [4.0, 0.0], active=[T, F]), torch.tensor([3.0, 0.0]))
    assert float(rpe.mean) == pytest.approx(2.5)
    # no active row: signal 0 and the mean does not move
    torch.testing.assert_close(call(rpe, [9.0, 9.0], active=[F, F]), torch.zeros(2))
    assert float(rpe.mean) == pytest.approx(2.5)
    rpe.reset(torch.tensor([T, T]))  # a long-run baseline: reset leaves it alone
    assert float(rpe.mean) == pytest.approx(2.5)


def test_rpe_per_env_golden_and_batch_size_fixed():
    rpe = RewardPredictionError(alpha=0.5, per_env=True)
    torch.testing.assert_close(call(rpe, [1.0, 2.0]), torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(rpe.mean, torch.tensor([0.5, 1.0]))
    torch.testing.assert_close(call(rpe, [1.0, 0.0], active=[T, F]), torch.tensor([0.5, 0.0]))
    torch.testing.assert_close(rpe.mean, torch.tensor([0.75, 1.0]))
    with pytest.raises(ValueError, match="tracks 2 envs"):
        call(rpe, [1.0, 1.0, 1.0])


def test_rpe_constant_reward_carries_no_information():
    """The documented caveat: CartPole's constant +1 drives the RPE to 0 as (1 - alpha)^n."""
    rpe = RewardPredictionError(alpha=0.5)
    signals = [float(call(rpe, [1.0])[0]) for _ in range(20)]
    assert signals[:3] == pytest.approx([1.0, 0.5, 0.25])
    assert signals[-1] == pytest.approx(0.5**19) and signals[-1] < 1e-5


def test_td_error_golden_sequence_termination_and_truncation():
    td = TDError(one_hot(), gamma=0.5, lam=0.5, lr=1.0, lr_bias=0.0, feature_norm_sq=1.0)
    # s=0 -> 1, r=0: V=0 so delta=0; e=[1,0,0]
    torch.testing.assert_close(call(td, [0.0], obs=[[0]], next_obs=[[1]]), torch.tensor([0.0]))
    torch.testing.assert_close(td.e_trace, torch.tensor([[1.0, 0.0, 0.0]]))
    # s=1 -> 2 terminated, r=1: delta = 1 - 0 = 1; e = 0.25*[1,0,0] + [0,1,0]; w += e; e <- 0
    out = call(td, [1.0], [T], obs=[[1]], next_obs=[[2]])
    torch.testing.assert_close(out, torch.tensor([1.0]))
    torch.testing.assert_close(td.weight, torch.tensor([0.25, 1.0, 0.0]))
    torch.testing.assert_close(td.e_trace, torch.zeros(1, 3))
    # s=0 -> 1, r=0: delta = 0.5*V(1) - V(0) = 0.5 - 0.25; e = [1,0,0]; w[0] += 0.25
    out = call(td, [0.0], obs=[[0]], next_obs=[[1]])
    torch.testing.assert_close(out, torch.tensor([0.25]))
    torch.testing.assert_close(td.weight, torch.tensor([0.5, 1.0, 0.0]))
    # s=1 -> 0 TRUNCATED: bootstraps, delta = 0.5*V(0) - V(1) = 0.25 - 1 = -0.75
    # e = 0.25*[1,0,0] + [0,1,0]; w += -0.75 e = [0.5 - 0.1875, 1 - 0.75, 0]; e <- 0
    out = call(td, [0.0], [F], [T], obs=[[1]], next_obs=[[0]])
    torch.testing.assert_close(out, torch.tensor([-0.75]))
    torch.testing.assert_close(td.weight, torch.tensor([0.3125, 0.25, 0.0]))
    torch.testing.assert_close(td.e_trace, torch.zeros(1, 3))
    # the same transition TERMINATED does not bootstrap: delta = 0 - V(1) = -0.25
    out = call(td, [0.0], [T], [F], obs=[[1]], next_obs=[[0]])
    torch.testing.assert_close(out, torch.tensor([-0.25]))
    torch.testing.assert_close(td.value(torch.tensor([[0], [1], [2]])), td.weight)


def test_td_error_batch_mean_and_default_feature_norm():
    td = TDError(one_hot(scale=2.0), gamma=0.5, lam=0.0, lr=1.0, lr_bias=0.0)
    out = call(td, [1.0, 2.0], obs=[[0], [1]], next_obs=[[1], [2]])
    torch.testing.assert_close(out, torch.tensor([1.0, 2.0]))
    assert td.feature_norm_sq == pytest.approx(4.0)  # mean ||2 one_hot||^2 of the first batch
    # w += 1/4 * mean(1*[2,0,0], 2*[0,2,0]) = [0.25, 0.5, 0]; V = 2 w at the one-hot states
    torch.testing.assert_close(td.weight, torch.tensor([0.25, 0.5, 0.0]))
    torch.testing.assert_close(td.value(torch.tensor([[0], [1], [2]])), torch.tensor([0.5, 1, 0]))


def test_td_error_bias_mean_over_active_rows_and_active_mask():
    td = TDError(one_hot(), gamma=0.5, lam=0.5, lr=0.0, lr_bias=0.5, feature_norm_sq=1.0)
    obs = [[0], [1]]
    torch.testing.assert_close(call(td, [1.0, 3.0], obs=obs), torch.tensor([1.0, 3.0]))
    assert float(td.bias) == pytest.approx(1.0)  # 0.5 * mean(1, 3)
    torch.testing.assert_close(call(td, [0.0, 0.0], obs=obs), torch.tensor([-0.5, -0.5]))
    assert float(td.bias) == pytest.approx(0.75)  # delta = 0.5 b - b
    e_before = td.e_trace.clone()
    out = call(td, [2.0, 100.0], obs=obs, active=[T, F])
    torch.testing.assert_close(out, torch.tensor([1.625, 0.0]))  # 2 + 0.5*0.75 - 0.75
    assert float(td.bias) == pytest.approx(0.75 + 0.5 * 1.625)  # mean over the active row only
    torch.testing.assert_close(td.e_trace[1], e_before[1])  # inactive row's trace untouched
    torch.testing.assert_close(td.e_trace[0], 0.25 * e_before[0] + torch.tensor([1.0, 0, 0]))


def test_td_error_reset_by_mask_and_batch_size():
    td = TDError(one_hot(), lam=1.0, gamma=1.0, feature_norm_sq=1.0)
    call(td, [0.0, 0.0], obs=[[0], [1]], next_obs=[[1], [2]])
    td.reset(np.array([T, F]))
    torch.testing.assert_close(td.e_trace, torch.tensor([[0.0, 0, 0], [0, 1, 0]]))
    with pytest.raises(ValueError, match="batch of 3"):
        call(td, [0.0] * 3, obs=[[0]] * 3)
    with pytest.raises(ValueError, match="mask"):
        td.reset(torch.tensor([T, F, T]))
    td.reset()  # drops the traces: another batch size is fine now
    call(td, [0.0] * 3, obs=[[0]] * 3)
    assert td.e_trace.shape == (3, 3)


def test_td_error_terminal_reward_shaping():
    td = TDError(one_hot(), terminal_reward=-1.0, feature_norm_sq=1.0)
    out = call(td, [1.0, 1.0, 1.0], [F, T, F], [F, F, T], obs=[[0]] * 3)
    torch.testing.assert_close(out, torch.tensor([0.0, -1.0, 0.0]))  # V = 0: delta = shaped r
    assert isinstance(td.reward, TerminalReward)
    with pytest.raises(ValueError, match="not both"):
        TDError(one_hot(), terminal_reward=-1.0, reward=EnvReward())


def test_td_error_state_dict_round_trip_weights_only():
    def run(signal):
        call(signal, [1.0, 0.0], [T, F], obs=[[0], [1]], next_obs=[[1], [2]])
        return call(signal, [0.5, 0.0], obs=[[1], [2]], next_obs=[[2], [0]])

    td = TDError(one_hot(), reward=RewardPredictionError(alpha=0.3))
    run(td)
    buffer = io.BytesIO()
    torch.save(td.state_dict(), buffer)
    buffer.seek(0)
    clone = TDError(one_hot(), reward=RewardPredictionError(alpha=0.3))
    clone.load_state_dict(torch.load(buffer, weights_only=True))
    torch.testing.assert_close(clone.weight, td.weight)
    assert clone.feature_norm_sq == td.feature_norm_sq
    torch.testing.assert_close(run(clone), run(td))
    with pytest.raises(KeyError, match="weight"):
        clone.load_state_dict({"bias": td.bias})


def test_rpe_state_dict_round_trip_and_dtype():
    rpe = RewardPredictionError(alpha=0.5, per_env=True).to(dtype=torch.float64)
    call(rpe, [1.0, 2.0])
    clone = RewardPredictionError(alpha=0.5, per_env=True)
    clone.load_state_dict(rpe.state_dict())
    torch.testing.assert_close(clone.mean, torch.tensor([0.5, 1.0]))
    assert call(rpe, [0.0, 0.0]).dtype == torch.float64
    with pytest.raises(ValueError, match="per_env"):
        RewardPredictionError().load_state_dict({"mean": torch.zeros(2)})


def test_composition_sum_scale_and_shared_parts():
    rpe = RewardPredictionError(alpha=0.5)
    combo = EnvReward() + 0.5 * TerminalReward(-1.0) - rpe
    assert isinstance(combo, SumSignal) and len(combo.parts) == 3
    # 1 + 0.5*[0, -1] - (1 - 0)  (the RPE's mean starts at 0)
    torch.testing.assert_close(call(combo, [1.0, 1.0], [F, T]), torch.tensor([0.0, -0.5]))
    doubled = rpe + rpe  # one part, weight 2: the mean moves once per call
    assert doubled.parts == [rpe] and doubled.weights == [2.0]
    before = float(rpe.mean)
    torch.testing.assert_close(call(doubled, [3.0]), torch.tensor([2 * (3.0 - before)]))
    assert float(rpe.mean) == pytest.approx(before + 0.5 * (3.0 - before))
    assert isinstance(sum([EnvReward(), TerminalReward()]), SumSignal)
    with pytest.raises(ValueError, match="device and dtype"):
        SumSignal([EnvReward(), EnvReward().to(dtype=torch.float64)])


def test_composition_reset_and_state_dict_propagate():
    td = TDError(one_hot(), feature_norm_sq=1.0)
    rpe = RewardPredictionError(alpha=0.5)
    combo = SumSignal([td, rpe], [1.0, 2.0])
    call(combo, [1.0, 1.0], obs=[[0], [1]])
    combo.reset(torch.tensor([T, F]))
    torch.testing.assert_close(td.e_trace[0], torch.zeros(3))
    state = combo.state_dict()
    assert len(state["parts"]) == 2
    fresh = SumSignal([TDError(one_hot()), RewardPredictionError(alpha=0.5)], [1.0, 2.0])
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.parts[1].mean, rpe.mean)
    torch.testing.assert_close(fresh.parts[0].weight, td.weight)


def test_function_reward_checks_output():
    signal = FunctionReward(lambda r, te, tr, o, o2: 2 * r + o2[:, 0])
    out = call(signal, [1.0, 2.0], obs=[[0.0], [0.0]], next_obs=[[0.5], [1.0]], active=[T, F])
    torch.testing.assert_close(out, torch.tensor([2.5, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        call(FunctionReward(lambda *args: torch.zeros(3)), [1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        call(FunctionReward(lambda *args: torch.tensor([float("nan")])), [1.0])


def test_non_finite_inputs_raise():
    with pytest.raises(ValueError, match="reward must be finite"):
        call(EnvReward(), [1.0, float("nan")])
    with pytest.raises(ValueError, match="next_obs must be finite"):
        call(EnvReward(), [1.0], obs=[[0.0]], next_obs=[[float("inf")]])
    td = TDError(lambda obs: obs * float("nan"), feature_norm_sq=1.0)
    with pytest.raises(ValueError, match="features"):
        call(td, [1.0])
    unchecked = EnvReward(check_finite=False)
    assert torch.isnan(call(unchecked, [float("nan")])).all()


def test_input_validation_names_the_argument():
    with pytest.raises(ValueError, match="reward must be a real"):
        call(EnvReward(), [[1.0]])
    with pytest.raises(ValueError, match="terminated"):
        EnvReward()([1.0], [0.5], [F], [[0.0]], [[0.0]])
    with pytest.raises(ValueError, match="obs"):
        EnvReward()([1.0, 1.0], [F, F], [F, F], [[0.0]], [[0.0]])
    with pytest.raises(ValueError, match="active"):
        call(EnvReward(), [1.0], active=[T, T])


def test_numpy_and_tensor_inputs_agree():
    numpy_out = EnvReward(scale=0.5)(
        np.array([2.0]), np.array([F]), np.array([F]), np.zeros((1, 4)), np.zeros((1, 4))
    )
    tensor_out = EnvReward(scale=0.5)(
        torch.tensor([2.0]),
        torch.tensor([F]),
        torch.tensor([F]),
        torch.zeros(1, 4),
        torch.zeros(1, 4),
    )
    torch.testing.assert_close(numpy_out, tensor_out)


def test_registry():
    assert isinstance(make_reward_signal("rpe", alpha=0.1), RewardPredictionError)
    assert isinstance(make_reward_signal("td", features=one_hot()), TDError)
    signal = EnvReward()
    assert make_reward_signal(signal) is signal
    assert isinstance(make_reward_signal(lambda r, te, tr, o, o2: r), FunctionReward)
    with pytest.raises(ValueError) as info:
        make_reward_signal("tdd")
    for name in ("env", "rpe", "td", "terminal"):
        assert repr(name) in str(info.value)
    with pytest.raises(TypeError, match="keyword"):
        make_reward_signal(signal, scale=2.0)

    class Half(RewardSignal):
        def compute(self, t):
            return 0.5 * t.reward

    try:
        register_reward_signal("half_test", Half)
        torch.testing.assert_close(
            call(make_reward_signal("half_test"), [4.0]), torch.tensor([2.0])
        )
        with pytest.raises(ValueError, match="already registered"):
            register_reward_signal("half_test", Half)
    finally:
        REWARD_SIGNALS.pop("half_test", None)
    with pytest.raises(TypeError, match="subclass"):
        register_reward_signal("bad", dict)


def test_td_error_reward_scale():
    one_hot = lambda obs: torch.nn.functional.one_hot(obs[:, 0], 2).float()  # noqa: E731
    td = TDError(
        one_hot, gamma=0.5, lam=0.0, lr=1.0, lr_bias=0.0, feature_norm_sq=1.0, reward_scale=0.01
    )
    delta = td([-1.0], [False], [False], [[0]], [[1]])  # V = 0 everywhere: delta = 0.01 * r
    assert delta.tolist() == pytest.approx([-0.01])
    assert td.value(torch.tensor([[0], [1]])).tolist() == pytest.approx([-0.01, 0.0])
