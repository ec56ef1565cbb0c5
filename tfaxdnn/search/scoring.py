"""Scoring one model on a split, slice by slice in a fixed order, with sequential rejection (`score_images`): per-image
correctness of the images scored, and whether scoring stopped because the candidate provably breaks the constraint
(`tfaxdnn.search.statistics.provably_exceeds`, which also says why that never rejects a candidate that would meet
it).

The order, with a constraint to check: first the images the reference model gets wrong, then those it gets right,
each in the split's order (fixed per split: it depends on the reference alone). Rejection needs the most favourable
completion of the images left to break the limit too, and every image left that the reference gets wrong is one the
candidate might still win; scored first, they are settled early, and from then on a candidate is rejected as soon as
its net loss proves the limit broken. (Measured on a LeNet-5 trained on MNIST, 95.3 %, ALWANN-style search of 60
candidates on 3,750 validation images, 1-point budget: in the split's own order 6 candidates were rejected and 1.7 %
of the images went unscored, in this order 11 and 4.6 %.) Without a constraint, and for every candidate scored in
full, correctness comes back in the split's order."""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Optional

import numpy as np

from tfaxdnn.core.evaluation import input_range_problem, predict_labels
from tfaxdnn.search.statistics import provably_exceeds

__all__ = ["Scored", "score_images", "SLICE"]

#: Images per slice: one forward pass, then (with a constraint) one rejection check. Equal to the per-batch signal's
#: batch (`tfaxdnn.search.evaluator.SIGNAL_BATCH`), so a slice is one batch of the signal.
SLICE = 100


@dataclasses.dataclass
class Scored:
    """What `score_images` measured.

    Attributes:
        correct: per-image correctness of the images scored, in scoring order (``index``).
        index: the split's indices of the images scored, in scoring order (every image, in the split's order, unless
            rejected).
        n: images in the split; rejected: scoring stopped early (the rest was never scored).
        best_case_upper: for a rejected candidate, the lowest drop bound it could still have reached (> the limit).
        inference_s: seconds of inference; saved_s: estimated seconds not spent (images left x this candidate's own
            time per image).
    """

    correct: np.ndarray
    index: np.ndarray
    n: int
    rejected: bool = False
    best_case_upper: Optional[float] = None
    inference_s: float = 0.0
    saved_s: float = 0.0

    @property
    def n_scored(self) -> int:
        return int(self.correct.size)

    @property
    def accuracy(self) -> float:
        """Accuracy on the split; for a rejected candidate the highest it could still have reached (every image
        left counted right): an upper bound, not an estimate."""
        return float((self.correct.sum() + (self.n - self.n_scored)) / self.n)

    def batch_accuracies(self, batch: int) -> np.ndarray:
        """Accuracy of each full ``batch`` of consecutive images of the split (none for a rejected candidate: its
        images scored are not the split's batches)."""
        full = 0 if self.rejected else self.n_scored // batch * batch
        return self.correct[:full].reshape(-1, batch).mean(axis=1) if full else np.zeros(0)


def score_images(model, x, y, reference_correct=None, max_drop: Optional[float] = None, confidence=0.95,
                 check_inputs: bool = False, slice_size: int = SLICE) -> Scored:
    """Scores ``model`` on ``(x, y)`` (integer labels) slice by slice; with ``reference_correct`` (the reference
    model's per-image correctness on the same images) and ``max_drop``, stops as soon as no completion can meet
    ``upper bound of the paired drop <= max_drop`` at ``confidence``. ``check_inputs``: warn as
    `tfaxdnn.core.evaluation.evaluate` does when ``x`` misses the calibrated input range."""
    n = len(y)
    if check_inputs:
        problem = input_range_problem(model, x)
        if problem:
            warnings.warn(problem + ".", UserWarning, stacklevel=3)
    check = reference_correct is not None and max_drop is not None
    if check:   # the reference's mistakes first (module docstring)
        ref = np.asarray(reference_correct, dtype=bool)
        order = np.concatenate([np.flatnonzero(~ref), np.flatnonzero(ref)])
        n_wrong = int(np.sum(~ref))
    else:
        order = np.arange(n)
    parts, n10, n01, done = [], 0, 0, 0
    start = time.perf_counter()
    for i in range(0, n, slice_size):
        idx = order[i:i + slice_size]
        ok = predict_labels(model, x[idx] if check else x[i:i + slice_size], batch_size=slice_size) == y[idx]
        parts.append(ok)
        done = i + ok.size
        if not check or done >= n:
            continue
        r = ref[idx]
        n10 += int(np.sum(r & ~ok))
        n01 += int(np.sum(~r & ok))
        rejected, best = provably_exceeds(n10, n01, max(n_wrong - done, 0), n, max_drop, confidence)
        if rejected:
            elapsed = time.perf_counter() - start
            return Scored(np.concatenate(parts), order[:done], n, True, best, elapsed, elapsed * (n - done) / done)
    scored = np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
    correct = np.empty(n, dtype=bool)
    correct[order] = scored
    return Scored(correct, np.arange(n), n, inference_s=time.perf_counter() - start)
