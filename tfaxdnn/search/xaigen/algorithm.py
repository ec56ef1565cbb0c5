"""XAI-Gen (the XAI-Gen paper's Algorithm 1): conductance decides which layers get which approximate multiplier.

Steps, as implemented (SPEC section 8):

1. Neuron conductance of every Conv2D / DepthwiseConv2D / Dense layer on ``importance_samples`` images (target: the
   label). Layer importance ``z_l`` = mean over samples of ``Σ_neurons |C|`` (``abs_sum``), normalised to
   ``ẑ_l = (z_l − min z) / (max z − min z)`` (``normalization="minmax"``, default: the least important layer is
   0, the most important 1) or ``ẑ_l = z_l / max z`` (``"max"``; conductance magnitudes of trained nets often
   lie within a factor of two, which leaves little room between layers). Neuron importance = mean ``|C|``.
   (`tfaxdnn.search.xaigen.importance`.)
2. Layers are visited from the least to the most important. ``SelectMult``: with ``M`` multipliers sorted by MAE
   (index 0 exact) and the current threshold ``t``, layer ``l`` gets index
   ``i_l = clip(round((1 − ẑ_l / t)·(M − 1)), 0, M − 1)``: a layer at or above the threshold stays exact, a layer of
   near-zero importance gets the most aggressive multiplier, linearly in between. After each committed layer
   ``t`` is lowered by ``δ`` (never below ``δ``), so later, more important layers are approximated more cautiously.
3. Skipping: layer ``l`` drops the fraction ``s_l = t_p·(1 − ẑ_l)`` of its least important neurons, rounded down
   to a multiple of ``skip_step`` (5 %); the model's output layer is never skipped. (Both rules:
   `tfaxdnn.search.xaigen.rules`.)
4. Each step approximates the model with the committed layers plus the new one (weights re-coded by the weight
   mapping, no retraining) and measures accuracy on the *validation* split and energy with `tfaxdnn.hardware`
   (through the public `tfaxdnn.search.Evaluator`, `tfaxdnn.search.xaigen.evaluation`). The evaluation data is
   split (``validation_fraction``, seeded) into the validation images the search selects on and the test images
   the result is reported on; an explicit ``test_data`` replaces the split.
   A candidate meets ``Q_c`` when the upper ``confidence`` bound of its paired drop against the float model (same
   validation images, `tfaxdnn.search.statistics`) is at most ``max_accuracy_drop``; it is scored slice by slice and
   rejected as soon as it provably cannot (sequential rejection).
   If it misses ``Q_c``: ``on_violation="stop"`` ends the search
   (the paper), ``"backoff"`` (default) retries the layer with half and a quarter of the skip fraction, then
   none, then ever less aggressive multipliers, and keeps the first setting that passes (the layer stays exact
   if none does).
5. Refinement (beyond the paper, ``refine_passes``, default 2; `tfaxdnn.search.xaigen.refine`): Algorithm 1 never
   touches the layers at the top of the ranking, which may hold most of the MACs. Each pass visits the layers least
   important first and tries one step more aggressive (next multiplier, else ``skip_step`` more skipping up to
   ``t_p``), keeping a step only if accuracy still meets ``Q_c`` and energy falls. ``result.algorithm1`` keeps the
   pre-refinement result.
   5b. Before refinement (beyond the paper, ``uniform_candidates``, default on): every layer on one multiplier, no
   skipping, for each multiplier; the one saving the most energy among those meeting ``Q_c`` replaces Algorithm
   1's result if it saves more (Algorithm 1 can end behind such a trivial plan: ResNet-20, 2026-12-07), and
   refinement starts from it (`tfaxdnn.search.xaigen.refine.uniform_start`).
6. The result is the last configuration that met ``Q_c``, re-checked on the confirmation slice (validation images
   the search never selected on; `tfaxdnn.search.confirmation`): if it fails there, the next candidate that met
   ``Q_c``, by energy, that passes, else the exact plan; ``meets_energy`` says whether it also meets ``E_c``
   (energy relative to the all-exact model). (`run_xaigen`, `tfaxdnn.search.xaigen.run`.)

7. Beyond the paper (off by default, so Algorithm 1 stays reproducible):

   * ``selection="sensitivity"``: instead of conductance, each layer's measured validation accuracy drop under
     each multiplier (that layer alone approximate, one pass per layer, cached per search) ranks the layers (score:
     the drop under the most aggressive multiplier) and picks a layer's multiplier: the most aggressive one whose
     own drop stays within the allowed drop. Conductance still ranks the neurons to skip.
   * ``energy_accounting``: ``"system"`` (default), ``"compute"`` or ``"multiplier"`` (`HardwareReport.reduction`)
     is the energy the search minimises (refinement, ``E_c``); all three are reported.
   * ``refine="best"``: each refinement step tries one move on every layer and keeps the one that saves the most
     energy per validation accuracy lost (``"first"``, default: the first acceptable move, layer by layer).
   * ``finetune_epochs > 0`` (needs ``train_data``): the no-retraining plan is fine-tuned with the layers'
     straight-through gradient (`tfaxdnn.rewrite.finetune`; skipped channels stay exactly zero: the mask is applied
     in the layer's call; BatchNormalization frozen). With ``search_accuracy_drop`` > ``max_accuracy_drop`` the
     plan search is first run with that looser drop (and then halfway), each plan is fine-tuned, and the first
     whose fine-tuned validation accuracy meets ``Q_c`` is kept (else the no-retraining plan, fine-tuned). The
     no-retraining result is reported next to it (``result.no_retraining``). (`tfaxdnn.search.xaigen.finetuning`.)

``sweep`` (`tfaxdnn.search.xaigen.tradeoff`) evaluates whole-model configurations over a grid of ``t_p`` values,
skipping only ("p") and skipping with approximation ("pa"), as in the paper's Figs. 8–9.

This module holds steps 2–5: `plan_search`.
"""

from __future__ import annotations

from tfaxdnn import multipliers as _mult
from tfaxdnn.search.xaigen.config import XAIGenConfig, energy_fields
from tfaxdnn.search.xaigen.evaluation import XAIGenSearch
from tfaxdnn.search.xaigen.importance import Importance
from tfaxdnn.search.xaigen.refine import refine, uniform_start
from tfaxdnn.search.xaigen.rules import select_multiplier, skip_fraction

__all__ = ["plan_search"]


def plan_search(run: XAIGenSearch, config: XAIGenConfig, drop: float):
    """Algorithm 1 (+ back-off, + refinement) with ``Q_c``: paired drop bound <= ``drop`` on the validation split.

    Returns ``(importance, settings, validation Metrics, log, Algorithm 1 summary)``: the importance that ranked the
    layers (the measured drops with ``selection="sensitivity"``), the chosen ``{layer: (multiplier, skip)}``, its
    validation metrics, every scored candidate, and the result before refinement.
    """
    from tqdm.auto import tqdm

    verbose = run.verbose
    mults = config.multipliers
    exact = mults[0] if _mult.get(mults[0]).is_exact else _mult.EXACT_SIGNED
    sens = run.sensitivity(mults) if config.selection == "sensitivity" else None
    imp = run.importance if sens is None else Importance(
        list(run.importance.layers), {n: max(sens[n][mults[-1]], 0.0) for n in run.importance.layers},
        run.importance.neurons)
    layers, output_layer = imp.layers, run.output_layer
    committed = {n: (exact, 0.0) for n in layers}
    plan, m = run(committed)                 # the start: every image scored
    log = [run.log_row(0, "exact", committed, m, run.accepts(m, drop), drop)]
    best = (plan, m, dict(committed))
    z_hat = imp.normalized(config.normalization)
    threshold = config.t_c
    bar = tqdm(imp.ascending(), desc="XAI-Gen", disable=not verbose)
    for step, name in enumerate(bar, 1):
        if sens is None:
            i = select_multiplier(z_hat[name], threshold, len(mults))
        else:  # the most aggressive multiplier whose own drop fits the allowed drop
            i = max([0] + [j for j in range(1, len(mults)) if sens[name][mults[j]] <= drop])
        s = 0.0 if name == output_layer else skip_fraction(z_hat[name], config.t_p, config.skip_step)
        candidates = [(i, s)]
        if config.on_violation == "backoff":
            halves = [skip_fraction(0.0, s / 2 ** k, config.skip_step) for k in (1, 2)] + [0.0]
            candidates += [(i, h) for h in halves] + [(j, 0.0) for j in range(i - 1, 0, -1)]
            candidates = list(dict.fromkeys(candidates))
        accepted = False
        for j, sk in candidates:
            if j == 0 and sk == 0.0:
                break
            trial = dict(best[2], **{name: (mults[j], sk)})
            plan, m = run(trial, drop=drop)
            ok = run.accepts(m, drop)
            log.append(run.log_row(step, name, trial, m, ok, drop))
            bar.set_postfix(layer=name, acc=f"{m.accuracy:.3f}", energy=f"{run.energy(m):.3f}")
            if ok:
                best, accepted = (plan, m, trial), True
                break
        if not accepted and config.on_violation == "stop" and (i > 0 or s > 0):
            break
        threshold = max(threshold - config.delta, config.delta) if config.delta else threshold
    algorithm1 = {"validation_accuracy": best[1].accuracy, "test_accuracy": run.test(best[0]).accuracy,
                  "relative_energy": best[1].relative_energy,
                  **energy_fields(best[1].reductions),
                  "settings": {n: {"multiplier": m, "skip_fraction": s} for n, (m, s) in best[2].items()}}
    if config.uniform_candidates:
        best = uniform_start(run, config, best, drop, log)
    best = refine(run, config, imp, best, drop, log)
    return imp, best[2], best[1], log, algorithm1
