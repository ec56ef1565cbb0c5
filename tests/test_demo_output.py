"""`make demo` names the images of every accuracy it prints, explains its columns, and says why approximate plans
have a longer latency (run here without training and without the XAI-Gen search, which are stubbed)."""

import types

import pytest

import tfaxdnn
from conftest import load_script


@pytest.fixture(scope="module")
def demo():
    return load_script("examples/demo.py", "tfaxdnn_demo")


def test_latency_note_gives_the_placement_reason(demo):
    from tfaxdnn import hardware
    from tfaxdnn.models import lenet5

    model = lenet5()
    base = hardware.estimate(model)
    rep = hardware.estimate(model, tfaxdnn.Plan(default_multiplier="mul8s_1L2N"))
    note = demo.latency_note(base, rep, "mul8s_1L2N")
    assert f"{base.latency_s * 1e6:.2f}" != f"{rep.latency_s * 1e6:.2f}"
    assert "the clock is 2 ns for every plan" in note
    assert "runs on 1 lower half-pod\n(an exact one on 10 exact half-pods)" in note
    assert "conv3 4 tiles 511 -> 2044" in note
    assert f"({sum(r.cycles for r in base.layers)} -> {sum(r.cycles for r in rep.layers)} cycles in all)" in note


def test_demo_names_splits_and_explains_columns(demo, monkeypatch, capsys):
    monkeypatch.setattr(demo, "train_classifier", lambda model, *a, **k: model)  # the untrained model will do
    monkeypatch.setattr(demo, "plans", lambda: [("all mul8s_1L2N", tfaxdnn.Plan(default_multiplier="mul8s_1L2N"))])
    importance = types.SimpleNamespace(normalized=lambda: {"conv1": 0.0}, ascending=lambda: ["conv1"])
    result = types.SimpleNamespace(accuracy=0.5, baseline_accuracy=0.6, n_test=500, energy_j=1e-7,
                                   baseline_energy_j=2e-7, energy_reduction=2.0, importance=importance)
    monkeypatch.setattr(demo, "run_and_save", lambda *a, **k: result)
    demo.main()
    out = capsys.readouterr().out
    assert "float model: accuracy" in out and "on all 1000 test images;" in out
    for legend in ("  accuracy     top-1 on all 1000 MNIST test images (activation ranges from the first 500 "
                   "training images)", "  mult. power  power of the plan's multiplier",
                   "  energy nJ    system energy per image: multipliers + accumulators + on-chip SRAM (no DRAM)",
                   "  latency us   cycles x clock per image",
                   "  energy and latency: Accelerator.paper() (8 pods of 256x256 MACs), batch 1, clock 2 ns"):
        assert legend in out
    assert "Why approximate plans are slower" in out
    assert "into 500 validation images, which it selects on, and 500 test images\nit never sees" in out
    assert "accuracy 0.5000 vs float 0.6000 on the 500 held-out test images" in out
