"""The confirmation re-check every search makes before it returns (SPEC section 13), and the record of what a result
promised and what held-out images showed.

A search that picks the best of many candidates on its validation images picks, among near-equals, the luckiest: its
validation drop is optimistic (selection bias). So the answer is re-checked on a **confirmation slice**, images of
the validation data that the search never selected on (`tfaxdnn.search.selection.confirmation_split`), and returned
only if it still keeps the accuracy promise there; otherwise the next candidate in the search's own order of
preference that does (`confirm_in_order`), else the search's safe fallback (the exact plan), and the result says so.

The rule (`CONFIRMATION_RULE`): the candidate's paired drop *point estimate* on the confirmation slice is at most the
budget. Not its upper bound: the slice is a fraction of the selection split, so its bound is wider than the one the
candidate already met there (1.64 standard errors of 1,250 images against those of 3,750: about 0.8 against 0.5
points at 3 % discordant images), and demanding it would turn nearly every answer down although nothing went
wrong. What the re-check catches is a winner whose validation drop was luck: on fresh images its drop exceeds the
budget. (The mapping search's queries are monitored on the confirmation signal the same way: point estimates.) Its
bound is recorded beside it.

`drop_record` is what every result stores: the drop on the validation (selection) split with its bound, on the
confirmation slice, and the realised drop on the test images, side by side.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, List, Optional, Sequence, Tuple

from tfaxdnn.search.statistics import TOLERANCE

__all__ = ["Confirmation", "confirm_in_order", "passes_confirmation", "drop_record", "CONFIRMATION_RULE",
           "MAX_FALLBACKS"]

CONFIRMATION_RULE = "paired drop point estimate on the confirmation slice <= max_accuracy_drop"
#: Candidates tried on the confirmation slice after the answer, at most (each try is one evaluation there).
MAX_FALLBACKS = 10


@dataclasses.dataclass
class Confirmation:
    """The outcome of a confirmation re-check.

    Attributes:
        passed: a candidate passed; index: its position in the order tried (0: the search's own answer; None: none).
        tried: one record per candidate tried (``label``, ``passed`` and what the check measured).
        n: images of the confirmation slice (0: no slice, nothing was re-checked); rule: the rule applied.
    """

    passed: bool
    index: Optional[int]
    tried: List[dict]
    n: int
    rule: str = CONFIRMATION_RULE

    @property
    def fell_back(self) -> bool:
        """The search's own answer failed the re-check."""
        return self.n > 0 and self.index != 0

    def describe(self) -> str:
        if self.n == 0:
            return "not re-checked (no confirmation slice)"
        if self.index == 0:
            return f"confirmed on {self.n} held-out images"
        if not self.tried:
            return "no candidate to re-check: none holds"
        first = self.tried[0]["label"]
        if self.index is None:
            return (f"{first} failed the re-check on {self.n} held-out images, and so did the "
                    f"{len(self.tried) - 1} next candidate(s) tried: none holds")
        return (f"{first} failed the re-check on {self.n} held-out images; fell back to candidate "
                f"{self.index + 1} ({self.tried[self.index]['label']}), which passed")

    def to_dict(self) -> dict:
        return {"n": self.n, "rule": self.rule, "passed": self.passed, "index": self.index,
                "fell_back": self.fell_back, "note": self.describe(), "tried": self.tried}


def passes_confirmation(metrics, max_drop: float) -> bool:
    """`CONFIRMATION_RULE` for `Metrics` measured on the confirmation slice (fully scored, with a paired drop)."""
    return metrics.drop is not None and metrics.drop.drop <= float(max_drop) + TOLERANCE


def confirm_in_order(candidates: Sequence[Tuple[str, object]], check: Callable[[object], Tuple[bool, dict]], n: int,
                     max_tries: int = MAX_FALLBACKS + 1) -> Confirmation:
    """Re-checks ``candidates`` (``(label, candidate)``, the search's answer first, then its next choices) with
    ``check(candidate) -> (passed, record)`` until one passes, at most ``max_tries``; ``n``: the slice's images (0:
    no slice: the first candidate is returned unchecked)."""
    if n == 0 or not candidates:
        return Confirmation(bool(candidates), 0 if candidates else None, [], int(n))
    tried = []
    for i, (label, cand) in enumerate(candidates[:max_tries]):
        ok, record = check(cand)
        tried.append({"label": label, "passed": bool(ok), **record})
        if ok:
            return Confirmation(True, i, tried, int(n))
    return Confirmation(False, None, tried, int(n))


def drop_record(max_drop: float, confidence, validation, test, confirmation=None,
                confirmation_info: Optional[Confirmation] = None) -> dict:
    """The side-by-side record of a result: the estimated (validation) drop with its bound, the confirmation slice's,
    and the realised (test) drop, each a `Metrics.selection` dict; ``kept_promise``: the realised drop is within
    the budget."""
    rec = {"max_accuracy_drop": float(max_drop), "confidence": confidence,
           "reference": None if validation is None or validation.drop is None else validation.drop.reference,
           "validation": None if validation is None else validation.selection(),
           "confirmation": None if confirmation is None else confirmation.selection(),
           "test": None if test is None else test.selection()}
    rec["estimated_drop"] = None if validation is None or validation.drop is None else validation.drop.drop
    rec["estimated_upper"] = None if validation is None or validation.rejected else validation.drop_upper
    rec["realised_drop"] = None if test is None or test.drop is None else test.drop.drop
    rec["kept_promise"] = None if rec["realised_drop"] is None else rec["realised_drop"] <= max_drop + TOLERANCE
    if confirmation_info is not None:
        rec["confirmation_check"] = confirmation_info.to_dict()
    return rec
