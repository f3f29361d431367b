"""Plot ``benchmarks/speed.py`` results: steps/s against batch size, one line per simulator.

    python benchmarks/plot_speed.py docs/results/speed/speed.json   # writes speed.png beside it

One panel per network case (simulation steps/s) and one for the agent loop (env steps/s of
CartPole-v1 with Gymnasium's vector env and with the torch-native one). Log-log axes.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from snn_rl.agents.report import require_matplotlib

LABELS = {
    "snn_rl": "snn_rl (eager)",
    "snn_rl_compiled": "snn_rl + compile_step",
    "snn_rl_per_env": "snn_rl, per-env E",
    "snn_rl_unchecked": "snn_rl, finiteness checks off",
    "floor": "hand-written torch floor",
    "pysnn": "PySNN 0.1.1",
    "bindsnet": "BindsNET 0.3.4",
    "spikingjelly": "SpikingJelly 2.0.0",
}
AGENT_LABELS = {"agent:gym": "Gymnasium vector env", "agent:torch": "torch-native env"}


def series(results: list[dict]) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """``panel -> line -> [(batch, steps/s)]`` from the measurements that did not fail."""
    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for r in results:
        if "error" in r:
            continue
        agent = r["case"].startswith("agent")
        panel = "agent" if agent else r["case"]
        line = AGENT_LABELS.get(r["case"], r["case"]) if agent else LABELS.get(r["sim"], r["sim"])
        out.setdefault(panel, {}).setdefault(line, []).append((r["batch"], r["steps_per_s"]))
    for lines in out.values():
        for points in lines.values():
            points.sort()
    return out


def plot(payload: dict, path: Path) -> None:
    Figure, FigureCanvas = require_matplotlib()
    data = series(payload["results"])
    if not data:
        raise ValueError("no successful measurements to plot")
    panels = sorted(data, key=lambda p: (p == "agent", p))
    fig = Figure(figsize=(4.2 * len(panels), 3.8), layout="constrained")
    FigureCanvas(fig)
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for line, points in sorted(data[panel].items()):
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", label=line)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size (envs)")
        ax.set_ylabel("env steps / s" if panel == "agent" else "simulation steps / s")
        ax.set_title("CartPole-v1 agent loop" if panel == "agent" else panel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    machine = payload.get("machine", {})
    threads = payload.get("settings", {}).get("threads", "?")
    fig.suptitle(f"{machine.get('cpu', '?')}, torch {machine.get('torch', '?')}, "
                 f"{threads} thread(s)", fontsize=9)  # fmt: skip
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, help="speed.json written by benchmarks/speed.py")
    p.add_argument("--output", type=Path, help="image path (default: speed.png beside results)")
    args = p.parse_args(argv)
    if not args.results.is_file():
        p.error(f"results: no such file {args.results}")
    payload = json.loads(args.results.read_text())
    out = args.output or args.results.with_name("speed.png")
    plot(payload, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
