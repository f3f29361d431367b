"""SpikingTDError: the TD error of a spiking critic, and its MSTDPET learning direction."""

import pytest
import torch

from snn_rl.envs import SpikingTDError, make_reward_signal


def one_hot(obs):
    return torch.nn.functional.one_hot(obs[:, 0].long(), 3).float()


def critic(**kw):
    kw.setdefault("n_features", 3)
    kw.setdefault("n_neurons", 8)
    kw.setdefault("weight_init_mean", 0.4)
    kw.setdefault("weight_init_std", 0.1)
    return SpikingTDError(one_hot, **kw)


def test_delta_is_the_td_error_of_the_spiking_value():
    td = critic(gamma=0.5)
    obs, nxt = torch.tensor([[0], [1]]), torch.tensor([[1], [2]])
    v, v_next = td.value(obs), td.value(nxt)
    delta = td([1.0, 0.0], [False, True], [False, False], obs, nxt)
    expected = torch.tensor([1.0 + 0.5 * v_next[0] - v[0], 0.0 - v[1]])  # terminated: no V(s')
    assert torch.allclose(delta, expected, atol=1e-6)


def test_truncation_bootstraps_and_inactive_rows_are_zero():
    td = critic(gamma=0.9)
    obs, nxt = torch.tensor([[0], [0]]), torch.tensor([[2], [2]])
    v, v_next = td.value(obs), td.value(nxt)
    delta = td([0.0, 0.0], [False, False], [True, False], obs, nxt, active=[True, False])
    assert delta[0].item() == pytest.approx((0.9 * v_next[0] - v[0]).item(), abs=1e-6)
    assert delta[1].item() == 0.0


@pytest.mark.parametrize("reward", [1.0, -1.0])
def test_value_moves_towards_the_reward(reward):
    td = critic(gamma=0.0, lr=0.01)
    obs = torch.tensor([[1], [1]])
    before = td.value(obs)[0].item()
    for _ in range(30):
        td([reward, reward], [True, True], [False, False], obs, obs)
    after = td.value(obs)[0].item()
    assert (after - before) * reward > 0.05
    other = td.value(torch.tensor([[0]]))[0].item()  # a state never visited keeps its value
    assert other == pytest.approx(critic().value(torch.tensor([[0]]))[0].item(), abs=1e-6)


def test_state_dict_round_trip_and_registry():
    td = critic(gamma=0.5)
    obs = torch.tensor([[0], [2]])
    td([1.0, -1.0], [False, False], [False, False], obs, obs)
    saved = td.state_dict()
    again = critic(gamma=0.5, seed=1)
    again.load_state_dict(saved)
    assert torch.equal(again.value(obs), td.value(obs))
    made = make_reward_signal("spiking_td", features=one_hot, n_features=3)
    assert isinstance(made, SpikingTDError)
    with pytest.raises(ValueError, match=r"to \(B, 4\), got \(1, 3\)"):
        critic(n_features=4).value(torch.tensor([[0]]))
