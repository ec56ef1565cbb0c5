"""The initial population of an XAI-NAS run: refined XAI-Gen seeds, the uniform plans, XAI-Gen sweep seeds, then
random genomes.

The ALWANN-style baseline starts from random genomes only. Refined seeds come from full XAI-Gen runs
(`xaigen_runs`, on the validation split); their evaluations are the seeding cost the evaluation budget counts.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Dict, Tuple

import numpy as np

from tfaxdnn.search.nas.config import NASConfig
from tfaxdnn.search.nas.genome import GenomeSpace, uniform_genomes, xaigen_seed_genomes
from tfaxdnn.search.nas.operators import biased_random
from tfaxdnn.search.selection import ValidationSizeWarning

__all__ = ["no_seeding", "xaigen_runs", "initial_population"]


def no_seeding() -> dict:
    """The seeding summary of a run without XAI-Gen runs."""
    return {"evaluations": 0, "time_s": 0.0, "runs": []}


def xaigen_runs(model, ev, space: GenomeSpace, importance, config: NASConfig) -> Tuple[np.ndarray, dict]:
    """Genomes of full XAI-Gen runs (back-off + refinement) at ``config.xaigen_t_p`` on the validation split of the
    search's evaluator ``ev``, with their cost (unique evaluations, seconds) and results."""
    if not config.xaigen_t_p:
        return np.zeros((0, space.n_var), dtype=int), no_seeding()
    from tfaxdnn.search.xaigen import XAIGenConfig, XAIGenSearch, run_xaigen

    start = time.perf_counter()
    base = XAIGenConfig(multipliers=space.multipliers, max_accuracy_drop=config.max_accuracy_drop,
                        weight_mapping=config.weight_mapping, refine_passes=config.xaigen_refine_passes,
                        calibration_samples=config.calibration_samples, seed=config.seed,
                        energy_accounting=config.energy_accounting, skip_step=config.skip_step,
                        confidence=config.confidence, sequential=config.sequential,
                        selection=config.xaigen_selection, refine=config.xaigen_refine,
                        confirmation_fraction=0.0)   # seeds, not answers: the search's confirmation comes later
    x_val, y_val = ev.x, ev.y
    # one XAI-Gen evaluator for all thresholds (shared cache); all of x_val is validation, nothing is reported
    # on the held-out test split (the "test" images XAI-Gen reports on are the validation images themselves)
    search = XAIGenSearch(model, (x_val, y_val), ev.x_cal, base, importance=importance, verbose=False,
                          test_data=(x_val, y_val))
    genomes, runs = [], []
    for t_p in config.xaigen_t_p:
        with warnings.catch_warnings():  # the search has said already whether its validation split resolves the budget
            warnings.simplefilter("ignore", ValidationSizeWarning)
            res = run_xaigen(model, (x_val, y_val), ev.x_cal, dataclasses.replace(base, t_p=t_p),
                             importance=importance, verbose=False, search=search)
        g = space.from_plan(res.plan)
        genomes.append(g)
        runs.append({"t_p": t_p, "genome": space.key(g), "accuracy_validation": res.validation_accuracy,
                     "relative_energy": 1.0 / res.reductions[config.energy_accounting]})
    misses = search.ev.cache_info()["misses"] + search.test.cache_info()["misses"]
    return np.array(genomes, dtype=int), {"evaluations": int(misses), "time_s": time.perf_counter() - start,
                                          "runs": runs}


def initial_population(space: GenomeSpace, config: NASConfig, importance=None, refined: np.ndarray = None,
                       tolerance: np.ndarray = None) -> Tuple[np.ndarray, Dict[str, str]]:
    """(``config.pop_size`` distinct genomes, ``{key: source}`` of the seeds among them): for XAI-NAS the ``refined``
    genomes (`xaigen_runs`, source ``"xaigen_seed"``), the uniform plans (``config.uniform_seeds``,
    `uniform_genomes`, source ``"uniform"``), the ``tolerance`` genomes (`tolerance_seed_genomes`, source
    ``"tolerance_seed"``), then ``config.n_seeds`` sweep seeds from ``importance``
    (`xaigen_seed_genomes`, ``"xaigen_seed"``), duplicates dropped (the first source kept); the rest random
    (skip-aware runs: geometric skip levels, `biased_random`), seeded by ``config.seed``."""
    rng = np.random.default_rng(config.seed)
    seeds: Dict[tuple, str] = {}                                  # genome -> source, first occurrence kept
    if config.mode == "xainas":
        none = np.zeros((0, space.n_var), dtype=int)
        refined = none if refined is None else np.asarray(refined)
        tolerance = none if tolerance is None else np.asarray(tolerance)
        uniform = uniform_genomes(space) if config.uniform_seeds else none
        swept = xaigen_seed_genomes(space, importance.scores, config.n_seeds, config.seed_t_p_max, config.seed_t_c,
                                    output_important=config.seed_output_exact)
        for part, source in ((refined.reshape(-1, space.n_var), "xaigen_seed"), (uniform, "uniform"),
                             (tolerance.reshape(-1, space.n_var), "tolerance_seed"), (swept, "xaigen_seed")):
            for g in part:
                seeds.setdefault(tuple(int(v) for v in g), source)
    rows = list(seeds)[:config.pop_size]                          # seeds beyond the population: the last sweep seeds
    sources = {space.key(g): seeds[g] for g in rows}
    n_space = int(np.prod(space.upper + 1, dtype=float))
    for _ in range(100 * config.pop_size):
        if len(rows) >= min(config.pop_size, n_space):
            break
        g = (biased_random(space, 1, rng, config.skip_p_zero) if config.skip_aware_operators else space.random(1, rng))
        g = tuple(int(v) for v in g[0])
        if g not in rows:
            rows.append(g)
    if len(rows) < config.pop_size:
        raise ValueError(f"The search space has only {n_space} distinct genomes; population {config.pop_size} "
                         "cannot be filled with distinct candidates. Lower --pop.")
    return np.array(rows, dtype=int), sources
