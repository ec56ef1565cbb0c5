"""`ApproxMixin`: what the three approximate layers share (constructor, state, config, product, skip mask).

Forward (SPEC section 2): input codes ``a = clip(round(x / s_a) + z_a)``, weight codes
``w = map[clip(round(k / s_w) + z_w)]`` (``map`` = identity or the ALWANN weight-mapping table),
``y = s_a * s_w[o] * acc(a, w) + bias[o]``, then the activation, then the skip mask (skipped outputs are exactly 0).
Backward: the gradient of the Keras layer's exact product of the dequantised operands, passed straight through to
the real-valued inputs and kernel (the quantisers count as identity), so ``model.fit`` can fine-tune an approximate
model.

Only the product is replaced: the Keras base layer keeps its own call (bias, activation), and the mixin multiplies
its result by the skip mask. The accumulators come from the LUT op or the low-rank GEMMs (`tfaxdnn.layers.paths`
chooses; `tfaxdnn.layers.product` computes), bit-identical either way, so the layers run on any Keras backend
(TensorFlow is imported only on the TensorFlow backend). Quantisation state lives in non-trainable weights
(``ax_*``), so ``.keras`` files carry the table, scales, zero points, weight map and mask; the config carries only
the multiplier's name and hash.
"""

from __future__ import annotations

import warnings
from typing import Optional

import keras
import numpy as np
from keras import ops

from tfaxdnn import multipliers as _mult
from tfaxdnn.core import skipping
from tfaxdnn.core.errors import UnknownNameError
from tfaxdnn.layers import paths
from tfaxdnn.layers.product import product
from tfaxdnn.ops import backend, codes
from tfaxdnn.ops.lowrank_form import LowRankForm, form_of
from tfaxdnn.plan import WEIGHT_MAPPINGS


def _known_multiplier(multiplier, signed) -> Optional[_mult.Multiplier]:
    """The registered multiplier, the exact one of ``signed`` for None, or None for a name not registered here (a
    user table: its values then come from the saved weights)."""
    if isinstance(multiplier, _mult.Multiplier):
        return _mult.lookup(multiplier)
    if multiplier is None:
        return _mult.exact(True if signed is None else bool(signed))
    try:
        return _mult.get(str(multiplier))
    except UnknownNameError:
        return None


class ApproxMixin:
    """Mixed in before a Keras ``Conv2D``, ``DepthwiseConv2D`` or ``Dense``: the products go through an 8x8
    multiplier's lookup table (see the module docstring). Quantisation parameters are set with `set_quantization`
    (``tfaxdnn.approximate`` does it).

    Args (besides the Keras layer's own; recorded by `get_config`):
        multiplier: str or `Multiplier`, the multiplier (default: the exact one, signed unless ``signed=False``).
        skip_fraction: float, recorded fraction of skipped outputs (the mask itself is a weight).
        weight_mapping: str, recorded weight-mapping mode (``"none"``, ``"uniform"``, ``"data"``).
        mode_fractions: a reconfigurable multiplier's mode fractions (the table is then its composite for this
            layer's weights).
        multiplier_hash, signed: recorded by `get_config`; normally left unset.
        compute_path: ``"auto"``, ``"lut"`` or ``"lowrank"``, or None (default: `tfaxdnn.layers.paths`' setting);
            also settable as ``layer.compute_path``. An execution choice with identical results: not in the config.

    A subclass provides ``n_outputs`` (output channels/units), ``_lut_op(xq, kq, table, z_a, z_w)`` (the
    `tfaxdnn.ops.nn` op on codes, int32 accumulators; TensorFlow), ``_lowrank_plan(form, kernel_shape)`` and
    ``_lowrank_acc(xq, kq, form, z_a, z_w, plan)`` (the `tfaxdnn.ops.lowrank` engine on int32 codes),
    ``_geometry()`` (strides, padding, ...) and ``_exact_op(x, k)`` (the Keras layer's own float product, whose
    gradient is passed straight through).
    """

    def __init__(self, *args, multiplier=None, multiplier_hash=None, signed=None, skip_fraction=0.0,
                 weight_mapping="none", mode_fractions=None, compute_path=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.compute_path = paths.check_path(compute_path, "compute_path")
        self._table_np = None
        self._form_cache = None
        if getattr(self, "data_format", "channels_last") != "channels_last":
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): approximate layers need "
                             f"data_format='channels_last'. Received: data_format={self.data_format!r}")
        if getattr(self, "groups", 1) != 1:
            raise ValueError(f"Layer '{self.name}' (Conv2D): grouped convolutions cannot be approximated. "
                             f"Received: groups={self.groups}")
        m = self._initial_multiplier = _known_multiplier(multiplier, signed)
        self.multiplier_name = m.name if m is not None else str(multiplier)
        self.multiplier_hash = multiplier_hash or (m.hash if m is not None else None)
        self.signed = bool(m.signed if m is not None and signed is None else (True if signed is None else signed))
        if m is not None and m.signed != self.signed:
            raise ValueError(f"Layer '{self.name}': `signed`={signed} contradicts multiplier '{m.name}'.")
        self.skip_fraction = skipping.check_fraction(skip_fraction, f"Layer '{self.name}'")
        if weight_mapping not in WEIGHT_MAPPINGS:
            raise ValueError(f"`weight_mapping` must be one of {list(WEIGHT_MAPPINGS)}. Received: "
                             f"weight_mapping={weight_mapping!r}")
        self.weight_mapping = weight_mapping
        self.mode_fractions = None if mode_fractions is None else tuple(float(f) for f in mode_fractions)

    def get_config(self):
        return {**super().get_config(), "multiplier": self.multiplier_name, "multiplier_hash": self.multiplier_hash,
                "signed": self.signed, "skip_fraction": self.skip_fraction, "weight_mapping": self.weight_mapping,
                "mode_fractions": None if self.mode_fractions is None else list(self.mode_fractions)}

    # -- state ------------------------------------------------------------------------------------------------
    def build(self, input_shape):
        """The Keras layer's weights, then the approximate state (saved after them, by position)."""
        super().build(input_shape)
        n = self.n_outputs
        nt = dict(trainable=False, autocast=False)
        self.ax_table = self.add_weight(name="ax_table", shape=(256, 256), dtype="int32", initializer="zeros", **nt)
        self.ax_input_scale = self.add_weight(name="ax_input_scale", shape=(), initializer="ones", **nt)
        self.ax_input_zero_point = self.add_weight(name="ax_input_zero_point", shape=(), dtype="int32",
                                                   initializer="zeros", **nt)
        self.ax_kernel_scale = self.add_weight(name="ax_kernel_scale", shape=(n,), initializer="ones", **nt)
        self.ax_kernel_zero_point = self.add_weight(name="ax_kernel_zero_point", shape=(n,), dtype="int32",
                                                    initializer="zeros", **nt)
        self.ax_weight_map = self.add_weight(name="ax_weight_map", shape=(256,), dtype="int32", initializer="zeros",
                                             **nt)
        self.ax_output_mask = self.add_weight(name="ax_output_mask", shape=(n,), initializer="ones", **nt)
        if self._initial_multiplier is not None:
            self.ax_table.assign(self._initial_multiplier.table)
        self._table_changed()
        self.ax_weight_map.assign(self._code_range())

    def set_table(self, table) -> None:
        """Loads a ``[256, 256]`` table into the layer (what its products go through from the next call or trace on;
        ``multiplier_hash`` is left to the caller)."""
        table = np.asarray(table)
        if table.shape != (256, 256):
            raise ValueError(f"Layer '{self.name}': the table must have shape (256, 256). Received: {table.shape}")
        self.ax_table.assign(table.astype(np.int32))
        self._table_changed()

    def set_weights(self, weights):
        super().set_weights(weights)
        self._table_changed()

    def _table_changed(self, value=None) -> None:
        """Records the table weight's value (the low-rank form is derived from it at trace time)."""
        stored = getattr(self.ax_table, "_value", None)  # JAX: a new array at every assignment
        self._table_ref = stored
        self._table_np = np.asarray(self.ax_table.numpy() if value is None else value, np.int32)
        self._table_np.setflags(write=False)
        self._form_cache = None

    def lowrank_table(self) -> np.ndarray:
        """The table (``int32 [256, 256]``) as the layer last loaded it (`set_table`, `set_weights`, loading;
        on JAX also any other assignment)."""
        if self._table_np is None:
            raise ValueError(f"Layer '{self.name}' is not built yet.")
        stored = getattr(self.ax_table, "_value", None)  # (None while Keras's JAX trainer holds the state)
        if backend.name() == "jax" and stored is not None and stored is not self._table_ref:
            self._table_changed(np.asarray(stored))  # assigned behind the layer (model.set_weights, assign)
        return self._table_np

    def lowrank_form(self) -> LowRankForm:
        """The low-rank form of the layer's table (`tfaxdnn.ops.lowrank_form`), cached until the table changes."""
        table = self.lowrank_table()
        if self._form_cache is None:
            self._form_cache = form_of(_mult.Multiplier(self.multiplier_name, self.signed, table))
        return self._form_cache

    def _code_range(self) -> np.ndarray:
        return np.arange(-128, 128, dtype=np.int32) if self.signed else np.arange(256, dtype=np.int32)

    def set_quantization(self, input_params, kernel_params, weight_map: Optional[np.ndarray] = None,
                         kept_outputs: Optional[np.ndarray] = None) -> None:
        """Loads quantisation state: `QuantParams` of the input (per tensor) and kernel (per output or per tensor),
        a weight-map table (``int[256]``, codes indexed like the table) and the kept-output mask."""
        n = self.n_outputs
        want = "int8" if self.signed else "uint8"
        for what, p in (("input", input_params), ("kernel", kernel_params)):
            if p.dtype != want:
                raise ValueError(f"Layer '{self.name}': {what} codes must be {want} for multiplier "
                                 f"'{self.multiplier_name}'. Received: dtype={p.dtype!r}")
        if input_params.per_channel:
            raise ValueError(f"Layer '{self.name}': input quantisation must be per tensor.")
        self.ax_input_scale.assign(np.float32(input_params.scale))
        self.ax_input_zero_point.assign(np.int32(input_params.zero_point))
        self.ax_kernel_scale.assign(np.broadcast_to(kernel_params.scale, (n,)).astype(np.float32))
        self.ax_kernel_zero_point.assign(np.broadcast_to(kernel_params.zero_point, (n,)).astype(np.int32))
        self.ax_weight_map.assign(self._code_range() if weight_map is None else np.asarray(weight_map, np.int32))
        mask = np.ones(n, np.float32) if kept_outputs is None else np.asarray(kept_outputs, bool).astype(np.float32)
        if mask.shape != (n,):
            raise ValueError(f"Layer '{self.name}': `kept_outputs` must have shape ({n},). Received: {mask.shape}")
        self.ax_output_mask.assign(mask)

    @property
    def kept_outputs(self) -> Optional[np.ndarray]:
        """1-D bool array over output channels/units (False = skipped), or None when nothing is skipped."""
        if not self.built:
            return None
        mask = np.asarray(self.ax_output_mask.numpy()) > 0.5
        return None if mask.all() else mask

    @property
    def multiplier(self) -> _mult.Multiplier:
        """The multiplier as stored in the layer (its table weight)."""
        return _mult.Multiplier(self.multiplier_name, self.signed, np.asarray(self.ax_table.numpy()))

    def weight_codes(self) -> np.ndarray:
        """The weight codes this layer multiplies with (kernel shape, int32, after its weight map)."""
        if backend.name() == "tensorflow":
            kernel = backend.tensorflow().convert_to_tensor(self.kernel)
            return np.asarray(self._kernel_codes(kernel).numpy(), dtype=np.int32)
        lo, hi = (-127, 127) if self.signed else (0, 255)
        q = codes.quantize(self.kernel, self.ax_kernel_scale, self.ax_kernel_zero_point, self.signed, lo, hi,
                           code_map=self.ax_weight_map)
        return np.asarray(ops.convert_to_numpy(q), dtype=np.int32)

    # -- forward ----------------------------------------------------------------------------------------------
    def call(self, inputs):
        """The Keras layer's own call (product hook, bias, activation), then the skip mask."""
        return self._skip(super().call(inputs))

    def _skip(self, outputs):
        """Skipped outputs (mask 0) become exactly 0, after bias and activation."""
        return ops.multiply(outputs, ops.convert_to_tensor(self.ax_output_mask))

    def _bias_activation(self, outputs):
        """Keras's own epilogue (bias, then activation), for the bases whose call has no product hook."""
        if self.bias is not None:
            outputs = ops.add(outputs, self.bias)
        return outputs if self.activation is None else self.activation(outputs)

    def _code_dtype(self):
        return "int8" if self.signed else "uint8"

    def _kernel_codes(self, kernel, scale=None, zero_point=None):
        """Weight codes (after the weight map), per output (``scale``/``zero_point``: the layer's, read), by the
        compiled ``TfaxQuantize`` op (TensorFlow)."""
        from tfaxdnn.ops import nn

        lo, hi = (-127, 127) if self.signed else (0, 255)
        scale = self.ax_kernel_scale if scale is None else scale
        zero_point = self.ax_kernel_zero_point if zero_point is None else zero_point
        return nn.quantize(kernel, scale, zero_point, self._code_dtype(), lo, hi, code_map=self.ax_weight_map)

    def _product(self, inputs, kernel):
        """``s_a * s_w * acc`` through the table, with the straight-through gradient of the exact product
        (`tfaxdnn.layers.product`)."""
        return product(self, inputs, kernel)

    # -- saving -----------------------------------------------------------------------------------------------
    def save_own_variables(self, store):  # every variable by position (the base Layer scheme)
        keras.layers.Layer.save_own_variables(self, store)

    def load_own_variables(self, store):
        keras.layers.Layer.load_own_variables(self, store)
        self._table_changed()
        stored = _mult.table_hash(self.ax_table.numpy())
        if self.multiplier_hash and stored != self.multiplier_hash:
            raise ValueError(f"Layer '{self.name}': the loaded table (hash {stored}) does not match multiplier "
                             f"'{self.multiplier_name}' (hash {self.multiplier_hash}) named by the file's config.")
        known = self._initial_multiplier
        if known is not None and known.hash != stored:
            if known.name in _mult.names():
                raise ValueError(f"Layer '{self.name}': the file names bundled multiplier '{known.name}' (hash "
                                 f"{known.hash}) but stores another table (hash {stored}); the file was edited or "
                                 "made with a different library.")
            warnings.warn(f"Layer '{self.name}': multiplier '{known.name}' registered in this process has table hash "
                          f"{known.hash}, the file stores hash {stored}; the file's table is used.", stacklevel=2)
