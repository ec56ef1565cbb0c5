"""XAI-NAS against the ALWANN-style baseline under the same evaluation budget (`compare_with_alwann`)."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, Optional

from tfaxdnn.core.serialization import json_default
from tfaxdnn.search.nas.config import MODES, NASConfig
from tfaxdnn.search.nas.plots import save_generations_plot, save_hypervolume_plot
from tfaxdnn.search.nas.result import NASResult, comparison_summary
from tfaxdnn.search.nas.search import NASSearch, run_xainas
from tfaxdnn.search.runners import make_runner

__all__ = ["compare_with_alwann"]


def compare_with_alwann(model, data, out_dir, config: Optional[NASConfig] = None, *, workers: int = 0,
                        scheduler: Optional[str] = None, resume: bool = False, **kwargs) -> Dict[str, NASResult]:
    """XAI-NAS in ``out_dir/xainas`` and the ALWANN-style baseline with the same budget in ``out_dir/alwann``;
    ``out_dir/generations.png``, ``hypervolume.png`` (same reference point) and ``comparison.json``."""
    config = config or NASConfig()
    results = {}
    with make_runner(workers, scheduler) as runner:
        for mode in MODES:
            sub = os.path.join(out_dir, mode)
            again = resume and os.path.exists(os.path.join(sub, NASSearch.CHECKPOINT))
            cfg = dataclasses.replace(config, mode=mode)
            if mode == "alwann" and config.max_evaluations is None:
                # the same budget: XAI-NAS's evaluations including its XAI-Gen seeding runs
                extra = -(-results["xainas"].seeding.get("evaluations", 0) // config.n_offsprings)
                cfg = dataclasses.replace(cfg, max_evaluations=results["xainas"].total_evaluations,
                                          generations=config.generations + 2 * extra + 2)
            results[mode] = run_xainas(model, data, sub, cfg, resume=again, runner=runner, **kwargs)
    save_generations_plot(results, os.path.join(out_dir, "generations.png"))
    save_hypervolume_plot(results, os.path.join(out_dir, "hypervolume.png"))
    summary = {mode: comparison_summary(r) for mode, r in results.items()}
    with open(os.path.join(out_dir, "comparison.json"), "w") as f:
        json.dump(summary, f, indent=2, default=json_default)
    return results
