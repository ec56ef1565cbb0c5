"""Refinement after Algorithm 1 (beyond the paper, ``refine_passes``; ``refine="first"`` or ``"best"``).

Algorithm 1 never touches the layers at the top of the ranking, which may hold most of the MACs. Refinement makes
single moves, each one step more aggressive on one layer (`moves`: the next multiplier, or ``skip_step`` more
skipping up to ``t_p``), and keeps a move only if the candidate still meets ``Q_c`` (the upper bound of its paired
validation drop is at most ``drop``) and the search's energy falls.

Both refinements take and return the current best ``(plan, Metrics, settings)`` and append every candidate they
score to ``log`` (`XAIGenSearch.log_row`).
"""

from __future__ import annotations

from tfaxdnn.search.xaigen.config import XAIGenConfig

__all__ = ["moves", "uniform_start", "refine_first", "refine_best", "refine"]


def moves(config: XAIGenConfig, settings, name, output_layer):
    """One step more aggressive for layer ``name``: the next multiplier, or ``skip_step`` more skipping."""
    mults = config.multipliers
    mu, s_now = settings[name]
    m_idx = mults.index(mu) if mu in mults else 0
    out = [(m_idx + 1, s_now)] if m_idx + 1 < len(mults) else []
    if name != output_layer and s_now + config.skip_step <= config.t_p + 1e-9:
        out.append((m_idx, round(s_now + config.skip_step, 6)))
    return [(mults[j], sk) for j, sk in out]


def uniform_start(run, config: XAIGenConfig, best, drop, log):
    """Every layer on one multiplier, no skipping, for each multiplier of ``config`` (the trivial plans a user would
    try first): one that meets ``Q_c`` and saves more energy than the current best replaces it."""
    step = len(log) + 1
    for mu in config.multipliers[1:]:
        trial = {name: (mu, 0.0) for name in best[2]}
        plan, m = run(trial, drop=drop)
        ok = run.accepts(m, drop) and run.energy(m) < run.energy(best[1])
        log.append(run.log_row(step, f"uniform {mu}", trial, m, ok, drop))
        if ok:
            best = (plan, m, trial)
    return best


def refine_first(run, config, imp, best, drop, log):
    """``refine_passes`` passes, least important layer first; the first move that keeps ``Q_c`` and saves energy
    is taken."""
    from tqdm.auto import tqdm

    step = len(log)
    for _ in range(config.refine_passes):
        changed = False
        for name in tqdm(imp.ascending(), desc="XAI-Gen refine", disable=not run.verbose):
            step += 1
            for move in moves(config, best[2], name, run.output_layer):
                trial = dict(best[2], **{name: move})
                plan, m = run(trial, drop=drop)
                ok = run.accepts(m, drop) and run.energy(m) < run.energy(best[1])
                log.append(run.log_row(step, f"refine {name}", trial, m, ok, drop))
                if ok:
                    best, changed = (plan, m, trial), True
                    break
        if not changed:
            break
    return best


def refine_best(run, config, imp, best, drop, log):
    """Up to ``refine_passes`` x layers steps; each tries every layer's moves and keeps the one saving the most
    energy (search accounting) per validation accuracy point lost, among those keeping ``Q_c``."""
    from tqdm.auto import tqdm

    floor = 1.0 / max(len(run.ev.y), 1)  # one image: a move that loses nothing is not infinitely good
    step = len(log)
    for _ in tqdm(range(config.refine_passes * len(imp.layers)), desc="XAI-Gen refine", disable=not run.verbose):
        step += 1
        options = []
        for name in imp.ascending():
            for move in moves(config, best[2], name, run.output_layer):
                trial = dict(best[2], **{name: move})
                plan, m = run(trial, drop=drop)
                gain = run.energy(best[1]) - run.energy(m)
                ok = run.accepts(m, drop) and gain > 0
                log.append(run.log_row(step, f"refine {name}", trial, m, False, drop))
                if ok:
                    options.append((gain / max(best[1].accuracy - m.accuracy, floor), plan, m, trial, len(log) - 1))
        if not options:
            break
        _, plan, m, trial, row = max(options, key=lambda o: o[0])
        log[row]["accepted"] = True
        best = (plan, m, trial)
    return best


def refine(run, config: XAIGenConfig, imp, best, drop, log):
    """The refinement ``config.refine`` names (``"first"`` or ``"best"``) under the budget ``drop``."""
    return (refine_best if config.refine == "best" else refine_first)(run, config, imp, best, drop, log)
