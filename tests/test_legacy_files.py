"""Files written before the renovation (at 1614492, by tests/data/legacy/make_legacy.py) still work after it: an
approximate ``.keras`` model reloads with identical logits and carries the same plan, and a NAS checkpoint resumes
to the same front as the uninterrupted run of that time."""

import json
import os
import shutil

import keras
import numpy as np
import pytest

import tfaxdnn

LEGACY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "legacy")


def test_approximate_keras_file_reloads_with_identical_logits():
    ax = keras.models.load_model(os.path.join(LEGACY, "approx.keras"))
    with np.load(os.path.join(LEGACY, "approx_logits.npz")) as f:
        x, logits = f["x"], f["logits"]
    np.testing.assert_array_equal(ax.predict(x, verbose=0), logits)
    with open(os.path.join(LEGACY, "approx_plan.json")) as f:
        saved = json.load(f)
    assert json.loads(tfaxdnn.plan_of(ax).to_json()) == saved


@pytest.mark.slow
def test_nas_checkpoint_written_before_resumes_to_the_same_front(tmp_path):
    from tfaxdnn.search.nas import NASConfig, run_xainas

    model = keras.models.load_model(os.path.join(LEGACY, "tiny.keras"), compile=False)
    with np.load(os.path.join(LEGACY, "data.npz")) as f:
        data = ((f["x_train"], f["y_train"]), (f["x_test"], f["y_test"]))
    shutil.copytree(os.path.join(LEGACY, "nas"), tmp_path / "nas")
    tiny = dict(pop_size=4, n_offsprings=2, generations=2, n_seeds=2,
                multipliers=("mul8s_1KV6", "mul8s_1KVP", "mul8s_1L2N"), importance_samples=40, n_steps=4,
                calibration_samples=100, max_skip=0.2, seed=3)
    resumed = run_xainas(model, data, tmp_path / "nas", NASConfig(**tiny), resume=True, validation_fraction=0.5,
                         evaluation_samples=100, verbose=False, explain_images=0)
    with open(os.path.join(LEGACY, "nas_uninterrupted.json")) as f:
        expected = json.load(f)
    assert resumed.selection["rule"] == "legacy accuracy floor" and resumed.config.confidence is None
    assert resumed.hypervolume == pytest.approx(expected["hypervolume"], abs=0)
    assert [str(r["genome"]) for r in resumed.front] == expected["front"]
    assert [[str(r["genome"]), r["accuracy"], r["relative_energy"]] for r in resumed.records] == \
        [[g, a, e] for g, a, e in expected["records"]]
