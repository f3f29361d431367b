"""Reading and reporting learning curves: threshold crossings, summaries, per-seed tables, plots.

A curve is a list of evaluation records (dicts with ``timesteps``, ``train_seconds``,
``mean_return``, ...) in training order, as :class:`~snn_rl.agents.callbacks.ScheduledEvaluation`
writes them; ``runs/<algo>_<seed>.csv`` files hold one curve each, and a finished run's
``runs/<algo>_<seed>.done.json`` marker records its number of records and the SHA-256 of its
CSV. Reading a finished run checks both, and every value for being a finite number, so a
damaged or edited file raises naming it instead of changing a summary silently.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snn_rl.agents._io import atomic_write

__all__ = [
    "CURVE_COLUMNS",
    "SUMMARY_COLUMNS",
    "first_reach",
    "load_runs",
    "per_seed_table",
    "plot_curves",
    "read_curve",
    "read_done",
    "require_matplotlib",
    "summarize",
    "sustained_from",
    "write_curve",
    "write_summary",
]

CURVE_COLUMNS: tuple[str, ...] = tuple(
    "timesteps train_seconds mean_return std_return min_return mean_length episodes".split()
)
SUMMARY_COLUMNS: tuple[str, ...] = tuple(
    "algo seeds timesteps train_seconds final_mean final_std threshold reached first_steps "
    "first_seconds sustained sustained_steps sustained_seconds".split()
)


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


def write_curve(path: Path, records: Sequence[dict]) -> None:
    """Write one curve as CSV (atomically)."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CURVE_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(records)

    atomic_write(path, write)


def read_curve(path: Path) -> list[dict]:
    """The records of one curve CSV; ValueError naming the file, row and column for a
    missing column, a value that is not a number, or NaN/inf."""
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = set(CURVE_COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{path} lacks the columns {sorted(missing)}")
            rows = list(reader)
    except (OSError, csv.Error, UnicodeDecodeError) as err:
        raise ValueError(f"{path} cannot be read as a curve: {err}") from err
    ints = ("timesteps", "episodes")
    records = []
    for i, row in enumerate(rows, start=2):  # line 1 is the header
        record = {}
        for key in CURVE_COLUMNS:
            text = row.get(key)
            try:
                value = int(text) if key in ints else float(text)
            except (TypeError, ValueError):
                raise ValueError(f"{path} line {i}: {key} is {text!r}, not a number") from None
            if not math.isfinite(value):
                raise ValueError(f"{path} line {i}: {key} is {value}, not a finite number")
            record[key] = value
        records.append(record)
    return records


def curve_digest(path: Path) -> str:
    """SHA-256 of a curve file's bytes (what a done marker records)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_done(marker: Path) -> dict:
    """A finished run's done marker; ValueError naming the file when it is damaged."""
    try:
        done = json.loads(marker.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(
            f"{marker} is damaged ({err}); delete it and its run's CSV to run that run again"
        ) from err
    if not isinstance(done, dict) or not isinstance(done.get("settings"), dict):
        raise ValueError(f"{marker} is not a done marker of a comparison run")
    return done


def load_runs(
    output: str | os.PathLike, algos: Iterable[str], seeds: Iterable[int]
) -> dict[str, dict[int, list[dict]]]:
    """The finished curves in ``output/runs``: ``{algo: {seed: [record, ...]}}``.

    A finished run whose curve does not match its done marker (records, digest) or does not
    parse raises ValueError naming the files: it is never left out silently.
    """
    runs: dict[str, dict[int, list[dict]]] = {}
    for algo in algos:
        for seed in seeds:
            base = Path(output) / "runs" / f"{algo}_{seed}"
            marker, csv_path = base.with_suffix(".done.json"), base.with_suffix(".csv")
            if not marker.is_file():
                continue
            done = read_done(marker)
            if not csv_path.is_file():
                raise ValueError(f"{marker} marks a finished run but {csv_path} is missing")
            if "curve_sha256" in done and done["curve_sha256"] != curve_digest(csv_path):
                raise ValueError(
                    f"{csv_path} does not match {marker} (damaged or edited); delete both to "
                    "run that run again"
                )
            records = read_curve(csv_path)
            if not records or done.get("n_records", len(records)) != len(records):
                raise ValueError(
                    f"{csv_path} holds {len(records)} records but {marker} says "
                    f"{done.get('n_records', 'at least 1')}; delete both to run that run again"
                )
            runs.setdefault(algo, {})[seed] = records
    return runs


def _mean_of(records: list[dict | None], key: str) -> float | None:
    values = [r[key] for r in records if r is not None]
    return float(np.mean(values)) if values else None


def summarize(runs: dict[str, dict[int, list[dict]]], threshold: float) -> list[dict]:
    """One row per algorithm (keys :data:`SUMMARY_COLUMNS`; None where no seed reached).

    ``final_mean``/``final_std`` are the mean and (population) std over seeds of each seed's
    last evaluation; ``first_*``/``sustained_*`` average the seeds counted in
    ``reached``/``sustained``.
    """
    rows = []
    for algo, by_seed in runs.items():
        curves = [by_seed[s] for s in sorted(by_seed) if by_seed[s]]
        if not curves:
            continue
        finals = [c[-1] for c in curves]
        first = [first_reach(c, threshold) for c in curves]
        kept = [sustained_from(c, threshold) for c in curves]
        final_returns = [r["mean_return"] for r in finals]
        rows.append(
            {
                "algo": algo,
                "seeds": len(curves),
                "timesteps": _mean_of(finals, "timesteps"),
                "train_seconds": _mean_of(finals, "train_seconds"),
                "final_mean": float(np.mean(final_returns)),
                "final_std": float(np.std(final_returns)),
                "threshold": float(threshold),
                "reached": sum(r is not None for r in first),
                "first_steps": _mean_of(first, "timesteps"),
                "first_seconds": _mean_of(first, "train_seconds"),
                "sustained": sum(r is not None for r in kept),
                "sustained_steps": _mean_of(kept, "timesteps"),
                "sustained_seconds": _mean_of(kept, "train_seconds"),
            }
        )
    return rows


def _reach_cell(count: int, seeds: int, steps: float | None, seconds: float | None) -> str:
    if not count:
        return f"not reached (0/{seeds})"
    return f"{steps:,.0f} steps, {seconds:.1f} s ({count}/{seeds})"


def write_summary(output: str | os.PathLike, rows: list[dict], settings: dict) -> None:
    """Write ``summary.csv`` (numbers; empty cells for "not reached") and ``summary.md``."""
    out = Path(output)

    def write_csv(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
            writer.writeheader()
            writer.writerows([{k: "" if v is None else v for k, v in r.items()} for r in rows])

    atomic_write(out / "summary.csv", write_csv)
    lines = [
        f"# {settings['env_id']}: comparison over seeds",
        "",
        f"Threshold {settings['threshold']:g}; evaluation every {settings['eval_freq']} env "
        f"steps over {settings['eval_episodes']} deterministic episodes. Final return: mean "
        "+/- std over seeds of the last evaluation. Threshold columns: mean over the seeds "
        "that reached it (count in brackets); seconds are training wall-clock per run, "
        "evaluation excluded.",
        "",
        "| algo | seeds | env steps | train s | final return | first reach | sustained from |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        first = _reach_cell(r["reached"], r["seeds"], r["first_steps"], r["first_seconds"])
        kept = _reach_cell(r["sustained"], r["seeds"], r["sustained_steps"], r["sustained_seconds"])
        lines.append(
            f"| {r['algo']} | {r['seeds']} | {r['timesteps']:,.0f} | {r['train_seconds']:.1f} | "
            f"{r['final_mean']:.1f} +/- {r['final_std']:.1f} | {first} | {kept} |"
        )
    text = "\n".join(lines) + "\n"
    atomic_write(out / "summary.md", lambda p: p.write_text(text))


def _band(
    curves: list[list[dict]], x_key: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean x, and the mean, min and max of the return over seeds, point by point (up to the
    shortest curve)."""
    n = min(len(c) for c in curves)
    x = np.array([[c[i][x_key] for i in range(n)] for c in curves], dtype=float).mean(0)
    y = np.array([[c[i]["mean_return"] for i in range(n)] for c in curves], dtype=float)
    return x, y.mean(0), y.min(0), y.max(0)


def require_matplotlib() -> tuple[Any, Any]:
    """matplotlib's ``Figure`` and Agg canvas (no pyplot, no global backend switch)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(
            "plotting needs matplotlib, an optional extra: pip install 'snn-rl[plot]'"
        ) from err
    return Figure, FigureCanvasAgg


def plot_curves(
    runs: dict[str, dict[int, list[dict]]],
    path: str | os.PathLike,
    *,
    threshold: float | None = None,
    title: str = "",
) -> Path:
    """Write a PNG: mean return over seeds (band: min to max over seeds) against env steps
    and against training seconds."""
    Figure, FigureCanvasAgg = require_matplotlib()
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    for algo, by_seed in runs.items():
        curves = [c for c in by_seed.values() if c]
        if not curves:
            continue
        for ax, key in zip(axes, ("timesteps", "train_seconds"), strict=True):
            x, mean, low, high = _band(curves, key)
            (line,) = ax.plot(
                x,
                mean,
                marker="o",
                ms=3,
                label=f"{algo} ({len(curves)} seed{'' if len(curves) == 1 else 's'})",
            )
            ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2)
    for ax, label in zip(axes, ("env steps", "training wall-clock (s)"), strict=True):
        if threshold is not None:
            ax.axhline(threshold, color="gray", ls="--", lw=1, label="threshold")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean evaluation return")
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle(title)
    path = Path(path)
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=120))
    return path


def per_seed_table(by_seed: dict[int, list[dict]], threshold: float) -> str:
    """Markdown table: per seed, first and sustained threshold crossings and the final return."""
    lines = [
        "| seed | first >= threshold (env steps) | train s to first | sustained from (env steps) "
        "| train s to sustained | final mean return |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    reached = kept = 0
    for seed in sorted(by_seed):
        curve = by_seed[seed]
        first, sus = first_reach(curve, threshold), sustained_from(curve, threshold)
        reached += first is not None
        kept += sus is not None
        lines.append(
            f"| {seed} | {first['timesteps'] if first else 'not reached'} | "
            f"{format(first['train_seconds'], '.0f') if first else '-'} | "
            f"{sus['timesteps'] if sus else 'not sustained'} | "
            f"{format(sus['train_seconds'], '.0f') if sus else '-'} | "
            f"{curve[-1]['mean_return']:.4g} |"
        )
    n = len(by_seed)
    lines.append(
        f"\n{reached}/{n} seeds reached {threshold:g}; {kept}/{n} stayed at or above it at every "
        "later evaluation to the end of training."
    )
    return "\n".join(lines)
