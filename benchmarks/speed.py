"""Speed of snn-rl side by side with PySNN, BindsNET, SpikingJelly and a hand-written torch loop.

Every measurement runs in a fresh subprocess (one simulator, one case, one batch size), so
peak memory is per case and no simulator warms another's caches. Cases:

* ``N1``: Input(100) -> Linear -> LIF(100) -> Linear -> LIF(2), MSTDPET on both connections,
  eligibility updated every step, weights every 10th step (reward 1.0).
* ``N2``: Input(1000) -> Linear -> LIF(1000), MSTDPET, same schedule (memory-bound).
* ``N3``: Input(2, 32, 32) -> Conv2d(2 -> 16, 5x5) -> 16x28x28 neurons, FedeSTDP every step.
* ``agent``: env-steps/s of ``MSTDPETAgent.learn`` on CartPole-v1 (10 simulation steps, env
  step, reward signal and rule step per env step), with Gymnasium's native vector env
  (``gym``) and with our torch-native one (``torch``).

Inputs are Bernoulli spikes (p = 0.1 per step and input neuron), drawn once as a pool of 64
frames that every simulator cycles through, so the figures time the networks, not a random
number generator. The simulators:

* ``snn_rl``: this project, scalar-reward fast path (``MSTDPET(per_env=False)``: the batch mean
  of the eligibility as one matrix updated by one matmul per term).
* ``snn_rl_per_env``: this project with per-env eligibility ``(B, out, in)`` (what per-env
  rewards need; the agents use it).
* ``snn_rl_unchecked``: ``snn_rl`` with the engine's finiteness checks off (their cost).
* ``floor``: the same math as a minimal hand-written eager-PyTorch loop (preallocated state,
  in-place updates, no framework): what eager PyTorch costs at the least.
* ``pysnn``, ``bindsnet`` and ``spikingjelly``: the peer libraries, built by
  ``benchmarks/speed_peers.py`` in the separate virtual environment made by
  ``benchmarks/setup_peers.sh`` (skipped when absent).

    python benchmarks/speed.py --output docs/results/speed          # full table
    python benchmarks/speed.py --cases N1 --batches 1 64 --seconds 0.5  # a quick look
    python benchmarks/plot_speed.py docs/results/speed/speed.json

Each measurement is the median of ``--repeats`` timed stretches of ``--seconds``; the whole
job list runs ``--rounds`` times and each job keeps its best round (this shared VM's speed
drifted by up to 2x within minutes). Rates count this process's CPU time on the CPU and
wall-clock on a GPU (``--clock`` overrides); ``speed.json`` keeps both. Each network
measurement also reports ``max_weight_gap_vs_floor``: the largest weight difference from
the floor after 60 steps from the same start (0 up to float rounding for the same math). A
peer that applies the same weight change ``REWARD_LAG`` steps later (SpikingJelly) is checked
against a floor with that lag, and ``max_weight_gap_vs_floor_on_time`` is its gap to the plain one.

Writes ``speed.json`` (every measurement, machine and settings) and ``speed.md`` (the table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_PEERS_VENV = HERE / ".venv-peers"

POOL = 64  # input frames cycled through
IN_SHAPES = {"N1": (100,), "N2": (1000,), "N3": (2, 32, 32)}
DEFAULT_BATCHES = {"N1": [1, 16, 64, 256], "N2": [1, 64], "N3": [1, 16], "agent": [1, 16, 256]}
SIMS = (
    "snn_rl",
    "snn_rl_compiled",
    "snn_rl_per_env",
    "snn_rl_unchecked",
    "floor",
    "pysnn",
    "bindsnet",
    "spikingjelly",
)
PEERS = ("pysnn", "bindsnet", "spikingjelly")
AGENT_ENVS = {"gym": "CartPole-v1", "torch": "snn_rl/CartPole-v1"}

# shared parameters (speed_peers.py uses the same values)
# weights uniform on [0, W_HIGH): N1/N2 fire at ~10-20% per step (the Fede neurons of N3 are
# silent: their forcing subtracts the summed input trace; FedeSTDP "every_step" learns anyway)
W_HIGH = {"N1": 0.05, "N2": 0.005, "N3": 0.2}
THRESH, DECAY_V, DECAY_T = 1.0, 0.8, 0.8
A_PRE, A_POST, LR, E_DECAY = 1.0, 1.0, 1e-3, 0.95
FEDE_LR, FEDE_W_INIT, FEDE_A, FEDE_TAU = 1e-4, 0.5, 0.0, 5.0
REWARD_EVERY, REWARD = 10, 1.0


# --------------------------------------------------------------------------- worker side
def _status_mib(key: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS: now, VmHWM: peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    if key == "VmHWM":  # no procfs: getrusage's peak (KiB on Linux)
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return float("nan")


def _rss_mib() -> float:
    return _status_mib("VmRSS")


def _peak_rss_mib() -> float:
    return _status_mib("VmHWM")


def make_inputs(case: str, batch: int, device: str):
    import torch

    gen = torch.Generator().manual_seed(1234)
    shape = (POOL, batch, *IN_SHAPES[case])
    return (torch.rand(shape, generator=gen) < 0.1).float().to(device)


def build_snn_rl(
    case: str,
    batch: int,
    inputs,
    device: str,
    per_env: bool,
    compiled: bool = False,
    checked: bool = True,
) -> Callable:
    import torch

    from snn_rl import Conv2d, FedeNeuron, Input, LIFNeuron, Linear, SNNNetwork, compile_step
    from snn_rl.learning import MSTDPET, FedeSTDP

    gen = torch.Generator().manual_seed(0)
    lif = dict(thresh=THRESH, v_rest=0.0, decay_v=DECAY_V, decay_t=DECAY_T, alpha_t=1.0)
    net = SNNNetwork()
    if case in ("N1", "N2"):
        n_in = IN_SHAPES[case][0]
        sizes = [n_in, 100, 2] if case == "N1" else [n_in, 1000]
        pre = Input(n_in, decay_t=DECAY_T)
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            post = LIFNeuron(b, **lif)
            w = torch.rand(b, a, generator=gen) * W_HIGH[case]
            net.add_layer(f"fc{i}", Linear(a, b, weight=w), pre, post)
            pre = post
        net.to(device).reset_state(batch_size=batch)
        rule = MSTDPET(
            net.layer_state_dict(),
            a_pre=A_PRE,
            a_post=A_POST,
            lr=LR,
            e_trace_decay=E_DECAY,
            per_env=per_env,
        )
    elif case == "N3":
        w = torch.rand(16, 2, 5, 5, generator=gen) * W_HIGH["N3"]
        conv = Conv2d(2, 16, 5, input_size=(32, 32), weight=w)
        post = FedeNeuron((16, 28, 28), thresh=THRESH, tau_v=FEDE_TAU, tau_t=FEDE_TAU)
        net.add_layer("conv", conv, Input((2, 32, 32), decay_t=DECAY_T), post)
        net.to(device).reset_state(batch_size=batch)
        rule = FedeSTDP(
            net.layer_state_dict(), lr=FEDE_LR, w_init=FEDE_W_INIT, a=FEDE_A, mode="every_step"
        )
    else:
        raise ValueError(f"case must be N1, N2 or N3 for snn_rl, got {case!r}")

    if case == "N3":

        def core(s):
            net(s)
            rule.step()

    else:

        def core(s):
            net(s)
            rule.update_state()

    net.set_check_finite(checked)
    rule.check_finite = checked
    core = compile_step(core, enabled=compiled, device=device)
    frames = list(inputs)  # indexing a tensor costs a dispatch; a list lookup does not

    def step(t: int) -> None:
        core(frames[t % POOL])
        if case != "N3" and t % REWARD_EVERY == REWARD_EVERY - 1:
            rule.step(REWARD)

    step.weights = lambda: [
        c.weight.reshape(c.weight.shape[0], -1) for c in net.connections.values()
    ]
    return step


def build_floor(case: str, batch: int, inputs, device: str, reward_lag: int = 0) -> Callable:
    """The same math as ``snn_rl`` (scalar-reward fast path) with nothing but torch calls.

    ``reward_lag`` > 0 (N1, N2) applies each rewarded eligibility that many steps later, after
    that step's forward (SpikingJelly's reward alignment, for its weight check).
    """
    import torch

    if reward_lag < 0 or (reward_lag and case not in ("N1", "N2")):
        raise ValueError(f"reward_lag must be >= 0, and 0 for N3, got {reward_lag!r}")
    if case == "N3":
        return _build_floor_conv(batch, inputs, device)
    if case not in ("N1", "N2"):
        raise ValueError(f"case must be N1, N2 or N3 for floor, got {case!r}")
    gen = torch.Generator().manual_seed(0)
    n_in = IN_SHAPES[case][0]
    sizes = [n_in, 100, 2] if case == "N1" else [n_in, 1000]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        w = (torch.rand(b, a, generator=gen) * W_HIGH[case]).to(device)
        layers.append(
            dict(
                wt=w.t().contiguous(),  # (in, out): current = s @ wt
                e=torch.zeros(a, b, device=device),  # transposed E, (in, out)
                v=torch.zeros(batch, b, device=device),
                z=torch.zeros(batch, b, device=device),
                y=torch.zeros(batch, b, device=device),
                fired=torch.zeros(batch, b, dtype=torch.bool, device=device),
            )
        )
    x_in = torch.zeros(batch, n_in, device=device)
    k_pre, k_post = A_PRE / batch, -A_POST / batch
    frames = list(inputs)
    due: dict[int, list] = {}  # reward_lag > 0: step -> eligibility copies to apply then

    def step(t: int) -> None:
        s = frames[t % POOL]
        x_in.mul_(DECAY_T).add_(s)
        pre_s, pre_x = s, x_in
        for L in layers:
            v = L["v"]
            v.mul_(DECAY_V).addmm_(pre_s, L["wt"])
            torch.ge(v, THRESH, out=L["fired"])
            L["z"].copy_(L["fired"])
            v.masked_fill_(L["fired"], 0.0)
            L["y"].mul_(DECAY_T).add_(L["z"])
            e = L["e"]
            e.addmm_(pre_x.t(), L["z"], beta=E_DECAY, alpha=k_pre)  # decay rides on the matmul
            e.addmm_(pre_s.t(), L["y"], alpha=k_post)
            pre_s, pre_x = L["z"], L["y"]
        if t % REWARD_EVERY == REWARD_EVERY - 1:
            if reward_lag:
                due[t + reward_lag] = [L["e"].clone() for L in layers]
            else:
                for L in layers:
                    L["wt"].add_(L["e"], alpha=LR * REWARD)
        if due:
            for L, e in zip(layers, due.pop(t, ()), strict=False):
                L["wt"].add_(e, alpha=LR * REWARD)

    step.weights = lambda: [L["wt"].t() for L in layers]
    return step


def _build_floor_conv(batch: int, inputs, device: str) -> Callable:
    import torch
    import torch.nn.functional as tf

    gen = torch.Generator().manual_seed(0)
    w = (torch.rand(16, 2, 5, 5, generator=gen) * W_HIGH["N3"]).to(device)
    w2 = w.view(16, -1)
    x_in = torch.zeros(batch, 2, 32, 32, device=device)
    v = torch.zeros(batch, 16, 28, 28, device=device)
    y = torch.zeros_like(v)
    fired = torch.zeros_like(v, dtype=torch.bool)
    ones = torch.ones(1, 1, 5, 5, device=device)
    k = 1.0 / FEDE_TAU  # FedeNeuron: exponential voltage and trace updates, dt / tau
    frames = list(inputs)

    def step(t: int) -> None:
        s = frames[t % POOL]
        x_in.mul_(DECAY_T).add_(s)
        current = tf.conv2d(s, w)
        # receptive-field sum of the input trace (over channels and the 5x5 window)
        trace_sum = tf.conv2d(x_in.sum(1, keepdim=True), ones)
        v.add_(current.sub_(trace_sum).sub_(v), alpha=k)
        torch.ge(v, THRESH, out=fired)
        v.masked_fill_(fired, 0.0)
        y.mul_(1.0 - k).add_(fired, alpha=k)
        # FedeSTDP "every_step": x_hat = x / max(x) per env row; weight change independent of
        # the output neuron, averaged over env rows and output positions
        patches = tf.unfold(x_in, 5)  # (B, K, L)
        peak = x_in.flatten(1).amax(1).clamp_min_(1e-12).view(-1, 1, 1)
        x_hat = patches / peak
        d = w2 - FEDE_W_INIT
        ltp = torch.exp(-d).unsqueeze(0) * (torch.exp(x_hat).mean((0, 2)) - FEDE_A)
        ltd = torch.exp(d).unsqueeze(0) * (torch.exp(1.0 - x_hat).mean((0, 2)) - FEDE_A)
        w2.add_((ltp - ltd).squeeze(0), alpha=FEDE_LR)

    step.weights = lambda: [w2]
    return step


class Stopwatch:
    """Wall-clock and this process's CPU time of one timed stretch.

    CPU time leaves out the time the process waits while other processes run; on a GPU only
    wall-clock counts (the CPU idles while kernels run). On the 2-core VM of docs/benchmarks.md
    the two agreed within 1 %, but the machine's speed itself drifted by up to 2x between runs
    minutes apart, so the driver runs rounds and keeps each job's best.
    """

    def __init__(self, device: str) -> None:
        self.device = device

    def __enter__(self) -> Stopwatch:
        _sync(self.device)
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        _sync(self.device)
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def time_agent(env: str, batch: int, device: str, seconds: float, repeats: int) -> list[Stopwatch]:
    """``MSTDPETAgent.learn`` on CartPole-v1 (one long call per repeat, after a warm-up); each
    stopwatch has ``units`` = env steps done."""
    from snn_rl.agents import MSTDPETAgent

    agent = MSTDPETAgent(AGENT_ENVS[env], n_envs=batch, seed=0, device=device, verbose=0)
    with Stopwatch(device) as warm:
        agent.learn(100 * batch)
    per_step = warm.wall / max(agent.num_timesteps, 1)
    watches = []
    for _ in range(repeats):
        before = agent.num_timesteps
        with Stopwatch(device) as sw:
            agent.learn(max(batch, int(seconds / per_step)), reset_num_timesteps=False)
        sw.units = agent.num_timesteps - before
        watches.append(sw)
    return watches


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def time_steps(
    step: Callable, per_call: int, device: str, seconds: float, repeats: int
) -> list[Stopwatch]:
    """Simulation steps of ``step`` (one call = ``per_call`` steps), after a warm-up that
    also sizes each timed repeat to last about ``seconds``; stopwatches with ``units``."""

    def timed(calls: int, t0: int) -> Stopwatch:
        with Stopwatch(device) as sw:
            for i in range(calls):
                step((t0 + i) * per_call)
        sw.units = calls * per_call
        return sw

    timed(3, 0)  # first calls: lazy allocations, torch.compile's compilation
    t, calls = 3, 1
    while True:
        elapsed = timed(calls, t).wall
        t += calls
        if elapsed > 0.2 * seconds or calls >= 1 << 20:
            break
        calls *= 2
    calls = max(1, int(calls * seconds / max(elapsed, 1e-9)))
    watches = []
    for _ in range(repeats):
        watches.append(timed(calls, t))
        t += calls
    return watches


def build_sim(sim: str, case: str, batch: int, inputs, device: str) -> tuple[Callable, int]:
    """A simulator's step for ``case`` and the simulation steps one call of it runs."""
    if sim.startswith("snn_rl"):
        per_env, compiled = sim == "snn_rl_per_env", sim == "snn_rl_compiled"
        checked = sim != "snn_rl_unchecked"
        return build_snn_rl(case, batch, inputs, device, per_env, compiled, checked), 1
    if sim == "floor":
        return build_floor(case, batch, inputs, device), 1
    if sim in PEERS:
        sys.path.insert(0, str(HERE))
        import speed_peers

        per_call = getattr(speed_peers, "STEPS_PER_CALL", {}).get((sim, case), 1)
        return speed_peers.build(sim, case, batch, inputs), per_call
    raise ValueError(f"sim must be one of {SIMS}, got {sim!r}")


def reward_lag(sim: str, case: str) -> int:
    """Steps by which peer ``sim`` applies the rewarded weight change later than the floor."""
    if sim not in PEERS:
        return 0
    sys.path.insert(0, str(HERE))
    import speed_peers

    return getattr(speed_peers, "REWARD_LAG", {}).get((sim, case), 0)


def weight_gap(
    sim: str, case: str, device: str, steps: int = 60, batch: int = 2, aligned: bool = True
) -> float:
    """Largest |W_sim - W_floor| after ``steps`` steps from the same weights and inputs (0 for
    the same math; PySNN's Conv2d/FedeSTDP bugs and BindsNET's and SpikingJelly's other rule on
    N3 differ). A peer that applies the weight change ``reward_lag`` steps late runs that many
    more steps, against a floor with the same lag when ``aligned`` (the same math) or against
    the plain floor after ``steps`` steps (what the late change does to the weights)."""
    lag = reward_lag(sim, case)
    inputs = make_inputs(case, batch, device)
    step, per_call = build_sim(sim, case, batch, inputs, device)
    floor = build_floor(case, batch, inputs, device, reward_lag=lag if aligned else 0)
    for t in range(0, steps + lag, per_call):
        step(t)
    for t in range(steps + (lag if aligned else 0)):
        floor(t)
    gaps = [
        float((a.reshape(b.shape) - b).abs().max())
        for a, b in zip(step.weights(), floor.weights(), strict=True)
    ]
    return max(gaps)


def run_worker(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    rss_torch = _rss_mib()
    sim, case, batch, device = args.sim, args.case, args.batch, args.device
    if case.startswith("agent"):
        watches = time_agent(case.split(":")[1], batch, device, args.seconds, args.repeats)
    else:
        inputs = make_inputs(case, batch, device)
        step, per_call = build_sim(sim, case, batch, inputs, device)
        watches = time_steps(step, per_call, device, args.seconds, args.repeats)
    clock = args.clock or ("wall" if device.startswith("cuda") else "cpu")
    wall = [w.units / w.wall for w in watches]
    cpu = [w.units / max(w.cpu, 1e-9) for w in watches]
    result = {
        "sim": sim,
        "case": case,
        "batch": batch,
        "device": device,
        "threads": torch.get_num_threads(),
        "clock": clock,
        "steps_per_s": statistics.median(cpu if clock == "cpu" else wall),
        "steps_per_s_all": cpu if clock == "cpu" else wall,
        "steps_per_s_wall": statistics.median(wall),
        "steps_per_s_cpu": statistics.median(cpu),
        "unit": "env steps" if case.startswith("agent") else "simulation steps",
        "peak_rss_mib": _peak_rss_mib(),
        "rss_after_torch_mib": rss_torch,
        "torch": torch.__version__,
    }
    if device.startswith("cuda"):
        result["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    if not case.startswith("agent"):
        result["max_weight_gap_vs_floor"] = weight_gap(sim, case, device)
        if reward_lag(sim, case):
            result["reward_lag"] = reward_lag(sim, case)
            result["max_weight_gap_vs_floor_on_time"] = weight_gap(sim, case, device, aligned=False)
    if sim in PEERS:
        import speed_peers

        result["note"] = getattr(speed_peers, "NOTES", {}).get((sim, case), "")
    return result


# --------------------------------------------------------------------------- driver side
def measure(python: str, sim: str, case: str, batch: int, args: argparse.Namespace) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--worker", "--sim", sim, "--case", case]
    cmd += ["--batch", str(batch), "--device", args.device, "--threads", str(args.threads)]
    cmd += ["--seconds", str(args.seconds), "--repeats", str(args.repeats)]
    cmd += ["--clock", args.clock] if args.clock else []
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"sim": sim, "case": case, "batch": batch, "error": " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> dict:
    import torch

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.0f}"


def table(results: list[dict]) -> str:
    """One row per (case, batch): steps/s of every simulator and the ratios that matter."""
    by_key: dict[tuple[str, int], dict[str, dict]] = {}
    for r in results:
        by_key.setdefault((r["case"], r["batch"]), {})[r["sim"]] = r

    def rate(row: dict, sim: str) -> float | None:
        r = row.get(sim)
        return None if r is None or "error" in r else r["steps_per_s"]

    def ratio(a: float | None, b: float | None) -> str:
        return "-" if a is None or b is None else f"{a / b:.2f}x" if a < 10 * b else f"{a / b:.0f}x"

    lines = [
        "| case | B | snn_rl | compiled | per-env E | floor | PySNN | BindsNET | SpikingJelly | "
        "snn_rl vs PySNN | vs BindsNET | vs SpikingJelly | floor / snn_rl | floor / compiled | "
        "peak RSS MiB: snn_rl / PySNN / BindsNET / SpikingJelly |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (case, batch), row in sorted(by_key.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        ours, comp, floor = rate(row, "snn_rl"), rate(row, "snn_rl_compiled"), rate(row, "floor")
        mem = " / ".join(
            f"{row[s]['peak_rss_mib']:.0f}" if s in row and "error" not in row[s] else "-"
            for s in ("snn_rl", *PEERS)
        )
        lines.append(
            f"| {case} | {batch} | {fmt_rate(ours)} | {fmt_rate(comp)} | "
            f"{fmt_rate(rate(row, 'snn_rl_per_env'))} | {fmt_rate(floor)} | "
            + "".join(f"{fmt_rate(rate(row, s))} | " for s in PEERS)
            + "".join(f"{ratio(ours, rate(row, s))} | " for s in PEERS)
            + f"{ratio(floor, ours)} | {ratio(floor, comp)} | {mem} |"
        )
    return "\n".join(lines)


def agent_table(results: list[dict]) -> str:
    lines = ["| env | n_envs | env steps/s | peak RSS (MiB) |", "|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (r["case"], r["batch"])):
        if "error" in r:
            lines.append(f"| {r['case']} | {r['batch']} | error: {r['error']} | - |")
            continue
        env = AGENT_ENVS[r["case"].split(":")[1]]
        lines.append(
            f"| {env} | {r['batch']} | {fmt_rate(r['steps_per_s'])} | {r['peak_rss_mib']:.0f} |"
        )
    return "\n".join(lines)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=["N1", "N2", "N3", "agent"],
                   help="N1 N2 N3 agent")  # fmt: skip
    p.add_argument("--sims", nargs="+", default=[s for s in SIMS if s != "snn_rl_unchecked"],
                   help=" ".join(SIMS))  # fmt: skip
    p.add_argument("--batches", nargs="+", type=int, help="override every case's batch sizes")
    p.add_argument("--device", default="cpu", help="cpu or cuda (peers run on the CPU only)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (pinned)")
    p.add_argument("--seconds", type=float, default=1.0, help="length of one timed repeat")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats (median reported)")
    p.add_argument("--clock", choices=("cpu", "wall"),
                   help="rates by this process's CPU time (default on cpu: a shared VM's stolen "
                   "time is not counted) or by wall-clock (default on cuda)")  # fmt: skip
    p.add_argument("--rounds", type=int, default=3, help="passes over all jobs (best kept)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per measurement")
    p.add_argument("--peers-venv", type=Path, default=Path(os.environ.get(
        "PEERS_VENV", DEFAULT_PEERS_VENV)))  # fmt: skip
    p.add_argument("--output", type=Path, help="folder for speed.json and speed.md")
    # worker mode (internal)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--sim", help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for case in args.cases:
        if case not in DEFAULT_BATCHES:
            p.error(f"--cases: unknown case {case!r}; choose from {list(DEFAULT_BATCHES)}")
    for sim in args.sims:
        if sim not in SIMS:
            p.error(f"--sims: unknown simulator {sim!r}; choose from {list(SIMS)}")
    if args.threads < 1 or args.seconds <= 0 or args.repeats < 1 or args.rounds < 1:
        p.error("--threads, --repeats and --rounds must be >= 1 and --seconds > 0")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(args)))
        return
    peer_python = args.peers_venv / "bin" / "python"
    have_peers = peer_python.exists()
    if not have_peers and any(s in PEERS for s in args.sims):
        print(f"peers skipped: no {peer_python} (run benchmarks/setup_peers.sh)", file=sys.stderr)
    jobs = []
    for case in args.cases:
        for batch in args.batches or DEFAULT_BATCHES[case]:
            if case == "agent":
                jobs += [("snn_rl", f"agent:{env}", batch) for env in AGENT_ENVS]
                continue
            for sim in args.sims:
                if sim in PEERS and (not have_peers or args.device != "cpu"):
                    continue
                jobs.append((sim, case, batch))
    # every round runs every job once, the simulators of one (case, batch) back to back; the
    # best round per job is kept, so a slow spell of a shared machine (see Stopwatch) hits no
    # simulator alone
    best: dict[tuple[str, str, int], dict] = {}
    for round_ in range(args.rounds):
        for sim, case, batch in jobs:
            python = str(peer_python) if sim in PEERS else sys.executable
            r = measure(python, sim, case, batch, args)
            shown = r.get("error") or f"{fmt_rate(r['steps_per_s'])} steps/s"
            print(f"[{round_ + 1}] {case:>11} B={batch:<4} {sim:<15} {shown}", flush=True)
            key = (sim, case, batch)
            old = best.get(key)
            rounds = ([] if old is None else old.get("rounds", [])) + [r.get("steps_per_s")]
            if old is None or "error" in old or r.get("steps_per_s", 0) > old["steps_per_s"]:
                best[key] = r
            best[key]["rounds"] = rounds
    results = [best[key] for key in jobs]
    nets = [r for r in results if not r["case"].startswith("agent")]
    agents = [r for r in results if r["case"].startswith("agent")]
    clock = args.clock or ("wall" if args.device.startswith("cuda") else "cpu")
    report = (
        f"torch threads: {args.threads}, device: {args.device}, rates by {clock} time, "
        f"best of {args.rounds} round(s), each the median of {args.repeats} repeats\n\n"
    )
    report += (table(nets) + "\n\n" if nets else "") + (agent_table(agents) if agents else "")
    print("\n" + report)
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        payload = {
            "machine": machine(),
            "settings": {k: str(v) for k, v in vars(args).items() if k not in ("worker",)},
            "command": " ".join(["python", "benchmarks/speed.py", *(argv or sys.argv[1:])]),
            "results": results,
        }
        write_atomic(args.output / "speed.json", json.dumps(payload, indent=1) + "\n")
        write_atomic(args.output / "speed.md", report + "\n")


if __name__ == "__main__":
    main()
