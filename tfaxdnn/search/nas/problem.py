"""The pymoo side of XAI-NAS: the problem (`XAINASProblem`, which evaluates its candidates itself) and the NSGA-II
set-up (`make_algorithm`).

`XAINASProblem` is a vectorised pymoo `Problem`: its ``_evaluate`` looks every genome up in the `Archive`, maps the
missing ones through the runner (``runner(f, X)``, `tfaxdnn.search.runners`) with `evaluate_candidate`, archives
them and sets ``F`` (objectives) and ``G`` (accuracy constraint). The live parts (archive, runner, task) are attached
with `connect`, not pickled: the problem travels inside the checkpoint's NSGA-II state, and a resumed search connects
it again.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.problem import Problem
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.repair.rounding import RoundingRepair

from tfaxdnn.search.nas.archive import Archive
from tfaxdnn.search.nas.config import NASConfig
from tfaxdnn.search.nas.genome import GenomeSpace
from tfaxdnn.search.nas.operators import IntegerResetMutation, SkipAwareMutation
from tfaxdnn.search.nas.worker import CandidateTask

__all__ = ["XAINASProblem", "make_algorithm"]

_LIVE = ("archive", "runner", "task")


class XAINASProblem(Problem):
    """Integer genome of ``space``, ``n_obj`` objectives, one constraint (accuracy floor).

    Evaluate through pymoo (``evaluator.eval(problem, pop, generation=g)``) once `connect`-ed; ``generation`` labels
    the new records. Unconnected (operators' tests) it only gives bounds.
    """

    archive: Optional[Archive] = None          # class defaults: also what pickles of earlier layouts lack
    runner = None
    task: Optional[CandidateTask] = None

    def __init__(self, space: GenomeSpace, n_obj: int):
        super().__init__(n_var=space.n_var, n_obj=n_obj, n_ieq_constr=1, xl=space.lower, xu=space.upper, vtype=int,
                         requires_kwargs=True)

    def connect(self, archive: Archive, runner, task: CandidateTask) -> "XAINASProblem":
        """Attaches the archive (cache and records), the runner and the workers' task."""
        self.archive, self.runner, self.task = archive, runner, task
        return self

    def _evaluate(self, X, out, *args, generation: int = 0, **kwargs):
        if self.archive is None:
            raise RuntimeError("XAINASProblem is not connected to an archive and a runner (`connect`).")
        keys = [self.archive.space.key(x) for x in np.rint(X).astype(int)]
        todo = self.archive.missing(keys)
        for key, metrics in zip(todo, self.runner(self.task.function(), todo)):
            self.archive.add(key, metrics, generation)
        out["F"] = self.archive.objective_values(keys)
        out["G"] = self.archive.constraint_values(keys)

    def __getstate__(self):
        return {k: v for k, v in super().__getstate__().items() if k not in _LIVE}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.requires_kwargs = True         # pickles of earlier layouts had it off (the search set F and G itself)


def make_algorithm(config: NASConfig, X0: np.ndarray) -> NSGA2:
    """NSGA-II with initial population ``X0``: binary tournament, SBX (η 15) rounded to integers, per-gene mutation
    (skip-aware for XAI-NAS, uniform reset for the baseline), duplicates eliminated."""
    mutation = (SkipAwareMutation if config.skip_aware_operators else IntegerResetMutation)(config.mutation_prob)
    return NSGA2(pop_size=config.pop_size, n_offsprings=config.n_offsprings, sampling=X0.astype(float),
                 crossover=SBX(prob=config.crossover_prob, eta=15, vtype=float, repair=RoundingRepair()),
                 mutation=mutation, eliminate_duplicates=True)
