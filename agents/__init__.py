"""Spiking agents with a Stable-Baselines3-like API.

>>> from snn_rl.agents import MSTDPETAgent, evaluate  # doctest: +SKIP
"""

from snn_rl.agents.base import SpikingAgent
from snn_rl.agents.config import MSTDPETConfig
from snn_rl.agents.evaluation import EvalResult, evaluate
from snn_rl.agents.hyperparams import load_hyperparams
from snn_rl.agents.mstdpet import MSTDPETAgent

__all__ = [
    "EvalResult",
    "MSTDPETAgent",
    "MSTDPETConfig",
    "SpikingAgent",
    "evaluate",
    "load_hyperparams",
]
