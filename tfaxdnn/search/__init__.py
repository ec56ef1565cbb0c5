"""Searches over approximation plans, all scoring plans through the public `Evaluator`: XAI-Gen
(`tfaxdnn.search.xaigen`), XAI-NAS (`tfaxdnn.search.nas`, NSGA-II on pymoo and Dask) and the fine-grain mapping of
reconfigurable multipliers under STL queries (`tfaxdnn.search.mapping`, `tfaxdnn.search.mapping.queries`); the last two are
imported on first use."""

import importlib

from tfaxdnn.search.config import SearchConfig
from tfaxdnn.search.evaluator import Evaluator, EvaluatorSpec, Metrics
from tfaxdnn.search.selection import seeded_subset, split_data
from tfaxdnn.search.xaigen import (Importance, XAIGenConfig, XAIGenResult, compute_importance, energy_cap,
                                   run_and_save, run_xaigen, save_sweep, select_multiplier, skip_fraction, sweep)

_LAZY = {"NASConfig": "tfaxdnn.search.nas", "NASResult": "tfaxdnn.search.nas", "run_xainas": "tfaxdnn.search.nas",
         "compare_with_alwann": "tfaxdnn.search.nas", "search_mapping": "tfaxdnn.search.mapping",
         "MappingResult": "tfaxdnn.search.mapping", "Query": "tfaxdnn.search.mapping.queries",
         "paper_query": "tfaxdnn.search.mapping.queries"}

__all__ = ["SearchConfig", "Evaluator", "EvaluatorSpec", "Metrics", "split_data", "seeded_subset", "Importance", "XAIGenConfig", "XAIGenResult",
           "compute_importance", "energy_cap", "run_and_save", "run_xaigen", "save_sweep", "select_multiplier",
           "skip_fraction", "sweep", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tfaxdnn.search' has no attribute {name!r}")
