"""Shared command-line pieces of the XAI-Gen examples (train or load a model, then run XAI-Gen)."""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def parser(doc: str, default_out: str, default_sweep: str) -> argparse.ArgumentParser:
    """The options both examples share; add model-specific ones to the result."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--data", default=None, help="npz dataset (default: a found copy, else the bundled subset)")
    p.add_argument("--subset", action="store_true", help="use the bundled subset even if the full data exists")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default depends on the data size)")
    p.add_argument("--model", default=None, help="load this trained .keras model instead of training")
    p.add_argument("--sweep", default=default_sweep, help="t_p values of the p/pa sweep ('' to skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=default_out)
    g = p.add_argument_group("XAI-Gen")
    g.add_argument("--max-accuracy-drop", type=float, default=0.02, help="Q_c below the float model (default 0.02)")
    g.add_argument("--t-p", type=float, default=0.5, help="skipping threshold (default 0.5)")
    g.add_argument("--selection", choices=("conductance", "sensitivity"), default="conductance",
                   help="layer ranking: the paper's conductance or measured per-layer accuracy drops")
    g.add_argument("--energy-accounting", choices=("system", "compute", "multiplier"), default="system",
                   help="the energy the search minimises (all three are reported)")
    g.add_argument("--refine", choices=("first", "best"), default="first", help="refinement move rule")
    g.add_argument("--refine-passes", type=int, default=2, help="refinement passes (0: the paper's algorithm only)")
    g.add_argument("--finetune-epochs", type=int, default=0,
                   help="straight-through fine-tuning epochs on the training data after the plan is fixed")
    g.add_argument("--validation-fraction", type=float, default=0.5,
                   help="share of the evaluation images the search selects on; the rest reports the result")
    g.add_argument("--search-accuracy-drop", type=float, default=None,
                   help="accuracy drop the plan search may use when fine-tuning follows (default: Q_c's)")
    return p


def xaigen_config(args, **kw):
    """`XAIGenConfig` from the shared options (plus model-specific ``kw``)."""
    from tfaxdnn.search import XAIGenConfig

    return XAIGenConfig(max_accuracy_drop=args.max_accuracy_drop, t_p=args.t_p, selection=args.selection,
                        energy_accounting=args.energy_accounting, refine=args.refine,
                        refine_passes=args.refine_passes, finetune_epochs=args.finetune_epochs,
                        search_accuracy_drop=args.search_accuracy_drop,
                        validation_fraction=args.validation_fraction, seed=args.seed, **kw)


def trained_model(args, build, x, y, epochs: int, name: str, **train_kw):
    """``args.model`` loaded, or ``build()`` trained for ``epochs`` and saved to ``args.out/name.keras``."""
    import keras

    from tfaxdnn.models import train_classifier

    os.makedirs(args.out, exist_ok=True)
    if args.model:
        return keras.models.load_model(args.model)
    keras.utils.set_random_seed(args.seed)
    t0 = time.perf_counter()
    model = train_classifier(build(), x, y, epochs, seed=args.seed, **train_kw)
    print(f"trained {name} for {epochs} epochs on {len(x)} images in {time.perf_counter() - t0:.0f} s")
    model.save(os.path.join(args.out, f"{name}.keras"))
    return model


def sweep_values(text: str) -> tuple:
    return tuple(float(v) for v in text.split(",")) if text else ()


def card_split(name: str, path=None, seed=None):
    """`tfaxdnn.models.card_split` for a script: a missing dataset or a split that is not the card's ends it with
    the message (about ``--data``)."""
    from tfaxdnn.models import card_split as split

    try:
        return split(name, path, seed)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e} (--data)") from None
