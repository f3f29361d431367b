"""Critics: they turn the reward of a transition into the modulator of plasticity.

Per env step the agent loop calls ``critic(reward, phi, phi_next, tr)`` with

* ``reward`` ``(B,)``: the reward function's output for the transition (0 on inactive rows);
* ``phi``, ``phi_next`` ``(B, F)``: the policy's input currents for ``tr.obs`` and for
  ``tr.next_obs`` (the true next observation), computed once by the loop;
* ``tr``: the :class:`~snn_rl.envs.transition.Transition` (flags and active rows).

It returns the modulator ``(B,)`` (0 on inactive rows) and updates itself from the active
rows. ``reset(mask)`` clears per-episode state (traces) of the masked rows, or all of it;
learned state (weights, baselines) persists and is what ``state_dict`` saves.

Built-ins, by config ``type``: ``"td"`` (:class:`TDCritic`, a linear TD(lambda) critic),
``"spiking_td"`` (:class:`~snn_rl.agents.spiking_critic.SpikingTDCritic`), ``"rpe"``
(:class:`RewardPredictionError`, reward minus its running mean) and ``"none"``
(:class:`NoCritic`, the reward itself). A critic is configured by a :class:`CriticConfig`
subclass whose ``build`` makes it; :func:`register_critic` adds one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from snn_rl._coding import agent_rows
from snn_rl._validation import check_mask, register_class
from snn_rl.agents.config import Section
from snn_rl.envs.transition import Transition

__all__ = [
    "CRITICS",
    "Critic",
    "CriticConfig",
    "NoCritic",
    "NoCriticConfig",
    "RPEConfig",
    "RewardPredictionError",
    "TDCritic",
    "TDCriticConfig",
    "register_critic",
]


class Critic:
    """Base class of critics (see the module docstring).

    Attributes:
        needs_features: False when the critic never reads ``phi``/``phi_next`` (the loop
            then skips encoding a next observation it would not otherwise need).
    """

    needs_features: ClassVar[bool] = True

    def __call__(self, reward: Tensor, phi: Tensor, phi_next: Tensor | None, tr: Transition):
        raise NotImplementedError

    def reset(self, mask: Tensor | None = None) -> None:
        """Clear per-episode state of all rows (``mask=None``) or of the masked rows."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        expected = set(self.state_dict())
        if set(state) != expected:
            raise ValueError(
                f"{type(self).__name__} state needs keys {sorted(expected)}, got {sorted(state)}"
            )

    def to(self, device: torch.device) -> Critic:
        return self

    def verify_finite(self) -> None:
        """Raise for NaN or inf that the critic's engine parts recorded on a GPU."""

    def stack_agents(self, members: list[Critic]) -> None:
        """Become the critic of a population: one independent critic per agent, each with
        the state of ``members[a]`` and fed only its agent's block of agent-major rows.
        Stateless critics need nothing; the others define it or cannot run in a population."""
        if self.state_dict():
            raise ValueError(
                f"{type(self).__name__} cannot run in a population of agents; populations "
                "use the 'td' critic, 'rpe' with per_env: true, or 'none'"
            )

    def agent_state_dict(self, agent: int) -> dict[str, Any]:
        """``state_dict()`` of one agent of a population (what its own critic would hold)."""
        return self.state_dict()


@dataclass(frozen=True)
class CriticConfig(Section):
    """Base of critic configurations; ``registry`` maps config ``type`` names to them."""

    kind: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[CriticConfig]]] = {}

    def build(self, n_features: int, *, seed: int, device: torch.device) -> Critic:
        raise NotImplementedError


def register_critic(
    name: str, config_class: type[CriticConfig], *, overwrite: bool = False
) -> type[CriticConfig]:
    """Make configs with ``critic: {type: name, ...}`` build ``config_class(...).build()``."""
    return register_class(
        CRITICS, name, config_class, CriticConfig, what="critic", overwrite=overwrite
    )


CRITICS: dict[str, type[CriticConfig]] = CriticConfig.registry


# ------------------------------------------------------------------------------ none
class NoCritic(Critic):
    """The reward itself is the modulator (an explicit choice: not centred)."""

    needs_features = False

    def __call__(self, reward, phi, phi_next, tr):
        return reward


@dataclass(frozen=True)
class NoCriticConfig(CriticConfig):
    """No critic: the modulator is the reward function's output, as it is."""

    def build(self, n_features: int, *, seed: int, device: torch.device) -> Critic:
        return NoCritic()


# ------------------------------------------------------------------------------- rpe
class RewardPredictionError(Critic):
    """Reward minus its running mean: ``delta_t = r_t - m_{t-1}``, then the mean moves.

    ``m <- m + alpha * (r - m)`` after the signal is computed, per env (``per_env``, one
    mean per row, the batch size fixed by the first call) or shared (the mean of the active
    rows' rewards drives one ``m``). ``m`` starts at 0 and is not reset between episodes.
    For a constant reward (CartPole's +1) ``delta`` decays to 0 and carries no information.

    Example:
        >>> rpe = RewardPredictionError(alpha=0.5)
        >>> tr = Transition.from_arrays(obs=[[0.0]], reward=[0.0], terminated=[False],
        ...     truncated=[False], next_obs=[[0.0]])
        >>> [float(rpe(torch.tensor([r]), None, None, tr)[0]) for r in (1.0, 1.0, 0.0)]
        [1.0, 0.5, -0.75]
    """

    needs_features = False

    def __init__(self, *, alpha: float, per_env: bool = False) -> None:
        self.alpha, self.per_env = alpha, per_env
        self.mean: Tensor | None = None if per_env else torch.zeros(())
        self._agents = 1

    def __call__(self, reward, phi, phi_next, tr):
        batch = reward.shape[0]
        if self.mean is None:
            self.mean = torch.zeros(batch, dtype=reward.dtype, device=reward.device)
        elif self.per_env and self.mean.shape[0] != batch:
            raise ValueError(
                f"this per-env RewardPredictionError tracks {self.mean.shape[0]} envs, got a "
                f"batch of {batch}"
            )
        mean = self.mean.to(reward.device, reward.dtype)
        signal = torch.where(tr.active, reward - mean, 0.0)
        if self.per_env:
            self.mean = mean + self.alpha * signal
        else:
            count = tr.active.sum()
            batch_mean = (reward * tr.active).sum() / count.clamp(min=1)
            self.mean = mean + self.alpha * (batch_mean - mean) * (count > 0)
        return signal

    def state_dict(self) -> dict[str, Any]:
        return {"mean": None if self.mean is None else self.mean.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        mean = state["mean"]
        if mean is not None and (not self.per_env) != (mean.ndim == 0):
            raise ValueError(
                f"mean of shape {tuple(mean.shape)} does not fit per_env={self.per_env}"
            )
        self.mean = None if mean is None else mean.clone()

    def to(self, device: torch.device) -> Critic:
        if self.mean is not None:
            self.mean = self.mean.to(device)
        return self

    def stack_agents(self, members: list[Critic]) -> None:
        if not self.per_env:  # one mean shared by the rows of all agents: not independent
            super().stack_agents(members)
        means = [m.mean for m in members]
        self.mean = None if any(m is None for m in means) else torch.cat(means)
        self._agents = len(members)

    def agent_state_dict(self, agent: int) -> dict[str, Any]:
        if self.mean is None:
            return {"mean": None}
        n = self.mean.shape[0] // self._agents
        return {"mean": self.mean[agent * n : (agent + 1) * n].clone()}


@dataclass(frozen=True)
class RPEConfig(CriticConfig):
    """Reward-prediction error: the reward minus its running mean (rate ``alpha``)."""

    alpha: float = 0.01
    per_env: bool = False

    def validate(self) -> None:
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"alpha must lie in (0, 1], got {self.alpha}")

    def build(self, n_features: int, *, seed: int, device: torch.device) -> Critic:
        return RewardPredictionError(alpha=self.alpha, per_env=self.per_env).to(device)


# -------------------------------------------------------------------------------- td
class TDCritic(Critic):
    """TD error of a linear critic learned online by TD(lambda).

    ``V(s) = w . phi(s) + b``, the same features for ``s`` and ``s'``. Per call, with the
    active rows only:

    - ``delta = r + gamma * V(s') * (1 - terminated) - V(s)`` (truncation bootstraps from the
      final observation, termination does not); inactive rows get ``delta = 0``.
    - ``e <- gamma * lam * e + phi(s)`` per env (the critic's eligibility trace).
    - ``w <- w + lr / feature_norm_sq * mean_b(delta_b e_b)``, ``b <- b + lr_bias *
      mean_b(delta_b)``, means over the active rows (one critic for all envs).
    - rows that ended (terminated or truncated) get ``e = 0``.

    ``w`` starts at 0 and ``b`` at ``init_value`` (above the true values: optimistic, so
    the modulator is not 0 before the first reward: visited states' values fall, unvisited
    ones stay high); the returned signal is ``delta`` before the update, or with ``normalize``
    ``delta / sqrt(m)``, where ``m`` is a bias-corrected running mean of ``delta**2`` over the
    active rows (``m <- m + norm_rate * (mean_b(delta_b**2) - m)`` per call): a modulator
    of unit scale whatever the reward's scale, so one learning rate serves many tasks.
    ``feature_norm_sq`` defaults to the mean ``||phi(s)||^2`` of the first batch; ``e`` is
    allocated at the first call after :meth:`reset` (no mask), for that call's batch size.

    In a population of ``A`` agents (:meth:`stack_agents`) ``w`` is ``(A, F)`` and ``b``,
    ``m`` and ``feature_norm_sq`` are ``(A,)``: every mean above runs over one agent's block
    of agent-major rows, so each agent's critic learns as it would alone.

    Shape:
        reward ``(B,)``; phi, phi_next ``(B, F)`` -> ``(B,)``.

    Example:
        >>> td = TDCritic(2, gamma=0.5, lam=0.0, lr=1.0, lr_bias=0.0, feature_norm_sq=1.0)
        >>> tr = Transition.from_arrays(obs=[[0]], reward=[1.0], terminated=[False],
        ...     truncated=[False], next_obs=[[1]])
        >>> td(torch.tensor([1.0]), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), tr)
        tensor([1.])
        >>> td.value(torch.eye(2))  # w[0] moved by lr * delta * e = 1
        tensor([1., 0.])
    """

    def __init__(
        self,
        n_features: int,
        *,
        gamma: float,
        lam: float,
        lr: float,
        lr_bias: float,
        feature_norm_sq: float | None = None,
        init_value: float = 0.0,
        normalize: bool = False,
        norm_rate: float = 0.01,
        device: torch.device | str = "cpu",
    ) -> None:
        self.n_features = n_features
        self.gamma, self.lam, self.lr, self.lr_bias = gamma, lam, lr, lr_bias
        self.feature_norm_sq = feature_norm_sq
        self.init_value = init_value
        self.normalize, self.norm_rate = normalize, norm_rate
        self.delta_sq = torch.zeros((), device=device)  # running mean of delta**2, uncorrected
        self.norm_weight = torch.zeros((), device=device)  # 1 - (1 - norm_rate)**calls
        self.weight = torch.zeros(n_features, device=device)
        self.bias = torch.full((), float(init_value), device=device)
        self.e_trace: Tensor | None = None
        self.n_agents = 1
        self._norm_sq: Tensor | None = None  # per agent (A, 1), in a population

    def value(self, phi: Tensor) -> Tensor:
        """``V = w . phi + b`` of features ``(B, F)``, shape ``(B,)``."""
        if self.n_agents > 1:
            a = self.n_agents
            per_agent = phi.view(a, -1, phi.shape[1])
            return torch.baddbmm(self.bias.view(a, 1, 1), per_agent, self.weight.unsqueeze(2)).view(
                -1
            )
        return phi @ self.weight + self.bias

    def stack_agents(self, members: list[Critic]) -> None:
        if not all(isinstance(m, TDCritic) for m in members) or not members:
            raise ValueError("a population's TD critic stacks TDCritic members")
        if len(members) == 1:  # a population of one is that one agent's critic
            self.load_state_dict(members[0].state_dict())
            return
        device = self.weight.device
        self.weight = torch.stack([m.weight for m in members]).to(device)
        self.bias = torch.stack([m.bias for m in members]).to(device)
        self.delta_sq = torch.stack([m.delta_sq for m in members]).to(device)
        self.norm_weight = torch.stack([m.norm_weight for m in members]).to(device)
        norms = [m.feature_norm_sq for m in members]
        self._norm_sq = None if None in norms else torch.tensor(norms, device=device).view(-1, 1)
        self.feature_norm_sq = None if self._norm_sq is None else norms[0]
        traces = [m.e_trace for m in members]
        self.e_trace = None if any(t is None for t in traces) else torch.cat(traces).to(device)
        self.n_agents = len(members)
        if any(m.normalize != self.normalize for m in members):
            raise ValueError(
                "the agents' TD critics differ in 'normalize'; it cannot vary by agent"
            )
        # settings on which the members differ become one value per agent, (A,)
        for name in self.agent_settings:
            values = [getattr(m, name) for m in members]
            if any(v != values[0] for v in values):
                setattr(self, name, torch.tensor(values, device=device, dtype=self.weight.dtype))
            else:
                setattr(self, name, values[0])

    #: settings that may differ between the agents of a population (one value per agent)
    agent_settings = ("gamma", "lam", "lr", "lr_bias", "norm_rate")

    def agent_state_dict(self, agent: int) -> dict[str, Any]:
        if self.n_agents == 1:
            return self.state_dict()
        n = None if self.e_trace is None else self.e_trace.shape[0] // self.n_agents
        state = {
            "weight": self.weight[agent].clone(),
            "bias": self.bias[agent].clone(),
            "e_trace": None if n is None else self.e_trace[agent * n : (agent + 1) * n].clone(),
            "feature_norm_sq": None if self._norm_sq is None else float(self._norm_sq[agent]),
        }
        if self.normalize:
            state.update(
                delta_sq=self.delta_sq[agent].clone(), norm_weight=self.norm_weight[agent].clone()
            )
        return state

    def _agents_call(self, reward, phi, phi_next, tr):
        """:meth:`__call__` for a population: the same updates, per agent's block of rows."""
        a = self.n_agents
        n = phi.shape[0] // a
        # settings that vary by agent are (A,): spread over each agent's rows (agent_rows)
        value, value_next = self.value(phi), self.value(phi_next)
        delta = reward + agent_rows(self.gamma, value_next) * value_next * ~tr.terminated - value
        delta = torch.where(tr.active, delta, 0.0)
        active = tr.active.unsqueeze(1)
        decay = agent_rows(self.gamma * self.lam, self.e_trace)
        self.e_trace = torch.where(active, decay * self.e_trace + phi, self.e_trace)
        count = tr.active.view(a, n).sum(1).clamp(min=1)  # (A,)
        dw = torch.bmm(delta.view(a, 1, n), self.e_trace.view(a, n, -1)).view(a, -1)
        self.weight = self.weight + agent_rows(self.lr, dw) / self._norm_sq * dw / count.unsqueeze(
            1
        )
        self.bias = self.bias + self.lr_bias * delta.view(a, n).sum(1) / count
        ended = (tr.terminated | tr.truncated) & tr.active
        self.e_trace = self.e_trace.masked_fill(ended.unsqueeze(1), 0.0)
        if not self.normalize:
            return delta
        any_active = (tr.active.view(a, n).sum(1) > 0).to(delta.dtype)
        rate = self.norm_rate * any_active
        self.delta_sq = self.delta_sq + rate * (
            (delta**2).view(a, n).sum(1) / count - self.delta_sq
        )
        self.norm_weight = self.norm_weight + rate * (1.0 - self.norm_weight)
        scale = torch.sqrt(self.delta_sq / self.norm_weight.clamp(min=1e-12)).clamp(min=1e-8)
        return delta / scale.repeat_interleave(n)

    def __call__(self, reward, phi, phi_next, tr):
        self._setup(phi)
        if self.n_agents > 1:
            return self._agents_call(reward, phi, phi_next, tr)
        value = phi @ self.weight + self.bias
        value_next = phi_next @ self.weight + self.bias
        delta = reward + self.gamma * value_next * ~tr.terminated - value
        delta = torch.where(tr.active, delta, 0.0)
        active = tr.active.unsqueeze(1)
        self.e_trace = torch.where(active, self.gamma * self.lam * self.e_trace + phi, self.e_trace)
        count = tr.active.sum().clamp(min=1)
        self.weight = self.weight + self.lr / self.feature_norm_sq * (delta @ self.e_trace) / count
        self.bias = self.bias + self.lr_bias * delta.sum() / count
        ended = (tr.terminated | tr.truncated) & tr.active
        self.e_trace = self.e_trace.masked_fill(ended.unsqueeze(1), 0.0)
        if not self.normalize:
            return delta
        any_active = (tr.active.sum() > 0).to(delta.dtype)
        rate = self.norm_rate * any_active
        self.delta_sq = self.delta_sq + rate * ((delta**2).sum() / count - self.delta_sq)
        self.norm_weight = self.norm_weight + rate * (1.0 - self.norm_weight)
        scale = torch.sqrt(self.delta_sq / self.norm_weight.clamp(min=1e-12)).clamp(min=1e-8)
        return delta / scale

    def _setup(self, phi: Tensor) -> None:
        if phi.ndim != 2 or phi.shape[1] != self.n_features:
            raise ValueError(f"phi must have shape (B, {self.n_features}), got {tuple(phi.shape)}")
        if self.e_trace is None:
            self.e_trace = torch.zeros_like(phi)
        elif self.e_trace.shape[0] != phi.shape[0]:
            raise ValueError(
                f"TDCritic holds traces for {self.e_trace.shape[0]} envs, got a batch of "
                f"{phi.shape[0]}; call reset() (no mask) to start traces for another batch size"
            )
        if self.n_agents > 1 and self._norm_sq is None:  # each agent's own first batch
            given = self.feature_norm_sq
            norms = (phi**2).sum(1).view(self.n_agents, -1).mean(1, keepdim=True)
            self._norm_sq = norms if given is None else torch.full_like(norms, given)
            if not bool((self._norm_sq > 0).all()):
                raise ValueError("features of the first batch are all zero; set feature_norm_sq")
            self.feature_norm_sq = float(self._norm_sq[0])
        if self.feature_norm_sq is None:
            norm_sq = float((phi**2).sum(1).mean())
            if not norm_sq > 0:
                raise ValueError("features of the first batch are all zero; set feature_norm_sq")
            self.feature_norm_sq = norm_sq

    def reset(self, mask: Tensor | None = None) -> None:
        if mask is None or self.e_trace is None:
            if mask is None:
                self.e_trace = None
            return
        mask = check_mask(mask, self.e_trace.shape[0])
        self.e_trace = self.e_trace.masked_fill(mask.unsqueeze(1), 0.0)

    def state_dict(self) -> dict[str, Any]:
        state = {
            "weight": self.weight.clone(),
            "bias": self.bias.clone(),
            "e_trace": None if self.e_trace is None else self.e_trace.clone(),
            "feature_norm_sq": self.feature_norm_sq,
        }
        if self.normalize:
            state.update(delta_sq=self.delta_sq.clone(), norm_weight=self.norm_weight.clone())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        weight = state["weight"]
        if not isinstance(weight, Tensor) or tuple(weight.shape) != (self.n_features,):
            shape = tuple(weight.shape) if isinstance(weight, Tensor) else weight
            raise ValueError(f"critic weight must have shape ({self.n_features},), got {shape}")
        device = self.weight.device
        self.weight = weight.to(device, self.weight.dtype).clone()
        self.bias = state["bias"].to(device, self.bias.dtype).clone()
        e = state["e_trace"]
        self.e_trace = None if e is None else e.to(device, self.weight.dtype).clone()
        norm = state["feature_norm_sq"]
        self.feature_norm_sq = None if norm is None else float(norm)
        if self.normalize:
            self.delta_sq = state["delta_sq"].to(device, self.weight.dtype).clone()
            self.norm_weight = state["norm_weight"].to(device, self.weight.dtype).clone()

    def to(self, device: torch.device) -> Critic:
        self.weight, self.bias = self.weight.to(device), self.bias.to(device)
        self.delta_sq, self.norm_weight = self.delta_sq.to(device), self.norm_weight.to(device)
        if self._norm_sq is not None:
            self._norm_sq = self._norm_sq.to(device)
        if self.e_trace is not None:
            self.e_trace = self.e_trace.to(device)
        return self

    def __repr__(self) -> str:
        return (
            f"TDCritic(n_features={self.n_features}, gamma={self.gamma}, lam={self.lam}, "
            f"lr={self.lr}, lr_bias={self.lr_bias}, feature_norm_sq={self.feature_norm_sq}, "
            f"init_value={self.init_value}, normalize={self.normalize})"
        )


@dataclass(frozen=True)
class TDCriticConfig(CriticConfig):
    """A linear TD(lambda) critic on the policy's input code (see :class:`TDCritic`)."""

    gamma: float = 0.98
    lam: float = 0.8
    lr: float = 0.1
    lr_bias: float = 0.01
    feature_norm_sq: float | None = None
    init_value: float = 0.0
    normalize: bool = False
    norm_rate: float = 0.01

    def validate(self) -> None:
        if not 0.0 < self.norm_rate <= 1.0:
            raise ValueError(f"norm_rate must lie in (0, 1], got {self.norm_rate}")
        if not math.isfinite(self.init_value):
            raise ValueError(f"init_value must be finite, got {self.init_value}")
        for name in ("gamma", "lam"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.feature_norm_sq is not None and self.feature_norm_sq <= 0:
            raise ValueError(f"feature_norm_sq must be > 0 or None, got {self.feature_norm_sq}")

    def build(self, n_features: int, *, seed: int, device: torch.device) -> Critic:
        return TDCritic(
            n_features,
            gamma=self.gamma,
            lam=self.lam,
            lr=self.lr,
            lr_bias=self.lr_bias,
            feature_norm_sq=self.feature_norm_sq,
            init_value=self.init_value,
            normalize=self.normalize,
            norm_rate=self.norm_rate,
            device=device,
        )


register_critic("none", NoCriticConfig)
register_critic("rpe", RPEConfig)
register_critic("td", TDCriticConfig)
