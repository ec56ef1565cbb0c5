"""XAI-NAS tolerance seeds: the single-gene genomes, the measured table, the additive front against brute force."""

import itertools
import math

import numpy as np
import pytest

from tfaxdnn.search.nas.genome import GenomeSpace
from tfaxdnn.search.nas.tolerance import (additive_front, single_gene_genomes, tolerance_seed_genomes,
                                          tolerance_table)

MULTS = ("mul8s_1KV6", "mul8s_1KVP", "mul8s_1L2J", "mul8s_1L2N")


def _space():
    return GenomeSpace.build(["a", "b", "c"], "c", MULTS, max_skip=0.2, skip_step=0.05)


def test_single_gene_genomes_cover_every_gene_and_multiplier_once():
    space = _space()
    g = single_gene_genomes(space)
    assert g.shape == (3 * 3, space.n_var)
    assert (g[:, 1::2] == 0).all()                                  # nothing skipped
    assert ((g[:, 0::2] > 0).sum(axis=1) == 1).all()                # exactly one approximate gene
    pairs = {(int(np.flatnonzero(r[0::2])[0]), int(r[0::2].max())) for r in g}
    assert pairs == {(j, m) for j in range(3) for m in range(1, 4)}


def test_tolerance_table_clips_noise_rejects_and_refuses_missing_records():
    space = _space()
    genomes = single_gene_genomes(space)
    records = {}
    for i, g in enumerate(genomes):
        records[space.key(g)] = {"drop": 0.001 * i - 0.002, "rejected": False, "relative_energy": 1 - 0.01 * i}
    rejected = space.key(genomes[4])
    records[rejected] = {"drop": None, "rejected": True, "relative_energy": 0.9}
    drop, saving = tolerance_table(space, records)
    assert drop.shape == saving.shape == (3, 4) and (drop[:, 0] == 0).all() and (saving[:, 0] == 0).all()
    assert drop[0, 1] == 0.0                                        # a negative measured drop counts as none
    assert drop[0, 3] == pytest.approx(0.0)  and drop[1, 1] == pytest.approx(0.001)
    assert math.isinf(drop[1, 2])                                   # rejected: cannot be part of a feasible plan
    assert saving[2, 3] == pytest.approx(0.08)
    del records[space.key(genomes[0])]
    with pytest.raises(KeyError, match="was not measured"):
        tolerance_table(space, records)


def test_additive_front_matches_brute_force():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n_genes, n_mult = rng.integers(2, 5), rng.integers(2, 5)
        drop = rng.uniform(0, 0.01, (n_genes, n_mult))
        saving = rng.uniform(0, 0.2, (n_genes, n_mult))
        drop[:, 0] = saving[:, 0] = 0
        drop[rng.random((n_genes, n_mult)) < 0.15] = math.inf
        drop[:, 0] = 0
        cap = rng.uniform(0.005, 0.03)
        front = additive_front(drop, saving, cap)
        plans = []
        for c in itertools.product(range(n_mult), repeat=n_genes):
            d = sum(drop[j, m] for j, m in enumerate(c))
            if d <= cap + 1e-12:
                plans.append((d, sum(saving[j, m] for j, m in enumerate(c))))
        for t in np.linspace(0, cap, 7):   # best saving within any drop: the front's and brute force's agree
            best = max(s for d, s in plans if d <= t + 1e-12)
            mine = max((s for d, s, _ in front if d <= t + 1e-12), default=0.0)
            assert mine == pytest.approx(best, abs=1e-12)
        for d, s, c in front:              # each entry is the plan it says
            assert d == pytest.approx(sum(drop[j, m] for j, m in enumerate(c)))
            assert s == pytest.approx(sum(saving[j, m] for j, m in enumerate(c)))
        assert all(a[0] <= b[0] and a[1] < b[1] for a, b in zip(front, front[1:]))


def test_tolerance_seeds_spread_over_the_budget():
    space = _space()
    drop = np.array([[0, 0.002, 0.004, 0.02], [0, 0.001, 0.003, math.inf], [0, 0.005, 0.03, 0.05]])
    saving = np.array([[0, 0.05, 0.1, 0.3], [0, 0.02, 0.05, 0.2], [0, 0.01, 0.02, 0.03]])
    seeds = tolerance_seed_genomes(space, drop, saving, 6, budget=0.01)
    assert len(seeds) >= 3 and len({tuple(s) for s in seeds}) == len(seeds)
    assert (seeds[:, 1::2] == 0).all()
    predicted = [sum(drop[j, m] for j, m in enumerate(s[0::2])) for s in seeds]
    assert max(predicted) <= 0.02 + 1e-12 and predicted == sorted(predicted)
    assert tuple(seeds[-1][0::2]) == (3, 0, 0)          # the 2-point plan of largest saving: 1L2N alone on `a`
    assert tolerance_seed_genomes(space, drop, saving, 0, budget=0.01).shape == (0, space.n_var)
