"""The final front on the held-out test split: selection saw only validation images; every front member is measured
again on the test images (accuracy, and robustness when it is an objective), and the float baseline with it."""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from tfaxdnn.search.nas.config import NASConfig
from tfaxdnn.search.nas.genome import GenomeSpace

__all__ = ["front_on_test"]


def front_on_test(front: Sequence[dict], space: GenomeSpace, ev, model, test_data, config: NASConfig
                  ) -> Tuple[List[dict], float]:
    """(front members with their plan and metrics per split, float accuracy on test) for the archive records
    ``front``; ``ev`` is the search's (validation) evaluator, re-pointed at ``test_data``."""
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
        m = ev_test(plan)
        item: Dict[str, object] = {
            "genome": r["genome"], "id": r["id"], "generation": r["generation"], "source": r["source"],
            "plan": plan.to_dict(), "accuracy": {"validation": r["accuracy"], "test": float(m.accuracy)},
            "relative_energy": r["relative_energy"], "energy_accounting": config.energy_accounting,
            "energy_reduction": {a: r[f"energy_reduction_{a}"] for a in ("system", "compute", "multiplier")},
            "energy_j": r["energy_j"], "latency_s": r["latency_s"], "memory_bytes": r["memory_bytes"]}
        if rob_test is not None:
            from tfaxdnn.search.nas.robustness import robustness_metrics

            rt = robustness_metrics(ev.build(plan), *rob_test[:2], config.attack, rob_test[2])
            item["robust_accuracy"] = {"validation": r["robust_accuracy"], "test": rt["robust_accuracy"]}
            item["transfer_accuracy"] = {"validation": r["transfer_accuracy"], "test": rt["transfer_accuracy"]}
        out.append(item)
    return out, baseline
