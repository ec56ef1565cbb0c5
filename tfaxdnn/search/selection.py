"""Which images a search selects on and which it reports on: a seeded split of evaluation data into validation
and test parts, and seeded subsets. A search never selects on the test part.

Also here, the one place of the statistics of a validation split: whether it has enough images to resolve a
search's accuracy budget (`check_resolution`), and enough batches for a per-batch accuracy signal
(`check_signal_batches`). Both only warn (`ValidationSizeWarning`); nothing a search selects changes.

The resolution of ``n`` images is `RESOLUTION_SIGMAS` (2) standard errors of an accuracy difference,
``SE = sqrt(2 p (1 - p) / n)``: two accuracies near ``p``, each a binomial estimate on ``n`` images (the drop a plan
shows on the validation split and the drop it will show on other images differ by about this much by chance alone;
a search that picks the best of many candidates on the split does worse still). ``p`` is smoothed to
``(p n + 1) / (n + 2)`` so that a perfect score on a few images does not claim zero error. Two standard errors are
about a 95 % interval: a split resolves a budget when chance alone moves a measured drop by less than the budget.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional

import numpy as np

__all__ = ["split_data", "seeded_subset", "ValidationSizeWarning", "RESOLUTION_SIGMAS", "MIN_SIGNAL_BATCHES",
           "accuracy_difference_se", "accuracy_resolution", "images_to_resolve", "check_resolution",
           "check_signal_batches", "confirmation_split"]

#: Standard errors of an accuracy difference that make a split's resolution (2: about a 95 % interval).
RESOLUTION_SIGMAS = 2.0
#: Fewest batches a per-batch accuracy signal needs (the STL queries of the mapping search): "X % of the batches"
#: then moves in steps of at most 10 % (the paper's X values are 20 % apart) and "every batch" / the mean see at
#: least 10 samples.
MIN_SIGNAL_BATCHES = 10


class ValidationSizeWarning(UserWarning):
    """A search's validation split is too small for what the search measures on it (the search still runs)."""


def _smoothed(accuracy: float, n: int) -> float:
    return (float(np.clip(accuracy, 0.0, 1.0)) * n + 1.0) / (n + 2.0)


def accuracy_difference_se(n: int, accuracy: float) -> float:
    """Standard error of the difference of two accuracies near ``accuracy``, each measured on ``n`` images:
    ``sqrt(2 p (1 - p) / n)`` with ``p`` smoothed to ``(accuracy n + 1) / (n + 2)``."""
    if int(n) < 1:
        raise ValueError(f"`n` must be a positive number of images. Received: n={n!r}")
    p = _smoothed(accuracy, int(n))
    return math.sqrt(2.0 * p * (1.0 - p) / int(n))


def accuracy_resolution(n: int, accuracy: float, sigmas: float = RESOLUTION_SIGMAS) -> float:
    """The smallest accuracy difference ``n`` images resolve: ``sigmas`` standard errors (`accuracy_difference_se`)."""
    return float(sigmas) * accuracy_difference_se(n, accuracy)


def images_to_resolve(budget: float, accuracy: float, sigmas: float = RESOLUTION_SIGMAS) -> int:
    """The fewest images whose `accuracy_resolution` is at most ``budget`` (about ``sigmas² 2 p (1 - p) /
    budget²``; the resolution falls as images are added, so a bisection finds it)."""
    lo, hi = 1, int(math.ceil(float(sigmas) ** 2 * 0.5 / float(budget) ** 2)) + 1   # p (1 - p) <= 1/4
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if accuracy_resolution(mid, accuracy, sigmas) <= budget else (mid + 1, hi)
    return lo


def check_resolution(n: int, budget: float, accuracy: float, search: str = "The search",
                     split: str = "validation split", sigmas: float = RESOLUTION_SIGMAS) -> Optional[str]:
    """Warns (`ValidationSizeWarning`) when ``n`` images cannot resolve the accuracy ``budget`` (a fraction, 0.02 =
    2 points) at ``accuracy``, i.e. when `accuracy_resolution` exceeds it; returns the message (None: resolved, or
    a budget of 0, which no split resolves)."""
    if budget <= 0:
        return None
    resolution = accuracy_resolution(n, accuracy, sigmas)
    if resolution <= budget:
        return None
    need = images_to_resolve(budget, accuracy, sigmas)
    message = (f"{search}: the {split} of {n} images cannot resolve the accuracy budget of {100 * budget:g} "
               f"point{'' if 100 * budget == 1 else 's'}: "
               f"two accuracies near {accuracy:.3f} measured on {n} images differ by up to {100 * resolution:.1f} "
               f"points by chance alone ({sigmas:g} standard errors, SE = sqrt(2 p (1 - p) / n)); about {need} "
               "images would resolve it. What is selected there may drop more than the budget on other images: "
               "use more validation images.")
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
