"""One vocabulary: layer kinds, the multiplier registry, one plan resolver, one skip rule, one error type."""

import ast
import json
import os
import pathlib
import subprocess
import sys
import warnings
import zipfile

import keras
import numpy as np
import pytest

import tfaxdnn
from tfaxdnn import hardware, kinds, multipliers, skipping
from tfaxdnn.core.errors import UnknownNameError
from tfaxdnn.hardware.shapes import LayerShape

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).random((48, 10, 10, 1)).astype("float32")


def sequential(bn=True):
    layers = [keras.Input((10, 10, 1)), keras.layers.Conv2D(6, 3, name="c")]
    if bn:
        layers.append(keras.layers.BatchNormalization(name="bn"))
    layers += [keras.layers.ReLU(), keras.layers.Flatten(), keras.layers.Dense(8, activation="relu", name="d1"),
               keras.layers.Dense(3, name="d2")]
    model = keras.Sequential(layers, name="seq")
    if bn:  # non-trivial statistics so folding matters
        bn_layer = model.get_layer("bn")
        bn_layer.moving_mean.assign(np.linspace(-0.2, 0.3, 6))
        bn_layer.moving_variance.assign(np.linspace(0.5, 2.0, 6))
    return model


def trunc4():
    return multipliers.Multiplier.from_function(lambda a, w: (a * w) // 4 * 4, signed=True, name="trunc4_test",
                                                power_mw=0.3)


# -- Sequential models (issue 17, item 1) ------------------------------------------------------------------------
@pytest.mark.parametrize("bn", [True, False])
def test_sequential_models_approximate_with_and_without_folding_and_skipping(data, bn):
    model = sequential(bn)
    plan = tfaxdnn.Plan({"c": {"multiplier": "mul8s_1KV6", "skip_fraction": 0.5}, "d1": "mul8s_1L2N"},
                        default_multiplier="mul8s_1KV6", importance={"c": np.arange(6.0)})
    ax = tfaxdnn.approximate(model, plan, calibration_data=data)
    assert isinstance(ax, keras.Sequential) and isinstance(ax.get_layer("c"), tfaxdnn.layers.approximate_class("Conv2D"))
    np.testing.assert_array_equal(ax.get_layer("c").kept_outputs, [False] * 3 + [True] * 3)
    exact = tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier="mul8s_1KV6"), calibration_data=data)
    ref = model.predict(data, verbose=0)
    assert np.abs(exact.predict(data, verbose=0) - ref).max() < 0.05 * np.abs(ref).max()
    assert [w.name for w in model.weights] == [w.name for w in sequential(bn).weights]  # input untouched


# -- user multipliers everywhere (issue 12, done-when 1) -----------------------------------------------------------
def test_user_multiplier_approximates_reloads_in_a_fresh_process_and_is_priced(data, tmp_path):
    mine = trunc4()
    ax = tfaxdnn.approximate(sequential(), tfaxdnn.Plan(default_multiplier=mine), calibration_data=data)
    assert ax.get_layer("d1").multiplier_name == "trunc4_test"
    path, x_path, out_path = tmp_path / "ax.keras", tmp_path / "x.npy", tmp_path / "out.npy"
    ax.save(path)
    np.save(x_path, data)
    np.save(out_path, ax.predict(data, verbose=0))
    # a fresh interpreter that never registered the multiplier; plain `import tfaxdnn` before keras
    proc = run_python(f"import numpy as np, tfaxdnn, keras\n"
                      f"m = keras.models.load_model({str(path)!r})\n"
                      f"same = np.array_equal(m.predict(np.load({str(x_path)!r}), verbose=0), np.load({str(out_path)!r}))\n"
                      f"print('SAME' if same else 'DIFFERENT', m.get_layer('c').multiplier_name)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "SAME trunc4_test" in proc.stdout
    report = hardware.estimate(ax)
    assert report["c"].multiplier == "trunc4_test" and report.relative_energy < 1.0
    with pytest.raises(ValueError, match="power_mw"):
        hardware.estimate(sequential(), {"default_multiplier": multipliers.Multiplier(
            "nopower_test", True, multipliers.exact_table(True) // 2 * 2)})


def test_plan_json_with_unregistered_user_multiplier_is_refused_with_how_to_register(tmp_path):
    plan = tfaxdnn.Plan(default_multiplier=trunc4())
    saved = json.loads(plan.to_json())
    assert saved["multipliers"] == {"trunc4_test": trunc4().hash}
    path = tmp_path / "plan.json"
    plan.to_json(path)
    proc = run_python(f"import tfaxdnn\ntfaxdnn.Plan.from_json({str(path)!r})")
    assert proc.returncode != 0
    assert "Unknown multiplier 'trunc4_test'" in proc.stderr and "multipliers.register" in proc.stderr
    # a name that means another table here is refused too
    other = dict(saved, multipliers={"trunc4_test": "0" * 16})
    with pytest.raises(ValueError, match="table hash"):
        tfaxdnn.Plan.from_dict(other)


def test_registry_rules():
    mine = trunc4()
    assert multipliers.register(mine) == "trunc4_test" and multipliers.get("trunc4_test").hash == mine.hash
    clash = multipliers.Multiplier("trunc4_test", True, multipliers.exact_table(True))
    with pytest.raises(ValueError, match="another name"):
        multipliers.register(clash)
    with pytest.raises(ValueError, match="bundled"):
        multipliers.register(multipliers.Multiplier("mul8s_1L2N", True, multipliers.exact_table(True)))
    with pytest.raises(UnknownNameError, match="Did you mean: 'mul8s_1L2N'"):
        multipliers.get("mul8s_1L2M")


def test_table_file_in_a_plan(tmp_path, data):
    table = multipliers.get("mul8s_1L2N").table
    np.save(tmp_path / "mytable.npy", table)
    plan = tfaxdnn.Plan({"d1": str(tmp_path / "mytable.npy")})
    ax = tfaxdnn.approximate(sequential(False), plan, calibration_data=data)
    assert ax.get_layer("d1").multiplier_name == "mytable"
    np.testing.assert_array_equal(ax.get_layer("d1").multiplier.table, table)


def test_xaigen_accepts_a_user_multiplier():
    from tfaxdnn.search import XAIGenConfig

    cfg = XAIGenConfig(multipliers=["mul8s_1KV6", trunc4(), "mul8s_1L2N"])
    assert "trunc4_test" in cfg.multipliers and cfg.multipliers[0] == "mul8s_1KV6"


# -- one skip rule (issue 12, done-when 2) -------------------------------------------------------------------------
def test_hardware_and_approximate_agree_on_kept_outputs():
    rng = np.random.default_rng(0)
    for n in range(1, 65):
        for step in range(21):
            f = round(0.05 * step, 2)
            shape = LayerShape("l", "dense", 4, n, 1, 1, 4, n)
            plan = tfaxdnn.Plan({"l": {"multiplier": "mul8s_1KV6", "skip_fraction": f}})
            hw = hardware.assign([shape], plan)[0].kept_mask
            scores = rng.random(n)
            keras_mask = skipping.kept_mask("l", n, f, scores)
            hw_kept = n if hw is None else int(hw.sum())
            ax_kept = n if keras_mask is None else int(keras_mask.sum())
            assert hw_kept == ax_kept, (n, f)
            scored = hardware.assign([shape], plan.with_importance({"l": scores}))[0].kept_mask
            np.testing.assert_array_equal(scored if scored is not None else np.ones(n, bool),
                                          keras_mask if keras_mask is not None else np.ones(n, bool))


# -- one table of layer kinds ------------------------------------------------------------------------------------
def test_layer_kinds_table():
    inp = keras.Input((8, 8, 4))
    dw = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")
    grouped = keras.layers.Conv2D(4, 3, groups=2, name="g")
    sep = keras.layers.SeparableConv2D(4, 3, name="sep")
    model = keras.Model(inp, [dw(inp), grouped(inp), sep(inp)])
    assert kinds.kind_of(dw).name == "DepthwiseConv2D" and kinds.n_outputs(dw) == 8
    assert kinds.kind_of(grouped).name == "Conv2D" and not kinds.supports(grouped)
    assert "grouped" in kinds.unsupported_reason(grouped)
    assert kinds.kind_of(sep) is None and kinds.approximable_names(model) == ["dw"]
    assert kinds.kind_of_graph_op("DepthwiseConv2dNative").name == "DepthwiseConv2D"


def test_silent_surprises_become_warnings_and_errors(data):
    inp = keras.Input((10, 10, 1))
    x = keras.layers.SeparableConv2D(4, 3, name="sep")(inp)
    x = keras.layers.Conv2D(4, 3, groups=2, name="grp")(x)
    out = keras.layers.Dense(2, name="fc")(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    with pytest.warns(UserWarning, match=r"NOT approximated.*sep.*grp"):
        tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier="mul8s_1KV6"), calibration_data=data)
    with pytest.raises(ValueError, match="'grp': grouped convolutions"):
        tfaxdnn.approximate(model, tfaxdnn.Plan({"grp": "mul8s_1KV6"}), calibration_data=data)
    with pytest.warns(UserWarning, match="approximates no layer"):
        tfaxdnn.approximate(model, tfaxdnn.Plan(), calibration_data=data)
    with pytest.warns(UserWarning, match="only zeros"):
        tfaxdnn.approximate(model, tfaxdnn.Plan({"fc": {"multiplier": "mul8s_1KV6", "skip_fraction": 1.0}},
                                                importance={"fc": [1.0, 2.0]}), calibration_data=data)
    with pytest.raises(ValueError, match="uint8 codes are always asymmetric"):
        tfaxdnn.QuantizationConfig(dtype="uint8", activation="symmetric")
    assert tfaxdnn.QuantizationConfig(dtype="uint8").activation == "asymmetric"


def test_unknown_names_share_one_error_type(data):
    with pytest.raises(UnknownNameError, match="Unknown multiplier 'mul8s_1L2M'"):
        tfaxdnn.Plan(default_multiplier="mul8s_1L2M")
    with pytest.raises(UnknownNameError, match="Unknown layer 'd9'.*'d1'"):
        tfaxdnn.approximate(sequential(False), {"layers": {"d9": "mul8s_1KV6"}}, calibration_data=data)
    with pytest.raises(UnknownNameError, match="Unknown layer 'd9'"):
        hardware.estimate(sequential(False), {"layers": {"d9": "mul8s_1KV6"}})
    assert issubclass(UnknownNameError, KeyError) and issubclass(UnknownNameError, ValueError)


# -- saved models: names and tables checked on load (issue 17, item 9) ---------------------------------------------
def test_keras_file_naming_another_bundled_multiplier_is_refused(data, tmp_path):
    ax = tfaxdnn.approximate(sequential(False), tfaxdnn.Plan({"d1": "mul8s_1L2N"}), calibration_data=data)
    path = tmp_path / "ax.keras"
    ax.save(path)
    edited = tmp_path / "edited.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(edited, "w") as dst:
        for item in src.infolist():
            payload = src.read(item.filename)
            if item.filename == "config.json":
                cfg = json.loads(payload)
                for layer in cfg["config"]["layers"]:
                    if layer["config"].get("multiplier") == "mul8s_1L2N":
                        layer["config"]["multiplier"] = "mul8s_1KV9"  # hash left: the stored table's
                payload = json.dumps(cfg).encode()
            dst.writestr(item, payload)
    with pytest.raises(ValueError, match="bundled multiplier 'mul8s_1KV9'.*another table"):
        keras.models.load_model(edited)


# -- multipliers: signedness and C sources (issue 17, item 14) -----------------------------------------------------
def test_signedness_is_checked_where_evident(tmp_path):
    multipliers.get("mul8s_1L2N").to_bin(tmp_path / "s.bin")
    with pytest.warns(UserWarning, match="declared unsigned.*signed products"):
        multipliers.Multiplier.from_bin(tmp_path / "s.bin", signed=False)
    multipliers.get("mul8u_1JFF").to_bin(tmp_path / "mul8u_copy.bin")
    with pytest.warns(UserWarning, match="name says unsigned"):
        multipliers.Multiplier.from_bin(tmp_path / "mul8u_copy.bin", signed=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in multipliers.names():
            m = multipliers.get(name)
            from tfaxdnn.multipliers.multiplier import check_signedness

            check_signedness(m.name, m.table, m.signed)


def test_c_source_that_aborts_says_how(tmp_path):
    src = tmp_path / "bad.c"
    src.write_text("#include <stdlib.h>\n#include <stdint.h>\nuint16_t f(uint8_t a, uint8_t b) { if (a == 3) "
                   "abort(); return a * b; }\n")
    with pytest.raises(ValueError, match=r"killed by signal \d+"):
        multipliers.Multiplier.from_c_source(src, "f", signed=False)


# -- no import cycle (issue 12, done-when 3) -----------------------------------------------------------------------
def _imports(path: pathlib.Path, package_root: pathlib.Path):
    module = ".".join(path.relative_to(package_root.parent).with_suffix("").parts).replace(".__init__", "")
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return module, {m for m in out if m.startswith("tfaxdnn")}


def test_the_package_has_no_import_cycle():
    pkg = ROOT / "tfaxdnn"
    graph = dict(_imports(p, pkg) for p in pkg.rglob("*.py"))
    modules = set(graph)

    def target(name):  # `from tfaxdnn.x import y` may name a module or an attribute of one
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    # a package's __init__ re-exports its children; a child naming its own parent package is not a cycle
    edges = {m: {target(d) for d in deps if not m.startswith(target(d) + ".")} - {m} for m, deps in graph.items()}
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in edges.get(m, ()):
            if d not in modules:
                continue
            if state.get(d) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(stack[stack.index(d):] + [d])}")
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(modules):
        if m not in state:
            visit(m)


def test_loaded_sequential_model_folds_and_approximates_like_the_original(data, tmp_path):
    model = sequential(bn=True)
    model.save(tmp_path / "seq.keras")
    loaded = keras.models.load_model(tmp_path / "seq.keras")
    plan = tfaxdnn.Plan(default_multiplier="mul8s_1L2N")
    a = tfaxdnn.approximate(model, plan, calibration_data=data)
    b = tfaxdnn.approximate(loaded, plan, calibration_data=data)
    assert isinstance(b.get_layer("bn"), keras.layers.Identity)  # BatchNormalization folded in both
    np.testing.assert_array_equal(a.predict(data, verbose=0), b.predict(data, verbose=0))


def test_raw_pixel_calibration_and_softmax_conductance_warn(data):
    model = sequential(bn=False)
    with pytest.warns(UserWarning, match="raw pixels"):
        tfaxdnn.approximate(model, tfaxdnn.Plan({"d1": "mul8s_1KV6"}), calibration_data=np.round(data * 255))
    soft = keras.Sequential([keras.Input((10, 10, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(3, activation="softmax", name="p")])
    with pytest.warns(UserWarning, match="softmax"):
        tfaxdnn.xai.layer_conductance(soft, data[:4], target=0, n_steps=4)
