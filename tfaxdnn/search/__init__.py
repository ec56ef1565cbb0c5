"""Searches over approximation plans, all scoring plans through the public `Evaluator`: XAI-Gen
(`tfaxdnn.search.xaigen`) and XAI-NAS (`tfaxdnn.search.nas`, NSGA-II on pymoo and Dask, imported on first use)."""

import importlib

from tfaxdnn.search.evaluator import Evaluator, EvaluatorSpec, Metrics, split_data
from tfaxdnn.search.xaigen import (Importance, XAIGenConfig, XAIGenResult, compute_importance, energy_cap,
                                   run_and_save, run_xaigen, save_sweep, select_multiplier, skip_fraction, sweep)

_LAZY = {"NASConfig": "tfaxdnn.search.nas", "NASResult": "tfaxdnn.search.nas", "run_xainas": "tfaxdnn.search.nas",
         "compare_with_alwann": "tfaxdnn.search.nas"}

__all__ = ["Evaluator", "EvaluatorSpec", "Metrics", "split_data", "Importance", "XAIGenConfig", "XAIGenResult",
           "compute_importance", "energy_cap", "run_and_save", "run_xaigen", "save_sweep", "select_multiplier",
           "skip_fraction", "sweep", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tfaxdnn.search' has no attribute {name!r}")
