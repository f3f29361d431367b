"""The engine's finiteness guard: NaN or inf never spreads silently through populations or rules."""

import pytest
import torch

from snn_rl import FedeNeuron, Input, LIFNeuron, Linear, NonFiniteError, SNNNetwork
from snn_rl.learning import MSTDPET, FedeSTDP


def net_of(post=None, weight=0.5, checked=True):
    net = SNNNetwork()
    net.add_layer("fc", Linear(3, 2, weight=weight), Input(3), post or LIFNeuron(2))
    net.set_check_finite(checked)
    net.reset_state(batch_size=2)
    return net


def test_nan_current_raises_naming_the_population_and_step():
    net = SNNNetwork()
    hid, out = LIFNeuron(3), LIFNeuron(2)
    net.add_layer("hidden", Linear(3, 3, weight=0.5), LIFNeuron(3), hid)
    net.add_layer("out", Linear(3, 2, weight=0.5), hid, out)
    net.reset_state(batch_size=2)
    net(torch.ones(2, 3))
    net(torch.ones(2, 3))
    bad = torch.ones(2, 3)
    bad[1, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"current into population hidden_pre .*at step 3"):
        net(bad)


def test_nan_spikes_and_inf_currents_raise():
    net = net_of()
    with pytest.raises(NonFiniteError, match="spikes into population fc_pre"):
        net(torch.tensor([[1.0, float("nan"), 0.0]] * 2))
    lif = LIFNeuron(2)
    lif.reset_state(batch_size=1)
    with pytest.raises(NonFiniteError, match=r"current into a LIFNeuron .*at step 1"):
        lif(torch.tensor([[float("inf"), 0.0]]))


def test_nan_weights_are_caught_at_the_reset_and_extra_currents_at_the_step():
    with pytest.raises(NonFiniteError, match=r"the weights of layer 'fc' became NaN or inf"):
        net_of(weight=float("nan"))
    net = net_of()
    net(torch.ones(2, 3))
    with pytest.raises(NonFiniteError, match=r"the extra current into layer 'fc' .*at step 2"):
        net(torch.ones(2, 3), currents={"fc": torch.tensor([[0.0, float("inf")]] * 2)})
    # populations fed by the network's connections are not checked again: their currents are
    # finite weights times spikes (what keeps the guard at one check per step)
    assert net.neurons["fc_post"]._fed_by_network and not net.neurons["fc_pre"]._fed_by_network


def test_large_finite_values_do_not_raise():
    lif = LIFNeuron(2, thresh=1e39)
    lif.reset_state(batch_size=1)
    lif(torch.tensor([[3e38, 3e38]]))  # their sum overflows, every value is finite
    assert torch.isfinite(lif.v).all()


def test_fede_weights_running_to_inf_raise_at_the_step_they_do():
    net = net_of(FedeNeuron(2, thresh=100.0), weight=0.5)
    rule = FedeSTDP(net.layer_state_dict(), lr=0.5, w_init=200.0, a=0.0, mode="every_step")
    with pytest.raises(
        NonFiniteError, match=r"layer 'fc': the weights after FedeSTDP step .*at step (\d+)"
    ) as info:
        for _ in range(100):
            net(torch.ones(2, 3))
            rule.step()
    step = int(info.value.args[0].rsplit(" ", 1)[1])
    assert 1 <= step <= 50


def test_checks_can_be_turned_off_for_benchmarks():
    net = net_of(weight=float("nan"), checked=False)
    out = net(torch.ones(2, 3))  # NaN goes through, as asked
    assert torch.isnan(net.neurons["fc_post"].v).all() and out.sum() == 0
    rule = MSTDPET(net_of().layer_state_dict(), lr=1.0, e_trace_decay=0.5)
    rule.check_finite = False
    rule.update_state()
    rule.step(0.0)  # nothing raises with the rule's check off either
    with pytest.raises(TypeError, match="enabled must be a bool"):
        net.set_check_finite(1)


def test_loaded_rule_state_is_checked_finite():
    net = net_of()
    rule = MSTDPET(net.layer_state_dict(), lr=0.1, e_trace_decay=0.5)
    state = rule.state_dict()
    state["state"]["fc"]["e_trace"][0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="layer 'fc': state 'e_trace' holds NaN or inf"):
        rule.load_state_dict(state)


@pytest.mark.gpu
def test_on_cuda_failures_are_recorded_and_raised_at_verify():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    net = net_of().to("cuda")
    net.reset_state(batch_size=2)
    net(torch.ones(2, 3, device="cuda"))
    net(torch.full((2, 3), float("nan"), device="cuda"))  # recorded, no sync
    net(torch.ones(2, 3, device="cuda"))
    with pytest.raises(NonFiniteError, match="first at step 2"):
        net.verify_finite()
