"""Spike pictures: one episode of a spiking agent, recorded simulation step by simulation step.

:func:`record_episode` runs one episode of one env through the agent's own parts, on a copy
of the agent (the agent given is left exactly as it was), and keeps per simulation step the
spikes and membrane potentials of every population and the readout's eligibility, and per
env step the observation, the action, the env reward, the reward function's output and the
critic's modulator. ``windows`` chooses whose windows run:

* ``"predict"`` (default): :meth:`SpikingPolicy.act`, the read-out of ``predict``,
  ``evaluate`` and ``snn-rl enjoy`` (both windows undriven, the action from the counts of
  all their steps), so the actions are the ones ``predict`` takes. The readout's rule
  accumulates its eligibility and the critic computes its modulator on that episode as in
  training; no weight changes.
* ``"train"``: the training loop's own step (``SpikingAgent._train_step``): the action from
  the decision window, the efference copy driving the chosen population, and the weight
  updates (of the copy; ``weight_change`` records them).

:func:`plot_episode` draws a record as PNG files (docs/inspect.md shows and explains them).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from snn_rl import SNNNetwork
from snn_rl._validation import check_bool, check_choice, check_int
from snn_rl.agents._io import atomic_write
from snn_rl.agents.base import SpikingAgent
from snn_rl.agents.diagnostics import Diagnostics
from snn_rl.agents.env_util import as_vector_env, make_env
from snn_rl.agents.inspect_figures import draw_learning, draw_raster, draw_rates, draw_weights
from snn_rl.agents.learners import Learner
from snn_rl.agents.report import require_matplotlib
from snn_rl.envs.transition import Transition
from snn_rl.neurons import Neuron

__all__ = ["EpisodeRecord", "plot_episode", "record_episode"]

Windows = Literal["predict", "train"]
WINDOWS: tuple[str, ...] = ("predict", "train")


@dataclass(frozen=True)
class EpisodeRecord:
    """One recorded episode (see the module docstring); numpy arrays on the host.

    ``T`` env steps of ``decision_steps + feedback_steps`` simulation steps each; sim step
    ``k`` belongs to env step ``k // window_steps``. Populations are named ``"input"`` (the
    network's source) and after the layer that feeds them (e.g. ``"output"``).

    Shape:
        spikes: population -> ``(T * window_steps, N)`` bool (``N`` neurons, flattened); v:
        the same for the populations with a membrane potential, after each step's reset.
        eligibility: readout layer (whose rule keeps one) -> ``(T * window_steps, out)``,
        each postsynaptic neuron's eligibility summed over its inputs; eligibility_abs: the
        same layers -> ``(T * window_steps,)``, mean ``|E|``. observations
        ``(T, *obs_shape)``; actions ``(T,)`` or ``(T, action_dim)``; rewards, reward_signal,
        modulator ``(T,)``.
        weights, final_weights: layer -> ``(out, K)``; weight_change: layer -> ``(T,)``,
        mean ``|dW|`` per env step (``windows="train"`` only, else empty).
    """

    env_id: str
    seed: int
    windows: str
    deterministic: bool
    decision_steps: int
    feedback_steps: int
    n_actions: int
    pop_size: int
    discrete: bool
    layers: dict[str, tuple[str, str]]  # layer -> (presynaptic, postsynaptic) population
    output: str
    spikes: dict[str, np.ndarray]
    v: dict[str, np.ndarray]
    eligibility: dict[str, np.ndarray]
    eligibility_abs: dict[str, np.ndarray]
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    reward_signal: np.ndarray
    modulator: np.ndarray
    weights: dict[str, np.ndarray]
    final_weights: dict[str, np.ndarray]
    weight_change: dict[str, np.ndarray]
    terminated: bool
    truncated: bool

    @property
    def window_steps(self) -> int:
        """Simulation steps per env step."""
        return self.decision_steps + self.feedback_steps

    @property
    def n_env_steps(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def episode_return(self) -> float:
        return float(self.rewards.sum())

    def rates(self, population: str) -> np.ndarray:
        """Spikes per neuron per simulation step in each env step, ``(T, N)``."""
        z = self.spikes[population]
        return z.reshape(self.n_env_steps, self.window_steps, -1).mean(1)


class _Recorder(Diagnostics):
    """Keeps the state after every simulation step. In ``"train"`` windows it stands in for
    the copy's diagnostics (sampling every step), in ``"predict"`` windows ``policy.act``
    calls :meth:`observe`, which first runs the readout's eligibility as the loop would."""

    def __init__(self, agent: SpikingAgent, populations: Mapping[str, Neuron]) -> None:
        self.readout: list[Learner] = [lr for lr in agent.learners if lr.role == "readout"]
        trained = [name for lr in self.readout for name in lr.layer_names]
        super().__init__(agent.policy.network.layer_state_dict(), trained, every=1)
        self.populations = dict(populations)
        self.z: dict[str, list[Tensor]] = {name: [] for name in self.populations}
        self.vs: dict[str, list[Tensor]] = {
            name: [] for name, neuron in self.populations.items() if "v" in neuron.state_names
        }
        self.e: dict[str, list[Tensor]] = {name: [] for name in trained}
        self.e_abs: dict[str, list[Tensor]] = {name: [] for name in trained}
        self.dw: dict[str, list[Tensor]] = {name: [] for name in trained}

    def observe(self, window: str) -> None:
        for learner in self.readout:
            learner.after_sim_step(window)
        self.after_sim_step()

    def after_sim_step(self) -> None:
        for name, neuron in self.populations.items():
            self.z[name].append(neuron.spikes[0].reshape(-1).clone())
            if name in self.vs:
                self.vs[name].append(neuron.v[0].reshape(-1).clone())
        for learner in self.readout:
            for name, e in learner.eligibility().items():
                e = e[0] if e.dim() == 3 else e  # per-env E (B=1, out, K) or (out, K)
                self.e[name].append(e.sum(-1))
                self.e_abs[name].append(e.abs().mean())

    def weight_change(self, before: Mapping[str, Tensor]) -> None:
        for name in self.trained:
            after = self.layers[name]["connection"].weight
            self.dw[name].append((after - before[name]).abs().mean())


def _host(tensors: list[Tensor], dtype: type) -> np.ndarray:
    return torch.stack(tensors).cpu().numpy().astype(dtype)


def _weights(agent: SpikingAgent) -> dict[str, np.ndarray]:
    layers = agent.policy.network.layer_state_dict()
    return {
        name: layer["connection"]
        .weight.detach()
        .reshape(layer["connection"].weight.shape[0], -1)
        .cpu()
        .numpy()
        .copy()
        for name, layer in layers.items()
    }


def _shadow(agent: SpikingAgent) -> SpikingAgent:
    """A deep copy of the agent without its env, driver and logger (never copied)."""
    memo = {id(obj): None for obj in (agent.env, agent._driver, agent._logger) if obj is not None}
    return copy.deepcopy(agent, memo)


def _predict_step(
    agent: SpikingAgent, recorder: _Recorder, deterministic: bool
) -> tuple[Transition, Tensor]:
    """``predict``'s read-out of ``agent._phi``, the env step, and the critic's modulator."""
    policy = agent.policy
    phi = agent._phi
    action = policy.act(
        phi,
        deterministic=deterministic,
        rate=agent._exploration_rate,
        after_sim_step=recorder.observe,
    )
    tr = agent._driver.step(action)
    agent._phi = policy.encode(tr.new_obs)
    phi_next = agent._phi if tr.next_obs is tr.new_obs else policy.encode(tr.next_obs)
    return tr, agent.critic(agent.reward_function(tr), phi, phi_next, tr)


def _populations(network: SNNNetwork) -> tuple[dict[str, Neuron], dict[int, str]]:
    """The network's populations by name ("input", then each layer's postsynaptic one under
    the name of the first layer that feeds it), and the names by population identity."""
    source = network.source()
    populations, names = {"input": source}, {id(source): "input"}
    for name, layer in network.layer_state_dict().items():
        post = layer["postsynaptic"]
        if id(post) not in names:
            names[id(post)] = name
            populations[name] = post
    return populations, names


def _run(
    agent: SpikingAgent, recorder: _Recorder, seed: int, deterministic: bool, windows: str
) -> list[tuple[Transition, Tensor, Tensor]]:
    """One episode of the agent's (only) env: per env step the transition, the reward
    function's output and the modulator."""
    steps = []
    with torch.no_grad():
        agent._start_episodes(seed=seed)
        while True:
            if windows == "train":
                tr, signal = agent._train_step(1.0, deterministic)  # the schedules' end values
            else:
                tr, signal = _predict_step(agent, recorder, deterministic)
            steps.append((tr, agent.reward_function(tr)[0], signal[0]))
            if bool(tr.done[0]):
                return steps


def record_episode(
    agent: SpikingAgent,
    env_id: str | None = None,
    *,
    seed: int = 0,
    max_steps: int | None = None,
    deterministic: bool = True,
    windows: Windows = "predict",
) -> EpisodeRecord:
    """Record one episode of ``agent`` on one env (see the module docstring).

    Args:
        agent: a spiking agent; it is not changed (a copy runs the episode).
        env_id: the env (default: the agent's own env id, with its ``env_kwargs``).
        seed: the episode's ``env.reset(seed=...)``.
        max_steps: episode cap (default: the env's time limit).
        deterministic: greedy actions (False: the agent's exploration at its current rate).
        windows: ``"predict"`` or ``"train"``.

    Returns:
        The :class:`EpisodeRecord`.
    """
    if not isinstance(agent, SpikingAgent):
        raise TypeError(f"agent must be a SpikingAgent, got {type(agent).__name__}")
    seed = check_int("seed", seed, minimum=0)
    max_steps = None if max_steps is None else check_int("max_steps", max_steps, minimum=1)
    deterministic = check_bool("deterministic", deterministic)
    windows = check_choice("windows", windows, WINDOWS)
    env_id = env_id or agent.env_id
    if env_id is None:
        raise ValueError("the agent names no env; pass env_id")
    kwargs = agent.env_kwargs if env_id == agent.env_id else None
    vec = as_vector_env(
        make_env(env_id, env_kwargs=kwargs, max_episode_steps=max_steps), 1, agent.device
    )
    shadow = _shadow(agent)
    shadow._attach(vec, vec)
    policy = shadow.policy
    populations, names = _populations(policy.network)
    weights = _weights(shadow)
    recorder = _Recorder(shadow, populations)
    shadow._diagnostics = recorder  # the training loop hands it every simulation step
    try:
        steps = _run(shadow, recorder, seed, deterministic, windows)
    finally:
        vec.close()
    tr = steps[-1][0]
    return EpisodeRecord(
        env_id=env_id,
        seed=seed,
        windows=windows,
        deterministic=deterministic,
        decision_steps=policy.decision_steps,
        feedback_steps=policy.feedback_steps,
        n_actions=policy.n_actions,
        pop_size=policy.pop_size,
        discrete=policy.discrete,
        layers={
            name: (names[id(layer["presynaptic"])], names[id(layer["postsynaptic"])])
            for name, layer in policy.network.layer_state_dict().items()
        },
        output=names[id(policy.output)],
        spikes={k: _host(v, bool) for k, v in recorder.z.items()},
        v={k: _host(v, np.float32) for k, v in recorder.vs.items()},
        eligibility={k: _host(v, np.float32) for k, v in recorder.e.items() if v},
        eligibility_abs={k: _host(v, np.float32) for k, v in recorder.e_abs.items() if v},
        observations=_host([t.obs[0] for t, _, _ in steps], np.float32),
        actions=_host(
            [t.action[0] for t, _, _ in steps], np.int64 if policy.discrete else np.float32
        ),
        rewards=_host([t.reward[0] for t, _, _ in steps], np.float64),
        reward_signal=_host([r for _, r, _ in steps], np.float64),
        modulator=_host([m for _, _, m in steps], np.float64),
        weights=weights,
        final_weights=_weights(shadow),
        weight_change={k: _host(v, np.float32) for k, v in recorder.dw.items() if v},
        terminated=bool(tr.terminated[0]),
        truncated=bool(tr.truncated[0]),
    )


# ---------------------------------------------------------------------------- plots
def plot_episode(
    record: EpisodeRecord, folder: str | os.PathLike, *, raster_steps: int = 12
) -> list[Path]:
    """Write the record's pictures as PNG files into ``folder`` (created if needed).

    ``raster.png``: spikes of every population over the first ``raster_steps`` env steps;
    ``rates.png``: firing rates over the whole episode; ``weights.png``: every layer's
    weights (and, for ``windows="train"``, their change over the episode);
    ``learning.png``: the reward signal, the modulator and the readout's eligibility.

    Returns:
        The paths written, in that order.

    Raises:
        ImportError: matplotlib is not installed (``pip install 'snn-rl[plot]'``).
    """
    raster_steps = check_int("raster_steps", raster_steps, minimum=1)
    Figure, FigureCanvasAgg = require_matplotlib()
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is a file; give a folder for the pictures")
    out = []
    for name, draw in (
        ("raster", lambda fig: draw_raster(fig, record, raster_steps)),
        ("rates", lambda fig: draw_rates(fig, record)),
        ("weights", lambda fig: draw_weights(fig, record)),
        ("learning", lambda fig: draw_learning(fig, record)),
    ):
        fig = Figure(layout="constrained")
        FigureCanvasAgg(fig)
        draw(fig)
        path = folder / f"{name}.png"
        atomic_write(path, lambda p, fig=fig: fig.savefig(p, format="png", dpi=100))
        out.append(path)
    return out
