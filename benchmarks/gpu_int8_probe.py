"""One approximate 3x3 convolution of ResNet-20's shapes on the device, by the low-rank engine's forms (float32
GEMMs at full precision; int8 GEMMs or int8 XLA convolutions, int32 accumulation) against float convolutions of the
same shape (XLA's default precision, i.e. TF32 on an H100, and full float32) and a plain int8 XLA convolution.

    KERAS_BACKEND=jax python benchmarks/gpu_int8_probe.py [--batch 1000] [--table mul8s_1L2N] --out DIR

First XLA's int8 dots (s8 x s8 -> s32) against NumPy on a few shapes (on an H100 with jax 0.11.2, 8x5x3 was wrong);
then milliseconds per call (best of ``--reps`` after a compile), and whether the int8 form equals the float32 form
(and the int8 XLA convolution an int64 NumPy reference on the first images, or the error XLA gives).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

DOTS = ((8, 5, 3), (64, 144, 16), (1000, 300, 17), (4096, 576, 64), (500, 64, 10), (500, 192, 10))
SHAPES = ((32, 16, 16, 1), (16, 32, 32, 1), (8, 64, 64, 1), (32, 16, 32, 2))  # (size, in, out, stride)


def _best(fn, args, reps):
    import jax
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--table", default="mul8s_1L2N")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    import jax
    import jax.numpy as jnp

    import tfaxdnn  # noqa: F401
    from tfaxdnn.multipliers import get
    from tfaxdnn.ops.lowrank import conv2d_acc
    from tfaxdnn.ops.lowrank_form import form_of
    form = form_of(get(args.table))
    rng = np.random.default_rng(0)
    rows = []
    dots = []
    for m, k, n in DOTS:  # XLA's int8 dots against int64 NumPy products
        a = rng.integers(-128, 128, (m, k)).astype(np.int8)
        b = rng.integers(-128, 128, (k, n)).astype(np.int8)
        got = np.asarray(jax.jit(lambda p, q: jnp.matmul(p, q, preferred_element_type=jnp.int32))(a, b))
        err = int(np.abs(got.astype(np.int64) - a.astype(np.int64) @ b.astype(np.int64)).max())
        dots.append(dict(shape=f"{m}x{k}x{n}", exact=err == 0, max_error=err))
        print(dots[-1], flush=True)
    os.environ["TFAXDNN_LOWRANK_GEMM"] = "int8"   # the int8 form, refused on a GPU unless asked for
    dn = ("NHWC", "HWIO", "NHWC")
    for size, c, o, s in SHAPES:
        x8 = rng.integers(-128, 128, (args.batch, size, size, c)).astype(np.int8)
        w8 = rng.integers(-128, 128, (3, 3, c, o)).astype(np.int8)
        xi, wi = jnp.asarray(x8, jnp.int32), jnp.asarray(w8, jnp.int32)
        xf, wf = jnp.asarray(x8, jnp.float32), jnp.asarray(w8, jnp.float32)
        row = dict(shape=f"{args.batch}x{size}x{size}x{c} -> {o}, 3x3 stride {s}", table=args.table)

        def fconv(prec):
            return jax.jit(lambda a, b: jax.lax.conv_general_dilated(a, b, (s, s), "SAME", dimension_numbers=dn,
                                                                     precision=prec))
        row["float_conv_default_ms"] = _best(fconv(None), (xf, wf), args.reps)
        row["float_conv_highest_ms"] = _best(fconv(jax.lax.Precision.HIGHEST), (xf, wf), args.reps)
        outs = {}
        for prec in ("float32", "int8"):
            fn = jax.jit(lambda a, b, prec=prec: conv2d_acc(a, b, form, 3, 0, (s, s), "SAME", (1, 1), prec))
            row[f"lowrank_{prec}_ms"] = _best(fn, (xi, wi), args.reps)
            outs[prec] = np.asarray(fn(xi, wi))
        row["int8_equals_float32"] = bool(np.array_equal(outs["int8"], outs["float32"]))
        try:
            iconv = jax.jit(lambda a, b: jax.lax.conv_general_dilated(
                a, b, (s, s), "SAME", dimension_numbers=dn, preferred_element_type=jnp.int32))
            row["xla_int8_conv_ms"] = _best(iconv, (jnp.asarray(x8), jnp.asarray(w8)), args.reps)
            got = np.asarray(iconv(jnp.asarray(x8[:2]), jnp.asarray(w8)))
            ref = np.asarray(jax.jit(lambda a, b: jax.lax.conv_general_dilated(
                a, b, (s, s), "SAME", dimension_numbers=dn, precision=jax.lax.Precision.HIGHEST))(
                jnp.asarray(x8[:2], jnp.float32), jnp.asarray(w8, jnp.float32)))
            row["xla_int8_conv_exact"] = bool(np.array_equal(got, ref.astype(np.int64)))  # |sums| < 2**24 here
        except Exception as e:  # noqa: BLE001  (an unsupported int8 convolution is a finding, not a failure)
            row["xla_int8_conv_error"] = f"{type(e).__name__}: {str(e)[:300]}"
        print(row, flush=True)
        rows.append(row)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gpu_int8_probe.json"), "w") as f:
        json.dump(dict(device=f"jax {jax.__version__} on {jax.devices()[0].device_kind}", int8_dots=dots, rows=rows),
                  f, indent=1)


if __name__ == "__main__":
    main()
