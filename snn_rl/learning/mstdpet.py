"""Reward-modulated STDP (Florian 2007): MSTDPET (with eligibility trace) and MSTDP.

Per layer, with the pair term ``D = a_pre*(x (x) z) - a_post*(s (x) y)`` of
:mod:`snn_rl.learning.stdp`:

* ``update_state()``: ``E <- g*E + D`` (MSTDP: ``g = 0``, E is the current step's term).
* ``step(reward)``: ``W <- W + lr * reduce(r * E)``; ``reduce`` is the batch mean (and, for
  Conv2d, the mean over output positions, taken when E is updated).

Two layouts of E, chosen at construction with ``per_env``:

* ``per_env=True`` (default): one E per env, ``(B, out, K)``; a reward may be one float for
  all envs or a ``(B,)`` tensor (each env's E scaled by its own reward before the batch
  mean), and ``reset_state(mask)`` zeroes single env rows (episode ends).
* ``per_env=False``: only the batch mean of E, ``(out, K)``, updated by one matmul per
  step. With a scalar reward only that mean matters, so the weights are the same; per-env
  rewards and row resets cannot be honoured and raise.

``K = in`` for Linear and ``C_in*kh*kw`` for Conv2d: Conv2d's E is averaged over the output
positions sharing a kernel weight when it is updated (the mean commutes with the decay and
the reward).

A connection holding one weight per agent of a population (``A`` agents, agent-major rows
``B = A * n``, :meth:`snn_rl.connections.Connection.stack_agents`) is trained per agent:
the "batch mean" is the mean over that agent's ``n`` rows, and ``per_env=False`` keeps one
mean E per agent, ``(A, out, K)``. Each agent's weights then change exactly as a network of
its own would.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from snn_rl import functional as F
from snn_rl._coding import agent_rows
from snn_rl._validation import check_bool, check_in_range, check_mask, check_positive
from snn_rl.learning.base import LayerMapping, _check_finite_state, synapse_view, weight_view
from snn_rl.learning.stdp import PairRule

__all__ = ["MSTDPET", "MSTDP"]

Reward = float | Tensor | np.ndarray


class _RewardModulated(PairRule):
    """Shared machinery of MSTDP and MSTDPET: eligibility state, rewards, per-env resets."""

    supports_agents = True
    added_hyperparameters = {"zero_sum": False}
    agent_hyperparameters = ("lr", "a_pre", "a_post", "e_trace_decay", "tau_e", "w_min", "w_max")

    def __init__(
        self, layers: LayerMapping | Iterable[Mapping[str, Any]], defaults: dict, per_env: bool
    ) -> None:
        self.per_env = check_bool("per_env", per_env)
        super().__init__(layers, defaults)

    def _decay(self, layer: Mapping[str, Any], group: dict[str, Any]) -> float:
        raise NotImplementedError

    # ------------------------------------------------------------------- state
    def _fresh_e_trace(self, layer: Mapping[str, Any]) -> Tensor:
        w = weight_view(layer)
        if not self.per_env:
            return torch.zeros_like(w)
        batch = layer["postsynaptic"].batch_size
        single = w.shape[1:] if layer["connection"].n_agents > 1 else w.shape
        return w.new_zeros((batch, *single))

    def _init_layer_state(self, layer: Mapping[str, Any], group: dict) -> dict[str, Tensor]:
        return {"e_trace": self._fresh_e_trace(layer)}

    def _e_trace(self, name: str, layer: Mapping[str, Any]) -> Tensor:
        """The layer's E on the weight's device and dtype (moved there if the net moved)."""
        e = self.state[name]["e_trace"]
        w = layer["connection"].weight
        if e.device != w.device or e.dtype != w.dtype:
            e = e.to(device=w.device, dtype=w.dtype)
            self.state[name]["e_trace"] = e
        return e

    def _check_state_tensor(self, name: str, key: str, saved: Any, current: Tensor) -> None:
        # a per-env E may come from a run with another batch size: only (out, K) must match
        if (
            self.per_env
            and isinstance(saved, Tensor)
            and saved.dim() == 3
            and saved.shape[1:] == current.shape[1:]
        ):
            _check_finite_state(name, key, saved)
            return
        super()._check_state_tensor(name, key, saved, current)

    def update_state(self) -> None:
        """``E <- g*E + a_pre*(x (x) z) - a_post*(s (x) y)`` for every layer (call once per step).

        Raises:
            RuntimeError: the network's batch size differs from the per-env eligibility's;
                call :meth:`reset_state` after changing the batch size.
        """
        for name, layer, group in self.layers():
            view = synapse_view(layer, dense=True)
            e = self._e_trace(name, layer)
            if self.per_env and e.shape[0] != view.post_spikes.shape[0]:
                raise RuntimeError(
                    f"layer {name!r}: the network runs {view.post_spikes.shape[0]} envs but the "
                    f"eligibility holds {e.shape[0]} rows; call rule.reset_state() after "
                    f"net.reset_state(batch_size=...)"
                )
            agents = layer["connection"].n_agents
            pre_trace, pre_spikes, post_spikes, post_trace = view
            a_pre, a_post = group["a_pre"], group["a_post"]
            decay = self._decay(layer, group)
            # per-agent values (vary_by_agent) scale each agent's rows of the factor they
            # multiply: a_pre the post spikes, a_post the post trace, the decay E itself
            if isinstance(a_pre, Tensor):
                post_spikes, a_pre = post_spikes * agent_rows(a_pre, post_spikes), 1.0
            if isinstance(a_post, Tensor):
                post_trace, a_post = post_trace * agent_rows(a_post, post_trace), 1.0
            if isinstance(decay, Tensor):
                e.mul_(agent_rows(decay, e))
                decay = 1.0
            F.eligibility_update(
                e,
                pre_trace,
                pre_spikes,
                post_spikes,
                post_trace,
                a_pre=a_pre,
                a_post=a_post,
                e_trace_decay=decay,
                out=e,  # in place: E is the rule's own tensor
                agents=None if self.per_env or agents == 1 else agents,
            )

    def decay_state(self) -> None:
        """``E <- g*E`` for every layer: a simulation step whose spikes pair nothing (e.g.
        an agent's decision window when only the efference copy may earn credit)."""
        for name, layer, group in self.layers():
            e = self._e_trace(name, layer)
            decay = self._decay(layer, group)
            e.mul_(agent_rows(decay, e))

    def reset_state(self, mask: Tensor | None = None) -> None:
        """Zero E: all of it (re-allocated for the network's current batch size), or the
        env rows where the bool ``mask`` ``(B,)`` is True (``per_env=True`` only)."""
        if mask is None:
            for name, layer, _ in self.layers():
                self.state[name]["e_trace"] = self._fresh_e_trace(layer)
            return
        if not self.per_env:
            raise ValueError(
                "reset_state(mask) needs per_env=True: with per_env=False the rule keeps only "
                "the batch-mean eligibility and cannot zero single env rows"
            )
        for name, layer, _ in self.layers():
            e = self._e_trace(name, layer)
            rows = check_mask(mask, e.shape[0]).to(e.device)
            e.masked_fill_(rows.view(-1, 1, 1), 0.0)

    # ------------------------------------------------------------------- step
    def _check_reward(self, reward: Any) -> float | Tensor:
        if isinstance(reward, numbers.Real) and not isinstance(reward, bool):
            value = float(reward)
            if not math.isfinite(value):
                raise ValueError(f"reward must be finite, got {value}")
            return value
        if isinstance(reward, np.ndarray):
            reward = torch.from_numpy(reward)
        if not isinstance(reward, Tensor) or reward.dtype == torch.bool or reward.is_complex():
            raise TypeError(
                "reward must be a float, a 0-d tensor (one reward for every env) or a (B,) "
                f"tensor (one per env), got {type(reward).__name__}"
                + (f" of dtype {reward.dtype}" if isinstance(reward, Tensor) else "")
            )
        if reward.dim() > 1:
            raise ValueError(
                f"reward must be a float, a 0-d tensor or a (B,) tensor, got shape "
                f"{tuple(reward.shape)}"
            )
        if reward.dim() == 1 and not self.per_env:
            raise ValueError(
                "a (B,) reward (one per env) needs per_env=True: with per_env=False the rule "
                "keeps only the batch-mean eligibility; pass one float for all envs instead"
            )
        if not bool(torch.isfinite(reward).all()):
            raise ValueError(f"reward must be finite, got {reward}")
        return reward

    def step(self, reward: Reward | None = None) -> None:
        """``W <- W + lr * reduce(r * E)``, then clamp to ``[w_min, w_max]`` if set.

        Args:
            reward: a float or 0-d tensor (one reward for every env), or a ``(B,)`` tensor
                (one per env, ``per_env=True`` only).

        Raises:
            TypeError, ValueError: no reward, a reward of the wrong type or shape, or a
                non-finite one.
        """
        if reward is None:
            raise TypeError(f"{type(self).__name__}.step needs a reward")
        r = self._check_reward(reward)
        for name, layer, group in self.layers():
            e = self._e_trace(name, layer)
            agents = layer["connection"].n_agents
            lr = group["lr"]  # a float, or one per agent (vary_by_agent)
            if isinstance(lr, Tensor):
                lr = lr.to(device=e.device, dtype=e.dtype)
            if isinstance(r, Tensor) and r.dim() == 1:
                if r.shape[0] != e.shape[0]:
                    raise ValueError(
                        f"reward has {r.shape[0]} entries but layer {name!r} holds "
                        f"{e.shape[0]} env rows; pass a ({e.shape[0]},) tensor"
                    )
                # the scale goes into the rows, not into an alpha= on the matmul's result
                # (torch 2.13's inductor drops such an alpha: see functional._scaled)
                n = e.shape[0] // agents
                r = r.to(device=e.device, dtype=e.dtype)
                rows = r * (agent_rows(lr, r) / n)
                if agents > 1:  # each agent's rows meet only its own E rows
                    dw = torch.bmm(rows.view(agents, 1, n), e.view(agents, n, -1))
                    dw = dw.view(agents, *e.shape[1:])
                else:
                    dw = (rows @ e.flatten(1)).view(e.shape[1:])
                scale = 1.0
            else:
                if self.per_env and agents > 1:
                    dw = e.view(agents, -1, *e.shape[1:]).mean(1)
                else:
                    dw = e.mean(0) if self.per_env else e  # E itself: only read
                scale = lr * (r.to(device=e.device, dtype=e.dtype) if isinstance(r, Tensor) else r)
                if isinstance(lr, Tensor):  # (A,): one step size per agent's weight block
                    scale = agent_rows(scale, dw)
            if group["zero_sum"]:  # dw may be E itself: a new tensor, never in place
                dw = dw - dw.mean(dim=-2, keepdim=True)
            self._apply_delta(name, layer, group, dw, scale)

    def _check_hyperparameters(self, group: dict[str, Any], given: set[str]) -> dict[str, Any]:
        group = super()._check_hyperparameters(group, given)
        group["zero_sum"] = check_bool("zero_sum", group["zero_sum"])
        return group


class MSTDPET(_RewardModulated):
    """Reward-modulated STDP with eligibility trace (Florian 2007).

    ``update_state()``: ``E <- g*E + a_pre*(x (x) z) - a_post*(s (x) y)``; ``step(r)``:
    ``W <- W + lr * reduce(r * E)``, with ``x``/``s`` the presynaptic trace/spikes after the
    connection's delay and ``z``/``y`` the postsynaptic spikes/trace. Give exactly one of
    ``e_trace_decay`` (per-step ``g``) and ``tau_e`` (``g = exp(-dt/tau_e)``, ``dt`` of the
    postsynaptic population); a parameter group that sets one of them replaces the other.

    Args:
        layers: ``name -> layer`` mapping or parameter groups (see :class:`LearningRule`).
        lr: learning rate, > 0.
        a_pre: potentiation magnitude (pre trace x post spike), >= 0.
        a_post: depression magnitude (pre spike x post trace), >= 0.
        e_trace_decay: per-step decay factor of E in ``[0, 1]``.
        tau_e: time constant of E (unit of ``dt``), > 0.
        w_min, w_max: optional bounds; weights are clamped after each step.
        per_env: keep E per env (``True``, default) or only its batch mean (``False``,
            faster, scalar rewards only); see :mod:`snn_rl.learning.mstdpet`.
        zero_sum: remove from each step's change its mean over the postsynaptic neurons
            (per input weight), so the layer's total weight onto its neurons never drifts:
            what one neuron gains the others lose. A reward-modulated readout whose
            modulator is mostly negative otherwise depresses every neuron it credits until
            the layer falls silent.

    Shape:
        E (``rule.state[name]["e_trace"]``): ``(B, out, K)`` if ``per_env`` else ``(out, K)``,
        ``K = in`` (Linear) or ``C_in*kh*kw`` (Conv2d).

    Example:
        >>> import torch
        >>> from snn_rl import Input, LIFNeuron, Linear, SNNNetwork
        >>> from snn_rl.learning import MSTDPET
        >>> net = SNNNetwork()
        >>> net.add_layer("fc", Linear(1, 1, weight=1.0), Input(1), LIFNeuron(1, decay_v=0.0))
        >>> rule = MSTDPET(net.layer_state_dict(), lr=0.1, a_post=0.0, e_trace_decay=0.5)
        >>> _ = net(torch.ones(1, 1))  # pre and post spike together: x = z = 1
        >>> rule.update_state()  # E = 0.5*0 + 1*1*1
        >>> rule.step(1.0)  # W = 1 + 0.1*1*1
        >>> net.connections["fc"].weight
        Parameter containing:
        tensor([[1.1000]])
    """

    def __init__(
        self,
        layers: LayerMapping | Iterable[Mapping[str, Any]],
        *,
        lr: float,
        a_pre: float = 1.0,
        a_post: float = 1.0,
        e_trace_decay: float | None = None,
        tau_e: float | None = None,
        w_min: float | None = None,
        w_max: float | None = None,
        per_env: bool = True,
        zero_sum: bool = False,
    ) -> None:
        defaults = {
            "a_pre": a_pre,
            "a_post": a_post,
            "lr": lr,
            "e_trace_decay": e_trace_decay,
            "tau_e": tau_e,
            "w_min": w_min,
            "w_max": w_max,
            "zero_sum": zero_sum,
        }
        super().__init__(layers, defaults, per_env)

    def _check_hyperparameters(self, group: dict[str, Any], given: set[str]) -> dict[str, Any]:
        group = super()._check_hyperparameters(group, given)
        if "tau_e" in given and "e_trace_decay" not in given:
            group["e_trace_decay"] = None
        elif "e_trace_decay" in given and "tau_e" not in given:
            group["tau_e"] = None
        if (group["e_trace_decay"] is None) == (group["tau_e"] is None):
            raise ValueError(
                "give exactly one of e_trace_decay (per-step factor in [0, 1]) and tau_e "
                f"(time constant, unit of dt); got e_trace_decay={group['e_trace_decay']}, "
                f"tau_e={group['tau_e']}"
            )
        if group["e_trace_decay"] is not None:
            group["e_trace_decay"] = check_in_range("e_trace_decay", group["e_trace_decay"], 0, 1)
        else:
            group["tau_e"] = check_positive("tau_e", group["tau_e"])
        return group

    def _decay(self, layer: Mapping[str, Any], group: dict[str, Any]) -> float | Tensor:
        if group["e_trace_decay"] is not None:
            return group["e_trace_decay"]
        tau_e = group["tau_e"]
        if isinstance(tau_e, Tensor):  # one per agent
            return torch.exp(-layer["postsynaptic"].dt / tau_e)
        return math.exp(-layer["postsynaptic"].dt / tau_e)


class MSTDP(_RewardModulated):
    """Reward-modulated STDP without eligibility trace (Florian 2007).

    ``update_state()`` stores the current step's pair term ``D = a_pre*(x (x) z) -
    a_post*(s (x) y)``; ``step(r)``: ``W <- W + lr * reduce(r * D)``. This is
    :class:`MSTDPET` with ``e_trace_decay = 0``; arguments as there.

    Shape:
        D (``rule.state[name]["e_trace"]``): ``(B, out, K)`` if ``per_env`` else ``(out, K)``.
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
        per_env: bool = True,
        zero_sum: bool = False,
    ) -> None:
        defaults = {
            "a_pre": a_pre,
            "a_post": a_post,
            "lr": lr,
            "w_min": w_min,
            "w_max": w_max,
            "zero_sum": zero_sum,
        }
        super().__init__(layers, defaults, per_env)

    def _decay(self, layer: Mapping[str, Any], group: dict[str, Any]) -> float:
        return 0.0
