"""Reading learning curves: when a run first reached a threshold, and from when it stayed there.

A curve is a list of evaluation records (dicts with at least ``timesteps``,
``train_seconds`` and ``mean_return``) in training order, as written by
:class:`snn_rl.agents.callbacks.ScheduledEvaluation`.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["first_reach", "sustained_from"]


def first_reach(curve: Sequence[dict], threshold: float) -> dict | None:
    """The first record whose mean return is >= ``threshold`` (None if never)."""
    for record in curve:
        if record["mean_return"] >= threshold:
            return record
    return None


def sustained_from(curve: Sequence[dict], threshold: float) -> dict | None:
    """The earliest record from which every later record (to the end) is >= ``threshold``."""
    start = None
    for record in curve:
        if record["mean_return"] >= threshold:
            start = record if start is None else start
        else:
            start = None
    return start
