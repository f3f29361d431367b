"""NIR export and import of spiking agents (the Neuromorphic Intermediate Representation).

:func:`export_nir` writes an agent's policy network as a NIR graph (an HDF5 file that
``nir.read`` opens; the mapping is :mod:`snn_rl.agents.nir_graph`'s) and everything NIR has
no primitive for into the graph's metadata ``"snn_rl"``: the learning rules and their
hyperparameters, their state (eligibility traces), the critic, the configuration, the
encoder and decoder settings, the env id, the spaces, counters and RNG states. NIR's HDF5
writer keeps strings, numbers and arrays, so each record is a JSON string in which a tensor
is ``{"tensor": key, "shape", "dtype"}`` with its flat values under ``tensors/<key>``
(``docs/nir.md``). :func:`import_nir` reads such a file back into a trainable agent of the
same class.

Example:
    >>> import tempfile
    >>> import nir
    >>> from snn_rl.agents import MSTDPETAgent
    >>> from snn_rl.agents.nir_export import import_nir
    >>> agent = MSTDPETAgent("CartPole-v1", n_envs=1, seed=0, device="cpu",
    ...                      overrides={"network.neuron.v_min": None})
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = agent.export_nir(f"{tmp.name}/cartpole")
    >>> graph = nir.read(path)
    >>> {name: type(node).__name__ for name, node in sorted(graph.nodes.items())}
    {'conn_output': 'Linear', 'input': 'Input', 'output': 'Output', 'pop_output_post': 'LIF', 'pop_output_pre': 'IF'}
    >>> round(float(graph.nodes["pop_output_post"].tau[0]), 12)  # dt / (1 - decay_v) = 1e-4 / 0.2
    0.0005
    >>> copy = import_nir(path)
    >>> obs = [0.01, -0.2, 0.03, 0.1]
    >>> int(copy.predict(obs, deterministic=True)[0]) == int(agent.predict(obs, deterministic=True)[0])
    True
    >>> tmp.cleanup()
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from snn_rl.agents._io import atomic_write, check_output_dir
from snn_rl.agents.checkpoint import restore_progress
from snn_rl.agents.env_util import resolve_device
from snn_rl.agents.nir_graph import (
    METADATA_KEY,
    NIR_FORMAT,
    NIR_FORMAT_VERSION,
    network_from_nir,
    network_to_nir,
    require_nir,
)
from snn_rl.agents.registry import AGENTS, agent_class
from snn_rl.agents.spaces import space_from_dict, space_to_dict
from snn_rl.envs.rewards import FunctionReward, make_reward_function

if TYPE_CHECKING:
    from snn_rl.agents.base import SpikingAgent

__all__ = ["check_nir_target", "export_nir", "import_nir"]


# ------------------------------------------------------------------- tensors in metadata
def _encode(tree: Any, tensors: dict[str, np.ndarray]) -> Any:
    """JSON-able ``tree``; each tensor becomes ``{"tensor": key, "shape", "dtype"}`` and its
    flat values ``tensors[key]`` (HDF5 cannot compress 0-d or empty datasets)."""
    if isinstance(tree, Tensor):
        key, arr = f"t{len(tensors)}", tree.detach().cpu().numpy()
        if arr.size:
            tensors[key] = arr.reshape(-1).copy()
        return {"tensor": key, "shape": list(arr.shape), "dtype": str(tree.dtype).split(".")[-1]}
    if isinstance(tree, Mapping):
        return {str(k): _encode(v, tensors) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [_encode(v, tensors) for v in tree]
    if tree is None or isinstance(tree, bool | int | float | str):
        return tree
    raise TypeError(f"cannot write a {type(tree).__name__} into NIR metadata")


def _decode(
    tree: Any, tensors: Mapping[str, np.ndarray], device: torch.device | None = None
) -> Any:
    """The tree :func:`_encode` wrote, its tensors on ``device`` (default: the CPU)."""
    if isinstance(tree, dict) and set(tree) == {"tensor", "shape", "dtype"}:
        dtype, key = getattr(torch, tree["dtype"]), tree["tensor"]
        if key not in tensors:
            return torch.zeros(tree["shape"], dtype=dtype, device=device)
        flat = torch.as_tensor(np.asarray(tensors[key]))
        return flat.to(device=device, dtype=dtype).reshape(tree["shape"])
    if isinstance(tree, dict):
        return {k: _decode(v, tensors, device) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_decode(v, tensors, device) for v in tree]
    return tree


# ------------------------------------------------------------------------- agent export
def _agent_metadata(agent: SpikingAgent) -> dict[str, Any]:
    """The agent's part of the ``snn_rl`` metadata (``docs/nir.md``)."""
    policy, config, tensors = agent.policy, agent.config.to_dict(), {}
    weights = {f"network.connections.{name}.weight" for name in policy.network.roles}
    params = agent.get_parameters()
    record = {
        "algo": agent.algo_name,
        "class": type(agent).__name__,
        "env_id": agent.env_id,
        "env_kwargs": agent.env_kwargs,
        "max_episode_steps": agent.max_episode_steps,
        "seed": agent.seed,
        "num_timesteps": agent.num_timesteps,
        "episode_num": agent._episode_num,
        "observation_space": space_to_dict(agent.observation_space),
        "action_space": space_to_dict(agent.action_space),
        "custom": {
            "network": agent._custom_network,
            "reward": isinstance(agent.reward_function, FunctionReward),
        },
    }
    encoder = {"class": type(policy.encoder).__name__, "out_features": policy.encoder.out_features}
    if "encoder" in config:
        encoder["settings"] = config["encoder"]
    decoder = {
        "class": type(policy.decoder).__name__,
        "n_actions": policy.n_actions,
        "pop_size": policy.pop_size,
        "output_layer": policy.output_layer,
        "decision_steps": policy.decision_steps,
        "feedback_steps": policy.feedback_steps,
        "feedback_current": policy.feedback_current,
        "tie_break_scale": policy.tie_break_scale,
    }
    if "exploration" in config:
        decoder["exploration"] = config["exploration"]
    learning = [
        {
            "role": learner.role,
            "rule": type(learner.rule).__name__,
            "layers": learner.layer_names,
            "per_env": getattr(learner.rule, "per_env", None),
            "param_groups": state["param_groups"],
        }
        for learner, state in zip(agent.learners, params["learners"], strict=True)
    ]
    state = {
        "policy": {k: v for k, v in params["policy"].items() if k not in weights},
        "critic": params["critic"],
        "learners": params["learners"],
        "rng": {
            "explore": agent.generator.get_state(),
            "env_seed": agent._seed_generator.get_state(),
        },
    }
    out = {
        key: json.dumps(_encode(value, tensors))
        for key, value in (
            ("agent", record),
            ("config", config),
            ("encoder", encoder),
            ("decoder", decoder),
            ("learning", learning),
            ("state", state),
        )
    }
    out["env_id"] = agent.env_id or ""
    out["tensors"] = tensors
    return out


def check_nir_target(path: str | os.PathLike, option: str = "path") -> Path:
    """``path`` with ``.nir`` added when it has no suffix, after checking that a NIR file can
    be written there: the ``nir`` package is installed (ImportError) and the folder is
    writable (created if missing; ValueError naming ``option`` otherwise)."""
    require_nir()
    path = Path(path)
    if path.suffix == "":
        path = path.with_suffix(".nir")
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder; give a file name")
    check_output_dir(path.parent, option)
    return path


def export_nir(agent: SpikingAgent, path: str | os.PathLike, *, strict: bool = False) -> Path:
    """Write ``agent``'s policy network and its learning state as one NIR file, atomically.

    ``.nir`` is added when ``path`` has no suffix. Approximations (the ``v_min`` floor) are
    warned about and listed in the metadata; ``strict=True`` raises instead. Returns the path.

    Raises:
        ValueError: a part of the network NIR cannot express, or a path that cannot be written.
    """
    path = check_nir_target(path)
    graph = network_to_nir(agent.policy.network, strict=strict)
    meta = graph.metadata[METADATA_KEY]
    meta.update(_agent_metadata(agent))
    for note in json.loads(meta["approximations"]):
        warnings.warn(f"NIR export approximates: {note}", UserWarning, stacklevel=2)
    atomic_write(path, lambda tmp: require_nir().write(tmp, graph))
    return path


def _read_metadata(path: Path) -> tuple[Any, dict[str, Any]]:
    nir = require_nir()
    try:
        graph = nir.read(path)
    except (OSError, KeyError, ValueError, TypeError, AssertionError) as err:
        raise ValueError(f"{path} is not a readable NIR file ({err})") from err
    meta = graph.metadata.get(METADATA_KEY) if isinstance(graph.metadata, dict) else None
    if meta is None or meta.get("format") != NIR_FORMAT:
        raise ValueError(
            f"{path} holds no snn_rl metadata; read its network with network_from_nir(nir.read(path))"
        )
    if int(meta.get("format_version", -1)) != NIR_FORMAT_VERSION:
        raise ValueError(
            f"{path} has snn-rl NIR format {meta.get('format_version')}; this snn-rl reads "
            f"format {NIR_FORMAT_VERSION}"
        )
    if "agent" not in meta:
        raise ValueError(f"{path} holds a network without an agent; use network_from_nir")
    return graph, meta


def import_nir(
    path: str | os.PathLike,
    env: Any = None,
    *,
    device: str | torch.device = "auto",
    reward: Any = None,
    verbose: int = 0,
) -> SpikingAgent:
    """The trainable agent of a file written by :func:`export_nir`.

    The network is rebuilt from the graph (weights from its connection nodes); the agent
    class, configuration, spaces, critic, learners' state (eligibility traces), counters and
    RNG states from the metadata, so it predicts as the exported agent did and ``learn``
    continues as that agent's would.

    Args:
        env: the env to continue on (its spaces must equal the saved ones), or None.
        reward: required when the agent was exported with a custom reward function.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no NIR file at {path}")
    graph, meta = _read_metadata(path)
    tensors = meta.get("tensors", {})
    info = _decode(json.loads(meta["agent"]), tensors)
    if info["algo"] not in AGENTS:
        raise ValueError(
            f"{path} holds a {info['algo']!r} agent, which is not registered here "
            f"(registered: {sorted(AGENTS)})"
        )
    cls = agent_class(info["algo"])
    config_data = json.loads(meta["config"])
    if info["custom"]["reward"]:
        if reward is None:
            raise ValueError("this agent was exported with a custom reward function; pass reward=")
        config_data["reward"] = make_reward_function(reward)
    dev = resolve_device(device)
    agent = cls(
        None,
        config=cls.config_class.from_dict(config_data),
        network=network_from_nir(graph),
        device=dev,
        seed=int(info["seed"]),
        verbose=verbose,
        observation_space=space_from_dict(info["observation_space"]),
        action_space=space_from_dict(info["action_space"]),
    )
    agent._custom_network = bool(info["custom"]["network"])
    agent.env_id, agent.env_kwargs = info["env_id"], dict(info.get("env_kwargs") or {})
    agent.max_episode_steps = info.get("max_episode_steps")
    state = _decode(json.loads(meta["state"]), tensors, dev)
    policy = {**agent.policy.state_dict(), **state["policy"]}
    agent.set_parameters(
        {"policy": policy, "critic": state["critic"], "learners": state["learners"]}
    )
    return restore_progress(agent, info["num_timesteps"], info["episode_num"], state["rng"], env)
