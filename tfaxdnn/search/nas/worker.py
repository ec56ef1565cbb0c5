"""Evaluating one candidate, in this process or in a Dask worker (`evaluate_candidate`).

A `CandidateTask` is what the runner ships with every candidate: small and picklable, it names what a process needs to
build once per search (an evaluator spec, the robustness images) under a ``token``. Each process keeps what it built
in a process-global context cache keyed by that token, so a worker rebuilds the evaluator once per search, not once
per candidate; an in-process search puts its live evaluator there itself (`share_context`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
import time
from typing import Callable, Dict, Optional

import numpy as np

from tfaxdnn.search.evaluator import Evaluator
from tfaxdnn.search.nas.genome import GenomeSpace
from tfaxdnn.search.nas.robustness import AttackConfig

__all__ = ["CandidateTask", "evaluate_candidate", "prepare_task", "release_task", "share_context"]


@dataclasses.dataclass(frozen=True)
class CandidateTask:
    """What a worker needs: an evaluator spec (rebuilt once per worker process), the genome space and the attack."""

    token: str
    spec: object
    space: GenomeSpace
    robustness_path: Optional[str] = None
    attack: Optional[AttackConfig] = None
    accounting: str = "system"

    def function(self, full: bool = False) -> Callable[[str], dict]:
        """``f(key) = evaluate_candidate(self, key, full)``: what a runner maps over genome keys (pickles for
        Dask)."""
        return functools.partial(evaluate_candidate, self, full=full)


_CONTEXTS: Dict[str, dict] = {}
_LOCK = threading.Lock()


def _load_robustness(path: Optional[str]) -> Optional[dict]:
    if not path:
        return None
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def share_context(task: CandidateTask, ev: Evaluator) -> None:
    """Registers the live evaluator ``ev`` for ``task`` in this process (in-process runs build nothing)."""
    with _LOCK:
        _CONTEXTS[task.token] = {"ev": ev, "rob": _load_robustness(task.robustness_path), "built": time.time()}


def release_task(task: CandidateTask) -> None:
    """Drops this process's context of ``task`` (the end of a search)."""
    with _LOCK:
        _CONTEXTS.pop(task.token, None)


def _context(task: CandidateTask) -> dict:
    with _LOCK:
        ctx = _CONTEXTS.get(task.token)
        if ctx is None:
            ctx = _CONTEXTS[task.token] = {"ev": Evaluator.from_spec(task.spec),
                                           "rob": _load_robustness(task.robustness_path), "built": time.time()}
    return ctx


def evaluate_candidate(task: CandidateTask, key: str, full: bool = False) -> dict:
    """Metrics of one genome (``key`` = `GenomeSpace.key`) on the validation split; ``full``: on every image, without
    sequential rejection (a point estimate of the drop even where the bound breaks the budget)."""
    start = time.perf_counter()
    ctx = _context(task)
    plan = task.space.to_plan(task.space.from_key(key))
    m = ctx["ev"](plan, max_drop=None) if full else ctx["ev"](plan)
    row = {"accuracy": float(m.accuracy), "energy_j": float(m.energy_j),
           "relative_energy": float(1.0 / m.reductions[task.accounting]),       # the search's accounting
           **{f"energy_reduction_{a}": float(v) for a, v in m.reductions.items()},
           "latency_s": float(m.latency_s), "memory_bytes": int(m.memory_bytes),
           # the paired drop against the float model (validation) and its bound; a rejected candidate's accuracy is
           # the most it could have reached and its bound the least it could have had (sequential rejection)
           "drop": None if m.drop is None else float(m.drop.drop), "drop_upper": float(m.drop_upper),
           "rejected": bool(m.rejected), "images_scored": int(m.n_scored), "images": int(m.n),
           "inference_s": float(m.inference_s), "saved_s": float(m.saved_s)}
    if task.attack is not None and not m.rejected:   # a rejected candidate is infeasible: no attack
        from tfaxdnn.search.nas.robustness import robustness_metrics

        rob = ctx["rob"]
        row.update(robustness_metrics(ctx["ev"].build(plan), rob["x"], rob["y"], task.attack, rob["x_transfer"]))
    row["wall_time_s"] = time.perf_counter() - start
    row["worker_pid"] = os.getpid()
    return row


def prepare_task(token: str, ev: Evaluator, model, space: GenomeSpace, x_val, y_val, out_dir: str,
                 attack: Optional[AttackConfig], accounting: str, in_process: bool) -> CandidateTask:
    """The task of one search: with ``attack``, the float model's transfer examples of the first ``attack.samples``
    validation images in ``out_dir/robustness.npz``; in-process, ``ev`` itself is shared (`share_context`), else it
    is written as a spec to ``out_dir/evaluator/`` for the workers to rebuild."""
    rob_path = None
    if attack is not None:
        from tfaxdnn.search.nas.robustness import attack as craft

        n = min(attack.samples, len(x_val))
        rob_path = os.path.join(out_dir, "robustness.npz")
        np.savez(rob_path, x=x_val[:n], y=y_val[:n], x_transfer=craft(model, x_val[:n], y_val[:n], attack))
    spec = None if in_process else ev.to_spec(os.path.join(out_dir, "evaluator"))
    task = CandidateTask(token, spec, space, rob_path, attack, accounting)
    if in_process:
        share_context(task, ev)
    return task
