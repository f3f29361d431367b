"""MSTDPETAgent: a spiking agent whose readout learns by MSTDPET (Florian 2007).

Parts (built from :class:`MSTDPETConfig`):

* policy: encoder (population code) -> network (IF inputs, optional FedeSTDP feature
  layers, hidden LIF layers, output LIF populations) -> greedy/exploratory read-out;
* critic: by default a linear TD(lambda) critic on the policy's input code, whose TD error
  of the reward function's output is the modulator;
* learners: MSTDPET on the ``"readout"`` layers, FedeSTDP on the ``"features"`` layers.

Reward timing: the modulator of env step t multiplies the eligibility as it stands right
after the efference-copy window of step t (the windows of action t plus the decayed
windows of earlier actions): ``W <- W + lr * mean_b(signal_b * E_b)``. The measured
recipe behind the CartPole defaults is in docs/results.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from snn_rl import Input, SNNNetwork
from snn_rl.agents.base import AgentParts, SpikingAgent
from snn_rl.agents.config import AgentConfig
from snn_rl.agents.critics import CriticConfig, TDCriticConfig
from snn_rl.agents.env_util import DEFAULT_MAX_EPISODE_STEPS
from snn_rl.agents.learners import FeatureLearner, Learner, ReadoutLearner
from snn_rl.agents.policy import Exploration, SpikingPolicy
from snn_rl.agents.sections import (
    EncoderConfig,
    ExplorationConfig,
    FeatureLayerConfig,
    NetworkConfig,
    RuleConfig,
    ScheduleConfig,
    WindowConfig,
    build_feature_rule,
)
from snn_rl.agents.task import Choice, TaskInfo, rollout_bounds

__all__ = ["MSTDPETAgent", "MSTDPETConfig"]


@dataclass(frozen=True)
class MSTDPETConfig(AgentConfig):
    """Everything that defines an :class:`MSTDPETAgent` (plain data in checkpoints and YAML).

    Resolution when no ``config`` is given: these generic defaults < the tuned entry for the
    env id in ``agents/hyperparams/mstdpet.yml`` < the agent's ``overrides``.

    Attributes:
        n_envs: envs built from an env id (also: envs averaged per weight update).
        reward: the reward function the critic learns from.
        encoder: the observation code.
        features: FedeSTDP feature layers between the inputs and the hidden layers.
        network: hidden layers, output populations, neurons and initial weights.
        windows: the decision and efference-copy windows.
        rule: MSTDPET of the readout layers.
        schedule: the readout learning-rate schedule.
        critic: what turns the reward into the modulator (``type``: td, spiking_td, rpe,
            none).
        exploration: the policy's exploration and its schedule.
    """

    n_envs: int = 16
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    features: tuple[FeatureLayerConfig, ...] = ()
    network: NetworkConfig = field(default_factory=NetworkConfig)
    windows: WindowConfig = field(default_factory=WindowConfig)
    rule: RuleConfig = field(default_factory=RuleConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    critic: CriticConfig = field(default_factory=TDCriticConfig)
    exploration: ExplorationConfig = field(default_factory=ExplorationConfig)


class MSTDPETAgent(SpikingAgent):
    """Spiking agent trained by reward-modulated STDP with eligibility traces.

    Arguments as :class:`~snn_rl.agents.SpikingAgent`. A user ``network``'s source
    population takes the encoder's currents (IF or LIF neurons, not ``Input``), its last
    layer ends in the output population of ``n_actions * pop_size`` neurons, and every
    layer declares its role.

    Example:
        >>> from snn_rl.agents import MSTDPETAgent
        >>> agent = MSTDPETAgent("CartPole-v1", n_envs=2, seed=0, device="cpu")
        >>> agent.config.encoder.n_per_dim, agent.policy.output.shape
        ((3, 3, 6, 5), (20,))
        >>> _ = agent.learn(64)
        >>> agent.num_timesteps >= 64
        True
    """

    config_class = MSTDPETConfig
    config: MSTDPETConfig
    population_variants = (
        "network.weight_init_mean",  # initial weights only: each member draws its own
        "network.weight_init_std",
        "windows.feedback_current",
        "rule.lr",
        "rule.a_pre",
        "rule.a_post",
        "rule.e_trace_decay",
        "rule.w_min",
        "rule.w_max",
        "schedule.lr_final",
        "schedule.lr_fraction",
        "critic.gamma",
        "critic.lam",
        "critic.lr",
        "critic.lr_bias",
        "critic.init_value",  # the initial bias only
        "critic.norm_rate",
        "exploration.initial_eps",
        "exploration.final_eps",
        "exploration.fraction",
    )

    @classmethod
    def task_defaults(cls, task: TaskInfo) -> list[Choice]:
        return mstdpet_task_defaults(task)

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """What ``snn-rl tune`` samples (the table in docs/tune.md): the readout rule, the
        TD(lambda) critic (a base configuration with another critic is switched to ``td``),
        exploration, windows, output populations, the encoder's width and ``n_envs``."""
        return {
            "n_envs": trial.suggest_categorical("n_envs", [2, 4, 8, 16]),
            "encoder.sigma_scale": trial.suggest_float("encoder.sigma_scale", 0.3, 1.0),
            "network.pop_size": trial.suggest_categorical("network.pop_size", [5, 10, 20]),
            "network.weight_init_mean": trial.suggest_float("network.weight_init_mean", 0.0, 0.6),
            "windows.decision_steps": trial.suggest_int("windows.decision_steps", 3, 8),
            "windows.feedback_steps": trial.suggest_int("windows.feedback_steps", 2, 8),
            "windows.feedback_current": trial.suggest_float("windows.feedback_current", 1.0, 5.0),
            "rule.lr": trial.suggest_float("rule.lr", 1e-4, 0.1, log=True),
            "rule.a_post": trial.suggest_float("rule.a_post", 0.0, 1.0),
            "rule.e_trace_decay": trial.suggest_float("rule.e_trace_decay", 0.9, 0.999),
            "critic.type": "td",
            "critic.gamma": trial.suggest_categorical(
                "critic.gamma", [0.9, 0.95, 0.98, 0.99, 0.995]
            ),
            "critic.lam": trial.suggest_categorical("critic.lam", [0.0, 0.5, 0.8, 0.9, 0.95]),
            "critic.lr": trial.suggest_float("critic.lr", 0.01, 0.5, log=True),
            "exploration.initial_eps": trial.suggest_float("exploration.initial_eps", 0.0, 0.5),
            "exploration.final_eps": trial.suggest_float("exploration.final_eps", 0.0, 0.2),
            "exploration.fraction": trial.suggest_float("exploration.fraction", 0.0, 0.5),
        }

    def _build(self, network: SNNNetwork | None) -> AgentParts:
        cfg = self.config
        init_gen = torch.Generator().manual_seed(self.seed)
        encoder = cfg.encoder.build(self.observation_space)
        if hasattr(encoder, "check_values"):
            encoder.check_values = False  # the env driver checks observations itself
        n_actions = (
            int(self.action_space.n)
            if isinstance(self.action_space, gym.spaces.Discrete)
            else int(self.action_space.shape[0])
        )
        pop_size = cfg.network.pop_size
        if network is None:
            network = cfg.network.build(
                encoder.out_features,
                n_actions * pop_size,
                cfg.features,
                init_gen,
                input_shape=getattr(encoder, "image_shape", None),
            )
        _check_user_network(network, encoder.out_features)
        exploration = Exploration(
            cfg.exploration.type,
            self.action_space,
            pop_size=pop_size,
            temperature=cfg.exploration.temperature,
            generator=self.generator,
            schedule=cfg.exploration.rate,
        )
        policy = SpikingPolicy(
            encoder,
            network,
            self.action_space,
            exploration,
            pop_size=pop_size,
            decision_steps=cfg.windows.decision_steps,
            feedback_steps=cfg.windows.feedback_steps,
            feedback_current=cfg.windows.feedback_current,
        ).to(self.device)
        network.reset_state(batch_size=self.n_envs)
        learners: list[Learner] = [
            ReadoutLearner(
                cfg.rule.build(network.layer_state_dict(role="readout")),
                cfg.schedule,
                credit=cfg.windows.credit,
            )
        ]
        features = network.layer_state_dict(role="features")
        trained = tuple(f for f in cfg.features if not f.frozen)
        if features:
            if len(trained) != len(features):
                raise ValueError(
                    f"the network has {len(features)} trained feature layers but the config's "
                    f"features section lists {len(trained)} (frozen ones left out); give one "
                    "FeatureLayerConfig per layer"
                )
            learners.append(FeatureLearner(build_feature_rule(features, trained)))
        critic = cfg.critic.build(encoder.out_features, seed=self.seed, device=self.device)
        return AgentParts(policy=policy, critic=critic, learners=learners)


#: Sparse rewards: at most this fraction of the random rollout's steps pays a non-zero reward.
SPARSE_FRACTION = 0.05


def mstdpet_task_defaults(task: TaskInfo) -> list[Choice]:
    """The configuration of an env without a tuned entry (docs/agents.md, "Defaults derived
    from the task"): each value with the rule that chose it."""
    out: list[Choice] = []
    space = task.observation_space
    if isinstance(space, gym.spaces.Discrete):
        out.append(Choice("encoder.type", "onehot", "Discrete observations: one input per value"))
    elif isinstance(space, gym.spaces.Box) and len(space.shape) > 1 and task.obs_mean is not None:
        out.extend(_image_weights(space, task.obs_mean))
    elif isinstance(space, gym.spaces.Box) and len(space.shape) == 1 and task.obs_low is not None:
        bounds = rollout_bounds(task)
        if bounds is not None:
            low, high, notes = bounds
            rule = "unbounded dimensions take a random rollout's range widened by 1/4: "
            out.append(Choice("encoder.low", low, rule + "; ".join(notes)))
            out.append(Choice("encoder.high", high, "as encoder.low"))
    horizon = task.horizon or DEFAULT_MAX_EPISODE_STEPS
    gamma = round(min(max(1.0 - 1.0 / horizon, 0.0), 0.99), 4)
    lam = 0.9
    out.append(
        Choice("critic.gamma", gamma, f"1 - 1/H for the horizon H = {horizon}, at most 0.99")
    )
    out.append(Choice("critic.lam", lam, "credit over about 10 env steps"))
    rewards = task.rewards
    if rewards is not None and rewards.size:
        paying = float(np.mean(rewards != 0))
        best = float(rewards.max())
        if paying <= SPARSE_FRACTION:
            value = 0.5 * (max(best, 0.0) or 1.0)
            out.append(
                Choice(
                    "critic.init_value",
                    value,
                    f"sparse reward ({paying:.1%} of {rewards.size} random steps pay): values "
                    "start optimistic at half the largest reward seen (0.5 if none), so the "
                    "modulator is not 0 before the first reward and unvisited states attract",
                )
            )
    out.append(
        Choice(
            "critic.lr_bias",
            0.0,
            "no shared bias: it would move every state's value with each TD error (and erase "
            "an optimistic start)",
        )
    )
    out.append(
        Choice(
            "critic.normalize",
            True,
            "the modulator is the TD error over its running RMS, so one readout learning rate "
            "serves rewards of any scale (FrozenLake's TD errors stay below 1, CliffWalking's "
            "reach 100)",
        )
    )
    out.append(
        Choice(
            "rule.lr",
            0.002,
            "the readout step for a modulator of unit RMS (measured on FrozenLake, CliffWalking "
            "and Taxi: docs/results.md)",
        )
    )
    out.append(
        Choice(
            "windows.feedback_current",
            5.0,
            "the efference copy makes the chosen population fire whatever its weights, so an "
            "action whose weights fell to w_min still learns",
        )
    )
    return out


def _image_weights(space: gym.spaces.Box, obs_mean: np.ndarray) -> list[Choice]:
    """Readout weights scaled to an image's mean input activity (see the rule's text)."""
    low, high = float(np.min(space.low)), float(np.max(space.high))
    if not (np.isfinite(low) and np.isfinite(high) and high > low):
        return []  # the encoder asks for the intensity range; nothing to scale by yet
    active = float(np.clip((obs_mean - low) / (high - low), 0.0, 1.0).sum())
    if active <= 1.0:
        return []
    defaults = NetworkConfig()
    mean = float(f"{defaults.weight_init_mean / active:.4g}")
    std = float(f"{defaults.weight_init_std / active:.4g}")
    rule = (
        f"image inputs: {active:.1f} of them active on average (random rollout), so readout "
        f"weights start at {defaults.weight_init_mean}/{active:.1f} (std {defaults.weight_init_std}"
        f"/{active:.1f}), the current that one active input of the default weight gives; "
        "otherwise every output neuron fires on every step and the greedy action is a tie"
    )
    return [
        Choice("network.weight_init_mean", mean, rule),
        Choice("network.weight_init_std", std, "as network.weight_init_mean"),
    ]


def _check_user_network(network: SNNNetwork, n_inputs: int) -> None:
    if not isinstance(network, SNNNetwork):
        raise TypeError(f"network must be an SNNNetwork, got {type(network).__name__}")
    undeclared = [name for name, role in network.roles.items() if role is None]
    if undeclared:
        raise ValueError(
            f"layers {undeclared} declare no role; say what trains each layer: "
            "network.add_layer(..., role='readout' | 'features' | 'fixed') or "
            "network.set_role(name, role)"
        )
    if not network.layer_state_dict(role="readout"):
        raise ValueError("the network has no layer with role 'readout' for MSTDPET to train")
    source = network.source()
    if math.prod(source.shape) != n_inputs:
        raise ValueError(
            f"the network's source population must hold the encoder's {n_inputs} currents "
            f"(shape ({n_inputs},), or an image's (C, H, W)), got {source.shape}"
        )
    if isinstance(source, Input):
        raise ValueError("the source population must take currents (IFNeuron/LIFNeuron), not Input")
