"""Observation encoders: observations -> input currents or spikes, one simulation step per call.

Currents (values in ``[0, 1]``) come from :class:`GaussianPopulationEncoder`,
:class:`ConjunctiveGaussianEncoder`, :class:`OneHotEncoder` and, for images,
:class:`ImageEncoder`; turn them into spikes either
deterministically with an :class:`~snn_rl.neurons.IFNeuron` (``v += I``, spike at ``v >= 1``)
or stochastically with :class:`BernoulliEncoder`. :class:`PoissonEncoder` takes rates in Hz.
Every tensor is batch-first ``(B, ...)``; B = 1 is kept.

Example:
    >>> import torch
    >>> from snn_rl.encoding import ConjunctiveGaussianEncoder
    >>> enc = ConjunctiveGaussianEncoder([-1.0, 0.0], [1.0, 2.0], (3, 2))
    >>> enc.out_features
    6
    >>> enc(torch.tensor([[0.0, 2.0]]))
    tensor([[0.0183, 0.1353, 0.1353, 1.0000, 0.0183, 0.1353]])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

import torch
from torch import Tensor, nn

from snn_rl._coding import (
    check_bounds,
    check_generator,
    check_n_per_dim,
    evenly_spaced_centres,
    space_bounds,
)
from snn_rl._validation import check_bool, check_int, check_positive

__all__ = [
    "PoissonEncoder",
    "BernoulliEncoder",
    "GaussianPopulationEncoder",
    "ConjunctiveGaussianEncoder",
    "PairwiseGaussianEncoder",
    "OneHotEncoder",
    "ImageEncoder",
    "image_layout",
    "MAX_CONJUNCTIVE_CELLS",
]

MAX_CONJUNCTIVE_CELLS = 1_000_000
"""Largest grid :class:`ConjunctiveGaussianEncoder` accepts (the cell count grows as prod n_i)."""


def _check_spike_input(name: str, x: Any) -> Tensor:
    """A batch-first, finite, non-negative floating tensor (integers are cast to float)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (B, *shape), batch first, got {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, got NaN or inf")
    if bool((x < 0).any()):
        raise ValueError(f"{name} must be non-negative, got minimum {x.min().item()}")
    return x


class _SpikeEncoder(nn.Module):
    """Shared part of the stochastic encoders: Bernoulli draws from an explicit generator."""

    def __init__(self, generator: torch.Generator | None) -> None:
        super().__init__()
        self.generator = check_generator(generator)

    def spike_probability(self, x: Tensor) -> Tensor:
        """Per-element spike probability of one step; subclasses define it."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        p = self.spike_probability(x)
        check_generator(self.generator, p.device)
        u = torch.rand(p.shape, generator=self.generator, dtype=p.dtype, device=p.device)
        return (u < p).to(p.dtype)

    def encode(self, x: Tensor, steps: int) -> Tensor:
        """``steps`` successive one-step draws, time first.

        ``encode(x, T)[t]`` equals the ``t``-th of ``T`` successive ``forward(x)`` calls made
        with the same generator state.

        Shape:
            x: ``(B, *shape)`` -> spikes ``(steps, B, *shape)``.
        """
        steps = check_int("steps", steps, minimum=1)
        return torch.stack([self(x) for _ in range(steps)])


class PoissonEncoder(_SpikeEncoder):
    """Poisson rate code for one simulation step: ``spike ~ Bernoulli(p)``, ``p = rate * dt / 1000``.

    ``p`` is clamped to 1: rates at or above ``1000 / dt`` Hz spike on every step. A rate of 0
    never spikes. One call is one step (the time loop belongs to the caller, or use
    :meth:`encode`), drawn from the encoder's own generator.

    Args:
        dt: simulation step in ms.
        max_rate: optional ceiling in Hz; larger intensities are clipped to it (None: none).
        generator: random generator on the intensities' device (None: torch's global RNG).
            The same generator seed gives the same spikes.

    Shape:
        intensities: ``(B, *shape)`` rates in Hz (finite, >= 0) -> spikes ``(B, *shape)`` of 0/1
        values in the intensities' floating dtype.

    Example:
        >>> import torch
        >>> enc = PoissonEncoder(dt=1.0, generator=torch.Generator().manual_seed(0))
        >>> enc(torch.tensor([[0.0, 1000.0, 5000.0]]))
        tensor([[0., 1., 1.]])
    """

    def __init__(
        self,
        *,
        dt: float = 1.0,
        max_rate: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(generator)
        self.dt = check_positive("dt", dt)
        self.max_rate = None if max_rate is None else check_positive("max_rate", max_rate)

    def spike_probability(self, intensities: Tensor) -> Tensor:
        """``p = min(rate, max_rate) * dt / 1000``, clamped to ``[0, 1]``."""
        rates = _check_spike_input("intensities", intensities)
        if self.max_rate is not None:
            rates = rates.clamp(max=self.max_rate)
        return (rates * (self.dt / 1000.0)).clamp(max=1.0)

    def extra_repr(self) -> str:
        return f"dt={self.dt}, max_rate={self.max_rate}"


class BernoulliEncoder(_SpikeEncoder):
    """Bernoulli code for one simulation step: ``spike ~ Bernoulli(scale * x)``.

    Args:
        scale: factor applied to the values; ``scale * x`` must lie in ``[0, 1]``.
        generator: random generator on the values' device (None: torch's global RNG).

    Shape:
        values: ``(B, *shape)`` -> spikes ``(B, *shape)`` of 0/1 values.
    """

    def __init__(self, *, scale: float = 1.0, generator: torch.Generator | None = None) -> None:
        super().__init__(generator)
        self.scale = check_positive("scale", scale)

    def spike_probability(self, values: Tensor) -> Tensor:
        """``p = scale * values``; raises outside ``[0, 1]``."""
        p = _check_spike_input("values", values) * self.scale
        if bool((p > 1).any()):
            raise ValueError(
                f"values * scale must lie in [0, 1] (spike probabilities), got maximum "
                f"{p.max().item()} with scale={self.scale}"
            )
        return p

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


def _as_observation(obs: Any, ref: Tensor, dims: int, values: bool = True) -> Tensor:
    """``obs`` as a ``(B, dims)`` tensor with ``ref``'s dtype and device; finite unless
    ``values`` is False (then only the shape is checked, without a host sync)."""
    obs = torch.as_tensor(obs, dtype=ref.dtype, device=ref.device)
    if obs.ndim != 2 or obs.shape[1] != dims:
        raise ValueError(f"obs must have shape (B, {dims}), got {tuple(obs.shape)}")
    if values and not bool(torch.isfinite(obs).all()):
        raise ValueError("obs must be finite, got NaN or inf")
    return obs


_CodeT = TypeVar("_CodeT", bound="_GaussianCode")


class _GaussianCode(nn.Module):
    """Per-dimension Gaussian receptive fields shared by the two population encoders.

    Attributes:
        check_values: when True (default) every call checks that the observations are
            finite (a host sync on a GPU); a caller that checks them itself may set False.
    """

    check_values: bool = True

    def __init__(
        self,
        low: Any,
        high: Any,
        n_per_dim: int | Sequence[int],
        *,
        sigma_scale: float = 0.5,
        clip: bool = True,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        low, high = check_bounds(low, high)
        self.in_features = low.size
        self.n_per_dim = check_n_per_dim(n_per_dim, self.in_features)
        self.out_features = self._size(self.n_per_dim)
        self.sigma_scale = check_positive("sigma_scale", sigma_scale)
        self.clip = check_bool("clip", clip)
        centres, spacing, dim_index = evenly_spaced_centres(low, high, self.n_per_dim)
        opts: dict[str, Any] = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        self.register_buffer("low", torch.tensor(low, **opts), persistent=False)
        self.register_buffer("high", torch.tensor(high, **opts), persistent=False)
        self.register_buffer("centres", torch.tensor(centres, **opts), persistent=False)
        sigma = torch.tensor(self.sigma_scale * spacing, **opts)
        self.register_buffer("sigma", sigma, persistent=False)
        index = torch.tensor(dim_index, dtype=torch.long, device=device)
        self.register_buffer("dim_index", index, persistent=False)

    def _size(self, n_per_dim: tuple[int, ...]) -> int:
        """Number of output neurons (validated by subclasses)."""
        raise NotImplementedError

    @classmethod
    def from_space(
        cls: type[_CodeT],
        space: Any,
        n_per_dim: int | Sequence[int],
        *,
        low: Any = None,
        high: Any = None,
        sigma_scale: float = 0.5,
        clip: bool = True,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> _CodeT:
        """Build from a Box-like ``space`` (anything with ``.low``/``.high``).

        ``low``/``high``, when given, replace the space's bounds as a whole (needed where the
        space is unbounded, e.g. CartPole's velocities).
        """
        low, high = space_bounds(space, low, high)
        return cls(
            low, high, n_per_dim, sigma_scale=sigma_scale, clip=clip, dtype=dtype, device=device
        )

    def _activations(self, obs: Any) -> Tensor:
        """``g_{i,k} = exp(-0.5 ((o_i - c_{i,k}) / sigma_i)^2)``, flat ``(B, sum_i n_i)``."""
        obs = _as_observation(obs, self.low, self.in_features, self.check_values)
        if self.clip:
            obs = torch.maximum(torch.minimum(obs, self.high), self.low)
        z = (obs[:, self.dim_index] - self.centres) / self.sigma
        return torch.exp(-0.5 * z * z)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, n_per_dim={self.n_per_dim}, "
            f"out_features={self.out_features}, sigma_scale={self.sigma_scale}, clip={self.clip}"
        )


class GaussianPopulationEncoder(_GaussianCode):
    """One population of Gaussian receptive fields per observation dimension.

    ``I_{i,k} = exp(-0.5 ((o_i - c_{i,k}) / sigma_i)^2)`` with ``n_i`` centres ``c_{i,k}``
    evenly spaced over ``[low_i, high_i]`` (one centre: the midpoint) and ``sigma_i =
    sigma_scale * spacing_i`` (one centre: spacing = high - low). With ``clip`` the
    observation is first clamped to ``[low, high]``. Outputs are dimension 0's ``n_0``
    neurons, then dimension 1's, and so on.

    Args:
        low, high: finite per-dimension bounds ``(D,)``.
        n_per_dim: centres per dimension, an int or one int per dimension.
        sigma_scale: receptive-field width in units of the centre spacing.
        clip: clamp observations to the bounds first.
        dtype, device: of the encoder's tensors and outputs (``.to()`` moves them).

    Shape:
        obs: ``(B, D)`` (tensor or array) -> currents ``(B, sum_i n_i)`` in ``[0, 1]``.

    Example:
        >>> import torch
        >>> enc = GaussianPopulationEncoder([0.0], [2.0], 3)
        >>> enc(torch.tensor([[1.0]]))
        tensor([[0.1353, 1.0000, 0.1353]])
    """

    def _size(self, n_per_dim: tuple[int, ...]) -> int:
        return sum(n_per_dim)

    def forward(self, obs: Any) -> Tensor:
        return self._activations(obs)


class ConjunctiveGaussianEncoder(_GaussianCode):
    """Product-of-Gaussians grid code over all observation dimensions (a BOXES-like code).

    Per dimension the activations ``g_{i,k}`` are those of :class:`GaussianPopulationEncoder`;
    the current of grid cell ``(k_1, ..., k_D)`` is ``prod_i g_{i,k_i}``, cells in row-major
    order over ``(k_1, ..., k_D)``. The CartPole recipe uses ``low = [-2.4, -1.5, -0.2095,
    -2.0]``, ``high = -low``, ``n_per_dim = (3, 3, 6, 5)``: 270 cells, sigma = (1.2, 0.75,
    0.0419, 0.5).

    Args:
        low, high: finite per-dimension bounds ``(D,)``.
        n_per_dim: centres per dimension, an int or one int per dimension; the grid has
            ``prod_i n_i`` cells, at most :data:`MAX_CONJUNCTIVE_CELLS`.
        sigma_scale: receptive-field width in units of the centre spacing.
        clip: clamp observations to the bounds first.
        dtype, device: of the encoder's tensors and outputs.

    Shape:
        obs: ``(B, D)`` (tensor or array) -> currents ``(B, prod_i n_i)`` in ``[0, 1]``.
    """

    def _size(self, n_per_dim: tuple[int, ...]) -> int:
        cells = math.prod(n_per_dim)
        if cells > MAX_CONJUNCTIVE_CELLS:
            raise ValueError(
                f"n_per_dim={n_per_dim} gives {cells} grid cells over {len(n_per_dim)} "
                f"dimensions, more than {MAX_CONJUNCTIVE_CELLS}; use fewer centres per dimension "
                f"(or GaussianPopulationEncoder, whose size grows as the sum, not the product)"
            )
        return cells

    def forward(self, obs: Any) -> Tensor:
        g = self._activations(obs)
        cells = g[:, : self.n_per_dim[0]]
        start = self.n_per_dim[0]
        for n in self.n_per_dim[1:]:  # one outer product per dimension, never per cell
            part = g[:, start : start + n]
            cells = (cells.unsqueeze(2) * part.unsqueeze(1)).reshape(g.shape[0], -1)
            start += n
        return cells


class PairwiseGaussianEncoder(_GaussianCode):
    """Per-dimension populations plus a 2-D grid for every pair of dimensions.

    The activations ``g_{i,k}`` are those of :class:`GaussianPopulationEncoder`; the output
    lists them first (``sum_i n_i`` neurons, as that encoder), then, for each pair ``i < j``
    in order ``(0, 1), (0, 2), ..., (D-2, D-1)``, the cells ``g_{i,k} * g_{j,l}`` in row-major
    order over ``(k, l)``. So the code grows as ``D^2`` instead of :class:`ConjunctiveGaussianEncoder`'s
    ``prod_i n_i``: with ``D = 8`` and 5 centres, 40 + 28 x 25 = 740 neurons, where the full
    grid would need 390,625. A linear readout on it can express every interaction of two
    dimensions (angle and angular velocity, position and velocity), which the per-dimension
    code cannot.

    Args:
        low, high: finite per-dimension bounds ``(D,)``, ``D >= 2``.
        n_per_dim: centres per dimension, an int or one int per dimension.
        sigma_scale, clip, dtype, device: as :class:`GaussianPopulationEncoder`.

    Shape:
        obs: ``(B, D)`` (tensor or array) -> currents ``(B, sum_i n_i + sum_{i<j} n_i n_j)``
        in ``[0, 1]``.

    Example:
        >>> import torch
        >>> enc = PairwiseGaussianEncoder([0.0, 0.0], [1.0, 1.0], 2)
        >>> enc(torch.tensor([[0.0, 1.0]]))  # g = [1, e^-2] and [e^-2, 1], then their grid
        tensor([[1.0000, 0.1353, 0.1353, 1.0000, 0.1353, 1.0000, 0.0183, 0.1353]])
    """

    def __init__(self, low: Any, high: Any, n_per_dim: int | Sequence[int], **kwargs: Any) -> None:
        super().__init__(low, high, n_per_dim, **kwargs)
        starts = [0]
        for n in self.n_per_dim:
            starts.append(starts[-1] + n)
        first, second = [], []
        for i in range(self.in_features):
            for j in range(i + 1, self.in_features):
                for k in range(self.n_per_dim[i]):
                    for m in range(self.n_per_dim[j]):
                        first.append(starts[i] + k)
                        second.append(starts[j] + m)
        device = self.centres.device
        self.register_buffer("pair_first", torch.tensor(first, device=device), persistent=False)
        self.register_buffer("pair_second", torch.tensor(second, device=device), persistent=False)

    def _size(self, n_per_dim: tuple[int, ...]) -> int:
        if len(n_per_dim) < 2:
            raise ValueError(
                f"a pairwise code needs at least 2 dimensions, got {len(n_per_dim)}; use "
                "GaussianPopulationEncoder for one"
            )
        pairs = sum(
            n_per_dim[i] * n_per_dim[j]
            for i in range(len(n_per_dim))
            for j in range(i + 1, len(n_per_dim))
        )
        return sum(n_per_dim) + pairs

    def forward(self, obs: Any) -> Tensor:
        g = self._activations(obs)
        return torch.cat((g, g[:, self.pair_first] * g[:, self.pair_second]), dim=1)


class OneHotEncoder(nn.Module):
    """One-hot currents for Discrete observations: ``I[b, o_b - start] = value``, 0 elsewhere.

    Args:
        n: number of observation values.
        value: current of the active neuron.
        start: smallest observation value (as gymnasium's ``Discrete(n, start=...)``).
        dtype, device: of the output.

    Shape:
        obs: ``(B,)`` or ``(B, 1)`` integers (tensor or array) -> currents ``(B, n)``.

    Example:
        >>> import torch
        >>> OneHotEncoder(3)(torch.tensor([2, 0]))
        tensor([[0., 0., 1.],
                [1., 0., 0.]])
    """

    def __init__(
        self,
        n: int,
        *,
        value: float = 1.0,
        start: int = 0,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.n = check_int("n", n, minimum=1)
        self.start = check_int("start", start, minimum=None)
        self.out_features = self.n
        value = check_positive("value", value)
        value = torch.tensor(value, dtype=dtype, device=device)
        self.register_buffer("value", value, persistent=False)

    @classmethod
    def from_space(
        cls,
        space: Any,
        *,
        value: float = 1.0,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> OneHotEncoder:
        """Build from a Discrete-like ``space`` (``.n`` and optional ``.start``)."""
        if not hasattr(space, "n"):
            raise TypeError(f"space must be Discrete-like with .n, got {type(space).__name__}")
        start = int(getattr(space, "start", 0))
        return cls(int(space.n), value=value, start=start, dtype=dtype, device=device)

    def forward(self, obs: Any) -> Tensor:
        obs = torch.as_tensor(obs, device=self.value.device)
        if obs.ndim == 2 and obs.shape[1] == 1:
            obs = obs[:, 0]
        if obs.ndim != 1:
            raise ValueError(f"obs must have shape (B,) or (B, 1), got {tuple(obs.shape)}")
        last = self.start + self.n - 1
        if obs.dtype == torch.bool or obs.is_complex():
            raise TypeError(f"obs must hold integers in [{self.start}, {last}], got {obs.dtype}")
        if obs.is_floating_point() and not bool((obs == obs.round()).all()):
            raise ValueError(f"obs must hold integers in [{self.start}, {last}], got {obs}")
        if bool(((obs < self.start) | (obs > last)).any()):
            raise ValueError(f"obs must lie in [{self.start}, {last}], got {obs}")
        index = obs.long() - self.start
        out = torch.zeros(obs.shape[0], self.n, dtype=self.value.dtype, device=obs.device)
        return out.scatter_(1, index.unsqueeze(1), self.value.expand(obs.shape[0], 1))

    def extra_repr(self) -> str:
        return f"n={self.n}, start={self.start}, value={self.value.item()}"


ImageLayout = Literal["chw", "hwc", "hw"]
IMAGE_LAYOUTS: tuple[str, ...] = ("chw", "hwc", "hw")


def image_layout(shape: Sequence[int], layout: str = "auto") -> str:
    """The layout of an image observation shape: ``"hw"`` (one channel), ``"hwc"`` (channels
    last, as Gymnasium renders and MinAtar gives) or ``"chw"`` (channels first, as torch).

    ``"auto"`` reads it from the shape: 2 dims are ``"hw"``; of 3, the channel dimension is a
    first or last one smaller than both others, else the first or last one beside a square
    image (``(12, 10, 10)``: 12 channels of 10 x 10, as the event code of a 4-channel MinAtar
    grid gives). A shape where that is not decided (e.g. ``(10, 10, 10)``) needs ``layout``
    given.

    Raises:
        ValueError: a shape that is not 2- or 3-dimensional (naming the wrapper to use), or
            one ``"auto"`` cannot decide, or a layout that does not fit the shape.
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) not in (2, 3) or min(shape, default=0) < 1:
        raise ValueError(
            f"image observations must be (H, W), (H, W, C) or (C, H, W), got shape {shape}; "
            "flatten a vector with gymnasium.wrappers.FlattenObservation, or reduce stacked "
            "frames to (C, H, W) (e.g. merge the stack into channels with a "
            "gymnasium.wrappers.TransformObservation) first"
        )
    if layout == "auto":
        if len(shape) == 2:
            return "hw"
        if shape[-1] < min(shape[0], shape[1]):
            return "hwc"
        if shape[0] < min(shape[1], shape[2]):
            return "chw"
        if shape[1] == shape[2] != shape[0]:
            return "chw"
        if shape[0] == shape[1] != shape[2]:
            return "hwc"
        raise ValueError(
            f"cannot tell which dimension of the image shape {shape} holds the channels; "
            "give the layout: 'hwc' (channels last) or 'chw' (channels first)"
        )
    if layout not in IMAGE_LAYOUTS:
        raise ValueError(f"layout must be one of {IMAGE_LAYOUTS} or 'auto', got {layout!r}")
    if (layout == "hw") != (len(shape) == 2):
        raise ValueError(
            f"layout {layout!r} does not fit the {len(shape)}-dimensional shape {shape}"
        )
    return layout


class ImageEncoder(nn.Module):
    """Intensity code of images: one input per pixel and channel, its current the pixel's
    value scaled to ``[0, 1]``.

    ``I[b, c*H*W + h*W + w] = clip((x[b, c, h, w] - low) / (high - low), 0, 1)`` with the
    image in channels-first order whatever its layout, so the inputs are a flattened
    ``(C, H, W)`` image (``image_shape``), ready for a Conv2d layer. An IF input neuron
    (``v += I``, spike at ``v >= 1``) fed this current fires at a rate proportional to the
    intensity: every step at ``I = 1``, never at 0. Booleans (MinAtar's object channels) give
    0 or 1; uint8 frames use ``low=0, high=255``.

    Args:
        shape: the observation shape, ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)``.
        layout: ``"hw"``, ``"hwc"``, ``"chw"`` or ``"auto"`` (see :func:`image_layout`).
        low, high: the intensity range (finite, ``high > low``).

    Shape:
        obs: ``(B, *shape)`` -> currents ``(B, C*H*W)``.

    Example:
        >>> import torch
        >>> enc = ImageEncoder((2, 2, 1), layout="hwc", low=0, high=255)
        >>> enc(torch.tensor([[[[0], [255]], [[51], [102]]]], dtype=torch.uint8))
        tensor([[0.0000, 1.0000, 0.2000, 0.4000]])
    """

    def __init__(
        self,
        shape: Sequence[int],
        *,
        layout: str = "auto",
        low: float = 0.0,
        high: float = 1.0,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.shape = tuple(int(n) for n in shape)
        self.layout = image_layout(self.shape, layout)
        low, high = float(low), float(high)
        if not (math.isfinite(low) and math.isfinite(high) and high > low):
            raise ValueError(f"low and high must be finite with high > low, got {low} and {high}")
        self.low, self.high = low, high
        if self.layout == "hw":
            self.image_shape = (1, *self.shape)
        elif self.layout == "hwc":
            self.image_shape = (self.shape[2], self.shape[0], self.shape[1])
        else:
            self.image_shape = self.shape
        self.out_features = math.prod(self.image_shape)
        self.check_values = True
        self.register_buffer(
            "_scale", torch.tensor(1.0 / (high - low), dtype=dtype, device=device), persistent=False
        )

    @classmethod
    def from_space(
        cls,
        space: Any,
        *,
        layout: str = "auto",
        low: float | None = None,
        high: float | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> ImageEncoder:
        """Build from a Box-like ``space``; the intensity range is the space's (smallest low,
        largest high) unless given."""
        if not hasattr(space, "shape") or not hasattr(space, "low"):
            raise TypeError(
                f"space must be Box-like with .shape and .low, got {type(space).__name__}"
            )
        lo = float(torch.as_tensor(space.low).double().min()) if low is None else low
        hi = float(torch.as_tensor(space.high).double().max()) if high is None else high
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(
                f"the image space's bounds are not finite ({lo:g} to {hi:g}); give the "
                "intensity range (encoder.low and encoder.high)"
            )
        return cls(space.shape, layout=layout, low=lo, high=hi, dtype=dtype, device=device)

    def forward(self, obs: Any) -> Tensor:
        obs = torch.as_tensor(obs, device=self._scale.device)
        if tuple(obs.shape[1:]) != self.shape:
            raise ValueError(
                f"obs must have shape (B, {', '.join(map(str, self.shape))}), got {tuple(obs.shape)}"
            )
        x = obs.to(self._scale.dtype)
        if self.check_values and not bool(torch.isfinite(x).all()):
            raise ValueError("obs must be finite, got NaN or inf")
        if self.layout == "hwc":
            x = x.permute(0, 3, 1, 2)
        x = x.reshape(x.shape[0], -1)
        if self.low != 0.0:
            x = x - self.low
        return (x * self._scale).clamp_(0.0, 1.0)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, layout={self.layout!r}, low={self.low}, high={self.high}"
