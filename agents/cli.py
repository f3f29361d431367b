"""The ``snn-rl`` command line: ``train``, ``evaluate``, ``enjoy``, ``compare``.

Examples::

    snn-rl train CartPole-v1                      # tuned defaults, saves runs/CartPole-v1/model.zip
    snn-rl train CartPole-v1 --set rule.lr=0.02 critic.gamma=0.99 --config my.yml
    snn-rl evaluate runs/CartPole-v1/model.zip --env CartPole-v1 --episodes 100 --json
    snn-rl enjoy runs/CartPole-v1/model.zip --output cartpole.gif
    snn-rl compare CartPole-v1 --algos mstdpet ppo --seeds 0 1 2 --output runs/compare
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from snn_rl import __version__
from snn_rl.agents._io import atomic_write

DEFAULT_TIMESTEPS = 100_000
LIMIT_HELP = (
    "episode cap of training and evaluation (default: the env's time limit; an env without "
    "one is capped at 1000 steps, with a warning)"
)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snn-rl", description="Train and evaluate spiking agents on Gymnasium tasks."
    )
    parser.add_argument("--version", action="version", version=f"snn-rl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = sub.add_parser("train", help="train a spiking agent on an env")
    train.add_argument("env_id", help="Gymnasium env id, e.g. CartPole-v1")
    train.add_argument(
        "--algo", default="mstdpet", help="registered spiking agent (default: mstdpet)"
    )
    train.add_argument(
        "--total-timesteps",
        type=_non_negative_int,
        default=None,
        help=f"env steps (default: the tuned value, else {DEFAULT_TIMESTEPS})",
    )
    train.add_argument("--n-envs", type=_positive_int, default=None, help="parallel envs")
    train.add_argument("--seed", type=_non_negative_int, default=0)
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    train.add_argument(
        "--reward", default=None, help="reward function: env, terminal (default: tuned)"
    )
    train.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML file of configuration overrides (on top of the tuned ones; a train "
        "run's config.yml is one)",
    )
    train.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="configuration overrides, dotted keys and YAML values, e.g. rule.lr=0.02 "
        "'network.hidden_sizes=[32]' critic.type=none (after --config)",
    )
    train.add_argument(
        "--no-tuned",
        action="store_true",
        help="ignore the tuned entry: the defaults derived from the task (--verbose 1 prints them)",
    )
    train.add_argument("--output", type=Path, default=None, help="folder (default runs/ENV_ID)")
    train.add_argument("--eval-episodes", type=_positive_int, default=100)
    train.add_argument("--max-episode-steps", type=_positive_int, default=None, help=LIMIT_HELP)
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.add_argument("--verbose", type=int, default=0, choices=(0, 1))

    ev = sub.add_parser("evaluate", help="mean and std of episode return of a saved agent")
    ev.add_argument("model", type=Path)
    ev.add_argument("--env", dest="env_id", default=None, help="env id (default: the saved one)")
    ev.add_argument("--episodes", type=_positive_int, default=100)
    ev.add_argument("--seed", type=_non_negative_int, default=0)
    ev.add_argument("--device", default="auto")
    ev.add_argument("--stochastic", action="store_true", help="keep exploration on")
    ev.add_argument("--max-episode-steps", type=_positive_int, default=None, help=LIMIT_HELP)
    ev.add_argument("--progress", action="store_true", help="a progress bar over episodes")
    ev.add_argument("--json", action="store_true", help="print JSON")

    enjoy = sub.add_parser("enjoy", help="watch a saved agent (screen, or a .gif file)")
    enjoy.add_argument("model", type=Path)
    enjoy.add_argument("--env", dest="env_id", default=None)
    enjoy.add_argument("--episodes", type=_positive_int, default=1)
    enjoy.add_argument("--seed", type=_non_negative_int, default=0)
    enjoy.add_argument("--output", type=Path, default=None, help="write frames to this .gif")
    enjoy.add_argument("--max-steps", type=_positive_int, default=1000)
    enjoy.add_argument("--device", default="auto")

    cmp = sub.add_parser(
        "compare", help="compare spiking agents with SB3 baselines over seeds (curves, table, plot)"
    )
    cmp.add_argument("env_id", help="Gymnasium env id, e.g. CartPole-v1")
    cmp.add_argument(
        "--algos", nargs="+", default=["mstdpet", "ppo", "a2c", "dqn"], help="mstdpet, ppo, ..."
    )
    cmp.add_argument("--seeds", type=_non_negative_int, nargs="+", default=[0, 1, 2])
    cmp.add_argument(
        "--total-timesteps",
        type=_positive_int,
        default=None,
        help="env steps per run (default: each algo's tuned budget)",
    )
    cmp.add_argument("--eval-freq", type=_positive_int, default=10_000, help="env steps")
    cmp.add_argument("--eval-episodes", type=_positive_int, default=100)
    cmp.add_argument("--threshold", type=float, default=None, help="default: the env spec's")
    cmp.add_argument("--max-episode-steps", type=_positive_int, default=None, help=LIMIT_HELP)
    cmp.add_argument(
        "--no-tuned", action="store_true", help="spiking agents without their tuned entries"
    )
    cmp.add_argument("--n-jobs", type=_positive_int, default=1, help="parallel processes")
    cmp.add_argument("--backend", choices=("local", "ray"), default="local")
    cmp.add_argument("--ray-address", default=None, help="Ray cluster (default: RAY_ADDRESS)")
    cmp.add_argument("--device", default="cpu")
    cmp.add_argument("--output", type=Path, default=None, help="default runs/compare_ENV_ID")
    cmp.add_argument("--no-plot", action="store_true", help="skip curves.png")
    cmp.add_argument("--quiet", action="store_true", help="no line per evaluation")
    return parser


def _load_config(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"cannot read --config {path}: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"--config {path} must hold a mapping of configuration fields")
    return data


def check_output_dir(folder: Path, option: str) -> None:
    """Make sure ``folder`` is (or can become) a writable directory before any work starts."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{option} {folder} is a file; give a folder for the run's files")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".snn-rl-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"cannot write to {option} {folder}: {err.strerror or err}") from err


def parse_sets(items: Sequence[str]) -> dict:
    """``["rule.lr=0.02", "network.hidden_sizes=[32]"]`` -> overrides (values read as YAML)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from snn_rl.agents.evaluation import evaluate
    from snn_rl.agents.registry import agent_class, tuned_settings

    cls = agent_class(args.algo)
    overrides = _load_config(args.config)
    file_budget = overrides.pop("n_timesteps", None)
    overrides.update(parse_sets(args.set))
    tuned_budget = None if args.no_tuned else tuned_settings(args.algo, args.env_id)[1]
    total = next(
        (int(t) for t in (args.total_timesteps, file_budget, tuned_budget) if t is not None),
        DEFAULT_TIMESTEPS,
    )
    output = args.output or Path("runs") / args.env_id.replace("/", "_")
    check_output_dir(output, "--output")
    agent = cls(
        args.env_id,
        overrides=overrides,
        n_envs=args.n_envs,
        reward=args.reward,
        device=args.device,
        seed=args.seed,
        verbose=args.verbose,
        max_episode_steps=args.max_episode_steps,
        tuned=not args.no_tuned,
    )
    print(
        f"training {cls.__name__} on {args.env_id} for {total} env steps "
        f"({agent.n_envs} envs, device {agent.device}, seed {args.seed})"
    )
    start = time.perf_counter()
    agent.learn(total, progress_bar=not args.no_progress)
    train_s = time.perf_counter() - start
    path = agent.save(output / "model.zip")
    config_text = yaml.safe_dump({**agent.config.to_dict(), "n_timesteps": total}, sort_keys=False)
    atomic_write(output / "config.yml", lambda p: p.write_text(config_text))
    result = evaluate(
        agent,
        args.env_id,
        n_episodes=args.eval_episodes,
        seed=10_000 + args.seed,
        max_episode_steps=args.max_episode_steps,
        progress_bar=not args.no_progress,
    )
    summary = {
        "env_id": args.env_id,
        "algo": args.algo,
        "total_timesteps": agent.num_timesteps,
        "train_seconds": round(train_s, 1),
        "model": str(path),
        **result.as_dict(),
    }
    text = json.dumps(summary, indent=2) + "\n"
    atomic_write(output / "summary.json", lambda p: p.write_text(text))
    print(
        f"saved {path} and {output / 'config.yml'}; trained {agent.num_timesteps} env steps in {train_s:.0f} s"
    )
    print(
        f"evaluation over {result.returns.size} episodes: "
        f"mean return {result.mean:.1f} +/- {result.std:.1f}"
    )
    return 0


def _load_agent(path: Path, device: str):
    from snn_rl.agents import SpikingAgent

    return SpikingAgent.load(path, device=device)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from snn_rl.agents.evaluation import evaluate

    agent = _load_agent(args.model, args.device)
    env_id = args.env_id or agent.env_id
    if env_id is None:
        raise SystemExit("snn-rl: the checkpoint names no env; pass --env ENV_ID")
    result = evaluate(
        agent,
        env_id,
        n_episodes=args.episodes,
        seed=args.seed,
        deterministic=not args.stochastic,
        max_episode_steps=args.max_episode_steps,
        progress_bar=args.progress,
    )
    if args.json:
        print(json.dumps({"env_id": env_id, **result.as_dict()}))
    else:
        print(
            f"{env_id}: mean return {result.mean:.2f} +/- {result.std:.2f} "
            f"over {result.returns.size} episodes"
        )
    return 0


def cmd_enjoy(args: argparse.Namespace) -> int:
    from snn_rl.agents.env_util import make_env

    agent = _load_agent(args.model, args.device)
    env_id = args.env_id or agent.env_id
    if env_id is None:
        raise SystemExit("snn-rl: the checkpoint names no env; pass --env ENV_ID")
    if args.output is not None and args.output.suffix.lower() != ".gif":
        raise ValueError(f"--output must end in .gif, got {args.output}")
    mode = "rgb_array" if args.output else "human"
    try:
        env = make_env(env_id, render_mode=mode)
    except Exception as err:  # rendering back-ends are optional
        raise SystemExit(
            f"snn-rl: cannot render {env_id} ({err}); pip install 'snn-rl[render]'"
        ) from err
    frames, returns = [], []
    for episode in range(args.episodes):
        obs, _ = env.reset(seed=args.seed + episode)
        state, total, start = None, 0.0, True
        for _ in range(args.max_steps):
            action, state = agent.predict(
                obs, state=state, episode_start=[start], deterministic=True
            )
            start = False
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            if mode == "rgb_array":
                frames.append(env.render())
            if terminated or truncated:
                break
        returns.append(total)
        print(f"episode {episode}: return {total:.1f}")
    env.close()
    if args.output:
        _write_gif(frames, args.output)
        print(f"wrote {len(frames)} frames to {args.output}")
    return 0


def _write_gif(frames: list, path: Path) -> None:
    if path.suffix.lower() != ".gif":
        raise SystemExit(f"snn-rl: --output must end in .gif, got {path}")
    try:
        from PIL import Image
    except ImportError as err:
        raise SystemExit(
            "snn-rl: writing a gif needs Pillow; pip install 'snn-rl[render]'"
        ) from err
    images = [Image.fromarray(f) for f in frames[::2]]
    atomic_write(
        path,
        lambda tmp: images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=40, loop=0
        ),
    )


def cmd_compare(args: argparse.Namespace) -> int:
    from snn_rl.agents.compare import compare

    output = args.output or Path("runs") / f"compare_{args.env_id.replace('/', '_')}"
    check_output_dir(output, "--output")
    try:
        compare(
            args.env_id,
            args.algos,
            args.seeds,
            output=output,
            total_timesteps=args.total_timesteps,
            eval_freq=args.eval_freq,
            eval_episodes=args.eval_episodes,
            n_jobs=args.n_jobs,
            backend=args.backend,
            ray_address=args.ray_address,
            threshold=args.threshold,
            device=args.device,
            max_episode_steps=args.max_episode_steps,
            tuned=not args.no_tuned,
            plot=not args.no_plot,
            verbose=not args.quiet,
        )
    except ImportError as err:
        raise SystemExit(f"snn-rl compare: error: {err}") from err
    print("\n" + (output / "summary.md").read_text())
    print(f"wrote {output}/summary.csv, summary.md" + ("" if args.no_plot else ", curves.png"))
    return 0


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "enjoy": cmd_enjoy,
    "compare": cmd_compare,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command](args)
    except (ValueError, TypeError, KeyError, OSError, RuntimeError) as err:
        print(f"snn-rl {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
