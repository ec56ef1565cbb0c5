"""XAI-NAS: NSGA-II (pymoo) over per-layer multiplier and skip genes, evaluated through the `Evaluator`."""

from tfaxdnn.search.nas.genome import GenomeSpace
from tfaxdnn.search.nas.operators import IntegerResetMutation, SkipAwareMutation
from tfaxdnn.search.nas.robustness import AttackConfig
from tfaxdnn.search.nas.search import *  # noqa: F401,F403
from tfaxdnn.search.nas.search import (XAINASProblem, _front, __all__, hypervolume_2d, non_dominated)  # noqa: F401
