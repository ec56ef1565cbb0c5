"""XAI-NAS: genome, operators, fronts, checkpoint/resume after SIGKILL, Dask = serial, robustness, bad input."""

import argparse
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from tfaxdnn.data import load_mnist, preprocess_mnist
from tfaxdnn.search.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tfaxdnn.search.nas import IntegerResetMutation, NASConfig, XAINASProblem, compare_with_alwann, run_xainas
from tfaxdnn.search.nas.fronts import hypervolume, pareto_front
from tfaxdnn.search.nas.genome import GenomeSpace, block_genes, uniform_genomes, xaigen_seed_genomes
from tfaxdnn.search.nas.seeding import initial_population
from tfaxdnn.search.nas.operators import SkipAwareMutation, biased_random, skip_bound_repair

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MULTS = ("mul8s_1KV6", "mul8s_1KVP", "mul8s_1L2N")
TINY = dict(pop_size=4, n_offsprings=2, generations=2, n_seeds=2, multipliers=MULTS, importance_samples=40, n_steps=4,
            calibration_samples=100, max_skip=0.2, seed=3, max_accuracy_drop=0.1)
RUN = dict(validation_fraction=0.5, evaluation_samples=100, verbose=False, explain_images=0)
VOLATILE = ("wall_time_s", "worker_pid", "inference_s", "saved_s")


def _tiny_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Conv2D(4, 5, strides=2, activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(16, activation="relu", name="fc1")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="fc2")(x), name="tiny")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny trained Functional CNN on the bundled MNIST subset, saved for subprocesses, and one serial run."""
    (xtr, ytr), (xte, yte), _ = load_mnist(full=False)
    xtr, ytr, xte, yte = preprocess_mnist(xtr[:1200]), ytr[:1200], preprocess_mnist(xte[:300]), yte[:300]
    model = _tiny_model()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(xtr, ytr, epochs=3, batch_size=64, verbose=0)
    root = tmp_path_factory.mktemp("nas")
    model.save(root / "tiny.keras")
    np.savez(root / "data.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    data = ((xtr, ytr), (xte, yte))
    weights = [w.copy() for w in model.get_weights()]
    serial = run_xainas(model, data, root / "serial", NASConfig(**TINY), **RUN)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)             # the input model is never changed
    return model, data, root, serial


def _strip(records):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in records]


# -- genome and operators -----------------------------------------------------------------------------------------

def test_genome_space_bounds_plan_and_blocks():
    layers = ["stem_conv", "stage1_block1_conv1", "stage1_block1_conv2", "stage2_block1_conv1",
              "stage2_block1_shortcut", "fc"]
    assert block_genes(layers) == {"stem_conv": ("stem_conv",),
                                   "stage1_block1": ("stage1_block1_conv1", "stage1_block1_conv2"),
                                   "stage2_block1": ("stage2_block1_conv1", "stage2_block1_shortcut"), "fc": ("fc",)}
    space = GenomeSpace.build(layers, "fc", ["mul8s_1L2N", "mul8s_1KV8"], max_skip=0.3, genes="block")
    assert space.multipliers == ("mul8s_1KV6", "mul8s_1KV8", "mul8s_1L2N")       # exact first, then by MAE
    assert space.upper.tolist() == [2, 6, 2, 6, 2, 6, 2, 0]                         # output gene never skips
    plan = space.to_plan([2, 3, 0, 1, 1, 0, 0, 0])
    assert plan.layers["stem_conv"].multiplier == "mul8s_1L2N" and plan.layers["stem_conv"].skip_fraction == 0.15
    assert plan.layers["stem_conv"].weight_mapping == "uniform"
    assert plan.layers["stage1_block1_conv2"].multiplier == "mul8s_1KV6"
    assert plan.layers["stage1_block1_conv2"].weight_mapping == "none"               # exact: nothing to map
    assert plan.layers["stage1_block1_conv1"].skip_fraction == plan.layers["stage1_block1_conv2"].skip_fraction == 0.05
    assert space.from_key(space.key([2, 3, 0, 1, 1, 0, 0, 0])).tolist() == [2, 3, 0, 1, 1, 0, 0, 0]
    with pytest.raises(ValueError, match="outside the bounds"):
        space.to_plan([0, 0, 0, 0, 0, 0, 0, 1])
    alwann = GenomeSpace.build(layers, "fc", MULTS, allow_skip=False)
    assert alwann.upper[1::2].tolist() == [0] * len(layers)


def test_xaigen_seeds_follow_importance():
    space = GenomeSpace.build(["a", "b", "c"], "c", MULTS, max_skip=0.5)
    seeds = xaigen_seed_genomes(space, {"a": 1.0, "b": 10.0, "c": 5.0}, n_seeds=8, t_p_max=0.8)
    assert 1 <= len(seeds) <= 8 and len({tuple(s) for s in seeds}) == len(seeds)
    assert (seeds[:, 2] == 0).all()                                  # most important layer "b": exact
    assert seeds[:, 0].max() == 2 and seeds[:, 5].max() == 0         # least important: most aggressive; output: no skip
    assert seeds[:, 1].max() == 10                                   # t_p 0.8 on ẑ=0 capped at max_skip 0.5
    assert (seeds >= space.lower).all() and (seeds <= space.upper).all()


def test_xaigen_seeds_keep_the_output_gene_exact_and_uniform_plans():
    space = GenomeSpace.build(["a", "b", "c"], "c", MULTS, max_skip=0.5)
    scores = {"a": 3.0, "b": 10.0, "c": 1.0}                          # the output layer has the lowest conductance
    ranked = xaigen_seed_genomes(space, scores, n_seeds=8, output_important=False)
    assert ranked[:, 4].max() == len(MULTS) - 1                       # ranked by conductance: most aggressive
    kept = xaigen_seed_genomes(space, scores, n_seeds=8)
    assert (kept[:, 4] == 0).all() and (kept[:, 5] == 0).all()        # output gene exact, never skipped
    assert kept[:, 0].max() == len(MULTS) - 1 and (kept[:, 2] == 0).all()   # hidden genes normalised among themselves
    u = uniform_genomes(space)
    assert u.tolist() == [[m, 0] * 3 for m in range(1, len(MULTS))]
    cfg = NASConfig(multipliers=MULTS, pop_size=12, n_seeds=4)
    from tfaxdnn.search.xaigen import Importance
    X, sources = initial_population(space, cfg, Importance(["a", "b", "c"], scores, {}))
    assert len(X) == 12 and len({tuple(x) for x in X}) == 12
    assert [sources[space.key(g)] for g in u] == ["uniform"] * len(u)     # after the (absent) refined seeds, first
    assert X[:len(u)].tolist() == u.tolist() and "xaigen_seed" in sources.values()
    plain = initial_population(space, dataclasses.replace(cfg, uniform_seeds=False), Importance(["a", "b", "c"],
                                                                                                 scores, {}))[1]
    assert "uniform" not in plain.values()


def test_reset_mutation_stays_in_bounds_and_changes_genes():
    space = GenomeSpace.build(["a", "b", "c"], "c", MULTS, max_skip=0.5)
    problem = XAINASProblem(space, 2)
    X = np.zeros((400, space.n_var))
    Y = IntegerResetMutation(0.1)._do(problem, X, random_state=np.random.default_rng(0))
    assert (Y >= space.lower).all() and (Y <= space.upper).all() and (Y == np.rint(Y)).all()
    changed = (Y != X)[:, :-1].mean()                               # last gene (output skip) has no range
    assert 0.07 < changed < 0.13
    assert (Y[:, -1] == 0).all()


def test_skip_aware_mutation_moves_skip_by_one_level_or_to_zero():
    space = GenomeSpace.build(["a", "b", "c"], "c", MULTS, max_skip=0.5)
    problem = XAINASProblem(space, 2)
    X = np.tile([1, 5, 1, 5, 1, 0], (2000, 1)).astype(float)
    Y = SkipAwareMutation(0.3)._do(problem, X, random_state=np.random.default_rng(0))
    assert (Y >= space.lower).all() and (Y <= space.upper).all()
    skips = Y[:, [1, 3]]
    assert set(np.unique(skips).tolist()) == {0, 4, 5, 6}             # kept, one level down/up, or back to 0
    assert 0.25 < (skips != 5).mean() < 0.35                          # mutation probability per gene
    assert 0.25 < (Y[:, [0, 2, 4]] != 1).mean() < 0.35                # multipliers: random reset as before
    assert (Y[:, 5] == 0).all()                                       # output gene never skips


def test_skip_bound_repair_and_biased_random():
    X = np.array([[3, 9, 1, 2, 0, 0], [0, 0, 2, 7, 1, 0]])
    feasible = [[1, 2, 0, 4, 0, 0], [2, 0, 1, 1, 0, 0]]
    assert skip_bound_repair(X, feasible).tolist() == [[3, 3, 1, 2, 0, 0], [0, 0, 2, 5, 1, 0]]
    assert skip_bound_repair(X, [], slack=1)[:, 1::2].max() == 1      # nothing feasible yet: one level at most
    space = GenomeSpace.build(["a", "b", "c"], "c", MULTS, max_skip=0.5)
    R = biased_random(space, 3000, np.random.default_rng(0), p_zero=0.5)
    assert (R >= space.lower).all() and (R <= space.upper).all()
    assert 0.45 < (R[:, [1, 3]] == 0).mean() < 0.55 and (R[:, 5] == 0).all()
    assert len(np.unique(R[:, 0])) == len(MULTS)


def test_genome_from_plan_round_trip():
    space = GenomeSpace.build(["a", "b", "c"], "c", MULTS, max_skip=0.3)
    g = [2, 3, 1, 6, 0, 0]
    assert space.from_plan(space.to_plan(g)).tolist() == g
    from tfaxdnn.plan import LayerPlan, Plan

    capped = space.from_plan(Plan({"a": LayerPlan("mul8s_1L2N", 0.45, "uniform")}))
    assert capped.tolist() == [2, 6, 0, 0, 0, 0]                      # 0.45 capped at max_skip 0.3; others exact
    with pytest.raises(ValueError, match="not among the searched multipliers"):
        space.from_plan(Plan({"a": LayerPlan("mul8s_1KV8", 0.0, "uniform")}))
    blocks = GenomeSpace.build(["s1_block1_conv1", "s1_block1_conv2", "fc"], "fc", MULTS, genes="block")
    mixed = Plan({"s1_block1_conv1": LayerPlan("mul8s_1L2N", 0.10, "uniform"),
                  "s1_block1_conv2": LayerPlan("mul8s_1KVP", 0.25, "uniform")})
    assert blocks.from_plan(mixed).tolist() == [1, 2, 0, 0]          # a block takes its least aggressive setting


def _records(F):
    """Feasible archive records whose (error, relative energy) are the rows of ``F``."""
    return [{"genome": f"g{i}", "accuracy": 1.0 - e, "relative_energy": r} for i, (e, r) in enumerate(F)]


def _brute_non_dominated(F):
    return {i for i in range(len(F)) if not any((F[j] <= F[i]).all() and (F[j] < F[i]).any() for j in range(len(F)))}


def _brute_hypervolume(F, ref):
    """Union of the boxes [f, ref] on the grid of all coordinates: every cell dominated by some point counts."""
    F = F[(F < ref).all(axis=1)]
    xs, ys = np.unique(np.append(F[:, 0], ref[0])), np.unique(np.append(F[:, 1], ref[1]))
    return sum((xs[i + 1] - xs[i]) * (ys[j + 1] - ys[j]) for i in range(len(xs) - 1) for j in range(len(ys) - 1)
               if ((F[:, 0] <= xs[i]) & (F[:, 1] <= ys[j])).any())


def test_front_and_hypervolume():
    F = np.array([[0.1, 0.9], [0.2, 0.5], [0.3, 0.6], [0.1, 0.9], [0.4, 0.2]])
    front = pareto_front(_records(F), ("accuracy", "energy"), floor=0.0)
    assert sorted(r["genome"] for r in front) == ["g0", "g1", "g3", "g4"]          # exact duplicates both kept
    assert [r["relative_energy"] for r in front] == [0.2, 0.5, 0.9, 0.9]             # by energy
    # staircase under ref (0.5, 1.0): 0.4*0.1 + 0.3*0.4 + 0.1*0.3
    assert hypervolume(_records(F), 0.0, (0.5, 1.0)) == pytest.approx(0.4 * 0.1 + 0.3 * 0.4 + 0.1 * 0.3)
    assert hypervolume(_records([[0.6, 0.1]]), 0.0, (0.5, 1.0)) == 0.0
    assert hypervolume([], 0.0, (0.5, 1.0)) == 0.0
    assert hypervolume(_records(F), 0.75, (0.5, 1.0)) == pytest.approx(0.4 * 0.1 + 0.3 * 0.4)   # only feasible
    assert pareto_front(_records(F), ("accuracy", "energy"), floor=0.95) == []


def test_front_and_hypervolume_match_brute_force_on_random_sets():
    rng = np.random.default_rng(0)
    for trial in range(300):
        F = rng.random((int(rng.integers(1, 25)), 2))
        ref = rng.uniform(0.5, 1.1, 2)
        dyadic = trial % 3 == 0                                     # ties and duplicates; sums exact in binary
        if dyadic:
            F, ref = np.round(F * 8) / 8, np.round(ref * 8) / 8
        records = _records(F)
        E = np.array([[1.0 - r["accuracy"], r["relative_energy"]] for r in records])   # as the search sees them
        front = pareto_front(records, ("accuracy", "energy"), floor=0.0)
        assert {int(r["genome"][1:]) for r in front} == _brute_non_dominated(E)
        hv, brute = hypervolume(records, 0.0, tuple(ref)), _brute_hypervolume(E, ref)
        assert hv == (brute if dyadic else pytest.approx(brute, rel=1e-12, abs=1e-15))


def test_problem_pickles_without_its_live_parts():
    import pickle

    from tfaxdnn.search.nas import Archive
    from tfaxdnn.search.runners import SerialRunner

    space = GenomeSpace.build(["a", "b", "c"], "c", MULTS, max_skip=0.5)
    problem = XAINASProblem(space, 2).connect(Archive([], space, ("accuracy", "energy"), 0.5), SerialRunner(), None)
    copy = pickle.loads(pickle.dumps(problem))
    assert copy.archive is None and copy.runner is None and copy.task is None and copy.requires_kwargs
    assert problem.archive is not None                            # the live problem keeps them
    assert type(copy).__module__ == "tfaxdnn.search.nas.problem"  # new checkpoints name the real module


def test_checkpoint_refuses_corruption(tmp_path):
    path = str(tmp_path / "c.pkl")
    save_checkpoint(path, {"generation": 3, "x": np.arange(5)}, "abc")
    assert load_checkpoint(path, "abc")["generation"] == 3
    with pytest.raises(CheckpointError, match="other settings"):
        load_checkpoint(path, "xyz")
    raw = bytearray(open(path, "rb").read())
    raw[-3] ^= 0xFF
    open(path, "wb").write(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(path, "abc")
    open(path, "wb").write(b"garbage")
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(path)


# -- whole searches -------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_serial_search_outputs(setup):
    _, _, root, r = setup
    out = root / "serial"
    budget = TINY["pop_size"] + TINY["generations"] * TINY["n_offsprings"]
    assert r.candidates == budget and len(r.records) <= budget and len(r.hypervolume) == TINY["generations"] + 1
    assert all(b >= a for a, b in zip(r.hypervolume, r.hypervolume[1:]))        # archive HV never falls
    assert len({rec["genome"] for rec in r.records}) == len(r.records)           # each genome evaluated once
    assert {rec["source"] for rec in r.records if rec["generation"] == 0} <= {"xaigen_seed", "uniform", "random"}
    assert any(rec["source"] == "xaigen_seed" for rec in r.records)
    assert r.front and all(f["accuracy"]["validation"] >= r.accuracy_floor for f in r.front)
    assert all(set(f["accuracy"]) == {"validation", "confirmation", "test"} for f in r.front)
    # feasible: the upper bound of the paired validation drop meets the budget; each member re-checked and reported
    assert all(f["drop"]["validation"]["upper"] <= TINY["max_accuracy_drop"] + 1e-12 for f in r.front)
    assert all(f["drop"]["confirmation"]["n"] == 38 and f["drop"]["test"]["n"] == 150 for f in r.front)
    assert all(f["confirmed"] == (f["drop"]["confirmation"]["drop"] <= TINY["max_accuracy_drop"]) for f in r.front)
    answer = r.answer["accuracy_drop"]
    assert answer["confirmation_check"]["n"] == 38 and answer["realised_drop"] == answer["test"]["drop"]
    assert r.answer["source"] == "exact plan" or answer["confirmation_check"]["passed"]
    infeasible = [rec for rec in r.records if not rec["feasible"]]
    assert all(rec["rejected"] or rec["drop_upper"] > TINY["max_accuracy_drop"] for rec in infeasible)
    assert all(rec["images_scored"] < rec["images"] and rec["drop"] is None for rec in r.records if rec["rejected"])
    saved = json.loads((out / "pareto.json").read_text())
    assert saved["seed"] == 3 and saved["multipliers"]["mul8s_1L2N"]["hash"]
    assert saved["splits"]["selection"] == "validation" and set(saved["baseline_accuracy"]) == {"validation", "test"}
    header = (out / "evaluations.csv").read_text().splitlines()[0].split(",")
    assert {"genome", "plan", "accuracy_validation", "relative_energy", "generation", "wall_time_s"} <= set(header)
    assert (out / "generations.png").stat().st_size > 0 and (out / "hypervolume.png").stat().st_size > 0
    with pytest.raises(FileExistsError, match="resume"):
        run_xainas(setup[0], setup[1], out, NASConfig(**TINY), **RUN)


@pytest.mark.slow
def test_refined_xaigen_seeds_and_equal_budget_against_alwann(setup, tmp_path):
    model, data, _, _ = setup
    cfg = NASConfig(**dict(TINY, xaigen_t_p=(0.5,), xaigen_refine_passes=0, energy_accounting="compute"))
    res = compare_with_alwann(model, data, tmp_path, cfg, **RUN)
    xn, al = res["xainas"], res["alwann"]
    assert xn.seeding["evaluations"] > 0 and xn.records[0]["source"] == "xaigen_seed"
    assert xn.records[0]["genome"] == xn.seeding["runs"][0]["genome"]      # the refined plan comes first
    assert al.config.max_evaluations == xn.total_evaluations                  # seeding runs count for XAI-NAS
    assert al.total_evaluations == xn.total_evaluations and not al.seeding["evaluations"]
    rec = xn.records[-1]
    assert rec["relative_energy"] == pytest.approx(1.0 / rec["energy_reduction_compute"])
    summary = json.loads((tmp_path / "comparison.json").read_text())
    assert summary["xainas"]["energy_accounting"] == "compute"
    assert summary["xainas"]["total_evaluations"] == summary["alwann"]["total_evaluations"]
    saved = json.loads((tmp_path / "xainas" / "pareto.json").read_text())
    assert saved["seeding"]["runs"][0]["t_p"] == 0.5 and saved["energy_accounting"] == "compute"
    budget = xn.seeding["evaluations"] + 3
    cut = run_xainas(model, data, tmp_path / "cut", dataclasses.replace(cfg, max_evaluations=budget, generations=9),
                     **RUN)
    assert cut.total_evaluations == budget and len(cut.records) == 3         # generation 0 cut to fit


def test_tolerance_seeds_are_measured_archived_and_seeded(setup, tmp_path):
    from tfaxdnn.search.nas.tolerance import single_gene_genomes

    model, data, _, _ = setup
    cfg = NASConfig(**dict(TINY, tolerance_seeds=3, generations=1))
    res = run_xainas(model, data, tmp_path, cfg, **RUN)
    space = GenomeSpace.build(["conv1", "conv2", "fc1", "fc2"], "fc2", MULTS, max_skip=0.2)
    singles = [space.key(g) for g in single_gene_genomes(space)]
    assert [r["genome"] for r in res.records[:len(singles)]] == singles   # scored first, archived, in the budget
    assert {r["source"] for r in res.records[:len(singles)]} == {"tolerance"}
    assert all(not r["rejected"] and r["images_scored"] == r["images"] for r in res.records[:len(singles)])
    saved = json.loads((tmp_path / "pareto.json").read_text())
    tol = saved["seeding"]["tolerance"]
    assert tol["evaluations"] == len(singles) and saved["settings"]["tolerance_seeds"] == 3
    for r in res.records[:len(singles)]:          # the table is the records' measured drops (clipped, rejected: null)
        g = space.from_key(r["genome"])
        j = int(np.flatnonzero(g[0::2])[0])
        d = tol["drop"][space.gene_names[j]][space.multipliers[int(g[2 * j])]]
        assert d is None if r["rejected"] else d == pytest.approx(max(r["drop"], 0.0), abs=1e-6)
    seeded = [r for r in res.records if r["source"] == "tolerance_seed"]
    assert [r["genome"] for r in seeded] == [k for k in tol["seeds"] if k not in singles][:len(seeded)]
    assert len(tol["seeds"]) <= 3
    with pytest.raises(ValueError, match="tolerance seeds takes 8 evaluations"):
        run_xainas(model, data, tmp_path / "small", dataclasses.replace(cfg, max_evaluations=5), **RUN)


@pytest.mark.slow
def test_explicit_test_data_and_the_xaigen_answer_seeded_first(setup, tmp_path):
    """With ``test_data`` all of the held-out pair is the validation pool (its confirmation slice included) and
    ``test_data`` reports; with the seeding runs' XAI-Gen flags set to a stand-alone run's, that run's answer (same
    selection images, same conductance) is the first genome of XAI-NAS's initial population."""
    from tfaxdnn import evaluate
    from tfaxdnn.search import XAIGenConfig, run_xaigen
    from tfaxdnn.search.nas.importance import cached_importance
    from tfaxdnn.search.nas.search import _fingerprint

    model, ((xtr, ytr), (xte, yte)), _, _ = setup
    val, test = (xte[:200], yte[:200]), (xte[200:], yte[200:])
    flags = dict(selection="sensitivity", refine="best")
    cfg = NASConfig(**dict(TINY, xaigen_t_p=(0.2,), xaigen_refine_passes=1, max_accuracy_drop=0.05,
                           **{f"xaigen_{k}": v for k, v in flags.items()}))
    r = run_xainas(model, ((xtr, ytr), val), tmp_path / "nas", cfg, test_data=test, verbose=False, explain_images=0)
    saved = json.loads((tmp_path / "nas" / "pareto.json").read_text())
    assert saved["splits"]["validation"] == 150 and saved["splits"]["confirmation"] == 50
    assert saved["splits"]["test"] == 100 and saved["settings"]["xaigen_selection"] == "sensitivity"
    assert r.baseline_accuracy["test"] == pytest.approx(evaluate(model, *test).accuracy)
    space = GenomeSpace.build(["conv1", "conv2", "fc1", "fc2"], "fc2", MULTS, 0.2, 0.05)
    imp = cached_importance(model, xtr, ytr, space.gene_names, cfg, str(tmp_path / "nas" / "importance.npz"), False)
    alone = run_xaigen(model, val, xtr, XAIGenConfig(max_accuracy_drop=0.05, t_p=0.2, refine_passes=1, seed=3,
                                                      multipliers=space.multipliers, calibration_samples=100,
                                                      **flags), importance=imp, verbose=False, test_data=test)
    key = space.key(space.from_plan(alone.plan))
    assert r.seeding["runs"][0]["genome"] == key == r.records[0]["genome"] and r.records[0]["source"] == "xaigen_seed"
    # settings added later are left out of the fingerprint at their defaults (checkpoints written before resume)
    args = (space, 0.5, None, model, (xte,))
    assert _fingerprint(NASConfig(**TINY), *args) != _fingerprint(NASConfig(**TINY, xaigen_refine="best"), *args)


KILL_SCRIPT = """
import sys, time, keras, numpy as np
import tfaxdnn.layers
from tfaxdnn.search.nas import NASConfig, run_xainas
root, tiny, run = sys.argv[1], eval(sys.argv[2]), eval(sys.argv[3])
model = keras.models.load_model(root + "/tiny.keras", compile=False)
with np.load(root + "/data.npz") as f:
    data = ((f["x_train"], f["y_train"]), (f["x_test"], f["y_test"]))
def hang(generation, summary):     # generation 1 checkpointed: wait here to be killed
    if generation == 1:
        print("CHECKPOINTED", flush=True)
        time.sleep(600)
run_xainas(model, data, root + "/killed", NASConfig(**tiny), on_generation=hang, **run)
"""


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted_run(setup):
    model, data, root, serial = setup
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(root), repr(TINY), repr(RUN)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "CHECKPOINTED", f"search subprocess ended early (exit {proc.poll()})"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    killed = root / "killed"
    assert load_checkpoint(str(killed / "checkpoint.pkl"))["generation"] == 2
    assert not (killed / "pareto.json").exists()
    resumed = run_xainas(model, data, killed, NASConfig(**TINY), resume=True, **RUN)
    assert _strip(resumed.records) == _strip(serial.records)
    assert resumed.front == serial.front and resumed.hypervolume == serial.hypervolume
    assert resumed.candidates == serial.candidates
    # a damaged checkpoint is refused with a message, never silently restarted
    with open(killed / "checkpoint.pkl", "r+b") as f:
        f.seek(-10, os.SEEK_END)
        f.write(b"\0" * 10)
    with pytest.raises(CheckpointError, match="corrupted"):
        run_xainas(model, data, killed, NASConfig(**TINY), resume=True, **RUN)


@pytest.mark.slow
def test_resume_with_another_model_says_other_settings(setup, tmp_path):
    """Issue 27, item 8c: the checkpoint's settings are compared before the importance cache is read."""
    import shutil

    model, data, root, _ = setup
    out = tmp_path / "resumed"
    shutil.copytree(root / "serial", out)
    keras.utils.set_random_seed(1)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(keras.layers.Conv2D(4, 5, strides=2, activation="relu", name="other_conv")(inputs))
    other = keras.Model(inputs, keras.layers.Dense(10, name="other_fc")(x), name="other")
    with pytest.raises(CheckpointError, match="belongs to a search with other settings"):
        run_xainas(other, data, out, NASConfig(**TINY), resume=True, **RUN)


@pytest.mark.slow
def test_dask_two_workers_gives_the_serial_front(setup):
    model, data, root, serial = setup
    # one generation fewer than the serial run (worker start-up dominates): NSGA-II with the same seed proposes
    # the same candidates, so the records are the serial run's first two generations and the fronts agree on them
    dask = run_xainas(model, data, root / "dask", NASConfig(**dict(TINY, generations=1)), workers=2, **RUN)
    prefix = [r for r in serial.records if r["generation"] <= 1]
    assert _strip(dask.records) == _strip(prefix)
    objectives = NASConfig(**TINY).objectives
    assert [f["genome"] for f in dask.front] == [r["genome"] for r in pareto_front(prefix, objectives,
                                                                                   serial.accuracy_floor)]
    assert dask.hypervolume == serial.hypervolume[:2]
    pids = {r["worker_pid"] for r in dask.records}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids            # evaluated in the worker processes


@pytest.mark.slow
def test_robustness_objective_attacks_the_approximate_model(setup):
    from tfaxdnn.search.nas.robustness import AttackConfig, attack, robustness_metrics

    model, data, root, _ = setup
    x, y = data[1][0][:100], data[1][1][:100]
    cfg = AttackConfig("fgsm", epsilon=0.15, samples=100)
    x_adv = attack(model, x, y, cfg)
    assert np.abs(x_adv - x).max() <= 0.15 + 1e-6 and x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    space = GenomeSpace.build(["conv1", "conv2", "fc1", "fc2"], "fc2", MULTS)
    from tfaxdnn.search import Evaluator

    ev = Evaluator(model, eval_data=(x, y), calibration_data=data[0][0][:100])
    ax = ev.build(space.to_plan([2, 0, 1, 0, 1, 0, 0, 0]))
    m = robustness_metrics(ax, x, y, AttackConfig("pgd", epsilon=0.15, steps=3, samples=100), x_transfer=x_adv)
    clean = float((np.asarray(ax.predict(x, verbose=0)).argmax(1) == y).mean())
    assert m["robust_accuracy"] < clean - 0.2                       # straight-through gradients make it attackable
    assert 0.0 <= m["transfer_accuracy"] <= 1.0
    # as a search objective: recorded per candidate, re-measured on the test split for the front
    cfg = NASConfig(**dict(TINY, mode="alwann", pop_size=2, n_offsprings=2, generations=0,
                           objectives=("accuracy", "energy", "robustness"), attack=AttackConfig("fgsm", 0.1,
                                                                                                samples=30)))
    r = run_xainas(model, data, root / "robust", cfg, **RUN)
    assert all(0.0 <= rec["robust_accuracy"] <= 1.0 and "transfer_accuracy" in rec for rec in r.records)
    assert r.front and all(set(f["robust_accuracy"]) == {"validation", "test"} for f in r.front)


# -- bad input ------------------------------------------------------------------------------------------------------

def test_bad_objective_and_population():
    with pytest.raises(ValueError, match="speed.*Valid choices"):
        NASConfig(objectives=("accuracy", "speed"))
    with pytest.raises(ValueError, match=r"Population \(10\) is smaller than the number of XAI-Gen seeds "
                                         r"\(36 sweep \+ 0 refined\)"):
        NASConfig(pop_size=10)
    NASConfig(pop_size=10, mode="alwann")                            # the baseline has no seeds


def test_model_with_nothing_approximable(tmp_path):
    inputs = keras.Input((10,))
    model = keras.Model(inputs, keras.layers.Activation("softmax")(inputs))
    x = np.zeros((20, 10), "float32")
    y = np.zeros(20, int)
    with pytest.raises(ValueError, match="no approximable layer"):
        run_xainas(model, ((x, y), (x, y)), tmp_path, NASConfig(**TINY), **RUN)


def test_scheduler_that_does_not_answer():
    from tfaxdnn.search.runners import DaskRunner

    with socket.socket() as s:                                      # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError, match=f"tcp://127.0.0.1:{port}.*did not answer within 2 s"):
        DaskRunner(scheduler=f"tcp://127.0.0.1:{port}", timeout=2)


def test_cli_rejects_bad_input(tmp_path):
    from tfaxdnn.cli import nas as nas_cli

    _tiny_model().save(tmp_path / "tiny.keras")
    x = np.zeros((20, 28, 28), "uint8")
    np.savez(tmp_path / "data.npz", x_train=x, y_train=np.zeros(20, int), x_test=x, y_test=np.zeros(20, int))
    parser = argparse.ArgumentParser()
    nas_cli.add_parser(parser.add_subparsers(dest="command"))
    base = ["nas", "--model", str(tmp_path / "tiny.keras"), "--data", str(tmp_path / "data.npz"), "--out",
            str(tmp_path / "out")]
    with pytest.raises(SystemExit, match="Unknown objective 'speed'"):
        args = parser.parse_args(base + ["--objectives", "accuracy,speed"])
        args.func(args)
    with pytest.raises(SystemExit, match="smaller than the number of XAI-Gen seeds"):
        args = parser.parse_args(base + ["--pop", "8"])
        args.func(args)
    with pytest.raises(SystemExit, match="No checkpoint to resume"):
        args = parser.parse_args(base + ["--resume", "--workers", "0", "--quiet"])
        args.func(args)


@pytest.mark.slow
def test_cli_runs_a_search_through_the_main_entry_point(tmp_path):
    from tfaxdnn import cli

    _tiny_model().save(tmp_path / "tiny.keras")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (40, 28, 28), dtype=np.uint8), rng.integers(0, 10, 40)
    np.savez(tmp_path / "data.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    out = tmp_path / "out"
    code = cli.main(["nas", "--model", str(tmp_path / "tiny.keras"), "--data", str(tmp_path / "data.npz"),
                     "--out", str(out), "--pop", "3", "--offsprings", "2", "--generations", "1", "--seeds", "2",
                     "--workers", "0", "--importance-samples", "10", "--calibration-samples", "20",
                     "--multipliers", ",".join(MULTS), "--quiet", "--no-uniform-seeds", "--tolerance-seeds", "1"])
    assert code == 0
    saved = json.loads((out / "pareto.json").read_text())
    # 4 genes alone on 2 approximate multipliers (the tolerance table), then 3 + 2 candidates
    assert saved["candidates"] == 8 + 5 and saved["settings"]["pop_size"] == 3
    assert saved["settings"]["tolerance_seeds"] == 1 and saved["seeding"]["tolerance"]["evaluations"] == 8
    assert saved["settings"]["uniform_seeds"] is False and saved["settings"]["seed_output_exact"] is True
    assert ",uniform," not in (out / "evaluations.csv").read_text()
    assert len((out / "evaluations.csv").read_text().splitlines()) == 1 + saved["evaluations"]
    if any(f["accuracy"]["validation"] >= saved["accuracy_floor_validation"] for f in saved["front"]):
        assert (out / "explanations.png").stat().st_size > 0 and (out / "explanations.json").exists()
