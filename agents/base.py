"""SpikingAgent: the Stable-Baselines3-like algorithm shared by spiking agents.

An agent is made of parts, built once from its typed configuration by the subclass's
:meth:`SpikingAgent._build`, and this class runs them in one straight line per env step
(``docs/agents.md``)::

    phi     = policy.encode(obs)                          (carried over from the last step)
    decision window: policy.sim_step(phi), learners.after_sim_step("decision")  x decision_steps
    action  = policy.explore(counts, exploration rate)
    efference window: policy.sim_step(phi, drive), learners.after_sim_step("feedback")
                                                                            x feedback_steps
    tr      = driver.step(action)                         (one Transition)
    reward  = reward_function(tr)
    signal  = critic(reward, phi, phi(tr.next_obs), tr)   (the modulator)
    learners.after_env_step(signal, progress)
    resets of ended rows; step counting; callbacks read the step

No part calls back into another. The env is always vectorised (envs are the batch);
``predict`` follows SB3's policy protocol; checkpoints are code-free and versioned.

Every ``learn`` call starts fresh episodes: the envs are reset with seeds drawn from the
agent's seeded generator and the network, eligibility and critic traces are cleared.
Together with the checkpointed RNG states this makes a training run resumed from a
checkpoint identical to one that kept going in the same process.
"""

from __future__ import annotations

import os
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import VectorEnv
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.utils import configure_logger
from stable_baselines3.common.vec_env import VecEnv, unwrap_vec_normalize
from torch import Tensor

from snn_rl import SNNNetwork, flush_denormals
from snn_rl._validation import check_bool, check_int, check_mask
from snn_rl.agents.callbacks import MaybeCallback, make_callback, reads_step_locals
from snn_rl.agents.checkpoint import (
    PARTS,
    check_parameters,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from snn_rl.agents.config import AgentConfig
from snn_rl.agents.critics import Critic
from snn_rl.agents.diagnostics import Diagnostics, EpisodeStats
from snn_rl.agents.env_util import as_vector_env, resolve_device, wrapper_chain
from snn_rl.agents.learners import Learner
from snn_rl.agents.policy import SpikingPolicy
from snn_rl.agents.registry import resolve_config
from snn_rl.agents.spaces import check_spaces, spaces_match
from snn_rl.agents.task import Choice, TaskInfo, describe_task
from snn_rl.envs.driver import VecEnvDriver
from snn_rl.envs.reward_wrappers import RewardFunctionWrapper, VectorRewardFunctionWrapper
from snn_rl.envs.rewards import EnvReward, RewardFunction, SumReward
from snn_rl.envs.transition import Transition

__all__ = ["AgentParts", "SpikingAgent"]

RewardSpec = str | RewardFunction | Callable[[Transition], Any]


@dataclass
class AgentParts:
    """What :meth:`SpikingAgent._build` returns: the parts the loop runs."""

    policy: SpikingPolicy
    critic: Critic
    learners: list[Learner]


class SpikingAgent(ABC):
    """Base of spiking agents: config, env handling, ``learn``, ``predict``, ``save``/``load``.

    Args:
        env: a Gymnasium env id, a ``gymnasium.Env`` (vectorised as one env), a Gymnasium
            ``VectorEnv`` or a Stable-Baselines3 ``VecEnv`` (their envs are the batch), or
            None (only with ``observation_space`` and ``action_space``, e.g. for loading).
        config: the agent's configuration (``config_class``), used as it is; or a mapping
            of its fields over the generic defaults. None: the generic defaults with the
            tuned entry for the env id (the agent's hyperparameter YAML) applied.
        overrides: configuration changes applied last: nested mappings and/or dotted keys,
            e.g. ``{"rule.lr": 0.02, "critic": {"gamma": 0.99}}``.
        n_envs: shorthand for the override ``{"n_envs": n}``.
        network: a user-built :class:`~snn_rl.SNNNetwork` replacing the default one (every
            layer must declare its role: ``"readout"``, ``"features"`` or ``"fixed"``).
        reward: the reward function the critic learns from: a registry name ("env",
            "terminal"), a :class:`~snn_rl.envs.rewards.RewardFunction`, or a callable
            ``f(transition) -> (B,)``; shorthand for the override ``{"reward": ...}``.
        device: "auto" (CUDA when available), "cpu", "cuda", ...
        seed: seeds network initialisation, exploration and env resets.
        verbose: 0 silent, 1 training logs on stdout.
        tensorboard_log: folder for TensorBoard logs (needs the tensorboard package).
        max_episode_steps: episode cap of envs built from an id or given as a
            ``gymnasium.Env`` (default: the spec's time limit; an env without one is capped
            at ``env_util.DEFAULT_MAX_EPISODE_STEPS`` with a warning).
        env_kwargs: keyword arguments of the env id's constructor (``gym.make(env_id,
            **env_kwargs)``), e.g. ``{"is_slippery": False}``; kept in the checkpoint.
        tuned: use the tuned entry of the env id when there is one (False: the defaults
            derived from the task, as for an env without an entry).

    Attributes:
        task_choices: the configuration values derived from the task
            (:meth:`task_defaults`), each with its rule; empty when a tuned entry or a full
            config was used.
    """

    algo_name: ClassVar[str] = ""  # the registry name, set by register_agent
    config_class: ClassVar[type[AgentConfig]] = AgentConfig
    #: dotted configuration keys that may differ between the agents of one
    #: :class:`~snn_rl.agents.AgentPopulation` (hyperparameter variants): settings that
    #: change no tensor shape and no loop structure, which the parts hold one per agent
    population_variants: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        env: str | gym.Env | VectorEnv | VecEnv | None,
        *,
        config: AgentConfig | Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        n_envs: int | None = None,
        network: SNNNetwork | None = None,
        reward: RewardSpec | None = None,
        device: str | torch.device = "auto",
        seed: int | None = None,
        verbose: int = 0,
        tensorboard_log: str | None = None,
        max_episode_steps: int | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
        tuned: bool = True,
        observation_space: gym.spaces.Space | None = None,
        action_space: gym.spaces.Space | None = None,
    ) -> None:
        self.device = resolve_device(device)
        seed = None if seed is None else check_int("seed", seed, minimum=0)
        self.seed = int(np.random.SeedSequence().entropy % (2**31)) if seed is None else seed
        self.verbose = check_int("verbose", verbose, minimum=0)
        self.tensorboard_log = tensorboard_log
        self.max_episode_steps = (
            None
            if max_episode_steps is None
            else check_int("max_episode_steps", max_episode_steps, minimum=1)
        )
        self.env_id = env if isinstance(env, str) else _spec_id(env)
        if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
            raise TypeError(f"env_kwargs must be a mapping, got {type(env_kwargs).__name__}")
        if env_kwargs and not isinstance(env, str):
            raise ValueError("env_kwargs applies to an env id; pass the env already built instead")
        self.env_kwargs: dict[str, Any] = dict(env_kwargs or {})
        check_bool("tuned", tuned)
        self.config, self.task_choices = resolve_config(
            type(self),
            self.env_id,
            config,
            overrides,
            n_envs,
            reward,
            task=lambda: describe_task(env, self.max_episode_steps, self.env_kwargs),
            tuned=tuned,
        )
        _warn_if_shaping_ignored(env, self.config.reward)
        if self.verbose >= 1 and self.task_choices:
            print(f"{type(self).__name__}: configuration derived from the task (no tuned entry):")
            for choice in self.task_choices:
                print(f"  {choice}")
        self.env: Any = None
        self.n_envs = self.config.n_envs
        vec = None
        if env is not None:
            vec = as_vector_env(
                env, self.n_envs, self.device, self.max_episode_steps, self.env_kwargs
            )
            observation_space, action_space = vec.single_observation_space, vec.single_action_space
            self.env_id = self.env_id or _spec_id(vec)
            self.n_envs = vec.num_envs
        if observation_space is None or action_space is None:
            raise ValueError("env is None, so observation_space and action_space are required")
        check_spaces(observation_space, action_space)
        self.observation_space, self.action_space = observation_space, action_space
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        self._seed_generator = torch.Generator().manual_seed(self.seed + 1)
        self.num_timesteps = 0
        self._episodes = 0
        self._logger: Logger | None = None
        self._custom_logger = False
        self._driver: VecEnvDriver | None = None
        self._custom_network = network is not None
        if network is not None and not isinstance(network, SNNNetwork):
            raise TypeError(f"network must be an SNNNetwork, got {type(network).__name__}")
        parts = self._build(network)
        self.policy, self.critic, self.learners = parts.policy, parts.critic, parts.learners
        self.reward_function: RewardFunction = self.config.reward
        self.policy.network.reset_state(batch_size=self.n_envs)
        for learner in self.learners:
            learner.reset()
        trained = [
            n for learner in self.learners if learner.role == "readout" for n in learner.layer_names
        ]
        self._diagnostics = Diagnostics(self.policy.network.layer_state_dict(), trained)
        self._exploration_rate = self.policy.exploration.rate(0.0)
        self._phi: Tensor | None = None
        self._stats: EpisodeStats | None = None
        self._log_start = (time.perf_counter(), 0)
        if vec is not None:
            self._attach(env, vec)

    # ---------------------------------------------------------------------- config
    @classmethod
    def task_defaults(cls, task: TaskInfo) -> list[Choice]:
        """Configuration values for a task without a tuned entry, each with its rule."""
        return []

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """The hyperparameters ``snn-rl tune`` samples: draw each from the Optuna ``trial``
        and return configuration overrides with dotted keys, e.g.
        ``{"rule.lr": trial.suggest_float("rule.lr", 1e-4, 0.1, log=True)}``.

        An agent that can be tuned overrides this classmethod (docs/tune.md)."""
        raise NotImplementedError(
            f"{cls.__name__} defines no search space, so it cannot be tuned; give it a "
            "classmethod search_space(trial) -> dict of dotted configuration overrides"
        )

    @abstractmethod
    def _build(self, network: SNNNetwork | None) -> AgentParts:
        """Build the policy, critic and learners from ``self.config`` and the spaces."""

    # ------------------------------------------------------------------------- env
    def _attach(self, env: Any, vec: VectorEnv) -> None:
        for name, ours, theirs in (
            ("observation", self.observation_space, vec.single_observation_space),
            ("action", self.action_space, vec.single_action_space),
        ):
            if not spaces_match(ours, theirs):
                raise ValueError(
                    f"the env's {name} space {theirs} differs from the agent's {ours}; "
                    "an agent only runs on envs with the spaces it was built for"
                )
        self.env = env if isinstance(env, VectorEnv | VecEnv) else vec
        self.n_envs = vec.num_envs
        self._driver = VecEnvDriver(vec, self.device, obs_space=self.observation_space)

    def set_env(self, env: str | gym.Env | VectorEnv | VecEnv) -> None:
        """Use another env with the same observation and action spaces (an env id or
        ``gymnasium.Env`` gets the agent's episode cap; the agent's own env id also its
        ``env_kwargs``)."""
        limit = self.max_episode_steps if isinstance(env, str | gym.Env) else None
        kwargs = self.env_kwargs if isinstance(env, str) and env == self.env_id else None
        self._attach(env, as_vector_env(env, self.config.n_envs, self.device, limit, kwargs))

    def get_env(self) -> Any:
        """The training env: the vector env built from an id, or the env as given."""
        return self.env

    def get_vec_normalize_env(self) -> Any:
        """The SB3 ``VecNormalize`` wrapper of an SB3 training env, else None."""
        return unwrap_vec_normalize(self.env) if isinstance(self.env, VecEnv) else None

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

    @property
    def _episode_num(self) -> int:
        """Episodes finished in training so far (SB3's name; a host sync during ``learn``)."""
        running = 0 if self._stats is None else int(self._stats.episodes)
        return self._episodes + running

    # ----------------------------------------------------------------------- learn
    @flush_denormals()
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
                called after every vector step with SB3's step locals (``new_obs``,
                ``rewards``, ``dones``, ``infos``, ``actions``) and ``transition``;
                returning False stops training.
            log_interval: env steps between two logger dumps.
            tb_log_name: TensorBoard run name (default: the algorithm name).
            reset_num_timesteps: start counting from 0 (else continue the count).
            progress_bar: show a tqdm progress bar.
        """
        total_timesteps = check_int("total_timesteps", total_timesteps, minimum=0)
        log_interval = check_int("log_interval", log_interval, minimum=1)
        reset_num_timesteps = check_bool("reset_num_timesteps", reset_num_timesteps)
        if self._driver is None:
            raise RuntimeError("this agent has no env; call set_env(env) before learn()")
        if reset_num_timesteps:
            self.num_timesteps = 0
            self._episodes = 0
        target = total_timesteps + self.num_timesteps
        if not self._custom_logger:
            self._logger = configure_logger(
                self.verbose,
                self.tensorboard_log,
                tb_log_name or self.algo_name,
                reset_num_timesteps,
            )
        callback = make_callback(callback, progress_bar)
        callback.init_callback(self)
        self._start_episodes()
        self._stats = EpisodeStats(self.n_envs, self.device)
        self._log_start = (time.perf_counter(), self.num_timesteps)
        next_log = self.num_timesteps + log_interval
        step_locals = reads_step_locals(callback)
        callback.on_training_start(
            {
                "self": self,
                "total_timesteps": target,
                "callback": callback,
                "log_interval": log_interval,
                "tb_log_name": tb_log_name or self.algo_name,
            },
            globals(),
        )
        callback.on_rollout_start()
        start_steps = self.num_timesteps
        while self.num_timesteps < target:
            progress = (self.num_timesteps - start_steps) / max(target - start_steps, 1)
            tr, signal = self._train_step(progress)
            self._stats.update(tr.reward, tr.active, tr.done)
            if step_locals:
                callback.update_locals(self._step_locals(tr, signal))
            if not callback.on_step():
                break
            if self.num_timesteps >= next_log:
                self.dump_logs()
                next_log = self.num_timesteps + log_interval
        if next_log - self.num_timesteps != log_interval:  # steps since the last dump
            self.dump_logs()
        callback.on_rollout_end()
        callback.on_training_end()
        self._episodes, self._stats = self._episode_num, None
        return self

    def _start_episodes(self, seed: int | None = None) -> None:
        """Fresh episodes: envs reset with ``seed`` (default: one drawn from the agent's
        generator), every per-episode state (network, eligibility, critic traces) cleared."""
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self._seed_generator))
        obs = self._driver.reset(seed=seed)
        self.policy.network.reset_state(batch_size=self.n_envs)
        for learner in self.learners:
            learner.reset()
        self.critic.reset()
        with torch.no_grad():
            self._phi = self.policy.encode(obs)

    def _window(self, phi: Tensor, steps: int, drive: Tensor | None, sample: bool) -> Tensor:
        policy, counts = self.policy, torch.zeros_like(self.policy.output.spikes)
        window = "decision" if drive is None else "feedback"
        for _ in range(steps):
            counts += policy.sim_step(phi, drive)
            for learner in self.learners:
                learner.after_sim_step(window)
            if sample:
                self._diagnostics.after_sim_step()
        return counts

    def _train_step(
        self, progress: float, deterministic: bool = False
    ) -> tuple[Transition, Tensor]:
        """One vector step of acting and learning (the order of the module docstring);
        ``deterministic``: the greedy action of the decision window, no exploration."""
        policy, diag = self.policy, self._diagnostics
        self._exploration_rate = rate = policy.exploration.rate(progress)
        sample = diag.sampling()
        with torch.no_grad():
            phi = self._phi
            counts = self._window(phi, policy.decision_steps, None, sample)
            action = policy.greedy(counts) if deterministic else policy.explore(counts, rate)
            if policy.feedback_steps:
                self._window(phi, policy.feedback_steps, policy.efference_drive(action), sample)
            tr = self._driver.step(action)
            phi_new = policy.encode(tr.new_obs)
            if tr.next_obs is tr.new_obs:
                phi_next = phi_new
            else:
                phi_next = policy.encode(tr.next_obs) if self.critic.needs_features else None
            signal = self.critic(self.reward_function(tr), phi, phi_next, tr)
            before = diag.snapshot() if sample else None
            for learner in self.learners:
                learner.after_env_step(signal, progress)
            if before is not None:
                diag.weight_change(before)
            reset = (tr.done & tr.active) | ~tr.active
            # on a GPU, masked resets every step cost less than a host sync to skip them
            if self.device.type != "cpu" or bool(reset.any()):
                policy.network.reset_state(mask=reset)
                for learner in self.learners:
                    learner.reset(mask=reset)
                self.critic.reset(mask=reset)
            self._phi = phi_new
        self.num_timesteps += self._driver.count_real(tr)
        diag.after_env_step(signal, tr.active)
        if self.device.type != "cpu" and self._driver.steps % self._driver.check_every == 0:
            self.verify_finite()
        return tr, signal

    def verify_finite(self) -> None:
        """Raise :class:`~snn_rl.NonFiniteError` for NaN or inf that the engine's guards
        recorded on a non-CPU device (the loop calls it with the driver's check, every 64
        env steps; on the CPU every check raises at once)."""
        self.policy.verify_finite()
        for learner in self.learners:
            learner.rule.verify_finite()
        self.critic.verify_finite()

    def _step_locals(self, tr: Transition, signal: Tensor) -> dict[str, Any]:
        """What SB3 callbacks read from ``self.locals`` after a step (numpy, per env)."""
        return {
            "self": self,
            "env": self.env,
            "new_obs": tr.new_obs.cpu().numpy(),
            "actions": tr.action.cpu().numpy(),
            "rewards": tr.reward.cpu().numpy(),
            "dones": (tr.done & tr.active).cpu().numpy(),
            "infos": tr.infos,
            "transition": tr,
            "modulator": signal,
        }

    def dump_logs(self) -> None:
        """Record the training statistics of the current ``learn`` call and write them out
        (SB3's name; ``LogEveryNTimesteps`` calls it)."""
        stats = self._stats or EpisodeStats(self.n_envs, self.device)
        start_time, start_steps = self._log_start
        means = stats.means()
        if means is not None:
            self.logger.record("rollout/ep_rew_mean", means[0])
            self.logger.record("rollout/ep_len_mean", means[1])
        elapsed = max(time.perf_counter() - start_time, 1e-9)
        self.logger.record("time/fps", int((self.num_timesteps - start_steps) / elapsed))
        self.logger.record("time/time_elapsed", int(elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.record("time/episodes", self._episode_num, exclude="tensorboard")
        rate = self._exploration_rate  # a float, or one per agent in a population
        self.logger.record("rollout/exploration_rate", float(torch.as_tensor(rate).mean()))
        eligibility: dict[str, Tensor] = {}
        for learner in self.learners:
            learner.record(self.logger)
            eligibility.update(learner.eligibility())
        self._diagnostics.record(self.logger, eligibility)
        self.logger.dump(step=self.num_timesteps)

    # --------------------------------------------------------------------- predict
    @flush_denormals()
    def predict(
        self,
        observation: np.ndarray | Tensor,
        state: dict | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray | Tensor, dict]:
        """SB3's policy protocol: actions for a batch (or a single) observation.

        The spiking network's state is the recurrent ``state``: pass back what the previous
        call returned, with ``episode_start`` ``(B,)`` marking rows whose episode just began
        (their state is reset). ``state=None`` starts from rest. Training state is left
        untouched. ``deterministic=True`` acts greedily; otherwise the agent's exploration
        applies (at its current rate).

        Returns:
            (actions, state); actions are numpy for numpy input and tensors for tensors.
        """
        as_numpy = not isinstance(observation, Tensor)
        obs, single = self._prepare_obs(observation)
        starts = None
        if episode_start is not None:
            starts = check_mask(
                episode_start, obs.shape[0], name="episode_start", device=self.device
            )
        network = self.policy.network
        training_state = network.get_state()
        try:
            with torch.no_grad():
                if state is None:
                    network.reset_state(batch_size=obs.shape[0])
                else:
                    network.set_state(state)
                if starts is not None and bool(starts.any()):
                    network.reset_state(mask=starts)
                phi = self.policy.encode(obs)
                action = self.policy.act(
                    phi, deterministic=deterministic, rate=self._exploration_rate
                )
                new_state = network.get_state()
        finally:
            network.set_state(training_state)
        if single:
            action = action[0]
        if as_numpy:
            action = action.cpu().numpy()
            if not isinstance(self.action_space, gym.spaces.Discrete):
                action = action.astype(self.action_space.dtype)
        return action, new_state

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

    # ---------------------------------------------------------------- parameters
    def get_parameters(self) -> dict[str, Any]:
        """Every learned quantity (SB3's name): ``{"policy", "critic", "learners"}``."""
        return {
            "policy": {k: v.clone() for k, v in self.policy.state_dict().items()},
            "critic": self.critic.state_dict(),
            "learners": [learner.state_dict() for learner in self.learners],
        }

    def set_parameters(
        self, load_path_or_dict: str | os.PathLike | Mapping[str, Any], exact_match: bool = True
    ) -> None:
        """Load what :meth:`get_parameters` returned, or the parameters of a checkpoint.

        Every tensor is checked (the policy's against its current shapes; all for NaN and
        inf) before any is assigned, and a failure while assigning restores the previous
        parameters, so the agent is never left half-loaded. With ``exact_match=False`` a
        mapping may hold only some of the three parts.
        """
        if isinstance(load_path_or_dict, Mapping):
            params = load_path_or_dict
        else:
            data = read_checkpoint(load_path_or_dict, self.device)
            params = {k: data[k] for k in PARTS}
        missing = set(PARTS) - set(params)
        unknown = set(params) - set(PARTS)
        if unknown or (exact_match and missing):
            raise ValueError(
                f"parameters must have keys policy, critic, learners; missing {sorted(missing)}, "
                f"unknown {sorted(unknown)}"
            )
        if "policy" in params:
            check_parameters("policy", params["policy"], self.policy.state_dict())
        if "critic" in params:
            check_parameters("critic", params["critic"], None)
        if "learners" in params and len(params["learners"]) != len(self.learners):
            raise ValueError(
                f"parameters hold {len(params['learners'])} learner states, this agent has "
                f"{len(self.learners)}"
            )
        previous = self.get_parameters()
        try:
            self._assign_parameters(params)
        except BaseException:
            self._assign_parameters({k: previous[k] for k in params})
            raise

    def _assign_parameters(self, params: Mapping[str, Any]) -> None:
        if "policy" in params:
            self.policy.load_state_dict(params["policy"])
        if "critic" in params:
            self.critic.load_state_dict(params["critic"])
        if "learners" in params:
            for learner, st in zip(self.learners, params["learners"], strict=True):
                learner.load_state_dict(st)

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | os.PathLike) -> Path:
        """Write one checkpoint file atomically (a ``.zip`` suffix is added if none is given).

        It holds the format version, the configuration, the spaces, all weights, the
        learners' and critic's state and the RNG states; no pickled code. Returns the path.
        """
        return save_checkpoint(self, path)

    def export_nir(self, path: str | os.PathLike, *, strict: bool = False) -> Path:
        """Write the policy network as a NIR graph, with the learning state in its metadata
        (``docs/nir.md``; needs the ``nir`` package). Returns the path (``.nir`` added)."""
        from snn_rl.agents.nir_export import export_nir

        return export_nir(self, path, strict=strict)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        env: str | gym.Env | VectorEnv | VecEnv | None = None,
        *,
        device: str | torch.device = "auto",
        network: SNNNetwork | None = None,
        reward: RewardSpec | None = None,
        verbose: int = 0,
    ) -> SpikingAgent:
        """Load a checkpoint written by :meth:`save` (``torch.load(weights_only=True)``).

        The agent class comes from the checkpoint (through the registry); called on a
        subclass, the checkpoint must hold that class.

        Args:
            env: the env to continue on (its spaces must equal the saved ones), or None.
            network: required when the agent was saved with a user-built network: a network
                of the same architecture, into which the saved weights are loaded.
            reward: required when the agent was saved with a custom reward function.
        """
        return load_checkpoint(
            cls, path, env, device=device, network=network, reward=reward, verbose=verbose
        )

    def __repr__(self) -> str:
        env = self.env_id or type(self.env).__name__
        lines = [
            f"{type(self).__name__}(env={env!r}, n_envs={self.n_envs}, device={self.device}, "
            f"seed={self.seed}, num_timesteps={self.num_timesteps})",
            f"  policy: {type(self.policy.encoder).__name__} ({self.policy.encoder.out_features}"
            f" inputs) -> layers {self.policy.network.roles} -> {self.policy.n_actions} "
            f"x {self.policy.pop_size} output neurons",
            f"  critic: {self.critic!r}",
            f"  learners: {', '.join(f'{type(lr.rule).__name__} on {lr.layer_names}' for lr in self.learners)}",
            f"  reward: {self.reward_function!r}",
        ]
        return "\n".join(lines)


def _warn_if_shaping_ignored(env: Any, reward: RewardFunction) -> None:
    """Warn when the env's rewards are reshaped by a reward wrapper but the agent's reward
    function does not read the env's reward (a tuned entry's ``terminal``, say)."""
    if isinstance(reward, EnvReward) or (
        isinstance(reward, SumReward) and any(isinstance(p, EnvReward) for p in reward.parts)
    ):
        return
    shaping = (
        gym.RewardWrapper,
        gym.vector.VectorRewardWrapper,
        RewardFunctionWrapper,
        VectorRewardFunctionWrapper,
    )
    if any(isinstance(w, shaping) for w in wrapper_chain(env)):
        warnings.warn(
            f"the env's rewards pass through a reward wrapper, but the agent learns from "
            f"{reward!r}, which does not read them; pass reward='env' to learn from them",
            UserWarning,
            stacklevel=3,
        )


def _spec_id(env: Any) -> str | None:
    if env is None:
        return None
    spec = getattr(env, "spec", None)
    if spec is None:
        envs = getattr(env, "envs", None)
        spec = getattr(getattr(envs[0], "unwrapped", envs[0]), "spec", None) if envs else None
    return getattr(spec, "id", None)
