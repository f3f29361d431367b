"""Pure per-step math of the spiking engine.

Every function here computes one simulation step of one quantity from explicit inputs and
returns new tensors: nothing keeps state and no argument is modified in place. The neuron
modules in :mod:`snn_rl.neurons` are thin stateful wrappers around these functions.

Two update forms exist for every decaying quantity, selected by ``update_type``:

* ``"linear"``: a per-step decay factor ``tau`` in ``[0, 1]``: ``q <- tau * q + input``.
* ``"exponential"``: a time constant ``tau`` (same unit as ``dt``), forward Euler:
  ``q <- q + dt / tau * (-q + input)``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

UpdateType = Literal["linear", "exponential"]
UPDATE_TYPES: tuple[str, ...] = ("linear", "exponential")


def _unknown_update_type(update_type: str) -> ValueError:
    return ValueError(f"update_type must be one of {list(UPDATE_TYPES)}, got {update_type!r}")


def trace_update(
    trace: Tensor,
    spikes: Tensor,
    *,
    alpha_t: float,
    tau_t: float,
    dt: float = 1.0,
    update_type: UpdateType = "linear",
) -> Tensor:
    """One step of a spike trace.

    linear: ``y <- tau_t * y + alpha_t * z``; exponential: ``y <- y + dt/tau_t * (-y + alpha_t * z)``.

    Shape:
        trace, spikes: ``(B, *shape)``; returns the same shape.
    """
    if update_type == "linear":
        return tau_t * trace + alpha_t * spikes
    if update_type == "exponential":
        return trace + (dt / tau_t) * (alpha_t * spikes - trace)
    raise _unknown_update_type(update_type)


def if_voltage_update(v: Tensor, current: Tensor, *, alpha_v: float, gate: Tensor) -> Tensor:
    """Integrate-and-fire: ``v <- v + gate * alpha_v * I`` (``gate`` is 0 while refractory)."""
    return v + gate * (alpha_v * current)


def lif_voltage_update(
    v: Tensor,
    current: Tensor,
    *,
    v_rest: float,
    alpha_v: float,
    tau_v: float,
    gate: Tensor,
    dt: float = 1.0,
    update_type: UpdateType = "linear",
) -> Tensor:
    """Leaky integrate-and-fire voltage step, skipped (``gate == 0``) while refractory.

    linear: ``v <- v_rest + gate * ((v - v_rest) * tau_v + alpha_v * I)`` (so a refractory
    neuron is held at ``v_rest``); exponential: ``v <- v + gate * dt/tau_v * (-(v - v_rest) + alpha_v * I)``.
    """
    if update_type == "linear":
        return v_rest + gate * ((v - v_rest) * tau_v + alpha_v * current)
    if update_type == "exponential":
        return v + gate * ((dt / tau_v) * (alpha_v * current - (v - v_rest)))
    raise _unknown_update_type(update_type)


def fede_voltage_update(
    v: Tensor,
    current: Tensor,
    trace_sum: Tensor,
    *,
    v_rest: float,
    alpha_v: float,
    tau_v: float,
    gate: Tensor,
    dt: float = 1.0,
) -> Tensor:
    """Paredes-Valles neuron: forcing ``F = alpha_v * (sum_i w_i s_i - sum_i x_i)``, exponential.

    ``v <- v + gate * dt/tau_v * (-(v - v_rest) + F)``, where ``current = sum_i w_i s_i`` and
    ``trace_sum = sum_i x_i`` over each neuron's receptive field.
    """
    forcing = alpha_v * (current - trace_sum)
    return v + gate * ((dt / tau_v) * (forcing - (v - v_rest)))


def voltage_floor(v: Tensor, v_min: float | None) -> Tensor:
    """Clamp the voltage from below at ``v_min`` (no clamp when ``v_min`` is None)."""
    return v if v_min is None else torch.clamp(v, min=v_min)


def spike(v: Tensor, thresh: Tensor | float) -> Tensor:
    """Spikes ``z = 1[v >= thresh]`` as 0/1 values in the dtype of ``v``."""
    return (v >= thresh).to(v.dtype)


def threshold_update(
    thresh: Tensor,
    spikes: Tensor,
    *,
    thresh_rest: float,
    alpha_thresh: float,
    tau_thresh: float,
    dt: float = 1.0,
    update_type: UpdateType = "linear",
) -> Tensor:
    """Adaptive threshold that jumps by ``alpha_thresh`` per spike and relaxes to ``thresh_rest``.

    linear: ``th <- thresh_rest + tau_thresh * (th - thresh_rest) + alpha_thresh * z``;
    exponential: ``th <- th + dt/tau_thresh * (-(th - thresh_rest) + alpha_thresh * z)``.
    (PySNN relaxed the threshold towards 0; here it relaxes to its resting value.)
    """
    if update_type == "linear":
        return thresh_rest + tau_thresh * (thresh - thresh_rest) + alpha_thresh * spikes
    if update_type == "exponential":
        return thresh + (dt / tau_thresh) * (alpha_thresh * spikes - (thresh - thresh_rest))
    raise _unknown_update_type(update_type)


def refractory_update(counts: Tensor, spikes: Tensor, *, refrac_steps: int) -> Tensor:
    """Remaining refractory steps: decrement where positive, then add ``refrac_steps`` per spike.

    A neuron that spikes at step t does not integrate during steps t+1 .. t+refrac_steps.
    """
    return torch.clamp(counts - 1.0, min=0.0) + refrac_steps * spikes


def refractory_gate(counts: Tensor) -> Tensor:
    """1 where a neuron may integrate (no refractory steps left), else 0."""
    return (counts <= 0).to(counts.dtype)


def reset_voltage(v: Tensor, spikes: Tensor, *, v_rest: float) -> Tensor:
    """Hard reset: ``v <- v_rest`` where a spike occurred."""
    return torch.where(spikes > 0, torch.full_like(v, v_rest), v)
