"""The archive of an XAI-NAS run: every unique evaluation, in evaluation order, keyed by genome.

It is the evaluation cache: a genome proposed again (in a later generation, or after a resume: the records live in the
checkpoint) is looked up, not evaluated. It also turns a worker's metrics into a record (id, generation, source,
genome, plan, feasibility) and gives pymoo the objective and constraint values of any archived genome.
"""

from __future__ import annotations

import json
from typing import Iterable, List, Mapping, Optional, Sequence

import numpy as np

from tfaxdnn.search.nas.fronts import constraint_value, objective_values, record_feasible
from tfaxdnn.search.nas.genome import GenomeSpace

__all__ = ["Archive"]


class Archive:
    """Records of ``space``'s genomes; ``records`` is appended to in place (the checkpoint's list).

    Args:
        records: the evaluations so far (``[]`` for a new search, the checkpoint's on resume).
        space: the genome space (genome keys, plans).
        objectives: `OBJECTIVES` names, in the problem's order.
        floor: the float model's validation accuracy minus the budget.
        seed_keys: ``{genome: source}`` of the initial population's seeds (``"xaigen_seed"``, ``"uniform"``: their
            records' ``source``); a set (checkpoints before the uniform seeds): all XAI-Gen seeds.
        max_drop: the budget the upper bound of a candidate's paired drop must meet (`fronts.record_feasible`);
            None: the accuracy floor (the rule of checkpoints written before the paired bound).
    """

    def __init__(self, records: List[dict], space: GenomeSpace, objectives: Sequence[str], floor: float,
                 seed_keys: Iterable[str] = (), max_drop: Optional[float] = None):
        self.records, self.space, self.objectives, self.floor = records, space, tuple(objectives), float(floor)
        self.max_drop = max_drop
        self.seed_keys = (dict(seed_keys) if isinstance(seed_keys, Mapping) else
                          {k: "xaigen_seed" for k in seed_keys})
        self.index = {r["genome"]: i for i, r in enumerate(records)}

    def __len__(self) -> int:
        return len(self.records)

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def missing(self, keys: Iterable[str]) -> List[str]:
        """The keys not evaluated yet, first occurrence order, each once."""
        return list(dict.fromkeys(k for k in keys if k not in self.index))

    def add(self, key: str, metrics: dict, generation: int) -> dict:
        """Archives the worker's ``metrics`` of genome ``key`` evaluated in ``generation``; returns the record."""
        source = "offspring" if generation else self.seed_keys.get(key, "random")
        rec = {"id": len(self.records), "generation": generation, "source": source, "genome": key,
               "plan": json.dumps(self.space.to_plan(self.space.from_key(key)).to_dict()["layers"]), **metrics}
        rec["feasible"] = record_feasible(rec, self.floor, self.max_drop)
        self.index[key] = len(self.records)
        self.records.append(rec)
        return rec

    def objective_values(self, keys: Sequence[str]) -> np.ndarray:
        """``F`` (one row per key, archived genomes only)."""
        return np.array([objective_values(self.records[self.index[k]], self.objectives) for k in keys])

    def constraint_values(self, keys: Sequence[str]) -> np.ndarray:
        """``G`` (≤ 0: feasible): `fronts.constraint_value` of each record."""
        return np.array([[constraint_value(self.records[self.index[k]], self.floor, self.max_drop)] for k in keys])

    def feasible_genomes(self) -> List[np.ndarray]:
        """Genomes of the feasible records (what `skip_bound_repair` learns from)."""
        return [self.space.from_key(r["genome"]) for r in self.records if r["feasible"]]

    def fitting(self, keys: Sequence[str], budget_left: int) -> Optional[int]:
        """How many of ``keys`` (from the first) fit ``budget_left`` new evaluations: ``len(keys)`` if all do,
        None if not even the first does."""
        new, cut = set(), len(keys)
        for i, k in enumerate(keys):
            if k not in self.index and k not in new:
                if len(new) == budget_left:
                    cut = i
                    break
                new.add(k)
        return cut or None
