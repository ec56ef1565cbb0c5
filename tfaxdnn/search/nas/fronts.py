"""The objective space of XAI-NAS records: objective values, the feasible set, the Pareto front and the hypervolume.

Non-dominated sorting and the hypervolume are pymoo's (`NonDominatedSorting`, `HV`, both on moocore): exact
duplicates all stay on the front; points on or beyond the reference point add no volume.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from tfaxdnn.search.nas.config import OBJECTIVES
from tfaxdnn.search.statistics import TOLERANCE

__all__ = ["objective_values", "meets_floor", "record_feasible", "constraint_value", "feasible", "pareto_front",
           "hypervolume"]


def objective_values(record: dict, objectives: Sequence[str]) -> List[float]:
    """The minimised values of ``objectives`` (`OBJECTIVES` names) for one evaluation record."""
    # a rejected candidate was not attacked (it is infeasible): its robust error counts as the worst, 1
    unmeasured = 0.0 if record.get("rejected") else float("nan")
    vals = {"error": 1.0 - record["accuracy"], "robust_error": 1.0 - record.get("robust_accuracy", unmeasured)}
    return [float(vals.get(OBJECTIVES[o], record.get(OBJECTIVES[o]))) for o in objectives]


def meets_floor(accuracy: float, floor: float) -> bool:
    """Whether a validation accuracy meets the accuracy floor (the constraint)."""
    return accuracy >= floor - 1e-12


def record_feasible(record: dict, floor: float, max_drop: Optional[float]) -> bool:
    """Whether an evaluation record meets the constraint: the upper bound of its paired validation drop against the
    float model is at most ``max_drop`` (a rejected candidate never does); records without a bound (written before
    the paired bound) and ``max_drop=None`` (a search resumed from such a checkpoint): accuracy >= ``floor``."""
    if max_drop is None or record.get("drop_upper") is None:
        return meets_floor(record["accuracy"], floor)
    return not record.get("rejected", False) and record["drop_upper"] <= max_drop + TOLERANCE


def constraint_value(record: dict, floor: float, max_drop: Optional[float]) -> float:
    """pymoo's constraint value of a record (<= 0: feasible): drop bound minus ``max_drop`` (for a rejected
    candidate its best-case bound, so a lower bound of the violation), or floor minus accuracy (see
    `record_feasible`)."""
    if max_drop is None or record.get("drop_upper") is None:
        return floor - record["accuracy"]
    return record["drop_upper"] - max_drop


def feasible(records: Sequence[dict], floor: float) -> List[dict]:
    """The records meeting the constraint (their ``feasible`` field; accuracy >= ``floor`` where it is missing)."""
    return [r for r in records if r.get("feasible", meets_floor(r["accuracy"], floor))]


def pareto_front(records: Sequence[dict], objectives: Sequence[str], floor: float) -> List[dict]:
    """The non-dominated feasible records, by relative energy (then accuracy, descending, then genome)."""
    feas = feasible(records, floor)
    if not feas:
        return []
    F = np.array([objective_values(r, objectives) for r in feas])
    idx = NonDominatedSorting().do(F, only_non_dominated_front=True)
    return sorted((feas[i] for i in idx), key=lambda r: (r["relative_energy"], -r["accuracy"], r["genome"]))


def hypervolume(records: Sequence[dict], floor: float, ref: Sequence[float]) -> float:
    """Hypervolume of the feasible records in the (error, relative energy) plane, bounded by ``ref``."""
    F = np.array([[1.0 - r["accuracy"], r["relative_energy"]] for r in feasible(records, floor)], dtype=float)
    return float(HV(ref_point=np.asarray(ref, dtype=float))(F.reshape(-1, 2)))
