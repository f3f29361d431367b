"""Agent checkpoints: one code-free file per agent, versioned.

A checkpoint is a dict of tensors and plain Python values written with ``torch.save`` and
read with ``torch.load(weights_only=True)``, so loading runs no pickled code: the format
name and version, the agent's registry name, the env id, the spaces, the seed, counters and
RNG states, the configuration as plain data, whether a user network or reward function has
to be passed again, and the learned state (``SpikingAgent.get_parameters()``). A checkpoint
of another format version is refused with a message naming it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

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
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "snn-rl-agent"
CHECKPOINT_VERSION = 2
PARTS = ("policy", "critic", "learners")


def save_checkpoint(agent: SpikingAgent, path: str | os.PathLike) -> Path:
    """Write ``agent``'s checkpoint to ``path`` atomically; returns the path written."""
    path = Path(path)
    if path.suffix == "":
        path = path.with_suffix(".zip")
    data = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "snn_rl_version": __version__,
        "algo": agent.algo_name,
        "env_id": agent.env_id,
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
    atomic_write(path, lambda tmp: torch.save(data, tmp))
    return path


def read_checkpoint(path: str | os.PathLike, device: torch.device) -> dict:
    """The checkpoint dict at ``path`` (``.zip`` added when missing), checked for its format."""
    path = Path(path)
    if not path.exists() and path.suffix == "":
        path = path.with_suffix(".zip")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        data = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not an snn-rl checkpoint readable here: {err}") from err
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an snn-rl agent checkpoint")
    version = data.get("format_version")
    if version != CHECKPOINT_VERSION:
        hint = (
            " (written by snn-rl before agents were built from parts; retrain, or load it "
            "with that version)"
            if version == 1
            else ""
        )
        raise ValueError(
            f"{path} has checkpoint format {version}{hint}; this snn-rl reads format "
            f"{CHECKPOINT_VERSION}"
        )
    return data


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
        raise ValueError(
            f"{path} holds a {data['algo']!r} agent, which is not registered here "
            f"(registered: {sorted(AGENTS)}); register_agent it before loading"
        )
    if not issubclass(saved, cls):
        raise ValueError(f"{path} holds a {saved.__name__}, not a {cls.__name__}")
    if data["custom"]["network"] and network is None:
        raise ValueError("this agent was saved with a user network; pass network=... to load()")
    config_data = dict(data["config"])
    if data["custom"]["reward"]:
        if reward is None:
            raise ValueError(
                "this agent was saved with a custom reward function; pass reward=... to load()"
            )
        config_data["reward"] = make_reward_function(reward)
    agent = saved(
        None,
        config=saved.config_class.from_dict(config_data),
        network=network,
        device=dev,
        seed=int(data["seed"]),
        verbose=verbose,
        observation_space=space_from_dict(data["observation_space"]),
        action_space=space_from_dict(data["action_space"]),
    )
    agent.env_id = data["env_id"]
    agent.set_parameters({k: data[k] for k in PARTS})
    agent.num_timesteps = int(data["num_timesteps"])
    agent._episodes = int(data["episode_num"])
    agent.generator.set_state(data["rng"]["explore"].cpu())
    agent._seed_generator.set_state(data["rng"]["env_seed"].cpu())
    if env is not None:
        agent.set_env(env)
        agent.policy.network.reset_state(batch_size=agent.n_envs)
        for learner in agent.learners:
            learner.reset()
    return agent
