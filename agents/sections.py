"""Configuration sections of spiking agents, each with the part it builds.

=================  =================================================================
section            builds
=================  =================================================================
EncoderConfig      the observation code (Gaussian population or grid code, one-hot)
FeatureLayerConfig one FedeSTDP-trained layer of Fede neurons (role ``"features"``)
NetworkConfig      input IF population -> [feature layers] -> hidden LIF -> output LIF
WindowConfig       the decision and efference-copy windows of one env step
RuleConfig         the MSTDPET rule of the readout layers (role ``"readout"``)
ScheduleConfig     the readout learning-rate schedule over a ``learn`` call
ExplorationConfig  the exploration of the policy and its schedule
=================  =================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import gymnasium as gym
import torch
from torch import nn

from snn_rl import Conv2d, FedeNeuron, IFNeuron, LIFNeuron, Linear, SNNNetwork
from snn_rl.agents.config import Section
from snn_rl.encoding import (
    ConjunctiveGaussianEncoder,
    GaussianPopulationEncoder,
    ImageEncoder,
    OneHotEncoder,
    PairwiseGaussianEncoder,
)
from snn_rl.learning import MSTDPET, FedeSTDP

__all__ = [
    "EncoderConfig",
    "ExplorationConfig",
    "FeatureLayerConfig",
    "NetworkConfig",
    "NeuronConfig",
    "RuleConfig",
    "ScheduleConfig",
    "WindowConfig",
    "linear_schedule",
]


def linear_schedule(initial: float, final: float, fraction: float, progress: float) -> float:
    """``initial`` -> ``final`` linearly over the first ``fraction`` of training, then
    ``final`` (``fraction == 0``: ``final`` throughout)."""
    if fraction <= 0.0:
        return final
    return initial + min(progress / fraction, 1.0) * (final - initial)


@dataclass(frozen=True)
class EncoderConfig(Section):
    """The observation code.

    ``type``: ``"onehot"`` for Discrete spaces; for 1-D Box, ``"gaussian"`` (one population of
    ``n_per_dim`` Gaussian receptive fields per dimension), ``"conjunctive"`` (a grid of
    products over all dimensions) or ``"pairwise"`` (the populations plus a grid for every
    pair of dimensions, :class:`~snn_rl.encoding.PairwiseGaussianEncoder`); for image Box spaces (2 or 3 dims) ``"image"``, the
    intensity code of :class:`~snn_rl.encoding.ImageEncoder` (``layout``: "hwc", "chw", "hw"
    or "auto"). ``"auto"`` picks one-hot for Discrete, the image code for images, the grid
    with 5 centres per dimension up to 4 dimensions and 3 up to 6, else the pairwise code
    with 5 centres up to 12 dimensions and 3 above (LunarLander's 8: 740 inputs; 24
    dimensions: 2556). ``low``/``high`` replace the space's bounds (needed where they are infinite; for
    images one number each, the intensity range).
    """

    type: Literal["auto", "conjunctive", "gaussian", "pairwise", "onehot", "image"] = "auto"
    n_per_dim: int | tuple[int, ...] | None = None
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None
    sigma_scale: float = 0.5
    clip: bool = True
    layout: Literal["auto", "hwc", "chw", "hw"] = "auto"

    def validate(self) -> None:
        if self.sigma_scale <= 0:
            raise ValueError(f"sigma_scale must be > 0, got {self.sigma_scale}")

    def build(self, space: gym.spaces.Space) -> nn.Module:
        if isinstance(space, gym.spaces.Discrete):
            if self.type not in ("auto", "onehot"):
                raise ValueError(
                    f"encoder.type: a Discrete observation space needs 'onehot', got {self.type!r}"
                )
            return OneHotEncoder(int(space.n), start=int(space.start))
        if self.type == "onehot":
            raise ValueError(
                f"encoder.type 'onehot' needs a Discrete observation space, got {space}"
            )
        if len(space.shape) > 1 or self.type == "image":
            return self._image(space)
        dims = int(space.shape[0])
        kind, n_per_dim = self.type, self.n_per_dim
        if kind == "auto":
            kind = "conjunctive" if dims <= 6 else "pairwise"
            if n_per_dim is None:
                n_per_dim = 5 if dims <= 4 or 6 < dims <= 12 else 3
        if n_per_dim is None:
            raise ValueError(f"encoder.n_per_dim is needed for encoder.type {kind!r}")
        cls = {
            "conjunctive": ConjunctiveGaussianEncoder,
            "pairwise": PairwiseGaussianEncoder,
        }.get(kind, GaussianPopulationEncoder)
        low = None if self.low is None else list(self.low)
        high = None if self.high is None else list(self.high)
        try:
            return cls.from_space(
                space, n_per_dim, low=low, high=high, sigma_scale=self.sigma_scale, clip=self.clip
            )
        except ValueError as err:
            raise ValueError(
                f"encoder: {err} (give bounds in the config: encoder.low and encoder.high)"
            ) from err

    def _image(self, space: gym.spaces.Space) -> nn.Module:
        if self.type not in ("auto", "image"):
            raise ValueError(
                f"encoder.type: an image observation space {space.shape} needs 'image' (or "
                f"'auto'), got {self.type!r}"
            )
        bounds = []
        for name in ("low", "high"):
            value = getattr(self, name)
            if value is not None and len(value) != 1:
                raise ValueError(
                    f"encoder.{name}: an image's intensity range is one number, got {list(value)}"
                )
            bounds.append(None if value is None else float(value[0]))
        try:
            return ImageEncoder.from_space(space, layout=self.layout, low=bounds[0], high=bounds[1])
        except ValueError as err:
            raise ValueError(f"encoder: {err}") from err


@dataclass(frozen=True)
class FeatureLayerConfig(Section):
    """One layer of ``size`` Fede neurons trained by FedeSTDP without reward.

    ``lr``, ``w_init``, ``a``: the rule's; ``thresh``, ``tau_v``: the neurons' threshold and
    membrane time constant. Weights start uniform on ``w_init * [1 - w_spread, 1 + w_spread]``
    and ``winners`` neurons at most spike per step and env (lateral inhibition,
    ``FedeNeuron(winners=)``). Both are what lets the neurons differ: with ``w_spread = 0``
    every neuron of the layer starts equal and stays equal, and without competition FedeSTDP
    drives them all to the same weights (``winners: null`` turns it off).

    ``inhibition_radius`` (convolutional layers with ``winners: 1``) extends the competition
    across the maps to every position within that many positions (``FedeNeuron(
    inhibition_radius=)``), so two maps cannot keep one pattern at shifted offsets.
    ``target_rate`` (None: off) turns on the rule's homeostasis: each neuron's (each map's)
    threshold moves by ``homeostasis_lr`` times the gap between its spike rate and
    ``target_rate`` per step (``FedeSTDP(target_rate=)``), so a neuron fires only for the
    inputs it matches best and a silent one gets its turn.

    ``frozen: true`` keeps the layer at its random start (role ``"fixed"``: no rule trains
    it, its thresholds stay put): the ablation that says what the learned features add.

    ``kernel_size`` (image observations only) makes the layer convolutional: ``size`` maps
    of ``kernel_size`` x ``kernel_size`` kernels over the previous layer's ``(C, H, W)``
    maps (the first over the image), ``stride`` apart, ``padding`` (default
    ``kernel_size // 2``) around, with competition across the maps at each position; the
    next layer reads the maps flattened.
    """

    size: int
    lr: float = 1e-3
    w_init: float = 1.5
    a: float = 0.0
    thresh: float = 1.0
    tau_v: float = 5.0
    w_spread: float = 0.5
    winners: int | None = 1
    inhibition_radius: int = 0
    target_rate: float | None = None
    homeostasis_lr: float = 1.0
    frozen: bool = False
    kernel_size: int | None = None
    stride: int = 1
    padding: int | None = None

    def validate(self) -> None:
        if self.size < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")
        if self.kernel_size is not None and self.kernel_size < 1:
            raise ValueError(f"kernel_size must be >= 1 or None, got {self.kernel_size}")
        if self.stride < 1 or (self.padding is not None and self.padding < 0):
            raise ValueError(
                f"stride must be >= 1 and padding >= 0, got {self.stride}, {self.padding}"
            )
        if self.kernel_size is None and (self.stride != 1 or self.padding is not None):
            raise ValueError(
                "set kernel_size: stride and padding apply to convolutional layers only"
            )
        if self.lr <= 0 or self.tau_v <= 0:
            raise ValueError(f"lr and tau_v must be > 0, got {self.lr} and {self.tau_v}")
        if not 0.0 <= self.a < 1.0:
            raise ValueError(f"a must lie in [0, 1), got {self.a}")
        if not 0.0 <= self.w_spread <= 1.0:
            raise ValueError(f"w_spread must lie in [0, 1], got {self.w_spread}")
        if self.winners is not None and self.winners < 1:
            raise ValueError(f"winners must be >= 1 or None, got {self.winners}")
        if self.inhibition_radius < 0:
            raise ValueError(f"inhibition_radius must be >= 0, got {self.inhibition_radius}")
        if self.inhibition_radius and (self.kernel_size is None or self.winners != 1):
            raise ValueError(
                "inhibition_radius needs a convolutional layer (kernel_size) with winners: 1, "
                f"got kernel_size {self.kernel_size} and winners {self.winners}"
            )
        if self.target_rate is not None and not 0.0 < self.target_rate <= 1.0:
            raise ValueError(f"target_rate must lie in (0, 1] or be None, got {self.target_rate}")
        if self.homeostasis_lr <= 0:
            raise ValueError(f"homeostasis_lr must be > 0, got {self.homeostasis_lr}")


@dataclass(frozen=True)
class NeuronConfig(Section):
    """The LIF neurons of the hidden and output layers ("linear" updates)."""

    decay_v: float = 0.8
    decay_t: float = 0.8
    thresh: float = 1.0
    v_min: float | None = 0.0

    def validate(self) -> None:
        for name in ("decay_v", "decay_t"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")


@dataclass(frozen=True)
class NetworkConfig(Section):
    """The default network: IF inputs -> [feature layers] -> hidden LIF layers -> output LIF.

    The output has ``pop_size`` neurons per action (Discrete) or per action dimension (Box).
    Hidden and output weights start normal(``weight_init_mean``, ``weight_init_std``).
    ``feature_skip`` (with feature layers; default on): the input code also feeds the first
    readout population directly (layer ``"skip"``, role ``"readout"``), beside the features,
    so a feature layer adds to the code the readout learns from instead of replacing it.
    """

    hidden_sizes: tuple[int, ...] = ()
    feature_skip: bool = True
    pop_size: int = 10
    neuron: NeuronConfig = field(default_factory=NeuronConfig)
    weight_init_mean: float = 0.3
    weight_init_std: float = 0.1

    def validate(self) -> None:
        if any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be ints >= 1, got {list(self.hidden_sizes)}")
        if self.pop_size < 1:
            raise ValueError(f"pop_size must be >= 1, got {self.pop_size}")
        if self.weight_init_std < 0:
            raise ValueError(f"weight_init_std must be >= 0, got {self.weight_init_std}")

    def build(
        self,
        n_inputs: int,
        n_outputs: int,
        features: tuple[FeatureLayerConfig, ...],
        generator: torch.Generator,
        input_shape: tuple[int, int, int] | None = None,
    ) -> SNNNetwork:
        """The network, with layer roles declared: feature layers ``"features"``, the rest
        ``"readout"``. ``input_shape``: the ``(C, H, W)`` of image inputs (needed by
        convolutional feature layers, whose input population then has that shape).

        With feature layers the input trace is normalised (``alpha_t = 1 - decay_t``, so it
        approaches the input rate): Fede forcing compares ``sum_i w_i s_i`` with
        ``sum_i x_i``, and with weights near ``w_init`` it is positive only for traces of
        that scale.
        """
        net = SNNNetwork()
        cell = self.neuron
        lif = {"thresh": cell.thresh, "decay_v": cell.decay_v, "decay_t": cell.decay_t}
        alpha_t = 1.0 - cell.decay_t if features else 1.0
        conv = any(f.kernel_size is not None for f in features)
        if conv and input_shape is None:
            raise ValueError(
                "features: convolutional layers (kernel_size) need image observations, got a "
                f"{n_inputs}-input code"
            )
        if conv and any(f.kernel_size is None for f in features[: _last_conv(features)]):
            raise ValueError("features: convolutional layers must come before the dense ones")
        shape = tuple(input_shape) if conv else (n_inputs,)
        pre = source = IFNeuron(shape, thresh=1.0, alpha_t=alpha_t, decay_t=cell.decay_t)
        size = n_inputs
        for i, feat in enumerate(features):
            name = "features" if len(features) == 1 else f"features{i}"
            if feat.kernel_size is not None:
                pad = feat.kernel_size // 2 if feat.padding is None else feat.padding
                conn = Conv2d(
                    shape[0],
                    feat.size,
                    feat.kernel_size,
                    input_size=shape[1:],
                    stride=feat.stride,
                    padding=pad,
                    generator=generator,
                )
                shape = conn.post_shape
            else:
                conn = _dense(size, feat.size, shape, generator)
                shape = (feat.size,)
            post = FedeNeuron(
                shape,
                thresh=feat.thresh,
                tau_v=feat.tau_v,
                winners=feat.winners,
                inhibition_radius=feat.inhibition_radius,
            )
            net.add_layer(name, conn, pre, post, role="fixed" if feat.frozen else "features")
            conn.reset_weights("constant", feat.w_init)
            if feat.w_spread > 0:
                u = torch.rand(conn.weight.shape, generator=generator)
                with torch.no_grad():
                    conn.weight.mul_(1.0 - feat.w_spread + 2.0 * feat.w_spread * u)
            pre, size = post, math.prod(shape)
        skip = bool(features) and self.feature_skip  # the readout also sees the input code

        def add_skip(target) -> None:  # before the output layer: the policy reads the last one
            conn = _dense(n_inputs, target.shape[0], source.shape, generator)
            net.add_layer("skip", conn, source, target, role="readout")

        for i, hidden in enumerate(self.hidden_sizes):
            post = LIFNeuron(hidden, v_min=cell.v_min, **lif)
            net.add_layer(
                f"hidden{i}", _dense(size, hidden, pre.shape, generator), pre, post, role="readout"
            )
            if skip and i == 0:
                add_skip(post)
            pre, size = post, hidden
        out = LIFNeuron(n_outputs, v_min=cell.v_min, **lif)
        if skip and not self.hidden_sizes:
            add_skip(out)
        net.add_layer(
            "output", _dense(size, n_outputs, pre.shape, generator), pre, out, role="readout"
        )
        for name in net.layer_state_dict(role="readout"):
            net.connections[name].reset_weights(
                "normal", self.weight_init_mean, self.weight_init_std, generator=generator
            )
        return net


def _dense(n_in: int, n_out: int, pre_shape: tuple[int, ...], generator: torch.Generator) -> Linear:
    """A Linear layer from a population of any shape (maps are read flattened)."""
    shape = tuple(pre_shape) if len(pre_shape) > 1 else None
    return Linear(n_in, n_out, generator=generator, input_shape=shape)


def _last_conv(features: tuple[FeatureLayerConfig, ...]) -> int:
    return max((i for i, f in enumerate(features) if f.kernel_size is not None), default=-1)


@dataclass(frozen=True)
class WindowConfig(Section):
    """One env step: ``decision_steps`` simulation steps decide, then ``feedback_steps``
    steps drive the chosen action's population with ``+feedback_current`` (the others with
    ``-feedback_current``), so the eligibility credits the action actually taken.

    ``credit``: which windows' spikes enter the readout's eligibility: ``"both"``, or only
    the efference copy's (``"feedback"``; the eligibility decays through the decision window),
    so populations that fired while deciding but were not chosen earn nothing."""

    decision_steps: int = 5
    feedback_steps: int = 5
    feedback_current: float = 2.0
    credit: Literal["both", "feedback"] = "both"

    def validate(self) -> None:
        if self.decision_steps < 1:
            raise ValueError(f"decision_steps must be >= 1, got {self.decision_steps}")
        if self.feedback_steps < 0:
            raise ValueError(f"feedback_steps must be >= 0, got {self.feedback_steps}")
        if self.credit == "feedback" and self.feedback_steps == 0:
            raise ValueError("credit 'feedback' needs feedback_steps >= 1")


@dataclass(frozen=True)
class RuleConfig(Section):
    """MSTDPET of the readout layers: ``E <- e_trace_decay * E + a_pre * x (x) z - a_post *
    s (x) y`` per simulation step, ``W <- clamp(W + lr * mean_b(delta_b E_b), w_min, w_max)``
    per env step, with ``delta`` the critic's modulator. ``zero_sum``: each step's change
    loses its mean over the layer's neurons (per input weight), so what one action's
    population gains the others lose and the readout can neither fall silent nor saturate
    as a whole (``MSTDPET(zero_sum=True)``)."""

    a_pre: float = 1.0
    a_post: float = 0.0
    lr: float = 0.01
    e_trace_decay: float = 0.97793
    w_min: float | None = -3.0
    w_max: float | None = 3.0
    zero_sum: bool = False

    def validate(self) -> None:
        if self.lr < 0:
            raise ValueError(f"lr must be >= 0, got {self.lr}")
        if self.a_pre < 0 or self.a_post < 0:
            raise ValueError(f"a_pre and a_post must be >= 0, got {self.a_pre}, {self.a_post}")
        if not 0.0 <= self.e_trace_decay <= 1.0:
            raise ValueError(f"e_trace_decay must lie in [0, 1], got {self.e_trace_decay}")
        if self.w_min is not None and self.w_max is not None and self.w_min >= self.w_max:
            raise ValueError(f"w_min must be < w_max, got {self.w_min} and {self.w_max}")

    def build(self, layers: dict) -> MSTDPET:
        return MSTDPET(
            layers,
            a_pre=self.a_pre,
            a_post=self.a_post,
            lr=self.lr,
            e_trace_decay=self.e_trace_decay,
            w_min=self.w_min,
            w_max=self.w_max,
            per_env=True,
            zero_sum=self.zero_sum,
        )


def build_feature_rule(layers: dict, features: tuple[FeatureLayerConfig, ...]) -> FedeSTDP:
    """One FedeSTDP rule, one parameter group per trained feature layer (in layer order;
    ``features``: the configs of those layers, frozen ones left out)."""
    groups = [
        {
            "layers": {name: layer},
            "lr": feat.lr,
            "w_init": feat.w_init,
            "a": feat.a,
            "target_rate": feat.target_rate,
            "homeostasis_lr": feat.homeostasis_lr,
        }
        for (name, layer), feat in zip(layers.items(), features, strict=True)
    ]
    first = features[0]
    return FedeSTDP(groups, lr=first.lr, w_init=first.w_init, a=first.a)


@dataclass(frozen=True)
class ScheduleConfig(Section):
    """The readout learning rate over each ``learn`` call: ``rule.lr`` annealed linearly to
    ``lr_final`` over the first ``lr_fraction`` of the call (``lr_final`` None: constant)."""

    lr_final: float | None = None
    lr_fraction: float = 1.0

    def validate(self) -> None:
        if self.lr_final is not None and self.lr_final < 0:
            raise ValueError(f"lr_final must be >= 0 or None, got {self.lr_final}")
        if not 0.0 <= self.lr_fraction <= 1.0:
            raise ValueError(f"lr_fraction must lie in [0, 1], got {self.lr_fraction}")

    def lr(self, initial: float, progress: float) -> float | None:
        """The learning rate at ``progress`` in [0, 1], or None when it stays ``initial``."""
        if self.lr_final is None:
            return None
        fraction = self.lr_fraction if self.lr_fraction > 0 else 0.0
        return linear_schedule(initial, self.lr_final, fraction, progress)


@dataclass(frozen=True)
class ExplorationConfig(Section):
    """Exploration of the policy (kept apart from learning).

    Discrete actions: ``"epsilon"``-greedy with epsilon going linearly from ``initial_eps``
    to ``final_eps`` over the first ``fraction`` of each ``learn`` call, or ``"softmax"``
    sampling of the population counts at ``temperature``. Box actions: Gaussian noise of
    std ``eps * (high - low)`` on the population-vector action, with the same schedule.
    """

    type: Literal["epsilon", "softmax"] = "epsilon"
    initial_eps: float = 0.1
    final_eps: float = 0.1
    fraction: float = 0.0
    temperature: float = 2.0

    def validate(self) -> None:
        for name in ("initial_eps", "final_eps", "fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")

    def rate(self, progress: float) -> float:
        return linear_schedule(self.initial_eps, self.final_eps, self.fraction, progress)
