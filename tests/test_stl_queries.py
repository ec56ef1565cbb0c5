"""STL accuracy queries (rtamt robustness) on hand-made drop signals."""

import math

import numpy as np
import pytest

from tfaxdnn.core.errors import UnknownNameError
from tfaxdnn.search.mapping.queries import Query, drop_signal, iq1, iq2, iq3, paper_queries, paper_query, parse_query, q7


def test_paper_table_one():
    qs = {q.name: q for q in paper_queries(0.5)}
    assert (qs["Q1"].thr, qs["Q1"].x, qs["Q3"].x, qs["Q4"].thr, qs["Q6"].x) == (3, 40, 80, 5, 80)
    assert all(qs[n].thr_total == 15 and qs[n].thr_avg == 0.5 for n in ("Q1", "Q2", "Q3", "Q4", "Q5", "Q6"))
    assert qs["Q7"] == Query("Q7", thr_avg=0.5)
    assert paper_query("q3", 2).stl(10) == ("(always[0:7](ranked <= 3.0)) and (always(drop <= 15.0)) and "
                                            "(always(avgdrop <= 2.0))")


def test_q3_satisfied_violated_boundary():
    q = paper_query("Q3", 1.0)  # drop <= 3 on 80 % (8 of 10 batches), <= 15 always, mean <= 1
    ok = np.array([0, 0, 0, 0, 0, 0, 0, 0, 4, 5.0])        # 8th smallest 0, max 5, mean 0.9
    assert q.term_robustness(ok) == pytest.approx({"x_percent": 3.0, "every_batch": 10.0, "average": 0.1})
    assert q.robustness(ok) == pytest.approx(0.1) and q.satisfied(ok)
    three_over = np.array([0, 0, 0, 0, 0, 0, 0, 3.5, 3.5, 3.0]) / 1.0  # 8th smallest 3.0: exactly on thr
    assert q.term_robustness(three_over)["x_percent"] == pytest.approx(0.0)
    assert q.robustness(three_over) == pytest.approx(1 - 1.0)  # mean exactly 1.0: boundary, satisfied
    assert q.satisfied(three_over)
    spike = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 16.0])       # one batch above thr_total
    assert q.term_robustness(spike)["every_batch"] == pytest.approx(-1.0)
    assert q.robustness(spike) == pytest.approx(min(-1.0, 1 - 1.6)) and not q.satisfied(spike)
    many = np.array([0, 0, 0, 0, 0, 0, 0.2, 3.4, 3.2, 4.0])  # only 7 of 10 within 3 %: 8th smallest 3.2
    assert q.term_robustness(many)["x_percent"] == pytest.approx(3 - 3.2)
    assert not q.satisfied(many)


@pytest.mark.parametrize("x", [40.0, 60.0, 80.0, 33.0, 100.0])
def test_x_percent_encoding_equals_a_hand_count(x, rng):
    q = iq1(3.0, x)
    for n in (1, 7, 10, 25):
        k = math.ceil(x / 100 * n - 1e-9)
        for _ in range(8):
            drop = rng.choice([0.0, 1.0, 3.0, 3.5, 8.0], size=n)  # ties and values on the threshold
            count = int((drop <= 3.0).sum())
            assert q.satisfied(drop) == (count >= k), (drop, k)
            assert q.robustness(drop) == pytest.approx(3.0 - np.sort(drop)[k - 1])


def test_iq_builders_and_q7():
    d = np.array([1.0, 2.0, 20.0])
    assert iq1(5, 60).robustness(d) == pytest.approx(3.0)        # k = 2: 2nd smallest 2
    assert iq2(5, 60).robustness(d) == pytest.approx(-5.0)       # 20 > 15
    assert iq3(5, 60, thr_avg=10, thr_total=25).robustness(d) == pytest.approx(min(3.0, 5.0, 10 - 23 / 3))
    assert q7(8).robustness(d) == pytest.approx(8 - 23 / 3)
    assert parse_query("thr=5,x=60,thr_total=25,thr_avg=10") == Query("custom", 5, 60, 25, 10)


def test_drop_signal_in_percentage_points():
    assert drop_signal([0.9, 1.0], [0.95, 0.97]) == pytest.approx([5.0, -3.0])
    d = drop_signal([0.95, 0.96], [0.98, 0.99])  # 100 * (0.98 - 0.95) is 3.0000000000000027 in floats
    assert d.tolist() == [3.0, 3.0] and paper_query("Q3", 3.0).term_robustness(d)["x_percent"] == 0.0
    with pytest.raises(ValueError, match="equal-length"):
        drop_signal([0.9], [0.9, 0.8])


@pytest.mark.parametrize("kwargs, match", [
    (dict(thr=3, x=0), r"`x` is a percentage and must lie in \(0, 100\]"),
    (dict(thr=3, x=120), "`x` is a percentage"),
    (dict(thr=-1, x=50), r"`thr` is a percentage and must lie in \[0, 100\]"),
    (dict(thr_avg=150), "`thr_avg`"),
    (dict(thr=3), "`thr` and `x` go together"),
    (dict(), "has no term"),
    (dict(thr=5, x=50, thr_total=3), "`thr_total` .* must be >= `thr`"),
])
def test_parameters_out_of_range(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Query("bad", **kwargs)


def test_unknown_query_and_empty_signal():
    with pytest.raises(UnknownNameError, match="Unknown query 'Q9'"):
        paper_query("Q9")
    with pytest.raises(ValueError, match="non-empty"):
        q7(1).robustness([])
