"""Synaptic connections: weights, optional integer delays, and the synapse-aligned view of
presynaptic activity that learning rules read.

A connection's ``forward(spikes, trace)`` takes the presynaptic population's spikes and trace
``(B, *pre_shape)`` and returns the postsynaptic current ``(B, *post_shape)``. It keeps, in
the attributes ``spikes`` and ``trace``, the presynaptic spikes and trace *as they arrive at
the synapses* this step (after the delay; the trace is delayed exactly like the spikes), in
a synapse-aligned layout:

=========  ==================  =======================  ============================
type       weight              uniform delay            per-synapse delays
=========  ==================  =======================  ============================
Linear     ``(out, in)``       ``(B, in)``              ``(B, out, in)``
Conv2d     ``(C_out, C_in,     ``(B, K, L)``            ``(B, C_out, K, L)``
           kh, kw)``
=========  ==================  =======================  ============================

with ``K = C_in*kh*kw`` (kernel elements, row-major over ``(c_in, kh, kw)``) and
``L = H_out*W_out`` (output positions, row-major). The static methods
:meth:`Connection.pre_mult_post` and :meth:`Connection.reduce_connections` implement the
seed API's per-type algebra, so a new connection type costs one class, not a method per rule.

Delays: an integer ``d >= 0`` (or, for per-synapse delays, an integer tensor shaped like the
weight). A spike entering at step t leaves at step t+d; several spikes in flight on one
synapse are all kept.

Populations of agents: :meth:`Connection.stack_agents` gives a Linear (or Conv2d) connection
one weight per agent, ``(A, out, in)`` (``(A, C_out, C_in, kh, kw)``), for a population of
``A`` independent networks run as one batch. The batch rows are agent-major, ``B = A * n``:
rows ``a*n .. (a+1)*n - 1`` belong to agent ``a`` and meet only its weights, so each agent's
currents equal those of a network of its own (one batched matmul instead of ``A`` small
ones).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as nnf
from torch import Tensor, nn

from snn_rl._validation import check_choice, check_int, check_mask, check_shape

__all__ = ["Connection", "Linear", "Conv2d"]

WeightInit = Literal["uniform", "normal", "constant"]


def _pair(name: str, value: int | tuple[int, int], minimum: int) -> tuple[int, int]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    try:
        a, b = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}") from None
    return check_int(name, a, minimum=minimum), check_int(name, b, minimum=minimum)


class Connection(nn.Module):
    """Base class: weight parameter, delay ring buffer and batch handling.

    Subclasses define the synapse-aligned layout (``_align``), the current (``_current``),
    the per-type algebra (``pre_mult_post``, ``reduce_connections``, ``_aligned_sum``) and
    the shapes they connect (``pre_shape``, ``post_shape``).
    """

    pre_shape: tuple[int, ...]
    post_shape: tuple[int, ...]
    aligned_shape: tuple[int, ...]  # synapse-aligned presynaptic layout, without batch

    def __init__(
        self,
        weight_shape: tuple[int, ...],
        *,
        delay: int | Tensor,
        weight: Tensor | float | None,
        generator: torch.Generator | None,
        dtype: torch.dtype | None,
        device: torch.device | str | None,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(
            torch.empty(weight_shape, dtype=dtype, device=device), requires_grad=False
        )
        if weight is None:
            self.reset_weights("uniform", 0.0, 1.0, generator=generator)
        elif isinstance(weight, Tensor):
            if tuple(weight.shape) != weight_shape:
                raise ValueError(
                    f"weight must have shape {weight_shape}, got {tuple(weight.shape)}"
                )
            self.weight.data.copy_(weight)
        else:
            self.reset_weights("constant", float(weight))
        self._set_delay(delay)
        self.n_agents = 1
        self._ptr = 0
        shape = (1, *self._delayed_shape())
        self.register_buffer("spikes", self.weight.new_zeros(shape), persistent=False)
        self.register_buffer("trace", self.weight.new_zeros(shape), persistent=False)
        buf_shape = (self.max_delay + 1, 1, *self.aligned_shape) if self.max_delay else (0,)
        self.register_buffer("_spike_buf", self.weight.new_zeros(buf_shape), persistent=False)
        self.register_buffer("_trace_buf", self.weight.new_zeros(buf_shape), persistent=False)

    # ----------------------------------------------------------------- construction helpers
    def reset_weights(
        self,
        distribution: WeightInit = "uniform",
        a: float = 0.0,
        b: float = 1.0,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        """Re-initialise the weights: uniform on ``[a, b)``, normal(mean a, std b), or constant a."""
        check_choice("distribution", distribution, ("uniform", "normal", "constant"))
        with torch.no_grad():
            if distribution == "uniform":
                self.weight.uniform_(a, b, generator=generator)
            elif distribution == "normal":
                self.weight.normal_(a, b, generator=generator)
            else:
                self.weight.fill_(a)

    def stack_agents(self, weights: Tensor) -> None:
        """Hold one weight per agent of a population: ``weights`` ``(A, *weight_shape)``.

        From then on the batch size must be a multiple of ``A`` (agent-major rows, see the
        module docstring) and :attr:`weight` is ``(A, *weight_shape)``; ``A = 1`` restores
        the single weight. The state is re-allocated for ``A`` times the current batch.

        Raises:
            ValueError: per-synapse delays, or weights of another shape.
        """
        single = tuple(self.weight.shape[1:] if self.n_agents > 1 else self.weight.shape)
        if not isinstance(weights, Tensor) or tuple(weights.shape[1:]) != single:
            got = tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__
            want = ", ".join(map(str, single))
            raise ValueError(f"weights must have shape (A, {want}), got {got}")
        if self.per_synapse_delay:
            raise ValueError(
                "a connection with per-synapse delays cannot hold one weight per agent"
            )
        agents = check_int("agents", weights.shape[0], minimum=1)
        rows = self.batch_size // self.n_agents
        data = weights.detach().to(self.weight.device, self.weight.dtype).clone()
        self.weight = nn.Parameter(data if agents > 1 else data[0], requires_grad=False)
        self.n_agents = agents
        self.reset_state(batch_size=rows * agents)

    def agent_weight(self, agent: int) -> Tensor:
        """The weight of one agent of a population (a view), or the weight itself."""
        agent = check_int("agent", agent, minimum=0)
        if agent >= self.n_agents:
            raise IndexError(f"agent {agent} out of range for {self.n_agents} agents")
        return self.weight if self.n_agents == 1 else self.weight[agent]

    def _set_delay(self, delay: int | Tensor) -> None:
        view_shape = self._weight_view_shape()
        if isinstance(delay, Tensor):
            if delay.is_floating_point() and not torch.equal(delay, delay.round()):
                raise ValueError("delay must hold whole numbers of steps")
            if tuple(delay.shape) != tuple(self.weight.shape):
                raise ValueError(
                    f"a per-synapse delay must have the weight's shape "
                    f"{tuple(self.weight.shape)}, got {tuple(delay.shape)}"
                )
            if (delay < 0).any():
                raise ValueError("delay must be >= 0 everywhere")
            per_synapse = delay.to(device=self.weight.device, dtype=torch.long).reshape(view_shape)
            self.max_delay = int(per_synapse.max())
        else:
            self.max_delay = check_int("delay", delay, minimum=0)
            per_synapse = None
        self.per_synapse_delay = per_synapse is not None
        self.register_buffer("delay", per_synapse, persistent=per_synapse is not None)

    def _delayed_shape(self) -> tuple[int, ...]:
        """Shape (without batch) of ``spikes``/``trace`` as the synapses see them."""
        if self.per_synapse_delay:
            return (self._weight_view_shape()[0], *self.aligned_shape)
        return self.aligned_shape

    # ---------------------------------------------------------------------------- state
    @property
    def batch_size(self) -> int:
        return self.spikes.shape[0]

    def reset_state(self, batch_size: int | None = None, mask: Tensor | None = None) -> None:
        """Clear the spikes in flight and the stored presynaptic activity (all rows, or masked)."""
        if batch_size is not None and mask is not None:
            raise ValueError("reset_state takes batch_size or mask, not both")
        names = self._state_names()
        if mask is not None:
            mask = check_mask(mask, self.batch_size).to(self.weight.device)
            for name in names:
                t = getattr(self, name)
                bdim = 1 if name.startswith("_") else 0
                shape = [1] * t.dim()
                shape[bdim] = -1
                setattr(self, name, t.masked_fill(mask.view(shape), 0.0))
            return
        batch_size = (
            self.batch_size
            if batch_size is None
            else check_int("batch_size", batch_size, minimum=1)
        )
        if batch_size % self.n_agents:
            raise ValueError(
                f"batch_size must be a multiple of the {self.n_agents} agents whose weights "
                f"this {type(self).__name__} holds, got {batch_size}"
            )
        zeros = self.weight.new_zeros
        self.spikes = zeros((batch_size, *self._delayed_shape()))
        self.trace = zeros((batch_size, *self._delayed_shape()))
        if self.max_delay:
            self._spike_buf = zeros((self.max_delay + 1, batch_size, *self.aligned_shape))
            self._trace_buf = zeros((self.max_delay + 1, batch_size, *self.aligned_shape))
        self._ptr = 0

    def _state_names(self) -> tuple[str, ...]:
        return ("spikes", "trace") + (("_spike_buf", "_trace_buf") if self.max_delay else ())

    def get_state(self) -> dict[str, Tensor]:
        """A snapshot (clones) of the transient state: arriving activity and spikes in flight."""
        state = {name: getattr(self, name).clone() for name in self._state_names()}
        state["_ptr"] = torch.tensor(self._ptr)
        return state

    def set_state(self, state: dict[str, Tensor]) -> None:
        """Restore a snapshot taken by :meth:`get_state`."""
        missing = ({"_ptr", *self._state_names()}) - set(state)
        if missing:
            raise KeyError(f"state lacks {sorted(missing)} for {type(self).__name__}")
        for name in self._state_names():
            setattr(self, name, state[name].to(self.weight.device, self.weight.dtype).clone())
        self._ptr = int(state["_ptr"])

    # -------------------------------------------------------------------------- forward
    def forward(self, spikes: Tensor, trace: Tensor) -> Tensor:
        """Propagate one step of presynaptic activity.

        Args:
            spikes: presynaptic spikes ``(B, *pre_shape)``.
            trace: presynaptic trace ``(B, *pre_shape)``.

        Returns:
            Postsynaptic current ``(B, *post_shape)``.
        """
        batch = self._buffers["spikes"].shape[0]  # the buffer dict: Module.__getattr__ is slow
        if not (
            spikes.shape[0] == batch
            and trace.shape[0] == batch
            and spikes.shape[1:] == self.pre_shape
            and trace.shape[1:] == self.pre_shape
        ):
            self._raise_bad_input(spikes, trace)
        dtype = self._parameters["weight"].dtype
        s = self._align(spikes if spikes.dtype == dtype else spikes.to(dtype))
        x = self._align(trace if trace.dtype == dtype else trace.to(dtype))
        if self.max_delay:
            s, x = self._delay_line(s, x)
        self._buffers["spikes"] = s
        self._buffers["trace"] = x
        return self._current(s)

    def _raise_bad_input(self, spikes: Tensor, trace: Tensor) -> None:
        for name, t in (("spikes", spikes), ("trace", trace)):
            if tuple(t.shape[1:]) != self.pre_shape:
                raise ValueError(
                    f"{type(self).__name__} expects presynaptic {name} of shape "
                    f"(B, {', '.join(map(str, self.pre_shape))}), got {tuple(t.shape)}"
                )
            if t.shape[0] != self.batch_size:
                raise ValueError(
                    f"presynaptic {name} has batch size {t.shape[0]} but the "
                    f"{type(self).__name__} state has batch size {self.batch_size}; "
                    f"call reset_state(batch_size={t.shape[0]}) first"
                )

    def _delay_line(self, s: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        n = self.max_delay + 1
        self._ptr = (self._ptr + 1) % n
        self._spike_buf[self._ptr] = s
        self._trace_buf[self._ptr] = x
        if not self.per_synapse_delay:
            slot = (self._ptr - self.max_delay) % n
            return self._spike_buf[slot].clone(), self._trace_buf[slot].clone()
        batch = s.shape[0]
        extra = len(self.aligned_shape) - (self.delay.dim() - 1)
        slots = (self._ptr - self.delay) % n  # (out, *weight_view[1:])
        slots = slots.view(*slots.shape, *([1] * extra))
        index = slots.unsqueeze(0).expand(batch, *self._delayed_shape())
        out = []
        for buf in (self._spike_buf, self._trace_buf):
            # buf: (n, B, *aligned) -> (B, n, *aligned); gather the slot per synapse along dim 1
            src = buf.transpose(0, 1)
            out.append(torch.gather(src, 1, index))
        return out[0], out[1]

    # ------------------------------------------------------ per-type algebra (subclasses)
    def _weight_view_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _align(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _current(self, s: Tensor) -> Tensor:
        raise NotImplementedError

    @staticmethod
    def pre_mult_post(pre: Tensor, post: Tensor) -> Tensor:
        raise NotImplementedError

    @staticmethod
    def reduce_connections(
        tensor: Tensor, red_method: Callable[..., Tensor] = torch.mean
    ) -> Tensor:
        raise NotImplementedError

    def receptive_field_sum(self, x: Tensor) -> Tensor:
        """Sum a synapse-aligned presynaptic quantity over each postsynaptic neuron's inputs.

        Shape:
            x: synapse-aligned, like ``self.trace`` -> ``(B, *post_shape)``.
        """
        raise NotImplementedError

    def check_shapes(self, pre_shape: tuple[int, ...], post_shape: tuple[int, ...]) -> None:
        """Raise ``ValueError`` unless this connection fits between the two populations."""
        if tuple(pre_shape) != self.pre_shape:
            raise ValueError(
                f"{type(self).__name__} expects a presynaptic population of shape "
                f"{self.pre_shape}, got {tuple(pre_shape)}"
            )
        if tuple(post_shape) != self.post_shape:
            raise ValueError(
                f"{type(self).__name__} produces a postsynaptic population of shape "
                f"{self.post_shape}, got {tuple(post_shape)}"
            )


def _match_dtypes(pre: Tensor, post: Tensor) -> tuple[Tensor, Tensor]:
    """Cast a bool operand to the other's dtype; refuse two different non-bool dtypes."""
    if pre.dtype == torch.bool:
        pre = pre.to(post.dtype if post.dtype != torch.bool else torch.get_default_dtype())
    if post.dtype == torch.bool:
        post = post.to(pre.dtype)
    if pre.dtype != post.dtype:
        raise TypeError(f"pre and post must share a dtype, got {pre.dtype} and {post.dtype}")
    return pre, post


def _reduce(tensor: Tensor, dims: tuple[int, ...], red_method: Callable[..., Tensor]) -> Tensor:
    for d in sorted(dims, reverse=True):
        tensor = red_method(tensor, dim=d)
        if isinstance(tensor, tuple):  # torch.max/min/median return (values, indices)
            tensor = tensor[0]
    return tensor


class Linear(Connection):
    """All-to-all connection: ``I[b, o] = sum_i W[o, i] * s[b, i]`` (with delays: ``s`` per synapse).

    Args:
        in_features: presynaptic population size.
        out_features: postsynaptic population size.
        delay: integer delay in steps, or an integer tensor ``(out, in)`` of per-synapse delays.
        weight: initial weight ``(out, in)``, a constant, or None for uniform on ``[0, 1)``.
        generator: random generator for the default initialisation.
        input_shape: the presynaptic population's shape when it is not ``(in,)`` (e.g. the
            ``(C, H, W)`` maps of a convolutional layer); its activity is flattened
            (row-major, ``prod(input_shape) == in_features``) as it arrives.

    Shape:
        spikes, trace: ``(B, in)`` (or ``(B, *input_shape)``) -> current ``(B, out)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        delay: int | Tensor = 0,
        weight: Tensor | float | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        input_shape: tuple[int, ...] | None = None,
    ) -> None:
        self.in_features = check_int("in_features", in_features, minimum=1)
        self.out_features = check_int("out_features", out_features, minimum=1)
        if input_shape is not None:
            input_shape = check_shape("input_shape", input_shape)
            if math.prod(input_shape) != self.in_features:
                raise ValueError(
                    f"input_shape {input_shape} holds {math.prod(input_shape)} neurons, not "
                    f"in_features = {self.in_features}"
                )
        self.pre_shape = input_shape or (self.in_features,)
        self.post_shape = (self.out_features,)
        self.aligned_shape = (self.in_features,)
        super().__init__(
            (self.out_features, self.in_features),
            delay=delay,
            weight=weight,
            generator=generator,
            dtype=dtype,
            device=device,
        )

    def _weight_view_shape(self) -> tuple[int, ...]:
        return (self.out_features, self.in_features)

    def _align(self, x: Tensor) -> Tensor:
        return x if x.dim() == 2 else x.reshape(x.shape[0], -1)

    def _current(self, s: Tensor) -> Tensor:
        agents = self.n_agents
        if agents > 1:  # agent-major rows: (A, n, in) @ (A, in, out)
            w = self._parameters["weight"]
            return torch.bmm(s.view(agents, -1, s.shape[1]), w.transpose(1, 2)).view(s.shape[0], -1)
        if s.dim() == 2:
            return nnf.linear(s, self._parameters["weight"])
        return (s * self._parameters["weight"]).sum(-1)

    @staticmethod
    def pre_mult_post(pre: Tensor, post: Tensor) -> Tensor:
        """``out[b, o, i] = pre[b, (o,) i] * post[b, o]``.

        Shape:
            pre: ``(B, in)`` or ``(B, out, in)``; post: ``(B, out)`` -> ``(B, out, in)``.
        """
        pre, post = _match_dtypes(pre, post)
        if pre.dim() == 2:
            pre = pre.unsqueeze(1)
        return pre * post.unsqueeze(-1)

    @staticmethod
    def reduce_connections(
        tensor: Tensor, red_method: Callable[..., Tensor] = torch.mean
    ) -> Tensor:
        """Reduce the batch dimension: ``(B, out, in) -> (out, in)``."""
        return _reduce(tensor, (0,), red_method)

    def receptive_field_sum(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            return x.sum(-1, keepdim=True).expand(-1, self.out_features)
        return x.sum(-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, max_delay={self.max_delay}"


class Conv2d(Connection):
    """2-d convolution (a true one: the current equals ``torch.nn.functional.conv2d``).

    Args:
        in_channels, out_channels: channel counts.
        kernel_size, stride, padding, dilation: as in ``torch.nn.Conv2d`` (int or pair).
        input_size: presynaptic spatial size ``(H, W)``.
        delay: integer delay, or an integer tensor shaped like the weight.
        weight: initial weight ``(C_out, C_in, kh, kw)``, a constant, or None for uniform [0, 1).
        generator: random generator for the default initialisation.

    Shape:
        spikes, trace: ``(B, C_in, H, W)`` -> current ``(B, C_out, H_out, W_out)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        input_size: tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        delay: int | Tensor = 0,
        weight: Tensor | float | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)
        self.dilation = _pair("dilation", dilation, 1)
        self.input_size = check_shape("input_size", input_size)
        if len(self.input_size) != 2:
            raise ValueError(f"input_size must be (H, W), got {input_size!r}")
        out_hw = tuple(
            (n + 2 * p - d * (k - 1) - 1) // s + 1
            for n, k, s, p, d in zip(
                self.input_size,
                self.kernel_size,
                self.stride,
                self.padding,
                self.dilation,
                strict=True,
            )
        )
        if min(out_hw) < 1:
            raise ValueError(
                f"kernel_size {self.kernel_size} with dilation {self.dilation} and padding "
                f"{self.padding} does not fit an input of size {self.input_size}"
            )
        self.output_size: tuple[int, int] = out_hw  # type: ignore[assignment]
        kh, kw = self.kernel_size
        k = self.in_channels * kh * kw
        self.pre_shape = (self.in_channels, *self.input_size)
        self.post_shape = (self.out_channels, *self.output_size)
        self.aligned_shape = (k, out_hw[0] * out_hw[1])
        super().__init__(
            (self.out_channels, self.in_channels, kh, kw),
            delay=delay,
            weight=weight,
            generator=generator,
            dtype=dtype,
            device=device,
        )

    def _weight_view_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.aligned_shape[0])

    def _align(self, x: Tensor) -> Tensor:
        return nnf.unfold(
            x,
            self.kernel_size,
            dilation=self.dilation,
            padding=self.padding,
            stride=self.stride,
        )

    def _current(self, s: Tensor) -> Tensor:
        agents = self.n_agents
        if agents > 1:  # agent-major rows: (A, 1, C_out, K) @ (A, n, K, L)
            w = self._parameters["weight"].reshape(agents, 1, *self._weight_view_shape())
            out = w @ s.view(agents, -1, *s.shape[1:])
            return out.reshape(s.shape[0], *self.post_shape)
        w = self.weight.reshape(self._weight_view_shape())
        if s.dim() == 3:
            out = w @ s  # (C_out, K) @ (B, K, L) -> (B, C_out, L)
        else:
            out = (w.unsqueeze(-1) * s).sum(2)
        return out.reshape(s.shape[0], *self.post_shape)

    @staticmethod
    def pre_mult_post(pre: Tensor, post: Tensor) -> Tensor:
        """``out[b, c, k, l] = pre[b, (c,) k, l] * post[b, c, l]``.

        Shape:
            pre: ``(B, K, L)`` or ``(B, C_out, K, L)``; post: ``(B, C_out, H_out, W_out)``
            -> ``(B, C_out, K, L)``.
        """
        pre, post = _match_dtypes(pre, post)
        if pre.dim() == 3:
            pre = pre.unsqueeze(1)
        return pre * post.flatten(2).unsqueeze(2)

    @staticmethod
    def reduce_connections(
        tensor: Tensor, red_method: Callable[..., Tensor] = torch.mean
    ) -> Tensor:
        """Reduce batch and output positions: ``(B, C_out, K, L) -> (C_out, K)``."""
        return _reduce(tensor, (0, 3), red_method)

    def receptive_field_sum(self, x: Tensor) -> Tensor:
        if x.dim() == 3:
            summed = x.sum(1, keepdim=True).expand(-1, self.out_channels, -1)
        else:
            summed = x.sum(2)
        return summed.reshape(x.shape[0], *self.post_shape)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"input_size={self.input_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, max_delay={self.max_delay}"
        )
