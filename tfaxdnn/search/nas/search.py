"""XAI-NAS (XAI-Gen paper Section IV-C; SPEC section 9): NSGA-II over per-layer multipliers and neuron skipping.

* Genome (`tfaxdnn.search.nas.genome`): per approximable layer (or residual block, ``genes="block"``) a
  multiplier index into the MAE-ordered list (exact first) and a skip level (0, 5 %, ... ``max_skip``).
* Objectives (minimised): ``accuracy`` -> error ``1 − accuracy``, ``energy`` -> energy relative to the all-exact
  8-bit model, ``latency`` (s), ``memory`` (bytes), ``robustness`` -> ``1 −`` accuracy under a white-box FGSM/PGD
  attack on the approximate model (`tfaxdnn.search.nas.robustness`; a transfer attack from the float model is
  recorded beside it). Constraint: validation accuracy ≥ float baseline − ``max_accuracy_drop``.
* Initial population: XAI-Gen configurations at ``n_seeds`` skipping thresholds, the rest random. The
  ALWANN-style baseline (``mode="alwann"``): random initial population, no seeding, no skipping, same budget.
* Operators: tournament selection, SBX crossover rounded to integers, per-gene mutation with probability
  ``mutation_prob`` (baseline: random reset; XAI-NAS: `SkipAwareMutation` plus `skip_bound_repair` and geometric
  random skip levels, `tfaxdnn.search.nas.operators`); duplicates eliminated; identical genomes are evaluated once
  (cache kept in the checkpoint, so also across a resume). ``max_evaluations`` caps the unique evaluations
  (XAI-NAS: its XAI-Gen seeding runs' included), the budget both modes share in `compare_with_alwann`.
* Every generation is checkpointed (`tfaxdnn.search.checkpoint`: NSGA-II state incl. its RNG, every evaluation,
  hypervolume history); ``resume=True`` continues from the last completed generation.
* Selection uses the validation split only; the final front is re-evaluated on the held-out test split.

Budget: ``pop_size + generations · n_offsprings`` candidates (generation 0 is the initial population).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import threading
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.problem import Problem
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.repair.rounding import RoundingRepair

from tfaxdnn.core.serialization import json_default
from tfaxdnn.search.config import SearchConfig
from tfaxdnn.core import kinds
from tfaxdnn import multipliers as _mult
from tfaxdnn.search.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tfaxdnn.search.nas.genome import GenomeSpace, xaigen_seed_genomes
from tfaxdnn.search.nas.operators import (IntegerResetMutation, SkipAwareMutation, biased_random,
                                           skip_bound_repair)
from tfaxdnn.search.evaluator import Evaluator
from tfaxdnn.search.selection import seeded_subset, split_data
from tfaxdnn.search.nas.robustness import AttackConfig

__all__ = ["NASConfig", "NASResult", "OBJECTIVES", "run_xainas", "compare_with_alwann", "comparison_summary",
           "evaluate_candidate", "hypervolume_2d", "CheckpointError"]

#: objective name -> (record field, how it is minimised)
OBJECTIVES = {"accuracy": "error", "energy": "relative_energy", "latency": "latency_s", "memory": "memory_bytes",
              "robustness": "robust_error"}
MODES = ("xainas", "alwann")


@dataclasses.dataclass(frozen=True)
class NASConfig(SearchConfig):
    """Settings of `run_xainas` (defaults: the paper's NSGA-II setup).

    Args:
        objectives: subset of `OBJECTIVES`, order kept.
        mode: ``"xainas"`` (XAI-Gen seeds, skipping) or ``"alwann"`` (random start, no seeds, no skipping).
        pop_size, n_offsprings, generations: NSGA-II budget (generation 0 = the initial population).
        mutation_prob: per-gene probability of a random reset; crossover_prob: SBX probability per mating.
        n_seeds, seed_t_p_max, seed_t_c: XAI-Gen seeds (see `xaigen_seed_genomes`).
        multipliers: candidate multipliers (sorted by MAE, exact first, by `GenomeSpace`).
        max_skip, skip_step: skip levels 0, step, ..., max_skip (the output layer never skips).
        genes: ``"layer"`` or ``"block"`` (one gene per residual block).
        weight_mapping: mapping of approximated layers (``"uniform"`` = ALWANN's, ``"data"``, ``"none"``).
        max_accuracy_drop: constraint, fraction (0.02 = 2 points below the float baseline on validation).
        importance_samples, n_steps: conductance for the seeds and the skip order (training images).
        calibration_samples: activation-range images (training split).
        attack: `AttackConfig` of the robustness objective.
        seed: seeds the splits, the initial population and NSGA-II.
        energy_accounting: ``"system"``, ``"compute"`` or ``"multiplier"`` (`tfaxdnn.hardware.ACCOUNTINGS`): the
            energy objective (relative to all-exact); every candidate records all three reductions.
        skip_aware: XAI-NAS only: `SkipAwareMutation`, skip levels of the random initial genomes geometric with
            P(0) = ``skip_p_zero``, and `skip_bound_repair` (``repair_slack`` levels above the feasible archive's
            largest per gene) before each evaluation. False: the plain operators of the baseline.
        xaigen_t_p: XAI-NAS only: skipping thresholds at which full XAI-Gen runs (Algorithm 1 with back-off and
            ``xaigen_refine_passes`` refinement passes, this search's accuracy drop and accounting, on the
            validation split) give refined seeds, placed first in the initial population; their evaluations count
            against ``max_evaluations``.
        max_evaluations: budget of unique evaluations (XAI-NAS: including the XAI-Gen seeding runs'); the search
            stops when it is spent (the last generation is cut to fit) or after ``generations``. None: generations
            only.
    """

    objectives: Sequence[str] = ("accuracy", "energy")
    mode: str = "xainas"
    pop_size: int = 50
    n_offsprings: int = 50
    generations: int = 10
    mutation_prob: float = 0.1
    crossover_prob: float = 0.9
    n_seeds: int = 36
    seed_t_p_max: float = 0.8
    seed_t_c: Sequence[float] = (1.0, 0.75, 0.5, 0.25)
    max_skip: float = 0.5
    genes: str = "layer"
    attack: AttackConfig = AttackConfig()
    skip_aware: bool = True
    skip_p_zero: float = 0.5
    repair_slack: int = 1
    xaigen_t_p: Sequence[float] = ()
    xaigen_refine_passes: int = 2
    max_evaluations: Optional[int] = None

    def __post_init__(self):
        super().__post_init__()
        objs = [self.objectives] if isinstance(self.objectives, str) else list(self.objectives)
        unknown = [o for o in objs if o not in OBJECTIVES]
        if unknown:
            from tfaxdnn.core.errors import unknown_name

            raise unknown_name("objective", unknown[0], OBJECTIVES, f"Valid choices: {list(OBJECTIVES)} "
                                                                     "(comma-separated).")
        if not objs or len(set(objs)) != len(objs):
            raise ValueError(f"Objectives must be a non-empty list without repeats. Received: {objs}")
        object.__setattr__(self, "objectives", tuple(objs))
        object.__setattr__(self, "multipliers", tuple(self.multipliers))
        object.__setattr__(self, "seed_t_c", tuple(float(t) for t in self.seed_t_c))
        if self.mode not in MODES:
            raise ValueError(f"`mode` must be one of {list(MODES)}. Received: {self.mode!r}")
        for name in ("pop_size", "n_offsprings"):
            if int(getattr(self, name)) < 2:
                raise ValueError(f"`{name}` must be >= 2. Received: {getattr(self, name)}")
        if int(self.generations) < 0 or int(self.n_seeds) < 0:
            raise ValueError(f"`generations` and `n_seeds` must be >= 0. Received: {self.generations}, "
                             f"{self.n_seeds}")
        object.__setattr__(self, "xaigen_t_p", tuple(float(t) for t in self.xaigen_t_p))
        n_seeds = int(self.n_seeds) + len(self.xaigen_t_p)
        if self.mode == "xainas" and self.pop_size < n_seeds:
            raise ValueError(f"Population ({self.pop_size}) is smaller than the number of XAI-Gen seeds "
                             f"({self.n_seeds} sweep + {len(self.xaigen_t_p)} refined): raise the population (--pop) "
                             "or lower the seed count (--seeds, --xaigen-t-p).")
        if not 0.0 < self.skip_p_zero <= 1.0 or int(self.repair_slack) < 0 or int(self.xaigen_refine_passes) < 0:
            raise ValueError(f"Need 0 < skip_p_zero <= 1, repair_slack >= 0 and xaigen_refine_passes >= 0. Received: "
                             f"{self.skip_p_zero}, {self.repair_slack}, {self.xaigen_refine_passes}")
        if any(not 0.0 <= t <= 1.0 for t in self.xaigen_t_p):
            raise ValueError(f"`xaigen_t_p` values must lie in [0, 1]. Received: {list(self.xaigen_t_p)}")
        if self.max_evaluations is not None and int(self.max_evaluations) < 1:
            raise ValueError(f"`max_evaluations` must be >= 1 or None. Received: {self.max_evaluations}")
        for name in ("mutation_prob", "crossover_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1]. Received: {getattr(self, name)}")
        if self.genes not in ("layer", "block"):
            raise ValueError(f"`genes` must be 'layer' or 'block'. Received: {self.genes!r}")


@dataclasses.dataclass
class NASResult:
    """What `run_xainas` found (also written to ``out_dir``)."""

    config: NASConfig
    records: List[dict]               # every unique evaluation (validation split), in evaluation order
    front: List[dict]                 # Pareto set: plan, genome, metrics on validation and test
    hypervolume: List[float]          # per generation, (error, relative energy) plane, reference `reference_point`
    reference_point: tuple
    baseline_accuracy: Dict[str, float]   # float model, by split
    accuracy_floor: float             # constraint on validation accuracy
    out_dir: str
    wall_time_s: float
    candidates: int                   # candidates proposed (incl. cache hits)
    seeding: dict = dataclasses.field(default_factory=dict)   # XAI-Gen seeding runs: evaluations, time_s, runs

    @property
    def total_evaluations(self) -> int:
        """Unique evaluations of the search plus those of its XAI-Gen seeding runs (the budget both modes share)."""
        return len(self.records) + int(self.seeding.get("evaluations", 0))

    def best_energy(self, max_drop: float, split: str = "validation") -> Optional[dict]:
        """The front member of lowest relative energy with ≤ ``max_drop`` accuracy loss on ``split``."""
        floor = self.baseline_accuracy[split] - max_drop
        ok = [f for f in self.front if f["accuracy"][split] >= floor - 1e-12]
        return min(ok, key=lambda f: f["relative_energy"]) if ok else None


# -- candidate evaluation (runs in this process or in a Dask worker) -----------------------------------------

@dataclasses.dataclass(frozen=True)
class CandidateTask:
    """What a worker needs: an evaluator spec (rebuilt once per worker process), the genome space and the attack."""

    token: str
    spec: object
    space: GenomeSpace
    robustness_path: Optional[str] = None
    attack: Optional[AttackConfig] = None
    accounting: str = "system"


_CONTEXTS: Dict[str, dict] = {}
_LOCK = threading.Lock()


def _context(task: CandidateTask) -> dict:
    with _LOCK:
        ctx = _CONTEXTS.get(task.token)
        if ctx is None:
            ev = Evaluator.from_spec(task.spec)
            rob = None
            if task.robustness_path:
                with np.load(task.robustness_path) as f:
                    rob = {k: f[k] for k in f.files}
            ctx = _CONTEXTS[task.token] = {"ev": ev, "rob": rob, "built": time.time()}
    return ctx


def evaluate_candidate(task: CandidateTask, key: str) -> dict:
    """Metrics of one genome (``key`` = `GenomeSpace.key`) on the validation split."""
    start = time.perf_counter()
    ctx = _context(task)
    plan = task.space.to_plan(task.space.from_key(key))
    m = ctx["ev"](plan)
    row = {"accuracy": float(m.accuracy), "energy_j": float(m.energy_j),
           "relative_energy": float(1.0 / m.reductions[task.accounting]),       # the search's accounting
           **{f"energy_reduction_{a}": float(v) for a, v in m.reductions.items()},
           "latency_s": float(m.latency_s), "memory_bytes": int(m.memory_bytes)}
    if task.attack is not None:
        from tfaxdnn.search.nas.robustness import robustness_metrics

        rob = ctx["rob"]
        row.update(robustness_metrics(ctx["ev"].build(plan), rob["x"], rob["y"], task.attack, rob["x_transfer"]))
    row["wall_time_s"] = time.perf_counter() - start
    row["worker_pid"] = os.getpid()
    return row


def _objective_values(row: dict, objectives) -> List[float]:
    vals = {"error": 1.0 - row["accuracy"], "robust_error": 1.0 - row.get("robust_accuracy", float("nan"))}
    return [float(vals.get(OBJECTIVES[o], row.get(OBJECTIVES[o]))) for o in objectives]


# -- pymoo pieces ---------------------------------------------------------------------------------------------

class XAINASProblem(Problem):
    """Integer genome of ``space``, ``n_obj`` objectives, one constraint (accuracy floor); evaluated by ask/tell
    (`run_xainas` sets F and G of each generation itself, so the problem carries no evaluator)."""

    def __init__(self, space: GenomeSpace, n_obj: int):
        super().__init__(n_var=space.n_var, n_obj=n_obj, n_ieq_constr=1, xl=space.lower, xu=space.upper, vtype=int)


def _skip_aware(config: NASConfig) -> bool:
    return config.mode == "xainas" and config.skip_aware


def _algorithm(config: NASConfig, X0: np.ndarray):
    mutation = (SkipAwareMutation if _skip_aware(config) else IntegerResetMutation)(config.mutation_prob)
    return NSGA2(pop_size=config.pop_size, n_offsprings=config.n_offsprings, sampling=X0.astype(float),
                 crossover=SBX(prob=config.crossover_prob, eta=15, vtype=float, repair=RoundingRepair()),
                 mutation=mutation, eliminate_duplicates=True)


# -- fronts and hypervolume ------------------------------------------------------------------------------------

def non_dominated(F: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``F`` (minimisation); exact duplicates all kept."""
    F = np.asarray(F, dtype=float)
    if len(F) == 0:
        return np.zeros(0, dtype=int)
    dominated = np.zeros(len(F), dtype=bool)
    for i in range(len(F)):
        better_eq = (F <= F[i]).all(axis=1) & (F < F[i]).any(axis=1)
        dominated[i] = better_eq.any()
    return np.flatnonzero(~dominated)


def hypervolume_2d(points: np.ndarray, ref: Sequence[float]) -> float:
    """Area dominated by ``points`` (minimisation, 2-D) and bounded by ``ref``."""
    P = np.asarray(points, dtype=float).reshape(-1, 2)
    P = P[(P[:, 0] < ref[0]) & (P[:, 1] < ref[1])]
    if len(P) == 0:
        return 0.0
    P = P[np.lexsort((P[:, 1], P[:, 0]))]
    area, best_y = 0.0, float(ref[1])
    for x, y in P:
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return float(area)


def _feasible(records, floor):
    return [r for r in records if r["accuracy"] >= floor - 1e-12]


def _front(records, objectives, floor) -> List[dict]:
    feas = _feasible(records, floor)
    if not feas:
        return []
    idx = non_dominated(np.array([_objective_values(r, objectives) for r in feas]))
    return sorted((feas[i] for i in idx), key=lambda r: (r["relative_energy"], -r["accuracy"], r["genome"]))


def _hv(records, floor, ref) -> float:
    feas = _feasible(records, floor)
    return hypervolume_2d(np.array([[1.0 - r["accuracy"], r["relative_energy"]] for r in feas]), ref)


# -- data, importance, fingerprints -----------------------------------------------------------------------------

def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _importance(model, x_train, y_train, layers, config: NASConfig, path: str, verbose: bool):
    """Conductance of every approximable layer on training images; cached in ``path`` (reused on resume)."""
    from tfaxdnn.search.xaigen import Importance, compute_importance

    if os.path.isfile(path):
        with np.load(path) as f:
            return Importance(list(layers), {n: float(f[f"score__{n}"]) for n in layers},
                              {n: f[f"neurons__{n}"] for n in layers})
    rng_idx = np.sort(np.random.default_rng(config.seed + 1).choice(
        len(x_train), min(config.importance_samples, len(x_train)), replace=False))
    imp = compute_importance(model, x_train[rng_idx], np.asarray(y_train).reshape(-1)[rng_idx], layers=list(layers),
                             n_steps=config.n_steps, verbose=verbose)
    np.savez(path, **{f"score__{n}": imp.scores[n] for n in layers},
             **{f"neurons__{n}": imp.neurons[n] for n in layers})
    return imp


# -- the search ---------------------------------------------------------------------------------------------------

class _Search:
    """One NSGA-II run in ``out_dir`` (state: algorithm, records, hypervolume history)."""

    CHECKPOINT = "checkpoint.pkl"

    def __init__(self, model, data, out_dir, config, runner, resume, validation_fraction, evaluation_samples,
                 verbose, on_generation=None, explain_images: int = 0):
        self.config, self.runner, self.verbose, self.model = config, runner, verbose, model
        self.on_generation, self.explain_images = on_generation, int(explain_images)
        self.out_dir = os.path.abspath(out_dir)
        os.makedirs(self.out_dir, exist_ok=True)
        self.ckpt = os.path.join(self.out_dir, self.CHECKPOINT)
        if os.path.exists(self.ckpt) and not resume:
            raise FileExistsError(f"{self.out_dir} already holds a search checkpoint: pass resume=True (--resume) to "
                                  "continue it, or choose another output folder.")
        if resume and not os.path.exists(self.ckpt):
            raise CheckpointError(f"No checkpoint to resume from in {self.out_dir} ({self.CHECKPOINT} missing); run "
                                  "without --resume to start a new search.")
        if resume:
            load_checkpoint(self.ckpt)        # integrity first, before any expensive set-up
        layers = kinds.approximable_names(model)
        if not layers:
            raise ValueError(f"Model {model.name!r} has no approximable layer (Conv2D, DepthwiseConv2D or Dense): "
                             "nothing to search.")
        (x_train, y_train), (x_held, y_held) = data
        (x_val, y_val), (x_test, y_test) = split_data(x_held, np.asarray(y_held).reshape(-1), validation_fraction,
                                                     config.seed)
        if evaluation_samples:
            keep = seeded_subset(evaluation_samples, config.seed + 2, np.arange(len(x_val)))
            x_val, y_val = x_val[keep], y_val[keep]
        self.test_data = (x_test, y_test)
        # conductance: the XAI-Gen seeds and the skipping order (the ALWANN-style baseline needs neither)
        self.importance = (_importance(model, np.asarray(x_train), y_train, layers, config,
                                       os.path.join(self.out_dir, "importance.npz"), verbose)
                           if config.mode == "xainas" else None)
        self.ev = Evaluator(model, eval_data=(x_val, y_val), calibration_data=np.asarray(x_train),
                            importance=self.importance.neurons if self.importance else None,
                            calibration_samples=config.calibration_samples, seed=config.seed)
        self.baseline = {"validation": float(self.ev.baseline().accuracy)}
        self.floor = self.baseline["validation"] - config.max_accuracy_drop
        self.ref = (1.0 - self.floor, 1.0)
        self.space = GenomeSpace.build(self.ev.layers, self.ev.output_layer, config.multipliers, config.max_skip,
                                       config.skip_step, config.genes, allow_skip=config.mode == "xainas",
                                       weight_mapping=config.weight_mapping)
        self.fingerprint = hashlib.sha256(json.dumps(
            {"config": config.to_dict(), "space": self.space.to_dict(), "validation_fraction": validation_fraction,
             "evaluation_samples": evaluation_samples, "model": _digest(*model.get_weights()),
             "data": _digest(x_val, y_val, x_test, y_test, self.ev.x_cal)},
            sort_keys=True, default=str).encode()).hexdigest()
        self.task = self._task(model, x_val, y_val)
        self.resume = resume
        self.x_val_shape = x_val.shape

    def _task(self, model, x_val, y_val) -> CandidateTask:
        token = f"{self.fingerprint}:{self.out_dir}"
        rob_path, attack = None, None
        if "robustness" in self.config.objectives:
            from tfaxdnn.search.nas.robustness import attack as craft

            attack = self.config.attack
            n = min(attack.samples, len(x_val))
            rob_path = os.path.join(self.out_dir, "robustness.npz")
            np.savez(rob_path, x=x_val[:n], y=y_val[:n], x_transfer=craft(model, x_val[:n], y_val[:n], attack))
        spec = None
        if not hasattr(self.runner, "client"):        # in-process: share the live evaluator
            rob = None
            if rob_path:
                with np.load(rob_path) as f:
                    rob = {k: f[k] for k in f.files}
            _CONTEXTS[token] = {"ev": self.ev, "rob": rob, "built": time.time()}
        else:
            spec = self.ev.to_spec(os.path.join(self.out_dir, "evaluator"))
        return CandidateTask(token, spec, self.space, rob_path, attack, self.config.energy_accounting)

    # -- initial population -----------------------------------------------------------------------------------
    def _initial(self):
        """(initial genomes, seed keys, seeding summary): refined XAI-Gen seeds, sweep seeds, then random ones."""
        cfg, rng = self.config, np.random.default_rng(self.config.seed)
        seeding = {"evaluations": 0, "time_s": 0.0, "runs": []}
        seeds = np.zeros((0, self.space.n_var), dtype=int)
        if cfg.mode == "xainas":
            refined, seeding = self._xaigen_seeds()
            swept = xaigen_seed_genomes(self.space, self.importance.scores, cfg.n_seeds, cfg.seed_t_p_max, cfg.seed_t_c)
            seeds = np.concatenate([refined.reshape(-1, self.space.n_var), swept]).astype(int)
        rows = list(dict.fromkeys(tuple(int(v) for v in g) for g in seeds))
        n_space = int(np.prod(self.space.upper + 1, dtype=float))
        for _ in range(100 * cfg.pop_size):
            if len(rows) >= min(cfg.pop_size, n_space):
                break
            g = (biased_random(self.space, 1, rng, cfg.skip_p_zero) if _skip_aware(cfg) else self.space.random(1, rng))
            g = tuple(int(v) for v in g[0])
            if g not in rows:
                rows.append(g)
        if len(rows) < cfg.pop_size:
            raise ValueError(f"The search space has only {n_space} distinct genomes; population {cfg.pop_size} "
                             "cannot be filled with distinct candidates. Lower --pop.")
        seed_keys = {self.space.key(g) for g in seeds}
        return np.array(rows, dtype=int), seed_keys, seeding

    def _xaigen_seeds(self):
        """Genomes of full XAI-Gen runs (back-off + refinement) at ``config.xaigen_t_p`` on the validation split,
        with their cost (unique evaluations, seconds) and results."""
        cfg = self.config
        if not cfg.xaigen_t_p:
            return np.zeros((0, self.space.n_var), dtype=int), {"evaluations": 0, "time_s": 0.0, "runs": []}
        from tfaxdnn.search.xaigen import XAIGenConfig, XAIGenSearch, run_xaigen

        start = time.perf_counter()
        base = XAIGenConfig(multipliers=self.space.multipliers, max_accuracy_drop=cfg.max_accuracy_drop,
                            weight_mapping=cfg.weight_mapping, refine_passes=cfg.xaigen_refine_passes,
                            calibration_samples=cfg.calibration_samples, seed=cfg.seed,
                            energy_accounting=cfg.energy_accounting, skip_step=cfg.skip_step)
        x_val, y_val = self.ev.x, self.ev.y
        # one XAI-Gen evaluator for all thresholds (shared cache); all of x_val is validation, nothing is reported
        # on the held-out test split (the "test" images XAI-Gen reports on are the validation images themselves)
        search = XAIGenSearch(self.model, (x_val, y_val), self.ev.x_cal, base, importance=self.importance,
                              verbose=False, test_data=(x_val, y_val))
        genomes, runs = [], []
        for t_p in cfg.xaigen_t_p:
            res = run_xaigen(self.model, (x_val, y_val), self.ev.x_cal, dataclasses.replace(base, t_p=t_p),
                             importance=self.importance, verbose=False, search=search)
            g = self.space.from_plan(res.plan)
            genomes.append(g)
            runs.append({"t_p": t_p, "genome": self.space.key(g), "accuracy_validation": res.validation_accuracy,
                         "relative_energy": 1.0 / res.reductions[cfg.energy_accounting]})
        misses = search.ev.cache_info()["misses"] + search.test.cache_info()["misses"]
        return np.array(genomes, dtype=int), {"evaluations": int(misses), "time_s": time.perf_counter() - start,
                                              "runs": runs}

    # -- evaluation -------------------------------------------------------------------------------------------
    def _evaluate(self, keys, generation, records, index, seed_keys):
        todo = list(dict.fromkeys(k for k in keys if k not in index))
        rows = self.runner.map(evaluate_candidate, self.task, todo)
        for k, row in zip(todo, rows):
            source = "offspring" if generation else ("xaigen_seed" if k in seed_keys else "random")
            rec = {"id": len(records), "generation": generation, "source": source, "genome": k,
                   "plan": json.dumps(self.space.to_plan(self.space.from_key(k)).to_dict()["layers"]), **row}
            rec["feasible"] = rec["accuracy"] >= self.floor - 1e-12
            index[k] = len(records)
            records.append(rec)
        F = np.array([_objective_values(records[index[k]], self.config.objectives) for k in keys])
        G = np.array([[self.floor - records[index[k]]["accuracy"]] for k in keys])
        return F, G, len(keys) - len(todo)

    def _prepare(self, pop, records, index, state):
        """Repairs the offspring (skip-aware XAI-NAS) and cuts the generation to the remaining evaluation budget:
        (population, genome keys), or None when the budget is spent."""
        X = np.rint(pop.get("X")).astype(int)
        if state["generation"] and _skip_aware(self.config):
            feasible = [self.space.from_key(r["genome"]) for r in records if r["feasible"]]
            X = skip_bound_repair(X, feasible, self.config.repair_slack)
            pop.set("X", X.astype(float))
        keys = [self.space.key(x) for x in X]
        budget = self.config.max_evaluations
        if budget is None:
            return pop, keys
        left = int(budget) - len(records) - state["seeding"]["evaluations"]
        new, cut = set(), len(keys)
        for i, k in enumerate(keys):
            if k not in index and k not in new:
                if len(new) == left:
                    cut = i
                    break
                new.add(k)
        if cut == 0:
            return None
        return (pop[:cut], keys[:cut]) if cut < len(keys) else (pop, keys)

    def run(self) -> NASResult:
        from pymoo.core.evaluator import Evaluator as PymooEvaluator
        from pymoo.problems.static import StaticProblem
        from tqdm.auto import tqdm

        cfg = self.config
        start = time.perf_counter()
        if self.resume:
            state = load_checkpoint(self.ckpt, self.fingerprint)
            if self.verbose:
                print(f"Resuming {self.out_dir} after generation {state['generation'] - 1} "
                      f"({len(state['records'])} evaluations).")
        else:
            X0, seed_keys, seeding = self._initial()
            algorithm = _algorithm(cfg, X0)
            algorithm.setup(XAINASProblem(self.space, len(cfg.objectives)), termination=("n_gen", cfg.generations + 1),
                            seed=cfg.seed, verbose=False)
            state = {"generation": 0, "algorithm": algorithm, "records": [], "hv": [], "seed_keys": seed_keys,
                     "candidates": 0, "cache_hits": 0, "elapsed_s": 0.0, "seeding": seeding, "done": False}
        algorithm, records = state["algorithm"], state["records"]
        index = {r["genome"]: i for i, r in enumerate(records)}
        bar = tqdm(total=cfg.generations + 1, initial=state["generation"], disable=not self.verbose,
                   desc=f"{'XAI-NAS' if cfg.mode == 'xainas' else 'ALWANN-style'} generations")
        while not state["done"] and algorithm.has_next():
            prepared = self._prepare(algorithm.ask(), records, index, state)
            if prepared is None:                          # evaluation budget spent
                state["done"] = True
                save_checkpoint(self.ckpt, state, self.fingerprint)
                break
            pop, keys = prepared
            F, G, hits = self._evaluate(keys, state["generation"], records, index, state["seed_keys"])
            PymooEvaluator().eval(StaticProblem(algorithm.problem, F=F, G=G), pop)
            algorithm.tell(infills=pop)
            state["hv"].append(_hv(records, self.floor, self.ref))
            state["candidates"] += len(pop)
            state["cache_hits"] += hits
            state["generation"] += 1
            state["elapsed_s"] += time.perf_counter() - start
            start = time.perf_counter()
            save_checkpoint(self.ckpt, state, self.fingerprint)
            self._write_csv(records)
            front = _front(records, cfg.objectives, self.floor)
            bar.set_postfix(front=len(front), best_energy=(f"{front[0]['relative_energy']:.3f}" if front else "-"),
                            evals=len(records), refresh=False)
            bar.update(1)
            if self.on_generation is not None:
                self.on_generation(state["generation"] - 1, {"evaluations": len(records), "front": len(front),
                                                             "hypervolume": state["hv"][-1]})
        bar.close()
        return self._finish(state)

    # -- outputs --------------------------------------------------------------------------------------------
    def _write_csv(self, records):
        path = os.path.join(self.out_dir, "evaluations.csv")
        fields = list(dict.fromkeys(k for r in records for k in r))
        rename = {"accuracy": "accuracy_validation", "robust_accuracy": "robust_accuracy_validation",
                  "transfer_accuracy": "transfer_accuracy_validation"}
        with open(path + ".tmp", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow([rename.get(k, k) for k in fields])
            for r in records:
                w.writerow([r.get(k, "") for k in fields])
        os.replace(path + ".tmp", path)

    def _finish(self, state) -> NASResult:
        cfg, records = self.config, state["records"]
        front = _front(records, cfg.objectives, self.floor)
        ev_test = self.ev.with_data(self.test_data, split="test")
        self.baseline["test"] = float(ev_test.baseline().accuracy)
        rob_test = None
        if "robustness" in cfg.objectives:
            from tfaxdnn.search.nas.robustness import attack as craft

            n = min(cfg.attack.samples, len(self.test_data[0]))
            xt, yt = self.test_data[0][:n], self.test_data[1][:n]
            rob_test = (xt, yt, craft(self.model, xt, yt, cfg.attack))
        out = []
        for r in front:
            plan = self.space.to_plan(self.space.from_key(r["genome"]))
            m = ev_test(plan)
            item = {"genome": r["genome"], "id": r["id"], "generation": r["generation"], "source": r["source"],
                    "plan": plan.to_dict(), "accuracy": {"validation": r["accuracy"], "test": float(m.accuracy)},
                    "relative_energy": r["relative_energy"], "energy_accounting": cfg.energy_accounting,
                    "energy_reduction": {a: r[f"energy_reduction_{a}"] for a in ("system", "compute", "multiplier")},
                    "energy_j": r["energy_j"], "latency_s": r["latency_s"],
                    "memory_bytes": r["memory_bytes"]}
            if rob_test is not None:
                from tfaxdnn.search.nas.robustness import robustness_metrics

                rt = robustness_metrics(self.ev.build(plan), *rob_test[:2], cfg.attack, rob_test[2])
                item["robust_accuracy"] = {"validation": r["robust_accuracy"], "test": rt["robust_accuracy"]}
                item["transfer_accuracy"] = {"validation": r["transfer_accuracy"], "test": rt["transfer_accuracy"]}
            out.append(item)
        result = NASResult(cfg, records, out, list(state["hv"]), self.ref, dict(self.baseline), self.floor,
                           self.out_dir, state["elapsed_s"], state["candidates"],
                           dict(state.get("seeding", {"evaluations": 0, "time_s": 0.0, "runs": []})))
        self._write_json(result, state)
        from tfaxdnn.search.nas.plots import save_generations_plot, save_hypervolume_plot

        save_generations_plot({cfg.mode: result}, os.path.join(self.out_dir, "generations.png"))
        save_hypervolume_plot({cfg.mode: result}, os.path.join(self.out_dir, "hypervolume.png"))
        self._explain(out)
        return result

    def _explain(self, front) -> None:
        """``explanations.png/.json``: float vs approximate attribution maps of the lowest-energy front plan that
        meets the accuracy floor on validation (test images, seeded)."""
        feasible = [r for r in front if r["accuracy"]["validation"] >= self.floor]
        if not self.explain_images or not feasible:
            return
        from tfaxdnn.plan import Plan
        from tfaxdnn.xai.explanations.plots import explanation_figure

        best = min(feasible, key=lambda r: r["relative_energy"])
        ax = self.ev.build(Plan.from_dict(best["plan"]))
        explanation_figure(self.model, ax, self.test_data[0], self.test_data[1],
                           os.path.join(self.out_dir, "explanations.png"), n_images=self.explain_images,
                           seed=self.config.seed,
                           title=f"XAI-NAS: float vs lowest-energy feasible plan ({best['relative_energy']:.3f} x "
                                 "exact energy), test images")

    def _write_json(self, result: NASResult, state) -> None:
        import tfaxdnn

        cfg = self.config
        meta = {"tfaxdnn_version": tfaxdnn.__version__, "mode": cfg.mode, "seed": cfg.seed,
                "settings": cfg.to_dict(), "genome_space": self.space.to_dict(),
                "multipliers": {n: {"hash": _mult.get(n).hash, "mae_percent": _mult.get(n).mae_percent,
                                    "power_mw": _mult.get(n).power_mw} for n in self.space.multipliers},
                "splits": {"validation": int(self.x_val_shape[0]), "test": int(len(self.test_data[0])),
                           "selection": "validation", "front_reported_on": ["validation", "test"]},
                "baseline_accuracy": result.baseline_accuracy, "accuracy_floor_validation": self.floor,
                "energy_accounting": cfg.energy_accounting,
                "seeding": state.get("seeding", {"evaluations": 0, "time_s": 0.0, "runs": []}),
                "hypervolume": {"reference_point": list(self.ref),
                                "objectives": ["error", f"relative_energy ({cfg.energy_accounting})"],
                                "per_generation": result.hypervolume},
                "evaluations": len(result.records), "candidates": state["candidates"],
                "cache_hits": state["cache_hits"], "runner": getattr(self.runner, "description", ""),
                "wall_time_s": state["elapsed_s"], "fingerprint": self.fingerprint}
        with open(os.path.join(self.out_dir, "pareto.json"), "w") as f:
            json.dump({**meta, "front": result.front}, f, indent=2, default=json_default)


def run_xainas(model, data, out_dir, config: Optional[NASConfig] = None, *, workers: int = 0,
               scheduler: Optional[str] = None, resume: bool = False, validation_fraction: float = 0.5,
               evaluation_samples: Optional[int] = None, runner=None, on_generation=None,
               verbose: bool = True, explain_images: int = 4) -> NASResult:
    """XAI-NAS (or, with ``config.mode="alwann"``, the ALWANN-style baseline) on a trained float Keras model.

    Args:
        model: trained Keras 3 classifier (not modified).
        data: ``((x_train, y_train), (x_test, y_test))`` prepared images; training images give calibration and
            conductance, the test images are split (seeded) into validation (selection) and held-out test.
        out_dir: ``evaluations.csv``, ``pareto.json``, ``generations.png``, ``hypervolume.png``, checkpoint.
        config: `NASConfig`.
        workers: 0: evaluate in this process; N >= 1: a Dask LocalCluster of N worker processes.
        scheduler: address of an existing Dask scheduler (overrides ``workers``).
        resume: continue the search checkpointed in ``out_dir``.
        validation_fraction: share of the held-out images used for selection.
        evaluation_samples: cap on the validation images (faster candidates; the test split is untouched).
        runner: an existing `SerialRunner` / `DaskRunner` (shared by `compare_with_alwann`).
        on_generation: called as ``f(generation, summary)`` after each generation's checkpoint.
        explain_images: test images in ``explanations.png`` (tf-explain maps, float vs the lowest-energy feasible
            front plan; 0: none).
    """
    from tfaxdnn.search.runners import make_runner

    config = config or NASConfig()
    own = runner is None
    runner = runner or make_runner(workers, scheduler)
    try:
        search = _Search(model, data, out_dir, config, runner, resume, validation_fraction, evaluation_samples,
                         verbose, on_generation, explain_images)
        try:
            return search.run()
        finally:
            _CONTEXTS.pop(search.task.token, None)
    finally:
        if own:
            runner.close()


def compare_with_alwann(model, data, out_dir, config: Optional[NASConfig] = None, *, workers: int = 0,
                        scheduler: Optional[str] = None, resume: bool = False, **kwargs) -> Dict[str, NASResult]:
    """XAI-NAS in ``out_dir/xainas`` and the ALWANN-style baseline with the same budget in ``out_dir/alwann``;
    ``out_dir/generations.png``, ``hypervolume.png`` (same reference point) and ``comparison.json``."""
    from tfaxdnn.search.runners import make_runner
    from tfaxdnn.search.nas.plots import save_generations_plot, save_hypervolume_plot

    config = config or NASConfig()
    runner = make_runner(workers, scheduler)
    results = {}
    try:
        for mode in MODES:
            sub = os.path.join(out_dir, mode)
            again = resume and os.path.exists(os.path.join(sub, _Search.CHECKPOINT))
            cfg = dataclasses.replace(config, mode=mode)
            if mode == "alwann" and config.max_evaluations is None:
                # the same budget: XAI-NAS's evaluations including its XAI-Gen seeding runs
                extra = -(-results["xainas"].seeding.get("evaluations", 0) // config.n_offsprings)
                cfg = dataclasses.replace(cfg, max_evaluations=results["xainas"].total_evaluations,
                                          generations=config.generations + 2 * extra + 2)
            results[mode] = run_xainas(model, data, sub, cfg, resume=again, runner=runner, **kwargs)
    finally:
        runner.close()
    save_generations_plot(results, os.path.join(out_dir, "generations.png"))
    save_hypervolume_plot(results, os.path.join(out_dir, "hypervolume.png"))
    summary = {mode: comparison_summary(r) for mode, r in results.items()}
    with open(os.path.join(out_dir, "comparison.json"), "w") as f:
        json.dump(summary, f, indent=2, default=json_default)
    return results


def comparison_summary(r: NASResult) -> dict:
    """Hypervolume, budget, wall time and the best front member within 1 and 2 points (validation, test) of one
    search, with its energy reduction under every accounting."""
    out = {"hypervolume": r.hypervolume[-1] if r.hypervolume else 0.0, "reference_point": list(r.reference_point),
           "energy_accounting": r.config.energy_accounting, "evaluations": len(r.records),
           "seeding_evaluations": int(r.seeding.get("evaluations", 0)), "total_evaluations": r.total_evaluations,
           "candidates": r.candidates, "wall_time_s": r.wall_time_s,
           "seeding_time_s": float(r.seeding.get("time_s", 0.0)), "front_size": len(r.front),
           "baseline_accuracy": r.baseline_accuracy}
    for drop in (0.01, 0.02):
        for split in ("validation", "test"):
            best = r.best_energy(drop, split)
            tag = f"{split}_{int(round(drop * 100))}pt"
            out[f"best_energy_reduction_{tag}"] = 1.0 / best["relative_energy"] if best else None
            out[f"best_{tag}"] = None if best is None else {
                "energy_reduction": best.get("energy_reduction"), "accuracy": best["accuracy"],
                "genome": best["genome"], "source": best["source"], "generation": best["generation"]}
    return out
