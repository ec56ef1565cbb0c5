"""Conductance of all layers in one call vs one layer (LeNet-5, ResNet-8); target ratio <= 1.5.

    python benchmarks/bench_conductance.py [--samples 16] [--steps 50] [--repeats 3] [--batch-size 256]

Single-layer times are measured for the first selected layer (the backward pass reaches the input end, the worst
case) and the last one. ``per-layer loop`` = the sum of the single-layer times over all layers, what a
one-layer-at-a-time tool (Captum's LayerConductance per layer) would cost.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from tfaxdnn.models import lenet5, resnet8  # noqa: E402
from tfaxdnn.xai import LayerConductance  # noqa: E402


def _time(lc, x, t, steps, bs, repeats):
    lc.attribute(x[:2], target=t[:2], n_steps=steps, internal_batch_size=bs)  # trace
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = lc.attribute(x, target=t, n_steps=steps, internal_batch_size=bs)
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench(name, model, shape, args):
    rng = np.random.default_rng(0)
    x = rng.random((args.samples,) + shape).astype("float32")
    t = rng.integers(0, 10, args.samples)
    everything = LayerConductance(model)
    t_all, cond = _time(everything, x, t, args.steps, args.batch_size, args.repeats)
    delta = everything.convergence_delta(cond, x, None, t)
    f = everything.forward(x)[np.arange(len(x)), t] - everything.forward(np.zeros_like(x))[np.arange(len(x)), t]
    names = everything.layer_names
    singles = {}
    for layer in names:
        singles[layer], _ = _time(LayerConductance(model, [layer]), x, t, args.steps, args.batch_size, args.repeats)
    first, last = names[0], names[-1]
    print(f"{name}: {len(names)} layers, {args.samples} samples x {args.steps + 1} points, "
          f"batch {args.batch_size} points/pass")
    print(f"  all layers, one call      {t_all * 1e3:8.1f} ms")
    print(f"  one layer ({first:<14s}) {singles[first] * 1e3:8.1f} ms   ratio all/one = {t_all / singles[first]:.2f}")
    print(f"  one layer ({last:<14s}) {singles[last] * 1e3:8.1f} ms   ratio all/one = {t_all / singles[last]:.2f}")
    print(f"  per-layer loop (sum)      {sum(singles.values()) * 1e3:8.1f} ms   "
          f"speed-up of one call = {sum(singles.values()) / t_all:.1f}x")
    cuts = [n for n in names if n in ("conv1", "conv2", "conv3", "fc1", "fc2", "stem_conv", "fc")
            or n.endswith("_out")]
    err = max(float(np.max(np.abs(delta[n]) / np.abs(f))) for n in cuts)
    print(f"  completeness, max |sum C - dF| / |dF| over cut layers and samples: {err:.2e}")
    return t_all / singles[first]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    args = p.parse_args(argv)
    ratios = [bench("LeNet-5", lenet5(), (28, 28, 1), args), bench("ResNet-8", resnet8(), (32, 32, 3), args)]
    print(f"worst all/one ratio: {max(ratios):.2f} (target <= 1.5): {'OK' if max(ratios) <= 1.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
