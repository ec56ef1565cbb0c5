"""Which path an approximate layer's products take: the compiled LUT op (TensorFlow only; CPU kernels) or the
low-rank GEMMs of `tfaxdnn.ops.lowrank` (any Keras backend, CPU or GPU). Both give the same bits, so the choice is
one of speed and availability, never of results, and it is not saved with a model.

The setting, first that applies: the layer's ``compute_path`` attribute (``ApproxConv2D(...,
compute_path="lowrank")`` or ``layer.compute_path = "lut"``; None follows the rest), `set_path` / `use_path`, the
environment variable ``TFAXDNN_PATH``, else ``"auto"``:

- ``"lut"``: the LUT op (TensorFlow backend only; a ValueError elsewhere).
- ``"lowrank"``: the low-rank GEMMs; a ValueError naming the table and its error rank when the rank exceeds
  `max_rank` or no exact form exists (JAX without ``jax_enable_x64`` for tables that need float64).
- ``"auto"``: on TensorFlow with no GPU, the faster of the two, measured once per layer geometry, batch bucket
  (`batch_bucket`: 1, 2-8, 9-64, 65-512, more; a trace of unknown batch size counts as 2-8) and table form (rank,
  denominator, bounds: tables of one form run equally fast) at the layer's first call: seven timed calls of each,
  alternating, on random codes of the layer's shapes at the bucket's largest batch (at most 512) after one warm-up
  each (about 0.1-0.5 s per new geometry; `choices` lists the decisions and times); the low-rank path is taken only
  where its best time is below `LOWRANK_MARGIN` (0.8) of the LUT op's: which path is faster can depend on the
  batch size, and at batch 1 both calls are mostly call overhead (0.2-1 ms each on a 2-core CPU, where a plain
  comparison of three calls chose the low-rank path for one ResNet-8 layer and made the whole model 1.4x slower).
  Where the low-rank form is unavailable, the LUT op. On TensorFlow with a GPU, the low-rank path (the LUT op,
  placed on the CPU, where its rank exceeds the limit). On other backends, the low-rank path, or the ValueError
  above.

`max_rank` (default 16, environment variable ``TFAXDNN_MAX_RANK``, `set_max_rank`) bounds the rank the low-rank path
accepts: a rank-r table costs ``r + 1`` GEMM passes (all 26 signed EvoApprox8b tables have rank <= 4; unsigned
ones up to 228).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Callable, Dict, Optional, Tuple

from tfaxdnn.ops import backend

__all__ = ["PATHS", "set_path", "get_path", "use_path", "set_max_rank", "max_rank", "choices", "clear_choices",
           "choose", "check_path", "batch_bucket", "BATCH_BUCKETS", "best_times", "LOWRANK_MARGIN"]

PATHS = ("auto", "lut", "lowrank")
_DEFAULT_MAX_RANK = 16
_state = {"path": None, "max_rank": None}
_CHOICES: Dict[tuple, Tuple[str, float, float]] = {}


def check_path(path, what: str = "path"):
    """``path`` if it is one of `PATHS` (or None), else a ValueError."""
    if path is not None and path not in PATHS:
        raise ValueError(f"`{what}` must be one of {list(PATHS)} (or None). Received: {what}={path!r}")
    return path


def get_path() -> str:
    """The process-wide setting (`set_path`, else ``TFAXDNN_PATH``, else ``"auto"``)."""
    if _state["path"] is not None:
        return _state["path"]
    return check_path(os.environ.get("TFAXDNN_PATH") or "auto", "TFAXDNN_PATH")


def set_path(path: Optional[str]) -> None:
    """Sets the process-wide path (``"auto"``, ``"lut"``, ``"lowrank"``; None: back to ``TFAXDNN_PATH``). Models
    already traced (``model.predict``, ``jax.jit``) keep the path they were traced with."""
    _state["path"] = check_path(path)


@contextlib.contextmanager
def use_path(path: str):
    """``with use_path("lowrank"): ...``: `set_path` for the block."""
    before = _state["path"]
    set_path(path)
    try:
        yield
    finally:
        _state["path"] = before


def max_rank() -> int:
    """The largest error rank the low-rank path accepts (`set_max_rank`, else ``TFAXDNN_MAX_RANK``, else 16)."""
    if _state["max_rank"] is not None:
        return _state["max_rank"]
    raw = os.environ.get("TFAXDNN_MAX_RANK") or str(_DEFAULT_MAX_RANK)
    if not raw.isdigit():
        raise ValueError(f"TFAXDNN_MAX_RANK must be a non-negative integer. Received: {raw!r}")
    return int(raw)


def set_max_rank(rank: Optional[int]) -> None:
    """Sets `max_rank` (None: back to ``TFAXDNN_MAX_RANK`` or 16)."""
    if rank is not None and (not isinstance(rank, int) or rank < 0):
        raise ValueError(f"`rank` must be a non-negative int or None. Received: rank={rank!r}")
    _state["max_rank"] = rank


#: upper ends of the batch buckets of ``"auto"`` (each measured at its upper end); larger batches: the last one
BATCH_BUCKETS = (1, 8, 64, 512)


def batch_bucket(batch: Optional[int]) -> int:
    """The batch size ``"auto"`` measures a call of batch ``batch`` at: the upper end of its bucket in
    `BATCH_BUCKETS` (None, a trace of unknown batch size: 8; above the last: the last)."""
    if batch is None:
        return BATCH_BUCKETS[1]
    for top in BATCH_BUCKETS:
        if int(batch) <= top:
            return top
    return BATCH_BUCKETS[-1]


def choices() -> Dict[tuple, Tuple[str, float, float]]:
    """The ``"auto"`` decisions made in this process: ``{key: (path, seconds LUT, seconds low-rank)}``."""
    return dict(_CHOICES)


def clear_choices() -> None:
    _CHOICES.clear()


def choose(layer, key: Callable[[], tuple], lowrank_problem: Callable[[], Optional[str]],
           measure: Callable[[], Tuple[float, float]]) -> str:
    """``"lut"`` or ``"lowrank"`` for one call of ``layer`` (see the module docstring).

    Args:
        key: the geometry and table form (the cache key of ``"auto"`` measurements), called after
            ``lowrank_problem``.
        lowrank_problem: why the low-rank path cannot run this layer here (None: it can).
        measure: ``(seconds LUT, seconds low-rank)`` of one call each (TensorFlow on a CPU only).
    """
    requested = check_path(getattr(layer, "compute_path", None), "compute_path") or get_path()
    b = backend.name()
    if requested == "lut":
        if b != "tensorflow":
            raise ValueError(f"Layer '{layer.name}': the 'lut' path needs the TensorFlow backend (the LUT op is a "
                             f"TensorFlow custom op); this is the {b} backend: use 'lowrank' or 'auto'.")
        return "lut"
    problem = lowrank_problem()
    if requested == "lowrank" or b != "tensorflow":
        if problem:
            raise ValueError(f"Layer '{layer.name}' ({b} backend): {problem}")
        return "lowrank"
    if problem:
        return "lut"
    if backend.on_gpu():
        return "lowrank"
    k = key()
    if k not in _CHOICES:
        t_lut, t_lowrank = measure()
        _CHOICES[k] = ("lowrank" if t_lowrank < LOWRANK_MARGIN * t_lut else "lut", t_lut, t_lowrank)
    return _CHOICES[k][0]


def rank_problem(rank: int, table: str) -> Optional[str]:
    """The message for a table whose rank exceeds `max_rank`, else None."""
    limit = max_rank()
    if rank <= limit:
        return None
    return (f"multiplier '{table}' has error rank {rank}, above the low-rank path's limit of {limit} (a rank-r table "
            f"costs r + 1 GEMM passes). Raise the limit with tfaxdnn.layers.set_max_rank({rank}) or "
            f"TFAXDNN_MAX_RANK={rank}, or run the model on the TensorFlow backend, whose LUT op takes any table.")


#: the low-rank path must be at least this much faster (best time ratio) for "auto" to take it
LOWRANK_MARGIN = 0.8


def best_times(*runs: Callable[[], object], reps: int = 7) -> Tuple[float, ...]:
    """Seconds of the fastest of ``reps`` calls of each of ``runs``, the calls alternating, after one warm-up call
    each (which may trace)."""
    for run in runs:
        run()
    best = [float("inf")] * len(runs)
    for _ in range(reps):
        for i, run in enumerate(runs):
            t0 = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - t0)
    return tuple(best)
