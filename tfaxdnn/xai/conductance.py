"""Layer and neuron conductance of every selected layer from one GradientTape pass per chunk of path points.

Conductance (Dhamdhere et al., https://arxiv.org/abs/1805.12233) computed as Captum's ``LayerConductance`` does:
with alphas ``a_0 < ... < a_n`` of the approximation ``method`` for ``n_steps + 1`` points, path inputs
``x(a) = x' + a (x - x')`` and layer output ``y``,

    C_y = sum_{t<n} dF/dy(x(a_t)) * (y(x(a_{t+1})) - y(x(a_t))),

F the target logit. All layers come from the same forward/backward pass (the backward pass through the network
is shared; no per-layer loop), so all layers cost about as much as one.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Dict, Optional, Tuple, Union

import numpy as np
import tensorflow as tf

from tfaxdnn.core import kinds
from tfaxdnn.xai import _graph
from tfaxdnn.xai.integration import approximation_parameters

#: Path points per tape pass when ``internal_batch_size``/``batch_size`` is None.
DEFAULT_BATCH_SIZE = 256


def _progress(total: int, verbose: bool, desc: str):
    if not verbose:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, desc=desc, leave=False)


class LayerConductance:
    """Conductance of the outputs of several layers of a Keras 3 or tf_keras model, all layers in one pass.

    Args:
        model (keras.Model or tf_keras.Model): built Sequential/Functional model with one input and one output
            (logits: ``F`` is the target entry of the output).
        layers (list of str, optional): layer names (or layers). Default: every Conv2D, DepthwiseConv2D and Dense
            layer plus residual-block outputs (``detect_blocks``).

    >>> lc = LayerConductance(tfaxdnn.models.lenet5())
    >>> cond = lc.attribute(x, target=3)            # {"conv1": [N,28,28,6], ..., "fc2": [N,10]}
    """

    def __init__(self, model, layers=None):
        self.model = model
        self.framework = _graph.framework(model)
        self.layer_names: Tuple[str, ...] = tuple(_graph.select_layers(model, layers))
        self._tap = _graph.tap_model(model, self.layer_names)
        self.input_shape = tuple(self._tap.inputs[0].shape[1:])
        self.output_shape = tuple(self._tap.outputs[-1].shape[1:])
        self._step = tf.function(self._step_eager, reduce_retracing=True)
        _warn_softmax_output(model)

    # -- one tape pass ------------------------------------------------------------------------------------------
    def outputs_and_gradients(self, x, target):
        """Per selected layer, its outputs for ``x`` and the gradients of the ``target`` outputs' sum with respect to
        them: one forward and one backward pass (inference mode), the least any attribution through these layers
        costs. ``x`` a float32 tensor ``[B, *input_shape]``, ``target`` int32 ``[B]``; returns two lists of tensors."""
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            outs = self._tap(x, training=False)
            ys = list(outs[:-1])
            total = tf.reduce_sum(self._select(outs[-1], target))
        grads = tape.gradient(total, ys)
        missing = [name for name, g in zip(self.layer_names, grads) if g is None]
        if missing:
            raise ValueError(f"The target output of model '{self.model.name}' has no gradient (None) with respect to "
                             f"the output of layer(s) {missing}: no differentiable path leads from the input through "
                             "them to the model output (stop_gradient, an integer cast, argmax, a constant branch, "
                             "or a layer off the output's graph), so their conductance is undefined. Leave them out "
                             "of `layers=`.")
        return ys, grads

    @staticmethod
    def chunking(n: int, points: int, batch_size: int) -> Tuple[int, int, int]:
        """``(m, k, chunks)``: samples and path points per tape pass, and the passes that ``attribute`` makes for
        ``n`` samples of ``points`` path points with ``internal_batch_size=batch_size``."""
        m = min(n, batch_size)
        k = max(1, min(points, batch_size // m))
        return m, k, -(-n // m) * -(-points // k)

    def _step_eager(self, x, target, samples):
        """One tape pass over ``k x m`` path points (step-major); per layer: the within-chunk partial sum
        ``sum_j g_j (y_{j+1} - y_j)`` and the first y, last y and last g (for the term across chunk borders)."""
        ys, grads = self.outputs_and_gradients(x, target)
        result = []
        for y, g in zip(ys, grads):
            shape = tf.concat([[-1, samples], tf.shape(y)[1:]], 0)
            y, g = tf.reshape(y, shape), tf.reshape(g, shape)
            result.append((tf.reduce_sum(g[:-1] * (y[1:] - y[:-1]), axis=0), y[0], y[-1], g[-1]))
        return result

    @staticmethod
    def _select(logits, target):
        logits = tf.reshape(logits, [tf.shape(logits)[0], -1])
        return tf.gather(logits, target, axis=1, batch_dims=1)

    def forward(self, x) -> np.ndarray:
        """Model outputs for ``x`` (inference mode) as float32 ``[N, ...]``."""
        return np.asarray(self.model(tf.convert_to_tensor(x), training=False))

    # -- validation -----------------------------------------------------------------------------------------------
    def _format(self, inputs, baselines, target):
        x = np.asarray(inputs, dtype=np.float32)
        if x.shape[1:] != self.input_shape and x.shape == self.input_shape:
            x = x[None]
        if x.ndim != len(self.input_shape) + 1 or any(
                d is not None and d != s for d, s in zip(self.input_shape, x.shape[1:])):
            raise ValueError(f"`inputs` must have shape [N, {', '.join(str(d) for d in self.input_shape)}] for model "
                             f"'{self.model.name}'. Received: inputs.shape={x.shape}")
        n = x.shape[0]
        if n == 0:
            raise ValueError("`inputs` is empty (N = 0).")
        if baselines is None:
            b = np.zeros_like(x)
        else:
            b = np.asarray(baselines, dtype=np.float32)
            try:
                b = np.broadcast_to(b, x.shape).copy()
            except ValueError:
                raise ValueError(f"`baselines` must broadcast to inputs shape {x.shape}. "
                                 f"Received: baselines.shape={b.shape}") from None
        classes = int(np.prod([d for d in self.output_shape if d is not None])) if self.output_shape else 1
        if target is None:
            if classes != 1:
                raise ValueError(f"`target` is required: model '{self.model.name}' has {classes} outputs. "
                                 "Pass a class index or one index per sample.")
            t = np.zeros(n, np.int32)
        else:
            t = np.asarray(target)
            if t.ndim == 0:
                t = np.full(n, t)
            if t.ndim != 1 or t.shape[0] != n or not np.issubdtype(t.dtype, np.integer):
                raise ValueError(f"`target` must be an int or {n} ints (one per sample). Received: target={target!r}")
            bad = t[(t < 0) | (t >= classes)]
            if bad.size:
                raise ValueError(f"`target` must lie in [0, {classes}). Received: target containing {int(bad[0])}")
            t = t.astype(np.int32)
        return x, b, t

    # -- public ---------------------------------------------------------------------------------------------------
    def attribute(self, inputs, baselines=None, target=None, n_steps: int = 50, method: str = "gausslegendre",
                  internal_batch_size: Optional[int] = None, return_convergence_delta: bool = False,
                  verbose: bool = False) -> Union[Dict[str, np.ndarray], Tuple[Dict[str, np.ndarray], Dict]]:
        """Conductance ``{layer_name: [N, *layer_output_shape]}`` of every selected layer.

        Args:
            inputs (array [N, *input_shape]): samples (one sample without the batch axis is accepted).
            baselines (array, optional): broadcastable to ``inputs``; default zeros (black image).
            target (int or sequence of int): class whose output is ``F``, for all samples or one per sample.
            n_steps (int): path steps; ``n_steps + 1`` points are evaluated (Captum). Default 50.
            method (str): one of ``SUPPORTED_METHODS`` (``gausslegendre`` default, ``riemann_trapezoid``, ...).
            internal_batch_size (int, optional): path points per tape pass (samples x steps are chunked to bound
                memory). Default ``DEFAULT_BATCH_SIZE``.
            return_convergence_delta (bool): also return ``{layer: sum(conductance) - (F(x) - F(x'))}`` per sample.
            verbose (bool): tqdm progress bar over the chunks.
        """
        if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
            raise ValueError(f"`n_steps` must be a positive integer. Received: n_steps={n_steps!r}")
        _, alphas_fn = approximation_parameters(method)
        x, b, t = self._format(inputs, baselines, target)
        bs = DEFAULT_BATCH_SIZE if internal_batch_size is None else internal_batch_size
        if isinstance(bs, bool) or not isinstance(bs, (int, np.integer)) or bs < 1:
            raise ValueError(f"`internal_batch_size` must be a positive integer. Received: {internal_batch_size!r}")
        alphas = np.asarray(alphas_fn(n_steps + 1), dtype=np.float32)
        attrs = self._attribute(x, b, t, alphas, int(bs), verbose)
        if not return_convergence_delta:
            return attrs
        return attrs, self.convergence_delta(attrs, x, b, t)

    def convergence_delta(self, attrs: Dict[str, np.ndarray], inputs, baselines, target) -> Dict[str, np.ndarray]:
        """Per layer and sample ``sum(conductance) - (F(x) - F(x'))`` (zero for a layer that cuts all paths)."""
        x, b, t = self._format(inputs, baselines, target)
        fx = self._select(tf.constant(self.forward(x)), t).numpy()
        fb = self._select(tf.constant(self.forward(b)), t).numpy()
        return {k: v.reshape(len(v), -1).sum(axis=1, dtype=np.float64) - (fx - fb) for k, v in attrs.items()}

    def _attribute(self, x, b, t, alphas, batch_size, verbose):
        n, points = x.shape[0], len(alphas)
        m, k, chunks = self.chunking(n, points, batch_size)  # samples and path points per chunk
        bar = _progress(chunks, verbose, "conductance")
        out = {name: [] for name in self.layer_names}
        for s0 in range(0, n, m):
            xs, bsl, ts = x[s0:s0 + m], b[s0:s0 + m], t[s0:s0 + m]
            mm = len(xs)
            acc, carry = None, None
            for t0 in range(0, points, k):
                a = alphas[t0:t0 + k]
                kk = len(a)
                pts = bsl[None] + a.reshape((kk,) + (1,) * xs.ndim) * (xs - bsl)[None]
                res = self._step(tf.constant(pts.reshape((kk * mm,) + xs.shape[1:])),
                                 tf.constant(np.tile(ts, kk)), tf.constant(mm, tf.int32))
                parts = []
                for i, (part, y_first, _, _) in enumerate(res):
                    if carry is not None:
                        part = part + carry[i][1] * (y_first - carry[i][0])
                    parts.append(part)
                carry = [(r[2], r[3]) for r in res]
                acc = parts if acc is None else [u + v for u, v in zip(acc, parts)]
                if bar is not None:
                    bar.update(1)
            for name, v in zip(self.layer_names, acc):
                out[name].append(v.numpy())
        if bar is not None:
            bar.close()
        return {name: np.concatenate(v, axis=0) for name, v in out.items()}


def _warn_softmax_output(model) -> None:
    last = model.layers[-1] if getattr(model, "layers", None) else None
    act = getattr(kinds.unwrap(last), "activation", None) if last is not None else None
    is_softmax = getattr(act, "__name__", "") == "softmax" or type(last).__name__ == "Softmax"
    if is_softmax:
        warnings.warn(f"Model '{model.name}' ends in a softmax: conductance of probabilities saturates (confident "
                      "predictions have near-zero gradients), which flattens the layer ranking. Attribute to the "
                      "logits: a copy of the model without the final softmax.", stacklevel=3)


def neuron_sum(layer, cond: np.ndarray) -> np.ndarray:
    """Per-neuron conductance ``[N, units]``: conv channels summed over spatial positions, Dense units as is."""
    cond = np.asarray(cond)
    if cond.ndim <= 2:
        return cond
    fmt = getattr(kinds.unwrap(layer), "data_format", "channels_last") if layer is not None else "channels_last"
    if fmt == "channels_first":
        return cond.reshape(cond.shape[0], cond.shape[1], -1).sum(axis=2)
    return cond.reshape(cond.shape[0], -1, cond.shape[-1]).sum(axis=1)


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def get_layer_conductance(model, layers=None) -> LayerConductance:
    """A ``LayerConductance`` for ``(model, layers)``, cached per model (tap model and tf.function reused)."""
    key = tuple(_graph.select_layers(model, layers))
    try:
        per_model = _CACHE.setdefault(model, {})
    except TypeError:  # not weak-referenceable
        return LayerConductance(model, list(key))
    if key not in per_model:
        per_model[key] = LayerConductance(model, list(key))
    return per_model[key]


def layer_conductance(model, inputs, target, layers=None, baseline=None, n_steps: int = 50,
                      method: str = "gausslegendre", batch_size: Optional[int] = None,
                      verbose: bool = True) -> Dict[str, np.ndarray]:
    """Conductance of each element of each selected layer's output: ``{layer_name: [N, *layer_output_shape]}``.

    ``layers`` default: all Conv2D, DepthwiseConv2D, Dense and residual-block outputs; ``baseline`` default zeros;
    ``batch_size``: path points per tape pass (default ``DEFAULT_BATCH_SIZE``). See ``LayerConductance.attribute``.
    """
    lc = get_layer_conductance(model, layers)
    return lc.attribute(inputs, baseline, target, n_steps=n_steps, method=method, internal_batch_size=batch_size,
                        verbose=verbose)


def neuron_conductance(model, inputs, target, layers=None, baseline=None, n_steps: int = 50,
                       method: str = "gausslegendre", batch_size: Optional[int] = None,
                       verbose: bool = True) -> Dict[str, np.ndarray]:
    """Total conductance of each neuron, ``{layer_name: [N, units]}`` (Dense unit; conv channel = sum over space).

    This is ``C_y = sum_i Cond_i^y`` of SPEC section 7 (the neuron's layer conductance), not Captum's
    ``NeuronConductance`` (which attributes one neuron to the input features).
    """
    lc = get_layer_conductance(model, layers)
    cond = lc.attribute(inputs, baseline, target, n_steps=n_steps, method=method, internal_batch_size=batch_size,
                        verbose=verbose)
    return {name: neuron_sum(model.get_layer(name), v) for name, v in cond.items()}
