"""XAI-Gen's output folder and printout: `save_sweep` (``sweep.csv``, ``tradeoff.png``) and `run_and_save` (a run,
its sweep, every file and the summary the CLI and the examples print)."""

from __future__ import annotations

import csv
import os
from typing import List, Optional

from tfaxdnn.search.xaigen.config import XAIGenConfig
from tfaxdnn.search.xaigen.evaluation import XAIGenSearch
from tfaxdnn.search.xaigen.plots import save_tradeoff_plot
from tfaxdnn.search.xaigen.result import XAIGenResult
from tfaxdnn.search.xaigen.run import run_xaigen
from tfaxdnn.search.xaigen.sweeps import T_P_GRID, sweep

__all__ = ["save_sweep", "run_and_save"]


def save_sweep(rows: List[dict], out_dir, baseline_accuracy: Optional[float] = None,
               max_accuracy_drop: float = 0.02) -> None:
    """``sweep.csv`` and ``tradeoff.png`` (accuracy and relative energy per configuration, "p" vs "pa")."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "sweep.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    save_tradeoff_plot(rows, os.path.join(out_dir, "tradeoff.png"), baseline_accuracy, max_accuracy_drop)


def run_and_save(model, eval_data, calibration_data, out_dir, config: Optional[XAIGenConfig] = None,
                 accelerator=None, t_p_values=T_P_GRID, verbose: bool = True,
                 test_data=None, train_data=None, explain_images: int = 4) -> XAIGenResult:
    """`run_xaigen` + `sweep` (one evaluator, calibrated once), writing ``result.json``, ``plan.json``,
    ``importance.png``, ``axdnn.keras``, ``sweep.csv``, ``tradeoff.png`` and (``explain_images`` > 0)
    ``explanations.png/.json`` (tf-explain maps of the float and the chosen approximate model on that many test
    images, seeded) to ``out_dir``; prints the importance, the plan and the trade-off."""
    config = config or XAIGenConfig()
    search = XAIGenSearch(model, eval_data, calibration_data, config, accelerator, None, verbose, test_data)
    result = run_xaigen(model, eval_data, calibration_data, config, verbose=verbose, search=search,
                        train_data=train_data)
    rows = sweep(model, eval_data, calibration_data, t_p_values, config, verbose=verbose,
                 search=search) if t_p_values else []
    result.save(out_dir)
    if rows:
        save_sweep(rows, out_dir, search.full.baseline().accuracy, config.max_accuracy_drop)
    if explain_images:
        from tfaxdnn.xai.explanations.plots import explanation_figure

        explanation_figure(model, result.model, search.test.x, search.test.y,
                           os.path.join(out_dir, "explanations.png"), n_images=explain_images, seed=config.seed,
                           title="XAI-Gen plan: float vs approximate model (test images)")
    if verbose:
        print(result)
        if rows:
            print(f"sweep ({len(rows)} configurations on all {len(search.full.y)} evaluation images, "
                  f"{out_dir}/sweep.csv):")
            for r in rows:
                print(f"  {r['mode']:<3s} t_p={r['t_p']:.1f}  accuracy {r['accuracy']:.4f}  energy "
                      f"{r['relative_energy']:.3f} x exact")
        print(f"XAI-Gen took {result.runtime_s:.1f} s; results in {out_dir}")
    return result
