"""Whole-model configurations, nothing selected: the paper's trade-off grid over the skipping threshold (`sweep`,
Figs. 8–9: skipping only, "p", and skipping with approximation, "pa") and how far the energy model lets energy go
(`energy_cap`). Each row's accuracy is measured on all of the evaluation data."""

from __future__ import annotations

import json
from typing import List, Optional

from tfaxdnn.search.xaigen.config import XAIGenConfig, energy_fields
from tfaxdnn.search.xaigen.evaluation import XAIGenSearch
from tfaxdnn.search.xaigen.importance import Importance
from tfaxdnn.search.xaigen.rules import select_multiplier, skip_fraction

__all__ = ["sweep", "energy_cap", "T_P_GRID"]

#: The default ``t_p`` grid of `sweep`.
T_P_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def sweep(model, eval_data, calibration_data, t_p_values=T_P_GRID,
          config: Optional[XAIGenConfig] = None, accelerator=None, importance: Optional[Importance] = None,
          verbose: bool = True, search: Optional[XAIGenSearch] = None) -> List[dict]:
    """Whole-model configurations over ``t_p``: "p" (skipping, exact multipliers) and "pa" (skipping + SelectMult
    at the initial threshold ``t_c`` for every layer). Nothing is selected, so each row's accuracy is measured on all
    of the evaluation data. Returns one row per configuration."""
    from tqdm.auto import tqdm

    config = config or XAIGenConfig()
    run = search or XAIGenSearch(model, eval_data, calibration_data, config, accelerator, importance, verbose)
    imp, output_layer = run.importance, run.output_layer
    z_hat, mults = imp.normalized(config.normalization), config.multipliers
    rows = []
    grid = [(mode, t_p) for t_p in t_p_values for mode in ("p", "pa")]
    for mode, t_p in tqdm(grid, desc="XAI-Gen sweep", disable=not verbose):
        settings = {}
        for n in imp.layers:
            s = 0.0 if n == output_layer else skip_fraction(z_hat[n], t_p, config.skip_step)
            m = mults[select_multiplier(z_hat[n], config.t_c, len(mults))] if mode == "pa" else mults[0]
            settings[n] = (m, s)
        plan, m = run(settings, run.full)
        rows.append({"mode": mode, "t_p": t_p, "accuracy": m.accuracy, "split": m.split,
                     "energy_j": m.energy_j, "relative_energy": m.relative_energy,
                     **energy_fields(m.reductions), "latency_s": m.latency_s,
                     "plan": json.dumps(plan.to_dict()["layers"])})
    return rows


def energy_cap(model, eval_data, calibration_data, config: Optional[XAIGenConfig] = None, accelerator=None,
               importance: Optional[Importance] = None, skip_values=(0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5),
               verbose: bool = True) -> List[dict]:
    """How low the energy model lets energy go: the most aggressive multiplier on every layer plus the same skip
    fraction on every layer but the output one (least important neurons first), for each of ``skip_values``.
    Rows carry ``meets_quality`` (the upper bound of the paired drop against the float model, on all the evaluation
    data, is at most ``max_accuracy_drop``)."""
    from tqdm.auto import tqdm

    config = config or XAIGenConfig()
    run = XAIGenSearch(model, eval_data, calibration_data, config, accelerator, importance, verbose)
    rows = []
    for s in tqdm(skip_values, desc="energy cap", disable=not verbose):
        settings = {n: (config.multipliers[-1], 0.0 if n == run.output_layer else s)
                    for n in run.importance.layers}
        _, m = run(settings, run.full)
        rows.append({"multiplier": config.multipliers[-1], "skip_fraction": s, "accuracy": m.accuracy,
                     "relative_energy": m.relative_energy, "energy_reduction": m.energy_reduction,
                     **energy_fields(m.reductions), "meets_quality": m.meets(config.max_accuracy_drop)})
    return rows
