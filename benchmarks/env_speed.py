"""Env-steps per second: torch-native CartPole vs Gymnasium's numpy vector CartPole.

Random actions (pre-drawn, on the env's device), steady state (a warm-up before timing),
NEXT_STEP autoreset for both. Prints a markdown table. Example::

    python benchmarks/env_speed.py --device cpu --seconds 2 --threads 1
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

from snn_rl.envs import TorchCartPoleVec

ACTION_BANK = 64  # distinct pre-drawn action batches, cycled


def steps_per_second(
    step: Callable[[int], object],
    num_envs: int,
    budget: tuple[float, int | None],
    sync: Callable[[], None],
) -> float:
    """Env steps per second of ``step`` (called with a cycling index).

    ``budget`` is (seconds, calls): time ``calls`` step() calls if given, else run for
    ``seconds``.
    """
    seconds, max_calls = budget
    for i in range(20):  # warm-up: allocator, caches, CUDA kernels
        step(i % ACTION_BANK)
    sync()
    calls, start = 0, time.perf_counter()
    while True:
        for i in range(ACTION_BANK):
            step(i)
        calls += ACTION_BANK
        sync()
        elapsed = time.perf_counter() - start
        done = calls >= max_calls if max_calls is not None else elapsed >= seconds
        if done:
            return calls * num_envs / elapsed


def bench_gymnasium(num_envs: int, budget: tuple[float, int | None], seed: int) -> float:
    env = gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point")
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, 2, size=(ACTION_BANK, num_envs))
    return steps_per_second(lambda i: env.step(actions[i]), num_envs, budget, lambda: None)


def bench_torch(
    num_envs: int, budget: tuple[float, int | None], seed: int, device: str, inference: bool
) -> float:
    if inference:  # the whole loop in inference mode: no autograd dispatch per op
        with torch.inference_mode():
            return bench_torch(num_envs, budget, seed, device, inference=False)
    env = TorchCartPoleVec(num_envs, device=device)
    env.reset(seed=seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    actions = torch.randint(0, 2, (ACTION_BANK, num_envs), generator=generator, device=device)
    sync = torch.cuda.synchronize if env.device.type == "cuda" else (lambda: None)
    return steps_per_second(lambda i: env.step(actions[i]), num_envs, budget, sync)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help='torch device: "cpu", "cuda", "all"')
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 64, 1024, 16384])
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per point")
    parser.add_argument(
        "--steps", type=int, default=None, help="time this many step() calls instead"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--inference-mode", action="store_true", help="run the torch env in torch.inference_mode()"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        devices.remove("cuda")
        print("(no CUDA device: GPU columns skipped)")
    mode = ", torch env in inference mode" if args.inference_mode else ""
    print(f"torch {torch.__version__}, gymnasium {gym.__version__}, {args.threads} thread(s){mode}")
    header = "| envs | gymnasium numpy (steps/s) | " + " | ".join(
        f"torch {d} (steps/s) | torch {d} / numpy" for d in devices
    )
    print(header + " |")
    print("|" + "---|" * (2 + 2 * len(devices)))
    budget = (args.seconds, args.steps)
    for n in args.num_envs:
        ref = bench_gymnasium(n, budget, args.seed)
        cells = [f"{n}", f"{ref:,.0f}"]
        for device in devices:
            ours = bench_torch(n, budget, args.seed, device, args.inference_mode)
            cells += [f"{ours:,.0f}", f"{ours / ref:.2f}x"]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
