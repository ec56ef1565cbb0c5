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
    return p


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
