"""XAI-Gen's fine-tuning stage (``finetune_epochs > 0``, beyond the paper): which plan to fine-tune, and the result
after fine-tuning.

The accuracy drop without retraining is a poor guide once fine-tuning follows (a plan far below ``Q_c`` may
fine-tune back above it). With ``search_accuracy_drop`` > ``max_accuracy_drop`` the plan search (`plan_search`) is
first run with that looser drop, then halfway; each plan is fine-tuned (`tfaxdnn.rewrite.finetune`) and the first
whose fine-tuned *validation* accuracy meets ``Q_c`` is kept; the no-retraining plan, fine-tuned, is the fallback.
The test split is never used for these choices.
"""

from __future__ import annotations

import numpy as np

from tfaxdnn.rewrite.finetune import finetune
from tfaxdnn.search.xaigen.algorithm import plan_search
from tfaxdnn.search.xaigen.config import XAIGenConfig, energy_fields
from tfaxdnn.search.xaigen.evaluation import XAIGenSearch
from tfaxdnn.search.xaigen.result import XAIGenResult, per_layer_rows

__all__ = ["finetune_stage"]


def finetune_stage(run: XAIGenSearch, config: XAIGenConfig, result: XAIGenResult, q_c: float,
                   train_data) -> None:
    """Fine-tunes the searched plan(s) on ``train_data`` and turns the no-retraining ``result`` into the
    fine-tuned result, in place (``no_retraining`` keeps the former, ``finetune_log`` one row per plan tried)."""
    from tfaxdnn.core.evaluation import evaluate

    x_tr, y_tr = (np.asarray(a) for a in train_data)
    nr = {"accuracy": result.accuracy, "validation_accuracy": result.validation_accuracy,
          **energy_fields(result.reductions), "plan": result.plan.to_dict()}
    drop = config.max_accuracy_drop
    loose = config.search_accuracy_drop if config.search_accuracy_drop is not None else drop
    drops = list(dict.fromkeys([loose, (loose + drop) / 2, drop])) if loose > drop else [drop]
    for d in drops:
        if d == drop:
            imp, settings = result.importance, {r["layer"]: (r["multiplier"], r["skip_fraction"])
                                                for r in result.per_layer}
        else:
            imp, settings, _, log, _ = plan_search(run, config, d)
            result.log += [dict(row, search_accuracy_drop=d) for row in log]
        plan = run.plan(settings)
        ax = finetune(run.ev.build(plan), x_tr, y_tr, config.finetune_epochs, config.seed,
                      config.finetune_batch_size, config.finetune_learning_rate, verbose=0)
        val_acc = evaluate(ax, run.ev.x, run.ev.y, check_inputs=False).accuracy   # checked by run.ev
        m = run.ev(plan)
        row = {"search_accuracy_drop": d, "validation_accuracy_before": m.accuracy,
               "validation_accuracy": val_acc, "accepted": val_acc >= q_c or d == drop,
               **energy_fields(m.reductions)}
        result.finetune_log.append(row)
        if run.verbose:
            print(f"fine-tuned plan searched at drop {d:.3f}: validation {m.accuracy:.4f} -> {val_acc:.4f} "
                  f"(Q_c {q_c:.4f}); {config.energy_accounting} {m.reductions[config.energy_accounting]:.2f}x")
        if row["accepted"]:
            break
    m_test = run.test(plan)
    result.model, result.plan, result.importance = ax, plan, imp
    result.accuracy = evaluate(ax, run.test.x, run.test.y, check_inputs=False).accuracy
    result.validation_accuracy = val_acc
    result.energy_j, result.latency_s, result.memory_bytes = m_test.energy_j, m_test.latency_s, m_test.memory_bytes
    result.relative_energy, result.reductions = m_test.relative_energy, dict(m_test.reductions)
    result.meets_energy = run.energy(m_test) <= config.energy_budget
    result.per_layer = per_layer_rows(imp, settings, config.normalization)
    result.no_retraining = nr
