"""XAI-Gen's fine-tuning stage (``finetune_epochs > 0``, beyond the paper): which plan to fine-tune, and the result
after fine-tuning.

The accuracy drop without retraining is a poor guide once fine-tuning follows (a plan far below ``Q_c`` may
fine-tune back above it). With ``search_accuracy_drop`` > ``max_accuracy_drop`` the plan search (`plan_search`) is
first run with that looser drop, then halfway; each plan is fine-tuned (`tfaxdnn.rewrite.finetune`) and the first
whose fine-tuned model meets ``Q_c`` on the *validation* split (the upper bound of its paired drop against the float
model) and passes the re-check on the confirmation slice (`tfaxdnn.search.confirmation`) is kept; the no-retraining
plan, fine-tuned, is the fallback, if it too meets ``Q_c`` and passes its re-check; otherwise the no-retraining answer
stays the answer (``finetune_log`` ends with a ``"kept": "no_retraining"`` row, ``accuracy_drop["finetuned"]`` is
False, ``no_retraining`` repeats it). The test split is never used for these choices.
"""

from __future__ import annotations

import numpy as np

from tfaxdnn.rewrite.finetune import finetune
from tfaxdnn.search.confirmation import drop_record, passes_confirmation
from tfaxdnn.search.xaigen.algorithm import plan_search
from tfaxdnn.search.xaigen.config import XAIGenConfig, energy_fields
from tfaxdnn.search.xaigen.evaluation import XAIGenSearch
from tfaxdnn.search.xaigen.result import XAIGenResult, per_layer_rows

__all__ = ["finetune_stage"]


def finetune_stage(run: XAIGenSearch, config: XAIGenConfig, result: XAIGenResult, train_data) -> None:
    """Fine-tunes the searched plan(s) on ``train_data`` and turns the no-retraining ``result`` into the
    fine-tuned result, in place (``no_retraining`` keeps the former, ``finetune_log`` one row per plan tried)."""
    x_tr, y_tr = (np.asarray(a) for a in train_data)
    nr = {"accuracy": result.accuracy, "validation_accuracy": result.validation_accuracy,
          **energy_fields(result.reductions), "plan": result.plan.to_dict(), "accuracy_drop": result.accuracy_drop}
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
        m_ft = run.ev.score_model(ax, plan)                 # validation, every image, paired against float
        m_conf = None if run.confirm is None else run.confirm.score_model(ax, plan)
        confirmed = m_conf is None or passes_confirmation(m_conf, drop)
        m = run(settings)[1]
        row = {"search_accuracy_drop": d, "validation_accuracy_before": m.accuracy,
               "validation_accuracy": m_ft.accuracy, "drop": m_ft.drop.drop, "drop_upper": m_ft.drop.upper,
               "meets_budget": m_ft.meets(drop),
               "confirmation_drop": None if m_conf is None else m_conf.drop.drop, "confirmed": confirmed,
               "accepted": (m_ft.meets(drop) and confirmed) or d == drop, **energy_fields(m.reductions)}
        result.finetune_log.append(row)
        if run.verbose:
            print(f"fine-tuned plan searched at drop {d:.3f}: validation {m.accuracy:.4f} -> {m_ft.accuracy:.4f} "
                  f"(drop {100 * m_ft.drop.drop:.2f}, bound {100 * m_ft.drop.upper:.2f} points, budget "
                  f"{100 * drop:g}; confirmation {'passed' if confirmed else 'failed'}); "
                  f"{config.energy_accounting} {m.reductions[config.energy_accounting]:.2f}x")
        if row["accepted"]:
            break
    if not (row["meets_budget"] and confirmed):
        # the last resort (the no-retraining plan, fine-tuned) misses Q_c or its re-check: the no-retraining answer
        # (which met Q_c and passed its re-check, or is the exact plan) stays the answer
        row["accepted"] = False
        result.finetune_log.append({"kept": "no_retraining", "note": "no fine-tuned plan met Q_c and passed its "
                                    "re-check on the confirmation slice: the no-retraining answer is kept"})
        result.accuracy_drop = dict(result.accuracy_drop, finetuned=False, finetune_rejected=True)
        result.no_retraining = nr
        if run.verbose:
            print("fine-tuning: " + result.finetune_log[-1]["note"])
        return
    m_test = run.test.score_model(ax, plan)
    result.model, result.plan, result.importance = ax, plan, imp
    result.accuracy = m_test.accuracy
    result.validation_accuracy = m_ft.accuracy
    result.energy_j, result.latency_s, result.memory_bytes = m_test.energy_j, m_test.latency_s, m_test.memory_bytes
    result.relative_energy, result.reductions = m_test.relative_energy, dict(m_test.reductions)
    result.meets_energy = run.energy(m_test) <= config.energy_budget
    result.per_layer = per_layer_rows(imp, settings, config.normalization)
    result.accuracy_drop = dict(drop_record(drop, config.confidence, m_ft, m_test, m_conf),
                            finetuned=True, confirmed=confirmed,
                            sequential_rejection=result.accuracy_drop.get("sequential_rejection"))
    result.no_retraining = nr
