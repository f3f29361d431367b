"""MSTDPETAgent: a spiking agent whose weights learn only through MSTDPET (Florian 2007).

One vector step (all envs at once, envs are the batch):

1. encode the observation into input currents (population code);
2. decision window: ``decision_steps`` simulation steps, ``rule.update_state()`` after each;
3. choose the action from the output spike counts (exploration outside the network);
4. efference-copy window: ``feedback_steps`` steps driving the chosen action's population,
   ``rule.update_state()`` after each;
5. step the envs;
6. reward timing: the modulatory signal of env step t (the reward signal applied to the
   transition's reward, termination, truncation, observation and true next observation)
   multiplies the eligibility as it stands right after step 4 of env step t, i.e. the
   decision and efference windows of action t plus the decayed windows of earlier actions:
   ``W <- W + lr * mean_b(signal_b * E_b)``;
7. rows whose episode ended, and NEXT_STEP dummy rows, get their neuron state, eligibility
   and reward-signal episode state reset.

The measured recipe behind the CartPole defaults is in docs/results.md.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, ClassVar

import gymnasium as gym
import torch
from gymnasium.vector import VectorEnv
from torch import Tensor

from snn_rl import Input, SNNNetwork
from snn_rl.agents.base import SpikingAgent
from snn_rl.agents.config import (
    MSTDPETConfig,
    build_encoder,
    build_network,
    feature_layer_settings,
)
from snn_rl.agents.diagnostics import Diagnostics
from snn_rl.agents.policy import SpikingPolicy
from snn_rl.decoding import EpsilonGreedyDecoder, SoftmaxDecoder
from snn_rl.envs.rewards import RewardSignal, make_reward_signal
from snn_rl.learning import MSTDPET, FedeSTDP

__all__ = ["MSTDPETAgent", "MSTDPETConfig"]


class MSTDPETAgent(SpikingAgent):
    """Spiking agent trained by reward-modulated STDP with eligibility traces.

    Args:
        env: env id, env instance or Gymnasium ``VectorEnv`` (its envs are the batch).
        network: optional user :class:`~snn_rl.SNNNetwork` (source population takes the
            encoder's currents; its last layer ends in the output population of
            ``n_actions * pop_size`` neurons). Default: built from the spaces and config.
        reward_signal: registry name ("td", "rpe", "env"), a RewardSignal, or a callable
            ``f(reward, terminated, truncated, obs, next_obs) -> (B,)``.
        device, seed, verbose, tensorboard_log: as :class:`SpikingAgent`.
        **hyperparameters: any field of :class:`MSTDPETConfig` (keyword only); None or
            absent means the tuned value for the env id, else the generic default.

    Example:
        >>> from snn_rl.agents import MSTDPETAgent
        >>> agent = MSTDPETAgent("CartPole-v1", n_envs=2, seed=0, device="cpu")
        >>> agent.config.encoder["n_per_dim"], agent.policy.output.shape
        ([3, 3, 6, 5], (20,))
        >>> _ = agent.learn(64)
        >>> agent.num_timesteps >= 64
        True
    """

    algo_name: ClassVar[str] = "MSTDPET"

    def __init__(
        self,
        env: str | gym.Env | VectorEnv | None,
        *,
        network: SNNNetwork | None = None,
        reward_signal: str | RewardSignal | Callable | None = None,
        n_envs: int | None = None,
        device: str | torch.device = "auto",
        seed: int | None = None,
        verbose: int = 0,
        tensorboard_log: str | None = None,
        config: MSTDPETConfig | None = None,
        observation_space: gym.spaces.Space | None = None,
        action_space: gym.spaces.Space | None = None,
        **hyperparameters: Any,
    ) -> None:
        env_id = env if isinstance(env, str) else getattr(getattr(env, "spec", None), "id", None)
        overrides = dict(hyperparameters)
        if n_envs is not None:
            overrides["n_envs"] = n_envs
        if isinstance(reward_signal, str):
            overrides["reward_signal"] = reward_signal
        self.config = config if config is not None else MSTDPETConfig.resolve(env_id, overrides)
        self._custom_network = network is not None
        self._custom_signal = reward_signal is not None and not isinstance(reward_signal, str)
        super().__init__(
            env,
            n_envs=self.config.n_envs,
            device=device,
            seed=seed,
            verbose=verbose,
            tensorboard_log=tensorboard_log,
            observation_space=observation_space,
            action_space=action_space,
        )
        self.env_id = self.env_id or env_id
        self._setup(network, reward_signal if self._custom_signal else None)

    # ------------------------------------------------------------------------ setup
    def _setup(self, network: SNNNetwork | None, signal: RewardSignal | Callable | None) -> None:
        cfg = self.config
        init_gen = torch.Generator().manual_seed(self.seed)
        encoder = build_encoder(cfg.encoder, self.observation_space)
        if hasattr(encoder, "check_values"):
            encoder.check_values = False  # the env driver checks observations itself
        n_actions = (
            int(self.action_space.n)
            if isinstance(self.action_space, gym.spaces.Discrete)
            else int(self.action_space.shape[0])
        )
        if network is None:
            network = build_network(encoder.out_features, n_actions * cfg.pop_size, cfg, init_gen)
        elif not isinstance(network, SNNNetwork):
            raise TypeError(f"network must be an SNNNetwork, got {type(network).__name__}")
        source = network.source()
        if source.shape != (encoder.out_features,):
            raise ValueError(
                f"the network's source population must have shape ({encoder.out_features},) "
                f"to take the encoder's currents, got {source.shape}"
            )
        if isinstance(source, Input):
            raise ValueError(
                "the source population must take currents (IFNeuron/LIFNeuron), not Input"
            )
        self._policy = SpikingPolicy(
            encoder,
            network,
            self.action_space,
            pop_size=cfg.pop_size,
            decision_steps=cfg.decision_steps,
            feedback_steps=cfg.feedback_steps,
            feedback_current=cfg.feedback_current,
        ).to(self.device)
        network.reset_state(batch_size=self.n_envs)
        layers = network.layer_state_dict()
        features = layers.pop("features", None)
        self.rule = MSTDPET(
            layers,
            a_pre=cfg.a_pre,
            a_post=cfg.a_post,
            lr=cfg.lr,
            e_trace_decay=cfg.e_trace_decay,
            w_min=cfg.w_min,
            w_max=cfg.w_max,
            per_env=True,
        )
        self.feature_rule = None
        if features is not None:
            feat = feature_layer_settings(cfg.feature_layer)
            self.feature_rule = FedeSTDP(
                {"features": features}, lr=feat["lr"], w_init=feat["w_init"], a=feat["a"]
            )
        self.reward_signal = self._make_signal(signal)
        self._explore_eps = (
            EpsilonGreedyDecoder(
                max(n_actions, 1),
                epsilon=cfg.exploration_initial_eps,
                generator=self.generator,
                neurons_per_action=cfg.pop_size,
            )
            if self._policy.discrete
            else None
        )
        self._explore_softmax = (
            SoftmaxDecoder(
                n_actions,
                temperature=cfg.softmax_temperature,
                generator=self.generator,
                neurons_per_action=cfg.pop_size,
            )
            if self._policy.discrete
            else None
        )
        for decoder in (self._explore_eps, self._explore_softmax):
            if decoder is not None:
                decoder.check_values = False  # counts come from our own network
        self._exploration = cfg.exploration_initial_eps
        self._diag = Diagnostics(self)

    def _make_signal(self, signal: RewardSignal | Callable | None) -> RewardSignal:
        if signal is not None:
            return make_reward_signal(signal).to(self.device)
        name = self.config.reward_signal
        kwargs = dict(self.config.reward_signal_kwargs)
        from snn_rl.envs.rewards import REWARD_SIGNALS

        cls = REWARD_SIGNALS.get(name)
        params = inspect.signature(cls).parameters if cls is not None else {}
        if "features" in params:
            kwargs.setdefault("features", self._policy.encode)
        if "n_features" in params:
            kwargs.setdefault("n_features", self._policy.encoder.out_features)
        if "seed" in params:
            kwargs.setdefault("seed", self.seed)
        if "check_finite" in params:  # the env driver already rejects NaN obs and rewards
            kwargs.setdefault("check_finite", False)
        return make_reward_signal(name, **kwargs).to(self.device)

    @property
    def policy(self) -> SpikingPolicy:
        return self._policy

    # ---------------------------------------------------------------------- training
    def _exploration_rate(self, progress: float) -> float:
        cfg = self.config
        if cfg.exploration_fraction <= 0.0:
            return cfg.exploration_final_eps
        frac = min(progress / cfg.exploration_fraction, 1.0)
        return cfg.exploration_initial_eps + frac * (
            cfg.exploration_final_eps - cfg.exploration_initial_eps
        )

    def _learning_rate(self, progress: float) -> float:
        """Actor learning rate: ``lr``, annealed linearly to ``lr_final`` over ``lr_fraction``
        of each ``learn`` call when ``lr_final`` is set."""
        cfg = self.config
        if cfg.lr_final is None:
            return cfg.lr
        frac = min(progress / cfg.lr_fraction, 1.0) if cfg.lr_fraction > 0 else 1.0
        return cfg.lr + frac * (cfg.lr_final - cfg.lr)

    def _current_exploration(self) -> float:
        return self._exploration

    def _explore(self, counts: Tensor, greedy: Tensor | None, rate: float) -> Tensor:
        policy = self._policy
        if policy.discrete:
            if self.config.exploration == "softmax":
                return self._explore_softmax(counts, policy.tie_break())
            self._explore_eps.epsilon = rate
            return self._explore_eps(counts, policy.tie_break())
        action = policy.greedy_action(counts) if greedy is None else greedy
        low, high = policy.decoder.low, policy.decoder.high
        noise = torch.randn(action.shape, generator=self.generator, device=action.device)
        return torch.clamp(action + rate * (high - low) * noise, low, high)

    def _start_episodes(self) -> None:
        self._policy.network.reset_state(batch_size=self.n_envs)
        self.rule.reset_state()
        self.reward_signal.reset()

    def _after_sim_step(self) -> None:
        self.rule.update_state()
        if self.feature_rule is not None:
            self.feature_rule.step()

    def _train_step(self, obs: Tensor, progress: float) -> tuple[Tensor, Any]:
        policy = self._policy
        self._exploration = self._exploration_rate(progress)
        if self.config.lr_final is not None:
            lr = self._learning_rate(progress)
            for group in self.rule.param_groups:
                group["lr"] = lr
        sample = self._diag.sampling()
        after = self._diag.after_sim_step if sample else self._after_sim_step
        with torch.no_grad():
            currents = policy.encode(obs)
            counts = policy.decide(currents, after)
            action = self._explore(counts, None, self._exploration)
            policy.feedback(currents, action, after)
            tr = self._driver.step(action)
            signal = self.reward_signal(
                tr.reward, tr.terminated, tr.truncated, obs, tr.next_obs, active=tr.active
            )
            before = self._diag.weights() if sample else None
            self.rule.step(signal)
            reset = (tr.done & tr.active) | ~tr.active
            # on a GPU, masked resets every step cost less than a host sync to skip them
            if self.device.type != "cpu" or bool(reset.any()):
                policy.network.reset_state(mask=reset)
                self.rule.reset_state(mask=reset)
                self.reward_signal.reset(mask=reset)
        self._count_steps(tr)
        self._diag.after_env_step(signal, tr.active, before)
        return tr.obs, tr

    def _record_diagnostics(self) -> None:
        self.logger.record("rollout/exploration_rate", self._exploration)
        self.logger.record("train/learning_rate", self.rule.param_groups[0]["lr"])
        self._diag.record(self.logger)

    # ------------------------------------------------------------------- checkpoints
    def _checkpoint(self) -> dict:
        return {
            "config": asdict(self.config),
            "custom_network": self._custom_network,
            "custom_reward_signal": self._custom_signal,
            "policy": self._policy.state_dict(),
            "rule": self.rule.state_dict(),
            "feature_rule": None if self.feature_rule is None else self.feature_rule.state_dict(),
            "reward_signal": self.reward_signal.state_dict(),
        }

    def _restore(self, data: dict) -> None:
        self._policy.load_state_dict(data["policy"])
        self.rule.load_state_dict(data["rule"])
        if self.feature_rule is not None:
            self.feature_rule.load_state_dict(data["feature_rule"])
        self.reward_signal.load_state_dict(data["reward_signal"])
        self._load_common(data)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        env: str | gym.Env | VectorEnv | None = None,
        *,
        device: str | torch.device = "auto",
        network: SNNNetwork | None = None,
        reward_signal: RewardSignal | Callable | None = None,
        verbose: int = 0,
    ) -> MSTDPETAgent:
        """Load a checkpoint written by :meth:`save` (``torch.load(weights_only=True)``).

        Args:
            env: the env to continue on (its spaces must equal the saved ones), or None.
            network: required when the agent was saved with a user-built network: a network
                of the same architecture, into which the saved weights are loaded.
            reward_signal: required when the agent was saved with a custom signal object.
        """
        from snn_rl.agents.env_util import resolve_device

        dev = resolve_device(device)
        data = cls._read_checkpoint(path, dev)
        if data["algo"] != cls.__name__:
            raise ValueError(f"{path} holds a {data['algo']}, not a {cls.__name__}")
        if data["custom_network"] and network is None:
            raise ValueError("this agent was saved with a user network; pass network=... to load()")
        if data["custom_reward_signal"] and reward_signal is None:
            raise ValueError(
                "this agent was saved with a custom reward signal; pass reward_signal=..."
            )
        obs_space, act_space = cls._spaces_from(data)
        agent = cls(
            None,
            network=network,
            reward_signal=reward_signal,
            device=dev,
            seed=int(data["seed"]),
            verbose=verbose,
            config=MSTDPETConfig(**data["config"]),
            observation_space=obs_space,
            action_space=act_space,
        )
        agent.env_id = data["env_id"]
        agent._restore(data)
        if env is not None:
            agent.set_env(env)
            agent._policy.network.reset_state(batch_size=agent.n_envs)
            agent.rule.reset_state()
        return agent
