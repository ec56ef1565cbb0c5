"""Sound selection in the searches (issue 25 item 2): the Evaluator's per-image correctness, paired drop and
sequential rejection; the confirmation re-check and its fallback (XAI-Gen, XAI-NAS); the settings and flags; and the
calibration of XAI-Gen's answers over ten splits."""

import keras
import numpy as np
import pytest

import tfaxdnn
from tfaxdnn.data import load_mnist, preprocess_mnist
from tfaxdnn.search import Evaluator, XAIGenConfig, compute_importance, run_xaigen, split_data


@pytest.fixture(scope="module")
def lenet():
    """A small CNN trained for 4 epochs on the bundled 4,000 MNIST training images (about 90 % on its 1,000 test
    images), and its conductance on 100 training images."""
    (xtr, ytr), (xte, yte), _ = load_mnist(full=False)
    xtr, xte = preprocess_mnist(xtr), preprocess_mnist(xte)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(6, 5, strides=2, activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv2")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(24, activation="relu", name="fc1")(x)
    model = keras.Model(inputs, keras.layers.Dense(10, name="fc2")(x))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(xtr, ytr, epochs=4, batch_size=64, verbose=0)
    importance = compute_importance(model, xtr[:100], ytr[:100], n_steps=8, verbose=False)
    return model, (xtr, ytr), (xte, yte), importance


# -- the Evaluator ----------------------------------------------------------------------------------------------------

def test_evaluator_keeps_per_image_correctness_and_the_paired_drop(lenet):
    model, (xtr, _), (xte, yte), imp = lenet
    ev = Evaluator(model, (xte[:400], yte[:400]), xtr, calibration_samples=200, importance=imp.neurons)
    base = ev.baseline()
    assert base.correct.shape == (400,) and base.correct.mean() == pytest.approx(base.accuracy)
    assert base.drop.n10 == base.drop.n01 == 0                        # the float model against itself
    m = ev(tfaxdnn.Plan(default_multiplier="mul8s_1L2N"))
    assert m.drop.reference == "float" and m.drop.n == 400 and not m.rejected and m.n_scored == 400
    assert m.drop.drop == pytest.approx(base.accuracy - m.accuracy)
    assert m.drop_upper == m.drop.upper > m.drop.drop
    assert m.to_dict()["selection"]["upper"] == m.drop.upper and "correct" not in m.to_dict()
    exact = ev.with_data((xte[:400], yte[:400]), "validation", reference="exact")
    assert exact(tfaxdnn.Plan(default_multiplier="mul8s_1L2N")).drop.reference == "exact"
    assert exact.exact().drop.n10 == exact.exact().drop.n01 == 0     # the exact plan against itself


def test_evaluator_rejects_a_bad_plan_early_and_rescores_it_when_asked_for_all_images(lenet):
    model, (xtr, _), (xte, yte), imp = lenet
    ev = Evaluator(model, (xte, yte), xtr, calibration_samples=200, importance=imp.neurons, max_drop=0.02)
    bad = tfaxdnn.Plan({"conv1": {"multiplier": "mul8s_1L2N", "skip_fraction": 0.5},
                        "fc1": {"multiplier": "mul8s_1L2N", "skip_fraction": 0.6}})
    m = ev(bad)
    assert m.rejected and m.n_scored < len(yte) and m.drop is None and not m.meets(0.02)
    assert m.drop_upper == m.rejected_bound > 0.02 and len(m.batch_accuracies) == 0 and len(m.correct) == m.n_scored
    assert ev(bad) is m and ev(bad, max_drop=0.01) is m               # still provably over a tighter limit
    info = ev.rejection_info()
    assert info["rejected"] == 1 and info["images"] - info["images_scored"] == len(yte) - m.n_scored
    assert info["images_saved_fraction"] > 0 and info["saved_s"] > 0
    full = ev(bad, max_drop=None)                                      # every image: the rejection was right
    assert not full.rejected and full.n_scored == len(yte) and full.drop.upper > 0.02
    assert m.accuracy >= full.accuracy                                 # a rejected plan carries an upper bound
    assert full.drop.upper >= m.rejected_bound                         # and the least bound it could have had
    assert ev.cache_info()["misses"] == 2 and ev(bad, max_drop=0.02) is full


def test_the_evaluator_spec_carries_the_selection_settings(lenet, tmp_path):
    model, (xtr, _), (xte, yte), _ = lenet
    ev = Evaluator(model, (xte[:200], yte[:200]), xtr[:100], confidence=0.9, max_drop=0.03)
    spec = ev.to_spec(tmp_path / "spec")
    assert (spec.settings["confidence"], spec.settings["max_drop"], spec.settings["reference"]) == (0.9, 0.03,
                                                                                                    "float")
    back = Evaluator.from_spec(spec)
    assert (back.confidence, back.max_drop, back.reference) == (0.9, 0.03, "float")
    with pytest.raises(ValueError, match="reference"):
        Evaluator(model, (xte[:200], yte[:200]), xtr[:100], reference="fp16")


# -- XAI-Gen: confirmation and fallback --------------------------------------------------------------------------------

def test_xaigen_falls_back_when_its_answer_fails_the_confirmation_slice(lenet):
    """A confirmation slice made of images on which the search's answer disagrees with the float model: the answer
    fails the re-check, and a candidate that holds there (at worst the exact plan) is returned instead."""
    from tfaxdnn.search.xaigen import XAIGenSearch
    from tfaxdnn.search.xaigen.algorithm import plan_search
    from tfaxdnn.search.xaigen.confirm import confirm_answer, fallback_order

    model, (xtr, _), (xte, yte), imp = lenet
    cfg = XAIGenConfig(refine_passes=1, calibration_samples=200, max_accuracy_drop=0.03)
    run = XAIGenSearch(model, (xte, yte), xtr, cfg, importance=imp, verbose=False)
    _, settings, _, log, _ = plan_search(run, cfg, cfg.max_accuracy_drop)
    plan = run.plan(settings)
    assert plan.layers["conv1"].multiplier != "mul8s_1KV6" or any(lp.skip_fraction for lp in plan.layers.values())
    float_pred = model.predict(xtr, verbose=0).argmax(1)
    ax_pred = run.ev.build(plan).predict(xtr, verbose=0).argmax(1)
    differ = np.flatnonzero(float_pred != ax_pred)[:30]
    agree = np.flatnonzero(float_pred == ax_pred)[:70]
    idx = np.concatenate([differ, agree])
    assert len(differ) >= 5
    run.confirm = run.ev.with_data((xtr[idx], float_pred[idx]), split="confirmation")   # labels: the float model's
    chosen, conf = confirm_answer(run, settings, log, cfg.max_accuracy_drop)
    assert conf.fell_back and conf.tried[0]["label"] == "search answer" and not conf.tried[0]["passed"]
    assert conf.tried[0]["drop"] >= len(differ) / 100 - 1e-9 > cfg.max_accuracy_drop
    assert conf.passed and conf.tried[conf.index]["passed"] and chosen != settings
    order = fallback_order(run, settings, log)
    assert order[0][1] == settings and order[-1][0] == "exact plan" and chosen == order[conf.index][1]
    assert "fell back" in conf.describe() and conf.to_dict()["fell_back"]
    _, m = run(chosen, run.confirm)
    assert m.drop.drop <= cfg.max_accuracy_drop                        # the fallback holds on the slice


def test_nas_answer_is_the_lowest_energy_front_member_that_holds(lenet):
    from tfaxdnn.search.nas import NASConfig
    from tfaxdnn.search.nas.holdout import answer_of

    model, (xtr, _), (xte, yte), _ = lenet
    cfg = NASConfig(max_accuracy_drop=0.02)

    def member(i, energy, confirmed):
        drop = {"n": 100, "drop": 0.01, "upper": 0.018}
        return {"id": i, "genome": f"g{i}", "plan": {}, "relative_energy": energy,
                "energy_reduction": {"system": 1 / energy}, "confirmed": confirmed,
                "drop": {"validation": drop, "confirmation": dict(drop, drop=0.0 if confirmed else 0.05),
                         "test": dict(drop, drop=0.012)}}
    (x_val, y_val), test = split_data(xte, yte, 0.5, 0)
    ev = Evaluator(model, (x_val, y_val), xtr[:200])
    conf_ev = ev.with_data((x_val[:100], y_val[:100]), "confirmation")
    front = [member(1, 0.5, True), member(0, 0.3, False), member(2, 0.7, True)]
    answer, conf = answer_of(front, ev, test, cfg, conf_ev)
    assert answer["genome"] == "g1" and conf.fell_back and conf.index == 1        # g0 (lowest energy) failed
    assert answer["accuracy_drop"]["realised_drop"] == 0.012 and answer["accuracy_drop"]["kept_promise"]
    answer, conf = answer_of([member(0, 0.3, False)], ev, test, cfg, conf_ev)     # none holds: the exact plan
    assert answer["source"] == "exact plan" and answer["relative_energy"] == 1.0 and not conf.passed
    assert answer["accuracy_drop"]["test"]["n"] == len(test[1])
    answer, conf = answer_of([member(0, 0.3, False)], ev, test, cfg, None)        # no slice: not re-checked
    assert answer["genome"] == "g0" and conf.n == 0 and not conf.fell_back


# -- settings and flags ---------------------------------------------------------------------------------------------

def test_settings_and_flags():
    from tfaxdnn import cli
    from tfaxdnn.search import SearchConfig

    cfg = SearchConfig()
    assert (cfg.confidence, cfg.sequential, cfg.confirmation_fraction) == (0.95, True, 0.25)
    assert cfg.rejection_limit == cfg.max_accuracy_drop and SearchConfig(sequential=False).rejection_limit is None
    assert SearchConfig(confidence=None).confidence is None
    with pytest.raises(ValueError, match="confidence"):
        SearchConfig(confidence=1.5)
    with pytest.raises(ValueError, match="confirmation_fraction"):
        SearchConfig(confirmation_fraction=1.0)
    parser = cli.build_parser()
    for verb, extra in (("xaigen", ["--out", "o"]), ("nas", ["--out", "o"]), ("map", ["--out", "o"])):
        args = parser.parse_args([verb, "--model", "m", "--data", "d", *extra, "--confidence", "none"])
        assert args.confidence is None
        args = parser.parse_args([verb, "--model", "m", "--data", "d", *extra, "--confidence", "0.99",
                                  "--confirmation-fraction", "0.3"])
        assert args.confidence == 0.99 and args.confirmation_fraction == 0.3
        with pytest.raises(SystemExit):
            parser.parse_args([verb, "--model", "m", "--data", "d", *extra, "--confidence", "1.2"])
    assert parser.parse_args(["xaigen", "--model", "m", "--data", "d", "--out", "o", "--no-sequential"]).sequential \
        is False


def test_confirmation_split_is_seeded_and_disjoint():
    from tfaxdnn.search.selection import confirmation_split

    x, y = np.arange(100), np.arange(100) % 7
    (xs, ys), (xc, yc) = confirmation_split(x, y, 0.25, seed=3)
    assert len(xc) == 25 and len(xs) == 75 and not set(xs) & set(xc) and set(xs) | set(xc) == set(x)
    assert np.array_equal(yc, y[xc]) and np.array_equal(confirmation_split(x, y, 0.25, seed=3)[1][0], xc)
    (xs, _), (xc, _) = confirmation_split(x, y, 0.0, seed=3)
    assert len(xs) == 100 and len(xc) == 0
    with pytest.raises(ValueError, match="confirmation slice"):
        confirmation_split(x[:1], y[:1], 0.25, seed=0)


# -- calibration ----------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_xaigen_keeps_its_accuracy_promise_on_held_out_images_over_ten_splits(lenet):
    """Over ten seeded splits of the 1,000 test images (500 validation: 375 selected on, 125 confirming; 500 test),
    XAI-Gen's answer loses at most the 2-point budget against the float model on the test images it never saw in at
    least 9 runs. (Measured here: 10 of 10, compute energy 1.0-3.1x lower, median 2.2x. With the paper's seven
    multipliers and a refinement pass: 10 of 10 as well, while the point-estimate rule of before, confidence=None
    without confirmation slice, keeps it in 4 of 10: its answers sit at 1.4-2.0 points on validation and lose up to
    4.6 on test.)"""
    model, (xtr, _), (xte, yte), imp = lenet
    kept, reductions = [], []
    for seed in range(10):
        cfg = XAIGenConfig(seed=seed, refine_passes=0, calibration_samples=200, max_accuracy_drop=0.02,
                           multipliers=("mul8s_1KV6", "mul8s_1KVP", "mul8s_1L2J", "mul8s_1L2N"))
        result = run_xaigen(model, (xte, yte), xtr, cfg, importance=imp, verbose=False)
        kept.append(result.accuracy_drop["kept_promise"])
        reductions.append(result.reductions["compute"])
    assert sum(kept) >= 9, kept
    assert np.median(reductions) > 1.2, reductions                    # and it still saves energy
