"""Throughput of the compiled LUT ops against exact float32 TF ops and the naive per-product lookup loop.

    .venv/bin/python benchmarks/bench_ops.py [--repeats 15] [--shapes dw3x3]

Per layer shape (ResNet-8 / CIFAR-10 shapes at batch 64, plus the ResNet-8 1x1 shortcut, a Dense layer and
MobileNet-V2 depthwise layers), signed (mul8s_1L2N) and unsigned (mul8u_17C8) tables:
  * approx   -- TfaxApproxConv2D / TfaxApproxMatMul (the library kernels), G LUT-MAC/s, median of repeats;
  * float    -- tf.nn.conv2d / tf.matmul / tf.nn.depthwise_conv2d float32 on the same shapes in the same process;
  * TF int8  -- TF's exact QuantizedConv2D / QuantizedMatMul (quint8, no table; none for depthwise on CPU);
  * naive    -- TfaxNaiveConv2D: a benchmark-only C++ op (its own library, loader.load_bench()), one thread,
                one scalar table lookup per product in a
                direct 7-deep loop (TFApprox's CPU scheme); the Dense case runs it as a 1x1 conv.
  Every approx result is checked bit-exact against the naive op's (depthwise: against the NumPy reference).
Whole models (LeNet-5, ResNet-8, MobileNet-V2 through tfaxdnn.approximate): benchmarks/bench_models.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tfaxdnn import multipliers as M  # noqa: E402
from tfaxdnn import nn  # noqa: E402
from tfaxdnn.ops.loader import load, load_bench  # noqa: E402

TABLES = {"signed": "mul8s_1L2N", "unsigned": "mul8u_17C8"}

# name, kind, (N, H, W, C), (KH, KW, O), stride, padding
SHAPES = [
    ("conv3x3 32x32x16->16", "conv", (64, 32, 32, 16), (3, 3, 16), 1, "SAME"),
    ("conv3x3 16x16x32->32", "conv", (64, 16, 16, 32), (3, 3, 32), 1, "SAME"),
    ("conv3x3 8x8x64->64", "conv", (64, 8, 8, 64), (3, 3, 64), 1, "SAME"),
    ("conv1x1/2 32x32x16->32", "conv", (64, 32, 32, 16), (1, 1, 32), 2, "SAME"),
    ("dense 256x576->64", "dense", (256, 576), (64,), 1, None),
    ("dense 64x1024->256", "dense", (64, 1024), (256,), 1, None),
    ("dense 64x64->10 (ResNet-8 fc)", "dense", (64, 64), (10,), 1, None),
    # MobileNet-V2 (CIFAR-10) depthwise 3x3 layers, channel multiplier 1: expansion 6 of 16, 24, 32, 64 channels
    ("dw3x3 32x32x96", "depthwise", (64, 32, 32, 96), (3, 3, 1), 1, "SAME"),
    ("dw3x3/2 32x32x144", "depthwise", (64, 32, 32, 144), (3, 3, 1), 2, "SAME"),
    ("dw3x3 16x16x192", "depthwise", (64, 16, 16, 192), (3, 3, 1), 1, "SAME"),
    ("dw3x3 8x8x384", "depthwise", (64, 8, 8, 384), (3, 3, 1), 1, "SAME"),
]


def median_time(fn, repeats: int, warmup: int = 2) -> float:
    return median_times([fn], repeats, warmup)[0]


def median_times(fns, repeats: int, warmup: int = 2) -> list:
    """Median seconds per call of each function, timed round-robin so that drifts in machine speed (a shared
    machine) affect all of them alike and their ratios stay fair."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def codes(rng, shape, signed):
    lo, hi = (-128, 128) if signed else (0, 256)
    return tf.constant(rng.integers(lo, hi, shape).astype(np.int8 if signed else np.uint8))


def _quint8(rng, shape):
    """Random quint8 codes (TF's quantised type; its CPU kernels take quint8 x quint8 only)."""
    return tf.quantization.quantize(tf.constant(rng.random(shape, np.float32)), 0.0, 1.0, tf.quint8).output


def tf_quantized(rng, kind, xshape, wshape, stride, padding):
    """TF's own exact 8-bit op on the same shape (QuantizedConv2D / QuantizedMatMul, quint8 -> qint32, nonzero
    zero points via the ranges): the "what else would I use" baseline of one exact multiply per MAC, no table."""
    x, w = _quint8(rng, xshape), _quint8(rng, wshape)
    if kind == "conv":
        return lambda: tf.raw_ops.QuantizedConv2D(input=x, filter=w, min_input=-0.2, max_input=1.0, min_filter=-0.5,
                                                  max_filter=1.0, strides=[1, stride, stride, 1], padding=padding,
                                                  out_type=tf.qint32).output
    return lambda: tf.raw_ops.QuantizedMatMul(a=x, b=w, min_a=-0.2, max_a=1.0, min_b=-0.5, max_b=1.0,
                                              Toutput=tf.qint32).out


def bench_layers(repeats: int, naive_repeats: int, only: str = ""):
    ops, bench_ops = load(), load_bench()
    rng = np.random.default_rng(0)
    rows = []
    for name, kind, xshape, wshape, stride, padding in SHAPES:
        if only and only not in name:
            continue
        if kind == "depthwise":
            rows += bench_depthwise(ops, rng, name, xshape, wshape, stride, padding, repeats)
            continue
        if kind == "conv":
            n, h, w, c = xshape
            kh, kw, o = wshape
            oh, ow = -(-h // stride), -(-w // stride)
            macs = n * oh * ow * o * kh * kw * c
            fx = tf.constant(rng.standard_normal(xshape, np.float32))
            fw = tf.constant(rng.standard_normal((kh, kw, c, o), np.float32))
            exact_float = lambda: tf.nn.conv2d(fx, fw, stride, padding)
            tf_int8 = tf_quantized(rng, kind, xshape, (kh, kw, c, o), stride, padding)
        else:
            n, k = xshape
            (o,) = wshape
            macs = n * k * o
            fx = tf.constant(rng.standard_normal(xshape, np.float32))
            fw = tf.constant(rng.standard_normal((k, o), np.float32))
            exact_float = lambda: tf.matmul(fx, fw)
            tf_int8 = tf_quantized(rng, kind, xshape, (k, o), stride, padding)
        cases = []
        for sign, table_name in TABLES.items():
            m = M.get(table_name)
            signed = m.signed
            table = nn.table_tensor(m)
            za = tf.constant(-5 if signed else 3, tf.int32)
            zw = tf.constant(0 if signed else 128, tf.int32)
            strides = [1, stride, stride, 1]
            if kind == "conv":
                x, wc = codes(rng, xshape, signed), codes(rng, (kh, kw, c, o), signed)
                approx = (lambda x=x, wc=wc, table=table, za=za, zw=zw, strides=strides:
                          ops.tfax_approx_conv2d(x, wc, table, za, zw, strides=strides, padding=padding))
                naive = (lambda x=x, wc=wc, table=table, za=za, zw=zw, strides=strides:
                         bench_ops.tfax_naive_conv2d(x, wc, table, za, zw, strides=strides, padding=padding))
            else:
                x, wc = codes(rng, xshape, signed), codes(rng, (k, o), signed)
                approx = lambda x=x, wc=wc, table=table, za=za, zw=zw: ops.tfax_approx_mat_mul(x, wc, table, za, zw)
                x4, w4 = tf.reshape(x, (n, 1, 1, k)), tf.reshape(wc, (1, 1, k, o))
                naive = (lambda x4=x4, w4=w4, table=table, za=za, zw=zw:
                         tf.reshape(bench_ops.tfax_naive_conv2d(x4, w4, table, za, zw, strides=[1] * 4, padding="VALID"),
                                    (n, o)))
            exact = bool(np.array_equal(approx().numpy(), naive().numpy()))
            cases.append((sign, table_name, approx, naive, exact))
        t_float, t_int8, *t_approx = median_times([exact_float, tf_int8] + [c[2] for c in cases], repeats)
        for (sign, table_name, approx, naive, exact), t_a in zip(cases, t_approx):
            t_naive = median_time(naive, naive_repeats, warmup=0)
            row = dict(shape=name, table=f"{sign} ({table_name})", macs=macs,
                       approx_gmacs=macs / t_a / 1e9, float_gmacs=macs / t_float / 1e9,
                       tf_int8_gmacs=macs / t_int8 / 1e9, ratio_tf_int8=t_int8 / t_a,
                       naive_gmacs=macs / t_naive / 1e9, approx_ms=t_a * 1e3, float_ms=t_float * 1e3,
                       naive_ms=t_naive * 1e3, bit_exact_vs_naive=exact)
            row["ratio_float"] = row["approx_gmacs"] / row["float_gmacs"]
            row["ratio_naive"] = row["approx_gmacs"] / row["naive_gmacs"]
            rows.append(row)
            print(f"  {name:24s} {sign:8s} approx {row['approx_gmacs']:7.2f}  float {row['float_gmacs']:7.2f}  "
                  f"TF int8 {row['tf_int8_gmacs']:6.2f}  naive {row['naive_gmacs']:6.3f}  x{row['ratio_float']:.3f} of "
                  f"float  x{row['ratio_tf_int8']:.2f} of TF int8  "
                  f"x{row['ratio_naive']:.1f} of naive  exact={exact}", flush=True)
    return rows


def bench_depthwise(ops, rng, name, xshape, wshape, stride, padding, repeats):
    """Depthwise rows: no naive op exists for them (bit-exactness is checked against the NumPy reference on the
    first two images instead), and TF has no CPU kernel for QuantizedDepthwiseConv2D."""
    from tfaxdnn.ops import reference

    n, h, w, c = xshape
    kh, kw, mult = wshape
    macs = n * -(-h // stride) * -(-w // stride) * c * mult * kh * kw
    fx = tf.constant(rng.standard_normal(xshape, np.float32))
    fw = tf.constant(rng.standard_normal((kh, kw, c, mult), np.float32))
    strides = [1, stride, stride, 1]
    cases = []
    for sign, table_name in TABLES.items():
        m = M.get(table_name)
        table = nn.table_tensor(m)
        za, zw = (-5, 0) if m.signed else (3, 128)
        x, wc = codes(rng, xshape, m.signed), codes(rng, (kh, kw, c, mult), m.signed)
        approx = (lambda x=x, wc=wc, table=table, za=za, zw=zw:
                  ops.tfax_approx_depthwise_conv2d(x, wc, table, za, zw, strides=strides, padding=padding))
        got = ops.tfax_approx_depthwise_conv2d(x[:2], wc, table, za, zw, strides=strides, padding=padding).numpy()
        exp = reference.depthwise_conv2d(x[:2].numpy(), wc.numpy(), m.table, stride, padding, 1, za, zw)
        cases.append((sign, table_name, approx, bool(np.array_equal(got, exp))))
    t_float, *t_approx = median_times([lambda: tf.nn.depthwise_conv2d(fx, fw, strides, padding)]
                                      + [c[2] for c in cases], repeats)
    rows = []
    for (sign, table_name, _, exact), t_a in zip(cases, t_approx):
        row = dict(shape=name, table=f"{sign} ({table_name})", macs=macs, approx_gmacs=macs / t_a / 1e9,
                   float_gmacs=macs / t_float / 1e9, tf_int8_gmacs=None, ratio_tf_int8=None,
                   naive_gmacs=None, approx_ms=t_a * 1e3, float_ms=t_float * 1e3,
                   naive_ms=None, bit_exact_vs_reference=exact)
        row["ratio_float"] = row["approx_gmacs"] / row["float_gmacs"]
        row["ratio_naive"] = None
        rows.append(row)
        print(f"  {name:24s} {sign:8s} approx {row['approx_gmacs']:7.2f}  float {row['float_gmacs']:7.2f}  "
              f"x{row['ratio_float']:.3f} of float  exact={exact}", flush=True)
    return rows


def print_table(layer_rows):
    print("\n| shape | table | approx G LUT-MAC/s | float32 G MAC/s | approx / float | TF int8 G MAC/s "
          "| approx / TF int8 | approx / naive | naive G LUT-MAC/s | bit-exact |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|:-:|")
    for r in layer_rows:
        if r["ratio_naive"] is None:  # depthwise: no naive op, checked against the reference
            vs_naive, naive, exact = "-", "-", "yes (reference)" if r["bit_exact_vs_reference"] else "NO"
        else:
            vs_naive, naive = f"{r['ratio_naive']:.1f}x", f"{r['naive_gmacs']:.3f}"
            exact = "yes" if r["bit_exact_vs_naive"] else "NO"
        int8 = "-" if r["tf_int8_gmacs"] is None else f"{r['tf_int8_gmacs']:.2f}"
        vs_int8 = "-" if r["ratio_tf_int8"] is None else f"{r['ratio_tf_int8']:.2f}x"
        print(f"| {r['shape']} | {r['table']} | {r['approx_gmacs']:.2f} | {r['float_gmacs']:.2f} | "
              f"{r['ratio_float']:.3f} (1/{1 / r['ratio_float']:.1f}) | {int8} | {vs_int8} | {vs_naive} | {naive} | "
              f"{exact} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--naive-repeats", type=int, default=3)
    ap.add_argument("--shapes", default="", help="only the layer shapes whose name contains this text (e.g. dw3x3)")
    ap.add_argument("--json", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                   "bench_ops.json"))
    args = ap.parse_args()
    load()
    print(f"TF {tf.__version__}, {os.cpu_count()} CPUs ({cpu_model()}, {_vector_isa()}), intra-op threads "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'}; naive baseline = "
          "TfaxNaiveConv2D (scalar per-product lookup loop, 1 thread)")
    print("Per-layer throughput (batch 64; median of repeats):")
    layer_rows = bench_layers(args.repeats, args.naive_repeats, args.shapes)
    print_table(layer_rows)
    ratios = [r["ratio_float"] for r in layer_rows]
    naive = [r["ratio_naive"] for r in layer_rows if r["ratio_naive"] is not None]
    print(f"\nmin approx/float ratio {min(ratios):.3f} (required >= 0.125, stretch >= 0.333)"
          + (f"; min approx/naive {min(naive):.1f}x (required >= 10)" if naive else ""))
    if args.json:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        info = dict(tensorflow=tf.__version__, numpy=np.__version__, python=platform.python_version(),
                    machine=platform.machine(), cpus=os.cpu_count(), processor=cpu_model(),
                    vector_isa=_vector_isa(), load_average=os.getloadavg(),
                    time=time.strftime("%Y-%m-%d %H:%M:%S"), repeats=args.repeats)
        with open(args.json, "w") as f:
            json.dump(dict(env=info, layers=layer_rows), f, indent=1)


def _vector_isa() -> str:
    """The widest x86 vector extension the CPU reports (the op library is built for the machine it runs on)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    except OSError:
        return "unknown"
    for isa in ("avx512bw", "avx512f", "avx2", "sse4_2"):
        if isa in flags:
            return isa
    return "other"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
