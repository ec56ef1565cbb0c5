"""Raw attribution maps from tf-explain's explainers on Keras 3 models, with the tf-explain 0.3.1 breakages worked
around here (tf-explain itself is never patched).

tf-explain's ``explain()`` methods return uint8 visualisations (normalised, absolute values, tiled into a grid), so
each function below calls the public building blocks that ``explain()`` is made of and keeps the raw values:

* integrated gradients: ``IntegratedGradients.generate_interpolations`` + ``get_integrated_gradients`` give the mean
  gradient over ``n_steps`` points ``a = 0, 1/(n-1), ..., 1`` on the path from a zero baseline. That mean is *not*
  integrated gradients yet (tf-explain visualises it as is); we multiply by ``x - 0`` (Sundararajan et al., Eq. 3).
* Grad-CAM: ``GradCAM.get_gradients_and_filters`` + ``generate_ponderated_output`` (the layer is always named: its
  layer inference reads ``layer.output_shape``, which Keras 3 layers do not have).
* SmoothGrad: our seeded noise (tf-explain draws from the global ``np.random``) and
  ``SmoothGrad.get_averaged_gradients``, which differentiates ``categorical_crossentropy(one_hot, model(x))`` without
  ``from_logits``: a logits model gets a softmax head first, else the loss is meaningless.
* occlusion: ``OcclusionSensitivity.get_sensitivity_map`` on a proxy that maps tf-explain's [0, 255] grey patch
  (hard-coded 127.5) to the wanted patch value (default: the middle of the data range), adds the softmax head
  (its map is ``1 - p_target``, which we shift to the drop of ``p_target``) and answers ``predict`` by a direct
  model call (Keras 3's ``predict`` prints a progress bar and retraces for every new batch shape).

Every model is first turned into a Functional model (``as_functional``): a Sequential model built without an Input
has no ``output`` ("has never been called"), which Grad-CAM and SmoothGrad read, and Grad-CAM's
``get_layer(name).output`` must belong to the model's own graph, so a Sequential model's layers are copied.
IG and SmoothGrad are called one image at a time with a tensor class index, so their ``tf.function`` is traced once
per model instead of once per class.
"""

from __future__ import annotations

import warnings
from typing import Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf


def _tf_explain():
    try:
        from tf_explain import core
    except ImportError as exc:  # pragma: no cover - tf-explain is in requirements-nodeps.txt
        raise ImportError("tfaxdnn.xai.explanations.compare needs tf-explain: pip install --no-deps tf-explain==0.3.1 "
                          "opencv-python-headless") from exc
    return core


def _cv2():
    import cv2

    return cv2


def input_shape_of(model) -> Tuple:
    """Input shape without the batch axis (``ValueError`` for an unbuilt model or one with several inputs)."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a Keras 3 model. Received: {type(model).__name__}")
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if inputs:
        if len(inputs) != 1:
            raise ValueError(f"Model '{model.name}' must have one input; got {len(inputs)}.")
        return tuple(inputs[0].shape[1:])
    shape = getattr(model, "_build_shapes_dict", None) or {}
    shape = next(iter(shape.values()), None) if isinstance(shape, dict) else None
    if shape is None:
        raise ValueError(f"Model '{model.name}' is not built; call it on data or build it with keras.Input first.")
    return tuple(shape[1:])


def as_functional(model, softmax: bool = False) -> keras.Model:
    """``model`` itself if it is Functional with a defined output, else an equivalent Functional model (a
    Sequential model's layers copied with their weights); ``softmax=True`` adds a softmax layer on top (for
    explainers that expect probabilities)."""
    if not softmax and not isinstance(model, keras.Sequential):
        try:
            model.output  # noqa: B018 - raises for a model that was never called
            return model
        except (AttributeError, ValueError):
            pass
    inp = keras.Input(input_shape_of(model), name="explain_input")
    if isinstance(model, keras.Sequential):
        # Copies of its layers at the top level (Grad-CAM taps ``get_layer(name).output``; a reused layer's
        # ``output`` would still be its first call's, in the Sequential's own graph).
        out = inp
        for layer in model.layers:
            copy = layer.__class__.from_config(layer.get_config())
            out = copy(out)
            copy.set_weights(layer.get_weights())
    else:
        out = model(inp)
    if softmax:
        out = keras.layers.Softmax(name="explain_softmax")(out)
    return keras.Model(inp, out, name=f"{model.name}_explain")


def outputs_probabilities(model, images: np.ndarray) -> bool:
    """True if ``model`` outputs probabilities on ``images`` (non-negative rows summing to 1), False for logits."""
    p = np.asarray(model(tf.constant(images[: min(len(images), 8)]), training=False), dtype=np.float64)
    return bool(np.all(p >= 0) and np.allclose(p.sum(axis=-1), 1.0, atol=1e-3))


def _by_target(targets: np.ndarray):
    """``(class, indices)`` groups: tf-explain's explainers take one class index per call."""
    for k in np.unique(targets):
        yield int(k), np.flatnonzero(targets == k)


def _channels_sum(a: np.ndarray) -> np.ndarray:
    """[N, H, W, C] -> [N, H, W] (signed per-pixel sum over channels)."""
    return a.sum(axis=-1) if a.ndim == 4 else a


def integrated_gradients(model, images: np.ndarray, targets: np.ndarray, n_steps: int = 20) -> np.ndarray:
    """Integrated gradients ``[N, *input_shape]`` via tf-explain (zero baseline, ``n_steps`` equally spaced points
    including both ends, mean gradient times ``x``)."""
    ig = _tf_explain().IntegratedGradients
    model = as_functional(model)
    out = np.zeros(images.shape, np.float32)
    for i, k in enumerate(targets):  # one image per call: one trace of tf-explain's tf.function per model
        path = tf.constant(ig.generate_interpolations(images[i:i + 1], n_steps), tf.float32)
        out[i] = np.asarray(ig.get_integrated_gradients(path, model, tf.constant(int(k)), n_steps))[0] * images[i]
    return out


def infer_grad_cam_layer(model) -> str:
    """Name of the last layer with a 4-D output whose spatial size is above 1x1 (tf-explain's rule, which picks
    the last 4-D layer, would take LeNet-5's 1x1 conv3)."""
    fallback = None
    for layer in reversed(as_functional(model).layers):
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4 and not isinstance(layer, keras.layers.InputLayer):
            if (shape[1] or 1) * (shape[2] or 1) > 1:
                return layer.name
            fallback = fallback or layer.name
    if fallback is None:
        raise ValueError(f"Model '{model.name}' has no layer with a 4-D output; Grad-CAM needs a conv layer "
                         "(pass `layer=`).")
    return fallback


def check_layer(model, layer: str) -> None:
    """``ValueError`` naming the closest layers if ``layer`` is not a layer of ``model``."""
    import difflib

    names = [l.name for l in as_functional(model).layers]
    if layer not in names:
        close = difflib.get_close_matches(str(layer), names, n=len(names), cutoff=0.0)
        raise ValueError(f"Grad-CAM layer {layer!r} is not a layer of model '{model.name}'; valid names (closest "
                         f"first): {close}")


def grad_cam(model, images: np.ndarray, targets: np.ndarray, layer: str, guided: bool = True) -> np.ndarray:
    """Grad-CAM maps ``[N, H, W]`` (tf-explain's weighted sum of ``layer``'s channels, no ReLU; ``guided``: its
    default guided gradients), bilinearly resized to the input size as tf-explain's ``heatmap_display`` does."""
    gc = _tf_explain().GradCAM
    cv2 = _cv2()
    model = as_functional(model)
    check_layer(model, layer)
    h, w = images.shape[1:3]
    out = np.zeros(images.shape[:3], np.float32)
    for k, idx in _by_target(targets):
        with warnings.catch_warnings():  # tf-explain passes [model.inputs] (nested list): a Keras 3 warning
            warnings.simplefilter("ignore", UserWarning)
            conv, grads = gc.get_gradients_and_filters(model, images[idx], layer, k, guided)
        for i, cam in zip(idx, gc.generate_ponderated_output(conv, grads)):
            out[i] = cv2.resize(np.asarray(cam, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def smoothgrad(model, images: np.ndarray, targets: np.ndarray, num_samples: int = 20, noise: float = 0.15,
               seed: int = 0, probabilities: Optional[bool] = None) -> np.ndarray:
    """SmoothGrad ``[N, *input_shape]``: mean over ``num_samples`` noisy copies (Gaussian, std ``noise`` times the
    images' value range, seeded) of the gradient of ``log p_target`` (minus tf-explain's cross-entropy gradient)."""
    sg = _tf_explain().SmoothGrad
    if probabilities is None:
        probabilities = outputs_probabilities(model, images)
    model = as_functional(model, softmax=not probabilities)
    std = noise * float(images.max() - images.min() or 1.0)
    rng = np.random.default_rng(seed)
    noisy = np.repeat(images, num_samples, axis=0)
    noisy = noisy + rng.normal(0.0, std, noisy.shape).astype(np.float32)
    out = np.zeros(images.shape, np.float32)
    for i, k in enumerate(targets):  # tensor class index, one image per call: one trace per model
        rows = tf.constant(noisy[i * num_samples:(i + 1) * num_samples])
        out[i] = -np.asarray(sg.get_averaged_gradients(rows, model, tf.constant(int(k)), num_samples))[0]
    return out


class _OcclusionProxy:
    """What ``OcclusionSensitivity.get_sensitivity_map`` calls: ``predict`` on [0, 255] images -> probabilities."""

    def __init__(self, model, lo: float, hi: float):
        self.model, self.lo, self.scale = model, lo, (hi - lo) / 255.0

    def predict(self, x, batch_size=None):
        x = self.lo + np.asarray(x, np.float32) * self.scale
        step = batch_size or 256  # a direct call: Keras 3's predict() prints a progress bar and retraces per shape
        return np.concatenate([np.asarray(self.model(tf.constant(x[i:i + step]), training=False))
                               for i in range(0, len(x), step)])


def occlusion(model, images: np.ndarray, targets: np.ndarray, patch_size: Optional[int] = None,
              patch_value: Optional[float] = None, probabilities: Optional[bool] = None) -> np.ndarray:
    """Occlusion sensitivity ``[N, H, W]``: the drop ``p_target(x) - p_target(x occluded)`` when a ``patch_size``
    square is set to ``patch_value`` (default: the middle of the images' value range, tf-explain's grey), per
    patch, bilinearly resized to the image (tf-explain's ``1 - p_target(x occluded)`` minus ``1 - p_target(x)``).

    tf-explain paints 127.5 into [0, 255] images; the images are mapped affinely so that 127.5 lands on
    ``patch_value`` and the proxy maps them back before calling the model.
    """
    h, w = images.shape[1:3]
    if h != w:
        raise ValueError(f"occlusion: tf-explain 0.3.1 swaps height and width of non-square images; got images of "
                         f"{h}x{w}")
    patch = max(1, h // 7) if patch_size is None else int(patch_size)
    if patch < 1 or patch > h:
        raise ValueError(f"`patch_size` must lie in [1, {h}]. Received: patch_size={patch_size!r}")
    lo, hi = float(images.min()), float(images.max())
    centre = (lo + hi) / 2 if patch_value is None else float(patch_value)
    half = max(hi - centre, centre - lo, 1e-6)
    lo = centre - half
    if probabilities is None:
        probabilities = outputs_probabilities(model, images)
    proxy = _OcclusionProxy(as_functional(model, softmax=not probabilities), lo, centre + half)
    occ = _tf_explain().OcclusionSensitivity(batch_size=None)
    scaled = (images - lo) / (2 * half) * 255.0
    p = proxy.predict(scaled)[np.arange(len(images)), targets]
    return np.stack([occ.get_sensitivity_map(proxy, img, int(t), patch) - (1.0 - pt)
                     for img, t, pt in zip(scaled, targets, p)]).astype(np.float32)


def conductance_integrated_gradients(model, images, target, baseline=None, n_steps: int = 50,
                                     method: str = "gausslegendre") -> np.ndarray:
    """Integrated gradients ``[N, *input_shape]`` from tfaxdnn's conductance machinery: the conductance of an
    identity layer in front of ``model`` (its output is the input, so ``C = sum_t dF/dx(x_t) (x_{t+1} - x_t)``)."""
    from tfaxdnn.xai.conductance import LayerConductance

    inp = keras.Input(input_shape_of(model), name="ig_input")
    wrapped = keras.Model(inp, model(keras.layers.Identity(name="ig_identity")(inp)), name=f"{model.name}_ig")
    return LayerConductance(wrapped, ["ig_identity"]).attribute(images, baseline, target, n_steps=n_steps,
                                                                 method=method)["ig_identity"]


METHODS: Sequence[str] = ("integrated_gradients", "grad_cam", "smoothgrad", "occlusion")
