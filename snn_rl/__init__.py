"""snn-rl: spiking neural networks that learn Gymnasium tasks through reward-modulated plasticity.

The engine (this package) depends on torch and numpy only. ``snn_rl.envs`` is the Gymnasium
side and ``snn_rl.agents`` the Stable-Baselines3-like agents.
"""

from snn_rl._guard import NonFiniteError
from snn_rl.compile import compile_available, compile_step
from snn_rl.connections import Conv2d, Linear
from snn_rl.decoding import (
    EpsilonGreedyDecoder,
    GreedyDecoder,
    PopulationVectorDecoder,
    SoftmaxDecoder,
    population_counts,
)
from snn_rl.denormals import flush_denormals
from snn_rl.encoding import (
    BernoulliEncoder,
    ConjunctiveGaussianEncoder,
    GaussianPopulationEncoder,
    ImageEncoder,
    OneHotEncoder,
    PairwiseGaussianEncoder,
    PoissonEncoder,
)
from snn_rl.learning import MSTDP, MSTDPET, STDP, FedeSTDP, LearningRule
from snn_rl.network import SNNNetwork
from snn_rl.neurons import AdaptiveLIFNeuron, FedeNeuron, IFNeuron, Input, LIFNeuron

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "flush_denormals",
    "AdaptiveLIFNeuron",
    "BernoulliEncoder",
    "ConjunctiveGaussianEncoder",
    "PairwiseGaussianEncoder",
    "Conv2d",
    "EpsilonGreedyDecoder",
    "FedeNeuron",
    "FedeSTDP",
    "GaussianPopulationEncoder",
    "GreedyDecoder",
    "ImageEncoder",
    "IFNeuron",
    "Input",
    "LIFNeuron",
    "LearningRule",
    "Linear",
    "MSTDP",
    "MSTDPET",
    "NonFiniteError",
    "OneHotEncoder",
    "PoissonEncoder",
    "PopulationVectorDecoder",
    "SNNNetwork",
    "STDP",
    "SoftmaxDecoder",
    "compile_available",
    "compile_step",
    "population_counts",
]
