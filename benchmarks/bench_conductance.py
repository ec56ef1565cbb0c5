"""Conductance of all layers in one call vs one layer (LeNet-5, ResNet-8).

    python benchmarks/bench_conductance.py [--samples 16] [--steps 50] [--repeats 3] [--batch-size 256]

Single-layer times are measured for the first selected layer (its gradient needs the whole backward pass), the
middle one and the last one. ``per-layer loop`` = the sum of the single-layer times over all layers, what a
one-layer-at-a-time tool (Captum's LayerConductance per layer) would cost.

``bound``: the same chunks through a plain forward + backward pass (gradients at the taps, no conductance
bookkeeping) to every tap vs to the middle tap only. One backward pass gives every layer's gradient, but it must
reach the first layer, while one middle layer's pass stops halfway: that ratio is the floor of all/middle for any
implementation, and ``overhead`` = our all-layers time over the plain pass to every tap.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfaxdnn.models import lenet5, resnet8  # noqa: E402
from tfaxdnn.xai import LayerConductance  # noqa: E402


def _attribute_fn(lc, x, t, steps, bs):
    lc.attribute(x[:2], target=t[:2], n_steps=steps, internal_batch_size=bs)  # trace
    return lambda: lc.attribute(x, target=t, n_steps=steps, internal_batch_size=bs)


def _plain_pass_fn(lc, x, t, steps, bs):
    """The chunks of ``lc.attribute`` through forward + backward to ``lc``'s taps, without the bookkeeping."""
    m, k, chunks = lc.chunking(len(x), steps + 1, bs)
    pts = tf.constant(np.resize(x, (k * m,) + x.shape[1:]))
    tgt = tf.constant(np.resize(t, k * m).astype(np.int32))
    pass_ = tf.function(lambda p: lc.outputs_and_gradients(p, tgt)[1])
    pass_(pts)
    return lambda: [[g.numpy() for g in pass_(pts)[:1]] for _ in range(chunks)]


def _round_robin(fns, rounds):
    """Median seconds per callable, timed in turn for ``rounds`` rounds (load drifts hit every variant alike)."""
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def bench(name, model, shape, args):
    rng = np.random.default_rng(0)
    x = rng.random((args.samples,) + shape).astype("float32")
    t = rng.integers(0, 10, args.samples)
    everything = LayerConductance(model)
    names = everything.layer_names
    first, middle, last = names[0], names[len(names) // 2], names[-1]
    one = {n: LayerConductance(model, [n]) for n in names}
    fns = {"all": _attribute_fn(everything, x, t, args.steps, args.batch_size)}
    fns.update({n: _attribute_fn(one[n], x, t, args.steps, args.batch_size) for n in (first, middle, last)})
    fns["plain all"] = _plain_pass_fn(everything, x, t, args.steps, args.batch_size)
    fns["plain middle"] = _plain_pass_fn(one[middle], x, t, args.steps, args.batch_size)
    med = _round_robin(fns, args.repeats)
    others = [n for n in names if n not in (first, middle, last)]
    loop = sum(med[n] for n in (first, middle, last)) + sum(
        _round_robin({n: _attribute_fn(one[n], x, t, args.steps, args.batch_size)}, 1)[n] for n in others)
    t_all = med["all"]
    print(f"{name}: {len(names)} layers, {args.samples} samples x {args.steps + 1} points, "
          f"batch {args.batch_size} points/pass, medians of {args.repeats} round-robin rounds")
    print(f"  all layers, one call      {t_all * 1e3:8.1f} ms")
    for label, n in (("first", first), ("middle", middle), ("last", last)):
        print(f"  one layer, {label:<6s} ({n}) {med[n] * 1e3:8.1f} ms   ratio all/one = {t_all / med[n]:.2f}")
    floor = med["plain all"] / med["plain middle"]
    print(f"  plain fwd+bwd: to every tap {med['plain all'] * 1e3:.1f} ms, to {middle} only "
          f"{med['plain middle'] * 1e3:.1f} ms -> floor of all/middle {floor:.2f}; "
          f"all-layers conductance / plain pass to every tap = {t_all / med['plain all']:.2f}")
    print(f"  per-layer loop (sum)      {loop * 1e3:8.1f} ms   speed-up of one call = {loop / t_all:.1f}x")
    cond = everything.attribute(x, target=t, n_steps=args.steps, internal_batch_size=args.batch_size)
    delta = everything.convergence_delta(cond, x, None, t)
    f = everything.forward(x)[np.arange(len(x)), t] - everything.forward(np.zeros_like(x))[np.arange(len(x)), t]
    cuts = [n for n in names if n in ("conv1", "conv2", "conv3", "fc1", "fc2", "stem_conv", "fc")
            or n.endswith("_out")]
    err = max(float(np.max(np.abs(delta[n]) / np.abs(f))) for n in cuts)
    print(f"  completeness, max |sum C - dF| / |dF| over cut layers and samples: {err:.2e}")
    return t_all / med[first], t_all / med[middle], floor


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=5, help="round-robin rounds (medians)")
    p.add_argument("--batch-size", type=int, default=256)
    args = p.parse_args(argv)
    for name, model, shape in (("LeNet-5", lenet5(), (28, 28, 1)), ("ResNet-8", resnet8(), (32, 32, 3))):
        vs_first, vs_middle, floor = bench(name, model, shape, args)
        print(f"  {name}: all/first {vs_first:.2f}, all/middle {vs_middle:.2f} (floor of a plain pass {floor:.2f})")


if __name__ == "__main__":
    main()
