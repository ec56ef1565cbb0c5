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
full, correctness comes back in the split's order.

Slices: a forward pass of a bigger batch costs less per image (approximate models on the shared 2-core CPU, ms per image
at batch 100 / 800: LeNet-5 0.28-0.52 / 0.13-0.16; ResNet-8 2.1 / 1.7 with the cores busy, 1.42 / 0.83 at batch 500 when
idle), while every image scored after the point where a candidate could have been rejected is wasted. Without a
constraint every slice is `MAX_SLICE` images. With one, the next slice is half the images after which the candidate
would be rejected if it went on as it has so far (its loss rate on the reference-right images and its win rate on the
reference-wrong ones, each smoothed; `next_slice`), at least `SLICE` and at most `MAX_SLICE` images: a candidate that
agrees with the reference is scored in large batches, one heading for rejection in slices that shrink towards the point
where it is rejected. Only the batch sizes, and so how far past the point of proof a rejected candidate is scored,
depend on the slices: which images are scored, in which order, and the decision do not (a candidate proved to break the
limit in the last slice is scored to the end: its full bound breaks the limit too), and the approximate layers give the
same bits at any batch size.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Optional

import numpy as np

from tfaxdnn.core.evaluation import input_range_problem, predict_labels
from tfaxdnn.search.statistics import provably_exceeds

__all__ = ["Scored", "score_images", "SLICE", "MAX_SLICE", "next_slice"]

#: The smallest slice (one forward pass, then, with a constraint, one rejection check); also the per-batch signal's
#: batch (`tfaxdnn.search.evaluator.SIGNAL_BATCH`).
SLICE = 100
#: The largest slice (module docstring).
MAX_SLICE = 800


def next_slice(n10: int, n01: int, right_done: int, wrong_done: int, wrong_left: int, n: int, done: int,
               max_drop: float, confidence, smallest: int = SLICE, largest: int = MAX_SLICE, share: float = 0.5) -> int:
    """Images of the next slice of a candidate scored on ``done`` of ``n`` images (``right_done`` / ``wrong_done`` of
    them reference-right / reference-wrong, with ``n10`` losses and ``n01`` wins; the next ``wrong_left`` images are
    reference-wrong): ``share`` of the images after which it would be rejected going on at its smoothed rates
    (losses ``(n10 + 1) / (right_done + 2)`` per reference-right image, wins ``(n01 + 1) / (wrong_done + 2)`` per
    reference-wrong one), within ``[smallest, largest]``; ``largest`` when it would not be rejected. Along that path
    the best-case bound only rises (`provably_exceeds`), so a bisection finds the point."""
    smallest, largest = int(smallest), max(int(smallest), int(largest))
    p, q = (n10 + 1) / (right_done + 2), (n01 + 1) / (wrong_done + 2)
    top = max(1, min(int(largest / share), n - done))

    def rejected_after(j):
        w = min(j, wrong_left)
        return provably_exceeds(int(round(n10 + p * (j - w))), int(round(n01 + q * w)), wrong_left - w, n, max_drop,
                                confidence)[0]

    if not rejected_after(top):
        return largest
    lo, hi = 1, top
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if rejected_after(mid) else (mid + 1, hi)
    return min(max(int(np.ceil(share * lo)), smallest), largest)


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
                 check_inputs: bool = False, slice_size: int = SLICE, max_slice: int = MAX_SLICE) -> Scored:
    """Scores ``model`` on ``(x, y)`` (integer labels) slice by slice; with ``reference_correct`` (the reference
    model's per-image correctness on the same images) and ``max_drop``, stops as soon as no completion can meet
    ``upper bound of the paired drop <= max_drop`` at ``confidence``. ``check_inputs``: warn as
    `tfaxdnn.core.evaluation.evaluate` does when ``x`` misses the calibrated input range. Slices (module docstring):
    ``slice_size`` to ``max_slice`` images with a constraint, ``max_slice`` without one (``max_slice=slice_size``:
    fixed slices of ``slice_size``)."""
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
    largest = max(int(max_slice), int(slice_size))
    start = time.perf_counter()
    while done < n:
        size = largest if not check else next_slice(
            n10, n01, max(done - n_wrong, 0), min(done, n_wrong), max(n_wrong - done, 0), n, done, max_drop,
            confidence, slice_size, largest)
        i, stop = done, min(done + size, n)
        idx = order[i:stop]
        ok = predict_labels(model, x[idx] if check else x[i:stop], batch_size=stop - i) == y[idx]
        parts.append(ok)
        done = stop
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
