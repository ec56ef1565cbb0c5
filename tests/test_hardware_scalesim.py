"""Slow cross-check of the weight-stationary cycle model against SCALE-Sim (optional extra, requirements-extras.txt).

Skipped, with a visible reason, when scalesim is not installed; benchmarks/bench_scalesim.py runs the full table.
"""

import importlib.util
import os

import pytest

pytestmark = pytest.mark.slow


def _bench():
    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "bench_scalesim.py")
    spec = importlib.util.spec_from_file_location("bench_scalesim", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ws_cycles_match_scalesim_within_15_percent():
    pytest.importorskip("scalesim", reason="scalesim not installed: pip install -r requirements-extras.txt")
    rows = _bench().compare(arrays=((16, 16), (64, 64)))
    assert len(rows) == 2 * (5 + 10)  # LeNet-5 and ResNet-8 Conv2D/Dense layers on both arrays
    bad = [(r["model"], r["array"], r["layer"], r["ratio"]) for r in rows if abs(r["ratio"] - 1) > 0.15]
    assert not bad, f"cycle ratio ours/SCALE-Sim outside +-15%: {bad}"
