"""Stateful neuron populations: thin modules around :mod:`snn_rl.functional`.

A population has a ``shape`` given without the batch dimension. Its state (``v``, ``spikes``,
``trace``, ...) has shape ``(B, *shape)`` and is allocated by :meth:`Neuron.reset_state`; a
new population starts with ``B = 1``. One ``forward`` call is one simulation step of ``dt``.

Order within one step (IF, LIF, AdaptiveLIF, Fede):
integrate (skipped while refractory) -> optional voltage floor -> spike ``z = v >= thresh`` ->
trace update -> threshold adaptation -> refractory count -> reset ``v = v_rest`` where spiked.

Decays carry their unit in their name: with ``update_type="linear"`` a quantity decays by a
factor per step, ``decay_v`` / ``decay_t`` / ``decay_thresh`` in ``[0, 1]``; with
``update_type="exponential"`` it relaxes with a time constant ``tau_v`` / ``tau_t`` /
``tau_thresh`` (in the unit of ``dt``). Giving the other mode's name raises.

Every model is a dataclass: its parameters are declared once as fields (a subclass declares
only the ones it adds), the constructor is generated from them (``shape`` positional, the
rest keyword-only) and validated in one chain of ``_check`` methods.

Example:
    >>> import torch
    >>> from snn_rl.neurons import LIFNeuron
    >>> lif = LIFNeuron(3, thresh=1.0, decay_v=0.5)
    >>> lif.reset_state(batch_size=2)
    >>> lif(torch.tensor([[0.6, 1.2, 0.0], [0.0, 0.0, 2.0]]))
    tensor([[0., 1., 0.],
            [0., 0., 1.]])
    >>> lif.v
    tensor([[0.6000, 0.0000, 0.0000],
            [0.0000, 0.0000, 0.0000]])
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import InitVar, dataclass, field
from typing import ClassVar

import torch
from torch import Tensor, nn

from snn_rl import functional as F
from snn_rl._guard import FiniteGuard
from snn_rl._validation import (
    check_choice,
    check_finite,
    check_in_range,
    check_int,
    check_mask,
    check_non_negative,
    check_positive,
    check_shape,
)
from snn_rl.functional import UPDATE_TYPES, UpdateType

__all__ = ["Neuron", "Input", "IFNeuron", "LIFNeuron", "AdaptiveLIFNeuron", "FedeNeuron"]

#: Per-step decay factor used by "linear" updates when none is given.
DEFAULT_DECAY = 0.8

# Neuron models are dataclasses that stay torch modules: identity equality and hashing, the
# module's own repr, keyword-only parameters after the positional ``shape``.
_model = dataclass(eq=False, repr=False, kw_only=True)


def _resolve_decay(
    owner: str,
    name: str,
    decay: float | None,
    tau: float | None,
    update_type: str,
    *,
    linear_default: float = DEFAULT_DECAY,
) -> tuple[float | None, float | None]:
    """Check the pair (``decay_<name>``, ``tau_<name>``) against the update mode.

    Returns the validated pair: a factor in [0, 1] for "linear" (``linear_default`` if
    None), a time constant > 0 for "exponential" (required); the other one is None.
    """
    if update_type == "linear":
        if tau is not None:
            raise ValueError(
                f"{owner}: tau_{name} is a time constant, used with update_type='exponential'; "
                f"with update_type='linear' give decay_{name} (a decay factor per step)"
            )
        value = linear_default if decay is None else decay
        return check_in_range(f"decay_{name}", value, 0.0, 1.0), None
    if decay is not None:
        raise ValueError(
            f"{owner}: decay_{name} is a factor per step, used with update_type='linear'; "
            f"with update_type='exponential' give tau_{name} (a time constant in units of dt)"
        )
    if tau is None:
        raise ValueError(
            f"{owner} with update_type='exponential' needs tau_{name} (a time constant in "
            "units of dt)"
        )
    return None, check_positive(f"tau_{name}", tau)


@_model
class Neuron(nn.Module):
    """Base class of all populations: shape, trace parameters and per-env state handling.

    Subclasses list their state tensors in ``state_names``; each is a non-persistent buffer
    (so ``.to()`` moves it, and ``state_dict()`` holds only parameters). Initial values are
    0 except where :meth:`_initial_value` says otherwise.

    Args:
        shape: population shape without the batch dimension (positional).
        alpha_t: trace increment per spike.
        decay_t: trace decay factor per step ("linear"; default 0.8).
        tau_t: trace time constant ("exponential"; required there).
        dt: simulation step, the unit of every ``tau_*`` and of ``duration_refrac``.
        update_type: "linear" or "exponential" (see :mod:`snn_rl.functional`).
        dtype, device: of the state tensors.

    Attributes:
        needs_trace_sum: True when ``forward`` also takes the summed presynaptic trace of each
            neuron's receptive field (FedeNeuron); the network then provides it.
        check_finite: True (default): an input holding NaN or inf raises
            :class:`~snn_rl.NonFiniteError` naming the population and the step (on a GPU at
            :meth:`verify_finite`); set False to skip the check's cost. A population that an
            :class:`~snn_rl.SNNNetwork` feeds through its connections is checked by the
            network instead (see there).
        label: how errors name the population (the network sets it from the layer).
    """

    state_names: ClassVar[tuple[str, ...]] = ("spikes", "trace")
    needs_trace_sum: ClassVar[bool] = False
    check_finite: ClassVar[bool] = True

    shape: int | tuple[int, ...] = field(kw_only=False)
    alpha_t: float = 1.0
    decay_t: float | None = None
    tau_t: float | None = None
    dt: float = 1.0
    update_type: UpdateType = "linear"
    dtype: InitVar[torch.dtype | None] = None
    device: InitVar[torch.device | str | None] = None

    def __post_init__(self, dtype: torch.dtype | None, device: torch.device | str | None) -> None:
        nn.Module.__init__(self)
        self._check()
        self.label = f"a {type(self).__name__}"
        self._guard = FiniteGuard()
        self._fed_by_network = False  # set by SNNNetwork.add_layer for postsynaptic populations
        for name in self.state_names:
            self.register_buffer(
                name, torch.zeros((1, *self.shape), dtype=dtype, device=device), persistent=False
            )
        self.reset_state()

    def _check(self) -> None:
        """Validate and normalise the parameters (subclasses extend it, calling super)."""
        owner = type(self).__name__
        self.shape = check_shape("shape", self.shape)
        self.update_type = check_choice("update_type", self.update_type, UPDATE_TYPES)
        self.dt = check_positive("dt", self.dt)
        self.alpha_t = check_finite("alpha_t", self.alpha_t)
        self.decay_t, self.tau_t = _resolve_decay(
            owner, "t", self.decay_t, self.tau_t, self.update_type
        )

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
        batch_size = (
            self.batch_size
            if batch_size is None
            else check_int("batch_size", batch_size, minimum=1)
        )
        self._guard.reset()
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

    def verify_finite(self) -> None:
        """Raise for a NaN or inf input recorded on a non-CPU device (one host sync)."""
        self._guard.verify()

    def _checking(self) -> bool:
        return self.check_finite and not self._fed_by_network and not torch.compiler.is_compiling()

    def _tick(self) -> None:
        """Count a step for the guard's messages (not inside a compiled step)."""
        if self._checking():
            self._guard.step += 1

    def _check_input(self, name: str, x: Tensor) -> Tensor:
        ref = self._buffers["spikes"]  # the buffer dict directly: Module.__getattr__ is slow
        if isinstance(x, Tensor) and x.shape[0] == ref.shape[0] and x.shape[1:] == self.shape:
            if self._checking():
                self._guard.check(x, "the {} into {}", name, self.label)
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
            decay_t=self.decay_t,
            tau_t=self.tau_t,
            dt=self.dt,
            update_type=self.update_type,
        )

    def extra_repr(self) -> str:
        """Every parameter that is set (None-valued ones are the other mode's and left out)."""
        parts = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        ]
        return ", ".join(parts)


@_model
class Input(Neuron):
    """Input population: passes given spikes on and keeps their trace.

    Any non-zero input counts as one spike, and the trace grows by ``alpha_t`` per spike.
    Parameters as :class:`Neuron`.

    Shape:
        spikes: ``(B, *shape)`` (bool or numbers) -> ``(B, *shape)`` of 0/1 values.
    """

    def forward(self, spikes: Tensor) -> Tensor:
        self._tick()
        spikes = self._check_input("spikes", spikes)
        z = (spikes != 0).to(self.trace.dtype)
        self._update_trace(z)
        self._buffers["spikes"] = z
        return z


@_model
class IFNeuron(Neuron):
    """Integrate-and-fire: ``v <- v + alpha_v * I``, spike at ``v >= thresh``, reset to ``v_rest``.

    Args (besides those of :class:`Neuron`):
        thresh: firing threshold.
        v_rest: resting and reset voltage.
        alpha_v: input current scale.
        duration_refrac: refractory period, a non-negative multiple of ``dt``.
        v_min: optional voltage floor applied after integration (None: no floor).

    Shape:
        current: ``(B, *shape)`` -> spikes ``(B, *shape)``.
    """

    state_names: ClassVar[tuple[str, ...]] = ("v", "spikes", "trace", "refrac_counts")

    thresh: float = 1.0
    v_rest: float = 0.0
    alpha_v: float = 1.0
    duration_refrac: float = 0.0
    v_min: float | None = None

    def _check(self) -> None:
        super()._check()
        self.thresh = check_finite("thresh", self.thresh)
        self.v_rest = check_finite("v_rest", self.v_rest)
        if self.thresh <= self.v_rest:
            raise ValueError(f"thresh ({self.thresh}) must be greater than v_rest ({self.v_rest})")
        self.alpha_v = check_finite("alpha_v", self.alpha_v)
        self.duration_refrac = check_non_negative("duration_refrac", self.duration_refrac)
        steps = self.duration_refrac / self.dt
        if abs(steps - round(steps)) > 1e-6:
            raise ValueError(
                f"duration_refrac ({self.duration_refrac}) must be a whole multiple of dt "
                f"({self.dt})"
            )
        self.refrac_steps = round(steps)
        if self.v_min is not None:
            self.v_min = check_finite("v_min", self.v_min)
            if self.v_min > self.v_rest:
                raise ValueError(f"v_min ({self.v_min}) must not exceed v_rest ({self.v_rest})")

    def _initial_value(self, name: str) -> float:
        return self.v_rest if name == "v" else 0.0

    def _integrate(self, current: Tensor, gate: Tensor | None, trace_sum: Tensor | None) -> Tensor:
        return F.if_voltage_update(self._buffers["v"], current, alpha_v=self.alpha_v, gate=gate)

    def _threshold(self) -> Tensor | float:
        return self.thresh

    def _adapt(self, spikes: Tensor) -> None:
        """Threshold adaptation (none for non-adaptive neurons)."""

    def forward(self, current: Tensor, trace_sum: Tensor | None = None) -> Tensor:
        self._tick()
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
        fired, reset = self._compete(v, v >= self._threshold())
        z = fired.to(v.dtype)
        self._update_trace(z)
        self._adapt(z)
        if self.refrac_steps:
            buf["refrac_counts"] = F.refractory_update(
                buf["refrac_counts"], z, refrac_steps=self.refrac_steps
            )
        buf["v"] = v.masked_fill_(reset, self.v_rest)  # v is this step's own new tensor
        buf["spikes"] = z
        return z

    def _compete(self, v: Tensor, fired: Tensor) -> tuple[Tensor, Tensor]:
        """The neurons that spike and those whose voltage resets (without competition: the
        ones that crossed the threshold, both)."""
        return fired, fired


@_model
class LIFNeuron(IFNeuron):
    """Leaky integrate-and-fire neuron.

    linear: ``v <- v_rest + (v - v_rest) * decay_v + alpha_v * I`` (``decay_v`` a factor per
    step in [0, 1], default 0.8); exponential: ``v <- v + dt/tau_v * (-(v - v_rest) + alpha_v
    * I)`` (``tau_v`` a time constant, required). Other parameters as :class:`IFNeuron`.

    Shape:
        current: ``(B, *shape)`` -> spikes ``(B, *shape)``.
    """

    decay_v: float | None = None
    tau_v: float | None = None

    def _check(self) -> None:
        super()._check()
        self.decay_v, self.tau_v = _resolve_decay(
            type(self).__name__, "v", self.decay_v, self.tau_v, self.update_type
        )

    def _integrate(self, current: Tensor, gate: Tensor | None, trace_sum: Tensor | None) -> Tensor:
        return F.lif_voltage_update(
            self._buffers["v"],
            current,
            v_rest=self.v_rest,
            alpha_v=self.alpha_v,
            decay_v=self.decay_v,
            tau_v=self.tau_v,
            gate=gate,
            dt=self.dt,
            update_type=self.update_type,
        )


@_model
class AdaptiveLIFNeuron(LIFNeuron):
    """LIF neuron whose threshold jumps by ``alpha_thresh`` per spike and relaxes to ``thresh``.

    The live threshold is the state ``adaptive_thresh`` ``(B, *shape)``; ``thresh`` is its
    resting value. Its relaxation is ``decay_thresh`` (a factor per step, "linear", default
    0.95) or ``tau_thresh`` (a time constant, "exponential", required there).

    Shape:
        current: ``(B, *shape)`` -> spikes ``(B, *shape)``.
    """

    state_names: ClassVar[tuple[str, ...]] = (
        "v",
        "spikes",
        "trace",
        "refrac_counts",
        "adaptive_thresh",
    )

    alpha_thresh: float = 0.1
    decay_thresh: float | None = None
    tau_thresh: float | None = None

    def _check(self) -> None:
        super()._check()
        self.alpha_thresh = check_non_negative("alpha_thresh", self.alpha_thresh)
        self.decay_thresh, self.tau_thresh = _resolve_decay(
            type(self).__name__,
            "thresh",
            self.decay_thresh,
            self.tau_thresh,
            self.update_type,
            linear_default=0.95,
        )

    def _initial_value(self, name: str) -> float:
        return self.thresh if name == "adaptive_thresh" else super()._initial_value(name)

    def _threshold(self) -> Tensor:
        return self._buffers["adaptive_thresh"]

    def _adapt(self, spikes: Tensor) -> None:
        self._buffers["adaptive_thresh"] = F.threshold_update(
            self._buffers["adaptive_thresh"],
            spikes,
            thresh_rest=self.thresh,
            alpha_thresh=self.alpha_thresh,
            decay_thresh=self.decay_thresh,
            tau_thresh=self.tau_thresh,
            dt=self.dt,
            update_type=self.update_type,
        )


@_model
class FedeNeuron(IFNeuron):
    """Paredes-Valles et al. neuron: forcing ``alpha_v * (sum_i w_i s_i - sum_i x_i)``.

    Voltage and trace are always "exponential" (``tau_v``, ``tau_t`` are time constants,
    default 5): ``v <- v + dt/tau_v * (-(v - v_rest) + alpha_v * (I - X))`` where ``I`` is
    the synaptic current and ``X`` the summed presynaptic trace over the neuron's receptive
    field. ``winners`` (None: off) adds lateral inhibition: where neurons cross the
    threshold, only the ``winners`` of highest voltage spike, and all of them reset (in one
    env row of a 1-D population; across the channels at each position of a ``(C, H, W)`` one).
    ``inhibition_radius`` r (``(C, H, W)`` populations with ``winners=1``; default 0) widens
    that to a neighbourhood: a neuron spikes only if its voltage is the highest of the crossing
    neurons of every map within r positions (a ``(2r+1) x (2r+1)`` window; exact ties all
    spike), and every neuron within r of a crossing one resets. Without it two maps can hold
    the same pattern at shifted offsets, since they never compete at one position.

    The live threshold is ``thresh + thresh_offset``: the offset, a persistent buffer (saved
    in ``state_dict``, kept by :meth:`reset_state`) with one value per neuron of a 1-D
    population and one per map ``(C, 1, 1)`` of a ``(C, H, W)`` one, is 0 unless a rule's
    homeostasis moves it (:class:`~snn_rl.learning.FedeSTDP` ``target_rate``). In a population
    of ``A`` agents (:meth:`stack_agents`, agent-major rows) the offset is ``(A, ...)``: each
    agent's rows use their own block.

    Shape:
        current, trace_sum: ``(B, *shape)`` -> spikes ``(B, *shape)``.
    """

    needs_trace_sum: ClassVar[bool] = True

    tau_t: float | None = 5.0
    update_type: UpdateType = field(default="exponential", init=False)
    tau_v: float = 5.0
    winners: int | None = None
    inhibition_radius: int = 0

    def _check(self) -> None:
        super()._check()
        self.tau_v = check_positive("tau_v", self.tau_v)
        if self.winners is not None:
            self.winners = check_int("winners", self.winners, minimum=1)
        self.inhibition_radius = check_int("inhibition_radius", self.inhibition_radius, minimum=0)
        if self.inhibition_radius and (len(self.shape) != 3 or self.winners != 1):
            raise ValueError(
                f"inhibition_radius ({self.inhibition_radius}) needs a (C, H, W) population "
                f"with winners=1, got shape {self.shape} and winners={self.winners}"
            )

    def __post_init__(self, dtype: torch.dtype | None, device: torch.device | str | None) -> None:
        super().__post_init__(dtype, device)
        per = self._offset_shape()
        self.register_buffer("thresh_offset", torch.zeros(per, dtype=dtype, device=device))

    def _threshold(self) -> Tensor:
        offset = self._buffers["thresh_offset"]
        if self.n_agents > 1:  # (A, ...) -> one block per agent's rows
            offset = offset.repeat_interleave(self.batch_size // self.n_agents, dim=0)
        return self.thresh + offset

    @property
    def n_agents(self) -> int:
        """Agents whose threshold offsets this population holds (1 unless stacked)."""
        offset = self._buffers["thresh_offset"]
        return offset.shape[0] if offset.dim() > len(self._offset_shape()) else 1

    def _offset_shape(self) -> tuple[int, ...]:
        return (self.shape[0], 1, 1) if len(self.shape) == 3 else self.shape

    def stack_agents(self, offsets: Tensor) -> None:
        """Hold one threshold offset per agent of a population: ``offsets`` ``(A, ...)``, each
        an agent's own (``A = 1`` restores a single one)."""
        want = self._offset_shape()
        if not isinstance(offsets, Tensor) or tuple(offsets.shape[1:]) != want:
            got = tuple(offsets.shape) if isinstance(offsets, Tensor) else type(offsets).__name__
            raise ValueError(f"offsets must have shape (A, {', '.join(map(str, want))}), got {got}")
        ref = self._buffers["thresh_offset"]
        data = offsets.detach().to(ref.device, ref.dtype).clone()
        self._buffers["thresh_offset"] = data if data.shape[0] > 1 else data[0]

    def agent_offset(self, agent: int) -> Tensor:
        """Agent ``agent``'s threshold offset (a view of its block)."""
        offset = self._buffers["thresh_offset"]
        return offset if self.n_agents == 1 else offset[agent]

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        key = prefix + "thresh_offset"
        if key not in state_dict:  # saved before the offset existed: it was 0
            state_dict[key] = torch.zeros_like(self._buffers["thresh_offset"])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _compete(self, v: Tensor, fired: Tensor) -> tuple[Tensor, Tensor]:
        """Lateral inhibition (``winners`` = k): where any neuron crosses the threshold, only
        the k of highest voltage among those spike, and every neuron there resets. "There" is
        one env row of a 1-D population, one position across the channels of a ``(C, H, W)``
        one (the paper's inhibition between feature maps)."""
        if self.winners is None:
            return fired, fired
        if self.inhibition_radius:
            return F.neighbourhood_winners(v, fired, self.inhibition_radius)
        k = min(self.winners, fired.shape[1])
        top = torch.zeros_like(fired).scatter_(1, v.topk(k, dim=1).indices, True)
        return fired & top, fired.any(dim=1, keepdim=True).expand_as(fired)

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
