"""A critic made of spiking neurons, trained by the same three-factor rule as the actor.

:class:`SpikingTDError` replaces the linear critic of :class:`~snn_rl.envs.critics.TDError`
by a population of LIF neurons whose synapses learn with MSTDPET, modulated by the TD error
the critic itself produces, so that an agent using it is spiking and three-factor end to end.

Network: the features ``phi(s)`` (the agent's input population code, currents in [0, 1])
drive ``F`` integrate-and-fire input neurons (a deterministic rate code), which project to two
populations of ``n_neurons`` LIF neurons, P and N, as dopamine acts with opposite signs on
the two striatal pathways (D1 and D2).

Read-out (from rest, so the value depends on the state only):
``V(s) = value_scale * (rho_P(s) - rho_N(s))`` where ``rho`` is a population's spike count
plus its final membrane potential over the threshold, per neuron and simulation step, over a
window of ``sim_steps`` steps. The membrane term makes the read-out vary smoothly with the
weights below one spike (the prototype's count-only read-out was quantised at 1/(N T) and
too noisy to give a TD error; research/rstdp_cartpole.md section 8).

Per transition (active rows): windows on ``s`` and ``s'``;
``delta = r + gamma * V(s') * (1 - terminated) - V(s)`` (truncation bootstraps);
eligibility ``E <- g*E + sum over the window on s of x_pre (x) z_post`` (MSTDPET with
``a_post = 0``; ``g**sim_steps = lam`` per env step); weights
``W_P <- W_P + lr * mean_b(delta_b E_b)`` and ``W_N <- W_N - lr * mean_b(delta_b E_b)``.
Rows whose episode ended get E = 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from snn_rl import IFNeuron, LIFNeuron, Linear, SNNNetwork
from snn_rl._validation import check_in_range, check_int, check_positive
from snn_rl.learning import MSTDPET

from .basic_rewards import TerminalReward
from .reward_signal import RewardSignal, Transition

__all__ = ["SpikingTDError"]


class SpikingTDError(RewardSignal):
    """TD error of a spiking critic trained by MSTDPET (see the module docstring).

    Args:
        features: callable ``(B, *obs_shape) -> (B, F)`` currents in [0, 1] (the agents pass
            their input population code).
        n_features: F (the network is built at construction).
        n_neurons: neurons per population (P and N).
        sim_steps: simulation steps per value read-out.
        gamma: discount in [0, 1].
        lam: eligibility decay per env step in [0, 1].
        lr: MSTDPET learning rate of the critic weights.
        value_scale: V per unit of rate difference.
        weight_init_mean, weight_init_std: initial weights (normal).
        tau_v: LIF decay factor per step (linear update).
        terminal_reward: if set, the reward is this value on terminated rows and 0 elsewhere.
        seed: seeds the initial weights.

    Shape:
        obs, next_obs: ``(B, *obs_shape)``; output ``(B,)``.
    """

    def __init__(
        self,
        features: Callable[[torch.Tensor], torch.Tensor],
        *,
        n_features: int,
        n_neurons: int = 50,
        sim_steps: int = 10,
        gamma: float = 0.98,
        lam: float = 0.8,
        lr: float = 0.002,
        value_scale: float = 2.0,
        weight_init_mean: float = 0.3,
        weight_init_std: float = 0.1,
        tau_v: float = 0.8,
        terminal_reward: float | None = None,
        seed: int = 0,
        check_finite: bool = True,
    ) -> None:
        super().__init__(check_finite=check_finite)
        if not callable(features):
            raise TypeError(f"features must be callable, got {type(features).__name__}")
        self.features = features
        self.n_features = check_int("n_features", n_features, minimum=1)
        self.n_neurons = check_int("n_neurons", n_neurons, minimum=1)
        self.sim_steps = check_int("sim_steps", sim_steps, minimum=1)
        self.gamma = check_in_range("gamma", gamma, 0.0, 1.0)
        self.lam = check_in_range("lam", lam, 0.0, 1.0)
        self.lr = check_positive("lr", lr)
        self.value_scale = check_positive("value_scale", value_scale)
        self.reward = None if terminal_reward is None else TerminalReward(terminal_reward)
        gen = torch.Generator().manual_seed(seed)
        self.net = SNNNetwork()
        inp = IFNeuron(self.n_features, thresh=1.0, v_rest=0.0, alpha_v=1.0, tau_t=tau_v)
        for name in ("positive", "negative"):
            post = LIFNeuron(self.n_neurons, tau_v=tau_v, tau_t=tau_v, v_min=0.0)
            conn = Linear(self.n_features, self.n_neurons, generator=gen)
            conn.reset_weights("normal", weight_init_mean, weight_init_std, generator=gen)
            self.net.add_layer(name, conn, inp, post)
        layers = self.net.layer_state_dict()
        decay = self.lam ** (1.0 / self.sim_steps)
        self.rules = {
            name: MSTDPET(
                {name: layers[name]}, a_pre=1.0, a_post=0.0, lr=self.lr, e_trace_decay=decay
            )
            for name in layers
        }
        self._pops = {name: layers[name]["postsynaptic"] for name in layers}
        self._batch: int | None = None

    # ---------------------------------------------------------------------------- value
    def _window(self, obs: torch.Tensor, learn: bool) -> torch.Tensor:
        """Run one read-out window from rest; returns the rate difference ``(B,)``."""
        phi = torch.as_tensor(self.features(obs)).to(self.device, self.dtype)
        if phi.ndim != 2 or phi.shape[1] != self.n_features:
            raise ValueError(
                f"features must map (B, *obs_shape) to (B, {self.n_features}), "
                f"got {tuple(phi.shape)}"
            )
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

    def value(self, obs: Any) -> torch.Tensor:
        """Critic value ``V(s)`` of a batch of observations, shape ``(B,)`` (no learning)."""
        obs = self._as_obs("obs", obs, len(obs))
        with torch.no_grad():
            return self.value_scale * self._window(obs, learn=False)

    def compute(self, t: Transition) -> torch.Tensor:
        batch = t.reward.shape[0]
        if self._batch != batch:
            self._allocate(batch)
        reward = t.reward if self.reward is None else self.reward.compute(t)
        with torch.no_grad():
            value_next = self.value_scale * self._window(t.next_obs, learn=False)
            value = self.value_scale * self._window(t.obs, learn=True)
            delta = reward + self.gamma * value_next * ~t.terminated - value
            delta = torch.where(t.active, delta, 0.0)
            self.rules["positive"].step(delta)
            self.rules["negative"].step(-delta)
            ended = (t.terminated | t.truncated) & t.active
            self._reset_rows(ended | ~t.active)
        return delta

    # ---------------------------------------------------------------------------- state
    def _allocate(self, batch: int) -> None:
        self.net.reset_state(batch_size=batch)
        for rule in self.rules.values():
            rule.reset_state()
        self._batch = batch

    def _reset_rows(self, mask: torch.Tensor) -> None:
        for rule in self.rules.values():
            rule.reset_state(mask=mask)

    def reset(self, mask: Any = None) -> None:
        if mask is None or self._batch is None:
            self._batch = None  # the next call allocates for its batch size
            return
        self._reset_rows(self._check_mask(mask, self._batch))

    def _move(self) -> None:
        self.net.to(self.device, self.dtype)
        if isinstance(self.features, torch.nn.Module):
            self.features.to(self.device)
        self._batch = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "weights": {k: v.clone() for k, v in self.net.state_dict().items()},
            "rules": {name: rule.state_dict() for name, rule in self.rules.items()},
            "batch": self._batch,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.net.load_state_dict(state_dict["weights"])
        self._batch = state_dict["batch"]
        if self._batch is not None:
            self.net.reset_state(batch_size=self._batch)
        for name, rule in self.rules.items():
            rule.load_state_dict(state_dict["rules"][name])

    def __repr__(self) -> str:
        return (
            f"SpikingTDError(n_neurons={self.n_neurons}, sim_steps={self.sim_steps}, "
            f"gamma={self.gamma}, lam={self.lam}, lr={self.lr})"
        )
