"""Sound selection (issue 25 item 2, SPEC section 13): the paired drop and its upper confidence bound (coverage by
simulation, edge cases), and sequential rejection (stops early on a bad candidate, never rejects one that would meet
the constraint). Pure numpy: fast and seeded."""

import itertools

import numpy as np
import pytest

from tfaxdnn.search.scoring import score_images
from tfaxdnn.search.statistics import (PairedDrop, best_case_upper, check_confidence, drop_upper_bound,
                                       paired_counts, paired_drop, provably_exceeds)

Z95 = 1.6448536269514722


# -- the paired drop and its bound ----------------------------------------------------------------------------------

def test_paired_drop_is_the_difference_of_accuracies_on_the_same_images():
    rng = np.random.default_rng(0)
    ref, cand = rng.random(500) < 0.9, rng.random(500) < 0.85
    n, n10, n01 = paired_counts(ref, cand)
    assert (n, n10, n01) == (500, int(np.sum(ref & ~cand)), int(np.sum(~ref & cand)))
    p = paired_drop(ref, cand)
    assert p.drop == pytest.approx(ref.mean() - cand.mean()) and p.upper > p.drop
    assert p.to_dict()["upper"] == p.upper and p.confidence == 0.95 and p.reference == "float"
    assert p.meets(p.upper) and not p.meets(p.upper - 1e-6)
    with pytest.raises(ValueError, match="same images"):
        paired_counts(ref, cand[:10])


def test_bound_without_discordant_images_is_not_zero():
    """No image on which the models disagree: the score bound is z² / (n + z²), not 0 (a Wald bound would be 0)."""
    for n in (1, 20, 100, 5000):
        assert drop_upper_bound(0, 0, n) == pytest.approx(Z95 ** 2 / (n + Z95 ** 2), rel=1e-9)
    assert drop_upper_bound(0, 0, 20) == pytest.approx(0.1192, abs=1e-4)
    assert drop_upper_bound(0, 0, 5000) < 0.00055
    assert drop_upper_bound(0, 5, 100) < drop_upper_bound(0, 0, 100)     # images won lower it
    assert PairedDrop(20, 0, 0).upper > 0.1                               # the dataclass agrees


def test_bound_edge_cases_and_options():
    assert drop_upper_bound(3, 1, 10, None) == pytest.approx(0.2)          # confidence None: the point estimate
    assert drop_upper_bound(10, 0, 10) == 1.0                             # every image lost: the bound is 1
    assert drop_upper_bound(0, 10, 10) < 0                                # every image won: a negative bound
    assert drop_upper_bound(5, 5, 100, 0.99) > drop_upper_bound(5, 5, 100, 0.95) > drop_upper_bound(5, 5, 100, 0.5)
    assert drop_upper_bound(5, 5, 100, 0.5) == pytest.approx(0.0, abs=1e-9)   # 50 %: the point estimate, here
    vec = drop_upper_bound([0, 3, 7], [0, 1, 2], [20, 100, 300])
    assert vec.shape == (3,) and vec[1] == pytest.approx(drop_upper_bound(3, 1, 100))
    for bad in ((-1, 0, 10), (6, 5, 10), (0, 0, 0)):
        with pytest.raises(ValueError, match="Paired counts"):
            drop_upper_bound(*bad)
    assert check_confidence(None) is None and check_confidence(0.9) == 0.9
    with pytest.raises(ValueError, match="confidence"):
        check_confidence(1.0)
    with pytest.raises(ValueError, match="confidence"):
        check_confidence(0.3)


def test_bound_is_monotone_in_the_discordant_counts():
    """More images lost never lower the bound, more images won never raise it (all tables of up to 60 images):
    what makes sequential rejection exact."""
    for n in range(1, 61):
        b, c = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        ok = b + c <= n
        u = np.full(b.shape, np.nan)
        u[ok] = drop_upper_bound(b[ok], c[ok], n)
        assert np.nanmin(np.diff(u, axis=0)) >= -1e-12, n
        assert np.nanmax(np.diff(u, axis=1)) <= 1e-12, n
        assert np.nanmin(u[ok] - (b[ok] - c[ok]) / n) >= -1e-12, n          # never below the point estimate


@pytest.mark.parametrize("confidence", [0.95, 0.99])
def test_bound_coverage_by_simulation(confidence):
    """The bound covers the true drop in about ``confidence`` of repeated experiments, from 20 to 5,000 images, with
    and without discordant images. Measured with 20,000 repetitions per setting (seed 0): at 95 % the lowest
    coverage of these 30 settings is 94.8 % (mean 96.8 %), at 99 % 98.9 % (mean 99.5 %); at 90 % the discreteness
    of 20 images pulls it down to 87 % (mean 92.5 %). Allowed here, with 4,000 repetitions (Monte-Carlo error
    0.35 % at 95 %): 1.5 points below nominal per setting, nominal on average."""
    rng = np.random.default_rng(0)
    reps, covers = 4000, []
    for n in (20, 100, 400, 2000, 5000):
        for p10, p01 in ((0.0, 0.0), (0.01, 0.0), (0.02, 0.01), (0.05, 0.02), (0.1, 0.1), (0.3, 0.05)):
            counts = rng.multinomial(n, [p10, p01, 1 - p10 - p01], size=reps)
            upper = drop_upper_bound(counts[:, 0], counts[:, 1], n, confidence)
            cover = float(np.mean(upper >= p10 - p01 - 1e-12))
            covers.append(cover)
            assert cover >= confidence - 0.015, (n, p10, p01, cover)
    assert np.mean(covers) >= confidence


# -- sequential rejection -------------------------------------------------------------------------------------------

class Oracle:
    """A stand-in model whose arg-max on image ``i`` is ``predictions[i]`` (the images are their indices)."""

    def __init__(self, predictions, classes=3):
        self.scores = np.eye(classes)[np.asarray(predictions)]

    def __call__(self, x, training=False):
        return self.scores[np.asarray(x).astype(int).reshape(-1)]


def _candidate(labels, correct):
    """Predictions that are right exactly where ``correct`` is."""
    return np.where(correct, labels, (labels + 1) % 3)


def test_sequential_rejection_stops_early_on_a_clearly_bad_candidate():
    rng = np.random.default_rng(1)
    n = 2000
    x, y = np.arange(n), rng.integers(0, 3, n)
    ref = rng.random(n) < 0.95
    right = ref & (rng.random(n) < 0.7)                                   # loses about 28 points
    bad = Oracle(_candidate(y, right))
    s = score_images(bad, x, y, ref, max_drop=0.02, confidence=0.95)
    # rejected once even being right on every image left (also those the reference gets wrong) cannot meet 2 points
    assert s.rejected and s.n_scored <= 300 and s.best_case_upper > 0.02
    # the accuracy it carries: the images scored, every image left counted right (an upper bound, not an estimate)
    k = s.n_scored     # the reference's mistakes were scored first: then every image left is one it gets right
    assert np.array_equal(s.index[:int(np.sum(~ref))], np.flatnonzero(~ref)) and k < n
    assert s.accuracy == pytest.approx((right[s.index].sum() + n - k) / n) and s.accuracy > right.mean()
    assert s.saved_s >= 0 and s.batch_accuracies(100).shape == (0,)
    good = Oracle(_candidate(y, ref))                                      # identical to the reference
    s = score_images(good, x, y, ref, max_drop=0.02, confidence=0.95)
    assert not s.rejected and s.n_scored == n and np.array_equal(s.correct, ref)    # in the split's order
    full = score_images(bad, x, y)                                         # no constraint: every image
    assert not full.rejected and full.n_scored == n


def test_sequential_rejection_is_exact_on_small_tables():
    """For every state of a partly scored candidate on 12 images, rejection happens exactly when no completion of
    the remaining images can meet the limit (all completions enumerated)."""
    n, limit = 12, 0.15
    table = np.full((n + 1, n + 1), np.inf)                        # final bound of every (n10, n01)
    b, c = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    table[b + c <= n] = drop_upper_bound(b[b + c <= n], c[b + c <= n], n)
    for k in range(1, n):
        for ref_wrong_left in range(0, n - k + 1):
            right_left = n - k - ref_wrong_left
            for n10, n01 in itertools.product(range(k + 1), repeat=2):
                if n10 + n01 > k:
                    continue
                rejected, best = provably_exceeds(n10, n01, ref_wrong_left, n, limit)
                finals = table[n10:n10 + right_left + 1, n01:n01 + ref_wrong_left + 1]
                assert best == pytest.approx(finals.min(), abs=1e-12)
                assert rejected == (finals.min() > limit + 1e-12)


@pytest.mark.parametrize("confidence", [0.95, None])
def test_sequential_rejection_never_rejects_a_candidate_that_would_meet_the_limit(confidence):
    """Property test: random reference/candidate correctness (random agreement, error rates and limits); a rejected
    candidate's full bound always exceeds the limit, an accepted one is scored on every image, and the decision on
    the full images is the same as without rejection."""
    rng = np.random.default_rng(2)
    rejected = 0
    for trial in range(150):
        n = int(rng.integers(150, 900))
        x, y = np.arange(n), rng.integers(0, 3, n)
        ref = rng.random(n) < rng.uniform(0.6, 1.0)
        flip = rng.random(n) < rng.uniform(0.0, 0.15)
        cand = np.where(flip, ~ref, ref)
        limit = float(rng.uniform(0.0, 0.1))
        s = score_images(Oracle(_candidate(y, cand)), x, y, ref, limit, confidence)
        final = paired_drop(ref, cand, confidence)
        if s.rejected:
            rejected += 1
            assert final.upper > limit and s.n_scored < n
            assert np.array_equal(s.correct, cand[s.index]) and len(set(s.index)) == s.n_scored
            left = np.setdiff1d(np.arange(n), s.index)
            assert best_case_upper(*paired_counts(ref[s.index], cand[s.index])[1:], int(np.sum(~ref[left])), n,
                                   confidence) == pytest.approx(s.best_case_upper)
            assert s.best_case_upper <= final.upper + 1e-12                 # a lower bound of the final bound
            assert s.accuracy >= cand.mean() - 1e-12                        # an upper bound of the accuracy
        else:
            assert s.n_scored == n and np.array_equal(s.correct, cand) and np.array_equal(s.index, np.arange(n))
    assert 20 < rejected < 150                                              # both outcomes were exercised
