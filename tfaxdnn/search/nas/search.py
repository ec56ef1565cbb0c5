"""One XAI-NAS run (`NASSearch`, `run_xainas`): set-up, the NSGA-II ask/evaluate/tell loop, checkpoints, outputs.

Per generation: ask NSGA-II for candidates, repair them (skip-aware XAI-NAS) and cut them to the evaluation budget,
let the problem evaluate them (`XAINASProblem`: archive lookup, then the runner), tell NSGA-II, record the
hypervolume, checkpoint (`tfaxdnn.search.checkpoint`) and rewrite ``evaluations.csv``. At the end the front is
re-checked on the confirmation slice (validation images the search never selected on), which picks the answer (the
lowest-energy member that passes), and re-evaluated on the held-out test split (`tfaxdnn.search.nas.holdout`), then
reported (`tfaxdnn.search.nas.report`).

A candidate is feasible when the upper ``confidence`` bound of its paired validation drop against the float model is
at most ``max_accuracy_drop``; it is rejected as soon as it provably is not (sequential rejection). A checkpoint
written before the paired bound (its settings fingerprint has none of ``confidence``, ``sequential`` and
``confirmation_fraction``) resumes with the rule it was started with: the accuracy floor on all validation images,
no rejection, no confirmation slice (`NASSearch.legacy`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import Optional

import numpy as np

from tfaxdnn.core import kinds
from tfaxdnn.search.calibration_file import FILE as CALIBRATION_FILE
from tfaxdnn.search.calibration_file import cached_calibration
from tfaxdnn.search.checkpoint import CheckpointError, array_digest, load_checkpoint, save_checkpoint, saved_fingerprint
from tfaxdnn.search.evaluator import Evaluator
from tfaxdnn.search.nas.archive import Archive
from tfaxdnn.search.nas.config import LATER_DEFAULTS, NASConfig
from tfaxdnn.search.nas.fronts import hypervolume, pareto_front
from tfaxdnn.search.nas.genome import GenomeSpace
from tfaxdnn.search.nas.holdout import answer_of, front_on_test
from tfaxdnn.search.nas.importance import cached_importance
from tfaxdnn.search.nas.operators import skip_bound_repair
from tfaxdnn.search.nas.problem import XAINASProblem, make_algorithm
from tfaxdnn.search.nas.report import save_explanations, write_evaluations_csv, write_pareto_json
from tfaxdnn.search.nas.result import NASResult, rejection_summary
from tfaxdnn.search.nas.seeding import initial_population, no_seeding, xaigen_runs
from tfaxdnn.search.nas.worker import prepare_task, release_task
from tfaxdnn.search.selection import check_resolution, confirmation_split, seeded_subset, split_data

__all__ = ["NASSearch", "run_xainas", "LEGACY_RULE"]

#: Settings a checkpoint written before the paired bound lacks, and the values that reproduce its rule.
LEGACY_RULE = {"confidence": None, "sequential": False, "confirmation_fraction": 0.0}


def _fingerprint(config: NASConfig, space: GenomeSpace, validation_fraction, evaluation_samples, model, data,
                 legacy: bool = False) -> str:
    settings = config.to_dict()
    for k in LEGACY_RULE if legacy else ():
        settings.pop(k)
    for k, default in LATER_DEFAULTS.items():   # checkpoints written before these settings existed still resume
        if settings.get(k) == default:
            settings.pop(k)
    return hashlib.sha256(json.dumps(
        {"config": settings, "space": space.to_dict(), "validation_fraction": validation_fraction,
         "evaluation_samples": evaluation_samples, "model": array_digest(*model.get_weights()),
         "data": array_digest(*data)}, sort_keys=True, default=str).encode()).hexdigest()


class NASSearch:
    """One NSGA-II run in ``out_dir`` (arguments: see `run_xainas`); `run` searches, or resumes, and reports.

    The checkpoint state: ``algorithm`` (NSGA-II, its problem and RNG), ``records`` (the archive), ``hv`` (per
    generation), ``seed_keys``, ``generation``, ``candidates``, ``cache_hits``, ``elapsed_s``, ``seeding``, ``done``.
    """

    CHECKPOINT = "checkpoint.pkl"

    def __init__(self, model, data, out_dir, config: NASConfig, runner, resume: bool = False,
                 validation_fraction: float = 0.5, evaluation_samples: Optional[int] = None, verbose: bool = True,
                 on_generation=None, explain_images: int = 0, test_data=None):
        self.config, self.runner, self.verbose, self.model = config, runner, verbose, model
        self.on_generation, self.explain_images, self.resume = on_generation, int(explain_images), resume
        self.out_dir = os.path.abspath(out_dir)
        os.makedirs(self.out_dir, exist_ok=True)
        self.ckpt = os.path.join(self.out_dir, self.CHECKPOINT)
        if os.path.exists(self.ckpt) and not resume:
            raise FileExistsError(f"{self.out_dir} already holds a search checkpoint: pass resume=True (--resume) to "
                                  "continue it, or choose another output folder.")
        if resume and not os.path.exists(self.ckpt):
            raise CheckpointError(f"No checkpoint to resume from in {self.out_dir} ({self.CHECKPOINT} missing); run "
                                  "without --resume to start a new search.")
        layers = kinds.approximable_names(model)
        if not layers:
            raise ValueError(f"Model {model.name!r} has no approximable layer (Conv2D, DepthwiseConv2D or Dense): "
                             "nothing to search.")
        (x_train, y_train), (x_held, y_held) = data
        if test_data is None:   # the held-out images are split into the validation pool and the test split
            (x_pool, y_pool), (x_test, y_test) = split_data(x_held, np.asarray(y_held).reshape(-1),
                                                           validation_fraction, config.seed)
        else:                   # all of them are the validation pool; ``test_data`` reports
            (x_pool, y_pool) = np.asarray(x_held), np.asarray(y_held).reshape(-1)
            x_test, y_test = np.asarray(test_data[0]), np.asarray(test_data[1]).reshape(-1)

        def capped(x, y):   # evaluation_samples: a cap on the images each candidate is scored on
            keep = seeded_subset(evaluation_samples, config.seed + 2, np.arange(len(x)))
            return (x[keep], y[keep]) if evaluation_samples else (x, y)

        # the confirmation slice comes out of the validation images before the cap: the cap limits selection only
        (x_val, y_val), confirm = confirmation_split(x_pool, y_pool, config.confirmation_fraction, config.seed)
        x_val, y_val = capped(x_val, y_val)
        self.test_data = (x_test, y_test)
        # the settings fingerprint needs no conductance: a resumed search is checked against its checkpoint (integrity
        # and settings) before any cache of the output folder is read or anything expensive runs
        ev = Evaluator(model, eval_data=(x_val, y_val), calibration_data=np.asarray(x_train),
                       calibration_samples=config.calibration_samples, seed=config.seed)
        self.space = GenomeSpace.build(ev.layers, ev.output_layer, config.multipliers, config.max_skip,
                                       config.skip_step, config.genes, allow_skip=config.mode == "xainas",
                                       weight_mapping=config.weight_mapping)
        args = (self.space, None if test_data is not None else validation_fraction, evaluation_samples, model)
        self.fingerprint = _fingerprint(config, *args, (x_val, y_val, *confirm, x_test, y_test, ev.x_cal))
        legacy_val = capped(x_pool, y_pool)
        legacy = _fingerprint(config, *args, (*legacy_val, x_test, y_test, ev.x_cal), legacy=True)
        #: resumed from a checkpoint written before the paired bound: its rule (`LEGACY_RULE`) and its data
        self.legacy = resume and saved_fingerprint(self.ckpt) == legacy != self.fingerprint
        if self.legacy:
            config = self.config = dataclasses.replace(config, **LEGACY_RULE)
            (x_val, y_val), confirm, self.fingerprint = legacy_val, (x_val[:0], y_val[:0]), legacy
            if verbose:
                print(f"{self.ckpt} was written before the paired drop bound: the search resumes with the rule it "
                      "started with (validation accuracy >= float - max_accuracy_drop, every candidate scored in "
                      "full, no confirmation slice).")
        self._resumed = load_checkpoint(self.ckpt, self.fingerprint) if resume else None
        # conductance: the XAI-Gen seeds and the skipping order (the ALWANN-style baseline needs neither)
        self.importance = (cached_importance(model, np.asarray(x_train), y_train, layers, config,
                                             os.path.join(self.out_dir, "importance.npz"), verbose)
                           if config.mode == "xainas" else None)
        self.ev = Evaluator(model, eval_data=(x_val, y_val), calibration_data=np.asarray(x_train),
                            importance=None if self.importance is None else self.importance.neurons,
                            calibration_samples=config.calibration_samples, seed=config.seed,
                            confidence=config.confidence, max_drop=config.rejection_limit)
        # the ranges of the first candidates score the rest, also when resumed elsewhere (`calibration_file`)
        cached_calibration(self.ev, os.path.join(self.out_dir, CALIBRATION_FILE))
        self.confirm = self.ev.with_data(confirm, split="confirmation") if len(confirm[0]) else None
        self.baseline = {"validation": float(self.ev.baseline().accuracy)}
        check_resolution(len(x_val), config.max_accuracy_drop,
                         "XAI-NAS" if config.mode == "xainas" else "ALWANN-style search", confidence=config.confidence)
        self.floor = self.baseline["validation"] - config.max_accuracy_drop
        self.ref = (1.0 - self.floor, 1.0)
        self.task = prepare_task(f"{self.fingerprint}:{self.out_dir}", self.ev, model, self.space, x_val, y_val,
                                 self.out_dir, config.attack if "robustness" in config.objectives else None,
                                 config.energy_accounting, in_process=not hasattr(runner, "client"))
        self.validation_size = len(x_val)

    def close(self) -> None:
        """Releases this process's evaluation context of the search."""
        release_task(self.task)

    def _start(self) -> dict:
        """The state of a new search: initial population (XAI-Gen seeding runs first) and NSGA-II set up."""
        cfg = self.config
        refined, seeding = (xaigen_runs(self.model, self.ev, self.space, self.importance, cfg)
                            if cfg.mode == "xainas" else (None, no_seeding()))
        records, tolerance, measured = [], None, {}
        if cfg.mode == "xainas" and cfg.tolerance_seeds:
            tolerance, measured, seeding["tolerance"] = self._measure_tolerance(records, seeding["evaluations"])
        X0, seed_keys = initial_population(self.space, cfg, self.importance, refined, tolerance)
        algorithm = make_algorithm(cfg, X0)
        algorithm.setup(XAINASProblem(self.space, len(cfg.objectives)), termination=("n_gen", cfg.generations + 1),
                        seed=cfg.seed, verbose=False)
        return {"generation": 0, "algorithm": algorithm, "records": records, "hv": [],
                "seed_keys": {**measured, **seed_keys}, "candidates": len(records), "cache_hits": 0,
                "elapsed_s": 0.0, "seeding": seeding, "done": False}

    def _measure_tolerance(self, records: list, spent: int):
        """Scores every (gene, approximate multiplier) alone, on every validation image (no sequential rejection: the
        table needs point drops, also of candidates beyond the budget), into ``records`` (source ``"tolerance"``,
        generation 0) and returns the tolerance seeds, ``{key: "tolerance"}`` and a summary (`tfaxdnn.search.nas.tolerance`)."""
        from tqdm.auto import tqdm

        from tfaxdnn.search.nas.tolerance import (single_gene_genomes, table_dict, tolerance_seed_genomes,
                                                  tolerance_table)

        cfg, start = self.config, time.perf_counter()
        keys = [self.space.key(g) for g in single_gene_genomes(self.space)]
        if cfg.max_evaluations is not None and len(keys) + spent >= cfg.max_evaluations:
            raise ValueError(f"Measuring the tolerance seeds takes {len(keys)} evaluations (every gene on each "
                             f"approximate multiplier), which leaves nothing of max_evaluations="
                             f"{cfg.max_evaluations}{f' after {spent} seeding evaluations' if spent else ''}: raise "
                             "the budget or turn the tolerance seeds off (tolerance_seeds=0).")
        measured = {k: "tolerance" for k in keys}
        archive = Archive(records, self.space, cfg.objectives, self.floor, measured,
                          None if self.legacy else cfg.max_accuracy_drop)
        per_gene = len(self.space.multipliers) - 1        # one runner call per gene: workers share it, a bar moves
        for j in tqdm(range(len(self.space.genes)), desc="XAI-NAS tolerance (genes scored alone)",
                      disable=not self.verbose):
            chunk = keys[j * per_gene:(j + 1) * per_gene]
            for key, metrics in zip(chunk, self.runner(self.task.function(full=True), chunk)):
                archive.add(key, metrics, 0)
        drop, saving = tolerance_table(self.space, {k: records[archive.index[k]] for k in keys})
        seeds = tolerance_seed_genomes(self.space, drop, saving, cfg.tolerance_seeds, cfg.max_accuracy_drop)
        return seeds, measured, {"evaluations": len(keys), "time_s": time.perf_counter() - start,
                                 "seeds": [self.space.key(g) for g in seeds], "drop": table_dict(self.space, drop)}

    def _prepare(self, pop, archive: Archive, state: dict):
        """Repairs the offspring (skip-aware XAI-NAS) and cuts the generation to the remaining evaluation budget:
        the population to evaluate, or None when the budget is spent."""
        if state["generation"] and self.config.skip_aware_operators:
            X = np.rint(pop.get("X")).astype(int)
            pop.set("X", skip_bound_repair(X, archive.feasible_genomes(), self.config.repair_slack).astype(float))
        budget = self.config.max_evaluations
        if budget is None:
            return pop
        keys = [self.space.key(x) for x in np.rint(pop.get("X")).astype(int)]
        cut = archive.fitting(keys, int(budget) - len(archive) - state["seeding"]["evaluations"])
        return None if cut is None else (pop[:cut] if cut < len(keys) else pop)

    def run(self) -> NASResult:
        """Searches (or continues the checkpointed search) to the last generation or the budget, then reports."""
        from tqdm.auto import tqdm

        cfg = self.config
        start = time.perf_counter()
        if self.resume:
            state = self._resumed if self._resumed is not None else load_checkpoint(self.ckpt, self.fingerprint)
            self._resumed = None
            if self.verbose:
                print(f"Resuming {self.out_dir} after generation {state['generation'] - 1} "
                      f"({len(state['records'])} evaluations).")
        else:
            state = self._start()
        algorithm = state["algorithm"]
        archive = Archive(state["records"], self.space, cfg.objectives, self.floor, state["seed_keys"],
                          None if self.legacy else cfg.max_accuracy_drop)
        problem = algorithm.problem.connect(archive, self.runner, self.task)
        bar = tqdm(total=cfg.generations + 1, initial=state["generation"], disable=not self.verbose,
                   desc=f"{'XAI-NAS' if cfg.mode == 'xainas' else 'ALWANN-style'} generations")
        while not state["done"] and algorithm.has_next():
            pop = self._prepare(algorithm.ask(), archive, state)
            if pop is None:                                # evaluation budget spent
                state["done"] = True
                save_checkpoint(self.ckpt, state, self.fingerprint)
                break
            evaluated = len(archive)
            algorithm.evaluator.eval(problem, pop, generation=state["generation"])
            algorithm.tell(infills=pop)
            state["hv"].append(hypervolume(archive.records, self.floor, self.ref))
            state["candidates"] += len(pop)
            state["cache_hits"] += len(pop) - (len(archive) - evaluated)
            state["generation"] += 1
            state["elapsed_s"] += time.perf_counter() - start
            start = time.perf_counter()
            save_checkpoint(self.ckpt, state, self.fingerprint)
            write_evaluations_csv(self.out_dir, archive.records)
            front = pareto_front(archive.records, cfg.objectives, self.floor)
            bar.set_postfix(front=len(front), best_energy=(f"{front[0]['relative_energy']:.3f}" if front else "-"),
                            evals=len(archive), refresh=False)
            bar.update(1)
            if self.on_generation is not None:
                self.on_generation(state["generation"] - 1, {"evaluations": len(archive), "front": len(front),
                                                             "hypervolume": state["hv"][-1]})
        bar.close()
        return self._finish(state)

    def _finish(self, state: dict) -> NASResult:
        """The result: the archive's front re-evaluated on test; ``pareto.json``, plots and explanations written."""
        from tfaxdnn.search.nas.plots import save_generations_plot, save_hypervolume_plot

        cfg, records = self.config, state["records"]
        front, self.baseline["test"] = front_on_test(pareto_front(records, cfg.objectives, self.floor), self.space,
                                                     self.ev, self.model, self.test_data, cfg, self.confirm)
        answer, confirmation = answer_of(front, self.ev, self.test_data, cfg, self.confirm)
        if self.verbose and confirmation.fell_back:
            print(f"XAI-NAS answer: {confirmation.describe()}")
        selection = {"max_accuracy_drop": cfg.max_accuracy_drop, "confidence": cfg.confidence,
                     "reference": "float", "rule": "legacy accuracy floor" if self.legacy else "paired drop bound",
                     "confirmation_images": 0 if self.confirm is None else len(self.confirm.y),
                     "sequential_rejection": rejection_summary(records)}
        result = NASResult(cfg, records, front, list(state["hv"]), self.ref, dict(self.baseline), self.floor,
                           self.out_dir, state["elapsed_s"], state["candidates"],
                           dict(state.get("seeding", no_seeding())), answer, selection)
        write_pareto_json(result, self.space, state, self.validation_size, len(self.test_data[0]),
                          getattr(self.runner, "description", ""), self.fingerprint)
        save_generations_plot({cfg.mode: result}, os.path.join(self.out_dir, "generations.png"))
        save_hypervolume_plot({cfg.mode: result}, os.path.join(self.out_dir, "hypervolume.png"))
        save_explanations(answer, self.ev.build, self.model, *self.test_data, self.out_dir, self.explain_images,
                          cfg.seed)
        return result


def run_xainas(model, data, out_dir, config: Optional[NASConfig] = None, *, workers: int = 0,
               scheduler: Optional[str] = None, resume: bool = False, validation_fraction: float = 0.5,
               evaluation_samples: Optional[int] = None, runner=None, on_generation=None,
               verbose: bool = True, explain_images: int = 4, test_data=None) -> NASResult:
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
        validation_fraction: share of the held-out images used for selection (ignored with ``test_data``).
        evaluation_samples: cap on the validation images (faster candidates; the test split is untouched).
        runner: an existing runner (`tfaxdnn.search.runners`: ``runner(f, X) -> list``; shared by
            `compare_with_alwann`); not closed here.
        on_generation: called as ``f(generation, summary)`` after each generation's checkpoint.
        explain_images: test images in ``explanations.png`` (tf-explain maps, float vs the lowest-energy feasible
            front plan; 0: none).
        test_data: ``(x, y)`` held-out test images to report on (e.g. the whole test set of a model trained on a
            reference split, `tfaxdnn.data.reference_split`); then all of ``data``'s second pair is the validation
            pool (its confirmation slice included) and nothing is split off it.
    """
    from tfaxdnn.search.runners import make_runner

    config = config or NASConfig()
    own = runner is None
    runner = runner or make_runner(workers, scheduler)
    try:
        search = NASSearch(model, data, out_dir, config, runner, resume, validation_fraction, evaluation_samples,
                           verbose, on_generation, explain_images, test_data)
        try:
            return search.run()
        finally:
            search.close()
    finally:
        if own:
            runner.close()
