"""Stateful neuron populations: thin modules around :mod:`snn_rl.functional`.

A population has a ``shape`` given without the batch dimension. Its state (``v``, ``spikes``,
``trace``, ...) has shape ``(B, *shape)`` and is allocated by :meth:`Neuron.reset_state`; a
new population starts with ``B = 1``. One ``forward`` call is one simulation step of ``dt``.

Order within one step (IF, LIF, AdaptiveLIF, Fede):
integrate (skipped while refractory) -> optional voltage floor -> spike ``z = v >= thresh`` ->
trace update -> threshold adaptation -> refractory count -> reset ``v = v_rest`` where spiked.

Example:
    >>> import torch
    >>> from snn_rl.neurons import LIFNeuron
    >>> lif = LIFNeuron(3, thresh=1.0, tau_v=0.5)
    >>> lif.reset_state(batch_size=2)
    >>> lif(torch.tensor([[0.6, 1.2, 0.0], [0.0, 0.0, 2.0]]))
    tensor([[0., 1., 0.],
            [0., 0., 1.]])
    >>> lif.v
    tensor([[0.6000, 0.0000, 0.0000],
            [0.0000, 0.0000, 0.0000]])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from snn_rl import functional as F
from snn_rl._validation import (
    check_choice,
    check_finite,
    check_in_range,
    check_mask,
    check_non_negative,
    check_positive,
    check_shape,
)
from snn_rl.functional import UPDATE_TYPES, UpdateType

__all__ = ["Neuron", "Input", "IFNeuron", "LIFNeuron", "AdaptiveLIFNeuron", "FedeNeuron"]


def _check_decay(name: str, value: float, update_type: str) -> float:
    """A decay is a factor in [0, 1] for "linear" updates and a time constant > 0 otherwise."""
    if update_type == "linear":
        return check_in_range(name, value, 0.0, 1.0)
    return check_positive(name, value)


class Neuron(nn.Module):
    """Base class of all populations: shape, trace parameters and per-env state handling.

    Subclasses list their state tensors in ``state_names``; each is a non-persistent buffer
    (so ``.to()`` moves it, and ``state_dict()`` holds only parameters). Initial values are
    0 except where :meth:`_initial_value` says otherwise.

    Attributes:
        needs_trace_sum: True when ``forward`` also takes the summed presynaptic trace of each
            neuron's receptive field (FedeNeuron); the network then provides it.
    """

    state_names: tuple[str, ...] = ("spikes", "trace")
    needs_trace_sum: bool = False

    def __init__(
        self,
        shape: int | tuple[int, ...],
        *,
        alpha_t: float,
        tau_t: float,
        dt: float,
        update_type: UpdateType,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.shape = check_shape("shape", shape)
        self.update_type: UpdateType = check_choice("update_type", update_type, UPDATE_TYPES)
        self.dt = check_positive("dt", dt)
        self.alpha_t = check_finite("alpha_t", alpha_t)
        self.tau_t = _check_decay("tau_t", tau_t, self.update_type)
        for name in self.state_names:
            self.register_buffer(
                name, torch.zeros((1, *self.shape), dtype=dtype, device=device), persistent=False
            )
        self.reset_state()

    @property
    def batch_size(self) -> int:
        """Number of rows (environments) the state currently holds."""
        return self.spikes.shape[0]

    @property
    def num_neurons(self) -> int:
        return math.prod(self.shape)

    def _initial_value(self, name: str) -> float:
        return 0.0

    def reset_state(self, batch_size: int | None = None, mask: Tensor | None = None) -> None:
        """Reset the state to its initial values.

        Args:
            batch_size: reallocate the state for this many rows (default: keep the current size).
            mask: bool tensor ``(B,)``; only the rows where it is True are reset. Cannot be
                combined with ``batch_size``.
        """
        if batch_size is not None and mask is not None:
            raise ValueError("reset_state takes batch_size or mask, not both")
        if mask is not None:
            mask = check_mask(mask, self.batch_size).to(self.spikes.device)
            rows = mask.view(-1, *([1] * len(self.shape)))
            for name in self.state_names:
                old = getattr(self, name)
                setattr(self, name, old.masked_fill(rows, self._initial_value(name)))
            return
        if batch_size is None:
            batch_size = self.batch_size
        elif isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        ref = self.spikes
        for name in self.state_names:
            fresh = torch.full(
                (batch_size, *self.shape),
                self._initial_value(name),
                dtype=ref.dtype,
                device=ref.device,
            )
            setattr(self, name, fresh)

    def get_state(self) -> dict[str, Tensor]:
        """A snapshot (clones) of the state tensors, keyed by ``state_names``."""
        return {name: getattr(self, name).clone() for name in self.state_names}

    def set_state(self, state: dict[str, Tensor]) -> None:
        """Restore a snapshot taken by :meth:`get_state` (any batch size)."""
        missing = set(self.state_names) - set(state)
        if missing:
            raise KeyError(f"state lacks {sorted(missing)} for {type(self).__name__}")
        batch = {state[name].shape[0] for name in self.state_names}
        for name in self.state_names:
            value = state[name]
            if len(batch) != 1 or tuple(value.shape[1:]) != self.shape:
                raise ValueError(
                    f"state {name!r} must have shape (B, *{self.shape}) with one B for all "
                    f"tensors, got {tuple(value.shape)}"
                )
            setattr(self, name, value.to(self.spikes.device, self.spikes.dtype).clone())

    def _set(self, name: str, value: Tensor) -> None:
        """Replace a state tensor (the buffer dict directly: ``nn.Module.__setattr__`` is slow)."""
        self._buffers[name] = value

    def _check_input(self, name: str, x: Tensor) -> Tensor:
        ref = self._buffers["spikes"]  # the buffer dict directly: Module.__getattr__ is slow
        if isinstance(x, Tensor) and x.shape[0] == ref.shape[0] and x.shape[1:] == self.shape:
            return x if x.dtype == ref.dtype else x.to(ref.dtype)
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(
                f"{name} must have shape (B, {', '.join(map(str, self.shape))}) for "
                f"{type(self).__name__} of shape {self.shape}, got {tuple(x.shape)}"
            )
        raise ValueError(
            f"{name} has batch size {x.shape[0]} but the {type(self).__name__} state has "
            f"batch size {ref.shape[0]}; call reset_state(batch_size={x.shape[0]}) first"
        )

    def _update_trace(self, spikes: Tensor) -> None:
        self._buffers["trace"] = F.trace_update(
            self._buffers["trace"],
            spikes,
            alpha_t=self.alpha_t,
            tau_t=self.tau_t,
            dt=self.dt,
            update_type=self.update_type,
        )

    def extra_repr(self) -> str:
        return f"shape={self.shape}, update_type={self.update_type!r}, dt={self.dt}"


class Input(Neuron):
    """Input population: passes given spikes on and keeps their trace.

    Any non-zero input counts as one spike, and the trace grows by ``alpha_t`` per spike
    (PySNN added the raw input value).

    Shape:
        spikes: ``(B, *shape)`` (bool or numbers) -> ``(B, *shape)`` of 0/1 values.
    """

    def __init__(
        self,
        shape: int | tuple[int, ...],
        *,
        alpha_t: float = 1.0,
        tau_t: float = 0.8,
        dt: float = 1.0,
        update_type: UpdateType = "linear",
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(
            shape,
            alpha_t=alpha_t,
            tau_t=tau_t,
            dt=dt,
            update_type=update_type,
            dtype=dtype,
            device=device,
        )

    def forward(self, spikes: Tensor) -> Tensor:
        spikes = self._check_input("spikes", spikes)
        z = (spikes != 0).to(self.trace.dtype)
        self._update_trace(z)
        self._set("spikes", z)
        return z


class IFNeuron(Neuron):
    """Integrate-and-fire: ``v <- v + alpha_v * I``, spike at ``v >= thresh``, reset to ``v_rest``.

    Args:
        shape: population shape without the batch dimension.
        thresh: firing threshold.
        v_rest: resting and reset voltage.
        alpha_v: input current scale.
        alpha_t: trace increment per spike.
        tau_t: trace decay (factor in [0, 1] for "linear", time constant for "exponential").
        dt: simulation step, in the unit of every ``tau_*`` and of ``duration_refrac``.
        duration_refrac: refractory period, a non-negative multiple of ``dt``.
        update_type: "linear" or "exponential" (see :mod:`snn_rl.functional`).
        v_min: optional voltage floor applied after integration (None: no floor).

    Shape:
        current: ``(B, *shape)`` -> spikes ``(B, *shape)``.
    """

    state_names = ("v", "spikes", "trace", "refrac_counts")

    def __init__(
        self,
        shape: int | tuple[int, ...],
        *,
        thresh: float = 1.0,
        v_rest: float = 0.0,
        alpha_v: float = 1.0,
        alpha_t: float = 1.0,
        tau_t: float = 0.8,
        dt: float = 1.0,
        duration_refrac: float = 0.0,
        update_type: UpdateType = "linear",
        v_min: float | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        self.thresh = check_finite("thresh", thresh)
        self.v_rest = check_finite("v_rest", v_rest)
        if self.thresh <= self.v_rest:
            raise ValueError(f"thresh ({thresh}) must be greater than v_rest ({v_rest})")
        self.alpha_v = check_finite("alpha_v", alpha_v)
        self.duration_refrac = check_non_negative("duration_refrac", duration_refrac)
        dt = check_positive("dt", dt)
        steps = self.duration_refrac / dt
        if abs(steps - round(steps)) > 1e-6:
            raise ValueError(
                f"duration_refrac ({duration_refrac}) must be a whole multiple of dt ({dt})"
            )
        self.refrac_steps = round(steps)
        if v_min is not None and check_finite("v_min", v_min) > self.v_rest:
            raise ValueError(f"v_min ({v_min}) must not exceed v_rest ({v_rest})")
        self.v_min = None if v_min is None else float(v_min)
        super().__init__(
            shape,
            alpha_t=alpha_t,
            tau_t=tau_t,
            dt=dt,
            update_type=update_type,
            dtype=dtype,
            device=device,
        )

    def _initial_value(self, name: str) -> float:
        return self.v_rest if name == "v" else 0.0

    def _integrate(self, current: Tensor, gate: Tensor | None, trace_sum: Tensor | None) -> Tensor:
        return F.if_voltage_update(self._buffers["v"], current, alpha_v=self.alpha_v, gate=gate)

    def _threshold(self) -> Tensor | float:
        return self.thresh

    def _adapt(self, spikes: Tensor) -> None:
        """Threshold adaptation (none for non-adaptive neurons)."""

    def forward(self, current: Tensor, trace_sum: Tensor | None = None) -> Tensor:
        current = self._check_input("current", current)
        if trace_sum is not None:
            if not self.needs_trace_sum:
                raise TypeError(f"{type(self).__name__}.forward takes no trace_sum")
            trace_sum = self._check_input("trace_sum", trace_sum)
        elif self.needs_trace_sum:
            raise TypeError(f"{type(self).__name__}.forward needs trace_sum")
        buf = self._buffers
        gate = F.refractory_gate(buf["refrac_counts"]) if self.refrac_steps else None
        v = F.voltage_floor(self._integrate(current, gate, trace_sum), self.v_min)
        fired = v >= self._threshold()
        z = fired.to(v.dtype)
        self._update_trace(z)
        self._adapt(z)
        if self.refrac_steps:
            buf["refrac_counts"] = F.refractory_update(
                buf["refrac_counts"], z, refrac_steps=self.refrac_steps
            )
        buf["v"] = v.masked_fill_(fired, self.v_rest)  # v is this step's own new tensor
        buf["spikes"] = z
        return z

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, thresh={self.thresh}, v_rest={self.v_rest}, "
            f"alpha_v={self.alpha_v}, refrac_steps={self.refrac_steps}"
        )


class LIFNeuron(IFNeuron):
    """Leaky integrate-and-fire neuron.

    linear: ``v <- v_rest + (v - v_rest) * tau_v + alpha_v * I`` (``tau_v`` a factor in [0, 1]);
    exponential: ``v <- v + dt/tau_v * (-(v - v_rest) + alpha_v * I)``.
    Other arguments as :class:`IFNeuron`.

    Shape:
        current: ``(B, *shape)`` -> spikes ``(B, *shape)``.
    """

    def __init__(
        self,
        shape: int | tuple[int, ...],
        *,
        thresh: float = 1.0,
        v_rest: float = 0.0,
        alpha_v: float = 1.0,
        alpha_t: float = 1.0,
        tau_v: float = 0.8,
        tau_t: float = 0.8,
        dt: float = 1.0,
        duration_refrac: float = 0.0,
        update_type: UpdateType = "linear",
        v_min: float | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        self.tau_v = _check_decay(
            "tau_v", tau_v, check_choice("update_type", update_type, UPDATE_TYPES)
        )
        super().__init__(
            shape,
            thresh=thresh,
            v_rest=v_rest,
            alpha_v=alpha_v,
            alpha_t=alpha_t,
            tau_t=tau_t,
            dt=dt,
            duration_refrac=duration_refrac,
            update_type=update_type,
            v_min=v_min,
            dtype=dtype,
            device=device,
        )

    def _integrate(self, current: Tensor, gate: Tensor | None, trace_sum: Tensor | None) -> Tensor:
        return F.lif_voltage_update(
            self._buffers["v"],
            current,
            v_rest=self.v_rest,
            alpha_v=self.alpha_v,
            tau_v=self.tau_v,
            gate=gate,
            dt=self.dt,
            update_type=self.update_type,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, tau_v={self.tau_v}"


class AdaptiveLIFNeuron(LIFNeuron):
    """LIF neuron whose threshold jumps by ``alpha_thresh`` per spike and relaxes to ``thresh``.

    The live threshold is the state ``adaptive_thresh`` ``(B, *shape)``; ``thresh`` is its
    resting value, ``tau_thresh`` its decay (factor or time constant, as ``update_type``).

    Shape:
        current: ``(B, *shape)`` -> spikes ``(B, *shape)``.
    """

    state_names = ("v", "spikes", "trace", "refrac_counts", "adaptive_thresh")

    def __init__(
        self,
        shape: int | tuple[int, ...],
        *,
        thresh: float = 1.0,
        v_rest: float = 0.0,
        alpha_v: float = 1.0,
        alpha_t: float = 1.0,
        tau_v: float = 0.8,
        tau_t: float = 0.8,
        alpha_thresh: float = 0.1,
        tau_thresh: float = 0.95,
        dt: float = 1.0,
        duration_refrac: float = 0.0,
        update_type: UpdateType = "linear",
        v_min: float | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        self.alpha_thresh = check_non_negative("alpha_thresh", alpha_thresh)
        self.tau_thresh = _check_decay(
            "tau_thresh", tau_thresh, check_choice("update_type", update_type, UPDATE_TYPES)
        )
        super().__init__(
            shape,
            thresh=thresh,
            v_rest=v_rest,
            alpha_v=alpha_v,
            alpha_t=alpha_t,
            tau_v=tau_v,
            tau_t=tau_t,
            dt=dt,
            duration_refrac=duration_refrac,
            update_type=update_type,
            v_min=v_min,
            dtype=dtype,
            device=device,
        )

    def _initial_value(self, name: str) -> float:
        return self.thresh if name == "adaptive_thresh" else super()._initial_value(name)

    def _threshold(self) -> Tensor:
        return self.adaptive_thresh

    def _adapt(self, spikes: Tensor) -> None:
        self._buffers["adaptive_thresh"] = F.threshold_update(
            self._buffers["adaptive_thresh"],
            spikes,
            thresh_rest=self.thresh,
            alpha_thresh=self.alpha_thresh,
            tau_thresh=self.tau_thresh,
            dt=self.dt,
            update_type=self.update_type,
        )


class FedeNeuron(IFNeuron):
    """Paredes-Valles et al. neuron: forcing ``alpha_v * (sum_i w_i s_i - sum_i x_i)``.

    Voltage and trace are always "exponential" (``tau_v``, ``tau_t`` are time constants):
    ``v <- v + dt/tau_v * (-(v - v_rest) + alpha_v * (I - X))`` where ``I`` is the synaptic
    current and ``X`` the summed presynaptic trace over the neuron's receptive field.

    Shape:
        current, trace_sum: ``(B, *shape)`` -> spikes ``(B, *shape)``.
    """

    needs_trace_sum = True

    def __init__(
        self,
        shape: int | tuple[int, ...],
        *,
        thresh: float = 1.0,
        v_rest: float = 0.0,
        alpha_v: float = 1.0,
        alpha_t: float = 1.0,
        tau_v: float = 5.0,
        tau_t: float = 5.0,
        dt: float = 1.0,
        duration_refrac: float = 0.0,
        v_min: float | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        self.tau_v = check_positive("tau_v", tau_v)
        super().__init__(
            shape,
            thresh=thresh,
            v_rest=v_rest,
            alpha_v=alpha_v,
            alpha_t=alpha_t,
            tau_t=tau_t,
            dt=dt,
            duration_refrac=duration_refrac,
            update_type="exponential",
            v_min=v_min,
            dtype=dtype,
            device=device,
        )

    def _integrate(self, current: Tensor, gate: Tensor | None, trace_sum: Tensor | None) -> Tensor:
        return F.fede_voltage_update(
            self._buffers["v"],
            current,
            trace_sum,
            v_rest=self.v_rest,
            alpha_v=self.alpha_v,
            tau_v=self.tau_v,
            gate=gate,
            dt=self.dt,
        )
