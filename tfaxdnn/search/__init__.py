"""Searches over approximation plans. Shared parts: `SearchConfig` (settings every search has), the public
`Evaluator` (plan -> `Metrics`; every search scores plans through it), `selection` (the validation part a search
selects on, its confirmation slice, the test part it reports on), `statistics` (the paired drop against the
reference on the same images, its upper confidence bound, sequential rejection; `scoring` applies it),
`confirmation` (the re-check of an answer on the confirmation slice and the record of estimated and realised drops),
`runners` (``runner(f, X)``: serial or on Dask workers) and `checkpoint`.
One subpackage per search: `xaigen` (XAI-Gen), `nas` (XAI-NAS, NSGA-II on pymoo and Dask) and `mapping`
(reconfigurable multipliers under STL queries). Names are imported on first use, so ``import tfaxdnn.search``
stays light."""

import importlib

_LAZY = {
    "SearchConfig": "tfaxdnn.search.config",
    "Evaluator": "tfaxdnn.search.evaluator", "EvaluatorSpec": "tfaxdnn.search.evaluator",
    "Metrics": "tfaxdnn.search.evaluator",
    "split_data": "tfaxdnn.search.selection", "seeded_subset": "tfaxdnn.search.selection",
    "confirmation_split": "tfaxdnn.search.selection",
    **{name: "tfaxdnn.search.statistics" for name in ("PairedDrop", "paired_drop", "drop_upper_bound")},
    **{name: "tfaxdnn.search.xaigen" for name in (
        "Importance", "XAIGenConfig", "XAIGenResult", "compute_importance", "energy_cap", "run_and_save",
        "run_xaigen", "save_sweep", "select_multiplier", "skip_fraction", "sweep")},
    **{name: "tfaxdnn.search.nas" for name in ("NASConfig", "NASResult", "run_xainas", "compare_with_alwann")},
    "search_mapping": "tfaxdnn.search.mapping", "MappingResult": "tfaxdnn.search.mapping",
    "Query": "tfaxdnn.search.mapping.queries", "paper_query": "tfaxdnn.search.mapping.queries",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tfaxdnn.search' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
