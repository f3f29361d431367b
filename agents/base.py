"""SpikingAgent: the Stable-Baselines3-like shell shared by spiking agents.

It owns the environment (always vectorised; envs are the batch dimension), the training
loop with callbacks and logging, ``predict`` (SB3's policy protocol, so
``stable_baselines3.common.evaluation.evaluate_policy`` scores our agents like SB3's), and
atomic, code-free checkpoints. A subclass builds its policy and learning machinery in
``_setup`` and implements one vector step of training in ``_train_step``.

Every ``learn`` call starts fresh episodes: the envs are reset with seeds drawn from the
agent's seeded generator and the network, eligibility and reward-signal episode state are
cleared. Together with the checkpointed RNG states this makes a training run resumed from
a checkpoint identical to one that kept going in the same process.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.utils import configure_logger
from torch import Tensor

from snn_rl import __version__
from snn_rl.agents._io import atomic_write
from snn_rl.agents.callbacks import MaybeCallback, make_callback
from snn_rl.agents.env_util import VecEnvDriver, make_vec_env, resolve_device
from snn_rl.agents.policy import SpikingPolicy
from snn_rl.agents.spaces import check_spaces, space_from_dict, space_to_dict, spaces_match

__all__ = ["SpikingAgent"]

CHECKPOINT_FORMAT = "snn-rl-agent"
CHECKPOINT_VERSION = 1


class _EpisodeStats:
    """Returns and lengths of the last ``size`` finished episodes, kept on the device.

    Updating never synchronises with the host (no boolean indexing); reading does.
    """

    def __init__(self, n_envs: int, device: torch.device, size: int = 100) -> None:
        self.size = size
        self.ret = torch.zeros(n_envs, dtype=torch.float64, device=device)
        self.len = torch.zeros(n_envs, dtype=torch.long, device=device)
        self.buf_ret = torch.zeros(size + 1, dtype=torch.float64, device=device)
        self.buf_len = torch.zeros(size + 1, dtype=torch.long, device=device)
        self.ptr = torch.zeros((), dtype=torch.long, device=device)
        self.count = torch.zeros((), dtype=torch.long, device=device)

    def update(self, reward: Tensor, active: Tensor, done: Tensor) -> None:
        self.ret += reward.double() * active
        self.len += active.long()
        ended = done & active
        slot = torch.where(ended, (self.ptr + ended.cumsum(0) - 1) % self.size, self.size)
        self.buf_ret.scatter_(0, slot, self.ret)
        self.buf_len.scatter_(0, slot, self.len)
        n = ended.sum()
        self.ptr = (self.ptr + n) % self.size
        self.count = torch.clamp(self.count + n, max=self.size)
        self.ret = self.ret.masked_fill(ended, 0.0)
        self.len = self.len.masked_fill(ended, 0)

    def means(self) -> tuple[float, float] | None:
        n = int(self.count)
        if n == 0:
            return None
        return float(self.buf_ret[:n].mean()), float(self.buf_len[:n].double().mean())


class SpikingAgent(ABC):
    """Base of spiking agents: env handling, ``learn``, ``predict``, ``save``/``load``.

    Args:
        env: a Gymnasium env id, an env instance (vectorised internally as one env), or a
            Gymnasium ``VectorEnv`` (its envs are the batch), or None (set one later with
            :meth:`set_env`; only for loading).
        n_envs: number of envs built from an env id.
        device: "auto" (CUDA when available), "cpu", "cuda", ...
        seed: seeds network initialisation, exploration and env resets.
        verbose: 0 silent, 1 training logs on stdout.
        tensorboard_log: folder for TensorBoard logs (needs the tensorboard package).
    """

    algo_name: ClassVar[str]

    def __init__(
        self,
        env: str | gym.Env | VectorEnv | None,
        *,
        n_envs: int = 1,
        device: str | torch.device = "auto",
        seed: int | None = None,
        verbose: int = 0,
        tensorboard_log: str | None = None,
        observation_space: gym.spaces.Space | None = None,
        action_space: gym.spaces.Space | None = None,
    ) -> None:
        self.device = resolve_device(device)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        self.seed = int(np.random.SeedSequence().entropy % (2**31)) if seed is None else seed
        self.verbose = verbose
        self.tensorboard_log = tensorboard_log
        self.env_id: str | None = env if isinstance(env, str) else None
        self.env: VectorEnv | None = None
        self.n_envs = n_envs
        if env is not None:
            vec = self._make_vec(env, n_envs)
            observation_space, action_space = vec.single_observation_space, vec.single_action_space
            self.env_id = self.env_id or _spec_id(vec)
        if observation_space is None or action_space is None:
            raise ValueError("env is None, so observation_space and action_space are required")
        check_spaces(observation_space, action_space)
        self.observation_space = observation_space
        self.action_space = action_space
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        self._seed_generator = torch.Generator().manual_seed(self.seed + 1)
        self.num_timesteps = 0
        self._episode_num = 0
        self._logger: Logger | None = None
        self._custom_logger = False
        self._driver: VecEnvDriver | None = None
        if env is not None:
            self.set_env(vec)

    # ------------------------------------------------------------------------ env
    def _make_vec(self, env: str | gym.Env | VectorEnv, n_envs: int) -> VectorEnv:
        if isinstance(env, VectorEnv):
            return env
        if isinstance(env, str):
            return make_vec_env(env, n_envs, device=self.device)
        if isinstance(env, gym.Env):
            return gym.vector.SyncVectorEnv([lambda: env])
        raise TypeError(
            "env must be a Gymnasium env id, a gymnasium.Env or a gymnasium.vector.VectorEnv, "
            f"got {type(env).__name__}"
        )

    def set_env(self, env: str | gym.Env | VectorEnv) -> None:
        """Use another env with the same observation and action spaces."""
        vec = self._make_vec(env, self.n_envs)
        for name, ours, theirs in (
            ("observation", self.observation_space, vec.single_observation_space),
            ("action", self.action_space, vec.single_action_space),
        ):
            if not spaces_match(ours, theirs):
                raise ValueError(
                    f"the env's {name} space {theirs} differs from the agent's {ours}; "
                    "an agent only runs on envs with the spaces it was built for"
                )
        self.env = vec
        self.n_envs = vec.num_envs
        self._driver = VecEnvDriver(vec, self.device, obs_space=self.observation_space)

    def get_env(self) -> VectorEnv | None:
        return self.env

    def get_vec_normalize_env(self) -> None:
        """SB3 callbacks ask for this; spiking agents never normalise observations."""
        return None

    # --------------------------------------------------------------------- logging
    @property
    def logger(self) -> Logger:
        if self._logger is None:
            self._logger = configure_logger(self.verbose, None, "", True)
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        """Use an SB3 logger (e.g. ``stable_baselines3.common.logger.configure(dir, ["csv"])``)."""
        self._logger = logger
        self._custom_logger = True

    # -------------------------------------------------------------------- subclass
    @abstractmethod
    def _start_episodes(self) -> None:
        """Clear per-episode learning state before the first step of a ``learn`` call."""

    @abstractmethod
    def _train_step(self, obs: Tensor, progress: float) -> tuple[Tensor, Any]:
        """One vector step of acting and learning; returns the next obs and the Transition."""

    @abstractmethod
    def _record_diagnostics(self) -> None:
        """Write the agent's plasticity statistics to the logger."""

    @property
    @abstractmethod
    def policy(self) -> SpikingPolicy: ...

    # ----------------------------------------------------------------------- learn
    def learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 10_000,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SpikingAgent:
        """Train for ``total_timesteps`` env steps (real transitions over all envs).

        Args:
            total_timesteps: env steps to train for (>= 0).
            callback: an SB3 callback, a list of them, or ``f(locals, globals) -> bool``;
                called after every vector step; returning False stops training.
            log_interval: env steps between two logger dumps.
            tb_log_name: TensorBoard run name (default: the algorithm name).
            reset_num_timesteps: start counting from 0 (else continue the count).
            progress_bar: show a tqdm progress bar.
        """
        if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, int | np.integer):
            raise TypeError(f"total_timesteps must be an int, got {type(total_timesteps).__name__}")
        if total_timesteps < 0:
            raise ValueError(f"total_timesteps must be >= 0, got {total_timesteps}")
        if isinstance(log_interval, bool) or not isinstance(log_interval, int) or log_interval < 1:
            raise ValueError(f"log_interval must be a positive int, got {log_interval!r}")
        if self.env is None or self._driver is None:
            raise RuntimeError("this agent has no env; call set_env(env) before learn()")
        if reset_num_timesteps:
            self.num_timesteps = 0
            self._episode_num = 0
        target = int(total_timesteps) + self.num_timesteps
        if not self._custom_logger:
            self._logger = configure_logger(
                self.verbose,
                self.tensorboard_log,
                tb_log_name or self.algo_name,
                reset_num_timesteps,
            )
        callback = make_callback(callback, progress_bar)
        callback.init_callback(self)
        obs = self._reset_envs()
        self._start_episodes()
        stats = _EpisodeStats(self.n_envs, self.device)
        start_time, start_steps = time.perf_counter(), self.num_timesteps
        next_log = self.num_timesteps + log_interval
        total_timesteps = target  # what ProgressBar and SB3 callbacks read from locals
        callback.on_training_start(locals(), globals())
        callback.on_rollout_start()
        while self.num_timesteps < target:
            progress = (self.num_timesteps - start_steps) / max(target - start_steps, 1)
            obs, tr = self._train_step(obs, progress)
            stats.update(tr.reward, tr.active, tr.done)
            callback.update_locals(locals())
            if not callback.on_step():
                break
            if self.num_timesteps >= next_log:
                self._dump_logs(stats, start_time, start_steps)
                next_log = self.num_timesteps + log_interval
        if next_log - self.num_timesteps != log_interval:  # steps since the last dump
            self._dump_logs(stats, start_time, start_steps)
        callback.on_rollout_end()
        callback.on_training_end()
        return self

    def _reset_envs(self) -> Tensor:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self._seed_generator))
        return self._driver.reset(seed=seed)

    def _count_steps(self, tr: Any) -> None:
        if self._driver.mode == AutoresetMode.NEXT_STEP:
            self.num_timesteps += int(tr.active.sum())
            self._episode_num += int((tr.done & tr.active).sum())
        else:
            self.num_timesteps += self.n_envs
            self._episode_num += int(tr.done.sum())

    def _dump_logs(self, stats: _EpisodeStats, start_time: float, start_steps: int) -> None:
        means = stats.means()
        if means is not None:
            self.logger.record("rollout/ep_rew_mean", means[0])
            self.logger.record("rollout/ep_len_mean", means[1])
        elapsed = max(time.perf_counter() - start_time, 1e-9)
        self.logger.record("time/fps", int((self.num_timesteps - start_steps) / elapsed))
        self.logger.record("time/time_elapsed", int(elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.record("time/episodes", self._episode_num, exclude="tensorboard")
        self._record_diagnostics()
        self.logger.dump(step=self.num_timesteps)

    # --------------------------------------------------------------------- predict
    def predict(
        self,
        observation: np.ndarray | Tensor,
        state: dict | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray | Tensor, dict]:
        """SB3's policy protocol: actions for a batch (or a single) observation.

        The spiking network's state is the recurrent ``state``: pass back what the previous
        call returned, with ``episode_start`` marking rows whose episode just began (their
        state is reset). ``state=None`` starts from rest. Training state is left untouched.
        ``deterministic=True`` acts greedily; otherwise the agent's exploration applies.

        Returns:
            (actions, state); actions are numpy for numpy input and tensors for tensors.
        """
        as_numpy = not isinstance(observation, Tensor)
        obs, single = self._prepare_obs(observation)
        policy = self.policy
        training_state = policy.network.get_state()
        try:
            with torch.no_grad():
                if state is None:
                    policy.network.reset_state(batch_size=obs.shape[0])
                else:
                    policy.network.set_state(state)
                if episode_start is not None:
                    starts = torch.as_tensor(np.asarray(episode_start), dtype=torch.bool)
                    starts = starts.reshape(-1).to(self.device)
                    if starts.shape[0] == obs.shape[0] and bool(starts.any()):
                        policy.network.reset_state(mask=starts)
                counts = policy.greedy_counts(policy.encode(obs))
                action = policy.greedy_action(counts)
                if not deterministic:
                    action = self._explore(counts, action, self._current_exploration())
                new_state = policy.network.get_state()
        finally:
            policy.network.set_state(training_state)
        if single:
            action = action[0]
        if as_numpy:
            action = action.cpu().numpy()
            if not self._driver_discrete():
                action = action.astype(self.action_space.dtype)
        return action, new_state

    def _driver_discrete(self) -> bool:
        return isinstance(self.action_space, gym.spaces.Discrete)

    def _prepare_obs(self, observation: Any) -> tuple[Tensor, bool]:
        space = self.observation_space
        dtype = torch.long if isinstance(space, gym.spaces.Discrete) else torch.float32
        obs = torch.as_tensor(
            np.asarray(observation) if not isinstance(observation, Tensor) else observation
        )
        obs = obs.to(self.device, dtype)
        single = tuple(obs.shape) == tuple(space.shape)
        if single:
            obs = obs.unsqueeze(0)
        if tuple(obs.shape[1:]) != tuple(space.shape):
            raise ValueError(
                f"observation must have shape {tuple(space.shape)} or (B, *{tuple(space.shape)}), "
                f"got {tuple(obs.shape)}"
            )
        if obs.is_floating_point() and not bool(torch.isfinite(obs).all()):
            raise ValueError("observation contains NaN or inf")
        return obs, single

    @abstractmethod
    def _explore(self, counts: Tensor, greedy: Tensor, rate: float) -> Tensor:
        """Exploratory action from the counts and the greedy action."""

    @abstractmethod
    def _current_exploration(self) -> float: ...

    # ------------------------------------------------------------------ save / load
    @abstractmethod
    def _checkpoint(self) -> dict:
        """Algorithm-specific, weights-only-loadable parts of a checkpoint."""

    @abstractmethod
    def _restore(self, data: dict) -> None: ...

    def save(self, path: str | os.PathLike) -> Path:
        """Write one checkpoint file atomically (a ``.zip`` suffix is added if none is given).

        It holds the configuration, the spaces, all weights, the learning-rule and
        reward-signal state and the RNG states; no pickled code. Returns the path written.
        """
        path = Path(path)
        if path.suffix == "":
            path = path.with_suffix(".zip")
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "snn_rl_version": __version__,
            "algo": type(self).__name__,
            "env_id": self.env_id,
            "observation_space": space_to_dict(self.observation_space),
            "action_space": space_to_dict(self.action_space),
            "seed": self.seed,
            "num_timesteps": self.num_timesteps,
            "episode_num": self._episode_num,
            "rng": {
                "explore": self.generator.get_state(),
                "env_seed": self._seed_generator.get_state(),
            },
            **self._checkpoint(),
        }
        atomic_write(path, lambda tmp: torch.save(data, tmp))
        return path

    @staticmethod
    def _read_checkpoint(path: str | os.PathLike, device: torch.device) -> dict:
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
        if data.get("format_version") != CHECKPOINT_VERSION:
            raise ValueError(
                f"{path} has checkpoint format {data.get('format_version')}, this snn-rl reads "
                f"format {CHECKPOINT_VERSION}"
            )
        return data

    def _load_common(self, data: dict) -> None:
        self.num_timesteps = int(data["num_timesteps"])
        self._episode_num = int(data["episode_num"])
        self.generator.set_state(data["rng"]["explore"].cpu())
        self._seed_generator.set_state(data["rng"]["env_seed"].cpu())

    @staticmethod
    def _spaces_from(data: dict) -> tuple[gym.spaces.Space, gym.spaces.Space]:
        return space_from_dict(data["observation_space"]), space_from_dict(data["action_space"])


def _spec_id(env: VectorEnv) -> str | None:
    spec = getattr(env, "spec", None)
    if spec is None:
        envs = getattr(env, "envs", None)
        spec = getattr(envs[0], "spec", None) if envs else None
    return getattr(spec, "id", None)
