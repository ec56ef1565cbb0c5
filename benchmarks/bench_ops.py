"""Throughput of the compiled LUT ops against exact float32 TF ops and the naive per-product lookup loop.

    .venv/bin/python benchmarks/bench_ops.py [--repeats 15] [--shapes dw3x3]

Per layer shape (ResNet-8 / CIFAR-10 shapes at batch 64, plus the ResNet-8 1x1 shortcut, a Dense layer and
MobileNet-V2 depthwise layers), signed (mul8s_1L2N) and unsigned (mul8u_17C8) tables:
  * approx   -- the LUT op: TfaxApproxConv2D / TfaxApproxMatMul / TfaxApproxDepthwiseConv2D (the library
                kernels), G LUT-MAC/s, median of repeats;
  * low-rank -- the exact low-rank path (tfaxdnn.ops.lowrank: lowrank_conv2d / lowrank_matmul /
                lowrank_depthwise_conv2d, keras.ops on TensorFlow, each a tf.function as the layers trace it), for
                the signed tables (mul8s_1L2N rank 2 with denominator 16, and LOWRANK_EXTRA: mul8s_1KVM rank 1,
                mul8s_1L2J rank 2 denominator 64); checked bit-exact against the LUT op's result on the same codes;
                "best" is the faster of LUT and low-rank, and "auto" is what an approximate layer with
                compute_path="auto" of that shape and table actually chose (its own measurement, paths.choices());
  * float    -- tf.nn.conv2d / tf.matmul / tf.nn.depthwise_conv2d float32 on the same shapes in the same process;
  * TF int8  -- TF's exact QuantizedConv2D / QuantizedMatMul (quint8, no table; none for depthwise on CPU);
  * naive    -- TfaxNaiveConv2D: a benchmark-only C++ op (its own library, loader.load_bench()), one thread,
                one scalar table lookup per product in a
                direct 7-deep loop (TFApprox's CPU scheme); the Dense case runs it as a 1x1 conv.
  Every approx result is checked bit-exact against the naive op's (depthwise: against the NumPy reference).
Every timed function of one shape (float, TF int8, LUT and low-rank of every table) is timed round-robin in one
process, so the ratios are fair on a shared machine even when the absolute numbers are not.
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
#: further signed tables timed on both paths (no naive baseline): error rank 1 (d = 1) and rank 2 (d = 64)
LOWRANK_EXTRA = ("mul8s_1KVM", "mul8s_1L2J")

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


def median_times(fns, repeats: int, warmup: int = 2, rotate: bool = False) -> list:
    """Median seconds per call of each function, timed round-robin so that drifts in machine speed (a shared
    machine) affect all of them alike and their ratios stay fair. ``rotate``: each round starts one function later,
    so that no function always runs right after the same other one (whose memory traffic it would inherit)."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for r in range(repeats):
        start = r % len(fns) if rotate else 0
        for i in list(range(start, len(fns))) + list(range(start)):
            t0 = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - t0)
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


def _tables():
    """``[(label, table name, naive)]``: TABLES (with the naive baseline) then LOWRANK_EXTRA (signed, no naive)."""
    return ([(sign, name, True) for sign, name in TABLES.items()]
            + [("signed", name, False) for name in LOWRANK_EXTRA if name not in TABLES.values()])


def lowrank_fn(kind, x, wc, m, za: int, zw: int, stride, padding):
    """The low-rank path on the codes (a ``tf.function`` of the public `tfaxdnn.ops.lowrank` op, as a traced layer
    runs it) and a description of its form, or ``(None, why)`` where the table has no low-rank form here."""
    from tfaxdnn.layers import paths
    from tfaxdnn.ops import lowrank
    from tfaxdnn.ops.lowrank_form import chunks, form_of, gemm_precision, F32_EXACT, F64_EXACT

    form = form_of(m)
    why = paths.rank_problem(form.rank, m.name)
    if why:
        return None, f"rank {form.rank} > max_rank {paths.max_rank()}"
    if kind == "depthwise":
        try:
            prec = lowrank.depthwise_int_dtype(form, int(wc.shape[0] * wc.shape[1]))
        except ValueError as e:
            return None, str(e)
        desc = f"rank {form.rank}, d {form.d}, {prec} multiply-adds"
        fn = tf.function(lambda: lowrank.lowrank_depthwise_conv2d(x, wc, m, stride, padding, 1, za, zw),
                         autograph=False)
    else:
        taps = int(np.prod(wc.shape[:-1]))
        try:
            prec = gemm_precision(form, taps)
        except ValueError as e:
            return None, str(e)
        n_chunks = chunks(taps, form.tap_bound, F32_EXACT if prec == "float32" else F64_EXACT)[0]
        desc = f"rank {form.rank}, d {form.d}, {prec} GEMM, {n_chunks} chunk(s) of K={taps}"
        if kind == "conv":
            fn = tf.function(lambda: lowrank.lowrank_conv2d(x, wc, m, stride, padding, 1, za, zw), autograph=False)
        else:
            fn = tf.function(lambda: lowrank.lowrank_matmul(x, wc, m, za, zw), autograph=False)
    return fn, desc


def auto_choice(kind, xshape, wshape, stride, padding, table_name):
    """What an approximate layer of this shape and table with ``compute_path="auto"`` chooses at its first trace
    (its own measurement: best of 3 calls of each path on random codes): ``(path, ms LUT, ms low-rank)``."""
    from tfaxdnn import layers as L
    from tfaxdnn.layers import paths

    if kind == "conv":
        layer = L.ApproxConv2D(wshape[2], wshape[:2], strides=stride, padding=padding.lower(), use_bias=False,
                               multiplier=table_name, compute_path="auto")
    elif kind == "dense":
        layer = L.ApproxDense(wshape[0], use_bias=False, multiplier=table_name, compute_path="auto")
    else:
        layer = L.ApproxDepthwiseConv2D(wshape[:2], strides=stride, padding=padding.lower(), use_bias=False,
                                        depth_multiplier=wshape[2], multiplier=table_name, compute_path="auto")
    layer.build(xshape)
    before = set(paths.choices())
    tf.function(layer, autograph=False).get_concrete_function(tf.TensorSpec(xshape, tf.float32))
    new = {k: v for k, v in paths.choices().items() if k not in before}
    if not new:  # a geometry and table form decided earlier in this process (or no measurement: LUT only)
        new = {k: v for k, v in paths.choices().items() if k[0] == type(layer).__name__ and k[1] == paths.batch_bucket(xshape[0])
               and k[2] == tuple(xshape[1:])}
    if not new:
        return None
    path, t_lut, t_low = next(iter(new.values()))
    return path, t_lut * 1e3, t_low * 1e3


def bench_layers(repeats: int, naive_repeats: int, only: str = "", auto: bool = True):
    """Per shape, every table on both paths against float32 (and TF int8) in one round-robin (see the docstring)."""
    from tfaxdnn.ops import reference

    ops, bench_ops = load(), load_bench()
    rng = np.random.default_rng(0)
    rows = []
    for name, kind, xshape, wshape, stride, padding in SHAPES:
        if only and only not in name:
            continue
        strides = [1, stride, stride, 1]
        fx = tf.constant(rng.standard_normal(xshape, np.float32))
        if kind == "dense":
            n, k = xshape
            (o,) = wshape
            macs = n * k * o
            kshape = (k, o)
            fw = tf.constant(rng.standard_normal(kshape, np.float32))
            exact_float = lambda: tf.matmul(fx, fw)
        else:
            n, h, w, c = xshape
            kh, kw, o = wshape  # o: output channels (conv) or channel multiplier (depthwise)
            oh, ow = -(-h // stride), -(-w // stride)
            macs = n * oh * ow * o * kh * kw * c
            kshape = (kh, kw, c, o)
            fw = tf.constant(rng.standard_normal(kshape, np.float32))
            if kind == "conv":
                exact_float = lambda: tf.nn.conv2d(fx, fw, stride, padding)
            else:
                exact_float = lambda: tf.nn.depthwise_conv2d(fx, fw, strides, padding)
        # TF's exact 8-bit op (none for depthwise: TF has no CPU kernel for QuantizedDepthwiseConv2D)
        tf_int8 = None if kind == "depthwise" else tf_quantized(rng, kind, xshape, kshape, stride, padding)
        cases = []
        for sign, table_name, with_naive in _tables():
            m = M.get(table_name)
            signed = m.signed
            table = nn.table_tensor(m)
            za, zw = (-5, 0) if signed else (3, 128)
            zat, zwt = tf.constant(za, tf.int32), tf.constant(zw, tf.int32)
            x, wc = codes(rng, xshape, signed), codes(rng, kshape, signed)
            naive = None
            if kind == "conv":
                approx = (lambda x=x, wc=wc, table=table, za=zat, zw=zwt:
                          ops.tfax_approx_conv2d(x, wc, table, za, zw, strides=strides, padding=padding))
                if with_naive:
                    naive = (lambda x=x, wc=wc, table=table, za=zat, zw=zwt:
                             bench_ops.tfax_naive_conv2d(x, wc, table, za, zw, strides=strides, padding=padding))
            elif kind == "dense":
                approx = lambda x=x, wc=wc, table=table, za=zat, zw=zwt: ops.tfax_approx_mat_mul(x, wc, table, za, zw)
                if with_naive:
                    x4, w4 = tf.reshape(x, (n, 1, 1, k)), tf.reshape(wc, (1, 1, k, o))
                    naive = (lambda x4=x4, w4=w4, table=table, za=zat, zw=zwt:
                             tf.reshape(bench_ops.tfax_naive_conv2d(x4, w4, table, za, zw, strides=[1] * 4,
                                                                    padding="VALID"), (n, o)))
            else:
                approx = (lambda x=x, wc=wc, table=table, za=za, zw=zw:
                          ops.tfax_approx_depthwise_conv2d(x, wc, table, za, zw, strides=strides, padding=padding))
            lut_out = approx().numpy()
            if naive is not None:
                exact = bool(np.array_equal(lut_out, naive().numpy()))
                exact_what = "naive"
            elif kind == "depthwise":  # the NumPy reference on the first two images
                exp = reference.depthwise_conv2d(x[:2].numpy(), wc.numpy(), m.table, stride, padding, 1, za, zw)
                exact = bool(np.array_equal(lut_out[:2], exp))
                exact_what = "reference"
            else:
                exact, exact_what = None, None
            low, low_desc = (lowrank_fn(kind, x, wc, m, za, zw, stride, padding) if signed
                             else (None, "unsigned table: not timed"))
            low_exact = None if low is None else bool(np.array_equal(low().numpy(), lut_out))
            cases.append(dict(sign=sign, table_name=table_name, approx=approx, naive=naive, exact=exact,
                              exact_what=exact_what, lowrank=low, lowrank_form=low_desc, lowrank_exact=low_exact))
        fns = [exact_float] + ([tf_int8] if tf_int8 is not None else [])
        fns += [cs["approx"] for cs in cases] + [cs["lowrank"] for cs in cases if cs["lowrank"] is not None]
        times = median_times(fns, repeats)
        t_float = times.pop(0)
        t_int8 = times.pop(0) if tf_int8 is not None else None
        t_luts = times[:len(cases)]
        t_lows = iter(times[len(cases):])
        for cs, t_a in zip(cases, t_luts):
            t_low = next(t_lows) if cs["lowrank"] is not None else None
            t_naive = median_time(cs["naive"], naive_repeats, warmup=0) if cs["naive"] is not None else None
            row = dict(shape=name, kind=kind, table=f"{cs['sign']} ({cs['table_name']})", macs=macs,
                       approx_gmacs=macs / t_a / 1e9, float_gmacs=macs / t_float / 1e9,
                       tf_int8_gmacs=None if t_int8 is None else macs / t_int8 / 1e9,
                       ratio_tf_int8=None if t_int8 is None else t_int8 / t_a,
                       naive_gmacs=None if t_naive is None else macs / t_naive / 1e9,
                       approx_ms=t_a * 1e3, float_ms=t_float * 1e3,
                       tf_int8_ms=None if t_int8 is None else t_int8 * 1e3,
                       naive_ms=None if t_naive is None else t_naive * 1e3,
                       lowrank_gmacs=None if t_low is None else macs / t_low / 1e9,
                       lowrank_ms=None if t_low is None else t_low * 1e3, lowrank_form=cs["lowrank_form"],
                       lowrank_bit_exact_vs_lut=cs["lowrank_exact"])
            if cs["exact_what"] == "reference":
                row["bit_exact_vs_reference"] = cs["exact"]
            else:
                row["bit_exact_vs_naive"] = cs["exact"]
            row["ratio_float"] = row["approx_gmacs"] / row["float_gmacs"]
            row["ratio_naive"] = None if t_naive is None else row["approx_gmacs"] / row["naive_gmacs"]
            row["ratio_lowrank_float"] = None if t_low is None else row["lowrank_gmacs"] / row["float_gmacs"]
            t_best = t_a if t_low is None else min(t_a, t_low)
            row["best_path"] = "lut" if t_best == t_a else "lowrank"
            row["best_gmacs"] = macs / t_best / 1e9
            row["ratio_best_float"] = t_float / t_best
            row["ratio_best_tf_int8"] = None if t_int8 is None else t_int8 / t_best
            row["auto_choice"] = row["auto_lut_ms"] = row["auto_lowrank_ms"] = None
            if auto and cs["lowrank"] is not None:
                choice = auto_choice(kind, xshape, wshape, stride, padding, cs["table_name"])
                if choice:
                    row["auto_choice"], row["auto_lut_ms"], row["auto_lowrank_ms"] = choice
            rows.append(row)
            low_txt = ("low-rank       -" if t_low is None else
                       f"low-rank {row['lowrank_gmacs']:7.2f} (x{row['ratio_lowrank_float']:.3f}, "
                       f"exact={cs['lowrank_exact']})")
            print(f"  {name:24s} {row['table']:22s} LUT {row['approx_gmacs']:7.2f} (x{row['ratio_float']:.3f})  "
                  f"{low_txt}  float {row['float_gmacs']:7.2f}  TF int8 "
                  f"{'-' if t_int8 is None else format(row['tf_int8_gmacs'], '.2f'):>6s}  best {row['best_path']} "
                  f"x{row['ratio_best_float']:.3f}  auto {row['auto_choice']}  LUT exact={cs['exact']}"
                  + ("" if t_naive is None else f"  x{row['ratio_naive']:.1f} of naive"), flush=True)
    return rows


def _f(v, fmt=".2f"):
    return "-" if v is None else format(v, fmt)


def print_table(layer_rows):
    print("\n| shape | table | LUT G LUT-MAC/s | low-rank G MAC/s | float32 G MAC/s | TF int8 G MAC/s | LUT / float "
          "| low-rank / float | faster path | faster / float | faster / TF int8 | auto chose | LUT bit-exact "
          "| low-rank = LUT |")
    print("|---|---|---:|---:|---:|---:|---:|---:|:-:|---:|---:|:-:|:-:|:-:|")
    for r in layer_rows:
        if "bit_exact_vs_reference" in r:
            exact = "yes (reference)" if r["bit_exact_vs_reference"] else "NO"
        elif r.get("bit_exact_vs_naive") is None:
            exact = "-"
        else:
            exact = "yes (naive)" if r["bit_exact_vs_naive"] else "NO"
        low_eq = "-" if r["lowrank_bit_exact_vs_lut"] is None else ("yes" if r["lowrank_bit_exact_vs_lut"] else "NO")
        print(f"| {r['shape']} | {r['table']} | {r['approx_gmacs']:.2f} | {_f(r['lowrank_gmacs'])} | "
              f"{r['float_gmacs']:.2f} | {_f(r['tf_int8_gmacs'])} | {r['ratio_float']:.3f} | "
              f"{_f(r['ratio_lowrank_float'], '.3f')} | {r['best_path']} | {r['ratio_best_float']:.3f} "
              f"(1/{1 / r['ratio_best_float']:.1f}) | {_f(r['ratio_best_tf_int8'])} | {r['auto_choice'] or '-'} | "
              f"{exact} | {low_eq} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--naive-repeats", type=int, default=3)
    ap.add_argument("--no-auto", action="store_true", help="skip asking an auto-path layer of each shape which path "
                    "it takes")
    ap.add_argument("--shapes", default="", help="only the layer shapes whose name contains this text (e.g. dw3x3)")
    ap.add_argument("--json", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                   "bench_ops.json"))
    args = ap.parse_args()
    t_start, load_start = time.time(), os.getloadavg()
    load()
    print(f"TF {tf.__version__}, {os.cpu_count()} CPUs ({cpu_model()}, {cpu_family_model()}, {_vector_isa()}), "
          f"intra-op threads {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}; naive baseline = "
          "TfaxNaiveConv2D (scalar per-product lookup loop, 1 thread)")
    print(f"load average {os.getloadavg()}; per-layer throughput (batch 64; median of {args.repeats} round-robin "
          "repeats):")
    layer_rows = bench_layers(args.repeats, args.naive_repeats, args.shapes, not args.no_auto)
    print_table(layer_rows)
    ratios = [r["ratio_float"] for r in layer_rows]
    naive = [r["ratio_naive"] for r in layer_rows if r["ratio_naive"] is not None]
    print(f"\nmin LUT/float ratio {min(ratios):.3f} (required >= 0.125, stretch >= 0.333)"
          + (f"; min LUT/naive {min(naive):.1f}x (required >= 10)" if naive else ""))
    signed = [r for r in layer_rows if r["lowrank_gmacs"] is not None]
    for kind in ("conv", "dense", "depthwise"):
        rs = [r for r in signed if r["kind"] == kind]
        if rs:
            worst = min(rs, key=lambda r: r["ratio_best_float"])
            print(f"{kind:9s}: min faster-path/float {worst['ratio_best_float']:.3f} ({worst['shape']}, "
                  f"{worst['table']}, {worst['best_path']}); target >= 0.333: "
                  f"{'met' if worst['ratio_best_float'] >= 1 / 3 else 'MISSED'}")
    bad = [r for r in signed if not r["lowrank_bit_exact_vs_lut"]]
    print(f"low-rank bit-identical to the LUT op on {len(signed) - len(bad)} of {len(signed)} cases"
          + ("" if not bad else ": DIFFERS on " + ", ".join(f"{r['shape']} {r['table']}" for r in bad)))
    if args.json:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        info = dict(tensorflow=tf.__version__, numpy=np.__version__, python=platform.python_version(),
                    machine=platform.machine(), cpus=os.cpu_count(), processor=cpu_model(),
                    cpu_family_model=cpu_family_model(), vector_isa=_vector_isa(),
                    load_average_start=load_start, load_average=os.getloadavg(), seconds=time.time() - t_start,
                    time=time.strftime("%Y-%m-%d %H:%M:%S"), repeats=args.repeats,
                    naive_repeats=args.naive_repeats, keras=_keras_version(),
                    intra_op_threads=str(tf.config.threading.get_intra_op_parallelism_threads() or "default"),
                    lowrank_tables=[n for _, n, _ in _tables() if M.get(n).signed])
        with open(args.json, "w") as f:
            json.dump(dict(env=info, layers=layer_rows), f, indent=1)


def _keras_version() -> str:
    import keras

    return keras.__version__


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


def cpu_family_model() -> str:
    """``family F model M stepping S`` from /proc/cpuinfo (the model name of a VM is often just "AMD EPYC")."""
    keys = {"cpu family": None, "model": None, "stepping": None}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k.strip() in keys and keys[k.strip()] is None:
                    keys[k.strip()] = v.strip()
                if not line.strip():
                    break
    except OSError:
        return "unknown"
    return f"family {keys['cpu family']} model {keys['model']} stepping {keys['stepping']}"


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
