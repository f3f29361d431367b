"""Reference scores of policies that do not look at the observation: every constant action of
a Discrete action space, and the uniformly random policy, evaluated with the protocol
``snn-rl train`` uses for seed ``s`` (deterministic episodes from env seed ``10000 + s``).

A learned agent that scores what a constant action scores, seed for seed, may have learned
that action and nothing else (MinAtar Freeway's "always up", docs/results.md):

    python benchmarks/reference_policies.py MinAtar/Freeway-v1 --seeds 0 1 2 3 4 \\
        --episodes 20 --max-episode-steps 2500 --actions 1 --no-random

Prints one line per policy (its mean return per seed, and their mean) and, with ``--output
FILE``, writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from snn_rl.agents import evaluate
from snn_rl.agents.env_util import make_env


class ConstantPolicy:
    """SB3's ``predict`` for one fixed action, whatever the observation."""

    def __init__(self, action: int) -> None:
        self.action = int(action)

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        return np.full((len(obs),), self.action, dtype=np.int64), state


class RandomPolicy:
    """SB3's ``predict`` for uniformly random actions (its own seeded stream)."""

    def __init__(self, space: gym.spaces.Space, seed: int) -> None:
        self.space = space
        self.space.seed(seed)

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        return np.stack([self.space.sample() for _ in range(len(obs))]), state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env_id")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--max-episode-steps", type=int, default=None)
    parser.add_argument("--env-kwargs", nargs="*", default=[], metavar="KEY=YAML")
    parser.add_argument("--actions", type=int, nargs="+", default=None,
                        help="the constant actions to score (default: every one)")  # fmt: skip
    parser.add_argument("--no-random", action="store_true", help="skip the random policy")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)

    from snn_rl.agents.cli import parse_assignments

    torch.set_num_threads(1)
    env_kwargs = parse_assignments(args.env_kwargs, "--env-kwargs", names=True) or None
    probe = make_env(args.env_id, env_kwargs=env_kwargs, max_episode_steps=args.max_episode_steps)
    space = probe.action_space
    probe.close()
    policies: dict[str, object] = {}
    if args.actions is not None and not isinstance(space, gym.spaces.Discrete):
        parser.error(f"--actions needs a Discrete action space, got {space}")
    if isinstance(space, gym.spaces.Discrete):
        actions = range(int(space.start), int(space.start + space.n))
        for a in actions if args.actions is None else args.actions:
            if a not in actions:
                parser.error(f"--actions: {a} is not an action of {space}")
            policies[f"always {a}"] = lambda seed, a=a: ConstantPolicy(a)
    if not args.no_random:
        policies["uniformly random"] = lambda seed: RandomPolicy(space, seed)
    results = {}
    for name, make in policies.items():
        per_seed = {}
        for seed in args.seeds:
            result = evaluate(
                make(seed),
                args.env_id,
                n_episodes=args.episodes,
                seed=10_000 + seed,
                deterministic=True,
                env_kwargs=env_kwargs,
                max_episode_steps=args.max_episode_steps,
            )
            per_seed[seed] = float(result.returns.mean())
        mean = float(np.mean(list(per_seed.values())))
        results[name] = {"per_seed": per_seed, "mean": mean}
        cells = ", ".join(f"{v:g}" for v in per_seed.values())
        print(f"{name}: {cells} (mean {mean:g})", flush=True)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
