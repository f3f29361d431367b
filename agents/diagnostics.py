"""Plasticity diagnostics of an MSTDPET agent ("why is it not learning"), for the logger."""

from __future__ import annotations

from typing import Any

from torch import Tensor

__all__ = ["Diagnostics"]


class Diagnostics:
    """Plasticity statistics for "why is it not learning", sampled every ``every`` env steps."""

    def __init__(self, agent: Any, every: int = 8) -> None:
        self.agent = agent
        self.every = every
        self.calls = 0
        self.layers = agent._policy.network.layer_state_dict()
        self.reset()

    def reset(self) -> None:
        self.spikes = {name: 0.0 for name in self.layers}
        self.silent = {name: 0.0 for name in self.layers}
        self.sim_steps = 0
        self.dw = 0.0
        self.dw_n = 0
        self.sig_sum = 0.0
        self.sig_sq = 0.0
        self.sig_n = 0.0

    def sampling(self) -> bool:
        self.calls += 1
        return self.calls % self.every == 0

    def after_sim_step(self) -> None:
        self.agent._after_sim_step()
        self.sim_steps += 1
        for name, layer in self.layers.items():
            z = layer["postsynaptic"].spikes
            self.spikes[name] = self.spikes[name] + z.mean()
            self.silent[name] = self.silent[name] + z  # per-neuron counts, reduced at record

    def weights(self) -> dict[str, Tensor]:
        return {name: layer["connection"].weight.clone() for name, layer in self.rule_layers()}

    def rule_layers(self):
        return [(n, layer) for n, layer in self.layers.items() if n in self.agent.rule.state]

    def after_env_step(self, signal: Tensor, active: Tensor, before: dict | None) -> None:
        act = active.to(signal.dtype)
        self.sig_sum = self.sig_sum + (signal * act).sum()
        self.sig_sq = self.sig_sq + (signal * signal * act).sum()
        self.sig_n = self.sig_n + act.sum()
        if before is not None:
            for name, layer in self.rule_layers():
                self.dw = self.dw + (layer["connection"].weight - before[name]).abs().mean()
                self.dw_n += 1

    def record(self, logger: Any) -> None:
        for name, layer in self.layers.items():
            w = layer["connection"].weight
            logger.record(f"snn/weight_norm/{name}", float(w.norm()))
            if self.sim_steps:
                logger.record(f"snn/firing_rate/{name}", float(self.spikes[name]) / self.sim_steps)
                silent = self.silent[name]
                frac = (
                    float((silent.sum(0) == 0).double().mean())
                    if isinstance(silent, Tensor)
                    else 1.0
                )
                logger.record(f"snn/silent_fraction/{name}", frac)
        for name, st in self.agent.rule.state.items():
            logger.record(f"snn/eligibility_abs/{name}", float(st["e_trace"].abs().mean()))
        if self.dw_n:
            logger.record("snn/mean_abs_dw", float(self.dw) / self.dw_n)
        n = float(self.sig_n)
        if n > 0:
            mean = float(self.sig_sum) / n
            var = max(float(self.sig_sq) / n - mean * mean, 0.0)
            logger.record("reward_signal/mean", mean)
            logger.record("reward_signal/std", var**0.5)
        self.reset()
