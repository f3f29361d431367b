"""Which Gymnasium spaces the spiking agents support, and their code-free serialisation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from snn_rl.encoding import image_layout

__all__ = ["check_spaces", "space_to_dict", "space_from_dict", "spaces_match"]

SUPPORTED = "Box (1-D; images (H, W), (H, W, C) or (C, H, W) as observations) or Discrete"


def check_spaces(observation_space: gym.spaces.Space, action_space: gym.spaces.Space) -> None:
    """Raise a clear error for spaces the agents cannot encode or decode."""
    for name, space in (("observation", observation_space), ("action", action_space)):
        if isinstance(space, gym.spaces.Discrete):
            continue
        if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
            if name == "action" and not np.all(np.isfinite(space.low) & np.isfinite(space.high)):
                raise ValueError(
                    "a Box action space needs finite bounds for the population read-out"
                )
            continue
        if name == "observation" and isinstance(space, gym.spaces.Box) and len(space.shape) > 1:
            if len(space.shape) > 3:
                image_layout(space.shape)  # raises, naming the shape and the wrapper to use
            continue
        raise ValueError(
            f"unsupported {name} space {space}: spiking agents support {SUPPORTED} spaces "
            "(flatten Dict/Tuple/image observations with a Gymnasium wrapper first)"
        )


def space_to_dict(space: gym.spaces.Space) -> dict:
    """Plain-data description (tensors, ints, strings) that ``torch.load(weights_only=True)`` reads."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.Box):
        return {
            "type": "Box",
            "low": torch.as_tensor(space.low.astype(np.float64)),
            "high": torch.as_tensor(space.high.astype(np.float64)),
            "dtype": str(space.dtype),
        }
    raise ValueError(f"cannot serialise space {space}")


def space_from_dict(data: dict) -> gym.spaces.Space:
    if data["type"] == "Discrete":
        return gym.spaces.Discrete(int(data["n"]), start=int(data["start"]))
    if data["type"] == "Box":
        dtype = np.dtype(data["dtype"])
        low = data["low"].cpu().numpy().astype(dtype)
        high = data["high"].cpu().numpy().astype(dtype)
        return gym.spaces.Box(low=low, high=high, dtype=dtype)
    raise ValueError(f"unknown space type {data.get('type')!r} in checkpoint")


def spaces_match(a: gym.spaces.Space, b: gym.spaces.Space) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, gym.spaces.Discrete):
        return a.n == b.n and a.start == b.start
    return a.shape == b.shape and np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high)
