"""Comparing the fine-grain mapping with the baselines over a set of queries: rows and CSV (the paper's Tables II-III;
the figures are in `plots`, re-exported here).

Protocols:
- ``"native"`` (the paper's): ours searches each query; each baseline runs once per mean-drop threshold under its own
  constraint, Q7 (mean drop <= thr_avg), and its single mapping is then checked against every query;
- ``"query"``: ours and each baseline search under each query, with the same budget;
- ``"shared"``: every method runs once per mean-drop threshold under the conjunction of that threshold's queries
  (`queries.AllOf`), with the same budget, and reports for each query its best point satisfying that query
  (re-monitored on the stored signal): one search serves all seven queries (budget / 7 per query).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from typing import Callable, Dict, List, Optional, Sequence

from tfaxdnn.search.mapping.methods import run_method
from tfaxdnn.search.mapping.plots import plot_gains, plot_signal, plot_utilization
from tfaxdnn.search.mapping.problem import MappingPoint, MappingProblem, MappingResult
from tfaxdnn.search.mapping.queries import AllOf, Query, q7

__all__ = ["ComparisonRow", "compare", "write_csv", "plot_signal", "plot_gains", "plot_utilization", "PROTOCOLS",
           "BASELINES"]

PROTOCOLS = ("native", "query", "shared")
BASELINES = ("greedy", "homogeneous")


@dataclasses.dataclass
class ComparisonRow:
    """One query, one method: the mapping it reports and whether it satisfies the query."""

    query: Query
    method: str
    point: Optional[MappingPoint]
    robustness: Optional[float]
    evaluations: int
    run: Optional[MappingResult] = None     # the run the point comes from (for the confirmation re-check)

    @property
    def satisfied(self) -> bool:
        return self.robustness is not None and self.robustness >= 0.0

    @property
    def gain(self) -> float:
        return self.point.gain if self.point is not None else 0.0

    def to_record(self) -> dict:
        p, q = self.point, self.query
        util = p.utilization if p is not None else []
        rec = {"query": q.name, "thr": q.thr, "x": q.x, "thr_total": q.thr_total, "thr_avg": q.thr_avg,
               "method": self.method, "satisfied": self.satisfied,
               "robustness": None if self.robustness is None else round(self.robustness, 4),
               "gain": round(self.gain, 6), "gain_multiplier": None if p is None else round(p.gain_multiplier, 6),
               "accuracy": None if p is None else p.accuracy,
               "mean_drop": None if p is None else round(float(p.drop.mean()), 4),
               "mean_drop_upper": None if p is None or p.drop_upper is None else round(p.drop_upper, 4),
               "evaluations": self.evaluations}
        rec.update({f"util_M{i}": round(u, 4) for i, u in enumerate(util)})
        return rec


def _row(query: Query, result: MappingResult, method: str, best: Optional[MappingPoint] = None) -> ComparisonRow:
    point = best if best is not None else result.best
    rob = None if point is None else point.robustness_for(query)
    return ComparisonRow(query, method, point, rob, len(result.points), result)


def compare(problem: MappingProblem, queries: Sequence[Query], budget: int = 50, seed: int = 0,
            baselines: Sequence[str] = BASELINES, protocol: str = "native",
            progress: Optional[Callable[[str], Callable]] = None) -> tuple:
    """Ours on every query, and the baselines under ``protocol``.

    Args:
        progress: ``label -> callback(point)`` factory (e.g. one progress bar per run), or None.

    Returns:
        ``(rows, results)``: `ComparisonRow` list (query-major) and ``{(method, query name, thr_avg): MappingResult}``
        (``"shared"``: query name ``"all"``).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"`protocol` must be one of {list(PROTOCOLS)}. Received: protocol={protocol!r}")
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"Unknown baselines {unknown}. Valid choices: {list(BASELINES)}")
    cb = progress or (lambda label: None)
    results: Dict[tuple, MappingResult] = {}
    rows: List[ComparisonRow] = []
    native: Dict[tuple, MappingResult] = {}
    if protocol == "shared":
        levels = list(dict.fromkeys(q.thr_avg for q in queries))
        for level in levels:
            group = [q for q in queries if q.thr_avg == level]
            for method in ("ours",) + tuple(baselines):
                results[(method, "all", level)] = run_method(method, problem, AllOf(tuple(group)), budget, seed,
                                                             cb(f"{method} Q*@{level:g}"))
        for query in queries:
            for method in ("ours",) + tuple(baselines):
                res = results[(method, "all", query.thr_avg)]
                rows.append(_row(query, res, method, res.best_for(query)))
        return rows, results
    for query in queries:
        ours = run_method("ours", problem, query, budget, seed, cb(f"ours {query.name}"))
        results[("ours", query.name, query.thr_avg)] = ours
        rows.append(_row(query, ours, "ours"))
        for method in baselines:
            if protocol == "native":
                key = (method, query.thr_avg)
                if key not in native:
                    if query.thr_avg is None:
                        raise ValueError(f"Query {query.name!r} has no thr_avg: the native baseline protocol needs "
                                         "the mean-drop threshold (use protocol='query').")
                    native[key] = run_method(method, problem, q7(query.thr_avg), budget, seed,
                                             cb(f"{method} Q7@{query.thr_avg:g}"))
                    results[(method, "Q7", query.thr_avg)] = native[key]
                rows.append(_row(query, native[key], method))
            else:
                res = run_method(method, problem, query, budget, seed, cb(f"{method} {query.name}"))
                results[(method, query.name, query.thr_avg)] = res
                rows.append(_row(query, res, method))
    return rows, results


def write_csv(rows: Sequence, path) -> None:
    """``rows`` (`ComparisonRow` or record dicts) as CSV, one column per key."""
    records = [r if isinstance(r, dict) else r.to_record() for r in rows]
    fields = list(dict.fromkeys(k for rec in records for k in rec))
    with open(os.fspath(path), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(records)
