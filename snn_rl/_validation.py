"""The argument checks of the whole project (engine, envs and agents): each raises an error
that names the argument and says what was expected. Wrong types raise TypeError, wrong
values ValueError."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch


def check_finite(name: str, value: float) -> float:
    """Return ``value`` as float, or raise if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive(name: str, value: float) -> float:
    value = check_finite(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_non_negative(name: str, value: float) -> float:
    value = check_finite(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_in_range(
    name: str, value: float, low: float, high: float, *, high_inclusive: bool = True
) -> float:
    value = check_finite(name, value)
    ok = low <= value <= high if high_inclusive else low <= value < high
    if not ok:
        bracket = "]" if high_inclusive else ")"
        raise ValueError(f"{name} must lie in [{low}, {high}{bracket}, got {value}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_shape(name: str, shape: int | Iterable[int]) -> tuple[int, ...]:
    """Normalise a neuron-population shape (without batch) to a tuple of positive ints."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {shape!r}") from None
    if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in shape):
        raise ValueError(f"{name} must be a non-empty tuple of positive ints, got {shape!r}")
    return shape


def check_int(name: str, value: Any, *, minimum: int | None = 0) -> int:
    """Return ``value`` as a Python int (numpy integers accepted, bools refused), checking
    ``value >= minimum`` unless ``minimum`` is None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_optional_int(name: str, value: Any, *, minimum: int | None = 0) -> int | None:
    return None if value is None else check_int(name, value, minimum=minimum)


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def check_callable(name: str, value: Any, signature: str) -> Any:
    if not callable(value):
        raise TypeError(f"{name} must be callable as {signature}, got {type(value).__name__}")
    return value


def check_mask(
    mask: Any, batch_size: int, *, name: str = "mask", device: torch.device | None = None
) -> torch.Tensor:
    """A per-env flag vector of shape ``(B,)``: a bool tensor or array, or 0/1 integers.

    Returns a bool tensor (on ``device`` when given). Floating and complex values raise
    TypeError, a wrong shape or integers other than 0/1 ValueError.
    """
    if not isinstance(mask, torch.Tensor):
        mask = torch.as_tensor(np.asarray(mask))
    if tuple(mask.shape) != (batch_size,):
        raise ValueError(
            f"{name} must have shape ({batch_size},) (one entry per env), got {tuple(mask.shape)}"
        )
    if mask.dtype != torch.bool:
        if mask.is_floating_point() or mask.is_complex():
            raise TypeError(f"{name} must be a bool tensor, got dtype {mask.dtype}")
        if bool(((mask != 0) & (mask != 1)).any()):
            raise ValueError(f"{name} must hold bools or 0/1 integers, got {mask.tolist()}")
        mask = mask.bool()
    return mask if device is None else mask.to(device)


def register_class(
    registry: dict[str, type], name: Any, cls: Any, base: type, *, what: str, overwrite: bool
) -> type:
    """Add ``cls`` (a subclass of ``base``) to ``registry`` under ``name`` and set its
    ``kind`` to ``name``: the one registration rule of every registry (reward functions,
    critics). Raises naming the argument; an existing name needs ``overwrite``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"cls must be a {base.__name__} subclass, got {cls!r}")
    if name in registry and not overwrite:
        raise ValueError(f"{what} {name!r} is already registered; pass overwrite=True")
    cls.kind = name
    registry[name] = cls
    return cls


def check_device(name: str, device: Any) -> torch.device:
    """A device torch can compute on here: "cpu", "cuda"/"cuda:N" (with CUDA available) or
    "mps" (where available); ValueError naming the argument otherwise."""
    valid = "'cpu', 'cuda' or 'cuda:N'"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{name} must be {valid}, got {device!r}") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name}={device!r} was asked for but no CUDA device is available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"{name}={device!r}: there are {torch.cuda.device_count()} CUDA devices"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"{name}={device!r} was asked for but MPS is not available")
    elif dev.type != "cpu":
        raise ValueError(f"{name} must be {valid} (a device that computes), got {device!r}")
    return dev


def resolve_device(name: str, device: Any) -> torch.device:
    """``"auto"`` -> CUDA when available, else the CPU; anything else as :func:`check_device`."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return check_device(name, device)
