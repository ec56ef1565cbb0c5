"""The objective space of XAI-NAS records: objective values, the feasible set, the Pareto front and the hypervolume.

Non-dominated sorting and the hypervolume are pymoo's (`NonDominatedSorting`, `HV`, both on moocore): exact
duplicates all stay on the front; points on or beyond the reference point add no volume.
"""

from __future__ import annotations

from typing import List, Sequence

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from tfaxdnn.search.nas.config import OBJECTIVES

__all__ = ["objective_values", "meets_floor", "feasible", "pareto_front", "hypervolume"]


def objective_values(record: dict, objectives: Sequence[str]) -> List[float]:
    """The minimised values of ``objectives`` (`OBJECTIVES` names) for one evaluation record."""
    vals = {"error": 1.0 - record["accuracy"], "robust_error": 1.0 - record.get("robust_accuracy", float("nan"))}
    return [float(vals.get(OBJECTIVES[o], record.get(OBJECTIVES[o]))) for o in objectives]


def meets_floor(accuracy: float, floor: float) -> bool:
    """Whether a validation accuracy meets the accuracy floor (the constraint)."""
    return accuracy >= floor - 1e-12


def feasible(records: Sequence[dict], floor: float) -> List[dict]:
    """The records meeting the accuracy floor (validation)."""
    return [r for r in records if meets_floor(r["accuracy"], floor)]


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
