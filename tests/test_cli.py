"""The command line's verbs: multipliers, approximate, evaluate, estimate; help and version of every verb; the same
data flags on every verb that reads data; clear errors (exit code 2); transform-graph as a verb and a command."""

import argparse
import ast
import json
import pathlib

import keras
import numpy as np
import pytest

import tfaxdnn
from tfaxdnn import cli
from tfaxdnn.cli import transform_graph


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
    with pytest.raises(SystemExit, match="model file not found") as exc:
        cli.main(["evaluate", "--model", str(files / "none.keras"), "--data", str(files / "d.npz")])
    assert exc.value.code == 2


def test_user_errors_exit_2_with_the_message_on_stderr(files, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["approximate", "--model", str(files / "m.keras"), "--plan", str(files / "plan.json"),
                  "--data", str(files / "missing.npz"), "--out", str(files / "x.keras")])
    assert exc.value.code == 2 and str(exc.value).startswith("error: Dataset file not found")
    assert "error: Dataset file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:                          # argparse's own errors: also 2
        cli.main(["evaluate", "--model", str(files / "m.keras")])
    assert exc.value.code == 2 and "--data" in capsys.readouterr().err


def _subparsers(parser):
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("verb", cli.VERBS)
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([verb, "--help"])
    text = capsys.readouterr().out
    assert exc.value.code == 0 and text.startswith(f"usage: tfaxdnn {verb} ") and "``" not in text


def test_the_verbs_are_the_parsers_and_the_help(capsys):
    assert set(_subparsers(cli.build_parser())) == set(cli.VERBS)
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert all(f"tfaxdnn {verb}" in text for verb in cli.VERBS)


#: every verb that reads a data file, with its other required flags
DATA_VERBS = {
    "approximate": ["--model", "{m}", "--plan", "{plan}", "--out", "{tmp}/a.keras"],
    "evaluate": ["--model", "{m}"],
    "xaigen": ["--model", "{m}", "--out", "{tmp}/x", "--quiet"],
    "nas": ["--model", "{m}", "--out", "{tmp}/n", "--workers", "0", "--quiet"],
    "map": ["--model", "{m}", "--out", "{tmp}/p", "--quiet"],
    "explain": ["--model", "{m}", "--approx", "{m}", "--out", "{tmp}/e"],
}


def test_data_verbs_share_the_data_flags():
    parsers = _subparsers(cli.build_parser())
    readers = {verb for verb, p in parsers.items() if "--data" in p._option_string_actions}
    assert readers == set(DATA_VERBS)
    for verb in readers:
        flags = parsers[verb]._option_string_actions
        assert flags["--scale"].default is None and flags["--scale"].type is float, verb
        assert flags["--data"].required, verb
        if "--calibration-samples" in flags:
            assert flags["--calibration-samples"].default == 500, verb
    for verb in ("xaigen", "map"):                                  # searches with their own split take --val-data
        assert "--val-data" in parsers[verb]._option_string_actions


@pytest.mark.parametrize("verb", sorted(DATA_VERBS))
def test_scale_is_accepted_and_used_by_every_data_verb(verb, files, capsys):
    rest = [a.format(m=files / "m.keras", plan=files / "plan.json", tmp=files) for a in DATA_VERBS[verb]]
    args = cli.build_parser().parse_args([verb, "--data", str(files / "d.npz"), "--scale", "255", *rest])
    assert args.scale == 255.0 and args.func is cli.verb_module(verb).run
    with pytest.raises(SystemExit, match="`scale` must be a positive number") as exc:   # reaches the data loading
        cli.main([verb, "--data", str(files / "d.npz"), "--scale", "0", *rest])
    assert exc.value.code == 2 and "scale" in capsys.readouterr().err


def test_help_lists_every_name_it_checks():
    from tfaxdnn.search.nas import OBJECTIVES
    from tfaxdnn.xai.explanations.compare import METHODS

    parsers = _subparsers(cli.build_parser())
    assert set(OBJECTIVES) == set(cli.verb_module("nas").OBJECTIVE_NAMES)
    assert all(m in parsers["explain"]._option_string_actions["--methods"].help for m in METHODS)
    with pytest.raises(SystemExit):
        parsers["explain"].parse_args(["--model", "m", "--approx", "a", "--data", "d", "--out", "o",
                                       "--methods", "saliency"])


def test_no_cli_module_imports_a_private_name():
    private = []
    for path in sorted(pathlib.Path(cli.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tfaxdnn"):
                private += [f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert not private


def test_transform_graph_is_a_verb_and_a_command(tmp_path, capsys):
    args = cli.build_parser().parse_args(["transform-graph", "--in_graph", "g.pb", "--out_graph", "a.pb",
                                          "--transforms", "strip_unused_nodes"])
    assert args.func is transform_graph.run
    flags = ["--in_graph", str(tmp_path / "none.pb"), "--out_graph", str(tmp_path / "a.pb"),
             "--transforms", "strip_unused_nodes"]
    assert transform_graph.main(flags) == 2
    alone = capsys.readouterr().err
    assert cli.main(["transform-graph", *flags]) == 2
    assert capsys.readouterr().err == alone and "does not exist" in alone
    with pytest.raises(SystemExit) as exc:
        transform_graph.main(["--help"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("usage: tfaxdnn-transform-graph")


def test_map_with_a_separate_validation_file(files, capsys):
    rng = np.random.default_rng(1)
    for name, n_test in (("map.npz", 240), ("val.npz", 260)):      # the per-batch signal needs batches of 100
        np.savez(files / name, x_train=rng.integers(0, 256, (40, 8, 8), dtype=np.uint8), y_train=np.zeros(40, int),
                 x_test=rng.integers(0, 256, (n_test, 8, 8), dtype=np.uint8), y_test=rng.integers(0, 3, n_test))
    out = files / "map_val"
    code = cli.main(["map", "--model", str(files / "m.keras"), "--data", str(files / "map.npz"), "--val-data",
                     str(files / "val.npz"), "--out", str(out), "--query", "Q7", "--thr-avg", "100", "--budget", "1",
                     "--baselines", "none", "--calibration-samples", "32", "--quiet"])
    assert code in (0, 3)
    summary = json.loads((out / "summary.json").read_text())
    # the validation file is split into the search's images and the confirmation slice (a fallback is chosen there,
    # never on test images); all of --data's x_test only verifies
    assert (summary["search_images"], summary["confirmation_images"], summary["verify_images"]) == (130, 130, 240)
    assert summary["confirmation_from"] == "validation"
    np.savez(files / "small_val.npz", **{**dict(np.load(files / "val.npz")), "x_test": np.zeros((150, 8, 8), np.uint8),
                                         "y_test": np.zeros(150, int)})
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        cli.main(["map", "--model", str(files / "m.keras"), "--data", str(files / "map.npz"), "--val-data",
                  str(files / "small_val.npz"), "--out", str(out), "--quiet"])
    assert exc.value.code == 2
    assert "give 75 search and 75 confirmation images" in capsys.readouterr().err
    assert summary["val_data"] == str(files / "val.npz")
