"""SpikingPolicy: observation encoder + spiking network + action read-out, per env step.

One env step of the policy (DESIGN.md, "Agents"):

1. ``encode(obs)``: observation -> input currents ``(B, F)`` (held for the whole env step).
2. ``decide``: a decision window of ``decision_steps`` simulation steps; output spikes are
   counted per action population; ties are ordered by the population's mean membrane
   potential (scaled by ``tie_break_scale``, far below one spike).
3. ``act``: greedy or exploratory action from the counts (exploration is outside the
   network and independent of learning).
4. ``feedback``: an efference-copy window of ``feedback_steps`` steps in which the chosen
   action's population receives ``+feedback_current`` and the others ``-feedback_current``,
   so that the eligibility credits the action actually taken, exploratory ones included.

``after_sim_step`` (e.g. a learning rule's ``update_state``) runs after every simulation step
of both windows. For evaluation (:meth:`greedy_counts`) both windows run without feedback
and the counts of all steps decide.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import torch
from torch import Tensor, nn

from snn_rl import SNNNetwork
from snn_rl.decoding import GreedyDecoder, PopulationVectorDecoder, population_counts

__all__ = ["SpikingPolicy"]


class SpikingPolicy(nn.Module):
    """The acting part of a spiking agent (no learning inside).

    Args:
        encoder: module mapping observations ``(B, *obs_shape)`` to currents ``(B, F)``.
        network: an :class:`~snn_rl.SNNNetwork` whose source population takes ``(B, F)``
            currents and whose last layer ends in the output population.
        action_space: Discrete (one population of ``pop_size`` neurons per action) or Box
            (one population per action dimension, read out as a population vector).
        pop_size: neurons per action (Discrete) or per action dimension (Box).
        decision_steps, feedback_steps: simulation steps of the two windows.
        feedback_current: magnitude of the efference-copy current.
        tie_break_scale: weight of the mean membrane potential added to spike counts.
    """

    def __init__(
        self,
        encoder: nn.Module,
        network: SNNNetwork,
        action_space: gym.spaces.Space,
        *,
        pop_size: int,
        decision_steps: int,
        feedback_steps: int,
        feedback_current: float,
        tie_break_scale: float = 1e-3,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.network = network
        self.action_space = action_space
        self.pop_size = pop_size
        self.decision_steps = decision_steps
        self.feedback_steps = feedback_steps
        self.feedback_current = feedback_current
        self.tie_break_scale = tie_break_scale
        self._encode_cache: list[tuple[Tensor, Tensor]] = []
        layers = network.layer_state_dict()
        if not layers:
            raise ValueError("network has no layers")
        self.output_layer = next(reversed(layers))
        self.output = layers[self.output_layer]["postsynaptic"]
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        if self.discrete:
            self.n_actions = int(action_space.n)
            expected = self.n_actions * pop_size
            self.decoder: nn.Module = GreedyDecoder(self.n_actions, neurons_per_action=pop_size)
            self.decoder.check_values = False  # the counts come from our own network
        else:
            self.n_actions = int(action_space.shape[0])
            expected = self.n_actions * pop_size
            self.decoder = PopulationVectorDecoder.from_space(action_space, pop_size)
            pref = self.decoder.preferred_values
            spacing = (self.decoder.high - self.decoder.low) / max(pop_size - 1, 1)
            self.register_buffer("_preferred", pref, persistent=False)
            self.register_buffer(
                "_tuning_width", spacing.repeat_interleave(pop_size), persistent=False
            )
        if self.output.shape != (expected,):
            raise ValueError(
                f"the output population (layer {self.output_layer!r}) must have shape "
                f"({expected},) = {self.n_actions} x pop_size {pop_size}, got {self.output.shape}"
            )

    # ----------------------------------------------------------------------------- acting
    def encode(self, obs: Tensor) -> Tensor:
        """Input currents of ``obs``. The last two results are memoised by tensor identity:
        in the training loop the critic encodes the same observation tensors again (``s'`` of
        one step is ``s`` of the next), and the encoder holds no learned state."""
        for key, value in self._encode_cache:
            if key is obs:
                return value
        out = self.encoder(obs)
        self._encode_cache = [(obs, out), *self._encode_cache[:1]]
        return out

    def _run(
        self,
        currents: Tensor,
        steps: int,
        drive: Tensor | None,
        after_sim_step: Callable[[], None] | None,
    ) -> Tensor:
        extra = None if drive is None else {self.output_layer: drive}
        counts = torch.zeros_like(self.output.spikes)
        for _ in range(steps):
            counts += self.network(currents, currents=extra)
            if after_sim_step is not None:
                after_sim_step()
        return counts

    def tie_break(self) -> Tensor:
        """Mean-membrane score, ``(B, n_out)``, to order exact count ties."""
        return self.tie_break_scale * self.output.v

    def decide(self, currents: Tensor, after_sim_step: Callable[[], None] | None = None) -> Tensor:
        """Run the decision window; returns output spike counts ``(B, n_out)``."""
        return self._run(currents, self.decision_steps, None, after_sim_step)

    def greedy_counts(self, currents: Tensor) -> Tensor:
        """Evaluation read-out: both windows without feedback, counts of every step."""
        return self._run(currents, self.decision_steps + self.feedback_steps, None, None)

    def greedy_action(self, counts: Tensor) -> Tensor:
        if self.discrete:
            return self.decoder(counts, self.tie_break())
        return self.decoder(counts)

    def feedback(
        self,
        currents: Tensor,
        action: Tensor,
        after_sim_step: Callable[[], None] | None = None,
    ) -> Tensor:
        """Efference-copy window driving the population of ``action``; returns its counts."""
        if self.feedback_steps == 0:
            return torch.zeros_like(self.output.spikes)
        return self._run(
            currents, self.feedback_steps, self.efference_drive(action), after_sim_step
        )

    def efference_drive(self, action: Tensor) -> Tensor:
        """``+c`` into the chosen action's population and ``-c`` elsewhere (Box: a tuning curve).

        Shape:
            action: ``(B,)`` long (Discrete) or ``(B, action_dim)`` -> ``(B, n_out)``.
        """
        c = self.feedback_current
        if self.discrete:
            chosen = torch.nn.functional.one_hot(action.long(), self.n_actions)
            chosen = chosen.to(self.output.v.dtype).repeat_interleave(self.pop_size, dim=1)
            return c * (2.0 * chosen - 1.0)
        per_neuron = action.to(self.output.v.dtype).repeat_interleave(self.pop_size, dim=1)
        tuning = torch.exp(-0.5 * ((per_neuron - self._preferred) / self._tuning_width) ** 2)
        return c * (2.0 * tuning - 1.0)

    def action_values(self, counts: Tensor) -> Tensor:
        """Per-action totals ``(B, n_actions)`` (Discrete) for diagnostics."""
        return population_counts(counts, self.n_actions)
