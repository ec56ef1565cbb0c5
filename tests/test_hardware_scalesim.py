"""Slow cross-check of the weight-stationary cycle and traffic model against SCALE-Sim (optional extra,
requirements-extras.txt).

Skipped, with a visible reason, when scalesim is not installed; benchmarks/bench_scalesim.py runs the full table.
"""


import pytest
from conftest import load_script

pytestmark = pytest.mark.slow


def _bench():
    return load_script("benchmarks/bench_scalesim.py", "bench_scalesim")


@pytest.fixture(scope="module")
def rows():
    pytest.importorskip("scalesim", reason="scalesim not installed: pip install -r requirements-extras.txt")
    return _bench().compare(arrays=((16, 16), (64, 64)))


def test_ws_cycles_match_scalesim_within_15_percent(rows):
    assert len(rows) == 2 * (5 + 10)  # LeNet-5 and ResNet-8 Conv2D/Dense layers on both arrays
    bad = [(r["model"], r["array"], r["layer"], r["ratio"]) for r in rows if abs(r["ratio"] - 1) > 0.15]
    assert not bad, f"cycle ratio ours/SCALE-Sim outside +-15%: {bad}"


def test_sram_traffic_matches_scalesim_within_15_percent(rows):
    for col in ("sram_ifmap", "sram_filter", "sram_ofmap", "dram_filter"):
        bad = [(r["model"], r["array"], r["layer"], r[col + "_ratio"]) for r in rows
               if abs(r[col + "_ratio"] - 1) > 0.15]
        assert not bad, f"{col} ours/SCALE-Sim outside +-15%: {bad}"


def test_dram_differences_are_the_documented_ones(rows):
    from tfaxdnn import hardware, models

    shapes = {(m.name, s.name): s for m in (models.lenet5(), models.resnet8()) for s in hardware.model_shapes(m)}
    for r in rows:
        s = shapes[(r["model"], r["layer"])]
        # ours: the real (unpadded) input tensor once, the final outputs once
        assert r["dram_ifmap_ours"] == s.input_elems and r["dram_ofmap_ours"] == s.output_elems
        # SCALE-Sim drains every ofmap SRAM write (partial sums of each row fold included) to DRAM
        assert r["dram_ofmap_scalesim"] == r["sram_ofmap_scalesim"]
        layer = s.layer
        if s.kind == "conv2d" and tuple(layer.strides) == (1, 1):
            # ... and reads the padded input (SCALE-Sim has no padding: we give it the padded size)
            kh, kw = layer.kernel_size
            ho, wo, _ = tuple(layer.output.shape)[1:]
            assert r["dram_ifmap_scalesim"] == (ho + kh - 1) * (wo + kw - 1) * (s.k // (kh * kw))
