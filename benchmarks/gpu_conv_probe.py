"""Approximate 3x3 convolutions on the device as *convolutions* of re-coded operands instead of im2col + GEMM
(the low-rank engine's default), and whether each variant is bit-identical to it.

    KERAS_BACKEND=jax python benchmarks/gpu_conv_probe.py [--batch 1000] --out DIR

Variants, per shape and table (milliseconds, best of ``--reps`` after a compile):

- ``im2col_f32``: `tfaxdnn.ops.lowrank.conv2d_acc` at float32 (exact by construction; the reference here);
- ``conv_f32``: its GEMM groups as XLA float32 convolutions at ``Precision.HIGHEST`` (channel chunks keep each
  float sum below 2**24; cuDNN picks the algorithm);
- ``conv_bf16``: the int8 form's groups (`LowRankForm.int8_groups`: int8 values, exact in bfloat16) as bfloat16
  convolutions with float32 accumulation, one per group;
- ``conv_bf16_merged``: the same as one convolution whose kernel is block-diagonal over the groups (one gather,
  one convolution, more multiplications);
- ``conv_bf16_fold``: the shipped ``"bfloat16"`` form (`conv2d_acc(..., "bfloat16")`: the weight zero point folded
  into the weights, no sum-of-activations output; in the recorded 2026-12-07 run this was the probe's own copy of
  that computation, ``conv_int8_groups(..., fold_zw=True)``); ``conv_bf16_merged_fold``: merged and folded;
- ``conv_f16``: the float32 GEMM groups in float16 operands (integers up to 2048 exact) with float32 accumulation;
- float convolutions of the same shape: XLA's default precision (TF32 on an H100), full float32, bfloat16.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_int8_probe import _best  # noqa: E402  (milliseconds, best of reps after a compile)

SHAPES = ((32, 16, 16, 1), (16, 32, 32, 1), (8, 64, 64, 1), (32, 16, 32, 2))  # (size, in, out, stride)
TABLES = ("mul8s_1L2N", "mul8s_1L2J", "mul8s_1KVA", "mul8s_1KR3")
F32 = 2 ** 24


def _tap_bound(a_tab, w_tab) -> int:
    """``max |sum_j a[i, j] w[k, j]|`` over all code pairs: one tap's exact bound."""
    return int(np.abs(a_tab.astype(np.int64) @ w_tab.astype(np.int64).T).max())


def _conv(f, k, strides, dilations, dtype):
    import jax
    import jax.numpy as jnp
    prec = jax.lax.Precision.HIGHEST if dtype == "float32" else None
    return jax.lax.conv_general_dilated(f, k, strides, "VALID", rhs_dilation=dilations,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=prec,
                                        preferred_element_type=jnp.float32)


def _chunked_conv(f, k, cols, per_ch, strides, dilations, dtype):
    """Sum over channel chunks of ``per_ch`` input channels (``cols`` columns each) as int32."""
    import jax.numpy as jnp
    c = f.shape[-1] // cols
    out = None
    for s in range(0, c, per_ch):
        e = min(c, s + per_ch)
        part = _conv(f[..., s * cols:e * cols], k[:, :, s * cols:e * cols], strides, dilations, dtype)
        part = part.astype(jnp.int32)
        out = part if out is None else out + part
    return out


def conv_int8_groups(x, w, form, za, zw, strides, padding, dilations, merged: bool, fold_zw: bool = False):
    """The int8 form's accumulators ``sum T - z_w sum a - z_a sum (w - z_w)`` via bfloat16 convolutions
    (``fold_zw``: the product group multiplies ``w - z_w`` itself, exact in bfloat16 up to 256, instead of an
    extra output column summing the activations)."""
    import jax.numpy as jnp

    from tfaxdnn.ops.lowrank import _padded
    kh, kw, c, o = w.shape
    xp, oh, ow = _padded(x, za, kh, kw, strides, dilations, padding)
    ix, iw = xp + form.off, w + form.off
    groups = form.int8_groups
    bounds = [_tap_bound(g.a_tab, g.w_tab) for g in groups]

    if fold_zw:
        bounds = [b + (128 * 127 if g.product else 0) for g, b in zip(groups, bounds)]

    def kernel(g, extra_ones=False):
        k = jnp.take(jnp.asarray(g.w_tab, jnp.bfloat16), iw, axis=0)          # [kh, kw, C, O, c]
        if fold_zw and g.product:
            k = k.at[..., 0].set((w - jnp.asarray(zw, jnp.int32)).astype(jnp.bfloat16))
            extra_ones = False
        k = jnp.transpose(k, (0, 1, 2, 4, 3))                                 # [kh, kw, C, c, O]
        if extra_ones:  # one more output: sum of the activations (column 0 holds the codes)
            ones = jnp.zeros(k.shape[:4] + (1,), jnp.bfloat16).at[:, :, :, 0, 0].set(1)
            k = jnp.concatenate([k, ones], axis=-1)
        return k

    acc = num = asum = None
    if not merged:
        for g, b in zip(groups, bounds):
            cols = g.a_tab.shape[1]
            per_ch = max(1, (F32 - 1) // ((b + (128 if g.product else 0)) * kh * kw))
            f = jnp.take(jnp.asarray(g.a_tab, jnp.bfloat16), ix, axis=0)
            f = f.reshape(f.shape[:3] + (-1,))
            k = kernel(g, g.product)
            k = k.reshape(kh, kw, c * cols, -1)
            part = _chunked_conv(f, k, cols, per_ch, strides, dilations, "bfloat16")
            if g.product and not fold_zw:
                asum, part = part[..., o], part[..., :o]
            part = part * g.scale if g.scale != 1 else part
            if g.numerator:
                num = part if num is None else num + part
            else:
                acc = part if acc is None else acc + part
    else:
        ctot = sum(g.a_tab.shape[1] for g in groups)
        outs = len(groups) * o + (0 if fold_zw else 1)
        a_all = np.hstack([g.a_tab for g in groups])
        f = jnp.take(jnp.asarray(a_all, jnp.bfloat16), ix, axis=0)
        f = f.reshape(f.shape[:3] + (-1,))
        blocks = []
        for gi, g in enumerate(groups):
            k = kernel(g, g.product)   # the product group's sum-of-activations column goes last
            k, ones = k[..., :o], k[..., o:]
            k = jnp.pad(k, [(0, 0)] * 4 + [(gi * o, outs - (gi + 1) * o)])
            if ones.shape[-1]:
                k = k.at[..., -1:].set(ones)
            blocks.append(k)
        k = jnp.concatenate(blocks, axis=3).reshape(kh, kw, c * ctot, outs)
        per_ch = max(1, (F32 - 1) // ((max(bounds) + 128) * kh * kw))
        out = _chunked_conv(f, k, ctot, per_ch, strides, dilations, "bfloat16")
        asum = None if fold_zw else out[..., -1]
        for gi, g in enumerate(groups):
            part = out[..., gi * o:(gi + 1) * o]
            part = part * g.scale if g.scale != 1 else part
            if g.numerator:
                num = part if num is None else num + part
            else:
                acc = part if acc is None else acc + part
    if num is not None:
        acc = acc + jnp.floor_divide(num, form.d)
    zw = jnp.asarray(zw, jnp.int32)
    sw = jnp.sum((w - zw).reshape(-1, o), axis=0)
    if asum is not None:
        acc = acc - asum[..., None] * zw
    return acc - za * sw


def conv_f32_groups(x, w, form, za, zw, strides, padding, dilations, dtype="float32"):
    """`conv2d_acc`'s float32 GEMM groups as float32 convolutions (channel chunks below 2**24); ``float16``:
    the same operands in float16 (exact up to 2048) with float32 accumulation."""
    if dtype == "float16" and form.entry_bound > 2048:
        raise ValueError(f"factors up to {form.entry_bound} do not fit float16 exactly")
    import jax.numpy as jnp

    from tfaxdnn.ops.lowrank import _padded, _weight_rows
    kh, kw, c, o = w.shape
    xp, oh, ow = _padded(x, za, kh, kw, strides, dilations, padding)
    ix = xp + form.off
    acc = None
    for a_tab, w_tab, bound, divisor, product in form.groups("float32"):
        cols = a_tab.shape[1]
        per_ch = max(1, (F32 - 1) // (bound * kh * kw))
        f = jnp.take(jnp.asarray(a_tab, dtype), ix, axis=0)
        f = f.reshape(f.shape[:3] + (-1,))
        k = _weight_rows(w_tab, w, form.off, jnp.asarray(zw, jnp.int32), product, "float32")  # [kh,kw,C,O,c]
        k = jnp.transpose(k, (0, 1, 2, 4, 3)).reshape(kh, kw, c * cols, o).astype(dtype)
        out = None
        for s in range(0, c, per_ch):
            e = min(c, s + per_ch)
            part = _conv(f[..., s * cols:e * cols], k[:, :, s * cols:e * cols], strides, dilations,
                         dtype).astype(jnp.int32)
            part = part if divisor == 1 else jnp.floor_divide(part, divisor)
            out = part if out is None else out + part
        acc = out if acc is None else acc + out
    sw = jnp.sum((w - jnp.asarray(zw, jnp.int32)).reshape(-1, o), axis=0)
    return acc - za * sw


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--tables", default=",".join(TABLES))
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    import jax
    import jax.numpy as jnp

    import tfaxdnn  # noqa: F401
    from tfaxdnn.multipliers import get
    from tfaxdnn.ops.lowrank import conv2d_acc
    from tfaxdnn.ops.lowrank_form import form_of
    rng = np.random.default_rng(0)
    rows = []
    dn = ("NHWC", "HWIO", "NHWC")
    za, zw = 3, 5
    for size, c, o, s in SHAPES:
        x8 = rng.integers(-128, 128, (args.batch, size, size, c)).astype(np.int8)
        w8 = rng.integers(-128, 128, (3, 3, c, o)).astype(np.int8)
        ext = [rng.choice(np.array([-128, 127], np.int8), a.shape) for a in (x8[:50], w8)]  # extreme codes
        xi, wi = jnp.asarray(x8, jnp.int32), jnp.asarray(w8, jnp.int32)
        shape = f"{args.batch}x{size}x{size}x{c} -> {o}, 3x3 stride {s}"
        base = dict(shape=shape)

        def fconv(prec, dt):
            return jax.jit(lambda a, b: jax.lax.conv_general_dilated(
                a.astype(dt), b.astype(dt), (s, s), "SAME", dimension_numbers=dn, precision=prec,
                preferred_element_type=jnp.float32))
        xf, wf = jnp.asarray(x8, jnp.float32), jnp.asarray(w8, jnp.float32)
        base["float_conv_default_ms"] = _best(fconv(None, jnp.float32), (xf, wf), args.reps)
        base["float_conv_highest_ms"] = _best(fconv(jax.lax.Precision.HIGHEST, jnp.float32), (xf, wf), args.reps)
        base["bf16_conv_ms"] = _best(fconv(None, jnp.bfloat16), (xf, wf), args.reps)
        print(base, flush=True)
        for table in args.tables.split(","):
            form = form_of(get(table))
            row = dict(base, table=table, rank=form.rank, d=form.d)
            fns = dict(
                im2col_f32=lambda a, b: conv2d_acc(a, b, form, za, zw, (s, s), "SAME", (1, 1), "float32"),
                conv_f32=lambda a, b: conv_f32_groups(a, b, form, za, zw, (s, s), "SAME", (1, 1)),
                conv_bf16=lambda a, b: conv_int8_groups(a, b, form, za, zw, (s, s), "SAME", (1, 1), False),
                conv_bf16_merged=lambda a, b: conv_int8_groups(a, b, form, za, zw, (s, s), "SAME", (1, 1), True),
                conv_bf16_fold=lambda a, b: conv2d_acc(a, b, form, za, zw, (s, s), "SAME", (1, 1), "bfloat16"),
                conv_bf16_merged_fold=lambda a, b: conv_int8_groups(a, b, form, za, zw, (s, s), "SAME", (1, 1),
                                                                    True, True),
                conv_f16=lambda a, b: conv_f32_groups(a, b, form, za, zw, (s, s), "SAME", (1, 1), "float16"))
            ref = ref_ext = None
            for name, fn in fns.items():
                fn = jax.jit(fn)
                try:
                    row[f"{name}_ms"] = _best(fn, (xi, wi), args.reps)
                    got = np.asarray(fn(xi, wi))
                    got_ext = np.asarray(fn(jnp.asarray(ext[0], jnp.int32), jnp.asarray(ext[1], jnp.int32)))
                except Exception as e:  # noqa: BLE001  (a variant XLA cannot run is a finding)
                    row[f"{name}_error"] = f"{type(e).__name__}: {str(e)[:300]}"
                    continue
                if ref is None:
                    ref, ref_ext = got, got_ext
                else:
                    row[f"{name}_exact"] = bool(np.array_equal(got, ref) and np.array_equal(got_ext, ref_ext))
                    if not row[f"{name}_exact"]:
                        row[f"{name}_max_error"] = int(max(np.abs(got.astype(np.int64) - ref).max(),
                                                           np.abs(got_ext.astype(np.int64) - ref_ext).max()))
            groups = form.int8_groups
            a_all = jnp.asarray(np.hstack([g.a_tab for g in groups]), jnp.bfloat16)
            ctot = a_all.shape[1]
            gather = jax.jit(lambda a: jnp.take(a_all, jnp.pad(a, [(0, 0), (1, 1), (1, 1), (0, 0)]) + 128,
                                                axis=0).reshape(a.shape[0], size + 2, size + 2, -1))
            row["gather_merged_ms"] = _best(gather, (xi,), args.reps)
            feats = gather(xi)
            for outs in (o, len(groups) * o, len(groups) * o + 1):
                kk = jnp.ones((3, 3, c * ctot, outs), jnp.bfloat16)
                cv = jax.jit(lambda f, k: _conv(f, k, (s, s), (1, 1), "bfloat16"))
                row[f"conv_only_{c * ctot}to{outs}_ms"] = _best(cv, (feats, kk), args.reps)
            print(row, flush=True)
            rows.append(row)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gpu_conv_probe.json"), "w") as f:
        json.dump(dict(device=f"jax {jax.__version__} on {jax.devices()[0].device_kind}", batch=args.batch,
                       rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
