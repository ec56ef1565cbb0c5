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
        # the mean-drop term is monitored on the upper 95 % bound of the mean drop (paired against exact 8-bit)
        assert p.drop_upper > float(np.mean(p.drop))
        assert p.robustness == pytest.approx(q.robustness(p.drop, p.drop_upper))
        assert p.robustness == pytest.approx(q.thr_avg - p.drop_upper) == pytest.approx(p.robustness_for(q))
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
    assert g3.robustness == pytest.approx(g3.point.robustness_for(queries[1]))


def test_mapping_problem_needs_a_reconfigurable(problem):
    with pytest.raises(ValueError, match="needs a reconfigurable multiplier; 'mul8s_1L2N' has one mode"):
        MappingProblem(problem.ev, "mul8s_1L2N")


@pytest.fixture(scope="module")
def map_files(tiny, tmp_path_factory):
    """The tiny model and 400 self-labelled x_test images: 200 searched, 100 confirming, 100 verifying."""
    model, _, _ = tiny
    root = tmp_path_factory.mktemp("map")
    x = np.random.default_rng(5).random((460, 8, 8, 1)).astype("float32")
    y = model.predict(x, verbose=0).argmax(1)
    model.save(root / "m.keras")
    np.savez(root / "d.npz", x_train=x[400:], y_train=y[400:], x_test=x[:400], y_test=y[:400])
    return root, ["map", "--model", str(root / "m.keras"), "--data", str(root / "d.npz"), "--quiet",
                  "--validation-fraction", "0.5"]


def test_cli_writes_a_loadable_mapping(map_files, tmp_path):
    import json

    from tfaxdnn.cli import main

    _, common = map_files
    out = tmp_path / "out"
    code = main(common + ["--out", str(out), "--query", "Q7", "--thr-avg", "50", "--budget", "2",
                          "--baselines", "greedy"])
    assert code == 0                                       # a lenient query: the answer holds on held-out images
    plan = Plan.from_json(out / "mapping.json")
    assert set(plan.layers) == {"conv", "fc"}
    text = (out / "queries.csv").read_text()
    header = text.splitlines()[0]
    assert {"verify_robustness", "confirm_robustness", "confirmed", "mean_drop_upper"} <= set(header.split(","))
    assert len(text.splitlines()) == 3
    for name in ("gains.png", "signal_Q7_50.0.png", "summary.json", "points_ours_Q7_50.0.json",
                 "mapping_candidates.json", "mapping_Q7_50.0.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["search_images"], summary["confirmation_images"], summary["verify_images"]) == (200, 100, 100)
    assert summary["answer_written"] and summary["queries_without_answer"] == []
    with pytest.raises(SystemExit, match="`x` is a percentage"):
        main(common + ["--out", str(out), "--query", "thr=3,x=0"])


def test_cli_exits_3_and_writes_no_answer_when_none_holds_on_held_out_images(map_files, tmp_path, monkeypatch,
                                                                              capsys):
    """The search finds satisfying mappings, but none holds on the held-out images: no mapping.json (an earlier
    run's is removed), exit 3, a message, and the candidates in mapping_candidates.json."""
    import json

    from tfaxdnn.cli import main
    from tfaxdnn.search.mapping import confirm

    _, common = map_files
    out = tmp_path / "out"
    out.mkdir()
    (out / "mapping.json").write_text("{}")                  # an answer of an earlier run
    real = confirm.held_out_check
    calls = []

    def breaks_everything(held_out, query, point):
        rec = real(held_out, query, point)
        calls.append(rec)
        return dict(rec, holds=False)
    monkeypatch.setattr(confirm, "held_out_check", breaks_everything)
    code = main(common + ["--out", str(out), "--query", "Q7", "--thr-avg", "50", "--budget", "3",
                          "--baselines", "none"])
    assert code == 3 and calls
    err = capsys.readouterr().err
    assert "no mapping holds for Q7 (thr_avg 50 %): none of the" in err and "holds on the 100 held-out images" in err
    assert not (out / "mapping.json").exists() and not (out / "mapping_Q7_50.0.json").exists()
    cands = json.loads((out / "mapping_candidates.json").read_text())["candidates"]
    assert len(cands) == 1 and not cands[0]["confirmed"] and len(cands[0]["tried"]) == len(calls)
    assert len(cands[0]["plans"]) == len(calls) == cands[0]["search_split_satisfying"]
    summary = json.loads((out / "summary.json").read_text())
    assert not summary["answer_written"] and summary["queries_without_answer"][0].startswith("Q7 (thr_avg 50 %)")
    # a query nothing meets on the search images (the mean drop's bound is above 0 on 200 images): exit 3 as well
    assert main(common + ["--out", str(tmp_path / "strict"), "--query", "Q7", "--thr-avg", "0", "--budget", "2",
                          "--baselines", "none"]) == 3
    assert "no mapping satisfies it on the 200 search images" in capsys.readouterr().err
    assert not (tmp_path / "strict" / "mapping.json").exists()


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
            assert not r.satisfied and not any(p.robustness_for(r.query) >= 0 for p in run.points)
        else:
            assert r.robustness == pytest.approx(r.point.robustness_for(r.query)) and r.robustness >= 0


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
