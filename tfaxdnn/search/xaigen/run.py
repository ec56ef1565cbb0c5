"""`run_xaigen`: one XAI-Gen run end to end (search on the validation split, re-check on the confirmation slice,
report on the test split, optional fine-tuning); the steps are in `tfaxdnn.search.xaigen.algorithm`."""

from __future__ import annotations

import time
from typing import Optional

from tfaxdnn.search.confirmation import drop_record
from tfaxdnn.search.selection import check_resolution
from tfaxdnn.search.xaigen.algorithm import plan_search
from tfaxdnn.search.xaigen.config import XAIGenConfig
from tfaxdnn.search.xaigen.confirm import confirm_answer
from tfaxdnn.search.xaigen.evaluation import XAIGenSearch
from tfaxdnn.search.xaigen.finetuning import finetune_stage
from tfaxdnn.search.xaigen.importance import Importance
from tfaxdnn.search.xaigen.result import XAIGenResult, per_layer_rows

__all__ = ["run_xaigen"]


def run_xaigen(model, eval_data, calibration_data, config: Optional[XAIGenConfig] = None, accelerator=None,
               importance: Optional[Importance] = None, verbose: bool = True, test_data=None,
               search: Optional[XAIGenSearch] = None, train_data=None) -> XAIGenResult:
    """XAI-Gen on a trained float Keras 3 model (see `tfaxdnn.search.xaigen.algorithm`).

    Args:
        model: trained Keras 3 classifier (logits or probabilities), not modified.
        eval_data: ``(x, y)`` held-out images: split into validation (``Q_c`` is checked and plans are selected
            there; ``config.confirmation_fraction`` of it is held out as the confirmation slice) and test (the
            reported accuracy) by ``config.validation_fraction``, unless ``test_data`` is given.
        calibration_data: images (or ``(x, y)``) for activation ranges and data-aware weight mapping.
        config: `XAIGenConfig` (defaults: the paper's multipliers, t_c=1, δ=0.05, t_p=0.5, a drop of at most 2
            points at 95 % confidence).
        accelerator: `tfaxdnn.hardware.Accelerator`; default ``Accelerator.paper()``.
        importance: precomputed `Importance` (else computed with `compute_importance` on validation images).
        verbose: progress bars and the fine-tuning printout.
        test_data: ``(x, y)`` to report on; then all of ``eval_data`` is the validation split.
        search: an `XAIGenSearch` on the same model and data to reuse (its evaluations are cached); then
            ``eval_data``, ``calibration_data``, ``accelerator``, ``importance`` and ``test_data`` are its own.
        train_data: ``(x, y)`` training images for ``config.finetune_epochs`` > 0.
    """
    config = config or XAIGenConfig()
    if config.finetune_epochs and train_data is None:
        raise ValueError(f"finetune_epochs={config.finetune_epochs} needs `train_data=(x, y)` (training images to "
                         "fine-tune on).")
    start = time.perf_counter()
    run = search or XAIGenSearch(model, eval_data, calibration_data, config, accelerator, importance, verbose,
                                 test_data)
    baseline = run.ev.baseline()
    drop = config.max_accuracy_drop
    check_resolution(len(run.ev.y), drop, "XAI-Gen", confidence=config.confidence)
    imp, settings, _, log, algorithm1 = plan_search(run, config, drop)
    settings, confirmation = confirm_answer(run, settings, log, drop)
    plan, m_val = run(settings)
    m_conf = None if run.confirm is None else run.confirm(plan)
    m_test = run.test(plan)
    sens = run.sensitivity(config.multipliers) if config.selection == "sensitivity" else None
    record = drop_record(drop, config.confidence, m_val, m_test, m_conf, confirmation)
    record["sequential_rejection"] = run.ev.rejection_info()
    result = XAIGenResult(run.test.build(plan), plan, m_test.accuracy, m_test.energy_j, m_test.latency_s,
                          m_test.memory_bytes, m_test.relative_energy, run.test.baseline().accuracy,
                          run.test.exact().accuracy, baseline.energy_j, m_val.accuracy, baseline.accuracy,
                          len(run.ev.y), len(run.test.y), run.energy(m_test) <= config.energy_budget, imp, log,
                          per_layer_rows(imp, settings, config.normalization), config, 0.0, algorithm1,
                          dict(m_test.reductions), sensitivity=sens, accuracy_drop=record,
                          n_confirmation=0 if run.confirm is None else len(run.confirm.y))
    if config.finetune_epochs:
        finetune_stage(run, config, result, train_data)
    result.runtime_s = time.perf_counter() - start
    return result
