"""AgentPopulation: independent spiking agents (one per seed) trained as one batched program.

Ten seeds run as ten processes pay the per-op overhead of a small network ten times over
(an env step is a few hundred torch calls of a few microseconds each, whatever the batch).
A population of ``A`` agents instead stacks their weights on a leading agent dimension and
steps ``A * n_envs`` environments in one program: the same number of torch calls per step
as one agent, each a little larger. The agents stay independent:

* batch rows are agent-major: rows ``a*n .. (a+1)*n - 1`` are agent ``a``'s ``n`` envs;
* every connection holds ``(A, out, in)`` weights, one block per agent
  (:meth:`snn_rl.connections.Connection.stack_agents`), and the rule's batch means run over
  each agent's own rows (:mod:`snn_rl.learning.mstdpet`);
* the critic keeps one weight vector, bias and running scale per agent
  (:meth:`~snn_rl.agents.critics.Critic.stack_agents`);
* exploration draws come from each agent's own generator, for its own rows, and the envs
  of agent ``a`` are reset with seeds from agent ``a``'s seed stream.

Hyperparameter variants (``variants=``, one overrides mapping per agent) may change what
the agent class lists in ``population_variants``: settings that change no tensor shape and
no loop structure (for :class:`~snn_rl.agents.MSTDPETAgent`: the readout rule's lr, a_pre,
a_post, e_trace_decay and bounds, its schedule, the TD critic's gamma, lam, learning rates
and initial value, the exploration schedule, the efference current, the initial weight
distribution). The parts then hold such a setting as one value per agent, a ``(A,)``
tensor applied to each agent's block of rows (:meth:`LearningRule.vary_by_agent
<snn_rl.learning.LearningRule.vary_by_agent>`), so a grid of 10 seeds x 4 learning rates
is one batch of 40 agents.

So agent ``a`` of a population behaves as ``Agent(env_id, seed=seeds[a])`` run alone: the
batch steps each agent's own vector env (:class:`~snn_rl.envs.concat.ConcatVectorEnv`),
reset with that agent's seeds, so the agent sees the very episodes of its run alone, draws
the same random numbers and, up to float rounding of the batched matmuls, computes the same
weights (tests/agents/test_agents_population.py). Torch-native vector envs (``snn_rl/...``
ids, the GPU path) are instead one batch env of all rows with one random stream: there the
agents' episodes are independent draws of the same distribution, not the very episodes of a
run alone.

Each member is an ordinary agent (``population.members[a]``, its own env, saved and loaded
as any agent); between ``learn`` calls its weights are views of the population's stacked
weights, and ``learn`` copies the rest of its state (critic, eligibility, counters) back at
the end.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.callbacks import BaseCallback
from torch import Tensor, nn

from snn_rl import FedeNeuron, flush_denormals
from snn_rl._validation import check_int
from snn_rl.agents.base import SpikingAgent
from snn_rl.agents.config import ConfigError
from snn_rl.agents.diagnostics import EpisodeStats
from snn_rl.agents.registry import agent_class
from snn_rl.envs.concat import ConcatVectorEnv
from snn_rl.envs.torch_vector import TorchVectorEnv

__all__ = ["AgentPopulation", "VariantError"]


class VariantError(ConfigError):
    """An invalid configuration of one variant of a population; ``agent`` is its index
    (the message names ``variants[agent]`` and the field)."""

    def __init__(self, agent: int, error: ConfigError) -> None:
        super().__init__(error.within(f"variants[{agent}]").path, error.message)
        self.agent = agent


class AgentPopulation:
    """``len(seeds)`` independent agents of one class and configuration, trained as one batch.

    Args:
        env: a Gymnasium env id (each agent gets ``n_envs`` envs of it).
        seeds: one seed per agent (ints >= 0; distinct unless ``variants`` tell the agents
            apart).
        agent: a registered agent name ("mstdpet") or a :class:`SpikingAgent` subclass.
        config, overrides, n_envs, reward, max_episode_steps, env_kwargs, tuned: as for the
            agent class; every member gets the same resolved configuration.
        variants: one overrides mapping per agent, applied after ``overrides``: agent ``a``
            is configured as the agent class with ``overrides`` and then ``variants[a]``.
            They may change only the keys of the class's ``population_variants``.
        device: "auto", "cpu", "cuda", ...
        verbose: 0 silent, 1 training logs (of the whole population) on stdout.

    Raises:
        ValueError: no seeds, repeated seeds (without variants), a variant that changes a
            key outside ``population_variants`` (named), or a configuration whose parts
            cannot run as a population (the spiking critic, a shared-mean RPE critic): the
            message names the part.

    Example:
        >>> pop = AgentPopulation("CartPole-v1", seeds=[0, 1, 2], device="cpu")
        >>> _ = pop.learn(400)
        >>> [m.seed for m in pop.members], [m.num_timesteps >= 400 for m in pop.members]
        ([0, 1, 2], [True, True, True])
    """

    def __init__(
        self,
        env: str,
        seeds: Sequence[int],
        *,
        agent: str | type[SpikingAgent] = "mstdpet",
        config: Any = None,
        overrides: Mapping[str, Any] | None = None,
        n_envs: int | None = None,
        reward: Any = None,
        device: str | torch.device = "auto",
        verbose: int = 0,
        max_episode_steps: int | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
        tuned: bool = True,
        variants: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        if not isinstance(env, str):
            raise TypeError(
                f"env must be a Gymnasium env id (the population builds its envs from it), got "
                f"{type(env).__name__}"
            )
        cls = agent_class(agent) if isinstance(agent, str) else agent
        if not (isinstance(cls, type) and issubclass(cls, SpikingAgent)):
            raise TypeError(
                f"agent must be a registered agent name or a SpikingAgent subclass, got {agent!r}"
            )
        if isinstance(seeds, str | bytes) or not isinstance(seeds, Sequence | range):
            raise TypeError(f"seeds must be a sequence of ints, got {type(seeds).__name__}")
        seeds = [check_int("seeds[i]", s, minimum=0) for s in seeds]
        if not seeds:
            raise ValueError("seeds is empty; give one seed per agent")
        variants = _check_variants(variants, len(seeds))
        if variants is None and len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct (each agent its own), got {seeds}")
        common = dict(device=device, max_episode_steps=max_episode_steps, env_kwargs=env_kwargs)
        shared = dict(n_envs=n_envs, reward=reward, tuned=tuned, **common)

        def build(a: int, **extra: Any) -> SpikingAgent:
            own = {**dict(overrides or {}), **dict(variants[a])} if variants else overrides
            try:
                return cls(env, config=config, overrides=own, seed=seeds[a], **shared, **extra)
            except ConfigError as err:
                if not variants:
                    raise
                raise VariantError(a, err) from None

        first = build(0, verbose=verbose)
        self.config = first.config  # the first agent's; variants differ from it as listed
        if variants is None:  # one configuration: resolved once
            self.members: list[SpikingAgent] = [first] + [
                cls(env, config=self.config, seed=s, **common) for s in seeds[1:]
            ]
        else:
            self.members = [first] + [build(a) for a in range(1, len(seeds))]
        self.varied = _check_configs(cls, [m.config for m in self.members])
        self.variants = None if variants is None else [dict(v) for v in variants]
        self.seeds = seeds
        self.n_agents = len(seeds)
        self.n_envs = self.config.n_envs  # per agent
        self.env_id = env
        self.device = first.device
        # each agent steps its own vector env (the batch concatenates them), so its episodes
        # are the very ones of a run alone; torch-native envs (the GPU path) are one batch env
        # of all rows instead, with one random stream
        torch_native = isinstance(getattr(first.env, "unwrapped", first.env), TorchVectorEnv)
        batch_env = env if torch_native else ConcatVectorEnv([m.env for m in self.members])
        self.runner = cls(
            batch_env,
            config=self.config.replace(n_envs=self.n_agents * self.n_envs),
            seed=seeds[0],
            verbose=verbose,
            device=device,
            **(
                {"max_episode_steps": max_episode_steps, "env_kwargs": env_kwargs}
                if torch_native
                else {}
            ),
        )
        self._stack()
        self.num_timesteps = 0  # env steps of all agents together
        self.train_seconds = 0.0  # wall-clock inside learn(), callbacks excluded
        self._clock_start: float | None = None

    # ------------------------------------------------------------------------ building
    def _stack(self) -> None:
        """Load the members' initial parts into the runner, stacked on the agent dimension."""
        runner, members = self.runner, self.members
        for learner in runner.learners:
            if not learner.rule.supports_agents:
                raise ValueError(
                    f"the {learner.role} layers {learner.layer_names} are trained by "
                    f"{type(learner.rule).__name__}, which cannot train a population's agents "
                    "separately"
                )
        runner.policy.network.stack_agents([m.policy.network for m in members])
        runner.policy.network.reset_state(batch_size=runner.n_envs)
        for i, learner in enumerate(runner.learners):
            learner.vary_by_agent([m.learners[i] for m in members])
            learner.reset()
        runner.critic.stack_agents([m.critic for m in members])
        runner.policy.exploration.use_generators([m.generator for m in members])
        if any(m.config.exploration != self.config.exploration for m in members):
            runner.policy.exploration.vary_by_agent([m.policy.exploration.rate for m in members])
            runner._exploration_rate = runner.policy.exploration.rate(0.0)
        currents = [m.policy.feedback_current for m in members]
        if any(c != currents[0] for c in currents):
            runner.policy.feedback_current = torch.tensor(currents)
        self._share_weights()

    def _share_weights(self) -> None:
        """Make each member's connection weights views of its block of the stacked weights,
        so members always act with the population's current weights."""
        stacked = self.runner.policy.network
        for a, member in enumerate(self.members):
            for name, conn in member.policy.network.connections.items():
                # the rules hold the connection module and read .weight live: they follow too
                weight = stacked.connections[name].agent_weight(a)
                conn.weight = nn.Parameter(weight, requires_grad=False)
            for name, neuron in member.policy.network.neurons.items():
                if isinstance(neuron, FedeNeuron):  # homeostasis updates the block in place
                    neuron._buffers["thresh_offset"] = stacked.neurons[name].agent_offset(a)

    # ------------------------------------------------------------------------ training
    @flush_denormals()
    def learn(
        self,
        total_timesteps: int,
        callbacks: Sequence[BaseCallback | None] | None = None,
        log_interval: int = 10_000,
    ) -> AgentPopulation:
        """Train every agent for ``total_timesteps`` env steps of its own.

        The batch stops when every agent has made that many real transitions (agents whose
        episodes ended more often have a few more, as the vector step is shared).

        Args:
            total_timesteps: env steps per agent (>= 0).
            callbacks: one SB3 callback per agent (or None), bound to ``members[a]`` and
                called after every vector step; returning False stops the whole batch.
                :class:`~snn_rl.agents.callbacks.ScheduledEvaluation` with
                ``clock=population.training_clock`` times training without evaluations.
            log_interval: env steps of one agent between two logger dumps (``verbose=1``).
        """
        total_timesteps = check_int("total_timesteps", total_timesteps, minimum=0)
        log_interval = check_int("log_interval", log_interval, minimum=1)
        callbacks = list(callbacks) if callbacks is not None else [None] * self.n_agents
        if len(callbacks) != self.n_agents:
            raise ValueError(
                f"callbacks must hold one entry per agent ({self.n_agents}), got {len(callbacks)}"
            )
        runner, a, n = self.runner, self.n_agents, self.n_envs
        targets = [m.num_timesteps + total_timesteps for m in self.members]
        start_steps = [m.num_timesteps for m in self.members]
        for member, cb in zip(self.members, callbacks, strict=True):
            if cb is not None:
                cb.init_callback(member)
        runner._start_episodes(seed=self._episode_seeds())
        runner._stats = EpisodeStats(runner.n_envs, self.device)
        runner._log_start = (time.perf_counter(), runner.num_timesteps)
        episodes = torch.zeros(a, dtype=torch.long)
        self._clock_start = time.perf_counter()
        for member, cb in zip(self.members, callbacks, strict=True):
            if cb is not None:
                self._pause()
                cb.on_training_start({"self": member, "total_timesteps": targets[0]}, {})
                self._resume()
        next_log = log_interval
        done = [0] * a
        try:
            while any(done[i] < total_timesteps for i in range(a)):
                progress = sum(min(d, total_timesteps) for d in done) / max(a * total_timesteps, 1)
                tr, _ = runner._train_step(progress)
                runner._stats.update(tr.reward, tr.active, tr.done)
                real = tr.active.view(a, n).sum(1).cpu()
                episodes += (tr.done & tr.active).view(a, n).sum(1).cpu()
                done = [d + int(r) for d, r in zip(done, real, strict=True)]
                for i, member in enumerate(self.members):
                    member.num_timesteps = start_steps[i] + done[i]
                keep_going = True
                if any(cb is not None for cb in callbacks):
                    self._pause()
                    for cb in callbacks:
                        if cb is not None and not cb.on_step():
                            keep_going = False
                    self._resume()
                if not keep_going:
                    break
                if min(done) >= next_log:
                    runner.dump_logs()
                    next_log = min(done) + log_interval
        finally:
            self._pause()
            self.num_timesteps = runner.num_timesteps
            self._sync(episodes)
            runner._stats = None
        for cb in callbacks:
            if cb is not None:
                cb.on_training_end()
        return self

    def training_clock(self) -> float:
        """Seconds spent training inside :meth:`learn` so far (callbacks excluded)."""
        running = self._clock_start
        extra = 0.0 if running is None else time.perf_counter() - running
        return self.train_seconds + extra

    def _pause(self) -> None:
        if self._clock_start is not None:
            self.train_seconds += time.perf_counter() - self._clock_start
            self._clock_start = None

    def _resume(self) -> None:
        self._clock_start = time.perf_counter()

    def _episode_seeds(self) -> int | list[int]:
        """Env reset seeds: each agent draws one from its own seed stream, as alone, and its
        own vector env is reset with it (a torch-native batch env takes the first)."""
        drawn = [
            int(torch.randint(0, 2**31 - 1, (1,), generator=m._seed_generator))
            for m in self.members
        ]
        if isinstance(self.runner._driver.env, ConcatVectorEnv):
            return drawn
        return drawn[0]  # a torch-native batch env: one random stream for all rows

    def _sync(self, episodes: Tensor) -> None:
        """Copy each agent's critic, eligibility and counters from the batch into its member."""
        runner = self.runner
        for a, member in enumerate(self.members):
            member.critic.load_state_dict(runner.critic.agent_state_dict(a))
            for ours, theirs in zip(runner.learners, member.learners, strict=True):
                theirs.load_state_dict(_agent_rule_state(ours, a, self.n_agents))
            member._episodes += int(episodes[a])
            rate = runner._exploration_rate
            member._exploration_rate = float(rate[a]) if isinstance(rate, Tensor) else rate

    # ------------------------------------------------------------------------- saving
    def save(
        self, folder: str | os.PathLike, name: Callable[[int], str] | None = None
    ) -> list[Path]:
        """Save every member as an ordinary checkpoint, ``folder/seed_<seed>.zip`` (or
        ``name(seed)``; when seeds repeat, variants: ``agent_<a>_seed_<seed>.zip``); returns
        the paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if name is None and len(set(self.seeds)) != len(self.seeds):
            return [
                m.save(folder / f"agent_{a}_seed_{m.seed}.zip") for a, m in enumerate(self.members)
            ]
        name = name or (lambda seed: f"seed_{seed}.zip")
        return [m.save(folder / name(m.seed)) for m in self.members]

    def __repr__(self) -> str:
        return (
            f"AgentPopulation({type(self.runner).__name__}, env={self.env_id!r}, seeds="
            f"{self.seeds}, n_envs={self.n_envs} per agent, device={self.device})"
        )


def _check_variants(
    variants: Sequence[Mapping[str, Any]] | None, n_agents: int
) -> list[Mapping[str, Any]] | None:
    if variants is None:
        return None
    if isinstance(variants, str | bytes | Mapping) or not isinstance(variants, Sequence):
        raise TypeError(
            f"variants must be a list of overrides mappings, one per agent, got "
            f"{type(variants).__name__}"
        )
    if len(variants) != n_agents:
        raise ValueError(
            f"variants must hold one overrides mapping per agent ({n_agents} seeds), got "
            f"{len(variants)}"
        )
    for i, v in enumerate(variants):
        if not isinstance(v, Mapping):
            raise TypeError(f"variants[{i}] must be an overrides mapping, got {type(v).__name__}")
    return list(variants)


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A configuration's plain data as ``dotted key -> value`` (lists kept whole)."""
    if not isinstance(tree, Mapping):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _check_configs(cls: type[SpikingAgent], configs: list[Any]) -> list[str]:
    """The keys on which the members' configurations differ; each must be one the agent
    class can hold per agent (``population_variants``)."""
    flat = [_flat(c.to_dict()) for c in configs]
    keys = sorted({k for f in flat for k in f})
    varied = [k for k in keys if any(f.get(k) != flat[0].get(k) for f in flat)]
    fixed = [k for k in varied if k not in cls.population_variants]
    if fixed:
        values = {k: [f.get(k) for f in flat] for k in fixed}
        raise ValueError(
            f"the agents' variants differ in {fixed} ({values}), which a population cannot "
            f"hold per agent (they change a shape or the loop); {cls.__name__} can vary "
            f"{list(cls.population_variants) or 'nothing but the seed'}"
        )
    return varied


def _agent_rule_state(learner: Any, agent: int, agents: int) -> dict[str, Any]:
    """One agent's share of a population learner's rule state (E rows or E block), with
    its own value of any hyperparameter that varies by agent."""
    state = learner.state_dict()
    state["param_groups"] = [
        {k: float(v[agent]) if isinstance(v, Tensor) else v for k, v in group.items()}
        for group in state["param_groups"]
    ]
    per_env = getattr(learner.rule, "per_env", True)
    out = {}
    for layer, tensors in state["state"].items():
        out[layer] = {}
        for key, value in tensors.items():
            if per_env:
                rows = value.shape[0] // agents
                out[layer][key] = value[agent * rows : (agent + 1) * rows].clone()
            else:
                out[layer][key] = value[agent].clone()
    return {"state": out, "param_groups": state["param_groups"]}
