"""XAI-Gen: conductance-guided multipliers and neuron skipping, selected on validation images."""

from tfaxdnn.search.xaigen.algorithm import *  # noqa: F401,F403
from tfaxdnn.search.xaigen.algorithm import __all__  # noqa: F401
