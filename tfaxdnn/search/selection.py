"""Which images a search selects on and which it reports on: a seeded split of evaluation data into validation
and test parts, and seeded subsets. A search never selects on the test part.

Also here, the one place of the statistics of a validation split: whether it has enough images to resolve a
search's accuracy budget (`check_resolution`), and enough batches for a per-batch accuracy signal
(`check_signal_batches`). Both only warn (`ValidationSizeWarning`); nothing a search selects changes.

**Resolving a budget.** Every search compares a candidate with its reference model (the float model; the exact
8-bit model for the mapping search) on the **same** images and accepts it when the upper ``confidence`` bound of the
paired drop ``(n10 - n01) / n`` is at most the budget (`tfaxdnn.search.statistics.drop_upper_bound`, Tango's score
bound; ``n10``: images the reference gets right and the candidate wrong, ``n01`` the reverse). A split of ``n``
images *resolves* a budget ``b`` when a search there can accept a candidate that spends half of it: the reference
candidate has an observed paired drop of ``RESOLUTION_SPENT b`` (half the budget) and disagrees with the reference
on ``RESOLUTION_DISCORDANCE b`` (4 b) of the images, i.e. ``n10 - n01 = b n / 2`` and ``n10 + n01 = 4 b n``
(rounded to whole images, `paired_resolution`), and the split resolves ``b`` when that candidate's bound is still
within ``b``. Why this candidate:

* the bound's width is set by the discordant images, not by the accuracy: it is about ``z sqrt((n10 + n01) / n) /
  sqrt(n)``, so it grows with ``sqrt(discordance / n)``. Approximate models do not only lose images: they disagree
  with the float model on several images for each image they lose net (they fix some of the reference's mistakes
  and break more of its right answers), so a discordance of a few times the budget is what a candidate near the
  budget looks like;
* a bound that needs more than half the budget as margin leaves the search only candidates that barely use the
  budget: it can never accept a plan that spends most of it. We measured it on a ResNet-8 with 3,750 selection
  images: the bound needed about half of a 1-point budget as margin above the observed drop. Half the budget spent,
  half left as margin, is the least a split must allow;
* with the reference candidate the rule reads about ``b / 2 + z sqrt(4 b / n) <= b``, so a split resolves ``b``
  from about ``16 z² / b`` images (`images_to_resolve`; 4,330 for 1 point at 95 %, z = 1.645; Tango's bound and the
  rounding to whole images make it 4,555 images for 1 point, 2,275 for 2 points, 9,113 for half a point). Unlike
  the rule for two independent accuracies used before the searches compared paired (2 standard errors,
  ``sqrt(2 p (1 - p) / n)``), it does not depend on the accuracy, only on how many images the models disagree on,
  and it is stated at the search's own confidence.

With ``confidence=None`` a search selects on the point estimate of the drop (the rule of searches before the paired
bound): the point estimate is all it uses, and a candidate that spends half the budget always meets it, so no split
is too small by this rule (`check_resolution` returns None; the point estimate's noise is not guarded against).
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Optional

import numpy as np

from tfaxdnn.search.statistics import DEFAULT_CONFIDENCE, TOLERANCE, _z_quantile, check_confidence, drop_upper_bound

__all__ = ["split_data", "seeded_subset", "ValidationSizeWarning", "RESOLUTION_DISCORDANCE", "RESOLUTION_SPENT",
           "MIN_SIGNAL_BATCHES", "paired_resolution", "images_to_resolve", "check_resolution",
           "check_signal_batches", "confirmation_split"]

#: The discordance of the candidate a split must resolve, in budgets: it disagrees with the reference model on
#: ``RESOLUTION_DISCORDANCE * budget`` of the images (``n10 + n01``). Approximate models disagree with the float model
#: on several images for each image they lose net; 4 is the default (see the module docstring).
RESOLUTION_DISCORDANCE = 4.0
#: The share of the budget that candidate spends: its observed paired drop ``(n10 - n01) / n`` is
#: ``RESOLUTION_SPENT * budget``; the rest of the budget is the margin its upper bound may use (0.5: half and half).
RESOLUTION_SPENT = 0.5
#: Fewest batches a per-batch accuracy signal needs (the STL queries of the mapping search): "X % of the batches"
#: then moves in steps of at most 10 % (the paper's X values are 20 % apart) and "every batch" / the mean see at
#: least 10 samples.
MIN_SIGNAL_BATCHES = 10
_SCAN = 1 << 16       # split sizes `images_to_resolve` scores at once


class ValidationSizeWarning(UserWarning):
    """A search's validation split is too small for what the search measures on it (the search still runs)."""


def _images(n) -> int:
    """``n`` as a positive whole number of images; ValueError naming it otherwise."""
    if isinstance(n, bool) or not isinstance(n, numbers.Real) or not float(n).is_integer() or n < 1:
        raise ValueError(f"`n` must be a positive whole number of images. Received: n={n!r}")
    return int(n)


def _budget(budget) -> float:
    b = float(budget)
    if not b > 0.0:
        raise ValueError(f"`budget` must be a positive accuracy drop (a fraction, 0.01 = 1 point). Received: "
                         f"budget={budget!r}")
    return b


def _reference_counts(n, budget: float):
    """``(n10, n01)`` of the candidate a split of ``n`` images (an int or an array of them) must resolve at
    ``budget``: a net loss of ``round(RESOLUTION_SPENT budget n)`` images and about ``RESOLUTION_DISCORDANCE budget n``
    discordant images in all (``n01 = round((RESOLUTION_DISCORDANCE - RESOLUTION_SPENT) / 2 budget n)``,
    ``n10 = n01 + net``), capped at ``n`` images."""
    n = np.asarray(n, dtype=float)
    scale = min(float(budget), 1.0) * n
    net = np.minimum(np.round(RESOLUTION_SPENT * scale), n)
    n01 = np.minimum(np.round(0.5 * (RESOLUTION_DISCORDANCE - RESOLUTION_SPENT) * scale), np.floor((n - net) / 2))
    return n01 + net, n01


def paired_resolution(n: int, budget: float, confidence: Optional[float] = DEFAULT_CONFIDENCE) -> float:
    """The upper ``confidence`` bound (a fraction) of the paired drop of the candidate that ``n`` images must
    resolve at ``budget`` (a fraction, 0.01 = 1 point): observed drop ``RESOLUTION_SPENT * budget``, discordant on
    ``RESOLUTION_DISCORDANCE * budget`` of the images, both rounded to whole images (`_reference_counts`; see the
    module docstring). The split resolves ``budget`` when this is at most ``budget``. It falls as images are added,
    up to the rounding to whole images (exactly where the counts need no rounding). ``confidence=None``: the point
    estimate of that candidate's drop."""
    n, budget = _images(n), _budget(budget)
    n10, n01 = _reference_counts(n, budget)
    return float(drop_upper_bound(n10, n01, n, check_confidence(confidence)))


def _resolves(n, budget: float, confidence: Optional[float]):
    """Whether ``n`` images (an int or an array) resolve ``budget`` (`paired_resolution` <= ``budget``)."""
    n10, n01 = _reference_counts(n, budget)
    return drop_upper_bound(n10, n01, np.asarray(n, dtype=float), confidence) <= budget + TOLERANCE


def images_to_resolve(budget: float, confidence: Optional[float] = DEFAULT_CONFIDENCE) -> int:
    """The fewest images ``n`` from which on every split resolves ``budget``: ``paired_resolution(m, budget,
    confidence) <= budget`` for all ``m >= n``, and not for ``n - 1``. About ``RESOLUTION_DISCORDANCE z² / ((1 -
    RESOLUTION_SPENT)² budget)`` = ``16 z² / budget`` (4,330 for 1 point at 95 %, z = 1.645): 4,555 images for 1
    point, 2,275 for 2 points, 9,113 for half a point (4,445 for 1 point with counts that need no rounding).

    The bound falls with ``n`` only up to the rounding to whole images: each image the reference candidate's net loss
    gains raises it by ``1 / n``, so just below the answer some sizes resolve the budget and others do not (1 point at
    95 %: the first size that resolves it is 4,281, the last that does not 4,554). The answer is the size after the
    last one that does not: found by doubling from the estimate until a size resolves the budget, then scoring every
    size up to four times that one at once (vectorised); beyond twice the estimate the bound's margin (about 0.15
    budget) is far larger than what rounding moves it."""
    budget, confidence = _budget(budget), check_confidence(confidence)
    z = 0.0 if confidence is None else _z_quantile(confidence)
    # b s + z sqrt(k b / n) <= b  <=>  n >= k z² / ((1 - s)² b): where the search starts
    first = max(1, int(math.ceil(RESOLUTION_DISCORDANCE * z * z / ((1.0 - RESOLUTION_SPENT) ** 2 * min(budget, 1.0)))))
    while not _resolves(first, budget, confidence):
        first *= 2
    last_short = 0                                               # the largest size that does not resolve the budget
    for start in range(1, 4 * first + 1, _SCAN):
        sizes = np.arange(start, min(start + _SCAN, 4 * first + 1))
        short = np.flatnonzero(~_resolves(sizes, budget, confidence))
        if short.size:
            last_short = int(sizes[short[-1]])
    return last_short + 1


def check_resolution(n: int, budget: float, search: str = "The search", split: str = "validation split",
                     confidence: Optional[float] = DEFAULT_CONFIDENCE) -> Optional[str]:
    """Warns (`ValidationSizeWarning`) when ``n`` images cannot resolve the accuracy ``budget`` (a fraction, 0.02 =
    2 points) of a search that accepts a candidate when the upper ``confidence`` bound of its paired drop is within
    the budget: when a candidate spending half the budget (`paired_resolution`, see the module docstring) would
    still be rejected. Returns the message, or None: resolved; a budget of 0 or less (nothing to resolve); or
    ``confidence=None``, a search that selects on the point estimate of the drop (the point estimate is all it uses,
    and a candidate spending half the budget always meets it). ValueError for ``n`` not a positive whole number."""
    n = _images(n)
    confidence = check_confidence(confidence)
    if budget <= 0 or confidence is None or _resolves(n, budget, confidence):
        return None
    bound = paired_resolution(n, budget, confidence)
    n10, n01 = _reference_counts(n, budget)
    need = images_to_resolve(budget, confidence)
    points = 100.0 * float(budget)
    message = (f"{search}: the {split} of {n} images cannot resolve the accuracy budget of {points:g} "
               f"point{'' if points == 1 else 's'} at {100 * confidence:g} % confidence. The comparison is paired "
               "(the upper bound of the drop (n10 - n01) / n against the reference model on the same images must be "
               f"within the budget): a candidate that spends half the budget (a drop of {100 * (n10 - n01) / n:.2f} "
               f"points) and disagrees with the reference on {int(n10 + n01)} of the {n} images "
               f"({RESOLUTION_DISCORDANCE:g} times the budget) would have an upper bound of {100 * bound:.2f} points, "
               f"above the budget, so the search could not accept it; about {need} images would resolve it. The "
               "search there can only accept candidates that spend less than half its budget: use more validation "
               "images.")
    warnings.warn(message, ValidationSizeWarning, stacklevel=2)
    return message


def check_signal_batches(n_batches: int, batch_size: int, search: str = "The search",
                         minimum: int = MIN_SIGNAL_BATCHES) -> Optional[str]:
    """Warns (`ValidationSizeWarning`) when a per-batch accuracy signal has fewer than ``minimum`` batches (see
    `MIN_SIGNAL_BATCHES`); returns the message (None: enough)."""
    if n_batches >= minimum:
        return None
    message = (f"{search}: the per-batch accuracy signal has only {n_batches} batch(es) of {batch_size} images; "
               f"queries over batches (\"X % of the batches\", \"every batch\") need at least {minimum} batches "
               f"({minimum * batch_size} validation images) to say more than the overall accuracy does: use more "
               "validation images.")
    warnings.warn(message, ValidationSizeWarning, stacklevel=2)
    return message


def split_data(x, y, validation_fraction: float, seed: int):
    """``((x_val, y_val), (x_test, y_test))``: a seeded random split of evaluation data into the part a search
    selects on and the part its result is reported on."""
    x, y = np.asarray(x), np.asarray(y)
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"`validation_fraction` must lie in (0, 1). Received: {validation_fraction!r}")
    n_val = int(round(len(x) * validation_fraction))
    if n_val < 1 or n_val >= len(x):
        raise ValueError(f"Cannot split {len(x)} evaluation images at validation_fraction={validation_fraction}: "
                         "both parts need at least one image.")
    order = np.random.default_rng(seed).permutation(len(x))
    val, test = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (x[val], y[val]), (x[test], y[test])


def confirmation_split(x, y, fraction: float, seed: int):
    """``((x_select, y_select), (x_confirm, y_confirm))``: the validation images a search selects on and its
    confirmation slice (``fraction`` of them, seeded; `tfaxdnn.search.confirmation`). ``fraction`` 0: all images
    select, the slice is empty. The slice keeps at least one image, the selection part too."""
    x, y = np.asarray(x), np.asarray(y)
    if not fraction:
        return (x, y), (x[:0], y[:0])
    if len(x) < 2:
        raise ValueError(f"Cannot hold out a confirmation slice of {len(x)} validation image(s): pass more validation "
                         "images or confirmation_fraction=0.")
    n_conf = min(max(1, int(round(len(x) * float(fraction)))), len(x) - 1)
    order = np.random.default_rng([int(seed), 7]).permutation(len(x))
    select, confirm = np.sort(order[n_conf:]), np.sort(order[:n_conf])
    return (x[select], y[select]), (x[confirm], y[confirm])


def seeded_subset(n: Optional[int], seed: int, *arrays):
    """The same ``n`` seeded rows (sorted indices) of each array, all rows when ``n`` is None or too large; one array
    in -> one array out."""
    if n is not None and n < len(arrays[0]):
        idx = np.sort(np.random.default_rng(seed).choice(len(arrays[0]), n, replace=False))
        arrays = tuple(a[idx] for a in arrays)
    return arrays if len(arrays) > 1 else arrays[0]
