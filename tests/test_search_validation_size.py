"""Validation splits too small for a search's accuracy budget warn (issue 27, item 5); the NAS importance cache
belongs to one model (item 8c). Tiny self-labelled models: the float model is right on every image."""

import contextlib
import dataclasses
import warnings

import keras
import numpy as np
import pytest
from scipy.stats import norm

from tfaxdnn.search.checkpoint import CheckpointError
from tfaxdnn.search.selection import (RESOLUTION_DISCORDANCE, RESOLUTION_SPENT, ValidationSizeWarning,
                                      check_resolution, check_signal_batches, images_to_resolve, paired_resolution)
from tfaxdnn.search.statistics import drop_upper_bound

TOO_FEW = "cannot resolve the accuracy budget of 2 points"


def _tiny(names=("conv", "fc"), seed=3):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu", name=names[0])(inp)
    h = keras.layers.Flatten()(h)
    return keras.Model(inp, keras.layers.Dense(5, name=names[1])(h))


@pytest.fixture(scope="module")
def tiny():
    model = _tiny()
    x = np.random.default_rng(0).random((1300, 8, 8, 1)).astype("float32")
    return model, x, model.predict(x, verbose=0).argmax(1)


@contextlib.contextmanager
def _no_size_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ValidationSizeWarning)
        yield


# -- the statistics ---------------------------------------------------------------------------------------------

def test_paired_resolution_is_the_bound_of_a_candidate_spending_half_the_budget():
    assert (RESOLUTION_DISCORDANCE, RESOLUTION_SPENT) == (4.0, 0.5)
    # 1 point on 4,000 images: a net loss of 20 images (half the budget), 160 discordant images (4 budgets)
    assert paired_resolution(4000, 0.01) == pytest.approx(drop_upper_bound(90, 70, 4000))
    assert paired_resolution(4000, 0.01, 0.99) == pytest.approx(drop_upper_bound(90, 70, 4000, 0.99))
    assert paired_resolution(4000, 0.01, None) == pytest.approx(0.005)     # point estimate: half the budget
    assert paired_resolution(4000, 0.01, 0.99) > paired_resolution(4000, 0.01) > 0.005
    # falls as images are added (exactly where the counts need no rounding: multiples of 400 images for 1 point)
    for budget, step in ((0.01, 400), (0.02, 200)):
        bounds = [paired_resolution(n, budget) for n in range(step, 40 * step + 1, step)]
        assert all(a > b for a, b in zip(bounds, bounds[1:]))
        assert bounds[0] > budget > bounds[-1] > RESOLUTION_SPENT * budget
    for bad in (0, -5, 2.5, True, "100"):
        with pytest.raises(ValueError, match="`n` must be a positive whole number"):
            paired_resolution(bad, 0.01)
    with pytest.raises(ValueError, match="`budget`"):
        paired_resolution(100, 0.0)


@pytest.mark.parametrize("budget", [0.005, 0.01, 0.02])
def test_images_to_resolve_is_the_boundary(budget):
    need = images_to_resolve(budget)
    assert paired_resolution(need, budget) <= budget < paired_resolution(need - 1, budget)
    assert all(paired_resolution(n, budget) <= budget for n in range(need, 3 * need, 37))   # and every larger split
    z = norm.ppf(0.95)
    assert need == pytest.approx(16 * z * z / budget, rel=0.1)           # b/2 + z sqrt(4 b / n) <= b
    more = images_to_resolve(budget, 0.99)                                 # a surer bound needs more images
    assert paired_resolution(more, budget, 0.99) <= budget < paired_resolution(more - 1, budget, 0.99)
    assert more > 1.8 * need
    assert images_to_resolve(budget, None) == 1                            # the point estimate: half the budget


def test_check_resolution_warns_below_the_boundary():
    need = images_to_resolve(0.02)
    assert 2000 < need < 2500
    with pytest.warns(ValidationSizeWarning, match=rf"XAI-Gen: the validation split of 150 images {TOO_FEW} at 95 % "
                                                   rf"confidence. The comparison is paired.*about {need} images"):
        said = check_resolution(150, 0.02, "XAI-Gen")
    bound = paired_resolution(150, 0.02)
    assert f"upper bound of {100 * bound:.2f} points" in said and "paired" in said
    with pytest.warns(ValidationSizeWarning, match=rf"of {need - 1} images {TOO_FEW}"):
        check_resolution(need - 1, 0.02)
    with pytest.warns(ValidationSizeWarning, match="at 99 % confidence"):
        check_resolution(need, 0.02, confidence=0.99)                    # a surer bound: the same split is short
    with _no_size_warning():
        assert check_resolution(need, 0.02) is None
        assert check_resolution(10 * need, 0.02) is None
        assert check_resolution(10, 0.0) is None                          # no budget: nothing to resolve
        assert check_resolution(10, 0.02, confidence=None) is None        # point-estimate selection
        assert check_signal_batches(10, 100) is None
    with pytest.raises(ValueError, match="`n` must be a positive whole number of images. Received: n=0"):
        check_resolution(0, 0.02)
    with pytest.warns(ValidationSizeWarning, match="only 2 batch.*at least 10 batches"):
        check_signal_batches(2, 100, "map")


# -- the searches -----------------------------------------------------------------------------------------------

def test_xaigen_warns_on_a_tiny_validation_split(tiny):
    from tfaxdnn.search import XAIGenConfig, run_xaigen

    model, x, y = tiny
    cfg = XAIGenConfig(importance_samples=20, n_steps=2, calibration_samples=50, refine_passes=0,
                       multipliers=("mul8s_1KV6", "mul8s_1L2N"))
    # 100 validation images, a quarter of them held out as the confirmation slice: the search selects on 75
    with pytest.warns(ValidationSizeWarning, match=rf"XAI-Gen: the validation split of 75 images {TOO_FEW}"):
        run_xaigen(model, (x[:200], y[:200]), x[1200:], cfg, verbose=False)
    with _no_size_warning():   # 900 selection images resolve 10 points (437 do), not 2 (2,275 would)
        run_xaigen(model, (x[:1200], y[:1200]), x[1200:], dataclasses.replace(cfg, max_accuracy_drop=0.1),
                   verbose=False, test_data=(x[:20], y[:20]))


def test_nas_warns_on_a_tiny_validation_split(tiny, tmp_path):
    from tfaxdnn.search.nas import NASConfig
    from tfaxdnn.search.nas.search import NASSearch
    from tfaxdnn.search.runners import SerialRunner

    model, x, y = tiny
    cfg = NASConfig(mode="alwann", pop_size=4, n_offsprings=2, generations=1, calibration_samples=50,
                    multipliers=("mul8s_1KV6", "mul8s_1L2N"))
    data = ((x[1200:], y[1200:]), (x[:1200], y[:1200]))
    with pytest.warns(ValidationSizeWarning, match=rf"ALWANN-style search: the validation split of 60 images "
                                                   rf"{TOO_FEW}"):
        NASSearch(model, data, tmp_path / "a", cfg, SerialRunner(), evaluation_samples=60, verbose=False).close()
    with _no_size_warning():
        # 810 selection images (0.9 of 1,200, a quarter of them the confirmation slice) resolve 10 points
        NASSearch(model, data, tmp_path / "b", dataclasses.replace(cfg, max_accuracy_drop=0.1), SerialRunner(),
                  validation_fraction=0.9, verbose=False).close()
        # a search on the point estimate (confidence None) has no bound to resolve
        NASSearch(model, data, tmp_path / "c", dataclasses.replace(cfg, confidence=None), SerialRunner(),
                  evaluation_samples=60, verbose=False).close()


def test_mapping_warns_on_few_images_and_few_batches(tiny):
    from tfaxdnn.search import Evaluator
    from tfaxdnn.search.mapping import MappingProblem, search_mapping
    from tfaxdnn.search.mapping.queries import paper_query

    model, x, y = tiny
    small = MappingProblem(Evaluator(model, (x[:200], y[:200]), x[1200:], calibration_samples=50), "recon_evo")
    with pytest.warns(ValidationSizeWarning) as caught:
        search_mapping(small, paper_query("Q3", 1.0), budget=1)
    said = sorted(str(w.message) for w in caught if w.category is ValidationSizeWarning)
    assert len(said) == 2
    text = " | ".join(said)
    assert "map: the per-batch accuracy signal has only 2 batch(es) of 100 images" in text
    assert ("map: the validation split of 200 images cannot resolve the accuracy budget of 1 point at 95 % "
            "confidence. The comparison is paired") in text
    with pytest.warns(ValidationSizeWarning) as again:                # once per problem: said again for the next
        MappingProblem(small.ev, "recon_evo").check_query(paper_query("Q3", 1.0))
    assert sorted(str(w.message) for w in again if w.category is ValidationSizeWarning) == said
    with _no_size_warning():
        small.check_query(paper_query("Q7", 30.0))               # lenient mean drop, no per-batch term: nothing
        MappingProblem(small.ev, "recon_evo", confidence=None).check_query(paper_query("Q7", 1.0))  # point estimate
    large = MappingProblem(Evaluator(model, (x[:1000], y[:1000]), x[1200:], calibration_samples=50), "recon_evo")
    with _no_size_warning():   # 1,000 images resolve 5 points (906 do), not 1 (4,555 would)
        search_mapping(large, paper_query("Q3", 5.0), budget=1)


# -- the NAS importance cache -----------------------------------------------------------------------------------

def test_importance_cache_belongs_to_its_model(tiny, tmp_path):
    from tfaxdnn.search.nas import NASConfig
    from tfaxdnn.search.nas.importance import cached_importance

    model, x, y = tiny
    cfg = NASConfig(importance_samples=20, n_steps=2)
    path = str(tmp_path / "importance.npz")
    first = cached_importance(model, x, y, ["conv", "fc"], cfg, path, False)
    again = cached_importance(model, x, y, ["conv", "fc"], cfg, path, False)      # read back: the same scores
    assert again.scores == first.scores
    other = _tiny(("c1", "d1"))
    with pytest.raises(CheckpointError, match=r"importance.npz.*layers \['conv', 'fc'\].*\['c1', 'd1'\]"):
        cached_importance(other, x, y, ["c1", "d1"], cfg, path, False)
    retrained = _tiny(seed=4)                                                     # same layer names, other weights
    with pytest.raises(CheckpointError, match="importance.npz.*another model"):
        cached_importance(retrained, x, y, ["conv", "fc"], cfg, path, False)
    # a cache written before it recorded its layers is still read, and refused for other layers
    np.savez(path, **{f"score__{n}": first.scores[n] for n in ("conv", "fc")},
             **{f"neurons__{n}": first.neurons[n] for n in ("conv", "fc")})
    assert cached_importance(model, x, y, ["conv", "fc"], cfg, path, False).scores == first.scores
    with pytest.raises(CheckpointError, match=r"importance.npz.*layers \['conv', 'fc'\].*\['c1', 'd1'\]"):
        cached_importance(other, x, y, ["c1", "d1"], cfg, path, False)
