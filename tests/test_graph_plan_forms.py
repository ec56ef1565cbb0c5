"""The two forms of the ``approximate`` transform: ``multiplier=NAME`` with ``weight_mapping=`` gives the graph the
equivalent plan file gives; scheme mismatches (uint8 graph vs signed plan, int8 graph vs unsigned plan) name the graph's
codes and the plan's multipliers and give the fix in the form the user wrote."""

import json

import pytest

import tfaxdnn
from tfaxdnn.graphs import GraphTransformError, RefusalError
from tfaxdnn.graphs.approximate import approximate_graph
from tfaxdnn.graphs.parser import parse_transforms
from tfaxdnn.graphs.quantize import quantize_graph
from tfaxdnn.graphs.transforms import Context, apply


@pytest.fixture(scope="module")
def graphs(float_graph):
    """A float conv -> matmul graph, quantised in the uint8 scheme (TF1 ops) and in the int8 scheme (LUT form)."""
    gd, rng = float_graph()
    calib = rng.uniform(size=(16, 6, 6, 2)).astype("float32")
    return {"uint8": quantize_graph(gd, "image", calib), "int8": quantize_graph(gd, "image", calib, scheme="int8")}


def transform(graph_def, text):
    return apply(graph_def, parse_transforms(text), Context(["image"], ["output"]))


def plan_file(tmp_path, data):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize("scheme,mult", [("uint8", "mul8u_17C8"), ("int8", "mul8s_1L2N")])
def test_inline_weight_mapping_gives_the_plan_file_graph(graphs, tmp_path, scheme, mult):
    q = graphs[scheme]
    path = plan_file(tmp_path, {"default_multiplier": mult, "default_weight_mapping": "uniform",
                                "quantization": {"dtype": scheme}})
    from_file = transform(q, f"approximate(plan={path})")
    inline = transform(q, f"approximate(multiplier={mult}, weight_mapping=uniform, skip_fraction=0)")
    assert inline == from_file
    assert inline != transform(q, f"approximate(multiplier={mult})")  # the mapping did re-code weights
    # skip_fraction > 0 is refused in both forms (neuron importance lives in the Keras path)
    path = plan_file(tmp_path, {"default_multiplier": mult, "quantization": {"dtype": scheme},
                                "layers": {"conv1": {"skip_fraction": 0.5}}})
    for text in (f"approximate(plan={path})", f"approximate(multiplier={mult}, skip_fraction=0.5)"):
        with pytest.raises(RefusalError, match="skip_fraction=0.5 is not supported on frozen graphs"):
            transform(q, text)
    with pytest.raises(GraphTransformError, match="weight_mapping must be one of"):
        transform(q, f"approximate(multiplier={mult}, weight_mapping=unifrom)")


def test_uint8_graph_with_signed_plan_file_names_both_and_fixes_in_json(graphs, tmp_path):
    q = graphs["uint8"]
    path = plan_file(tmp_path, {"default_multiplier": "mul8s_1L2N"})
    with pytest.raises(RefusalError) as first:
        transform(q, f"approximate(plan={path})")
    msg = str(first.value)
    assert "has uint8 codes (TF1 quint8 operands, made by quantize(scheme=uint8))" in msg
    assert "signed (mul8s_*, int8 tables) multiplier 'mul8s_1L2N'" in msg
    assert f'in {path}, name mul8u_* multipliers together with "quantization": {{"dtype": "uint8"}}' in msg
    assert '{"default_multiplier": "mul8u_17C8", "quantization": {"dtype": "uint8"}}' in msg
    assert "quantize(calibration=..., scheme=int8)" in msg
    # following only half of that fix (the dtype) is the second error: still both sides, still plan JSON
    path = plan_file(tmp_path, {"default_multiplier": "mul8s_1L2N", "quantization": {"dtype": "uint8"}})
    with pytest.raises(GraphTransformError) as second:
        transform(q, f"approximate(plan={path})")
    msg = str(second.value)
    assert "signed (mul8s_*, int8) multipliers ['mul8s_1L2N'] but has \"quantization\": {\"dtype\": \"uint8\"}" in msg
    assert "This graph's rewritable nodes have uint8 codes" in msg
    assert '{"default_multiplier": "mul8u_17C8", "quantization": {"dtype": "uint8"}}' in msg
    assert "QuantizationConfig" not in msg and "Plan(" not in msg
    # unsigned multipliers without "quantization": the graph fits them, only the dtype is missing
    path = plan_file(tmp_path, {"default_multiplier": "mul8u_17C8"})
    with pytest.raises(GraphTransformError, match=r'has no "quantization" key \(dtype "int8"\).*which fit these '
                                                  r'multipliers\. Fix: in .*plan\.json, write "quantization": '
                                                  r'\{"dtype": "uint8"\}\.'):
        transform(q, f"approximate(plan={path})")


def test_scheme_mismatch_fix_in_transform_arguments_and_python(graphs):
    with pytest.raises(RefusalError) as exc:
        transform(graphs["uint8"], "approximate(multiplier=mul8s_1L2N)")
    msg = str(exc.value)
    assert "has uint8 codes" in msg and "multiplier 'mul8s_1L2N'" in msg
    assert "Fix: approximate(multiplier=mul8u_17C8) (mul8u_* names)" in msg
    assert "quantize(calibration=..., scheme=int8)" in msg and '"quantization"' not in msg
    with pytest.raises(RefusalError) as exc:
        transform(graphs["int8"], "approximate(multiplier=mul8u_17C8)")
    msg = str(exc.value)
    assert "has int8 codes (the LUT form, made by quantize(scheme=int8))" in msg
    assert "unsigned (mul8u_*, uint8 tables) multiplier 'mul8u_17C8'" in msg
    assert "Fix: approximate(multiplier=mul8s_1L2N) (mul8s_* names)" in msg and "scheme=uint8" in msg
    with pytest.raises(RefusalError, match=r'Fix: tfaxdnn\.Plan\(default_multiplier="mul8u_17C8", '
                                           r'quantization=\{"dtype": "uint8"\}\).*quantize_graph\(\.\.\., '
                                           r'scheme="int8"\)'):
        approximate_graph(graphs["uint8"], tfaxdnn.Plan(default_multiplier="mul8s_1L2N"))
