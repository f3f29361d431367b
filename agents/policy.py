"""SpikingPolicy: observation encoder -> spiking network -> action read-out, with exploration.

The policy holds no learning: it offers the pieces of one env step, and the agent loop calls
them in order (learners run between simulation steps, called by the loop, never by the
policy):

1. :meth:`SpikingPolicy.encode`: observation -> input currents ``phi`` ``(B, F)``, held for
   the whole env step (the critic reads the same ``phi``).
2. :meth:`SpikingPolicy.sim_step`: one simulation step of the network; the decision window
   sums the output spikes over ``decision_steps`` steps.
3. :meth:`SpikingPolicy.explore` (training) or :meth:`SpikingPolicy.greedy` (evaluation):
   the action from the counts. Exact count ties go to the population with the higher mean
   membrane potential.
4. :meth:`SpikingPolicy.efference_drive`: the current of the efference-copy window, ``+c``
   into the chosen action's population and ``-c`` elsewhere, so that the eligibility
   credits the action actually taken, exploratory ones included.

:meth:`SpikingPolicy.act` is the evaluation read-out (both windows without feedback, the
counts of every step), used by ``predict``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym
import torch
from torch import Tensor, nn

from snn_rl import SNNNetwork
from snn_rl._coding import Generators, agent_rows, check_generator, draw_rows
from snn_rl._guard import FiniteGuard
from snn_rl._validation import check_bool
from snn_rl.decoding import (
    EpsilonGreedyDecoder,
    GreedyDecoder,
    PopulationVectorDecoder,
    SoftmaxDecoder,
    population_counts,
)

__all__ = ["Exploration", "SpikingPolicy"]


class Exploration:
    """Exploratory actions from output counts, drawn from the agent's generator.

    Discrete: epsilon-greedy (``rate`` = epsilon) or softmax sampling (``rate`` unused).
    Box: Gaussian noise of std ``rate * (high - low)`` around the greedy action, clipped.

    Args:
        kind: "epsilon" or "softmax" (Discrete actions only; Box actions always add noise).
        action_space: Discrete or 1-D Box.
        pop_size: output neurons per action (dimension).
        temperature: softmax temperature.
        generator: the random stream (the agent's seeded generator).
        schedule: the exploration rate at a progress in [0, 1] of a ``learn`` call.
    """

    def __init__(
        self,
        kind: str,
        action_space: gym.spaces.Space,
        *,
        pop_size: int,
        temperature: float,
        generator: torch.Generator,
        schedule: Callable[[float], float],
    ) -> None:
        self.kind = kind
        self.generator = generator
        self.rate = schedule
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        self._decoder: nn.Module | None = None
        if self.discrete:
            n = int(action_space.n)
            if kind == "softmax":
                self._decoder = SoftmaxDecoder(
                    n, temperature=temperature, generator=generator, pop_size=pop_size
                )
            else:
                self._decoder = EpsilonGreedyDecoder(
                    n, epsilon=0.0, generator=generator, pop_size=pop_size
                )
            self._decoder.check_values = False  # the counts come from our own network

    def use_generators(self, generators: Generators) -> None:
        """Draw from ``generators``: the agent's one, or one per agent of a population (each
        block of agent-major rows from its own stream, as in a run of its own)."""
        self.generator = check_generator(generators)
        if self._decoder is not None:
            self._decoder.generator = self.generator

    def vary_by_agent(self, schedules: Sequence[Callable[[float], float]]) -> None:
        """One schedule per agent of a population: :attr:`rate` then gives a ``(A,)`` tensor
        (agent ``a``'s rate at ``a``), applied to each agent's block of agent-major rows."""
        schedules = list(schedules)
        self.rate = lambda progress: torch.tensor([s(progress) for s in schedules])

    def discrete_action(self, counts: Tensor, tie_break: Tensor, rate: float | Tensor) -> Tensor:
        """Discrete: the exploratory action of output counts ``(B, n_out)``."""
        if isinstance(self._decoder, EpsilonGreedyDecoder):
            self._decoder.epsilon = agent_rows(rate, counts[:, 0])  # a float, or one per row
        return self._decoder(counts, tie_break)

    def box_action(self, greedy: Tensor, low: Tensor, high: Tensor, rate: float | Tensor) -> Tensor:
        """Box: the greedy action ``(B, action_dim)`` plus clipped Gaussian noise."""
        rate = agent_rows(rate, greedy)
        noise = draw_rows(
            lambda rows, g: torch.randn(
                (rows.stop - rows.start, *greedy.shape[1:]), generator=g, device=greedy.device
            ),
            greedy.shape[0],
            self.generator,
        )
        return torch.clamp(greedy + rate * (high - low) * noise, low, high)


class SpikingPolicy(nn.Module):
    """The acting part of a spiking agent (no learning inside).

    Args:
        encoder: module mapping observations ``(B, *obs_shape)`` to currents ``(B, F)``.
        network: an :class:`~snn_rl.SNNNetwork` whose source population takes ``(B, F)``
            currents (or, shaped ``(C, H, W)`` for convolutional layers, the encoder's
            ``(B, C*H*W)`` currents viewed as images) and whose last layer ends in the output population.
        action_space: Discrete (one population of ``pop_size`` neurons per action) or Box
            (one population per action dimension, read out as a population vector).
        exploration: how :meth:`explore` departs from the greedy action.
        pop_size: neurons per action (Discrete) or per action dimension (Box).
        decision_steps, feedback_steps: simulation steps of the two windows.
        feedback_current: magnitude of the efference-copy current.
        tie_break_scale: weight of the mean membrane potential that orders count ties.
    """

    def __init__(
        self,
        encoder: nn.Module,
        network: SNNNetwork,
        action_space: gym.spaces.Space,
        exploration: Exploration,
        *,
        pop_size: int,
        decision_steps: int,
        feedback_steps: int,
        feedback_current: float,
        tie_break_scale: float = 1e-3,
    ) -> None:
        super().__init__()
        if not isinstance(network, SNNNetwork):
            raise TypeError(f"network must be an SNNNetwork, got {type(network).__name__}")
        self.encoder = encoder
        self.network = network
        self.action_space = action_space
        self.exploration = exploration
        self.pop_size = pop_size
        self.decision_steps = decision_steps
        self.feedback_steps = feedback_steps
        self.feedback_current = feedback_current
        self.tie_break_scale = tie_break_scale
        layers = network.layer_state_dict()
        if not layers:
            raise ValueError("network has no layers")
        self.output_layer = next(reversed(layers))
        source = network.source().shape
        self._source_shape = source if len(source) > 1 else None
        self.output = layers[self.output_layer]["postsynaptic"]
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        if self.discrete:
            self.n_actions = int(action_space.n)
            self.decoder: nn.Module = GreedyDecoder(self.n_actions, pop_size=pop_size)
            self.decoder.check_values = False  # the counts come from our own network
        else:
            self.n_actions = int(action_space.shape[0])
            self.decoder = PopulationVectorDecoder.from_space(action_space, pop_size)
            pref = self.decoder.preferred_values
            spacing = (self.decoder.high - self.decoder.low) / max(pop_size - 1, 1)
            self.register_buffer("_preferred", pref, persistent=False)
            self.register_buffer(
                "_tuning_width", spacing.repeat_interleave(pop_size), persistent=False
            )
        expected = self.n_actions * pop_size
        if self.output.shape != (expected,):
            raise ValueError(
                f"the output population (layer {self.output_layer!r}) must have shape "
                f"({expected},) = {self.n_actions} x pop_size {pop_size}, got {self.output.shape}"
            )
        self._guard = FiniteGuard()
        self._signs: Tensor | None = None  # Discrete efference copy: +-1 per action and neuron
        self.check_finite = True
        network.source().check_finite = False  # encode checks those currents (see below)

    # ------------------------------------------------------------------------ finiteness
    def set_check_finite(self, enabled: bool) -> None:
        """Turn the finiteness checks of the policy and its network on or off.

        The policy checks its input code once per env step (:meth:`encode`), so the network's
        source population, which gets those same currents at every step of both windows,
        does not check them again; the network's other checks stay as ``enabled`` says.
        """
        self.check_finite = check_bool("enabled", enabled)
        self.network.set_check_finite(enabled)
        self.network.source().check_finite = False

    def verify_finite(self) -> None:
        """Raise for NaN or inf that the policy's or the network's checks recorded on a GPU."""
        self._guard.verify()
        self.network.verify_finite()

    # ----------------------------------------------------------------------- one env step
    def encode(self, obs: Tensor) -> Tensor:
        """Input currents ``(B, F)`` of observations ``(B, *obs_shape)``, checked finite."""
        phi = self.encoder(obs)
        if self.check_finite and not torch.compiler.is_compiling():
            self._guard.step += 1
            self._guard.check(phi, "the input code of the observations (encoder output)")
        return phi

    def sim_step(self, phi: Tensor, drive: Tensor | None = None) -> Tensor:
        """One simulation step on currents ``phi``; ``drive`` is added to the output
        population's input. Returns the output spikes ``(B, n_out)``."""
        extra = None if drive is None else {self.output_layer: drive}
        if self._source_shape is not None:  # an image population: (B, F) -> (B, C, H, W)
            phi = phi.view(phi.shape[0], *self._source_shape)
        return self.network(phi, currents=extra)

    def tie_break(self) -> Tensor:
        """Mean-membrane score, ``(B, n_out)``, to order exact count ties."""
        return self.tie_break_scale * self.output.v

    def greedy(self, counts: Tensor) -> Tensor:
        """The greedy action of output counts ``(B, n_out)``."""
        if self.discrete:
            return self.decoder(counts, self.tie_break())
        return self.decoder(counts)

    def explore(self, counts: Tensor, rate: float) -> Tensor:
        """An exploratory action of the counts at exploration ``rate``."""
        if self.discrete:
            return self.exploration.discrete_action(counts, self.tie_break(), rate)
        greedy = self.decoder(counts)
        return self.exploration.box_action(greedy, self.decoder.low, self.decoder.high, rate)

    def efference_drive(self, action: Tensor) -> Tensor:
        """``+c`` into the chosen action's population and ``-c`` elsewhere (Box: a tuning
        curve around the action).

        Shape:
            action: ``(B,)`` long (Discrete) or ``(B, action_dim)`` -> ``(B, n_out)``.
        """
        if self.discrete:  # row a of the sign table: +1 on action a's population, -1 elsewhere
            v = self.output.v
            signs = self._signs
            if signs is None or signs.dtype != v.dtype or signs.device != v.device:
                chosen = torch.eye(self.n_actions, dtype=v.dtype, device=v.device)
                self._signs = signs = 2.0 * chosen.repeat_interleave(self.pop_size, dim=1) - 1.0
            unit = signs[action.long()]
        else:
            per_neuron = action.to(self.output.v.dtype).repeat_interleave(self.pop_size, dim=1)
            tuning = torch.exp(-0.5 * ((per_neuron - self._preferred) / self._tuning_width) ** 2)
            unit = 2.0 * tuning - 1.0
        # the current: a float, or one per agent of a population
        return agent_rows(self.feedback_current, unit) * unit

    # ------------------------------------------------------------------------ evaluation
    def act(
        self,
        phi: Tensor,
        *,
        deterministic: bool,
        rate: float,
        after_sim_step: Callable[[str], None] | None = None,
    ) -> Tensor:
        """Evaluation read-out: both windows without feedback, the counts of every step.

        ``after_sim_step(window)``, if given, follows each simulation step as the training
        loop's learners do (``"decision"`` for the first ``decision_steps``, then
        ``"feedback"``, undriven here): a recorder reads the network's state there.
        """
        counts = torch.zeros_like(self.output.spikes)
        for i in range(self.decision_steps + self.feedback_steps):
            counts += self.sim_step(phi)
            if after_sim_step is not None:
                after_sim_step("decision" if i < self.decision_steps else "feedback")
        return self.greedy(counts) if deterministic else self.explore(counts, rate)

    def action_values(self, counts: Tensor) -> Tensor:
        """Per-action totals ``(B, n_actions)`` (Discrete), for diagnostics."""
        return population_counts(counts, self.n_actions)
