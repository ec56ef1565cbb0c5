"""The public Evaluator: plan -> metrics, memoised, held-out splits, rebuilt from a pickled spec in another process."""

import os
import pathlib
import pickle
import subprocess
import sys

import keras
import numpy as np
import pytest

import tfaxdnn
from tfaxdnn.search import Evaluator, split_data

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup():
    (xtr, ytr), (xte, yte), _ = tfaxdnn.data.load_mnist(full=False)
    xtr, xte = tfaxdnn.data.preprocess_mnist(xtr[:600]), tfaxdnn.data.preprocess_mnist(xte[:400])
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 5, strides=2, activation="relu", name="conv1")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu", name="fc1")(x)
    model = keras.Model(inputs, keras.layers.Dense(10, name="fc2")(x), name="small")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(xtr, ytr[:600], epochs=2, batch_size=64, verbose=0)
    val, test = split_data(xte, yte[:400], 0.5, seed=0)
    scores = {"conv1": np.arange(4.0), "fc1": np.linspace(1, 0, 16)}
    return model, val, test, xtr[:200], scores


def test_metrics_memoised_and_consistent_with_approximate(setup):
    model, val, test, x_cal, scores = setup
    ev = Evaluator(model, val, x_cal, importance=scores)
    plan = tfaxdnn.Plan({"conv1": {"multiplier": "mul8s_1L2N", "skip_fraction": 0.5}, "fc1": "mul8s_1KV9"})
    m = ev(plan)
    assert m.split == "validation" and m.n == 200 and m.batch_accuracies.shape == (2,)
    assert ev(plan) is m and ev.cache_info() == {"hits": 1, "misses": 1, "size": 1}
    ax = ev.build(plan)
    assert tfaxdnn.evaluate(ax, *val).accuracy == pytest.approx(m.accuracy)
    np.testing.assert_array_equal(ax.get_layer("conv1").kept_outputs, [False, False, True, True])
    exact = ev.exact()
    assert exact.relative_energy == pytest.approx(1.0) and m.relative_energy < 1.0
    assert ev.baseline().energy_j == pytest.approx(exact.energy_j)
    assert [row["name"] for row in m.per_layer] == ["conv1", "fc1", "fc2"]
    held_out = ev.with_data(test, split="test")(plan)
    assert held_out.split == "test" and held_out.energy_j == pytest.approx(m.energy_j)
    assert ev.layers == ["conv1", "fc1", "fc2"] and ev.output_layer == "fc2"


def test_spec_rebuilds_in_a_fresh_process_with_identical_metrics(setup, tmp_path):
    model, val, _, x_cal, scores = setup
    mine = tfaxdnn.multipliers.Multiplier.from_function(lambda a, w: (a * w) // 8 * 8, signed=True,
                                                        name="trunc8_eval_test", power_mw=0.2)
    ev = Evaluator(model, val, x_cal, importance=scores, calibration_samples=None)
    plan = tfaxdnn.Plan({"conv1": {"multiplier": mine, "skip_fraction": 0.25}, "fc1": "mul8s_1L2N"})
    here = ev(plan).to_dict()
    spec = ev.to_spec(tmp_path / "spec")
    (tmp_path / "spec.pkl").write_bytes(pickle.dumps((spec, plan.to_json())))
    code = ("import pickle, json, sys\n"
            "from tfaxdnn.search import Evaluator\n"
            "import tfaxdnn\n"
            f"spec, plan = pickle.loads(open({str(tmp_path / 'spec.pkl')!r}, 'rb').read())\n"
            "m = Evaluator.from_spec(spec)(tfaxdnn.Plan.from_json(plan)).to_dict()\n"
            "print('METRICS', json.dumps(m))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    there = json.loads(proc.stdout.split("METRICS", 1)[1])
    assert there["accuracy"] == here["accuracy"] and there["batch_accuracies"] == here["batch_accuracies"]
    assert there["energy_j"] == pytest.approx(here["energy_j"], rel=1e-12)


def test_bad_input(setup):
    model, val, _, x_cal, _ = setup
    with pytest.raises(ValueError, match="calibration_data"):
        Evaluator(model, val, None)
    with pytest.raises(ValueError, match="nothing to search"):
        flat = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten()])
        Evaluator(flat, val, x_cal)
    with pytest.raises(ValueError, match="validation_fraction"):
        split_data(val[0], val[1], 1.5, 0)
    ev = Evaluator(model, val, x_cal)
    with pytest.raises(ValueError, match="needs neuron importance"):
        ev(tfaxdnn.Plan({"conv1": {"multiplier": "mul8s_1KV6", "skip_fraction": 0.5}}))


def test_energy_of_reconfigurable_plans_builds_a_model_once(setup, monkeypatch):
    """Pricing mode fractions needs the layers' weight codes; they depend only on the kernels and the quantisation,
    so `energy` builds one model for them and prices further plans (other fractions) from the kept codes, with the
    same numbers as the metrics of an evaluated plan."""
    model, val, test, x_cal, scores = setup
    ev = Evaluator(model, val, x_cal, importance=scores)
    builds = []
    build = ev.build
    monkeypatch.setattr(ev, "build", lambda plan, *a, **k: builds.append(plan) or build(plan, *a, **k))
    plans = [tfaxdnn.Plan({"conv1": {"multiplier": "recon_evo", "mode_fractions": f}, "fc1": "mul8s_1KV9"})
             for f in ((0.25, 0.375), (0.1, 0.2))]
    energies = [ev.energy(p).energy_j for p in plans]
    assert len(builds) == 1 and energies[0] != energies[1]
    assert ev(plans[1]).energy_j == pytest.approx(energies[1])


def test_calibration_file_keeps_the_first_ranges_and_refuses_another_model(setup, tmp_path):
    """`tfaxdnn.search.calibration_file`: the ranges written by one evaluator score the plans of the next (here
    shifted on purpose, as another backend's float rounding would shift them); a file of other images is refused."""
    import json

    from tfaxdnn.rewrite.keras_model import Calibration
    from tfaxdnn.search.calibration_file import cached_calibration
    from tfaxdnn.search.checkpoint import CheckpointError

    model, val, _, x_cal, _ = setup
    path = str(tmp_path / "calibration.json")
    first = Evaluator(model, val, x_cal, calibration_samples=100)
    assert cached_calibration(first, path) is False                  # measured and written
    held = json.loads(open(path).read())
    assert held["ranges"] == {n: [float(v) for v in r] for n, r in first.calibration().ranges.items()}
    assert held["computed_by"] == "tensorflow on CPU"
    held["ranges"]["fc1"][1] *= 1.5                                  # another machine's (different) ranges
    open(path, "w").write(json.dumps(held))
    second = Evaluator(model, val, x_cal, calibration_samples=100)
    assert cached_calibration(second, path) is True
    assert second.calibration().ranges["fc1"][1] == pytest.approx(first.calibration().ranges["fc1"][1] * 1.5)
    plan = tfaxdnn.Plan(default_multiplier="mul8s_1L2J")
    # the plan is scored with the file's ranges: the model built from them gives the evaluator's accuracy
    shifted = Calibration(model.name, {n: tuple(r) for n, r in held["ranges"].items()}, "minmax", second.x_cal)
    want = tfaxdnn.evaluate(tfaxdnn.approximate(model, plan, calibration_data=shifted), *val).accuracy
    assert second(plan).accuracy == pytest.approx(want)
    with pytest.raises(ValueError, match="before the first plan is scored"):
        second.use_calibration(shifted)
    other = Evaluator(model, val, x_cal, calibration_samples=50)    # other calibration images
    with pytest.raises(CheckpointError, match="other calibration images"):
        cached_calibration(other, path)
    with pytest.raises(ValueError, match="does not fit model"):
        other.use_calibration(Calibration("another", shifted.ranges, "minmax", None))
    # a worker rebuilt from the spec scores with the given ranges, not its own measurement
    rebuilt = Evaluator.from_spec(second.to_spec(tmp_path / "spec"))
    assert rebuilt.calibration().ranges == second.calibration().ranges


def test_importance_round_trips_and_conductance_needs_tensorflow(setup, tmp_path, monkeypatch):
    from tfaxdnn.search.xaigen import Importance, compute_importance

    model, val, _, _, scores = setup
    imp = Importance(["conv1", "fc1"], {"conv1": 2.0, "fc1": 0.5}, {n: np.asarray(v) for n, v in scores.items()})
    imp.save(tmp_path / "imp.npz")
    back = Importance.load(tmp_path / "imp.npz")
    assert back.layers == imp.layers and back.scores == imp.scores
    for n in imp.layers:
        np.testing.assert_array_equal(back.neurons[n], imp.neurons[n])
    np.savez(tmp_path / "bad.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="no `layers__` entry"):
        Importance.load(tmp_path / "bad.npz")
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(RuntimeError, match="needs Keras's TensorFlow backend; this runs on 'jax'"):
        compute_importance(model, *val)
