"""The figures of :func:`snn_rl.agents.inspect_run.plot_episode`, one function per PNG.

Each ``draw_*`` function fills a matplotlib ``Figure`` (no pyplot) from an
:class:`~snn_rl.agents.inspect_run.EpisodeRecord`; docs/inspect.md explains how to read them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from snn_rl.agents.inspect_run import EpisodeRecord

__all__ = ["draw_learning", "draw_raster", "draw_rates", "draw_weights"]

RATE_UNIT = "spikes / neuron / sim step"
SECOND_WINDOW = "0.88"  # grey shading of the efference-copy (second) window
ACTION_COLOURS = ("tab:blue", "tab:green", "tab:purple", "tab:red", "tab:olive", "tab:cyan")
LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.005, 1.0), "fontsize": 8, "frameon": False}


def _title(record: EpisodeRecord) -> str:
    mode = "predict's windows" if record.windows == "predict" else "the training loop's windows"
    end = "terminated" if record.terminated else "truncated" if record.truncated else "stopped"
    return (
        f"{record.env_id}, seed {record.seed}, {mode}: {record.n_env_steps} env steps "
        f"({end}), return {record.episode_return:g}"
    )


def _group_labels(record: EpisodeRecord) -> list[str]:
    word = "action" if record.discrete else "dim"
    return [f"{word} {k}" for k in range(record.n_actions)]


def _mark_groups(ax: Any, record: EpisodeRecord) -> None:
    """Separators and labels of the output's action populations along y."""
    n = record.pop_size
    for k in range(1, record.n_actions):
        ax.axhline(k * n - 0.5, color="tab:blue", lw=1.0)
    ax.set_yticks([k * n + (n - 1) / 2 for k in range(record.n_actions)], _group_labels(record))


def _height(n_neurons: int) -> float:
    return min(max(n_neurons / 70, 1.0), 3.2)


def draw_raster(fig: Any, record: EpisodeRecord, raster_steps: int) -> None:
    """Spikes of every population, one panel each, and the decisions, over the first
    ``raster_steps`` env steps; the second window of every env step shaded."""
    w, d = record.window_steps, record.decision_steps
    n_env = min(raster_steps, record.n_env_steps)
    steps = n_env * w
    stats: list[str] = []
    heights = [_height(z.shape[1]) + 0.6 for z in record.spikes.values()] + [0.35]
    fig.set_size_inches(12, 1.6 + sum(heights))
    axes = fig.subplots(len(heights), 1, sharex=True, height_ratios=heights)
    col_pt = 72 * 11 / steps  # points per sim step, about
    for ax, height, (name, z) in zip(axes, heights, record.spikes.items(), strict=False):
        z = z[:steps]
        for t in range(n_env):
            ax.axvspan(t * w + d - 0.5, (t + 1) * w - 0.5, color=SECOND_WINDOW, lw=0, zorder=0)
            ax.axvline(t * w - 0.5, color="0.6", lw=0.5, zorder=0)
        row_pt = 72 * (height - 0.3) / z.shape[1]  # points per neuron, about
        times, neurons = np.nonzero(z)
        ax.scatter(
            times,
            neurons,
            marker="|",
            s=max(0.9 * row_pt, 1.5) ** 2,
            linewidths=min(max(0.45 * col_pt, 0.4), 2.0),
            color="k",
            zorder=2,
        )
        ax.set_xlim(-0.5, steps - 0.5)
        ax.set_ylim(-0.5, z.shape[1] - 0.5)
        ax.set_ylabel(f"{name}\nneuron")
        stats.append(f"{name} {z.shape[1]} neurons at {z.mean():.3f}")
        if name == record.output:
            _mark_groups(ax, record)
    _decision_strip(axes[-1], record, n_env)
    axes[-1].set_xlabel("simulation step")
    top = axes[0].secondary_xaxis("top", functions=(lambda s: (s + 0.5) / w, lambda e: e * w - 0.5))
    top.set_xlabel("env step")
    second = "efference-copy" if record.windows == "train" else "undriven second-window"
    fig.suptitle(
        f"Spike raster, first {n_env} env steps; each env step: {d} decision sim steps, then "
        f"{record.feedback_steps} {second} sim steps (grey)\n{_title(record)}\n"
        f"mean rates: {', '.join(stats)} {RATE_UNIT}",
        fontsize=10,
    )


def _decision_strip(ax: Any, record: EpisodeRecord, n_env: int) -> None:
    w = record.window_steps
    ax.set_yticks([])
    ax.set_ylabel("action", rotation=0, ha="right", va="center")
    ax.set_ylim(0, 1)
    for t in range(n_env):
        a = record.actions[t]
        if record.discrete:
            colour, text = ACTION_COLOURS[int(a) % len(ACTION_COLOURS)], str(int(a))
        else:
            colour, text = "0.85", ", ".join(f"{v:.2g}" for v in np.atleast_1d(a))
        ax.axvspan(t * w - 0.5, (t + 1) * w - 0.5, color=colour, alpha=0.35, lw=0)
        ax.text((t + 0.5) * w - 0.5, 0.5, text, ha="center", va="center", fontsize=8)


def draw_rates(fig: Any, record: EpisodeRecord) -> None:
    """Firing rate of every neuron per env step (heat maps; the output population's also
    as one line per action population) over the whole episode."""
    names = list(record.spikes)
    heights = [_height(record.spikes[n].shape[1]) + 0.4 for n in names] + [1.6]
    fig.set_size_inches(12, 1.3 + sum(heights))
    axes = fig.subplots(len(heights), 1, sharex=True, height_ratios=heights)
    t_env = record.n_env_steps
    for ax, name in zip(axes[:-1], names, strict=True):
        rates = record.rates(name)
        shown = ax.imshow(
            rates.T,
            aspect="auto",
            cmap="magma_r",
            vmin=0,
            vmax=max(float(rates.max()), 1e-9),
            interpolation="nearest",
            origin="lower",
            extent=(-0.5, t_env - 0.5, -0.5, rates.shape[1] - 0.5),
        )
        fig.colorbar(shown, ax=ax, label="spikes / sim step", pad=0.005, fraction=0.04)
        ax.set_ylabel(f"{name}\nneuron")
        silent = float((rates.sum(0) == 0).mean())
        ax.set_title(
            f"{name}: {rates.shape[1]} neurons, mean {rates.mean():.3f} {RATE_UNIT}, "
            f"{silent:.0%} silent all episode",
            fontsize=9,
        )
        if name == record.output:
            _mark_groups(ax, record)
    ax = axes[-1]
    rates, n = record.rates(record.output), record.pop_size
    for k, label in enumerate(_group_labels(record)):
        ax.plot(np.arange(t_env), rates[:, k * n : (k + 1) * n].mean(1), lw=0.8, label=label)
    ax.set_ylabel(f"{record.output}\nmean rate")
    ax.set_ylim(0, 1.25 * max(float(rates.max()), 1e-9))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", ncol=record.n_actions, fontsize=8, framealpha=0.8)
    ax.set_xlabel("env step")
    fig.suptitle(f"Firing rates per env step ({RATE_UNIT})\n{_title(record)}", fontsize=10)


def draw_weights(fig: Any, record: EpisodeRecord) -> None:
    """Every layer's weights ``(out, K)`` at the start of the episode (and, with training
    windows, their change over it), on colour scales symmetric around 0."""
    changed = bool(record.weight_change)
    heights = [min(max(w.shape[0] / 10, 1.8), 5.0) for w in record.weights.values()]
    fig.set_size_inches(14 if changed else 10, 1.2 + sum(heights))
    axes = fig.subplots(len(heights), 2 if changed else 1, squeeze=False, height_ratios=heights)
    for row, (name, weight) in zip(axes, record.weights.items(), strict=True):
        pre, post = record.layers[name]
        panels = [(weight, "weight", f"layer {name!r} ({pre} -> {post}): weight at the start")]
        if changed:
            delta = record.final_weights[name] - weight
            panels.append((delta, "weight change", f"layer {name!r}: change over the episode"))
        for ax, (image, unit, title) in zip(row, panels, strict=True):
            bound = float(np.abs(image).max()) or 1.0
            shown = ax.imshow(
                image,
                aspect="auto",
                cmap="RdBu_r",
                vmin=-bound,
                vmax=bound,
                interpolation="nearest",
                origin="lower",
            )
            fig.colorbar(shown, ax=ax, label=unit, pad=0.01, fraction=0.04)
            ax.set_title(f"{title}, {image.shape[0]} x {image.shape[1]}", fontsize=9)
            ax.set_xlabel(f"presynaptic neuron ({pre})")
            ax.set_ylabel(f"{post} neuron")
            if post == record.output:
                _mark_groups(ax, record)
    fig.suptitle(f"Weights (red > 0 > blue)\n{_title(record)}", fontsize=10)


def _per_population(record: EpisodeRecord, name: str, values: np.ndarray):
    """``(label, (T,) values)`` per action population (output layer) or one mean line."""
    if record.layers[name][1] != record.output:
        return [(f"{name}, all neurons", values.mean(1))]
    n = record.pop_size
    return [
        (f"{name}, {label}", values[:, k * n : (k + 1) * n].mean(1))
        for k, label in enumerate(_group_labels(record))
    ]


def _scale_for_outliers(ax: Any, values: np.ndarray) -> None:
    """A symmetric-log y axis when a few values (an episode's terminal reward, say) dwarf
    the rest, so that both stay readable: linear up to the decade below the 95th percentile of ``|values|``."""
    size = np.abs(values[np.isfinite(values)])
    typical = float(np.percentile(size, 95)) if size.size else 0.0
    if typical > 0 and size.max() > 20 * typical:
        linear = 10.0 ** np.floor(np.log10(typical))  # a decade: ticks at 0, +/-10^k
        ax.set_yscale("symlog", linthresh=linear, linscale=1.5)
        ax.set_title(ax.get_title() + f"; symlog axis, linear within +/-{linear:g}", fontsize=9)


def draw_learning(fig: Any, record: EpisodeRecord) -> None:
    """The modulator and the reward function's output per env step; the readout's
    eligibility when each modulator arrives and its product with the modulator (the
    direction of each update); its magnitude at every simulation step; with training
    windows, each update's weight change."""
    w, t_env = record.window_steps, record.n_env_steps
    panels = 4 + bool(record.weight_change)
    fig.set_size_inches(12, 1.3 + 1.75 * panels)
    axes = fig.subplots(panels, 1, sharex=True)
    x = np.arange(t_env)
    ax = axes[0]
    ax.axhline(0, color="0.5", lw=0.6)
    ax.plot(x, record.modulator, color="tab:purple", lw=0.8, label="modulator r\n(critic's output)")
    hit = np.flatnonzero(record.reward_signal)
    if hit.size:
        ax.plot(hit, record.reward_signal[hit], "o", color="tab:red", ms=4, label="reward fn. != 0")
    ax.set_ylabel("signal")
    ax.set_title("Reward signal: the modulator r of each update W <- W + lr * r * E", fontsize=9)
    _scale_for_outliers(ax, np.concatenate([record.modulator, record.reward_signal]))
    drives = []
    ends = x * w + w - 1  # the last sim step of each env step: where the modulator arrives
    for name, e in record.eligibility.items():
        for label, line in _per_population(record, name, e[ends]):
            axes[1].plot(x, line, lw=0.8, label=label)
            axes[2].plot(x, record.modulator * line, lw=0.8, label=label)
            drives.append(record.modulator * line)
    axes[1].set_ylabel("E summed over\ninputs per neuron")
    axes[1].set_title(
        "Eligibility E when the modulator arrives (mean over each population)", fontsize=9
    )
    axes[2].axhline(0, color="0.5", lw=0.6)
    axes[2].set_ylabel("r * E")
    axes[2].set_title(
        "Direction of each update: r * E (> 0: the population's active inputs strengthen)",
        fontsize=9,
    )
    if drives:
        _scale_for_outliers(axes[2], np.concatenate(drives))
    ax = axes[3]
    for name, e_abs in record.eligibility_abs.items():
        ax.plot(np.arange(e_abs.shape[0]) / w, e_abs, lw=0.6, label=name)
    ax.set_ylabel("mean |E|\nper synapse")
    ax.set_title("Eligibility magnitude at every simulation step", fontsize=9)
    for name, dw in record.weight_change.items():
        axes[4].plot(x, dw, lw=0.8, label=name)
        axes[4].set_ylabel("mean |dW|\nper synapse")
        axes[4].set_title("Weight change of each env step's update", fontsize=9)
        _scale_for_outliers(axes[4], dw)
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(**LEGEND)
    axes[-1].set_xlabel("env step")
    fig.suptitle(f"Learning signals\n{_title(record)}", fontsize=10)
