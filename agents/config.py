"""MSTDPETAgent's configuration and the parts built from it: encoder and default network."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

import gymnasium as gym
import torch
from torch import nn

from snn_rl import FedeNeuron, IFNeuron, LIFNeuron, Linear, SNNNetwork
from snn_rl.agents.hyperparams import load_hyperparams
from snn_rl.encoding import ConjunctiveGaussianEncoder, GaussianPopulationEncoder, OneHotEncoder

__all__ = [
    "FEATURE_LAYER_DEFAULTS",
    "MSTDPETConfig",
    "build_encoder",
    "build_network",
    "feature_layer_settings",
]

Exploration = Literal["epsilon", "softmax"]


@dataclass
class MSTDPETConfig:
    """Every hyperparameter of :class:`MSTDPETAgent` (plain data, saved in checkpoints).

    Resolution order: these generic defaults < the tuned YAML entry for the env id
    (``agents/hyperparams/mstdpet.yml``) < arguments given to the constructor.
    """

    n_envs: int = 16
    encoder: dict = field(default_factory=lambda: {"type": "auto"})
    hidden_sizes: list = field(default_factory=list)
    pop_size: int = 10
    decision_steps: int = 5
    feedback_steps: int = 5
    feedback_current: float = 2.0
    tau_v: float = 0.8
    tau_t: float = 0.8
    thresh: float = 1.0
    v_min: float | None = 0.0
    a_pre: float = 1.0
    a_post: float = 0.0
    lr: float = 0.01
    lr_final: float | None = None
    lr_fraction: float = 1.0
    e_trace_decay: float = 0.97793
    w_min: float | None = -3.0
    w_max: float | None = 3.0
    weight_init_mean: float = 0.3
    weight_init_std: float = 0.1
    reward_signal: str | None = "td"
    reward_signal_kwargs: dict = field(default_factory=dict)
    exploration: Exploration = "epsilon"
    exploration_initial_eps: float = 0.1
    exploration_final_eps: float = 0.1
    exploration_fraction: float = 0.0
    softmax_temperature: float = 2.0
    feature_layer: dict | None = None

    def __post_init__(self) -> None:
        for name in ("n_envs", "pop_size", "decision_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.feedback_steps, int) or self.feedback_steps < 0:
            raise ValueError(f"feedback_steps must be an int >= 0, got {self.feedback_steps!r}")
        if not all(isinstance(h, int) and h > 0 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive ints, got {self.hidden_sizes!r}")
        if self.exploration not in ("epsilon", "softmax"):
            raise ValueError(
                f"exploration must be 'epsilon' or 'softmax', got {self.exploration!r}"
            )
        names = ("exploration_initial_eps", "exploration_final_eps", "exploration_fraction")
        for name in (*names, "lr_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.e_trace_decay <= 1.0:
            raise ValueError(f"e_trace_decay must lie in [0, 1], got {self.e_trace_decay}")
        if self.lr < 0 or self.softmax_temperature <= 0:
            raise ValueError("lr must be >= 0 and softmax_temperature > 0")
        if self.lr_final is not None and self.lr_final < 0:
            raise ValueError(f"lr_final must be >= 0 or None, got {self.lr_final}")

    @classmethod
    def resolve(cls, env_id: str | None, overrides: dict) -> MSTDPETConfig:
        names = {f.name for f in fields(cls)}
        tuned = load_hyperparams("mstdpet", env_id)
        tuned.pop("n_timesteps", None)  # a training budget, read by the CLI and benchmarks
        unknown = (set(tuned) | set(overrides)) - names
        if unknown:
            raise ValueError(
                f"unknown MSTDPETAgent hyperparameters {sorted(unknown)}; valid: {sorted(names)}"
            )
        return cls(**{**tuned, **overrides})


def build_encoder(config: dict, space: gym.spaces.Space) -> nn.Module:
    """Encoder from its config: ``type`` auto | conjunctive | gaussian | onehot (+ its args)."""
    cfg = dict(config)
    kind = cfg.pop("type", "auto")
    if isinstance(space, gym.spaces.Discrete):
        if kind not in ("auto", "onehot"):
            raise ValueError(f"a Discrete observation space needs a one-hot encoder, got {kind!r}")
        return OneHotEncoder(int(space.n), **cfg)
    dims = int(space.shape[0])
    if kind == "auto":
        kind = "conjunctive" if dims <= 6 else "gaussian"
        cfg.setdefault("n_per_dim", 5 if dims <= 4 else 3 if kind == "conjunctive" else 10)
    low, high = cfg.pop("low", None), cfg.pop("high", None)
    classes = {"conjunctive": ConjunctiveGaussianEncoder, "gaussian": GaussianPopulationEncoder}
    if kind not in classes:
        raise ValueError(
            f"encoder type must be one of {['auto', *classes, 'onehot']}, got {kind!r}"
        )
    try:
        return classes[kind].from_space(space, cfg.pop("n_per_dim"), low=low, high=high, **cfg)
    except ValueError as err:
        raise ValueError(
            f"{err} (pass bounds through the agent: encoder={{'low': [...], 'high': [...]}})"
        ) from err


FEATURE_LAYER_DEFAULTS = {"lr": 1e-3, "w_init": 1.5, "a": 0.0, "thresh": 1.0, "tau_v": 5.0}


def feature_layer_settings(config: dict) -> dict:
    """The optional FedeSTDP feature layer's settings: ``size`` (required) and
    :data:`FEATURE_LAYER_DEFAULTS` overridden by ``config``."""
    unknown = set(config) - {"size", *FEATURE_LAYER_DEFAULTS}
    if unknown or "size" not in config:
        raise ValueError(
            f"feature_layer needs 'size' and takes {sorted(FEATURE_LAYER_DEFAULTS)}; "
            f"got {sorted(config)}"
        )
    return {**FEATURE_LAYER_DEFAULTS, **config}


def build_network(
    n_inputs: int, n_outputs: int, config: MSTDPETConfig, generator: torch.Generator
) -> SNNNetwork:
    """Default network: rate-coding IF inputs -> [Fede features] -> hidden LIF -> output LIF.

    With a feature layer the input trace is normalised (``alpha_t = 1 - tau_t``, so it
    approaches the input rate): the Fede neurons' forcing compares ``sum_i w_i s_i`` with
    ``sum_i x_i``, and with weights near ``w_init`` it is positive only for traces of that
    scale.
    """
    net = SNNNetwork()
    lif = {
        "thresh": config.thresh,
        "tau_v": config.tau_v,
        "tau_t": config.tau_t,
        "v_min": config.v_min,
    }
    alpha_t = 1.0 - config.tau_t if config.feature_layer else 1.0
    pre = IFNeuron(
        n_inputs, thresh=1.0, v_rest=0.0, alpha_v=1.0, alpha_t=alpha_t, tau_t=config.tau_t
    )
    size = n_inputs
    if config.feature_layer:
        feat = feature_layer_settings(config.feature_layer)
        post = FedeNeuron(int(feat["size"]), thresh=feat["thresh"], tau_v=feat["tau_v"])
        net.add_layer("features", Linear(size, post.shape[0], generator=generator), pre, post)
        net.connections["features"].reset_weights("constant", feat["w_init"])
        pre, size = post, post.shape[0]
    for i, hidden in enumerate(config.hidden_sizes):
        post = LIFNeuron(hidden, **lif)
        net.add_layer(f"hidden{i}", Linear(size, hidden, generator=generator), pre, post)
        pre, size = post, hidden
    net.add_layer(
        "output", Linear(size, n_outputs, generator=generator), pre, LIFNeuron(n_outputs, **lif)
    )
    for name, conn in net.connections.items():
        if name != "features":
            conn.reset_weights(
                "normal", config.weight_init_mean, config.weight_init_std, generator=generator
            )
    return net
