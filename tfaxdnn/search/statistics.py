"""The paired comparison every search makes (SPEC section 13): a candidate against its reference model (the float
model, or the exact 8-bit model for the mapping search) on the **same** images, with a one-sided upper confidence
bound of the accuracy drop, and the rule that stops scoring a candidate once it provably breaks the constraint.

Per image, ``d_i = 1[reference right] - 1[candidate right]``; the drop is ``D = mean(d) = (n10 - n01) / n`` where
``n10`` counts the images the reference gets right and the candidate wrong, ``n01`` the reverse. Only these
discordant images carry information, so the paired drop is far tighter than two independent accuracies when the
models mostly agree. A search's constraint is ``upper_bound(D) <= max_accuracy_drop``, never the point estimate.

**The bound: Tango's score bound** (Tango 1998, Statistics in Medicine 17:891, the paired-difference analogue of the
Wilson score interval). For a hypothesised drop ``δ`` the score statistic is

    Z(δ) = (n10 - n01 - n δ) / sqrt(n (2 p01(δ) + δ (1 - δ)))

with ``p01(δ)`` the maximum-likelihood estimate of the ``n01`` cell under ``D = δ`` (a root of a quadratic:
``p01 = (sqrt(B² - 4AC) - B) / 2A``, ``A = 2n``, ``B = -n10 - n01 + (2n - n10 + n01) δ``, ``C = -n01 δ (1 - δ)``).
The upper bound at ``confidence`` is the largest ``δ`` with ``Z(δ) >= -z_confidence`` (bisection; ``Z`` falls
as ``δ`` grows). Why this bound and not another:

* the plug-in normal (Wald) bound has zero width when no image is discordant (``D̂ = 0``, variance estimate 0):
  a candidate that agrees with the reference on 20 images would "prove" a drop of at most 0. The score bound uses
  the variance under the hypothesis, so ``n10 = n01 = 0`` on ``n`` images gives ``z² / (n + z²)`` (0.12 on 20
  images, 0.0005 on 5,000);
* the exact conditional bound (Clopper-Pearson on ``n10`` given ``n10 + n01``) bounds the share of the discordant
  images that go against the candidate, not ``D``: it treats the number of discordant images as known, and it says
  nothing at all when there are none (bound 0 again). Making it a bound on ``D`` (a second Clopper-Pearson bound on
  the discordance rate, Bonferroni) is valid but loose: about 1.7 points instead of 1.4 for 100/50 discordant
  images of 5,000 at a measured drop of 1 point;
* the score bound's coverage is close to nominal from 20 to 5,000 images, with and without discordant images
  (simulated in tests/test_selection_statistics.py, 30 settings of 20,000 experiments: at 95 % the lowest is
  94.8 %, the mean 96.8 %; at 99 %: 98.9 %, 99.5 %; it is not exact: at 90 % the discreteness of 20 images pulls it
  to 87 %), and it is monotone: more images lost by the candidate never lower it, more images won never raise it
  (checked exhaustively up to 150 images). That monotonicity is what makes sequential rejection exact (below).

``confidence=None`` turns the bound off: the "bound" is the point estimate (the rule searches used before, kept
for checkpoints of that time).

**Sequential rejection.** A candidate is scored slice by slice in a fixed order. After ``k`` images, with the
reference's correctness known on all ``n`` (scored once per split), the most favourable completion for the
candidate is to be right on every remaining image: no more ``n10``, and ``n01`` grows by the number of remaining
images the reference gets wrong. Because the bound rises with ``n10`` and falls with ``n01``, no completion gives a
lower final bound than that one; if even it exceeds the limit, every completion does, and the candidate is rejected
without scoring the rest (`best_case_upper`, `provably_exceeds`). A candidate that would meet the constraint is
therefore never rejected; a rejected candidate carries that best-case bound (a lower bound of the bound it would
have had), and the best accuracy it could still have reached (an upper bound of its accuracy), never an estimate.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy as np

__all__ = ["PairedDrop", "DEFAULT_CONFIDENCE", "drop_upper_bound", "paired_counts", "paired_drop",
           "best_case_upper", "provably_exceeds", "check_confidence", "TOLERANCE"]

#: The default one-sided confidence of the drop bound.
DEFAULT_CONFIDENCE = 0.95
#: Slack of every comparison of a bound with a limit (a drop of exactly the limit meets it).
TOLERANCE = 1e-12
_BISECTIONS = 60


def check_confidence(confidence) -> Optional[float]:
    """``confidence`` as a float in (0.5, 1), or None (point estimate); ValueError otherwise."""
    if confidence is None:
        return None
    c = float(confidence)
    if not 0.5 <= c < 1.0:
        raise ValueError(f"`confidence` must lie in [0.5, 1) (one-sided; 0.95 = 95 %), or be None for the point "
                         f"estimate. Received: confidence={confidence!r}")
    return c


def _z_quantile(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(confidence))


def _score(n10, n01, n, delta):
    """Tango's score statistic ``Z(δ)`` (vectorised)."""
    a = 2.0 * n
    b = -n10 - n01 + (2.0 * n - n10 + n01) * delta
    c = -n01 * delta * (1.0 - delta)
    p01 = np.maximum((np.sqrt(np.maximum(b * b - 4.0 * a * c, 0.0)) - b) / (2.0 * a), 0.0)
    var = n * (2.0 * p01 + delta * (1.0 - delta))
    num = n10 - n01 - n * delta
    with np.errstate(divide="ignore", invalid="ignore"):
        z = num / np.sqrt(np.maximum(var, 0.0))
    return np.where(var > 0, z, np.where(num > 0, np.inf, np.where(num < 0, -np.inf, 0.0)))


def drop_upper_bound(n10, n01, n, confidence: Optional[float] = DEFAULT_CONFIDENCE):
    """One-sided upper ``confidence`` bound of the paired drop ``(n10 - n01) / n`` (Tango's score bound, see the
    module docstring); arrays broadcast. ``confidence=None``: the point estimate. A float for scalar input."""
    n10, n01, n = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (n10, n01, n)))
    if np.any(n < 1) or np.any(n10 < 0) or np.any(n01 < 0) or np.any(n10 + n01 > n):
        raise ValueError(f"Paired counts need n >= 1 and 0 <= n10, n01 with n10 + n01 <= n. Received: "
                         f"n10={n10.tolist()}, n01={n01.tolist()}, n={n.tolist()}")
    point = (n10 - n01) / n
    conf = check_confidence(confidence)
    if conf is None:
        out = point
    else:
        z = _z_quantile(conf)
        lo, hi = point.copy(), np.ones_like(point)
        top = _score(n10, n01, n, hi) >= -z
        for _ in range(_BISECTIONS):
            mid = 0.5 * (lo + hi)
            inside = _score(n10, n01, n, mid) >= -z
            lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
        out = np.where(top, 1.0, hi)
    return float(out) if out.ndim == 0 else out


def paired_counts(reference_correct, candidate_correct):
    """``(n, n10, n01)`` of two per-image correctness vectors of the same images."""
    r = np.asarray(reference_correct, dtype=bool).reshape(-1)
    c = np.asarray(candidate_correct, dtype=bool).reshape(-1)
    if r.shape != c.shape:
        raise ValueError(f"Paired correctness vectors must cover the same images. Received lengths {r.size} and "
                         f"{c.size}")
    return int(r.size), int(np.sum(r & ~c)), int(np.sum(~r & c))


@dataclasses.dataclass(frozen=True)
class PairedDrop:
    """The paired accuracy drop of a candidate against a reference on ``n`` images.

    Attributes:
        n: images compared; n10: reference right, candidate wrong; n01: the reverse.
        confidence: of the upper bound (None: the bound is the point estimate).
        reference: what the candidate is compared with (``"float"``, ``"exact"``).
    """

    n: int
    n10: int
    n01: int
    confidence: Optional[float] = DEFAULT_CONFIDENCE
    reference: str = "float"

    @property
    def drop(self) -> float:
        """The point estimate ``(n10 - n01) / n`` (= reference accuracy - candidate accuracy on these images)."""
        return (self.n10 - self.n01) / self.n if self.n else 0.0

    @property
    def upper(self) -> float:
        """The one-sided upper bound at ``confidence`` (`drop_upper_bound`)."""
        return drop_upper_bound(self.n10, self.n01, self.n, self.confidence) if self.n else math.inf

    def meets(self, max_drop: float) -> bool:
        """Whether the bound meets the constraint ``upper <= max_drop``."""
        return self.upper <= float(max_drop) + TOLERANCE

    def to_dict(self) -> dict:
        return {"n": self.n, "n10": self.n10, "n01": self.n01, "drop": self.drop, "upper": self.upper,
                "confidence": self.confidence, "reference": self.reference}


def paired_drop(reference_correct, candidate_correct, confidence: Optional[float] = DEFAULT_CONFIDENCE,
                reference: str = "float") -> PairedDrop:
    """The `PairedDrop` of two per-image correctness vectors of the same images."""
    n, n10, n01 = paired_counts(reference_correct, candidate_correct)
    return PairedDrop(n, n10, n01, check_confidence(confidence), reference)


def best_case_upper(n10: int, n01: int, reference_wrong_left: int, n: int,
                    confidence: Optional[float] = DEFAULT_CONFIDENCE) -> float:
    """The lowest final bound a partly scored candidate can still reach: its counts so far (``n10``, ``n01``) with
    the candidate right on every one of the images left, so ``n01`` grows by the ``reference_wrong_left`` of them the
    reference gets wrong (the module docstring says why no completion does better)."""
    return drop_upper_bound(n10, n01 + reference_wrong_left, n, confidence)


def provably_exceeds(n10: int, n01: int, reference_wrong_left: int, n: int, max_drop: float,
                     confidence: Optional[float] = DEFAULT_CONFIDENCE):
    """``(rejected, best-case bound)``: whether no completion of the scoring can meet ``max_drop``."""
    best = best_case_upper(n10, n01, reference_wrong_left, n, confidence)
    return best > float(max_drop) + TOLERANCE, best
