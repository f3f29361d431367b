"""Reward functions of a transition: golden numbers, masks, composition, registry."""

import numpy as np
import pytest
import torch

from snn_rl.envs.rewards import (
    REWARD_FUNCTIONS,
    EnvReward,
    FunctionReward,
    RewardFunction,
    SumReward,
    TerminalReward,
    make_reward_function,
    register_reward_function,
)
from snn_rl.envs.transition import Transition

F, T = False, True


def tr(reward, terminated=None, truncated=None, obs=None, next_obs=None, active=None):
    """A transition with defaults: not done, a zero 1-d observation per row."""
    b = len(reward)
    obs = [[0.0]] * b if obs is None else obs
    return Transition.from_arrays(
        obs=obs,
        reward=reward,
        terminated=[F] * b if terminated is None else terminated,
        truncated=[F] * b if truncated is None else truncated,
        next_obs=obs if next_obs is None else next_obs,
        active=active,
    )


def test_env_reward_scale_clip_and_inactive_rows():
    out = EnvReward(scale=2.0, clip=3.0)(tr([1.0, -2.5, 4.0], active=[T, T, F]))
    torch.testing.assert_close(out, torch.tensor([2.0, -3.0, 0.0]))
    assert out.dtype == torch.float32 and out.shape == (3,)
    with pytest.raises(ValueError, match="clip must be > 0"):
        EnvReward(clip=0.0)
    with pytest.raises(TypeError, match="scale must be a real number"):
        EnvReward(scale="big")


def test_terminal_reward_only_on_terminated_active_rows():
    out = TerminalReward(-2.0)(tr([1.0] * 4, [T, F, T, F], [F, T, F, F], active=[T, T, F, T]))
    torch.testing.assert_close(out, torch.tensor([-2.0, 0.0, 0.0, 0.0]))


def test_function_reward_reads_the_transition_and_checks_output():
    fn = FunctionReward(lambda t: 2 * t.reward + t.next_obs[:, 0])
    out = fn(tr([1.0, 2.0], obs=[[0.0], [0.0]], next_obs=[[0.5], [1.0]], active=[T, F]))
    torch.testing.assert_close(out, torch.tensor([2.5, 0.0]))
    with pytest.raises(ValueError, match=r"must return shape \(2,\)"):
        FunctionReward(lambda t: torch.zeros(3))(tr([1.0, 1.0]))
    with pytest.raises(ValueError, match="NaN or inf"):
        FunctionReward(lambda t: torch.tensor([float("nan")]))(tr([1.0]))
    unchecked = FunctionReward(lambda t: torch.tensor([float("nan")]), check_finite=False)
    assert torch.isnan(unchecked(tr([1.0]))).all()
    with pytest.raises(TypeError, match="fn must be callable"):
        FunctionReward(3)


def test_composition_flattens_and_weights():
    combo = EnvReward() + 0.5 * TerminalReward(-1.0) - EnvReward(scale=0.5)
    assert isinstance(combo, SumReward) and len(combo.parts) == 3
    assert combo.weights == (1.0, 0.5, -1.0)
    # 1 + 0.5 * [0, -1] - 0.5 * 1
    torch.testing.assert_close(combo(tr([1.0, 1.0], [F, T])), torch.tensor([0.5, 0.0]))
    assert isinstance(sum([EnvReward(), TerminalReward()]), SumReward)
    torch.testing.assert_close((-EnvReward())(tr([2.0])), torch.tensor([-2.0]))
    with pytest.raises(ValueError, match="one weight per part"):
        SumReward((EnvReward(),), (1.0, 2.0))


def test_built_ins_are_plain_data():
    assert EnvReward(scale=0.01) == EnvReward(scale=0.01)
    assert repr(TerminalReward(-1.0)) == "TerminalReward(value=-1.0)"
    with pytest.raises(AttributeError):
        EnvReward().scale = 2.0  # frozen: configuration, not state


def test_registry():
    assert make_reward_function("terminal", value=-2.0) == TerminalReward(-2.0)
    fn = EnvReward()
    assert make_reward_function(fn) is fn
    assert isinstance(make_reward_function(lambda t: t.reward), FunctionReward)
    with pytest.raises(ValueError) as info:
        make_reward_function("envv")
    assert "'env'" in str(info.value) and "'terminal'" in str(info.value)
    with pytest.raises(TypeError, match="keyword"):
        make_reward_function(fn, scale=2.0)
    with pytest.raises(TypeError, match="reward must be"):
        make_reward_function(3)

    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Half(RewardFunction):
        def compute(self, t):
            return 0.5 * t.reward

    try:
        register_reward_function("half_test", Half)
        torch.testing.assert_close(
            make_reward_function("half_test")(tr([4.0])), torch.tensor([2.0])
        )
        with pytest.raises(ValueError, match="already registered"):
            register_reward_function("half_test", Half)
    finally:
        REWARD_FUNCTIONS.pop("half_test", None)
    with pytest.raises(TypeError, match="subclass"):
        register_reward_function("bad", dict)


def test_transition_from_arrays_validates_and_names_the_argument():
    with pytest.raises(ValueError, match="reward must be a real"):
        tr([[1.0]])
    with pytest.raises(TypeError, match="terminated must be a bool tensor"):
        Transition.from_arrays(
            obs=[[0.0]], reward=[1.0], terminated=[0.5], truncated=[F], next_obs=[[0.0]]
        )
    with pytest.raises(ValueError, match="obs must have shape"):
        Transition.from_arrays(
            obs=[[0.0]], reward=[1.0, 1.0], terminated=[F, F], truncated=[F, F], next_obs=[[0.0]]
        )
    with pytest.raises(ValueError, match=r"active must have shape \(1,\)"):
        tr([1.0], active=[T, T])
    numpy_tr = Transition.from_arrays(
        obs=np.zeros((1, 4)),
        reward=np.array([2.0]),
        terminated=np.array([F]),
        truncated=np.array([F]),
        next_obs=np.zeros((1, 4)),
    )
    torch.testing.assert_close(EnvReward(scale=0.5)(numpy_tr), torch.tensor([1.0]))
    assert numpy_tr.new_obs is numpy_tr.next_obs and numpy_tr.done.tolist() == [False]


def test_infos_split_per_env_with_masks():
    info = {
        "x": np.array([1, 2, 3]),
        "_x": np.array([True, False, True]),
        "final_info": {"r": np.array([0.5, 0.0, 0.0]), "_r": np.array([True, False, False])},
    }
    t = Transition.from_arrays(
        obs=[[0.0]] * 3,
        reward=[0.0] * 3,
        terminated=[F] * 3,
        truncated=[F] * 3,
        next_obs=[[0.0]] * 3,
        info=info,
    )
    assert t.infos == [
        {"x": 1, "final_info": {"r": 0.5}},
        {"final_info": {}},
        {"x": 3, "final_info": {}},
    ]
