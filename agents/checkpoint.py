"""Agent checkpoints: one code-free, versioned, verified file per agent.

The file is a zip archive of two members: ``snn-rl.json`` (the format name and version, the
SHA-256 digest and size of the payload) and ``checkpoint.pt``, the payload: a dict of tensors
and plain Python values written with ``torch.save`` and read with
``torch.load(weights_only=True)``, so loading runs no pickled code. The payload holds the
agent's registry name, the env id, the spaces, the seed, counters and RNG states, the
configuration as plain data, whether a user network or reward function has to be passed
again, and the learned state (``SpikingAgent.get_parameters()``).

Reading checks, in order, the archive (zip CRCs), the header, the payload's size and digest,
the payload's keys, the spaces and the configuration; the loaded parameters are then checked
for shape and finiteness against the agent before any is assigned. Every failure is a
:class:`CheckpointError` naming the file. A checkpoint of another format version is refused
with a message naming it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from snn_rl import __version__
from snn_rl.agents._io import atomic_write
from snn_rl.agents.env_util import resolve_device
from snn_rl.agents.registry import AGENTS, agent_class
from snn_rl.agents.spaces import space_from_dict, space_to_dict
from snn_rl.envs.rewards import FunctionReward, make_reward_function

if TYPE_CHECKING:
    from snn_rl.agents.base import SpikingAgent

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "READABLE_VERSIONS",
    "load_checkpoint",
    "read_checkpoint",
    "restore_progress",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "snn-rl-agent"
CHECKPOINT_VERSION = 3
#: Formats this version reads. Format 2 predates the feature-layer settings ``w_spread``,
#: ``winners`` and ``network.feature_skip``: its configs get the values that reproduce the
#: network it was saved with (0, None, False) instead of today's defaults.
READABLE_VERSIONS = (2, 3)
PARTS = ("policy", "critic", "learners")
HEADER, PAYLOAD = "snn-rl.json", "checkpoint.pt"
REQUIRED = (
    "algo",
    "env_id",
    "observation_space",
    "action_space",
    "seed",
    "num_timesteps",
    "episode_num",
    "rng",
    "config",
    "custom",
    *PARTS,
)


class CheckpointError(ValueError):
    """A file that is not a readable snn-rl checkpoint (damaged, foreign or of another format)."""


def save_checkpoint(agent: SpikingAgent, path: str | os.PathLike) -> Path:
    """Write ``agent``'s checkpoint to ``path`` atomically; returns the path written."""
    path = Path(path)
    if path.suffix == "":
        path = path.with_suffix(".zip")
    for key, value in agent.env_kwargs.items():
        if not _plain(value):
            raise ValueError(
                f"env_kwargs[{key!r}] (a {type(value).__name__}) cannot be saved: a checkpoint "
                "holds only strings, numbers, booleans, None, lists and mappings of them"
            )
    data = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "snn_rl_version": __version__,
        "algo": agent.algo_name,
        "env_id": agent.env_id,
        "env_kwargs": agent.env_kwargs,
        "max_episode_steps": agent.max_episode_steps,
        "observation_space": space_to_dict(agent.observation_space),
        "action_space": space_to_dict(agent.action_space),
        "seed": agent.seed,
        "num_timesteps": agent.num_timesteps,
        "episode_num": agent._episode_num,
        "rng": {
            "explore": agent.generator.get_state(),
            "env_seed": agent._seed_generator.get_state(),
        },
        "config": agent.config.to_dict(),
        "custom": {
            "network": agent._custom_network,
            "reward": isinstance(agent.reward_function, FunctionReward),
        },
        **agent.get_parameters(),
    }
    buffer = io.BytesIO()
    torch.save(data, buffer)
    payload = buffer.getvalue()
    header = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "snn_rl_version": __version__,
        "payload": PAYLOAD,
        "size": len(payload),
        "sha256": _digest(payload),
    }

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(HEADER, json.dumps(header, indent=1))
            archive.writestr(PAYLOAD, payload)

    atomic_write(path, write)
    return path


def read_checkpoint(path: str | os.PathLike, device: torch.device) -> dict:
    """The checkpoint dict at ``path`` (``.zip`` added when missing), verified (see the module
    docstring); :class:`CheckpointError` naming the file otherwise."""
    path = Path(path)
    if not path.exists() and path.suffix == "":
        path = path.with_suffix(".zip")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if HEADER not in names:
                return _older_format(path, names, device)
            header = json.loads(archive.read(HEADER))
            payload = archive.read(PAYLOAD)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, OSError, EOFError) as err:
        raise CheckpointError(f"{path} is damaged or not an snn-rl checkpoint ({err})") from err
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} has a damaged header ({err})") from err
    if not isinstance(header, dict) or header.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an snn-rl agent checkpoint")
    _check_version(path, header.get("format_version"))
    if header.get("size") != len(payload) or header.get("sha256") != _digest(payload):
        raise CheckpointError(
            f"{path} is corrupted: its content does not match the digest written with it"
        )
    try:
        data = torch.load(io.BytesIO(payload), map_location=device, weights_only=True)
    except Exception as err:  # the digest matched: written by another, incompatible torch
        raise CheckpointError(f"{path} cannot be read by this torch ({err})") from err
    missing = [key for key in REQUIRED if not isinstance(data, dict) or key not in data]
    if missing:
        raise CheckpointError(f"{path} is not a complete agent checkpoint: it lacks {missing}")
    return data


def _digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _check_version(path: Path, version: Any) -> None:
    if version in READABLE_VERSIONS:
        return
    hint = (
        " (written by snn-rl before agents were built from parts; retrain, or load it with "
        "that version)"
        if version == 1
        else ""
    )
    raise CheckpointError(
        f"{path} has checkpoint format {version}{hint}; this snn-rl reads formats "
        f"{', '.join(map(str, READABLE_VERSIONS))}"
    )


def _older_format(path: Path, names: list[str], device: torch.device) -> dict:
    """A torch archive without our header: a format-1 checkpoint, or not ours at all."""
    if not any(name.endswith("data.pkl") for name in names):
        raise CheckpointError(f"{path} is not an snn-rl agent checkpoint")
    try:
        data = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is damaged or not an snn-rl checkpoint ({err})") from err
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an snn-rl agent checkpoint")
    _check_version(path, data.get("format_version"))
    raise CheckpointError(f"{path} lacks the header of format {CHECKPOINT_VERSION}")


def load_checkpoint(
    cls: type[SpikingAgent],
    path: str | os.PathLike,
    env: Any = None,
    *,
    device: str | torch.device,
    network: Any,
    reward: Any,
    verbose: int,
) -> SpikingAgent:
    """The agent of the checkpoint at ``path`` (see :meth:`SpikingAgent.load`)."""
    dev = resolve_device(device)
    data = read_checkpoint(path, dev)
    saved = agent_class(data["algo"]) if data["algo"] in AGENTS else None
    if saved is None:
        raise CheckpointError(
            f"{path} holds a {data['algo']!r} agent, which is not registered here "
            f"(registered: {sorted(AGENTS)}); register_agent it before loading"
        )
    if not issubclass(saved, cls):
        raise CheckpointError(f"{path} holds a {saved.__name__}, not a {cls.__name__}")
    custom = data["custom"]
    if not isinstance(custom, dict) or set(custom) != {"network", "reward"}:
        raise CheckpointError(
            f"{path}: 'custom' must say whether the network and reward are the user's"
        )
    if data["custom"]["network"] and network is None:
        raise ValueError("this agent was saved with a user network; pass network=... to load()")
    config_data = dict(data["config"]) if isinstance(data["config"], dict) else data["config"]
    if data.get("format_version") == 2 and isinstance(config_data, dict):
        config_data = _feature_settings_of_format_2(config_data)
    if data["custom"]["reward"]:
        if reward is None:
            raise ValueError(
                "this agent was saved with a custom reward function; pass reward=... to load()"
            )
        config_data["reward"] = make_reward_function(reward)
    try:
        config = saved.config_class.from_dict(config_data)
        spaces = space_from_dict(data["observation_space"]), space_from_dict(data["action_space"])
    except (ValueError, TypeError, KeyError) as err:
        raise CheckpointError(f"{path}: {err}") from err
    agent = saved(
        None,
        config=config,
        network=network,
        device=dev,
        seed=int(data["seed"]),
        verbose=verbose,
        observation_space=spaces[0],
        action_space=spaces[1],
    )
    agent.env_id = data["env_id"]
    agent.env_kwargs = _env_kwargs(path, data.get("env_kwargs", {}))
    limit = data.get("max_episode_steps")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise CheckpointError(f"{path}: max_episode_steps must be a positive int, got {limit!r}")
    agent.max_episode_steps = limit
    try:
        agent.set_parameters({k: data[k] for k in PARTS})
    except (ValueError, TypeError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"{path}: {err}") from err
    return restore_progress(agent, data["num_timesteps"], data["episode_num"], data["rng"], env)


def restore_progress(
    agent: SpikingAgent, num_timesteps: Any, episode_num: Any, rng: Mapping, env: Any
) -> SpikingAgent:
    """Put a loaded agent back where it was saved: its step and episode counts and RNG
    streams; with ``env``, attached to it with fresh per-episode state (network, traces)."""
    agent.num_timesteps, agent._episodes = int(num_timesteps), int(episode_num)
    agent.generator.set_state(rng["explore"].cpu())
    agent._seed_generator.set_state(rng["env_seed"].cpu())
    if env is not None:
        agent.set_env(env)
        agent.policy.network.reset_state(batch_size=agent.n_envs)
        for learner in agent.learners:
            learner.reset()
    return agent


def _feature_settings_of_format_2(config: dict) -> dict:
    """A format-2 config with the feature-layer settings its network was built with (added in
    format 3 with other defaults): all weights at ``w_init``, no competition, no skip."""
    features = config.get("features")
    if not features:
        return config
    config = dict(config)
    config["features"] = [
        {"w_spread": 0.0, "winners": None, **f} if isinstance(f, dict) else f for f in features
    ]
    network = config.get("network")
    if isinstance(network, dict):
        config["network"] = {"feature_skip": False, **network}
    return config


def _plain(value: Any) -> bool:
    """Whether ``value`` is made of what the checkpoint can hold without pickled code."""
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _env_kwargs(path: Path, value: Any) -> dict:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise CheckpointError(f"{path}: env_kwargs must be a mapping of names, got {value!r}")
    return dict(value)


def check_parameters(part: str, saved: Any, current: Mapping[str, Tensor] | None) -> None:
    """Every tensor of loaded parameters ``saved`` finite and, where ``current`` is given,
    with its keys and shapes; ValueError naming ``part`` and the key otherwise."""
    if not isinstance(saved, Mapping):
        raise ValueError(f"{part} parameters must be a mapping, got {type(saved).__name__}")
    if current is not None:
        if set(saved) != set(current):
            raise ValueError(
                f"{part} parameters have keys {sorted(saved)}, this agent's are {sorted(current)}"
            )
        for key, value in current.items():
            got = saved[key]
            if not isinstance(got, Tensor) or got.shape != value.shape:
                shape = tuple(got.shape) if isinstance(got, Tensor) else type(got).__name__
                raise ValueError(
                    f"{part} parameter {key!r} has shape {shape}, this agent's is "
                    f"{tuple(value.shape)}"
                )
    for key, value in _tensors(saved):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ValueError(f"{part} parameter {key} holds NaN or inf")


def _tensors(tree: Any, prefix: str = "") -> list[tuple[str, Tensor]]:
    if isinstance(tree, Tensor):
        return [(prefix or "value", tree)]
    if isinstance(tree, Mapping):
        return [
            t for k, v in tree.items() for t in _tensors(v, f"{prefix}.{k}" if prefix else str(k))
        ]
    if isinstance(tree, list | tuple):
        return [t for i, v in enumerate(tree) for t in _tensors(v, f"{prefix}[{i}]")]
    return []
