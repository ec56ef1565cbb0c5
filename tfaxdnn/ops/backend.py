"""What the low-rank path needs from the running Keras backend: whether it is on a GPU, whether its float32 GEMMs
are plain float32 (no TF32, which rounds the operands) and whether float64/int64 exist (JAX: only with
``jax_enable_x64``), an exact-precision matmul, and the straight-through gradient of a product.

TensorFlow is imported here only when it is the backend (`tensorflow()`), so this module, like the rest of the
low-rank path, runs on a machine without TensorFlow.
"""

from __future__ import annotations

import functools
import importlib
import os

import keras
import numpy as np

__all__ = ["name", "tensorflow", "on_gpu", "device", "wide_types", "float32_gemm_exact", "matmul", "int8_matmul",
           "prefers_int8_gemm", "gemm_choice", "bf16_available", "prefers_bf16", "bf16_matmul", "bf16_conv", "divide",
           "unfused", "concrete", "straight_through"]


def name() -> str:
    """The Keras backend: ``"tensorflow"``, ``"jax"``, ``"torch"`` or ``"numpy"``."""
    return keras.backend.backend()


def tensorflow():
    """The ``tensorflow`` module, imported on first use (the TensorFlow backend and the LUT op only)."""
    return importlib.import_module("tensorflow")


def on_gpu() -> bool:
    """Whether the backend computes on an accelerator (a GPU or TPU) by default (asked once per backend)."""
    return _on_gpu(name())


@functools.lru_cache(maxsize=None)
def _on_gpu(b: str) -> bool:
    if b == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if b == "tensorflow":
        return bool(tensorflow().config.list_logical_devices("GPU"))
    if b == "torch":
        import torch

        return bool(torch.cuda.is_available())
    return False


def device() -> str:
    """What computes: ``"<backend> on <device>"``, e.g. ``"jax on NVIDIA H100 80GB HBM3"``, ``"tensorflow on CPU"``
    (recorded with search results and benchmarks)."""
    b, where = name(), "CPU"
    if on_gpu():
        if b == "jax":
            import jax

            where = jax.devices()[0].device_kind
        elif b == "tensorflow":
            gpus = tensorflow().config.list_physical_devices("GPU")
            details = tensorflow().config.experimental.get_device_details(gpus[0]) if gpus else {}
            where = details.get("device_name", "GPU")
        elif b == "torch":
            import torch

            where = torch.cuda.get_device_name(0)
    return f"{b} on {where}"


def wide_types() -> bool:
    """Whether float64 and int64 tensors exist (JAX turns them into 32-bit types unless ``jax_enable_x64``)."""
    if name() == "jax":
        import jax

        return bool(jax.config.read("jax_enable_x64"))
    return True


def float32_gemm_exact():
    """``(True, "")`` where `matmul` of float32 operands multiplies and adds in float32 (so sums of integers below
    2**24 are exact), else ``(False, why)``: TensorFlow and PyTorch on a GPU may use TF32 (10-bit mantissa
    operands); JAX is asked for ``Precision.HIGHEST`` by `matmul` itself."""
    b = name()
    if b == "tensorflow" and on_gpu() and tensorflow().config.experimental.tensor_float_32_execution_enabled():
        return False, "TensorFlow's TF32 execution is enabled on the GPU (tf.config.experimental." \
                      "enable_tensor_float_32_execution(False) turns it off)"
    if b == "torch" and on_gpu():
        import torch

        if torch.backends.cuda.matmul.allow_tf32 or torch.get_float32_matmul_precision() != "highest":
            return False, "PyTorch may use TF32 for float32 matmuls (torch.set_float32_matmul_precision('highest')" \
                          " and torch.backends.cuda.matmul.allow_tf32 = False turn it off)"
    return True, ""


def matmul(a, b):
    """``a @ b`` (batched over leading axes) at the backend's full precision: no TF32, no bfloat16 passes. JAX is
    given the dot algorithm explicitly (``F32_F32_F32``: float32 operands, float32 accumulation, no imprecise
    accumulation; a platform that cannot run it refuses rather than rounds), else ``Precision.HIGHEST``."""
    if name() == "jax":
        import jax
        import jax.numpy as jnp

        presets = getattr(jax.lax, "DotAlgorithmPreset", None)
        wide = keras.backend.standardize_dtype(a.dtype) == "float64"
        preset = getattr(presets, "F64_F64_F64" if wide else "F32_F32_F32", None) if presets else None
        return jnp.matmul(a, b, precision=preset or jax.lax.Precision.HIGHEST)
    return keras.ops.matmul(a, b)


GEMM_CHOICES = ("auto", "int8", "float", "bfloat16")


def gemm_choice() -> str:
    """The environment variable ``TFAXDNN_LOWRANK_GEMM`` (default ``auto``), checked: ``float`` (float32 GEMMs at
    full precision, float64 where needed), ``int8`` (integer GEMMs), ``bfloat16`` (int8 values in bfloat16
    convolutions / GEMMs with float32 accumulation) or ``auto`` (``bfloat16`` for JAX on a GPU, else ``float``)."""
    choice = os.environ.get("TFAXDNN_LOWRANK_GEMM", "auto")
    if choice not in GEMM_CHOICES:
        raise ValueError(f"TFAXDNN_LOWRANK_GEMM must be one of {', '.join(GEMM_CHOICES)}. Received: {choice!r}")
    return choice


def prefers_int8_gemm() -> bool:
    """Whether the low-rank path multiplies in int8 integer GEMMs (a layer decides when it first plans its product):
    only where ``TFAXDNN_LOWRANK_GEMM=int8`` (`gemm_choice`).

    Not the default on a GPU: on an H100 with jax 0.11.2, XLA's s8 x s8 -> s32 dots were exact for shapes such as
    1000x300x17 or 4096x576x64 but wrong for 8x5x3 (errors up to 35,633), the approximate models' logits differed on
    every image, and the int8 form was only 1.3x faster (benchmarks/results/bench_gpu_*int8*.json)."""
    return gemm_choice() == "int8"


def bf16_available() -> bool:
    """Whether `bf16_conv` / `bf16_matmul` exist here: JAX (``preferred_element_type``: bfloat16 operands, float32
    results). TensorFlow's bfloat16 convolutions return bfloat16, which would round the sums."""
    return name() == "jax"


def prefers_bf16() -> bool:
    """Whether ``"auto"`` takes the bfloat16 form: JAX on a GPU (1.5-2x faster than float32 GEMMs at full precision
    there, benchmarks/gpu_conv_probe.py), or anywhere ``TFAXDNN_LOWRANK_GEMM=bfloat16`` asks for it."""
    choice = gemm_choice()
    return choice == "bfloat16" or (choice == "auto" and bf16_available() and on_gpu())


def bf16_matmul(a, b):
    """``a @ b`` (batched over leading axes) of bfloat16 operands, float32 results (float32 accumulation; JAX)."""
    import jax.numpy as jnp

    return jnp.matmul(a, b, preferred_element_type=jnp.float32)


def bf16_conv(x, k, strides, dilations, groups: int = 1):
    """VALID NHWC/HWIO convolution of bfloat16 operands, float32 results (float32 accumulation; JAX); ``groups``
    input-channel groups (``feature_group_count``)."""
    import jax
    import jax.numpy as jnp

    return jax.lax.conv_general_dilated(x, k, tuple(strides), "VALID", rhs_dilation=tuple(dilations),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups,
                                        preferred_element_type=jnp.float32)


def int8_matmul(a, b):
    """``a @ b`` (batched over leading axes) of int8 operands, int32 results with int32 accumulation (exact, with
    wrap-around)."""
    if name() == "jax":
        import jax.numpy as jnp

        return jnp.matmul(a, b, preferred_element_type=jnp.int32)
    if name() == "tensorflow":
        tf = tensorflow()
        return tf.linalg.matmul(a, b, output_type=tf.int32)
    ops = keras.ops
    return ops.matmul(ops.cast(a, "int32"), ops.cast(b, "int32"))


def unfused(x):
    """``x``, rounded as a value of its own: XLA (JAX) may not contract the multiplication that made it with an
    addition that uses it.

    XLA's CPU and GPU compilers contract ``a * b + c`` into a fused multiply-add (one rounding instead of two: about
    a quarter of float32 results differ in the last bit) and rewrite a division by a constant or a broadcast into a
    multiplication by its reciprocal (about a quarter differ, and a quotient just above ``k + 0.5`` can round to
    ``k``). TensorFlow's kernels do neither, so bit-identical code passes such values through here. On JAX a select
    on NaN stands between the two (NaN stays NaN; LLVM cannot contract through a select, while an
    ``optimization_barrier``, ``reduce_precision`` or a bitcast round trip did not stop the contraction on XLA:CPU);
    elsewhere ``x`` itself."""
    if name() == "jax":
        import jax.numpy as jnp
        return jnp.where(jnp.isnan(x), jnp.asarray(np.nan, x.dtype), x)
    return x


def divide(a, b):
    """``a / b`` in float32, correctly rounded on every backend (IEEE division, as TensorFlow's kernel).

    On JAX the divisor is broadcast to the result's shape behind an ``optimization_barrier``, so XLA cannot turn it
    into a multiplication by a reciprocal (see `unfused`), and the quotient is then corrected to the correctly
    rounded one (`_correctly_rounded`): XLA's GPU division is not correctly rounded (about 3 quotients in 10 differ
    in the last bit on an H100), and a quotient just above ``k + 0.5`` must not become ``k + 0.5``."""
    ops = keras.ops
    a, b = ops.convert_to_tensor(a, "float32"), ops.convert_to_tensor(b, "float32")
    if name() != "jax":
        return ops.divide(a, b)
    import jax
    import jax.numpy as jnp
    shape = jnp.broadcast_shapes(a.shape, b.shape)
    a, b = jnp.broadcast_to(a, shape), jax.lax.optimization_barrier(jnp.broadcast_to(b, shape))
    q = jax.lax.div(a, b)
    # the correction (a change of at most one unit in the last place) carries no gradient: d(a / b) is the division's
    sa, sb, sq = (jax.lax.stop_gradient(v) for v in (a, b, q))
    return q + (_correctly_rounded(sa, sb, sq) - sq)


def _split(x):
    """Veltkamp's split of float32 ``x`` into ``hi + lo`` with 12 significant bits each (their products are exact)."""
    c = x * np.float32(4097.0)
    hi = c - (c - x)
    return hi, x - hi


def _residual(a, b, bh, bl, q):
    """``a - q * b``, exact up to its own last rounding (Dekker's product: ``q * b = p + e`` exactly; ``a - p`` is
    exact where ``p`` is within a factor 2 of ``a``, as for every candidate quotient); ``bh, bl``: ``_split(b)``."""
    p = q * b
    qh, ql = _split(q)
    e = ((qh * bh - p) + qh * bl + ql * bh) + ql * bl   # exact products: contraction cannot change them
    return (a - p) - e


def _correctly_rounded(a, b, q):
    """The correctly rounded quotient among ``q`` and its two float32 neighbours (a division within one unit in the
    last place): the one whose exact residual ``|a - q b|`` is smallest (a quotient of two floats is never exactly
    halfway between two floats, so there is no tie). Zero, infinite, NaN and denormal-range operands keep ``q``."""
    import jax.numpy as jnp
    up, down = jnp.nextafter(q, jnp.float32(np.inf)), jnp.nextafter(q, jnp.float32(-np.inf))
    bh, bl = _split(b)                                   # once for the three candidates
    r0, ru, rd = (jnp.abs(_residual(a, b, bh, bl, c)) for c in (q, up, down))
    best = jnp.where(ru < r0, up, jnp.where(rd < r0, down, q))
    tiny = np.float32(2.0 ** -100)
    safe = jnp.isfinite(q) & (jnp.abs(q) > tiny) & (jnp.abs(q) < np.float32(2.0 ** 100)) & \
        (jnp.abs(a) > tiny) & (jnp.abs(b) > tiny) & (jnp.abs(a) < np.float32(2.0 ** 100)) & \
        (jnp.abs(b) < np.float32(2.0 ** 100))
    return jnp.where(safe, best, q)


def concrete(x):
    """The NumPy value of an eager tensor (or array), None for a symbolic one (a graph or jit trace)."""
    if isinstance(x, np.ndarray):
        return x
    b = name()
    if b == "tensorflow":
        tf = tensorflow()
        return x.numpy() if tf.executing_eagerly() and hasattr(x, "numpy") else None
    if b == "jax":
        import jax

        return None if isinstance(x, jax.core.Tracer) else np.asarray(x)
    try:
        return keras.ops.convert_to_numpy(x)
    except Exception:  # noqa: BLE001 - a symbolic tensor of another backend
        return None


def straight_through(y, x, kernel, x_dq, k_dq, exact_fn):
    """``y`` (the approximate product, computed without a gradient) whose gradient with respect to ``x`` and
    ``kernel`` is that of ``exact_fn(x_dq, k_dq)``, the exact product of the dequantised operands (the quantisers
    count as identity). JAX: a ``custom_vjp`` (inference computes ``y`` only); other backends except TensorFlow
    (whose layers use ``tf.custom_gradient``): ``y + (e - stop_gradient(e))`` with ``e`` the exact product on
    straight-through operands, which adds exactly 0 (finite values) but computes ``e`` in the forward pass too."""
    if name() == "jax":
        import jax
        import jax.numpy as jnp

        @jax.custom_vjp
        def through(y_in, x_in, k_in, xd, kd):
            del x_in, k_in, xd, kd
            return y_in

        def fwd(y_in, x_in, k_in, xd, kd):
            del x_in, k_in
            return y_in, (xd, kd)

        def bwd(res, dy):
            xd, kd = res
            _, vjp = jax.vjp(exact_fn, xd, kd)
            gx, gk = vjp(dy)
            return jnp.zeros_like(dy), gx, gk, jnp.zeros_like(xd), jnp.zeros_like(kd)

        through.defvjp(fwd, bwd)
        return through(y, x, kernel, x_dq, k_dq)
    ops = keras.ops
    sg = ops.stop_gradient
    e = exact_fn(sg(x_dq) + (x - sg(x)), sg(k_dq) + (kernel - sg(kernel)))
    return sg(y) + (e - sg(e))
