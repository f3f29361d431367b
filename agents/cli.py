"""The ``snn-rl`` command line: ``train``, ``evaluate``, ``enjoy``, ``compare``, ``inspect``,
``export``, ``tune``.

Examples::

    snn-rl train CartPole-v1                      # tuned defaults, saves runs/CartPole-v1/model.zip
    snn-rl train CartPole-v1 --set rule.lr=0.02 critic.gamma=0.99 --config my.yml
    snn-rl train CartPole-v1 --save-freq 10000 --tensorboard-log runs/tb   # + progress.csv, curves.png
    snn-rl train CartPole-v1 --resume runs/CartPole-v1/model.zip --total-timesteps 50000
    snn-rl train FrozenLake-v1 --env-kwargs is_slippery=false
    snn-rl evaluate runs/CartPole-v1/model.zip --env CartPole-v1 --episodes 100 --json
    snn-rl enjoy runs/CartPole-v1/model.zip --output cartpole.mp4
    snn-rl compare CartPole-v1 --algos mstdpet ppo --seeds 0 1 2 --output runs/compare
    snn-rl inspect runs/CartPole-v1/model.zip     # spike pictures in runs/CartPole-v1/inspect/
    snn-rl export runs/CartPole-v1/model.zip --nir cartpole.nir
    snn-rl tune CartPole-v1 --n-trials 20 --n-timesteps 20000 --storage sqlite:///tune.db
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
from snn_rl.agents._io import atomic_write, check_output_dir

DEFAULT_TIMESTEPS = 100_000
LIMIT_HELP = (
    "episode cap of training and evaluation (default: the env's time limit; an env without "
    "one is capped at 1000 steps, with a warning)"
)

THREADS_HELP = (
    "torch CPU threads (default 1: the agents' small networks gain nothing from more, and "
    "extra threads contend on a busy machine; compare and tune use 1 as well)"
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
    train.add_argument(
        "--seeds",
        type=_non_negative_int,
        nargs="+",
        default=None,
        help="train one agent per seed as one batched population (instead of --seed); each "
        "agent's files go to OUTPUT/seed_<seed>/",
    )
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
    train.add_argument(
        "--env-kwargs",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="keyword arguments of the env (YAML values), e.g. is_slippery=false; saved "
        "with the model, so evaluate and enjoy use them too",
    )
    train.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="MODEL",
        help="continue training a saved model (its configuration, weights and step count) "
        "for --total-timesteps more env steps",
    )
    train.add_argument("--output", type=Path, default=None, help="folder (default runs/ENV_ID)")
    train.add_argument(
        "--eval-episodes", type=_positive_int, default=100, help="episodes of the final evaluation"
    )
    train.add_argument(
        "--eval-freq",
        type=_non_negative_int,
        default=10_000,
        help="env steps between the evaluations of the learning curve (progress.csv, "
        "curves.png); 0: none",
    )
    train.add_argument(
        "--curve-episodes", type=_positive_int, default=10, help="episodes per curve point"
    )
    train.add_argument(
        "--save-freq",
        type=_non_negative_int,
        default=0,
        help="env steps between checkpoints in OUTPUT/checkpoints/ (0: only the final model)",
    )
    train.add_argument(
        "--weight-images",
        type=_non_negative_int,
        default=0,
        metavar="STEPS",
        help="env steps between PNG mosaics of the feature layers' weights in OUTPUT/weights/ "
        "(0: none)",
    )
    train.add_argument(
        "--tensorboard-log", type=Path, default=None, metavar="DIR", help="TensorBoard log folder"
    )
    train.add_argument(
        "--track",
        action="store_true",
        help="log the run to Weights & Biases (needs wandb; syncs the TensorBoard log, which "
        "defaults to OUTPUT/tensorboard)",
    )
    train.add_argument("--wandb-project", default="snn-rl", help="W&B project of --track")
    train.add_argument("--max-episode-steps", type=_positive_int, default=None, help=LIMIT_HELP)
    train.add_argument("--threads", type=_positive_int, default=1, help=THREADS_HELP)
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
    ev.add_argument("--threads", type=_positive_int, default=1, help=THREADS_HELP)
    ev.add_argument("--progress", action="store_true", help="a progress bar over episodes")
    ev.add_argument("--json", action="store_true", help="print JSON")

    enjoy = sub.add_parser("enjoy", help="watch a saved agent (screen, or a .mp4 or .gif file)")
    enjoy.add_argument("model", type=Path)
    enjoy.add_argument("--env", dest="env_id", default=None)
    enjoy.add_argument("--episodes", type=_positive_int, default=1)
    enjoy.add_argument("--seed", type=_non_negative_int, default=0)
    enjoy.add_argument(
        "--output", type=Path, default=None, help="write a video (.mp4 or .gif) instead of a window"
    )
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
    cmp.add_argument(
        "--no-batched",
        action="store_true",
        help="train a spiking agent's seeds as separate runs instead of one batched population",
    )
    cmp.add_argument("--backend", choices=("local", "ray"), default="local")
    cmp.add_argument("--ray-address", default=None, help="Ray cluster (default: RAY_ADDRESS)")
    cmp.add_argument("--device", default="cpu")
    cmp.add_argument("--output", type=Path, default=None, help="default runs/compare_ENV_ID")
    cmp.add_argument("--no-plot", action="store_true", help="skip curves.png")
    cmp.add_argument("--quiet", action="store_true", help="no line per evaluation")

    ins = sub.add_parser(
        "inspect", help="spike pictures of one episode of a saved agent (PNGs, docs/inspect.md)"
    )
    ins.add_argument("model", type=Path)
    ins.add_argument("--env", dest="env_id", default=None, help="env id (default: the saved one)")
    ins.add_argument("--seed", type=_non_negative_int, default=0, help="the episode's reset seed")
    ins.add_argument(
        "--max-steps", type=_positive_int, default=None, help="episode cap (default: the env's)"
    )
    ins.add_argument(
        "--windows",
        choices=("predict", "train"),
        default="predict",
        help="predict's read-out (default) or the training loop's step, efference copy and "
        "weight updates included (on a copy: the saved agent never changes)",
    )
    ins.add_argument("--stochastic", action="store_true", help="keep exploration on")
    ins.add_argument(
        "--raster-steps", type=_positive_int, default=12, help="env steps in raster.png"
    )
    ins.add_argument("--output", type=Path, default=None, help="folder (default MODEL_DIR/inspect)")
    ins.add_argument("--device", default="cpu")

    tn = sub.add_parser(
        "tune", help="tune a spiking agent's hyperparameters with Optuna (best.yml for train)"
    )
    tn.add_argument("env_id", help="Gymnasium env id, e.g. CartPole-v1")
    tn.add_argument("--algo", default="mstdpet", help="registered spiking agent (default: mstdpet)")
    tn.add_argument("--n-trials", type=_positive_int, default=20, help="trials this run adds")
    tn.add_argument(
        "--n-timesteps",
        type=_positive_int,
        default=None,
        help=f"env steps per trial (default: the tuned value, else {DEFAULT_TIMESTEPS})",
    )
    tn.add_argument("--sampler", choices=("tpe", "random"), default="tpe")
    tn.add_argument("--pruner", choices=("median", "none"), default="median")
    tn.add_argument(
        "--n-jobs", type=_positive_int, default=1, help="trial processes sharing the storage"
    )
    tn.add_argument(
        "--batch",
        type=_positive_int,
        default=1,
        help="trials trained together as one batched population (they share the parameters "
        "that change shapes, e.g. n_envs; default 1: each trial alone)",
    )
    tn.add_argument(
        "--storage",
        default=None,
        help="database URL of the study, e.g. sqlite:///study.db: reruns and other processes "
        "or machines with the same URL and study name add trials to it (default: in memory)",
    )
    tn.add_argument("--study-name", default=None, help="default ALGO-ENV_ID")
    tn.add_argument("--seed", type=_non_negative_int, default=0)
    tn.add_argument(
        "--eval-freq", type=_positive_int, default=None, help="env steps (default: budget / 5)"
    )
    tn.add_argument("--eval-episodes", type=_positive_int, default=10)
    tn.add_argument(
        "--n-startup-trials",
        type=_non_negative_int,
        default=10,
        help="random trials before TPE, and trials before the median pruner prunes",
    )
    tn.add_argument(
        "--no-tuned", action="store_true", help="trials start from the task-derived defaults"
    )
    tn.add_argument("--max-episode-steps", type=_positive_int, default=None, help=LIMIT_HELP)
    tn.add_argument("--output", type=Path, default=None, help="default runs/tune_ENV_ID")
    tn.add_argument("--device", default="cpu")
    tn.add_argument("--quiet", action="store_true", help="no line per trial")

    exp = sub.add_parser("export", help="write a saved agent's network as a NIR graph")
    exp.add_argument("model", type=Path)
    exp.add_argument(
        "--nir", type=Path, required=True, metavar="FILE", help="NIR file (.nir added if no suffix)"
    )
    exp.add_argument(
        "--strict", action="store_true", help="refuse approximations (the v_min voltage floor)"
    )
    exp.add_argument("--device", default="cpu")
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


def parse_assignments(items: Sequence[str], option: str, names: bool = False) -> dict:
    """``["rule.lr=0.02", "network.hidden_sizes=[32]"]`` -> ``{key: value}`` with the values
    read as YAML; ``names``: keys must be Python identifiers (keyword arguments). ValueError
    naming ``option`` otherwise."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not (key.isidentifier() if names else key):
            raise ValueError(f"{option} takes {'NAME' if names else 'KEY'}=VALUE, got {item!r}")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or err
            raise ValueError(f"{option} {item!r}: the value is not YAML ({problem})") from err
    return out


def _new_agent_settings(args: argparse.Namespace, total: int | None) -> tuple[dict, int]:
    """``(constructor keywords, budget)`` of a new train run: the agent's keyword arguments
    that one agent and a population of them share (overrides from --config and --set, the
    env and its keywords, device, ...), and the budget from --total-timesteps, the config
    file or the tuned entry."""
    from snn_rl.agents.registry import tuned_settings

    env_kwargs = parse_assignments(args.env_kwargs, "--env-kwargs", names=True)
    overrides = _load_config(args.config)
    file_budget = overrides.pop("n_timesteps", None)
    overrides.update(parse_assignments(args.set, "--set"))
    tuned_budget = None if args.no_tuned else tuned_settings(args.algo, args.env_id)[1]
    total = next(
        (int(t) for t in (total, file_budget, tuned_budget) if t is not None), DEFAULT_TIMESTEPS
    )
    kwargs = {
        "overrides": overrides,
        "n_envs": args.n_envs,
        "reward": args.reward,
        "device": args.device,
        "verbose": args.verbose,
        "max_episode_steps": args.max_episode_steps,
        "env_kwargs": env_kwargs,
        "tuned": not args.no_tuned,
    }
    return kwargs, total


def _train_agent(args: argparse.Namespace, total: int | None):
    """The agent of a train run: a new one, or the ``--resume`` model; and its budget."""
    from snn_rl.agents import SpikingAgent
    from snn_rl.agents.registry import agent_class

    if args.resume is not None:
        env_kwargs = parse_assignments(args.env_kwargs, "--env-kwargs", names=True)
        given = _given_flags(
            ("--config", args.config),
            ("--set", args.set),
            ("--no-tuned", args.no_tuned),
            ("--reward", args.reward),
            ("--n-envs", args.n_envs),
            ("--env-kwargs", env_kwargs),
            ("--max-episode-steps", args.max_episode_steps),
        )
        if given:
            raise ValueError(
                f"--resume continues the saved model as it was configured; drop {', '.join(given)}"
            )
        agent = SpikingAgent.load(args.resume, device=args.device, verbose=args.verbose)
        if args.algo != "mstdpet" and args.algo != agent.algo_name:
            raise ValueError(
                f"--resume {args.resume} holds a {agent.algo_name!r} agent, not {args.algo!r}"
            )
        agent.set_env(args.env_id)
        return agent, DEFAULT_TIMESTEPS if total is None else total
    kwargs, total = _new_agent_settings(args, total)
    tensorboard_log = None if args.tensorboard_log is None else str(args.tensorboard_log)
    agent = agent_class(args.algo)(
        args.env_id, seed=args.seed, tensorboard_log=tensorboard_log, **kwargs
    )
    return agent, total


def _require_tensorboard() -> None:
    try:
        import tensorboard  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "--tensorboard-log needs tensorboard, an optional extra: pip install "
            "'snn-rl[tensorboard]'"
        ) from err


def _require_wandb():
    try:
        import wandb
    except ImportError as err:
        raise ImportError("--track needs Weights & Biases: pip install wandb") from err
    return wandb


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from snn_rl.agents.callbacks import PeriodicCheckpoint, WeightImages
    from snn_rl.agents.report import require_matplotlib

    torch.set_num_threads(args.threads)
    output = args.output or Path("runs") / args.env_id.replace("/", "_")
    check_output_dir(output, "--output")  # everything that can fail, before training
    if args.seeds:
        _check_seeds_flags(args)
    wandb = _require_wandb() if args.track else None
    if args.track and args.tensorboard_log is None:
        args.tensorboard_log = output / "tensorboard"
    if args.tensorboard_log is not None:
        _require_tensorboard()
        check_output_dir(args.tensorboard_log, "--tensorboard-log")
    plot = args.eval_freq > 0
    if plot:
        try:
            require_matplotlib()
        except ImportError as err:
            print(f"note: no curves.png ({err})")
            plot = False
    if args.seeds:
        return _train_seeds(args, output, plot)
    agent, total = _train_agent(args, args.total_timesteps)
    if args.resume is not None and args.tensorboard_log is not None:
        agent.tensorboard_log = str(args.tensorboard_log)
    seed = agent.seed if args.resume is not None else args.seed

    def record(rec: dict) -> None:
        agent.logger.record("eval/mean_reward", rec["mean_return"])
        agent.logger.record("eval/mean_ep_length", rec["mean_length"])
        agent.logger.dump(rec["timesteps"])  # as SB3's EvalCallback: one point per evaluation

    curve = _curve_callback(args, seed, output, record)
    callbacks = [] if curve is None else [curve]
    if args.save_freq > 0:
        callbacks.append(PeriodicCheckpoint(args.save_freq, output / "checkpoints"))
    if args.weight_images > 0:
        callbacks.append(WeightImages(args.weight_images, output / "weights"))
    print(
        f"{'resuming' if args.resume else 'training'} {type(agent).__name__} on {args.env_id} "
        f"for {total} env steps ({agent.n_envs} envs, device {agent.device}, seed {seed})"
    )
    run = None
    if wandb is not None:
        run = wandb.init(
            project=args.wandb_project,
            name=f"{args.env_id}__{agent.algo_name}__{seed}",
            config={**agent.config.to_dict(), "env_id": args.env_id, "n_timesteps": total},
            sync_tensorboard=True,
            dir=str(output),
        )
    start = time.perf_counter()
    try:
        agent.learn(
            total,
            callback=callbacks,
            progress_bar=not args.no_progress,
            reset_num_timesteps=args.resume is None,
        )
    finally:
        if run is not None:
            run.finish()
    train_s = curve.records[-1]["train_seconds"] if curve and curve.records else None
    train_s = time.perf_counter() - start if train_s is None else train_s
    _finish_run(agent, args, output, seed, total, curve, train_s, plot)
    return 0


def _curve_callback(args, seed: int, output: Path, record=None, clock=None):
    """The learning-curve evaluations of a train run (``--eval-freq``), or None: each point
    is written to ``output/progress.csv`` and passed to ``record``."""
    from snn_rl.agents.callbacks import ScheduledEvaluation
    from snn_rl.agents.evaluation import evaluate
    from snn_rl.agents.report import write_curve

    if args.eval_freq <= 0:
        return None

    def point(model):
        result = evaluate(
            model,
            args.env_id,
            n_episodes=args.curve_episodes,
            seed=10_000 + seed,
            env_kwargs=model.env_kwargs or None,
            max_episode_steps=model.max_episode_steps,
        )
        return result.returns, result.lengths

    def on_result(rec: dict) -> None:
        if record is not None:
            record(rec)
        write_curve(output / "progress.csv", curve.records)

    curve = ScheduledEvaluation(
        point,
        args.eval_freq,
        on_result=on_result,
        eval_at_start=True,
        eval_at_end=True,
        clock=clock,
    )
    return curve


def _given_flags(*pairs: tuple[str, object]) -> list[str]:
    """The flags of ``(flag, value)`` pairs that the user set (a value that is not empty)."""
    return [flag for flag, value in pairs if value]


def _check_seeds_flags(args: argparse.Namespace) -> None:
    given = _given_flags(
        ("--resume", args.resume),
        ("--save-freq", args.save_freq),
        ("--weight-images", args.weight_images),
        ("--tensorboard-log", args.tensorboard_log),
        ("--track", args.track),
    )
    if given:
        raise ValueError(
            f"--seeds trains a batched population, which does not take {', '.join(given)} yet; "
            "train the seeds one by one with --seed for those"
        )


def _train_seeds(args: argparse.Namespace, output: Path, plot: bool) -> int:
    """``train --seeds``: one batched population, then each member's files in
    ``output/seed_<seed>/`` as a single train run writes them, and all curves together."""
    from snn_rl.agents.population import AgentPopulation
    from snn_rl.agents.report import plot_curves

    kwargs, total = _new_agent_settings(args, args.total_timesteps)
    pop = AgentPopulation(args.env_id, args.seeds, agent=args.algo, **kwargs)
    folders = [output / f"seed_{s}" for s in pop.seeds]
    for folder in folders:
        check_output_dir(folder, "--output")
    curves = [
        _curve_callback(args, s, folder, clock=pop.training_clock)
        for s, folder in zip(pop.seeds, folders, strict=True)
    ]
    print(
        f"training {len(pop.seeds)} {type(pop.runner).__name__} agents (seeds {pop.seeds}) as one "
        f"batch on {args.env_id} for {total} env steps each ({pop.n_envs} envs per agent, "
        f"device {pop.device})"
    )
    pop.learn(total, callbacks=curves)
    means = []
    for member, folder, curve in zip(pop.members, folders, curves, strict=True):
        print(f"seed {member.seed}:")
        result = _finish_run(
            member, args, folder, member.seed, total, curve, pop.train_seconds, False
        )
        means.append(result.mean)
    if plot and all(c is not None and c.records for c in curves):
        records = {m.seed: c.records for m, c in zip(pop.members, curves, strict=True)}
        title = f"{type(pop.runner).__name__} on {args.env_id}, seeds {pop.seeds}"
        print(
            f"wrote {plot_curves({pop.runner.algo_name: records}, output / 'curves.png', title=title)}"
        )
    print(
        f"{len(means)} seeds trained together in {pop.train_seconds:.0f} s; final mean returns "
        + ", ".join(f"{m:.1f}" for m in means)
    )
    return 0


def _finish_run(
    agent, args, output: Path, seed: int, total: int, curve, train_s: float, plot: bool
):
    """Write a trained agent's files (model, config, curve, summary) and print its result."""
    from snn_rl.agents.evaluation import evaluate
    from snn_rl.agents.report import plot_curves

    path = agent.save(output / "model.zip")
    config_text = yaml.safe_dump({**agent.config.to_dict(), "n_timesteps": total}, sort_keys=False)
    atomic_write(output / "config.yml", lambda p: p.write_text(config_text))
    written = [path, output / "config.yml"]
    if curve is not None and curve.records:
        written.append(output / "progress.csv")
        if plot:
            title = f"{type(agent).__name__} on {args.env_id}, seed {seed}"
            written.append(
                plot_curves(
                    {agent.algo_name: {seed: curve.records}}, output / "curves.png", title=title
                )
            )
    result = evaluate(
        agent,
        args.env_id,
        n_episodes=args.eval_episodes,
        seed=10_000 + seed,
        progress_bar=not args.no_progress,
        env_kwargs=agent.env_kwargs or None,
        max_episode_steps=agent.max_episode_steps,
    )
    summary = {
        "env_id": args.env_id,
        "algo": agent.algo_name,
        "seed": seed,
        "total_timesteps": agent.num_timesteps,
        "train_seconds": round(train_s, 1),
        "model": str(path),
        **result.as_dict(),
    }
    text = json.dumps(summary, indent=2) + "\n"
    atomic_write(output / "summary.json", lambda p: p.write_text(text))
    written.append(output / "summary.json")
    print(f"trained to {agent.num_timesteps} env steps in {train_s:.0f} s (evaluations excluded)")
    print("wrote " + ", ".join(str(p) for p in written))
    print(
        f"evaluation over {result.returns.size} episodes: "
        f"mean return {result.mean:.1f} +/- {result.std:.1f}"
    )
    return result


def _load_agent(path: Path, device: str):
    from snn_rl.agents import SpikingAgent

    return SpikingAgent.load(path, device=device)


def _saved_env(agent, env_id: str | None) -> tuple[str, dict | None]:
    """The env to run a loaded agent on (``--env`` or the saved id) and its keyword
    arguments: the saved ones when it is the saved id."""
    env_id = env_id or agent.env_id
    if env_id is None:
        raise ValueError("the checkpoint names no env; pass --env ENV_ID")
    return env_id, (agent.env_kwargs or None) if env_id == agent.env_id else None


def cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from snn_rl.agents.evaluation import evaluate

    torch.set_num_threads(args.threads)
    agent = _load_agent(args.model, args.device)
    env_id, env_kwargs = _saved_env(agent, args.env_id)
    result = evaluate(
        agent,
        env_id,
        n_episodes=args.episodes,
        seed=args.seed,
        deterministic=not args.stochastic,
        env_kwargs=env_kwargs,
        max_episode_steps=args.max_episode_steps or agent.max_episode_steps,
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
    from snn_rl.agents.video import check_video_path, play

    if args.output is not None:
        check_video_path(args.output, "--output")  # before loading anything or playing
    agent = _load_agent(args.model, args.device)
    env_id, env_kwargs = _saved_env(agent, args.env_id)
    returns, frames = play(
        agent,
        env_id,
        episodes=args.episodes,
        seed=args.seed,
        max_steps=args.max_steps,
        output=args.output,
        env_kwargs=env_kwargs,
    )
    for episode, total in enumerate(returns):
        print(f"episode {episode}: return {total:.1f}")
    if args.output:
        print(f"wrote {frames} frames to {args.output}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from snn_rl.agents.compare import compare

    output = args.output or Path("runs") / f"compare_{args.env_id.replace('/', '_')}"
    check_output_dir(output, "--output")
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
        batched=not args.no_batched,
    )
    print("\n" + (output / "summary.md").read_text())
    print(f"wrote {output}/summary.csv, summary.md" + ("" if args.no_plot else ", curves.png"))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from snn_rl.agents.inspect_run import plot_episode, record_episode
    from snn_rl.agents.report import require_matplotlib

    require_matplotlib()  # before any work: "pip install 'snn-rl[plot]'" when missing
    output = args.output or args.model.parent / "inspect"
    check_output_dir(output, "--output")
    record = record_episode(
        _load_agent(args.model, args.device),
        args.env_id,
        seed=args.seed,
        max_steps=args.max_steps,
        deterministic=not args.stochastic,
        windows=args.windows,
    )
    paths = plot_episode(record, output, raster_steps=args.raster_steps)
    print(
        f"{record.env_id}, seed {record.seed}: {record.n_env_steps} env steps, return "
        f"{record.episode_return:g} ({args.windows} windows)"
    )
    print("wrote " + ", ".join(str(path) for path in paths))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import warnings

    from snn_rl.agents.nir_export import check_nir_target, export_nir

    target = check_nir_target(args.nir, "--nir")  # before loading anything
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = export_nir(_load_agent(args.model, args.device), target, strict=args.strict)
    for warning in caught:
        print(f"note: {warning.message}")
    print(f"wrote {path} (NIR graph; snn-rl's learning state in its metadata, docs/nir.md)")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from snn_rl.agents.tune import require_optuna, tune

    try:
        require_optuna()
    except ImportError as err:
        raise RuntimeError(str(err)) from None
    output = args.output or Path("runs") / f"tune_{args.env_id.replace('/', '_')}"
    check_output_dir(output, "--output")
    result = tune(
        args.env_id,
        args.algo,
        n_trials=args.n_trials,
        n_timesteps=args.n_timesteps,
        sampler=args.sampler,
        pruner=args.pruner,
        n_jobs=args.n_jobs,
        storage=args.storage,
        study_name=args.study_name,
        seed=args.seed,
        eval_freq=args.eval_freq,
        eval_episodes=args.eval_episodes,
        n_startup_trials=args.n_startup_trials,
        output=output,
        tuned=not args.no_tuned,
        max_episode_steps=args.max_episode_steps,
        device=args.device,
        verbose=not args.quiet,
        batch=args.batch,
    )
    if result.best_number is None:
        raise RuntimeError(
            f"no trial of the study completed (states in {result.trials_path}); widen the "
            "budget or the search space"
        )
    print(
        f"best trial {result.best_number}: mean return {result.best_value:.4g}; wrote "
        f"{result.best_path} and {result.trials_path}"
    )
    print(f"train it: snn-rl train {args.env_id} --algo {args.algo} --config {result.best_path}")
    return 0


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "enjoy": cmd_enjoy,
    "compare": cmd_compare,
    "inspect": cmd_inspect,
    "tune": cmd_tune,
    "export": cmd_export,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(f"snn-rl {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # every failure reaches the user as one line and exit code 2
        if os.environ.get("SNN_RL_DEBUG"):
            raise
        print(f"snn-rl {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2


def _one_line(err: BaseException) -> str:
    """The error as one line: its message, prefixed by its type where the message alone
    would not say what went wrong (set ``SNN_RL_DEBUG=1`` for the traceback)."""
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, ValueError | TypeError | OSError | ImportError | RuntimeError):
        return text
    return f"{type(err).__name__}: {text}"


if __name__ == "__main__":
    raise SystemExit(main())
