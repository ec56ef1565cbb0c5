"""examples/xaigen_calibration.py: the summary of finished runs (keep count, Clopper-Pearson bound, fallbacks, gaps)."""

import json
import math
import os

import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def calib():
    return load_script("examples/xaigen_calibration.py", "xaigen_calibration")


def fake_run(folder, seed, test_drop, val_drop=0.002, sel_drop=0.001, index=0, compute_x=1.1, warning=None):
    """The fields of table.json / result.json (and log.txt) that the driver reads."""
    os.makedirs(folder)
    tried = [{"label": "search answer", "passed": index == 0}, {"label": "step 4 (fc)", "passed": index == 1}]
    result = {"accuracy_drop": {"confirmation_check": {"n": 1250, "index": index, "fell_back": index != 0,
                                                       "tried": tried[:(2 if index is None else index + 1)]}}}
    answer = {"sel_drop": sel_drop, "sel_upper": sel_drop + 0.005, "conf_drop": 0.003, "conf_upper": 0.01,
              "val_drop": val_drop, "test_drop": test_drop, "kept_promise": test_drop <= 0.01,
              "compute_x": compute_x, "system_x": 1.05}
    table = {"model": "m", "budget": 0.01, "split_hash": "h", "weights_sha256": "w", "n_selection": 3750,
             "n_confirmation": 1250, "n_validation": 5000, "n_test": 10000, "answer": answer,
             "runtime_s": {"total": 540.0}, "flags": {"seed": seed}, "command": "python x"}
    for name, obj in (("table.json", table), ("result.json", result)):
        with open(os.path.join(folder, name), "w") as f:
            json.dump(obj, f)
    if warning:
        with open(os.path.join(folder, "log.txt"), "w") as f:
            f.write(f"progress\r/a/b.py:52: {warning}\n  code line\n")


def test_summary(calib, tmp_path):
    fake_run(tmp_path / "seed_1", 1, 0.004, warning="ValidationSizeWarning: too few images")
    fake_run(tmp_path / "seed_2", 2, 0.013, val_drop=0.006, index=1)        # broke the promise, fell back
    fake_run(tmp_path / "old", 0, 0.0, val_drop=0.0, index=None, compute_x=1.0)
    rows = [calib.read_run(str(tmp_path / f"seed_{k}"), k) for k in (1, 2)]
    rows.append(calib.read_run(str(tmp_path / "old"), source="earlier run"))
    assert [r["seed"] for r in rows] == [1, 2, 0]
    assert [r["kept"] for r in rows] == [True, False, True]
    assert rows[0]["answer"] == "plan (confirmed)" and not rows[0]["fell_back"]
    assert rows[1]["answer"] == "fell back to step 4 (fc)" and rows[1]["fell_back"]
    assert rows[2]["answer"] == "fell back: none held, exact plan"
    assert rows[0]["warnings"] == ["ValidationSizeWarning: too few images"]

    s = calib.summarize(rows, "python examples/xaigen_calibration.py ...", "0.1.0")
    ours, every = s["keep_rate"]["seeds"], s["keep_rate"]["all"]
    assert (ours["kept"], ours["runs"], ours["broke"]) == (1, 2, [2])
    assert (every["kept"], every["runs"]) == (2, 3)
    assert ours["lower_bound"] == pytest.approx(1 - math.sqrt(0.95))      # k=1, n=2: 1 - (1 - a)^(1/2)
    assert s["fell_back"] == [2, 0] and s["inconsistent"] == {}
    gap = s["test_minus_val"]["seeds"]
    assert gap["mean"] == pytest.approx((0.002 + 0.007) / 2) and gap["sd"] == pytest.approx(0.005 / math.sqrt(2))
    assert s["warnings"] == {"ValidationSizeWarning: too few images": [1]}
    md = calib.format_md(s)
    assert "| 2 | +0.10 [+0.60] | +0.30 | fell back to step 4 (fc) | +0.60 | +1.30 | +0.70 |" in md
    assert "| 0 (earlier run) |" in md and "1/2 runs kept it" in md and "2/3 runs kept it" in md
    json.dumps(s)
    rows[2]["weights_sha256"] = "other"
    assert calib.summarize(rows)["inconsistent"] == {"weights_sha256": {"w": [1, 2], "other": [0]}}


@pytest.mark.parametrize("k,n", [(10, 10), (9, 10), (10, 11), (0, 5), (3, 7)])
def test_clopper_pearson_lower(calib, k, n):
    lo = calib.clopper_pearson_lower(k, n)
    if k == n:
        assert lo == pytest.approx(0.05 ** (1 / n))                       # 10/10: 0.7411
    elif k == 0:
        assert lo == 0.0
    else:   # the bound p solves P(X >= k | n, p) = 5 %
        tail = math.fsum(math.comb(n, i) * lo ** i * (1 - lo) ** (n - i) for i in range(k, n + 1))
        assert tail == pytest.approx(0.05, abs=1e-9)


def test_seed_list(calib):
    assert calib.parse_seeds("1-3,7, 5") == [1, 2, 3, 5, 7]
    with pytest.raises(SystemExit):
        calib.parse_seeds("1-x")
