"""Learning rules: optimizer-like objects that change a network's weights from its activity.

Per simulation step: ``net(x)``, then ``rule.update_state()``, then ``rule.step(...)``
(``step(reward)`` for the reward-modulated rules, ``step()`` for the unsupervised ones).
"""

from snn_rl.learning.base import LearningRule
from snn_rl.learning.fede import FedeSTDP
from snn_rl.learning.mstdpet import MSTDP, MSTDPET
from snn_rl.learning.stdp import STDP

__all__ = ["LearningRule", "MSTDPET", "MSTDP", "STDP", "FedeSTDP"]
