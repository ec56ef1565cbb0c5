"""Straight-through fine-tuning of an approximate Keras model (`finetune`).

The approximate layers' forward pass multiplies through the LUT; their backward pass is the exact product's
gradient (straight-through), so an approximate model trains like a float one. Quantisation scales, zero points and
the weight map stay as calibrated (weights are re-quantised on the fly); skipped outputs stay exactly zero.
"""

from __future__ import annotations

import numpy as np

__all__ = ["finetune"]


def finetune(model, x, y, epochs: int, seed: int = 0, batch_size: int = 64, learning_rate: float = 1e-3,
             verbose: int = 0):
    """Fine-tunes an approximate Keras model in place (Adam, cosine-decayed, sparse cross-entropy) through its
    layers' straight-through gradient; returns it.

    Skipped outputs stay exactly zero (the layers multiply by their mask in ``call``); BatchNormalization layers are
    frozen (inference statistics). Seeded and deterministic (TensorFlow op determinism, process-wide).

    Args:
        model: approximate Keras 3 model (e.g. `tfaxdnn.approximate` or `Evaluator.build`), logits or softmax out.
        x, y: training images and labels (integer or one-hot).
        epochs: passes over ``(x, y)``; the learning rate decays to 0 over all of them.
        seed: seeds Keras, the shuffle (a full permutation every epoch) and TensorFlow's ops.
        batch_size, learning_rate: Adam's batch size and initial learning rate.
        verbose: ``model.fit``'s verbosity.
    """
    import keras
    import tensorflow as tf

    from tfaxdnn.core.evaluation import as_labels

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        stack += list(getattr(layer, "layers", []))
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    last = model.layers[-1]
    softmax = getattr(getattr(last, "activation", None), "__name__", "") == "softmax" or \
        type(last).__name__ == "Softmax"
    y = as_labels(y)
    steps = max(int(np.ceil(len(x) / batch_size)) * int(epochs), 1)
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, steps)),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax))
    # a full seeded reshuffle every epoch (not a bounded shuffle buffer: data sorted by class, as CIFAR-10's training
    # images often are, would otherwise give class-pure batches, and a single epoch of them wrecks a good model)
    model.fit(np.asarray(x), y, batch_size=batch_size, epochs=int(epochs), verbose=verbose, shuffle=True)
    return model
