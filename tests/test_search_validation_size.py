"""Validation splits too small for a search's accuracy budget warn (issue 27, item 5); the NAS importance cache
belongs to one model (item 8c). Tiny self-labelled models: the float model is right on every image."""

import contextlib
import math
import warnings

import keras
import numpy as np
import pytest

from tfaxdnn.search.checkpoint import CheckpointError
from tfaxdnn.search.selection import (RESOLUTION_SIGMAS, ValidationSizeWarning, accuracy_difference_se,
                                      accuracy_resolution, check_resolution, check_signal_batches, images_to_resolve)

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

def test_resolution_statistics():
    p = (0.9 * 400 + 1) / 402                                    # smoothed accuracy
    assert accuracy_difference_se(400, 0.9) == pytest.approx(math.sqrt(2 * p * (1 - p) / 400))
    assert accuracy_resolution(400, 0.9) == pytest.approx(RESOLUTION_SIGMAS * accuracy_difference_se(400, 0.9))
    assert accuracy_difference_se(100, 1.0) > 0                  # a perfect score on few images still has an error
    need = images_to_resolve(0.02, 0.9)
    assert accuracy_resolution(need, 0.9) <= 0.02 < accuracy_resolution(need - 1, 0.9)
    assert 1700 < need < 1900                                    # about 2² · 2 · 0.09 / 0.02²
    with pytest.warns(ValidationSizeWarning, match=rf"{TOO_FEW}.* 150 images.*about {need} images"):
        check_resolution(150, 0.02, 0.9, "XAI-Gen")
    with _no_size_warning():
        assert check_resolution(need, 0.02, 0.9) is None
        assert check_resolution(10, 0.0, 0.9) is None            # no budget: nothing to resolve
        assert check_signal_batches(10, 100) is None
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
    with _no_size_warning():
        run_xaigen(model, (x[:1200], y[:1200]), x[1200:], cfg, verbose=False, test_data=(x[:20], y[:20]))


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
        NASSearch(model, data, tmp_path / "b", cfg, SerialRunner(), validation_fraction=0.9, verbose=False).close()


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
    assert "map: the validation split of 200 images cannot resolve the accuracy budget of 1 point:" in text
    with pytest.warns(ValidationSizeWarning) as again:                # once per problem: said again for the next
        MappingProblem(small.ev, "recon_evo").check_query(paper_query("Q3", 1.0))
    assert sorted(str(w.message) for w in again if w.category is ValidationSizeWarning) == said
    with _no_size_warning():
        small.check_query(paper_query("Q7", 20.0))               # lenient mean drop, no per-batch term: nothing
    large = MappingProblem(Evaluator(model, (x[:1000], y[:1000]), x[1200:], calibration_samples=50), "recon_evo")
    with _no_size_warning():
        search_mapping(large, paper_query("Q3", 1.0), budget=1)


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
