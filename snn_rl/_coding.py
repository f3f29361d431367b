"""Helpers shared by the encoders and decoders: bounds, evenly spaced centres, generators."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from snn_rl._validation import check_int

__all__ = [
    "evenly_spaced_centres",
    "check_bounds",
    "check_generator",
    "check_n_per_dim",
    "space_bounds",
]


def check_generator(
    generator: torch.Generator | None, device: torch.device | None = None
) -> torch.Generator | None:
    """Return ``generator`` if it is None or a torch.Generator (on ``device``'s type if given)."""
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator)}")
    if device is not None and generator.device.type != device.type:
        raise ValueError(
            f"generator is on {generator.device} but the tensors are on {device}; create it "
            f"with torch.Generator(device={str(device)!r})"
        )
    return generator


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
