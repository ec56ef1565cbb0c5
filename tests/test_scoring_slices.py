"""Scoring slices (`tfaxdnn.search.scoring`): with a constraint a slice is half the images after which the
candidate would be rejected at its rates so far (100 to 800 images), without one every slice is 800 images. The
decisions and the images scored are those of checking after every image (a rejected candidate scored a little
further), and an `Evaluator` scores a real approximate model to the same metrics as with fixed 100-image slices."""

import numpy as np
import pytest

from tfaxdnn.search.scoring import MAX_SLICE, SLICE, next_slice, score_images
from tfaxdnn.search.statistics import paired_drop, provably_exceeds


class Recorder:
    """A stand-in model whose arg-max on image ``i`` is ``predictions[i]``; records the batch sizes it is called
    with."""

    def __init__(self, predictions, classes=3):
        self.scores = np.eye(classes)[np.asarray(predictions)]
        self.batches = []

    def __call__(self, x, training=False):
        self.batches.append(len(x))
        return self.scores[np.asarray(x).astype(int).reshape(-1)]


def _case(rng, n, ref_acc, flip):
    x, y = np.arange(n), rng.integers(0, 3, n)
    ref = rng.random(n) < ref_acc
    cand = np.where(rng.random(n) < flip, ~ref, ref)
    return x, y, ref, cand, Recorder(np.where(cand, y, (y + 1) % 3))


def test_next_slice_follows_the_rates_seen_so_far():
    n, limit = 3750, 0.01
    # agrees with the reference on 1,000 reference-right images: no rejection ahead at that rate
    assert next_slice(0, 0, 1000, 500, 0, n, 1500, limit, 0.95) == MAX_SLICE
    # loses 3 % of them (15 of 500): rejected about 400 images on at that rate; half of that (within [100, 800])
    j = next_slice(15, 0, 500, 500, 0, n, 1000, limit, 0.95, 1, 10 ** 6, share=1.0)
    assert 300 < j < 500 and provably_exceeds(int(round(15 + 16 / 502 * j)), 0, 0, n, limit)[0]
    assert not provably_exceeds(int(round(15 + 16 / 502 * (j - 1))), 0, 0, n, limit)[0]
    assert next_slice(15, 0, 500, 500, 0, n, 1000, limit, 0.95) == -(-j // 2)
    # already proved or nearly: the smallest slice; fixed slices when smallest == largest
    assert next_slice(30, 0, 500, 500, 0, n, 1000, limit, 0.95) == SLICE
    assert next_slice(0, 0, 0, 0, 500, n, 0, limit, 0.95, 100, 100) == 100


def test_batches_grow_far_from_the_limit_and_stay_at_800_without_a_constraint():
    rng = np.random.default_rng(0)
    x, y, ref, _, model = _case(rng, 2500, 0.9, 0.0)
    model = Recorder(np.where(ref, y, (y + 1) % 3))                       # the reference itself: never rejected
    s = score_images(model, x, y, ref, max_drop=0.01)
    assert not s.rejected and np.array_equal(s.correct, ref) and sum(model.batches) == 2500
    assert min(model.batches[:-1]) >= SLICE and max(model.batches) <= MAX_SLICE and len(model.batches) <= 7
    model.batches.clear()
    s = score_images(model, x, y)
    assert model.batches == [800, 800, 800, 100] and np.array_equal(s.correct, ref)
    model.batches.clear()
    score_images(model, x, y, ref, max_drop=0.01, max_slice=SLICE)       # max_slice = slice_size: fixed slices
    assert model.batches == [100] * 25


def _first_proof(ref, cand, limit):
    """The image count (< n) at which checking after every image first proves ``cand`` breaks ``limit``; None if
    none does (the proof, once there, stays: a bisection finds it)."""
    order = np.concatenate([np.flatnonzero(~ref), np.flatnonzero(ref)])
    r, c = ref[order], cand[order]
    n10, n01, wrong = np.cumsum(r & ~c), np.cumsum(~r & c), np.cumsum(~r)

    def proved(k):
        return provably_exceeds(int(n10[k - 1]), int(n01[k - 1]), int(wrong[-1] - wrong[k - 1]), len(r), limit)[0]

    n = len(r)
    if not proved(n - 1):
        return None
    lo, hi = 1, n - 1
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if proved(mid) else (mid + 1, hi)
    return lo


def test_rejections_match_checking_after_every_image():
    """Random references, candidates and limits: rejected exactly when checking after every image rejects before the
    last slice (at or after that point), the same correctness when not (and when checking after every image rejects,
    the full bound breaks the limit too); a rejected candidate's best-case bound stays below its final bound."""
    rng = np.random.default_rng(3)
    rejected, over = 0, []
    for _ in range(80):
        x, y, ref, cand, model = _case(rng, int(rng.integers(200, 2500)), rng.uniform(0.7, 1.0),
                                       rng.uniform(0.0, 0.1))
        limit = float(rng.uniform(0.0, 0.06))
        exact = _first_proof(ref, cand, limit)
        grown = score_images(model, x, y, ref, limit)
        n, final = len(y), paired_drop(ref, cand).upper
        if grown.rejected:
            rejected += 1
            assert exact is not None and exact <= grown.n_scored < n
            assert np.array_equal(grown.correct, cand[grown.index])
            assert grown.best_case_upper <= final + 1e-12
            over.append(grown.n_scored - exact)
        else:   # not rejected: scored in full, or proved only in the last slice (then infeasible anyway)
            assert grown.n_scored == n and np.array_equal(grown.correct, cand)
            assert exact is None or final > limit
    assert 10 < rejected < 75 and np.mean(over) < SLICE       # scored a little past the point of proof, on average


@pytest.mark.slow
def test_evaluator_metrics_do_not_depend_on_the_slices():
    import keras

    from tfaxdnn.data import load_mnist, preprocess_mnist
    from tfaxdnn.plan import Plan
    from tfaxdnn.search import Evaluator

    (xtr, ytr), (xte, yte), _ = load_mnist(full=False)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(4, 5, strides=2, activation="relu")(inputs)
    h = keras.layers.Flatten()(h)
    model = keras.Model(inputs, keras.layers.Dense(10)(h))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(preprocess_mnist(xtr[:1000]), ytr[:1000], epochs=2, verbose=0)
    x, y = preprocess_mnist(xte), yte
    out = []
    for max_slice in (SLICE, MAX_SLICE):
        ev = Evaluator(model, (x, y), preprocess_mnist(xtr[:200]), max_drop=0.02)
        ev.max_slice = max_slice
        out.append([ev(Plan(default_multiplier=m)) for m in ("mul8s_1KVP", "mul8s_1L2N", "mul8s_1L2L")])
        out[-1].append(ev.baseline())
    assert any(m.rejected for m in out[0]) and not all(m.rejected for m in out[0])
    for a, b in zip(*out):
        assert a.rejected == b.rejected or not (a.meets(0.02) or b.meets(0.02))
        if not a.rejected and not b.rejected:
            assert np.array_equal(a.correct, b.correct) and a.drop_upper == b.drop_upper
            assert np.array_equal(a.batch_accuracies, b.batch_accuracies) and a.accuracy == b.accuracy
