"""The command line's verbs: multipliers, approximate, evaluate, estimate; help and version; clear errors."""

import json

import keras
import numpy as np
import pytest

import tfaxdnn
from tfaxdnn import cli


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="c"),
                              keras.layers.Flatten(), keras.layers.Dense(3, name="d")], name="tiny")
    model.save(tmp / "m.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp / "d.npz", x_train=rng.integers(0, 256, (64, 8, 8), dtype=np.uint8), y_train=rng.integers(0, 3, 64),
             x_test=rng.integers(0, 256, (50, 8, 8), dtype=np.uint8), y_test=rng.integers(0, 3, 50))
    tfaxdnn.Plan({"c": "mul8s_1L2N"}, default_multiplier="mul8s_1KV6").to_json(tmp / "plan.json")
    return tmp


def test_help_and_version(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert "``" not in text and all(v in text for v in ("multipliers", "approximate", "evaluate", "estimate"))
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert tfaxdnn.__version__ in capsys.readouterr().out


def test_multipliers_table(capsys):
    assert cli.main(["multipliers", "--signed", "--sort", "power"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[1:-1]]
    assert all(r[0].startswith("mul8s_") for r in rows)
    powers = [float(r[4]) for r in rows if r[4] != "?"]
    assert powers == sorted(powers) and "mul8s_1L2N" in {r[0] for r in rows}


def test_approximate_evaluate_estimate(files, capsys):
    out = files / "ax.keras"
    assert cli.main(["approximate", "--model", str(files / "m.keras"), "--plan", str(files / "plan.json"),
                     "--data", str(files / "d.npz"), "--out", str(out)]) == 0
    ax = keras.models.load_model(out)
    assert ax.get_layer("c").multiplier_name == "mul8s_1L2N" and ax.get_layer("d").multiplier_name == "mul8s_1KV6"
    assert cli.main(["evaluate", "--model", str(files / "m.keras"), "--data", str(files / "d.npz"), "--plan",
                     str(files / "plan.json")]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "on 50 test images" in text and "x all-exact" in text
    assert cli.main(["estimate", "--model", str(out), "--batch-size", "8"]) == 0
    text = capsys.readouterr().out
    assert "mul8s_1L2N" in text and "batch of 8" in text


def test_cli_errors_are_readable(files):
    with pytest.raises(SystemExit, match="Plan file not found"):
        cli.main(["estimate", "--model", str(files / "m.keras"), "--plan", str(files / "nope.json")])
    (files / "typo.json").write_text(json.dumps({"default_multiplier": "mul8s_1L2M"}))
    with pytest.raises(SystemExit, match="Did you mean: 'mul8s_1L2N'"):
        cli.main(["estimate", "--model", str(files / "m.keras"), "--plan", str(files / "typo.json")])
    with pytest.raises(SystemExit, match="model file not found"):
        cli.main(["evaluate", "--model", str(files / "none.keras"), "--data", str(files / "d.npz")])
