"""Gymnasium side of snn-rl: research tasks, the transition record and the env driver, reward
functions and wrappers, torch-native vector envs.

Importing ``snn_rl.envs`` registers the ``snn_rl/`` env ids with Gymnasium:

- single envs (``gymnasium.make``): ``snn_rl/Bandit-v0``, ``snn_rl/XOR-v0``,
  ``snn_rl/TargetRate-v0``, and ``snn_rl/PixelCartPole-v1`` (CartPole-v1 from its rendered
  frames, event-coded: :mod:`snn_rl.envs.image_wrappers`), and ``snn_rl/Events-v0`` (the
  image env named by its ``env_id`` keyword, event-coded, e.g. MinAtar's grids).
  ``gymnasium.make("snn_rl.envs:snn_rl/Bandit-v0")`` imports this package on demand.
- torch-native vector envs (``gymnasium.make_vec(..., vectorization_mode=
  "vector_entry_point", device=...)``; other keyword arguments pass through):
  ``snn_rl/CartPole-v1``, ``snn_rl/Acrobot-v1``, ``snn_rl/MountainCar-v0``,
  ``snn_rl/Pendulum-v1``. ``gymnasium.make`` of these ids gives one env of the same
  dynamics (:class:`~snn_rl.envs.torch_single.TorchSingleEnv`), drawn by the Gymnasium
  task's renderer.
"""

from functools import partial

import gymnasium as gym

from .bandit import BanditEnv
from .concat import ConcatVectorEnv
from .driver import VecEnvDriver
from .image_wrappers import EventFrames, PixelFrames
from .reward_wrappers import RewardFunctionWrapper, VectorRewardFunctionWrapper
from .rewards import (
    REWARD_FUNCTIONS,
    EnvReward,
    FunctionReward,
    RewardFunction,
    SumReward,
    TerminalReward,
    make_reward_function,
    register_reward_function,
)
from .target_rate import TargetRateEnv
from .torch_acrobot import TorchAcrobotVec
from .torch_cartpole import TorchCartPoleVec
from .torch_mountain_car import TorchMountainCarVec
from .torch_pendulum import TorchPendulumVec
from .torch_single import TorchSingleEnv
from .torch_vector import TorchVectorEnv
from .transition import Transition
from .xor import XOREnv

__all__ = [
    "REWARD_FUNCTIONS",
    "BanditEnv",
    "ConcatVectorEnv",
    "EnvReward",
    "EventFrames",
    "FunctionReward",
    "PixelFrames",
    "RewardFunction",
    "RewardFunctionWrapper",
    "SumReward",
    "TargetRateEnv",
    "TerminalReward",
    "TorchAcrobotVec",
    "TorchCartPoleVec",
    "TorchMountainCarVec",
    "TorchPendulumVec",
    "TorchSingleEnv",
    "TorchVectorEnv",
    "Transition",
    "VecEnvDriver",
    "VectorRewardFunctionWrapper",
    "XOREnv",
    "make_reward_function",
    "register_reward_function",
]

# id -> (entry point, time limit, reward threshold); thresholds hold for the default
# constructor arguments. The research tasks end every episode themselves (after
# ``episode_length`` trials); their time limit is a cap that only a very long
# ``episode_length`` would reach. PixelCartPole is CartPole-v1 from its frames (event-coded),
# with CartPole's time limit and threshold. Events-v0 wraps the image env named by its
# ``env_id`` keyword, whose own time limit (if any) stays inside: no limit or threshold here.
_TASK_CAP = 1000
_SINGLE_ENVS = {
    "snn_rl/Bandit-v0": ("snn_rl.envs.bandit:BanditEnv", _TASK_CAP, 0.75),
    "snn_rl/XOR-v0": ("snn_rl.envs.xor:XOREnv", _TASK_CAP, 0.9),
    "snn_rl/TargetRate-v0": ("snn_rl.envs.target_rate:TargetRateEnv", _TASK_CAP, -0.1),
    "snn_rl/PixelCartPole-v1": ("snn_rl.envs.image_wrappers:make_pixel_cartpole", 500, 475.0),
    "snn_rl/Events-v0": ("snn_rl.envs.image_wrappers:make_event_env", None, None),
}
# id -> (vector class, time limit, reward threshold); each is the twin of the Gymnasium task
# of the same name without the prefix.
_VECTOR_ENVS = {
    "snn_rl/CartPole-v1": (TorchCartPoleVec, 500, 475.0),
    "snn_rl/Acrobot-v1": (TorchAcrobotVec, 500, -100.0),
    "snn_rl/MountainCar-v0": (TorchMountainCarVec, 200, -110.0),
    "snn_rl/Pendulum-v1": (TorchPendulumVec, 200, None),
}


def _register_envs() -> None:
    """Register every id once (re-importing the package does not re-register)."""
    for env_id, (entry_point, max_steps, threshold) in _SINGLE_ENVS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=entry_point,
                max_episode_steps=max_steps,
                reward_threshold=threshold,
            )
    for env_id, (vector_cls, max_steps, threshold) in _VECTOR_ENVS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=partial(TorchSingleEnv, vector_cls, env_id.removeprefix("snn_rl/")),
                vector_entry_point=f"{vector_cls.__module__}:{vector_cls.__name__}",
                max_episode_steps=max_steps,
                reward_threshold=threshold,
            )


_register_envs()
