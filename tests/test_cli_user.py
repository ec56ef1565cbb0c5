"""The command line as a new user meets it (issue 27 items 2, 8a, 8b, 8f, 8g): mis-scaled data is caught and names
--scale; a damaged model file is not "not found"; Ctrl-C ends a long verb with one line (and nas's resume command),
exit 130; config errors name the flags; a verb reads only the arrays it uses."""

import os
import shlex

import keras
import numpy as np
import pytest

import tfaxdnn
from tfaxdnn import cli
from tfaxdnn.data import prepare_images


@pytest.fixture(scope="module")
def unit(tmp_path_factory):
    """A tiny model trained on [0, 1] float images, its data (float, in [0, 1]) and its approximate version."""
    tmp = tmp_path_factory.mktemp("cli_user")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    x = rng.random((120, 6, 6)).astype("float32") * 0.5 + y[:, None, None] * 0.5   # class = bright or dark
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3, activation="relu", name="c"),
                              keras.layers.Flatten(), keras.layers.Dense(2, name="d")], name="tiny")
    model.compile(keras.optimizers.Adam(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[..., None], y, epochs=30, verbose=0)
    model.save(tmp / "m.keras")
    np.savez(tmp / "unit.npz", x_train=x[:80], y_train=y[:80], x_test=x[80:], y_test=y[80:])
    np.savez(tmp / "raw.npz", x_train=np.round(x[:80] * 255).astype("uint8"), y_train=y[:80],
             x_test=np.round(x[80:] * 255).astype("uint8"), y_test=y[80:])
    tfaxdnn.Plan({}, default_multiplier="mul8s_1L2N").to_json(tmp / "plan.json")
    assert cli.main(["approximate", "--model", str(tmp / "m.keras"), "--plan", str(tmp / "plan.json"), "--data",
                     str(tmp / "unit.npz"), "--out", str(tmp / "ax.keras")]) == 0
    return tmp


# -- item 2: mis-scaled data ------------------------------------------------------------------------------------
def test_scale_255_on_unit_data_is_an_error_naming_scale(unit, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["evaluate", "--model", str(unit / "m.keras"), "--data", str(unit / "unit.npz"), "--scale", "255"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--scale" in err and ("x_test" in err or "x_train" in err)
    assert cli.main(["evaluate", "--model", str(unit / "m.keras"), "--data", str(unit / "unit.npz")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_default_scaling_keeps_integer_images_already_in_0_1():
    binary = (np.arange(72).reshape(2, 6, 6) % 2).astype("uint8")           # {0, 1} images stored as integers
    assert prepare_images(binary, (None, 6, 6, 1)).max() == 1.0
    assert prepare_images(binary * 255, (None, 6, 6, 1)).max() == 1.0      # 8-bit pixels: still / 255
    assert prepare_images(binary, (None, 6, 6, 1), scale=1).max() == 1.0


def test_evaluate_warns_when_the_data_misses_the_calibrated_range(unit, capsys):
    ax = str(unit / "ax.keras")
    assert cli.main(["evaluate", "--model", ax, "--data", str(unit / "unit.npz")]) == 0
    assert "warning" not in capsys.readouterr().err                        # the data it was calibrated on
    assert cli.main(["evaluate", "--model", ax, "--data", str(unit / "raw.npz"), "--scale", "1"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and "--scale" in err and "calibrated" in err   # 0..255 saturates
    assert cli.main(["evaluate", "--model", ax, "--data", str(unit / "raw.npz"), "--scale", "20000"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and "--scale" in err and "of its 256 input codes" in err   # a sliver


def test_library_evaluate_warns_on_a_sliver_of_the_calibrated_range(unit):
    ax = keras.models.load_model(unit / "ax.keras")
    with np.load(unit / "unit.npz") as f:
        x, y = f["x_test"][..., None], f["y_test"]
    with pytest.warns(UserWarning, match="calibrated"):
        tfaxdnn.evaluate(ax, x / 255, y)
    with pytest.warns(UserWarning, match="calibrated"):
        tfaxdnn.evaluate(ax, x * 255, y)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tfaxdnn.evaluate(ax, x, y)
        tfaxdnn.evaluate(keras.models.load_model(unit / "m.keras"), x / 255, y)   # float model: nothing to compare


# -- item 8a: a damaged model file --------------------------------------------------------------------------------
def test_truncated_model_file_is_not_reported_as_missing(unit, tmp_path, capsys):
    data = (unit / "m.keras").read_bytes()
    (tmp_path / "half.keras").write_bytes(data[:len(data) // 2])
    with pytest.raises(SystemExit) as exc:
        cli.main(["estimate", "--model", str(tmp_path / "half.keras")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "not found" not in err.lower()
    assert "exists but cannot be read" in err and "half.keras" in err and "zip" in err.lower()


# -- item 8b: Ctrl-C ------------------------------------------------------------------------------------------------
def _interrupt(checkpoint=None):
    def fake(model, data, out, *args, **kwargs):
        if checkpoint:
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, checkpoint), "wb") as f:
                f.write(b"state")
        raise KeyboardInterrupt
    return fake


def test_ctrl_c_in_nas_prints_the_resume_command(unit, tmp_path, monkeypatch, capsys):
    import tfaxdnn.search.nas as nas

    monkeypatch.setattr(nas, "run_xainas", _interrupt("checkpoint.pkl"))
    out = tmp_path / "nas out"
    argv = ["nas", "--model", str(unit / "m.keras"), "--data", str(unit / "unit.npz"), "--out", str(out),
            "--workers", "0", "--pop", "4", "--seeds", "2", "--quiet"]
    assert cli.main(argv) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert str(out / "checkpoint.pkl") in err
    assert shlex.join(["tfaxdnn", *argv, "--resume"]) in err
    monkeypatch.setattr(nas, "run_xainas", _interrupt())                  # before the first checkpoint
    assert cli.main(argv[:5] + ["--out", str(tmp_path / "fresh"), *argv[7:]]) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no checkpoint" in err and "--resume" not in err.replace(
        "without --resume", "")


def test_ctrl_c_in_xaigen_and_map_exits_130_with_one_line(unit, tmp_path, monkeypatch, capsys):
    import tfaxdnn.search
    from tfaxdnn.search.mapping import report

    monkeypatch.setattr(tfaxdnn.search, "run_and_save", _interrupt())
    assert cli.main(["xaigen", "--model", str(unit / "m.keras"), "--data", str(unit / "unit.npz"), "--out",
                     str(tmp_path / "x"), "--quiet"]) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("interrupted")

    def compare(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(report, "compare", compare)
    rng = np.random.default_rng(2)                                  # the per-batch signal needs batches of 100
    np.savez(tmp_path / "map.npz", x_train=rng.random((40, 6, 6)), x_test=rng.random((400, 6, 6)),
             y_test=rng.integers(0, 2, 400))
    assert cli.main(["map", "--model", str(unit / "m.keras"), "--data", str(tmp_path / "map.npz"), "--out",
                     str(tmp_path / "p"), "--quiet", "--validation-fraction", "0.5"]) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("interrupted")


# -- item 8f: config errors name the flags --------------------------------------------------------------------------
@pytest.mark.parametrize("verb, flags, flag, field", [
    ("nas", ["--pop", "1", "--seeds", "0"], "--pop", "pop_size"),
    ("nas", ["--offsprings", "1"], "--offsprings", "n_offsprings"),
    ("nas", ["--mutation-prob", "2"], "--mutation-prob", "mutation_prob"),
    ("nas", ["--epsilon", "0"], "--epsilon", "epsilon"),
    ("nas", ["--max-accuracy-drop", "2"], "--max-accuracy-drop", "max_accuracy_drop"),
    ("xaigen", ["--t-c", "0"], "--t-c", "t_c"),
    ("xaigen", ["--refine-passes", "-1"], "--refine-passes", "refine_passes"),
    ("xaigen", ["--validation-fraction", "1"], "--validation-fraction", "validation_fraction"),
])
def test_config_errors_name_the_flag(verb, flags, flag, field, unit, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([verb, "--model", str(unit / "m.keras"), "--data", str(unit / "unit.npz"), "--out",
                  str(tmp_path / "o"), "--quiet", *flags])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and flag in err and field not in err.replace(flag, ""), err


# -- item 8g: only the arrays a verb uses -------------------------------------------------------------------------
def test_verbs_read_only_the_arrays_they_use(unit, tmp_path, capsys):
    with np.load(unit / "unit.npz") as f:
        arrays = {k: f[k] for k in f.files}
    np.savez(tmp_path / "train.npz", x_train=arrays["x_train"])
    np.savez(tmp_path / "test.npz", x_test=arrays["x_test"], y_test=arrays["y_test"])
    assert cli.main(["approximate", "--model", str(unit / "m.keras"), "--plan", str(unit / "plan.json"), "--data",
                     str(tmp_path / "train.npz"), "--out", str(tmp_path / "a.keras")]) == 0
    assert cli.main(["evaluate", "--model", str(unit / "m.keras"), "--data", str(tmp_path / "test.npz")]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:                     # with --plan, evaluate calibrates: needs x_train
        cli.main(["evaluate", "--model", str(unit / "m.keras"), "--data", str(tmp_path / "test.npz"), "--plan",
                  str(unit / "plan.json")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "x_train" in err and "y_train" not in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["approximate", "--model", str(unit / "m.keras"), "--plan", str(unit / "plan.json"), "--data",
                  str(tmp_path / "test.npz"), "--out", str(tmp_path / "b.keras")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "x_train" in err
    assert not (tmp_path / "b.keras").exists()


def test_ctrl_c_anywhere_else_exits_130_with_one_line(unit, monkeypatch, capsys):
    from tfaxdnn.cli import common

    def load_model(path):
        raise KeyboardInterrupt
    monkeypatch.setattr(common, "load_model", load_model)
    assert cli.main(["estimate", "--model", str(unit / "m.keras")]) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("interrupted: tfaxdnn estimate stopped")
