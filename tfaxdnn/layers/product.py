"""The product of an approximate layer on each path (`tfaxdnn.layers.paths`): ``s_a * s_w * acc(a, w)`` with the
straight-through gradient of the exact product.

TensorFlow: the input and kernel codes come from the compiled ``TfaxQuantize`` op and the accumulators from the
LUT op or the low-rank GEMMs, inside one ``tf.custom_gradient`` (the LUT path is unchanged from before the
low-rank path existed). Other backends (JAX, PyTorch): the same arithmetic in ``keras.ops`` (`tfaxdnn.ops.codes`,
`tfaxdnn.ops.lowrank`), bit-identical, jit-friendly (the tables are constants of the trace; nothing in a call
leaves the backend), with `tfaxdnn.ops.backend.straight_through` for the gradient.

The low-rank form is taken from the layer's table when the call is traced (eagerly: at every call), as the layer
last loaded it (`set_table`, `set_weights`, loading a file; on JAX any assignment; on TensorFlow an eager call
notices any assignment too). A trace made before the table weight was assigned behind the layer
(``model.set_weights``, ``layer.ax_table.assign``) would be stale, so the product checks a fingerprint of the table
weight against the traced one: on TensorFlow an assertion error naming `set_table`, elsewhere NaN outputs (trace
again: ``model.make_predict_function(force=True)``, or a new ``jax.jit``).
"""

from __future__ import annotations

import functools
import types

import keras
import numpy as np

from tfaxdnn.layers import paths
from tfaxdnn.ops import backend, codes
from tfaxdnn.ops.lowrank_form import table_fingerprint, table_fingerprint_tensor

__all__ = ["product"]

_STALE = ("Layer '{}': its table weight differs from the table its low-rank product was traced with (was "
          "`ax_table` assigned directly? Use layer.set_table(table), then call or trace the model again).")


def product(layer, inputs, kernel):
    """``s_a * s_w * acc`` of ``layer`` on ``inputs`` and ``kernel`` (float32), on the path `paths.choose` picks
    (the table's decomposition is computed only where the low-rank path is considered)."""
    x_shape, k_shape = tuple(inputs.shape), tuple(kernel.shape)
    plan = {}

    def problem():
        form = plan["form"] = layer.lowrank_form()
        why = paths.rank_problem(form.rank, layer.multiplier_name)
        if why:
            return why
        try:
            plan["plan"] = layer._lowrank_plan(form, k_shape)
        except ValueError as e:
            return str(e)
        return None

    batch = paths.batch_bucket(x_shape[0] if x_shape else None)

    def key():
        f = plan["form"]
        return (type(layer).__name__, batch, x_shape[1:], k_shape, layer._geometry(), f.signed, f.rank, f.d > 1,
                f.tap_bound)

    def measure():
        return _measure(layer, plan["form"], plan["plan"], (batch,) + x_shape[1:], k_shape)

    path = paths.choose(layer, key, problem, measure)
    if backend.name() == "tensorflow":
        if path == "lowrank" and _stale_eagerly(layer, plan["form"]):  # assigned behind the layer: reload, redo
            layer._table_changed()
            return product(layer, inputs, kernel)
        return _product_tf(layer, inputs, kernel, path, plan.get("form"), plan.get("plan"))
    state = [keras.ops.convert_to_tensor(v) for v in (
        inputs, kernel, layer.ax_input_scale, layer.ax_input_zero_point, layer.ax_kernel_scale,
        layer.ax_kernel_zero_point, layer.ax_weight_map, layer.ax_table)]
    if backend.name() == "jax":  # one compiled function per configuration (eager calls: not one per operation)
        return _jitted(layer, plan["form"], plan["plan"])(*state)
    return _product_keras(layer, plan["form"], plan["plan"], *state)


#: what `_product_keras` reads of a layer, besides its tensors
_STATIC = ("strides", "padding", "dilation_rate", "data_format", "units", "signed", "n_outputs")
_JITTED = {}


def _jitted(layer, form, plan):
    """``jax.jit`` of `_product_keras` for the layer's configuration (class, geometry, table form, plan), shared by
    layers of one configuration (so new models of a search reuse the compiled products)."""
    import jax

    items = tuple((a, tuple(v) if isinstance(v, list) else v) for a in _STATIC if hasattr(layer, a)
                  for v in [getattr(layer, a)])
    key = (type(layer), items, id(form), plan)
    if key not in _JITTED:
        cls = type(layer)
        view = types.SimpleNamespace(**dict(items), name=layer.name)
        view._lowrank_acc = functools.partial(cls._lowrank_acc, view)
        view._exact_op = functools.partial(cls._exact_op, view)
        _JITTED[key] = jax.jit(lambda *args: _product_keras(view, form, plan, *args))
    return _JITTED[key]


def _stale_eagerly(layer, form) -> bool:
    """TensorFlow, run eagerly: whether the table weight is no longer ``form``'s (a graph checks it itself)."""
    tf = backend.tensorflow()
    if not tf.executing_eagerly():
        return False
    return int(table_fingerprint_tensor(tf.convert_to_tensor(layer.ax_table))) != int(table_fingerprint(form.table))


def _kernel_range(signed: bool):
    return (-127, 127) if signed else (0, 255)


def _measure(layer, form, plan, x_shape, k_shape):
    """Seconds of one LUT-op call and one low-rank call (each a ``tf.function``) on random codes of the layer's
    shapes (``x_shape[0]``: the batch bucket, `paths.batch_bucket`), run eagerly even while a graph is traced."""
    tf = backend.tensorflow()
    with tf.init_scope():
        rng = np.random.default_rng(0)
        lo, hi = (-128, 127) if form.signed else (0, 255)
        dtype = np.int8 if form.signed else np.uint8
        shape = tuple(1 if d is None else int(d) for d in x_shape)
        xq = tf.constant(rng.integers(lo, hi + 1, shape).astype(dtype))
        kq = tf.constant(rng.integers(lo, hi + 1, k_shape).astype(dtype))
        table = tf.constant(form.table)
        z_a, z_w = tf.constant(0, tf.int32), tf.zeros([layer.n_outputs], tf.int32)
        lut = tf.function(lambda: layer._lut_op(xq, kq, table, z_a, z_w), autograph=False)
        low = tf.function(lambda: layer._lowrank_acc(tf.cast(xq, tf.int32), tf.cast(kq, tf.int32), form, z_a, z_w,
                                                     plan), autograph=False)
        return paths.best_times(lut, low)


def _product_tf(layer, inputs, kernel, path, form, plan):
    tf = backend.tensorflow()
    from tfaxdnn.ops import nn  # the compiled op library: TensorFlow only

    x, kernel = tf.convert_to_tensor(inputs), tf.convert_to_tensor(kernel)
    s_a, z_a, s_w, z_w, table = (tf.convert_to_tensor(v) for v in (
        layer.ax_input_scale, layer.ax_input_zero_point, layer.ax_kernel_scale, layer.ax_kernel_zero_point,
        layer.ax_table))
    xq = nn.quantize(x, s_a, z_a, layer._code_dtype())
    kq = layer._kernel_codes(kernel, s_w, z_w)
    out_scale = s_a * s_w

    def dequantized():
        """The operands' real values (only the gradient needs them: inference never computes them)."""
        x_dq = s_a * (tf.cast(xq, tf.float32) - tf.cast(z_a, tf.float32))
        per_output = tf.reshape(tf.cast(kq, tf.float32), [-1, layer.n_outputs])  # the last axes index outputs
        k_dq = tf.reshape(s_w * (per_output - tf.cast(z_w, tf.float32)), kq.shape)
        return x_dq, k_dq

    def accumulate():
        if path == "lut":
            return layer._lut_op(xq, kq, table, z_a, z_w)
        check = tf.debugging.assert_equal(table_fingerprint_tensor(table), table_fingerprint(form.table),
                                          message=_STALE.format(layer.name))
        with tf.control_dependencies([check]):
            acc = layer._lowrank_acc(tf.cast(xq, tf.int32), tf.cast(kq, tf.int32), form, z_a, z_w, plan)
            return tf.cast(acc, tf.int32)

    @tf.custom_gradient
    def product_fn(x_in, k_in):
        del x_in, k_in
        acc = accumulate()
        # multiply_no_nan is one op that Grappler's arithmetic rewrite cannot reorder: with `*`, graphs traced
        # at a fixed batch size (predict at batch 1) rounded differently from other batch sizes (~1e-8)
        y = tf.math.multiply_no_nan(tf.cast(acc, tf.float32), out_scale)

        def grad(dy):
            x_dq, k_dq = dequantized()
            with tf.GradientTape() as tape:
                tape.watch([x_dq, k_dq])
                y_exact = layer._exact_op(x_dq, k_dq)
            return tape.gradient(y_exact, [x_dq, k_dq], output_gradients=dy)

        return y, grad

    return product_fn(x, kernel)


def _product_keras(layer, form, plan, inputs, kernel, s_a, z_a, s_w, z_w, wmap, table):
    """The low-rank product in ``keras.ops`` (every backend but TensorFlow), of tensors only (JAX jits it)."""
    ops = keras.ops
    inputs, kernel = ops.convert_to_tensor(inputs), ops.convert_to_tensor(kernel)
    xq = codes.quantize(inputs, s_a, z_a, layer.signed)
    kq = codes.quantize(kernel, s_w, z_w, layer.signed, *_kernel_range(layer.signed), code_map=wmap)
    acc = ops.cast(layer._lowrank_acc(xq, kq, form, z_a, z_w, plan), "int32")
    y = ops.multiply(ops.cast(acc, "float32"), ops.multiply(s_a, s_w))
    fresh = ops.equal(table_fingerprint_tensor(table), table_fingerprint(form.table))
    # a stale trace gives NaN (see the module docstring); the select also keeps the product apart from the bias add
    # that follows, which XLA would otherwise contract into a multiply-add (`backend.unfused`)
    y = ops.where(fresh, y, ops.full_like(y, np.nan))
    x_dq = ops.multiply(s_a, ops.cast(xq, "float32") - ops.cast(z_a, "float32"))
    per_output = ops.reshape(ops.cast(kq, "float32"), (-1, layer.n_outputs))
    k_dq = ops.reshape(ops.multiply(s_w, per_output - ops.cast(z_w, "float32")), ops.shape(kq))
    return backend.straight_through(y, inputs, kernel, x_dq, k_dq, layer._exact_op)
