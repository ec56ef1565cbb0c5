"""Searches over approximation plans, all scoring plans through the public `Evaluator`: XAI-Gen
(`tfaxdnn.search.xaigen`)."""

from tfaxdnn.search.evaluator import Evaluator, EvaluatorSpec, Metrics, split_data
from tfaxdnn.search.xaigen import (Importance, XAIGenConfig, XAIGenResult, compute_importance, energy_cap,
                                   run_and_save, run_xaigen, save_sweep, select_multiplier, skip_fraction, sweep)

__all__ = ["Evaluator", "EvaluatorSpec", "Metrics", "split_data", "Importance", "XAIGenConfig", "XAIGenResult", "compute_importance", "energy_cap", "run_and_save",
           "run_xaigen", "save_sweep", "select_multiplier", "skip_fraction", "sweep"]
