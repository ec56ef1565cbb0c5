"""STL accuracy queries over the per-batch accuracy-drop signal (formal-mapping paper, Section IV-B; SPEC section 10).

The signal: ``drop[t] = 100 * (acc_exact[t] - acc_approx[t])`` in percentage points for consecutive batches of 100
images (t = batch index), the approximate model against the exact 8-bit model. A query is a conjunction of

- ``X% always(drop <= thr)`` -- drop at most ``thr`` on at least X % of the batches (IQ1);
- ``always(drop <= thr_total)`` -- on every batch (IQ2 adds it);
- ``always(avg_drop <= thr_avg)`` -- the mean drop over the batches (IQ3 adds it; Q7 is this term alone).

Robustness is rtamt's discrete-time quantitative semantics at t = 0 (min over a conjunction and over ``always``;
positive or zero = satisfied, negative = violated; in percentage points).

**"X % of the batches"** is not plain STL (it counts). Encoding: with N batches and ``k = ceil(X/100 * N)``, the
relaxed operator holds iff the k smallest drops are all ``<= thr``, i.e. iff the k-th smallest drop is ``<= thr``. So
the monitor also receives ``ranked`` = the drop signal sorted ascending, and the term is the bounded
``always[0:k-1](ranked <= thr)``, whose robustness is ``thr - ranked[k-1]`` (how far the k-th best batch is from the
threshold). ``avg_drop`` is the mean of the signal repeated at every t. X is taken over all batches (SPEC); the
paper's prose sometimes counts only batches that drop, which this module does not do. The energy part of the paper's
PSTL formulas (``always(Energy_gain <= theta) =>``) is the search objective (`tfaxdnn.search.mapping`), not a term.

**The mean drop with a confidence bound.** Every monitor takes an optional ``mean_upper``: an upper confidence bound
of the mean drop (percentage points; the paired bound of `tfaxdnn.search.statistics` over the signal's images, which
the mapping search passes), monitored as ``avgdrop`` in place of the mean, so the ``average`` term holds only when the
bound meets ``thr_avg`` (SPEC section 13). The per-batch terms are about the observed batches and keep their values.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Dict, List, Optional

import numpy as np

__all__ = ["Query", "AllOf", "iq1", "iq2", "iq3", "q7", "paper_query", "paper_queries", "PAPER_QUERIES",
           "PAPER_THR_AVG", "drop_signal", "parse_query"]

#: The paper's Table I: name -> (thr %, X %); every Q1-Q6 also has thr_total = 15 % and thr_avg; Q7 only thr_avg.
PAPER_QUERIES = {"Q1": (3.0, 40.0), "Q2": (3.0, 60.0), "Q3": (3.0, 80.0), "Q4": (5.0, 40.0), "Q5": (5.0, 60.0),
                 "Q6": (5.0, 80.0), "Q7": (None, None)}
PAPER_THR_TOTAL = 15.0
PAPER_THR_AVG = (0.5, 1.0, 2.0)


def _percent(name: str, value, allow_zero: bool = True) -> Optional[float]:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"Query parameter `{name}` must be a number (percent). Received: {name}={value!r}") from None
    low_ok = v >= 0.0 if allow_zero else v > 0.0
    if not (np.isfinite(v) and low_ok and v <= 100.0):
        interval = "[0, 100]" if allow_zero else "(0, 100]"
        raise ValueError(f"Query parameter `{name}` is a percentage and must lie in {interval}. Received: {name}={v!r}")
    return v


def drop_signal(approx_batch_accuracies, exact_batch_accuracies) -> np.ndarray:
    """``100 * (exact - approx)`` per batch (accuracies as fractions), in percentage points, rounded to 1e-9 so that
    a drop of exactly 3 points is 3.0 (not 3.0000000000000027) and meets a 3 % threshold."""
    a, e = np.asarray(approx_batch_accuracies, float), np.asarray(exact_batch_accuracies, float)
    if a.shape != e.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"drop_signal: need two equal-length, non-empty per-batch accuracy series. Received shapes "
                         f"{a.shape} and {e.shape}")
    return np.round(100.0 * (e - a), 9) + 0.0  # (+ 0.0: no negative zeros)


@dataclasses.dataclass(frozen=True)
class Query:
    """An accuracy query; unset terms (None) are left out. Thresholds in percentage points, ``x`` in percent.

    Args:
        name: label (``"Q3"``, ``"IQ2"``, ...).
        thr, x: the relaxed term ``X% always(drop <= thr)`` (both or neither).
        thr_total: the every-batch term ``always(drop <= thr_total)``.
        thr_avg: the mean-drop term ``always(avg_drop <= thr_avg)``.
    """

    name: str = "query"
    thr: Optional[float] = None
    x: Optional[float] = None
    thr_total: Optional[float] = None
    thr_avg: Optional[float] = None

    def __post_init__(self):
        object.__setattr__(self, "thr", _percent("thr", self.thr))
        object.__setattr__(self, "x", _percent("x", self.x, allow_zero=False))
        object.__setattr__(self, "thr_total", _percent("thr_total", self.thr_total))
        object.__setattr__(self, "thr_avg", _percent("thr_avg", self.thr_avg))
        if (self.thr is None) != (self.x is None):
            raise ValueError(f"Query {self.name!r}: `thr` and `x` go together (drop <= thr on x % of the batches). "
                             f"Received: thr={self.thr}, x={self.x}")
        if self.thr is None and self.thr_total is None and self.thr_avg is None:
            raise ValueError(f"Query {self.name!r} has no term: set thr and x, thr_total and/or thr_avg.")
        if self.thr is not None and self.thr_total is not None and self.thr_total < self.thr:
            raise ValueError(f"Query {self.name!r}: `thr_total` (every batch) must be >= `thr` (x % of batches). "
                             f"Received: thr={self.thr}, thr_total={self.thr_total}")

    # -- the STL text ---------------------------------------------------------------------------------------------
    def ranked_steps(self, n_batches: int) -> int:
        """``k = ceil(x/100 * n)``: batches that must satisfy ``drop <= thr``."""
        return max(1, math.ceil(self.x / 100.0 * n_batches - 1e-9))

    def terms_stl(self, n_batches: int) -> Dict[str, str]:
        """``{term: rtamt STL text}`` (variables ``drop``, ``ranked``, ``avgdrop``)."""
        terms = {}
        if self.thr is not None:
            terms["x_percent"] = f"always[0:{self.ranked_steps(n_batches) - 1}](ranked <= {self.thr!r})"
        if self.thr_total is not None:
            terms["every_batch"] = f"always(drop <= {self.thr_total!r})"
        if self.thr_avg is not None:
            terms["average"] = f"always(avgdrop <= {self.thr_avg!r})"
        return terms

    def stl(self, n_batches: int) -> str:
        """The whole query as one rtamt formula."""
        return " and ".join(f"({t})" for t in self.terms_stl(n_batches).values())

    # -- monitoring -------------------------------------------------------------------------------------------------
    def term_robustness(self, drop, mean_upper: Optional[float] = None) -> Dict[str, float]:
        """Robustness of each term separately (rtamt), for reports and Fig.-5-style plots (``mean_upper``: see the
        module docstring)."""
        d = _check_signal(drop)
        return {name: _monitor(text, d, mean_upper) for name, text in self.terms_stl(d.size).items()}

    def robustness(self, drop, mean_upper: Optional[float] = None) -> float:
        """rtamt robustness of the whole query on the drop signal (>= 0: satisfied); with ``mean_upper``, the mean
        drop's upper bound stands for the mean (module docstring)."""
        d = _check_signal(drop)
        return _monitor(self.stl(d.size), d, mean_upper)

    def satisfied(self, drop, mean_upper: Optional[float] = None) -> bool:
        return self.robustness(drop, mean_upper) >= 0.0

    def describe(self) -> str:
        parts = []
        if self.thr is not None:
            parts.append(f"drop <= {self.thr:g} % on {self.x:g} % of batches")
        if self.thr_total is not None:
            parts.append(f"drop <= {self.thr_total:g} % on every batch")
        if self.thr_avg is not None:
            parts.append(f"mean drop <= {self.thr_avg:g} %")
        return f"{self.name}: " + " and ".join(parts)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class AllOf:
    """The conjunction of several queries (robustness = the minimum of theirs): what one search shared by those
    queries runs under, so that every point it keeps can be re-monitored against each of them."""

    queries: tuple

    def __post_init__(self):
        qs = tuple(self.queries)
        if not qs or not all(isinstance(q, Query) for q in qs):
            raise ValueError(f"AllOf needs at least one Query. Received: {self.queries!r}")
        object.__setattr__(self, "queries", qs)

    @property
    def name(self) -> str:
        return "+".join(q.name for q in self.queries)

    @property
    def thr_avg(self) -> Optional[float]:
        levels = {q.thr_avg for q in self.queries}
        return levels.pop() if len(levels) == 1 else None

    def robustness(self, drop, mean_upper: Optional[float] = None) -> float:
        return min(q.robustness(drop, mean_upper) for q in self.queries)

    def satisfied(self, drop, mean_upper: Optional[float] = None) -> bool:
        return self.robustness(drop, mean_upper) >= 0.0

    def describe(self) -> str:
        return " and ".join(f"({q.describe()})" for q in self.queries)

    def to_dict(self) -> dict:
        return {"all_of": [q.to_dict() for q in self.queries]}


def _check_signal(drop) -> np.ndarray:
    d = np.asarray(drop, dtype=float).reshape(-1)
    if d.size == 0 or not np.all(np.isfinite(d)):
        raise ValueError(f"Query: the drop signal must be a non-empty series of finite values. Received: {d[:10]}")
    return d


_SPECS: Dict[str, object] = {}


def _monitor(text: str, drop: np.ndarray, mean_upper: Optional[float] = None) -> float:
    """rtamt discrete-time offline robustness of ``text`` at t = 0 (parsed specifications are reused); ``avgdrop`` is
    the signal's mean, or ``mean_upper`` when given."""
    import rtamt

    spec = _SPECS.get(text)
    if spec is None:
        spec = rtamt.StlDiscreteTimeSpecification()
        for var in ("drop", "ranked", "avgdrop"):
            spec.declare_var(var, "float")
        spec.spec = text
        spec.parse()
        _SPECS[text] = spec
    ranked = np.sort(drop)
    mean = float(drop.mean()) if mean_upper is None else float(mean_upper)
    if drop.size == 1:  # rtamt 0.4.10's offline monitor fails on one sample; a repeated sample changes no value
        drop, ranked = np.repeat(drop, 2), np.repeat(ranked, 2)
    n = drop.size
    data = {"time": list(range(n)), "drop": [float(v) for v in drop],
            "ranked": [float(v) for v in ranked], "avgdrop": [mean] * n}
    return float(spec.evaluate(data)[0][1])


# -- builders -----------------------------------------------------------------------------------------------------
def iq1(thr: float, x: float, name: str = "IQ1") -> Query:
    """Drop at most ``thr`` % on ``x`` % of the batches."""
    return Query(name, thr=thr, x=x)


def iq2(thr: float, x: float, thr_total: float = PAPER_THR_TOTAL, name: str = "IQ2") -> Query:
    """IQ1 and drop at most ``thr_total`` % on every batch."""
    return Query(name, thr=thr, x=x, thr_total=thr_total)


def iq3(thr: float, x: float, thr_avg: float, thr_total: float = PAPER_THR_TOTAL, name: str = "IQ3") -> Query:
    """IQ2 and mean drop at most ``thr_avg`` %."""
    return Query(name, thr=thr, x=x, thr_total=thr_total, thr_avg=thr_avg)


def q7(thr_avg: float) -> Query:
    """Mean drop at most ``thr_avg`` % (the only constraint of the baselines' own methods)."""
    return Query("Q7", thr_avg=thr_avg)


def paper_query(name: str, thr_avg: float = 1.0) -> Query:
    """The paper's Table I query ``name`` (``"Q1"`` ... ``"Q7"``) at mean-drop threshold ``thr_avg``."""
    key = str(name).upper()
    if key not in PAPER_QUERIES:
        from tfaxdnn.core.errors import unknown_name

        raise unknown_name("query", name, list(PAPER_QUERIES), hint=f"Valid choices: {list(PAPER_QUERIES)}.")
    thr, x = PAPER_QUERIES[key]
    if thr is None:
        return q7(thr_avg)
    return iq3(thr, x, thr_avg, name=key)


def paper_queries(thr_avg: float = 1.0) -> List[Query]:
    """Q1 ... Q7 at ``thr_avg``."""
    return [paper_query(n, thr_avg) for n in PAPER_QUERIES]


def parse_query(text: str, thr_avg: float = 1.0) -> Query:
    """``"Q3"`` (paper query at ``thr_avg``), or ``"thr=3,x=80,thr_total=15,thr_avg=1"`` (named ``custom``)."""
    text = str(text).strip()
    if "=" not in text:
        return paper_query(text, thr_avg)
    values = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in ("thr", "x", "thr_total", "thr_avg", "name"):
            raise ValueError(f"Query text {text!r}: unknown parameter {key!r}. Valid choices: thr, x, thr_total, "
                             "thr_avg, name.")
        values[key] = value.strip() if key == "name" else float(value)
    return Query(values.pop("name", "custom"), **values)
