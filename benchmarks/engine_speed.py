"""Per-step cost of the spiking engine at agent sizes (CPU time of this process).

Measures one simulation step of the CartPole agent's network (270 IF inputs -> 20 LIF
outputs, B envs) with and without the MSTDPET ``update_state()``, and one full agent env step
(10 simulation steps, env, critic, rule step). CPU time (``time.process_time``) is reported so
that other load on the machine disturbs the figures less than wall-clock would.

    python benchmarks/engine_speed.py --batch 16 --steps 5000
"""

from __future__ import annotations

import argparse
import time

import torch


def per_step(fn, steps: int) -> float:
    for _ in range(min(steps // 10, 200)):
        fn()
    start = time.process_time()
    for _ in range(steps):
        fn()
    return (time.process_time() - start) / steps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from snn_rl import IFNeuron, LIFNeuron, Linear, SNNNetwork
    from snn_rl.agents import MSTDPETAgent
    from snn_rl.learning import MSTDPET

    net = SNNNetwork()
    net.add_layer(
        "output",
        Linear(270, 20, weight=0.3),
        IFNeuron(270),
        LIFNeuron(20, decay_v=0.8, v_min=0.0),
    )
    net.reset_state(batch_size=args.batch)
    rule = MSTDPET(net.layer_state_dict(), a_pre=1.0, a_post=0.0, lr=0.01, e_trace_decay=0.978)
    rule.reset_state()
    x = torch.rand(args.batch, 270) * 0.5

    def sim():
        net(x)

    def sim_learn():
        net(x)
        rule.update_state()

    agent = MSTDPETAgent("CartPole-v1", n_envs=args.batch, seed=0, device="cpu")
    agent.learn(args.batch * 50)
    start = time.process_time()
    agent.learn(args.batch * (args.steps // 10))
    env_step = (time.process_time() - start) / agent.num_timesteps * args.batch * 1e6

    print(f"batch {args.batch}, {args.threads} thread(s), CPU time per call")
    print(f"| network step | {per_step(sim, args.steps):.1f} us |")
    print(f"| network step + update_state | {per_step(sim_learn, args.steps):.1f} us |")
    print(f"| agent env step (10 sim steps, env, critic, rule) | {env_step:.0f} us |")
    print(f"| agent env steps per CPU second | {args.batch / env_step * 1e6:.0f} |")


if __name__ == "__main__":
    main()
