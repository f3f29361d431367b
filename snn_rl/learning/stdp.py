"""Pair-based STDP: the shared base of STDP, MSTDP and MSTDPET, and unsupervised STDP.

The pair term of one step, per layer, with ``x`` the presynaptic trace, ``s`` the presynaptic
spikes (both as they arrive at the synapses, after the connection's delay), ``z`` the
postsynaptic spikes and ``y`` the postsynaptic trace::

    D = a_pre * (x (x) z) - a_post * (s (x) y)

Pre-before-post (a pre trace when the post neuron fires) potentiates; post-before-pre (a post
trace when a pre spike arrives) depresses. ``a_pre`` and ``a_post`` are non-negative
magnitudes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from torch import Tensor

from snn_rl import functional as F
from snn_rl._validation import check_finite, check_non_negative, check_positive
from snn_rl.learning.base import LayerMapping, LearningRule, synapse_view

__all__ = ["PairRule", "STDP"]


class PairRule(LearningRule):
    """Base of the pair-based rules: checks ``a_pre``, ``a_post``, ``lr``, ``w_min``, ``w_max``."""

    def _check_hyperparameters(self, group: dict[str, Any], given: set[str]) -> dict[str, Any]:
        group = dict(group)
        group["a_pre"] = check_non_negative("a_pre", group["a_pre"])
        group["a_post"] = check_non_negative("a_post", group["a_post"])
        group["lr"] = check_positive("lr", group["lr"])
        for key in ("w_min", "w_max"):
            if group[key] is not None:
                group[key] = check_finite(key, group[key])
        if group["w_min"] is not None and group["w_max"] is not None:
            if group["w_min"] >= group["w_max"]:
                raise ValueError(
                    f"w_min ({group['w_min']}) must be smaller than w_max ({group['w_max']})"
                )
        return group

    @staticmethod
    def _pair_term(layer: Mapping[str, Any], group: dict[str, Any], batch_mean: bool) -> Tensor:
        """This step's pair term ``D``: ``(out, K)`` batch mean or ``(B, out, K)`` per env."""
        return F.stdp_update(
            *synapse_view(layer, dense=True),
            a_pre=group["a_pre"],
            a_post=group["a_post"],
            batch_mean=batch_mean,
        )


class STDP(PairRule):
    """Unsupervised pair-based STDP: ``W <- W + lr * reduce(a_pre*x(x)z - a_post*s(x)y)``.

    ``step()`` reads the layers' live activity of the current step; there is no state, so
    :meth:`update_state` and :meth:`reset_state` do nothing. ``reduce`` is the batch mean
    (and, for Conv2d, the mean over output positions).

    Args:
        layers: ``name -> layer`` mapping or parameter groups (see :class:`LearningRule`).
        a_pre: potentiation magnitude (pre trace x post spike), >= 0.
        a_post: depression magnitude (pre spike x post trace), >= 0.
        lr: learning rate, > 0.
        w_min, w_max: optional bounds; weights are clamped after each step.

    Shape:
        Linear weight ``(out, in)``, Conv2d ``(C_out, C_in, kh, kw)``; activity ``(B, ...)``.

    Example:
        >>> import torch
        >>> from snn_rl import Input, LIFNeuron, Linear, SNNNetwork
        >>> from snn_rl.learning import STDP
        >>> net = SNNNetwork()
        >>> net.add_layer("fc", Linear(1, 1, weight=1.0), Input(1), LIFNeuron(1, decay_v=0.0))
        >>> rule = STDP(net.layer_state_dict(), a_pre=1.0, a_post=0.5, lr=0.1)
        >>> _ = net(torch.ones(1, 1))  # pre and post spike together: x = y = 1
        >>> rule.step()  # W += 0.1 * (1*1*1 - 0.5*1*1)
        >>> net.connections["fc"].weight
        Parameter containing:
        tensor([[1.0500]])
    """

    def __init__(
        self,
        layers: LayerMapping | Iterable[Mapping[str, Any]],
        *,
        lr: float,
        a_pre: float = 1.0,
        a_post: float = 1.0,
        w_min: float | None = None,
        w_max: float | None = None,
    ) -> None:
        defaults = {"a_pre": a_pre, "a_post": a_post, "lr": lr, "w_min": w_min, "w_max": w_max}
        super().__init__(layers, defaults)

    def step(self, reward: Any = None) -> None:
        """Apply one step of STDP to every layer (unsupervised: no reward)."""
        if reward is not None:
            raise TypeError("STDP is unsupervised and step() takes no reward; use MSTDP(ET)")
        for name, layer, group in self.layers():
            delta = group["lr"] * self._pair_term(layer, group, batch_mean=True)
            self._apply_delta(name, layer, group, delta)
