"""The final front on held-out images: selection saw only validation images; every front member is re-checked on the
confirmation slice (validation images the search never selected on) and measured again on the test images (accuracy,
paired drop against the float model, and robustness when it is an objective), the float baseline with it.

The answer (`answer_of`) is the lowest-energy front member that passes the confirmation re-check
(`tfaxdnn.search.confirmation`), the next ones by energy its fallbacks, the exact plan the last resort; the test
images only report it.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from tfaxdnn.search.confirmation import Confirmation, confirm_in_order, drop_record, passes_confirmation
from tfaxdnn.search.nas.config import NASConfig
from tfaxdnn.search.nas.genome import GenomeSpace

__all__ = ["front_on_test", "answer_of"]


def _validation_record(r: dict, config: NASConfig, n: int) -> dict:
    """The validation part of a record's drop (from the archive)."""
    return {"split": "validation", "n": n, "n_scored": r.get("images_scored", n), "rejected": r.get("rejected", False),
            "drop": r.get("drop"), "upper": r.get("drop_upper"), "confidence": config.confidence, "reference": "float"}


def _measure(plan, ev_test, ev_conf, config: NASConfig) -> Tuple[dict, Optional[object], object]:
    m_test = ev_test(plan)
    m_conf = None if ev_conf is None else ev_conf(plan)
    rec = {"test": m_test.selection(), "confirmation": None if m_conf is None else m_conf.selection()}
    rec["passed"] = None if m_conf is None else passes_confirmation(m_conf, config.max_accuracy_drop)
    return rec, m_conf, m_test


def front_on_test(front: Sequence[dict], space: GenomeSpace, ev, model, test_data, config: NASConfig,
                  ev_conf=None) -> Tuple[List[dict], float]:
    """(front members with their plan and metrics per split, float accuracy on test) for the archive records
    ``front``; ``ev`` is the search's (validation) evaluator, re-pointed at ``test_data``; ``ev_conf``: its
    evaluator on the confirmation slice (None: no slice)."""
    ev_test = ev.with_data(test_data, split="test")
    baseline = float(ev_test.baseline().accuracy)
    rob_test = None
    if "robustness" in config.objectives:
        from tfaxdnn.search.nas.robustness import attack as craft

        n = min(config.attack.samples, len(test_data[0]))
        xt, yt = test_data[0][:n], test_data[1][:n]
        rob_test = (xt, yt, craft(model, xt, yt, config.attack))
    out = []
    for r in front:
        plan = space.to_plan(space.from_key(r["genome"]))
        held, m_conf, m = _measure(plan, ev_test, ev_conf, config)
        item: Dict[str, object] = {
            "genome": r["genome"], "id": r["id"], "generation": r["generation"], "source": r["source"],
            "plan": plan.to_dict(), "accuracy": {"validation": r["accuracy"], "test": float(m.accuracy)},
            "relative_energy": r["relative_energy"], "energy_accounting": config.energy_accounting,
            "energy_reduction": {a: r[f"energy_reduction_{a}"] for a in ("system", "compute", "multiplier")},
            "energy_j": r["energy_j"], "latency_s": r["latency_s"], "memory_bytes": r["memory_bytes"],
            "drop": {"validation": _validation_record(r, config, len(ev.y)), "confirmation": held["confirmation"],
                     "test": held["test"]},
            "confirmed": held["passed"]}
        if m_conf is not None:
            item["accuracy"]["confirmation"] = float(m_conf.accuracy)
        if rob_test is not None:
            from tfaxdnn.search.nas.robustness import robustness_metrics

            rt = robustness_metrics(ev.build(plan), *rob_test[:2], config.attack, rob_test[2])
            item["robust_accuracy"] = {"validation": r["robust_accuracy"], "test": rt["robust_accuracy"]}
            item["transfer_accuracy"] = {"validation": r["transfer_accuracy"], "test": rt["transfer_accuracy"]}
        out.append(item)
    return out, baseline


def answer_of(front: Sequence[dict], ev, test_data, config: NASConfig, ev_conf=None) -> Tuple[dict, Confirmation]:
    """``(answer, Confirmation)``: the lowest-energy member of ``front`` (from `front_on_test`) that passes the
    confirmation re-check, the others by energy its fallbacks, the exact plan when none passes (or the front is
    empty). The answer carries ``plan``, ``relative_energy``, ``energy_reduction``, ``source`` and ``accuracy_drop``
    (`tfaxdnn.search.confirmation.drop_record`: validation estimate and bound, confirmation, realised test drop)."""
    order = [(f"front member {f['id']}", f) for f in sorted(front, key=lambda f: f["relative_energy"])]
    n = 0 if ev_conf is None else len(ev_conf.y)
    conf = confirm_in_order(order, lambda f: (bool(f["confirmed"]), {"genome": f["genome"], **(
        f["drop"]["confirmation"] or {})}), n, max_tries=len(order))
    if conf.index is not None:
        f = order[conf.index][1]
        record = {"max_accuracy_drop": config.max_accuracy_drop, "confidence": config.confidence,
                  "reference": "float", **{k: f["drop"][k] for k in ("validation", "confirmation", "test")}}
        record.update(estimated_drop=record["validation"]["drop"], estimated_upper=record["validation"]["upper"],
                      realised_drop=record["test"]["drop"],
                      kept_promise=record["test"]["drop"] <= config.max_accuracy_drop + 1e-12,
                      confirmation_check=conf.to_dict())
        return {"source": f"front member {f['id']}", "genome": f["genome"], "plan": f["plan"],
                "relative_energy": f["relative_energy"], "energy_reduction": f["energy_reduction"],
                "accuracy_drop": record}, conf
    # none passes: the exact plan, measured on every split
    plan = ev.exact_plan()
    m_val = ev(plan, max_drop=None)
    _, m_conf, m_test = _measure(plan, ev.with_data(test_data, split="test"), ev_conf, config)
    conf.tried.append({"label": "exact plan", "passed": None if m_conf is None else
                       passes_confirmation(m_conf, config.max_accuracy_drop),
                       **({} if m_conf is None else m_conf.selection())})
    return {"source": "exact plan", "genome": None, "plan": plan.to_dict(), "relative_energy": 1.0,
            "energy_reduction": {a: 1.0 for a in ("system", "compute", "multiplier")},
            "accuracy_drop": drop_record(config.max_accuracy_drop, config.confidence, m_val, m_test, m_conf,
                                         conf)}, conf
