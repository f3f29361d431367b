"""Learners: learning rules bound to the network layers of one role, with their timing.

The agent loop calls every learner the same way:

* ``after_sim_step(window)`` after each simulation step of both windows (``window`` is
  ``"decision"`` or ``"feedback"``);
* ``after_env_step(signal, progress)`` once per env step, with the critic's modulator
  ``(B,)`` and the progress of the ``learn`` call in [0, 1];
* ``reset(mask)`` where episodes ended (``mask=None``: every row, at the start of ``learn``).

:class:`ReadoutLearner` runs a reward-modulated rule (MSTDPET) on the layers declared
``"readout"``: eligibility after every simulation step, the weight step once per env step.
:class:`FeatureLearner` runs an unsupervised rule (FedeSTDP) on the layers declared
``"features"``: a weight step after every simulation step, no reward.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from snn_rl.agents.sections import ScheduleConfig
from snn_rl.learning import LearningRule

__all__ = ["FeatureLearner", "Learner", "ReadoutLearner"]


class Learner:
    """Base: a rule and the layers it trains (see the module docstring)."""

    role: str = ""

    def __init__(self, rule: LearningRule) -> None:
        self.rule = rule

    @property
    def layer_names(self) -> list[str]:
        return [name for name, _, _ in self.rule.layers()]

    def after_sim_step(self, window: str) -> None: ...

    def after_env_step(self, signal: Tensor, progress: float) -> None: ...

    def reset(self, mask: Tensor | None = None) -> None:
        self.rule.reset_state(mask=mask)

    def eligibility(self) -> dict[str, Tensor]:
        """Per layer, the eligibility the rule keeps (none for stateless rules)."""
        return {name: st["e_trace"] for name, st in self.rule.state.items() if "e_trace" in st}

    def state_dict(self) -> dict[str, Any]:
        return self.rule.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rule.load_state_dict(state)

    def record(self, logger: Any) -> None:
        """Write this learner's schedule values to an SB3 logger."""

    def vary_by_agent(self, members: Sequence[Learner]) -> list[str]:
        """Run each agent of a population with the settings of its own learner
        (``members[a]``, agent ``a`` alone); returns what differs between them. See
        :meth:`snn_rl.learning.LearningRule.vary_by_agent`."""
        return self.rule.vary_by_agent([m.rule for m in members])


class ReadoutLearner(Learner):
    """A reward-modulated rule: ``update_state`` per simulation step, ``step(signal)`` per
    env step, the learning rate from ``schedule`` (constant without ``lr_final``).

    ``credit="feedback"``: spikes of the decision window pair nothing (the eligibility only
    decays there), so only the efference copy, the action actually taken, earns credit;
    ``"both"``: every simulation step pairs.
    """

    role = "readout"

    def __init__(
        self, rule: LearningRule, schedule: ScheduleConfig | None = None, credit: str = "both"
    ) -> None:
        super().__init__(rule)
        if credit not in ("both", "feedback"):
            raise ValueError(f"credit must be 'both' or 'feedback', got {credit!r}")
        self.schedule = schedule or ScheduleConfig()
        self.initial_lr = rule.param_groups[0]["lr"]
        self.credit = credit
        self._agent_schedules: list[tuple[ScheduleConfig, float]] | None = None

    def vary_by_agent(self, members: Sequence[Learner]) -> list[str]:
        varied = super().vary_by_agent(members)
        self.initial_lr = self.rule.param_groups[0]["lr"]
        if any(m.schedule != members[0].schedule for m in members):  # type: ignore[attr-defined]
            self._agent_schedules = [(m.schedule, m.initial_lr) for m in members]  # type: ignore[attr-defined]
            varied.append("schedule")
        return varied

    def after_sim_step(self, window: str) -> None:
        if window == "decision" and self.credit == "feedback":
            self.rule.decay_state()
        else:
            self.rule.update_state()

    def after_env_step(self, signal: Tensor, progress: float) -> None:
        if self._agent_schedules is not None:  # one schedule per agent: (A,) rates
            rates = [s.lr(lr0, progress) for s, lr0 in self._agent_schedules]
            rates = [
                lr0 if r is None else r
                for r, (_, lr0) in zip(rates, self._agent_schedules, strict=True)
            ]
            lr: Any = torch.tensor(rates, device=signal.device)
        else:  # a float or one rate per agent, (A,): both anneal by the same arithmetic
            lr = self.schedule.lr(self.initial_lr, progress)
        if lr is not None:
            for group in self.rule.param_groups:
                group["lr"] = lr
        self.rule.step(signal)

    def record(self, logger: Any) -> None:
        lr = self.rule.param_groups[0]["lr"]
        logger.record("train/learning_rate", float(lr.mean()) if isinstance(lr, Tensor) else lr)


class FeatureLearner(Learner):
    """An unsupervised rule: ``step()`` after every simulation step, never a reward."""

    role = "features"

    def after_sim_step(self, window: str) -> None:
        self.rule.step()
