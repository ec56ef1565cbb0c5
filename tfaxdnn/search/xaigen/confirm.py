"""XAI-Gen's confirmation re-check (`tfaxdnn.search.confirmation`): the answer of the plan search is re-checked on the
confirmation slice; if it fails, the next candidates that met the budget on the validation split are tried, lowest
search energy first, then the exact plan."""

from __future__ import annotations

import json
from typing import Dict, List, Tuple

from tfaxdnn import multipliers as _mult
from tfaxdnn.search.confirmation import MAX_FALLBACKS, Confirmation, confirm_in_order, passes_confirmation
from tfaxdnn.search.xaigen.evaluation import XAIGenSearch

__all__ = ["confirm_answer", "fallback_order"]


def _key(settings: Dict[str, tuple]) -> str:
    return json.dumps(sorted(settings.items()))


def fallback_order(run: XAIGenSearch, settings: Dict[str, tuple], log: List[dict]) -> List[Tuple[str, dict]]:
    """``(label, settings)`` to re-check in order: the answer, up to `MAX_FALLBACKS` other logged candidates that met
    the budget on the validation split (lowest search energy first), and the exact plan last."""
    exact = {n: (_mult.EXACT_SIGNED, 0.0) for n in settings}
    order, seen = [("search answer", settings)], {_key(settings), _key(exact)}
    for row in sorted((r for r in log if r.get("meets_budget")), key=lambda r: (r["search_energy"], r["step"])):
        cand = {n: (v["multiplier"], v["skip_fraction"]) for n, v in row["settings"].items()}
        if _key(cand) not in seen and len(order) <= MAX_FALLBACKS:
            seen.add(_key(cand))
            order.append((f"step {row['step']} ({row['layer']})", cand))
    return order + ([("exact plan", exact)] if _key(settings) != _key(exact) else [])


def confirm_answer(run: XAIGenSearch, settings: Dict[str, tuple], log: List[dict],
                   drop: float) -> Tuple[Dict[str, tuple], Confirmation]:
    """``(settings to return, Confirmation)``: the first of `fallback_order` that passes the re-check on
    ``run.confirm`` (the exact plan when none does; the answer unchanged without a confirmation slice)."""
    n = 0 if run.confirm is None else len(run.confirm.y)
    order = fallback_order(run, settings, log)

    def check(cand):
        _, m = run(cand, run.confirm)
        return passes_confirmation(m, drop), m.selection()

    conf = confirm_in_order(order, check, n, max_tries=len(order))
    chosen = order[conf.index][1] if conf.index is not None else order[-1][1]
    if run.verbose and conf.fell_back:
        print(f"XAI-Gen: {conf.describe()}")
    return chosen, conf
