"""Searches over approximation plans: XAI-Gen (`tfaxdnn.search.xaigen`)."""

from tfaxdnn.search.xaigen import (Importance, XAIGenConfig, XAIGenResult, compute_importance, energy_cap,
                                   run_and_save, run_xaigen, save_sweep, select_multiplier, skip_fraction, sweep)

__all__ = ["Importance", "XAIGenConfig", "XAIGenResult", "compute_importance", "energy_cap", "run_and_save",
           "run_xaigen", "save_sweep", "select_multiplier", "skip_fraction", "sweep"]
