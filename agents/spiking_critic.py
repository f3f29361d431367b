"""A critic made of spiking neurons, trained by the same three-factor rule as the actor.

:class:`SpikingTDCritic` replaces the linear critic of :class:`~snn_rl.agents.critics.TDCritic`
by a population of LIF neurons whose synapses learn with MSTDPET, modulated by the TD error
the critic itself produces, so that an agent using it is spiking and three-factor end to end.

Network: the features ``phi(s)`` (the policy's input currents, in [0, 1]) drive ``F``
integrate-and-fire input neurons (a deterministic rate code), which project to two
populations of ``n_neurons`` LIF neurons, P and N, as dopamine acts with opposite signs on
the two striatal pathways (D1 and D2).

Read-out (from rest, so the value depends on the state only):
``V(s) = value_scale * (rho_P(s) - rho_N(s))`` where ``rho`` is a population's spike count
plus its final membrane potential over the threshold, per neuron and simulation step, over a
window of ``sim_steps`` steps. The membrane term makes the read-out vary smoothly with the
weights below one spike (a count-only read-out is quantised at 1/(N T), too coarse to give a
TD error).

Per transition (active rows): windows on ``s'`` and ``s``;
``delta = r + gamma * V(s') * (1 - terminated) - V(s)`` (truncation bootstraps);
eligibility ``E <- g*E + sum over the window on s of x_pre (x) z_post`` (MSTDPET with
``a_post = 0``; ``g**sim_steps = lam`` per env step); weights
``W_P <- W_P + lr * mean_b(delta_b E_b)`` and ``W_N <- W_N - lr * mean_b(delta_b E_b)``.
Rows whose episode ended get E = 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from snn_rl import IFNeuron, LIFNeuron, Linear, SNNNetwork
from snn_rl._validation import check_mask
from snn_rl.agents.critics import Critic, CriticConfig, register_critic
from snn_rl.learning import MSTDPET

__all__ = ["SpikingCriticConfig", "SpikingTDCritic"]


class SpikingTDCritic(Critic):
    """TD error of a spiking critic trained by MSTDPET (see the module docstring).

    Args:
        n_features: F, the width of the policy's input code.
        n_neurons: neurons per population (P and N).
        sim_steps: simulation steps per value read-out.
        gamma: discount in [0, 1].
        lam: eligibility decay per env step in [0, 1].
        lr: MSTDPET learning rate of the critic weights.
        value_scale: V per unit of rate difference.
        weight_init_mean, weight_init_std: initial weights (normal).
        decay_v: LIF decay factor per step (the input trace decays alike).
        seed: seeds the initial weights.

    Shape:
        reward ``(B,)``; phi, phi_next ``(B, F)`` -> ``(B,)``.
    """

    def __init__(
        self,
        n_features: int,
        *,
        n_neurons: int,
        sim_steps: int,
        gamma: float,
        lam: float,
        lr: float,
        value_scale: float,
        weight_init_mean: float,
        weight_init_std: float,
        decay_v: float,
        seed: int,
        device: torch.device | str = "cpu",
    ) -> None:
        self.n_features, self.n_neurons, self.sim_steps = n_features, n_neurons, sim_steps
        self.gamma, self.lam, self.lr, self.value_scale = gamma, lam, lr, value_scale
        gen = torch.Generator().manual_seed(seed)
        self.net = SNNNetwork()
        inp = IFNeuron(n_features, thresh=1.0, v_rest=0.0, alpha_v=1.0, decay_t=decay_v)
        for name in ("positive", "negative"):
            post = LIFNeuron(n_neurons, decay_v=decay_v, decay_t=decay_v, v_min=0.0)
            conn = Linear(n_features, n_neurons, generator=gen)
            conn.reset_weights("normal", weight_init_mean, weight_init_std, generator=gen)
            self.net.add_layer(name, conn, inp, post, role="readout")
        self.net.to(device)
        layers = self.net.layer_state_dict()
        decay = lam ** (1.0 / sim_steps)
        self.rules = {
            name: MSTDPET({name: layers[name]}, a_pre=1.0, a_post=0.0, lr=lr, e_trace_decay=decay)
            for name in layers
        }
        self._pops = {name: layers[name]["postsynaptic"] for name in layers}
        self._batch: int | None = None

    # ---------------------------------------------------------------------------- value
    def _window(self, phi: Tensor, learn: bool) -> Tensor:
        """Run one read-out window from rest; returns the rate difference ``(B,)``."""
        if phi.ndim != 2 or phi.shape[1] != self.n_features:
            raise ValueError(f"phi must have shape (B, {self.n_features}), got {tuple(phi.shape)}")
        self.net.reset_state(batch_size=phi.shape[0])
        counts = {name: torch.zeros_like(pop.v) for name, pop in self._pops.items()}
        for _ in range(self.sim_steps):
            self.net(phi)
            for name, pop in self._pops.items():
                counts[name] += pop.spikes
            if learn:
                for rule in self.rules.values():
                    rule.update_state()
        rates = {
            name: (counts[name] + pop.v / pop.thresh).mean(1) / self.sim_steps
            for name, pop in self._pops.items()
        }
        return rates["positive"] - rates["negative"]

    def value(self, phi: Tensor) -> Tensor:
        """Critic value ``V`` of features ``(B, F)``, shape ``(B,)`` (no learning)."""
        with torch.no_grad():
            return self.value_scale * self._window(phi, learn=False)

    def __call__(self, reward, phi, phi_next, tr):
        batch = reward.shape[0]
        if self._batch != batch:
            self._allocate(batch)
        with torch.no_grad():
            value_next = self.value_scale * self._window(phi_next, learn=False)
            value = self.value_scale * self._window(phi, learn=True)
            delta = reward + self.gamma * value_next * ~tr.terminated - value
            delta = torch.where(tr.active, delta, 0.0)
            self.rules["positive"].step(delta)
            self.rules["negative"].step(-delta)
            ended = (tr.terminated | tr.truncated) & tr.active
            self._reset_rows(ended | ~tr.active)
        return delta

    # ---------------------------------------------------------------------------- state
    def _allocate(self, batch: int) -> None:
        self.net.reset_state(batch_size=batch)
        for rule in self.rules.values():
            rule.reset_state()
        self._batch = batch

    def _reset_rows(self, mask: Tensor) -> None:
        for rule in self.rules.values():
            rule.reset_state(mask=mask)

    def reset(self, mask: Tensor | None = None) -> None:
        if mask is None or self._batch is None:
            self._batch = None  # the next call allocates for its batch size
            return
        self._reset_rows(check_mask(mask, self._batch))

    def verify_finite(self) -> None:
        self.net.verify_finite()
        for rule in self.rules.values():
            rule.verify_finite()

    def to(self, device: torch.device) -> Critic:
        self.net.to(device)
        self._batch = None
        return self

    def state_dict(self) -> dict[str, Any]:
        return {
            "weights": {k: v.clone() for k, v in self.net.state_dict().items()},
            "rules": {name: rule.state_dict() for name, rule in self.rules.items()},
            "batch": self._batch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.net.load_state_dict(state["weights"])
        self._batch = state["batch"]
        if self._batch is not None:
            self.net.reset_state(batch_size=self._batch)
        for name, rule in self.rules.items():
            rule.load_state_dict(state["rules"][name])

    def __repr__(self) -> str:
        return (
            f"SpikingTDCritic(n_neurons={self.n_neurons}, sim_steps={self.sim_steps}, "
            f"gamma={self.gamma}, lam={self.lam}, lr={self.lr})"
        )


@dataclass(frozen=True)
class SpikingCriticConfig(CriticConfig):
    """A spiking TD critic trained by MSTDPET (see :class:`SpikingTDCritic`)."""

    n_neurons: int = 50
    sim_steps: int = 10
    gamma: float = 0.98
    lam: float = 0.8
    lr: float = 0.002
    value_scale: float = 2.0
    weight_init_mean: float = 0.3
    weight_init_std: float = 0.1
    decay_v: float = 0.8

    def validate(self) -> None:
        if self.n_neurons < 1 or self.sim_steps < 1:
            raise ValueError(
                f"n_neurons and sim_steps must be >= 1, got {self.n_neurons}, {self.sim_steps}"
            )
        for name in ("gamma", "lam", "decay_v"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.lr <= 0 or self.value_scale <= 0:
            raise ValueError(f"lr and value_scale must be > 0, got {self.lr}, {self.value_scale}")

    def build(self, n_features: int, *, seed: int, device: torch.device) -> Critic:
        return SpikingTDCritic(
            n_features,
            n_neurons=self.n_neurons,
            sim_steps=self.sim_steps,
            gamma=self.gamma,
            lam=self.lam,
            lr=self.lr,
            value_scale=self.value_scale,
            weight_init_mean=self.weight_init_mean,
            weight_init_std=self.weight_init_std,
            decay_v=self.decay_v,
            seed=seed,
            device=device,
        )


register_critic("spiking_td", SpikingCriticConfig)
