"""Optional ``torch.compile`` of a simulation step, with a clean fallback to eager mode.

At small batch sizes a simulation step costs far more in Python and per-op dispatch than in
arithmetic: one step of a two-layer network with MSTDPET is ~25 small torch ops.
``torch.compile`` fuses the elementwise neuron, trace and eligibility updates into a few
kernels and removes most of that overhead. It needs a working compiler tool chain (a C++
compiler for the CPU backend, Triton for CUDA); where that is missing,
:func:`compile_step` warns once and returns the function unchanged.

Example:
    >>> import torch
    >>> from snn_rl import Input, LIFNeuron, Linear, SNNNetwork, compile_step
    >>> from snn_rl.learning import MSTDPET
    >>> net = SNNNetwork()
    >>> net.add_layer("fc", Linear(4, 2, weight=0.5), Input(4), LIFNeuron(2))
    >>> net.reset_state(batch_size=8)
    >>> rule = MSTDPET(net.layer_state_dict(), lr=0.01, e_trace_decay=0.9, per_env=False)
    >>> def sim_step(spikes):
    ...     net(spikes)
    ...     rule.update_state()
    >>> step = compile_step(sim_step, enabled=False)  # enabled=True compiles (slow first call)
    >>> step(torch.ones(8, 4))
    >>> rule.step(1.0)  # rewards stay outside: they come at irregular times

Compile only the part that repeats with the same shapes every step (network forward and
``update_state``); call ``rule.step(reward)`` outside. Pass tensors, not Python numbers that
change every call (each new number is a recompilation). A new batch size recompiles once.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from snn_rl._validation import check_bool, check_callable

__all__ = ["compile_step", "compile_available"]

F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def compile_available(device: str = "cpu") -> bool:
    """Whether ``torch.compile`` works here for ``device`` ("cpu" or "cuda"), checked once by
    compiling and running a tiny function (a missing compiler fails here, not mid-step)."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if not hasattr(torch, "compile") or (device == "cuda" and not torch.cuda.is_available()):
        return False

    def probe(x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0.5, x * 2.0, x - 1.0).sum()

    try:
        x = torch.linspace(0.0, 1.0, 8, device=device)
        got = torch.compile(probe, dynamic=False)(x)
        return bool(torch.isclose(got, probe(x)))
    except Exception as err:  # any backend failure means "not available", never a crash
        warnings.warn(
            f"torch.compile is unavailable on {device} ({type(err).__name__}: {err}); "
            "running in eager mode",
            RuntimeWarning,
            stacklevel=3,
        )
        return False


def compile_step(
    fn: F,
    *,
    enabled: bool = True,
    device: str | torch.device = "cpu",
    mode: str | None = None,
    fullgraph: bool = False,
) -> F:
    """``torch.compile(fn)`` if compilation works for ``device``, else ``fn`` itself.

    Args:
        fn: the per-step function, e.g. network forward plus ``rule.update_state()``.
        enabled: False returns ``fn`` unchanged (one switch for callers' options).
        device: where the step runs; decides which backend is probed.
        mode: ``torch.compile`` mode; on CUDA ``"reduce-overhead"`` adds CUDA graphs.
        fullgraph: ask ``torch.compile`` to fail on graph breaks instead of splitting.

    Returns:
        The compiled function (compiled lazily at its first call), or ``fn``.
    """
    check_callable("fn", fn, "a step function")
    check_bool("enabled", enabled)
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from err
    if not enabled or not compile_available(kind):
        return fn
    return torch.compile(fn, mode=mode, fullgraph=fullgraph, dynamic=False)  # type: ignore[return-value]
