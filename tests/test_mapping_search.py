"""The mapping search and its baselines: budget, seeding, results, comparison and the CLI (tiny synthetic model)."""

import keras
import numpy as np
import pytest

from tfaxdnn import Plan
from tfaxdnn.search import Evaluator
from tfaxdnn.search.mapping import MappingProblem, greedy_baseline, homogeneous_baseline, search_mapping
from tfaxdnn.search.mapping.report import compare
from tfaxdnn.search.mapping.queries import paper_query, q7


@pytest.fixture(scope="module")
def tiny():
    """A random conv net labelling its own inputs (exact accuracy ~100 %), 200 images = 2 batches of 100."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    h = keras.layers.Flatten()(h)
    model = keras.Model(inp, keras.layers.Dense(5, name="fc")(h))
    x = np.random.default_rng(0).random((260, 8, 8, 1)).astype("float32")
    y = model.predict(x, verbose=0).argmax(1)
    return model, x, y


@pytest.fixture(scope="module")
def problem(tiny):
    model, x, y = tiny
    return MappingProblem(Evaluator(model, (x[:200], y[:200]), x[200:]), "recon_evo")


def test_search_respects_budget_and_is_seeded(problem):
    before = problem.ev.cache_info()["misses"]
    q = q7(50.0)  # lenient: the random tiny model loses a lot under approximation
    r = search_mapping(problem, q, budget=5, seed=1)
    assert len(r.points) == 5 and problem.ev.cache_info()["misses"] - before <= 5
    again = search_mapping(problem, q, budget=5, seed=1)
    assert [p.fractions for p in again.points] == [p.fractions for p in r.points]
    for p in r.points:
        assert set(p.fractions) == {"conv", "fc"} and all(sum(v) <= 1 + 1e-9 for v in p.fractions.values())
        assert len(p.drop) == 2 and len(p.utilization) == 3 and sum(p.utilization) == pytest.approx(1.0)
        assert p.robustness == pytest.approx(q.robustness(p.drop))
    assert r.points[0].fractions == {"conv": (0.25, 0.5), "fc": (0.25, 0.5)}  # warm start: x = 0.5 everywhere
    best = r.best
    assert best is not None and best.gain == max(p.gain for p in r.points if p.satisfied)
    plan = r.plan()
    assert isinstance(plan, Plan) and plan.layers["conv"].mode_fractions == best.fractions["conv"]


def test_baselines_use_whole_layers_and_the_budget(problem):
    q = q7(2.0)
    hom = homogeneous_baseline(problem, q, budget=4, seed=0)
    assert len(hom.points) == 4
    for p in hom.points:
        assert all(v in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)) for v in p.fractions.values())
    greedy = greedy_baseline(problem, q, budget=3, seed=0)
    assert len(greedy.points) == 3  # stops when the budget is spent
    assert greedy.points[0].fractions == {"conv": (0.0, 1.0), "fc": (0.0, 0.0)}  # sensitivity: conv alone in M2
    with pytest.raises(ValueError, match="budget"):
        search_mapping(problem, q, budget=0)


def test_compare_native_protocol(problem):
    queries = [paper_query("Q7", 100.0), paper_query("Q3", 100.0)]  # Q7 at 100 %: every mapping satisfies it
    rows, results = compare(problem, queries, budget=2, seed=0, baselines=("greedy",))
    assert [(r.query.name, r.method) for r in rows] == [("Q7", "ours"), ("Q7", "greedy"), ("Q3", "ours"),
                                                        ("Q3", "greedy")]
    assert ("greedy", "Q7", 100.0) in results and ("greedy", "Q3", 100.0) not in results  # ran once, on Q7
    g7, g3 = rows[1], rows[3]
    assert g7.satisfied and g7.point is g3.point
    assert g3.robustness == pytest.approx(queries[1].robustness(g3.point.drop))


def test_mapping_problem_needs_a_reconfigurable(problem):
    with pytest.raises(ValueError, match="needs a reconfigurable multiplier; 'mul8s_1L2N' has one mode"):
        MappingProblem(problem.ev, "mul8s_1L2N")


def test_cli_writes_a_loadable_mapping(tiny, tmp_path):
    from tfaxdnn.cli import main

    model, x, y = tiny
    model.save(tmp_path / "m.keras")
    np.savez(tmp_path / "d.npz", x_train=x[200:], y_train=y[200:], x_test=x[:200], y_test=y[:200])
    out = tmp_path / "out"
    common = ["map", "--model", str(tmp_path / "m.keras"), "--data", str(tmp_path / "d.npz"), "--out", str(out),
              "--quiet"]
    code = main(common + ["--query", "Q7", "--thr-avg", "2", "--budget", "2", "--baselines", "greedy",
                          "--validation-fraction", "0.5"])
    assert code in (0, 3)
    plan = Plan.from_json(out / "mapping.json")
    assert set(plan.layers) == {"conv", "fc"}
    text = (out / "queries.csv").read_text()
    assert "verify_robustness" in text.splitlines()[0] and len(text.splitlines()) == 3
    for name in ("gains.png", "signal_Q7_2.0.png", "summary.json", "points_ours_Q7_2.0.json"):
        assert (out / name).is_file(), name
    with pytest.raises(SystemExit, match="`x` is a percentage"):
        main(common + ["--query", "thr=3,x=0"])


def test_unsearched_layers_stay_in_m0(problem):
    sub = MappingProblem(problem.ev, "recon_evo", layers=["fc"])
    r = homogeneous_baseline(sub, q7(100.0), budget=2, seed=0)
    for p in r.points:
        assert p.fractions["conv"] == (0.0, 0.0) and p.layer_utilization["conv"] == [1.0, 0.0, 0.0]
    assert set(r.plan().layers) == {"conv", "fc"}
    with pytest.raises(ValueError, match=r"\['nope'\] are not approximable layers"):
        MappingProblem(problem.ev, "recon_evo", layers=["nope"])


def test_compare_shared_protocol_one_search_per_level(problem):
    queries = [paper_query("Q7", 100.0), paper_query("Q3", 100.0)]
    rows, results = compare(problem, queries, budget=3, seed=0, baselines=("greedy",), protocol="shared")
    assert sorted(results) == [("greedy", "all", 100.0), ("ours", "all", 100.0)]  # one run per method
    assert [(r.query.name, r.method) for r in rows] == [("Q7", "ours"), ("Q7", "greedy"), ("Q3", "ours"),
                                                        ("Q3", "greedy")]
    ours = results[("ours", "all", 100.0)]
    assert ours.query.robustness(ours.points[0].drop) == pytest.approx(
        min(q.robustness(ours.points[0].drop) for q in queries))  # the conjunction
    assert rows[0].satisfied and rows[1].satisfied  # Q7 at 100 %: everything satisfies it
    for r in rows:
        run = results[(r.method, "all", 100.0)]
        assert r.point is run.best_for(r.query)
        if r.point is None:
            assert not r.satisfied and not any(r.query.satisfied(p.drop) for p in run.points)
        else:
            assert r.robustness == pytest.approx(r.query.robustness(r.point.drop)) and r.robustness >= 0


def test_dominated_and_repeated_proposals_cost_no_budget(problem):
    r = search_mapping(problem, q7(50.0), budget=6, seed=2, skip_dominated=True)
    keys = [tuple(sorted(p.fractions.items())) for p in r.points]
    assert len(r.points) == 6 and len(set(keys)) == 6  # no mapping evaluated twice
    best = -1.0
    for p in r.points:  # after the first satisfying point, every evaluation could beat the best so far
        assert best < 0 or p.gain > best
        if p.satisfied:
            best = max(best, p.gain)


def test_budgeted_objective_caches_and_stops(problem):
    from tfaxdnn.search.mapping import plots, report
    from tfaxdnn.search.mapping.objective import BudgetedObjective, BudgetSpent

    objective = BudgetedObjective(problem, q7(50.0), "ours", 1, None)
    first = objective({"conv": (0.5, 0.0)})
    assert objective({"conv": (0.50001, 0.0)}) is first and objective.left == 0  # same rounded mapping: free
    with pytest.raises(BudgetSpent):
        objective({"fc": (0.0, 1.0)})
    assert objective.result(seed=4).points == [first]
    assert report.plot_gains is plots.plot_gains  # the CLI reaches the figures through `report`
