"""The GPU measurements, in one run that fits a lent GPU machine's few minutes.

Sections (each point times ``--seconds`` of steady state after a warm-up):

* ``bandwidth``: the device's achievable memory bandwidth (a large device-to-device copy),
  the yardstick of the next section.
* ``n2``: the N2 network of ``benchmarks/speed.py`` (Input(1000) -> Linear -> LIF(1000),
  MSTDPET with the scalar-reward fast path) for ``snn_rl`` and the hand-written ``floor``,
  against the bandwidth bound: a step must at least read the weights, read and write the
  eligibility (3 matrices of 4 MB), and every 10th step also update the weights (3 more),
  so ``bound = 3.3 * 4 * n_out * n_in bytes / bandwidth``.
* ``env``: torch-native CartPole (``TorchCartPoleVec``, random actions, inference mode)
  env steps per second from 1k to 1M envs.
* ``agent``: ``MSTDPETAgent.learn`` on ``snn_rl/CartPole-v1`` (the tuned agent: 10
  simulation steps, env step, critic and rule step per env step), env steps per second.
* ``graphs``: one decision window (10 simulation steps with eligibility updates and the
  reward step) of the N1 network, eager against a captured CUDA graph replayed.
* ``population``: ``AgentPopulation`` of 1 to 1024 independent CartPole agents
  (``snn_rl/CartPole-v1``, 4 envs each, the tuned entry) training as one batch: total env
  steps per second, and the time to build the population.

    bash benchmarks/gpu.sh                          # on the GPU machine: tests, then this
    python benchmarks/gpu.py --output docs/results/gpu
    python benchmarks/gpu.py --dry-run --output /tmp/gpu   # CPU, tiny sizes: checks the script

Writes ``gpu.json`` (every figure, the device and versions) and ``gpu.md`` (tables).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from env_speed import bench_torch  # noqa: E402
from speed import IN_SHAPES, REWARD_EVERY, build_floor, build_snn_rl, make_inputs  # noqa: E402

SIZES = {
    "full": {
        "n2_batches": [1, 64, 1024],
        "envs": [1_000, 10_000, 100_000, 1_000_000],
        "agent_envs": [1_024, 16_384, 131_072],
        "graph_batches": [1, 64, 1024],
        "copy_mib": 1024,
        "agents": [1, 32, 256, 1024],
    },
    "dry": {
        "n2_batches": [1, 4],
        "envs": [1_000, 4_000],
        "agent_envs": [16],
        "graph_batches": [1],
        "copy_mib": 16,
        "agents": [1, 2],
    },
}
GOALS = {
    "env": "torch-native CartPole >= 1e9 env-steps/s at 1M envs",
    "agent": "the agent loop >= 1e7 env-steps/s",
    "population": "1024 batched CartPole agents training at >= 1e6 env-steps/s in total",
    "n2": "N2 within 2x of the bandwidth bound",
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def rate(fn: Callable[[int], object], units: int, seconds: float, device: torch.device) -> float:
    """Units per second of ``fn(i)`` (``units`` per call) over ``seconds`` after a warm-up."""
    for i in range(10):
        fn(i)
    sync(device)
    calls, start = 0, time.perf_counter()
    while True:
        for _ in range(10):
            fn(calls)
            calls += 1
        sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls * units / elapsed


def bandwidth(device: torch.device, mib: int, seconds: float) -> dict:
    n = mib * 2**20 // 4
    src = torch.ones(n, device=device)
    dst = torch.empty_like(src)
    copies = rate(lambda _i: dst.copy_(src), 1, seconds, device)
    return {"copy_mib": mib, "bytes_per_s": copies * 2 * n * 4}  # each copy reads and writes


def n2(device: torch.device, batches: list[int], seconds: float, bytes_per_s: float) -> list:
    n_out, n_in = 1000, IN_SHAPES["N2"][0]
    bound_s = (3 + 3 / REWARD_EVERY) * 4 * n_out * n_in / bytes_per_s
    rows = []
    for batch in batches:
        inputs = make_inputs("N2", batch, str(device))
        for sim in ("snn_rl", "floor"):
            if sim == "snn_rl":
                step = build_snn_rl("N2", batch, inputs, str(device), per_env=False, checked=False)
            else:
                step = build_floor("N2", batch, inputs, str(device))
            steps_per_s = rate(step, 1, seconds, device)
            rows.append(
                {
                    "sim": sim,
                    "batch": batch,
                    "step_us": 1e6 / steps_per_s,
                    "bound_us": bound_s * 1e6,
                    "x_bound": 1 / steps_per_s / bound_s,
                }
            )
    return rows


def env(device: torch.device, sizes: list[int], seconds: float) -> list:
    return [
        {"envs": n, "env_steps_per_s": bench_torch(n, (seconds, None), 0, str(device), True)}
        for n in sizes
    ]


def agent(device: torch.device, sizes: list[int], seconds: float) -> list:
    from snn_rl.agents import MSTDPETAgent

    rows = []
    for n in sizes:
        model = MSTDPETAgent("snn_rl/CartPole-v1", n_envs=n, seed=0, device=device)
        model.learn(20 * n)  # warm-up: allocator, kernels
        sync(device)
        start, before = time.perf_counter(), model.num_timesteps
        while time.perf_counter() - start < seconds:
            model.learn(20 * n, reset_num_timesteps=False)
        sync(device)
        elapsed = time.perf_counter() - start
        rows.append({"envs": n, "env_steps_per_s": (model.num_timesteps - before) / elapsed})
    return rows


def graphs(device: torch.device, batches: list[int], seconds: float) -> list:
    rows = []
    for batch in batches:
        inputs = make_inputs("N1", batch, str(device))
        step = build_snn_rl("N1", batch, inputs, str(device), per_env=True, checked=False)

        def window(_i: int, step=step) -> None:
            for t in range(REWARD_EVERY):
                step(t)

        row = {"batch": batch, "eager_window_us": 1e6 / rate(window, 1, seconds, device)}
        if device.type != "cuda":
            row["graph"] = "CUDA graphs need a CUDA device"
        else:
            try:
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    window(0)  # warm-up on a side stream, as capture requires
                torch.cuda.current_stream().wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    window(0)
                row["graph_window_us"] = 1e6 / rate(
                    lambda _i, g=graph: g.replay(), 1, seconds, device
                )
                row["speedup"] = row["eager_window_us"] / row["graph_window_us"]
            except Exception as err:  # a failed capture is a finding, not a crash
                row["graph"] = f"capture failed: {type(err).__name__}: {err}"
        rows.append(row)
    return rows


def population(device: torch.device, sizes: list[int], seconds: float) -> list:
    from snn_rl.agents import AgentPopulation

    rows = []
    for k in sizes:
        start = time.perf_counter()
        pop = AgentPopulation("snn_rl/CartPole-v1", list(range(k)), device=device)
        built = time.perf_counter() - start
        pop.learn(20)  # warm-up: allocator, kernels
        sync(device)
        start, before = time.perf_counter(), pop.num_timesteps
        while time.perf_counter() - start < seconds:
            pop.learn(20)
        sync(device)
        elapsed = time.perf_counter() - start
        rows.append(
            {
                "agents": k,
                "envs": pop.runner.n_envs,
                "build_s": built,
                "env_steps_per_s": (pop.num_timesteps - before) / elapsed,
            }
        )
    return rows


def to_markdown(result: dict) -> str:
    lines = [
        f"# GPU measurements ({result['device_name']})",
        "",
        f"torch {result['torch']}, CUDA {result['cuda']}, {result['date']}; "
        f"`{result['command']}`" + (" (dry run: CPU, tiny sizes)" if result["dry_run"] else ""),
        "",
        f"Memory bandwidth (device copy of {result['bandwidth']['copy_mib']} MiB): "
        f"{result['bandwidth']['bytes_per_s'] / 1e9:,.0f} GB/s",
        "",
        f"## N2 against the bandwidth bound ({GOALS['n2']})",
        "",
        "| sim | batch | step (us) | bound (us) | x bound |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in result["n2"]:
        lines.append(
            f"| {r['sim']} | {r['batch']} | {r['step_us']:.1f} | {r['bound_us']:.2f} | "
            f"{r['x_bound']:.1f} |"
        )
    lines += ["", f"## Torch-native CartPole ({GOALS['env']})", "", "| envs | env steps/s |"]
    lines += ["| --- | --- |"] + [
        f"| {r['envs']:,} | {r['env_steps_per_s']:.3g} |" for r in result["env"]
    ]
    lines += [
        "",
        f"## Agent loop ({GOALS['agent']})",
        "",
        "| envs | env steps/s |",
        "| --- | --- |",
    ]
    lines += [f"| {r['envs']:,} | {r['env_steps_per_s']:.3g} |" for r in result["agent"]]
    lines += ["", "## CUDA graph of one decision window (N1)", ""]
    lines += ["| batch | eager (us) | graph (us) | speedup |", "| --- | --- | --- | --- |"]
    for r in result["graphs"]:
        graph = (
            f"{r['graph_window_us']:.1f} | {r['speedup']:.1f}x"
            if "speedup" in r
            else f"{r['graph']} |"
        )
        lines.append(f"| {r['batch']} | {r['eager_window_us']:.1f} | {graph} |")
    lines += ["", f"## Batched population ({GOALS['population']})", ""]
    lines += [
        "| agents | envs | build (s) | env steps/s (all agents) |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['agents']} | {r['envs']:,} | {r['build_s']:.1f} | {r['env_steps_per_s']:.3g} |"
        for r in result["population"]
    ]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="folder for gpu.json, gpu.md")
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per point")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, short points")
    args = parser.parse_args(argv)
    if args.dry_run:
        device, sizes, seconds = torch.device("cpu"), SIZES["dry"], min(args.seconds, 0.05)
        torch.set_num_threads(1)
    elif torch.cuda.is_available():
        device, sizes, seconds = torch.device("cuda"), SIZES["full"], args.seconds
    else:
        parser.error("no CUDA device here; use --dry-run to check the script on the CPU")
    args.output.mkdir(parents=True, exist_ok=True)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["python benchmarks/gpu.py", *(argv or sys.argv[1:])]),
        "dry_run": args.dry_run,
        "device_name": torch.cuda.get_device_name()
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "seconds_per_point": seconds,
    }
    sections = {
        "bandwidth": lambda: bandwidth(device, sizes["copy_mib"], seconds),
        "n2": lambda: n2(device, sizes["n2_batches"], seconds, result["bandwidth"]["bytes_per_s"]),
        "env": lambda: env(device, sizes["envs"], seconds),
        "agent": lambda: agent(device, sizes["agent_envs"], seconds),
        "graphs": lambda: graphs(device, sizes["graph_batches"], seconds),
        "population": lambda: population(device, sizes["agents"], seconds),
    }
    failed = []
    for name, run in sections.items():
        start = time.perf_counter()
        try:
            result[name] = run()
        except Exception:  # keep the other sections' figures; the error is in the JSON
            result[name] = {"error": traceback.format_exc(limit=3)}
            failed.append(name)
        print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)
    (args.output / "gpu.json").write_text(json.dumps(result, indent=1) + "\n")
    if not failed:
        (args.output / "gpu.md").write_text(to_markdown(result))
    print(f"wrote {args.output}/gpu.json" + ("" if failed else " and gpu.md"))
    if failed:
        print(f"failed sections: {failed} (tracebacks in gpu.json)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
