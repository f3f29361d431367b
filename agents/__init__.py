"""Spiking agents with a Stable-Baselines3-like API.

>>> from snn_rl.agents import MSTDPETAgent, evaluate  # doctest: +SKIP

Agents are registered by name (:data:`AGENTS`, :func:`register_agent`); the CLI, ``compare``
and :meth:`SpikingAgent.load` find them there.
"""

from snn_rl.agents.base import SpikingAgent
from snn_rl.agents.config import ConfigError
from snn_rl.agents.evaluation import EvalResult, evaluate
from snn_rl.agents.mstdpet import MSTDPETAgent, MSTDPETConfig
from snn_rl.agents.population import AgentPopulation
from snn_rl.agents.registry import AGENTS, register_agent
from snn_rl.agents.spiking_critic import SpikingTDCritic  # registers critic type "spiking_td"

register_agent("mstdpet", MSTDPETAgent)

__all__ = [
    "AGENTS",
    "AgentPopulation",
    "ConfigError",
    "EvalResult",
    "MSTDPETAgent",
    "MSTDPETConfig",
    "SpikingAgent",
    "SpikingTDCritic",
    "evaluate",
    "register_agent",
]
