"""Training statistics for the logger: plasticity diagnostics ("why is it not learning"),
sampled in the loop, and the returns of finished episodes.

The loop hands the diagnostics what they measure; they never reach into the agent:
``sampling()`` once per env step says whether this step is sampled; on sampled steps
``after_sim_step()`` follows each simulation step and ``snapshot()`` / ``weight_change()``
bracket the weight update; ``after_env_step(signal, active)`` follows every env step;
``record(logger, eligibility)`` writes the statistics and starts a new interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["Diagnostics", "EpisodeStats"]


class Diagnostics:
    """Firing rates, silent fractions, selectivity, weight change and drift, and modulator
    statistics (the logger keys are tabled in docs/agents.md, "Diagnostics").

    Args:
        layers: the network's layers (``SNNNetwork.layer_state_dict()``).
        trained: names of the layers whose weight change is measured.
        every: env steps between two sampled steps.
    """

    def __init__(self, layers: Mapping[str, Any], trained: Sequence[str], every: int = 8) -> None:
        self.layers = dict(layers)
        self.trained = [name for name in trained if name in self.layers]
        self.every = every
        self.calls = 0
        self._sampled = False
        # the weights at the start, for the drift of every layer (learned or not)
        self.initial = {
            name: layer["connection"].weight.detach().clone() for name, layer in self.layers.items()
        }
        self.reset()

    def reset(self) -> None:
        self.spikes = {name: 0.0 for name in self.layers}
        self.sim_steps = 0
        self.dw = 0.0
        self.dw_n = 0
        self.sig_sum = 0.0
        self.sig_sq = 0.0
        self.sig_n = 0.0
        # per neuron: sums of its spike count per sampled env step and row, and of its square
        self.step_counts: dict[str, Any] = {name: 0.0 for name in self.layers}
        self.count_sum: dict[str, Any] = {name: 0.0 for name in self.layers}
        self.count_sq: dict[str, Any] = {name: 0.0 for name in self.layers}
        self.samples = 0

    def sampling(self) -> bool:
        self.calls += 1
        self._sampled = self.calls % self.every == 0
        return self._sampled

    def after_sim_step(self) -> None:
        self.sim_steps += 1
        for name, layer in self.layers.items():
            z = layer["postsynaptic"].spikes
            self.spikes[name] = self.spikes[name] + z.mean()
            self.step_counts[name] = self.step_counts[name] + z

    def snapshot(self) -> dict[str, Tensor]:
        return {name: self.layers[name]["connection"].weight.clone() for name in self.trained}

    def weight_change(self, before: Mapping[str, Tensor]) -> None:
        for name in self.trained:
            weight = self.layers[name]["connection"].weight
            self.dw = self.dw + (weight - before[name]).abs().mean()
            self.dw_n += 1

    def after_env_step(self, signal: Tensor, active: Tensor) -> None:
        act = active.to(signal.dtype)
        self.sig_sum = self.sig_sum + (signal * act).sum()
        self.sig_sq = self.sig_sq + (signal * signal * act).sum()
        self.sig_n = self.sig_n + act.sum()
        if self._sampled:  # each row's spike counts over this env step's windows
            rows = 0
            for name, counts in self.step_counts.items():
                if isinstance(counts, Tensor):
                    c = counts.flatten(1)
                    self.count_sum[name] = self.count_sum[name] + c.sum(0)
                    self.count_sq[name] = self.count_sq[name] + (c * c).sum(0)
                    rows = c.shape[0]
                self.step_counts[name] = 0.0
            self.samples += rows
            self._sampled = False

    def record(self, logger: Any, eligibility: Mapping[str, Tensor]) -> None:
        for name, layer in self.layers.items():
            weight = layer["connection"].weight
            logger.record(f"snn/weight_norm/{name}", float(weight.norm()))
            start = self.initial[name]
            if start.shape == weight.shape:  # a population stacks its members' weights later
                scale = float(start.abs().mean()) or 1.0
                drift = float((weight.detach() - start).abs().mean()) / scale
                logger.record(f"snn/weight_drift/{name}", drift)
            selectivity = self.selectivity(name)
            if selectivity is not None:
                logger.record(f"snn/selectivity/{name}", selectivity)
            if self.sim_steps:
                logger.record(f"snn/firing_rate/{name}", float(self.spikes[name]) / self.sim_steps)
                total = self.count_sum[name]  # per neuron, over the sampled steps and rows
                frac = float((total == 0).double().mean()) if isinstance(total, Tensor) else 1.0
                logger.record(f"snn/silent_fraction/{name}", frac)
        for name, e in eligibility.items():
            logger.record(f"snn/eligibility_abs/{name}", float(e.abs().mean()))
        if self.dw_n:
            logger.record("snn/mean_abs_dw", float(self.dw) / self.dw_n)
        n = float(self.sig_n)
        if n > 0:
            mean = float(self.sig_sum) / n
            var = max(float(self.sig_sq) / n - mean * mean, 0.0)
            logger.record("modulator/mean", mean)
            logger.record("modulator/std", var**0.5)
        self.reset()

    def selectivity(self, name: str) -> float | None:
        """Mean lifetime sparseness of the layer's neurons over the sampled env steps (one
        sample per env row and step: the neuron's spike count over both windows),
        ``S = (1 - mean(c)^2 / mean(c^2)) / (1 - 1/n)`` per neuron that fired: 0 for a
        neuron that answers every sample alike, 1 for one that answers a single sample.
        None before two samples or when no neuron fired."""
        n, total, sq = self.samples, self.count_sum[name], self.count_sq[name]
        if n < 2 or not isinstance(total, Tensor):
            return None
        fired = sq > 0
        if not bool(fired.any()):
            return None
        mean, mean_sq = total[fired] / n, sq[fired] / n
        return float(((1.0 - mean * mean / mean_sq) / (1.0 - 1.0 / n)).mean())


class EpisodeStats:
    """Returns and lengths of the last ``size`` finished episodes, kept on the device.

    Updating never synchronises with the host (no boolean indexing); reading does.
    """

    def __init__(self, n_envs: int, device: torch.device, size: int = 100) -> None:
        self.size = size
        self.ret = torch.zeros(n_envs, dtype=torch.float64, device=device)
        self.len = torch.zeros(n_envs, dtype=torch.long, device=device)
        self.buf_ret = torch.zeros(size + 1, dtype=torch.float64, device=device)
        self.buf_len = torch.zeros(size + 1, dtype=torch.long, device=device)
        self.ptr = torch.zeros((), dtype=torch.long, device=device)
        self.count = torch.zeros((), dtype=torch.long, device=device)
        self.episodes = torch.zeros((), dtype=torch.long, device=device)

    def update(self, reward: Tensor, active: Tensor, done: Tensor) -> None:
        self.ret += reward.double() * active
        self.len += active.long()
        ended = done & active
        slot = torch.where(ended, (self.ptr + ended.cumsum(0) - 1) % self.size, self.size)
        self.buf_ret.scatter_(0, slot, self.ret)
        self.buf_len.scatter_(0, slot, self.len)
        n = ended.sum()
        self.episodes += n
        self.ptr = (self.ptr + n) % self.size
        self.count = torch.clamp(self.count + n, max=self.size)
        self.ret = self.ret.masked_fill(ended, 0.0)
        self.len = self.len.masked_fill(ended, 0)

    def means(self) -> tuple[float, float] | None:
        n = int(self.count)
        if n == 0:
            return None
        return float(self.buf_ret[:n].mean()), float(self.buf_len[:n].double().mean())
