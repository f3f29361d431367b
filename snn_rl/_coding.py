"""Helpers shared by the encoders and decoders: bounds, evenly spaced centres, generators,
and the agent-major rows of a population (``draw_rows``, ``agent_rows``)."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from snn_rl._validation import check_int

__all__ = [
    "evenly_spaced_centres",
    "check_bounds",
    "check_generator",
    "draw_rows",
    "agent_rows",
    "check_n_per_dim",
    "space_bounds",
]


#: One random stream, or one per agent of a population (agent-major rows), or torch's global RNG.
Generators = torch.Generator | Sequence[torch.Generator] | None


def check_generator(generator: Generators, device: torch.device | None = None) -> Generators:
    """Return ``generator`` if it is None, a torch.Generator, or a non-empty sequence of them
    (one per agent of a population), on ``device``'s type if given."""
    if generator is None:
        return None
    many = isinstance(generator, Sequence) and not isinstance(generator, str | bytes)
    if many:
        generator = tuple(generator)
    for g in generator if many else (generator,):
        if not isinstance(g, torch.Generator):
            raise TypeError(
                "generator must be a torch.Generator, a sequence of them (one per agent) or "
                f"None, got {type(g)}"
            )
        if device is not None and g.device.type != device.type:
            raise ValueError(
                f"generator is on {g.device} but the tensors are on {device}; create it "
                f"with torch.Generator(device={str(device)!r})"
            )
    if many and not generator:
        raise ValueError("generator is an empty sequence; give one torch.Generator per agent")
    return generator


def draw_rows(
    draw: Callable[[slice, torch.Generator | None], torch.Tensor],
    batch: int,
    generator: Generators,
) -> torch.Tensor:
    """Random draws for ``batch`` rows: ``draw(rows, generator)`` once for all rows, or, for a
    sequence of ``A`` generators, once per agent's block of ``batch / A`` agent-major rows
    from that agent's own generator, concatenated. Each agent's stream thus advances exactly
    as it would in a run of its own."""
    if generator is None or isinstance(generator, torch.Generator):
        return draw(slice(0, batch), generator)
    agents = len(generator)
    if batch % agents:
        raise ValueError(f"{batch} rows cannot be split among {agents} agents' generators")
    n = batch // agents
    return torch.cat([draw(slice(a * n, (a + 1) * n), g) for a, g in enumerate(generator)])


def agent_rows(value: Any, like: torch.Tensor) -> Any:
    """A setting held per agent of a population, ``(A,)``, as one value per agent-major row
    of ``like`` (``like.shape[0] = A * n``: agent ``a``'s value on rows ``a*n .. (a+1)*n - 1``),
    on ``like``'s device and in its dtype (the default float dtype for an integer ``like``),
    shaped ``(rows, 1, ..., 1)`` to broadcast over ``like``. A plain number passes through,
    so the callers' single-agent arithmetic is unchanged."""
    if not isinstance(value, torch.Tensor):
        return value
    dtype = like.dtype if like.is_floating_point() else torch.get_default_dtype()
    rows = like.shape[0]
    per_row = value.to(device=like.device, dtype=dtype).repeat_interleave(rows // len(value))
    return per_row.view(rows, *(1,) * (like.dim() - 1))


def check_bounds(low: Any, high: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate 1-D bounds of equal length, finite, with ``high > low`` everywhere."""
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    if low.ndim != 1 or high.shape != low.shape or low.size == 0:
        raise ValueError(
            f"low and high must be 1-D with the same length (one entry per dimension), got "
            f"shapes {low.shape} and {high.shape}; flatten multi-dimensional observations first"
        )
    for i, (lo, hi) in enumerate(zip(low, high, strict=True)):
        if np.isnan(lo) or np.isnan(hi):
            raise ValueError(f"dimension {i} has NaN bounds ({lo}, {hi})")
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(
                f"dimension {i} has infinite bounds ({lo}, {hi}); pass finite low/high for it"
            )
        if hi <= lo:
            raise ValueError(f"dimension {i} needs high > low, got low={lo}, high={hi}")
    return low, high


def check_n_per_dim(
    n_per_dim: int | Sequence[int], dims: int, *, name: str = "n_per_dim"
) -> tuple[int, ...]:
    """Neurons per dimension: one int for all ``dims`` dimensions or one int each."""
    if isinstance(n_per_dim, numbers.Integral) and not isinstance(n_per_dim, bool):
        n_per_dim = (int(n_per_dim),) * dims
    try:
        n = tuple(n_per_dim)
    except TypeError:
        raise TypeError(
            f"{name} must be an int or a sequence of {dims} ints, got {n_per_dim!r}"
        ) from None
    if len(n) != dims:
        raise ValueError(f"{name} must be an int or have {dims} entries, got {len(n)}")
    return tuple(check_int(f"{name}[{i}]", k, minimum=1) for i, k in enumerate(n))


def space_bounds(space: Any, low: Any, high: Any) -> tuple[Any, Any]:
    """Bounds of a Box-like ``space`` (``.low``/``.high``), each replaced by ``low``/``high``
    (which must then have one entry per dimension of the space)."""
    if not (hasattr(space, "low") and hasattr(space, "high")):
        raise TypeError(
            f"space must be Box-like with .low and .high, got {type(space).__name__}; use "
            f"OneHotEncoder.from_space for Discrete spaces"
        )
    dims = int(np.asarray(space.low).size)
    for name, given in (("low", low), ("high", high)):
        if given is not None and np.asarray(given, dtype=np.float64).size != dims:
            raise ValueError(
                f"{name} has {np.asarray(given).size} entries but the space has {dims} "
                f"dimensions; give one bound per dimension"
            )
    return (space.low if low is None else low), (space.high if high is None else high)


def evenly_spaced_centres(
    low: np.ndarray, high: np.ndarray, n: tuple[int, ...]
) -> tuple[np.ndarray, ...]:
    """Evenly spaced centres per dimension and their spacing, flattened over dimensions.

    ``c_{i,k} = low_i + k * spacing_i`` with ``spacing_i = (high_i - low_i) / (n_i - 1)``; a
    single centre sits at the midpoint with ``spacing_i = high_i - low_i``.
    """
    centres, spacing, dim_index = [], [], []
    for i, k in enumerate(n):
        if k == 1:
            centres.append(np.array([(low[i] + high[i]) / 2]))
            spacing.append(np.full(1, high[i] - low[i]))
        else:
            centres.append(np.linspace(low[i], high[i], k))
            spacing.append(np.full(k, (high[i] - low[i]) / (k - 1)))
        dim_index.append(np.full(k, i))
    return np.concatenate(centres), np.concatenate(spacing), np.concatenate(dim_index)
