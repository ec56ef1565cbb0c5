"""The mapping search's confirmation re-check (`tfaxdnn.search.confirmation`): a method's answer to a query (its
highest-gain mapping satisfying the query on the search split) is monitored again on held-out images the search never
saw; if it breaks the query there, the method's next satisfying mapping by gain is tried, and so on. A mapping that
holds on those images is *the* answer; when none does, there is none (`tfaxdnn map` then exits with code 3).

On the held-out images a query is monitored on the observed signal (the mean drop's point estimate, not its bound:
`tfaxdnn.search.confirmation` says why); the bound is recorded beside it.
"""

from __future__ import annotations

from typing import Optional, Tuple

from tfaxdnn.search.confirmation import MAX_FALLBACKS, Confirmation, confirm_in_order
from tfaxdnn.search.mapping.problem import MappingPoint, MappingProblem, MappingResult

__all__ = ["held_out_check", "confirm_answer"]


def held_out_check(held_out: MappingProblem, query, point: MappingPoint) -> dict:
    """``point``'s mapping evaluated on the held-out problem's images: robustness of ``query`` on that signal (mean
    drop as measured), the mean drop and its upper bound (percentage points), accuracy, whether it holds."""
    metrics = held_out.ev(held_out.plan(point.fractions))
    drop, upper = held_out.drop(metrics), held_out.drop_upper(metrics)
    rob = float(query.robustness(drop))
    return {"robustness": rob, "holds": rob >= 0.0, "mean_drop": float(drop.mean()), "mean_drop_upper": upper,
            "accuracy": float(metrics.accuracy), "images": int(metrics.n)}


def confirm_answer(result: MappingResult, query, held_out: Optional[MappingProblem],
                   max_tries: int = MAX_FALLBACKS + 1) -> Tuple[Optional[MappingPoint], Confirmation]:
    """``(point, Confirmation)``: the first of ``result``'s points satisfying ``query`` (best first,
    `MappingResult.ranked_for`) that also holds on ``held_out``'s images; None when none does (without a held-out
    problem: the best, unchecked)."""
    ranked = result.ranked_for(query)
    n = 0 if held_out is None else int(held_out.exact.n)
    conf = confirm_in_order([(f"{result.method} evaluation #{p.index + 1}", p) for p in ranked],
                            lambda p: (lambda rec: (rec["holds"], rec))(held_out_check(held_out, query, p)),
                            n, max_tries)
    if conf.index is None:
        return None, conf
    return ranked[conf.index], conf
