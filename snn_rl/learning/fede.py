"""FedeSTDP (Paredes-Valles et al., "Unsupervised Learning of a Hierarchical Spiking Neural
Network for Optical Flow Estimation"): a self-limiting STDP whose weights settle where the
potentiation ``exp(-(W - w_init)) * (e^x_hat - a)`` balances the depression
``exp(W - w_init) * (e^(1 - x_hat) - a)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from snn_rl import functional as F
from snn_rl._validation import check_choice, check_finite, check_in_range, check_positive
from snn_rl.functional import FEDE_MODES, FedeMode
from snn_rl.learning.base import LayerMapping, LearningRule, synapse_view, weight_view

__all__ = ["FedeSTDP"]


class FedeSTDP(LearningRule):
    """FedeSTDP: ``dW = lr * mean[exp(-d)*(exp(x_hat) - a) - exp(d)*(exp(1 - x_hat) - a)]``.

    ``d = W - w_init`` and ``x_hat = x / max(x)`` is the normalised presynaptic trace. The
    mean runs over the postsynaptic neurons that count for a weight (env rows and, for
    Conv2d, the output positions sharing the kernel: one update per kernel weight from the
    unfolded patches). ``mode`` selects which neurons count and what ``max`` is over:

    * ``"post_spike"`` (default, as in the paper): only neurons that spiked this step, each
      with ``x`` normalised by the maximum over its own receptive field. Weights of neurons
      that did not spike are unchanged, so each neuron learns the inputs it responds to.
    * ``"every_step"``: every neuron in every env row, ``x`` normalised by the maximum of
      the row's whole presynaptic trace. The update of ``W[o, k]`` then does not depend on
      ``o``, so all neurons of a layer drift towards the same weights.

    With no presynaptic activity (``max(x) = 0``) nothing counts and the weights do not change
    (never NaN). With a fixed ``x_hat`` the weights converge to
    ``w_init + 0.5 * ln((mean e^x_hat - a) / (mean e^(1 - x_hat) - a))``.

    ``step()`` reads the live activity of the current step; the rule has no state. A
    connection holding one weight per agent of a population (agent-major rows) is trained per
    agent: each block's means run over its agent's rows only, and homeostasis moves each
    agent's threshold offsets from its rows (:meth:`snn_rl.SNNNetwork.stack_agents` stacks
    them).

    Homeostasis (``target_rate``, default None: off): each step also moves the postsynaptic
    :class:`~snn_rl.FedeNeuron`'s ``thresh_offset`` by ``homeostasis_lr * (r - target_rate)``,
    ``r`` the neuron's spike rate this step over the env rows (for a feature map, over its
    positions too: one offset per map), so that a neuron firing more than the target raises its
    threshold and a silent one lowers it, down to ``v_rest + 0.1 * (thresh - v_rest)``. Two
    things follow that FedeSTDP alone lacks: only the inputs a neuron matches best still make
    it fire (and so shape its weights), and a neuron that lost every competition gets its
    turn. Measured on oriented bars in docs/results.md.

    Args:
        layers: ``name -> layer`` mapping or parameter groups (see :class:`LearningRule`).
        lr: learning rate, > 0.
        w_init: reference (initial) weight.
        a: stability parameter in ``[0, 1)``.
        mode: ``"post_spike"`` or ``"every_step"``.
        target_rate: spikes per neuron and step the homeostasis aims at, in ``(0, 1]``, or
            None (no homeostasis).
        homeostasis_lr: threshold change per unit of rate error, > 0.

    Shape:
        Linear weight ``(out, in)``, Conv2d ``(C_out, C_in, kh, kw)``; activity ``(B, ...)``.

    Example:
        >>> import torch
        >>> from snn_rl import FedeNeuron, Input, Linear, SNNNetwork
        >>> from snn_rl.learning import FedeSTDP
        >>> net = SNNNetwork()
        >>> net.add_layer("fc", Linear(2, 1, weight=0.5), Input(2), FedeNeuron(1))
        >>> rule = FedeSTDP(net.layer_state_dict(), lr=0.1, w_init=0.5, a=0.0, mode="every_step")
        >>> _ = net(torch.tensor([[1.0, 0.0]]))  # x = [1, 0] -> x_hat = [1, 0]
        >>> rule.step()  # d = 0: dW = 0.1 * ((e^x_hat - 0) - (e^(1 - x_hat) - 0)) = +-0.1*(e - 1)
        >>> net.connections["fc"].weight
        Parameter containing:
        tensor([[0.6718, 0.3282]])
    """

    added_hyperparameters = {"target_rate": None, "homeostasis_lr": 1.0}
    supports_agents = True

    def __init__(
        self,
        layers: LayerMapping | Iterable[Mapping[str, Any]],
        *,
        lr: float,
        w_init: float,
        a: float,
        mode: FedeMode = "post_spike",
        target_rate: float | None = None,
        homeostasis_lr: float = 1.0,
    ) -> None:
        defaults = {"lr": lr, "w_init": w_init, "a": a, "mode": mode}
        defaults |= {"target_rate": target_rate, "homeostasis_lr": homeostasis_lr}
        super().__init__(layers, defaults)

    def _check_hyperparameters(self, group: dict[str, Any], given: set[str]) -> dict[str, Any]:
        group = dict(group)
        group["lr"] = check_positive("lr", group["lr"])
        group["w_init"] = check_finite("w_init", group["w_init"])
        group["a"] = check_in_range("a", group["a"], 0.0, 1.0, high_inclusive=False)
        group["mode"] = check_choice("mode", group["mode"], FEDE_MODES)
        if group["target_rate"] is not None:
            group["target_rate"] = check_in_range("target_rate", group["target_rate"], 0.0, 1.0)
            if group["target_rate"] == 0.0:
                raise ValueError("target_rate must be > 0 (None turns homeostasis off)")
        group["homeostasis_lr"] = check_positive("homeostasis_lr", group["homeostasis_lr"])
        return group

    def _init_layer_state(self, layer: Mapping[str, Any], group: dict) -> dict[str, Any]:
        post = layer["postsynaptic"]
        if group["target_rate"] is not None and "thresh_offset" not in post._buffers:
            raise TypeError(
                "target_rate (homeostasis) moves the threshold of FedeNeuron populations; "
                f"this layer's postsynaptic population is a {type(post).__name__}"
            )
        return {}

    def step(self, reward: Any = None) -> None:
        """Apply one FedeSTDP update to every layer (unsupervised: no reward)."""
        if reward is not None:
            raise TypeError("FedeSTDP is unsupervised and step() takes no reward")
        for name, layer, group in self.layers():
            view = synapse_view(layer)
            delta = F.fede_delta(
                weight_view(layer),
                view.pre_trace,
                view.post_spikes,
                w_init=group["w_init"],
                a=group["a"],
                mode=group["mode"],
            )
            self._apply_delta(name, layer, group, group["lr"] * delta)
            if group["target_rate"] is not None:
                post = layer["postsynaptic"]
                if post.n_agents != layer["connection"].n_agents:
                    raise ValueError(
                        f"layer {name!r}: the connection holds {layer['connection'].n_agents} "
                        f"agents' weights but its neurons {post.n_agents} agents' thresholds; "
                        "stack the whole network (SNNNetwork.stack_agents)"
                    )
                buf = post._buffers
                buf["thresh_offset"].copy_(  # in place: a population's members hold views
                    F.homeostasis_update(
                        buf["thresh_offset"],
                        buf["spikes"],
                        target_rate=group["target_rate"],
                        lr=group["homeostasis_lr"],
                        floor=-0.9 * (post.thresh - post.v_rest),
                    )
                )
