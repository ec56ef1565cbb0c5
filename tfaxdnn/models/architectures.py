"""Reference architectures used by the examples, benchmarks and tests (Keras 3)."""

from __future__ import annotations

import keras
from keras import layers


def lenet5(input_shape=(28, 28, 1), num_classes: int = 10, name: str = "lenet5") -> keras.Model:
    """LeNet-5 as in the XAI-Gen paper: three conv layers and two dense layers (conv1..conv3, fc1, fc2)."""
    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(16, 5, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Conv2D(120, 5, activation="relu", name="conv3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(84, activation="relu", name="fc1")(x)
    outputs = layers.Dense(num_classes, name="fc2")(x)
    return keras.Model(inputs, outputs, name=name)


def _residual_block(x, filters: int, stride: int, name: str):
    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_shortcut")(shortcut)
        shortcut = layers.BatchNormalization(name=f"{name}_shortcut_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def resnet(stages=(16, 32, 64), blocks_per_stage: int = 1, input_shape=(32, 32, 3), num_classes: int = 10,
           name: str = "resnet8") -> keras.Model:
    """CIFAR ResNet (MLPerf-Tiny style). Defaults give ResNet-8; ``stages=(64,128,256,512), blocks=2`` ~ ResNet-18.

    Residual blocks are named ``stage{i}_block{j}`` and end in a layer ``..._out`` (the block output).
    """
    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(stages[0], 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for i, filters in enumerate(stages):
        for j in range(blocks_per_stage):
            stride = 2 if (i > 0 and j == 0) else 1
            x = _residual_block(x, filters, stride, name=f"stage{i + 1}_block{j + 1}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(num_classes, name="fc")(x)
    return keras.Model(inputs, outputs, name=name)


def resnet8(**kw) -> keras.Model:
    return resnet((16, 32, 64), 1, name="resnet8", **kw)


def resnet20(**kw) -> keras.Model:
    """ResNet-20 of He et al. (CIFAR family 6n+2, n = 3 blocks per stage; ALWANN's ResNet-8...62), with 1x1
    projection shortcuts where the shape changes."""
    return resnet((16, 32, 64), 3, name="resnet20", **kw)


def resnet_cifar(depth: int, **kw) -> keras.Model:
    """The CIFAR ResNet family of depth 6n+2 (8, 14, 20, 26, 32, 38, 44, 50, 56, 62 as in ALWANN)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2 with n >= 1 (8, 14, 20, ...). Received: {depth!r}")
    return resnet((16, 32, 64), (depth - 2) // 6, name=f"resnet{depth}", **kw)


def resnet18(**kw) -> keras.Model:
    return resnet((64, 128, 256, 512), 2, name="resnet18", **kw)


# MobileNet-V2 for 32x32 inputs: (expansion, output channels, blocks, stride of the first block). The stem keeps the
# full resolution (stride 1, as CIFAR variants do), so the depthwise layers run at 32x32, 16x16 and 8x8.
MOBILENET_V2_CIFAR_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 2, 2), (6, 64, 2, 2))


def _inverted_residual(x, expansion: int, filters: int, stride: int, name: str):
    """MobileNet-V2 block: 1x1 expansion (skipped for expansion 1) -> 3x3 depthwise -> linear 1x1 projection, each
    with BatchNormalization (ReLU6 after the first two); a residual Add when the shape is kept."""
    y = x
    if expansion != 1:
        y = layers.Conv2D(x.shape[-1] * expansion, 1, use_bias=False, name=f"{name}_expand")(y)
        y = layers.BatchNormalization(name=f"{name}_expand_bn")(y)
        y = layers.ReLU(6.0, name=f"{name}_expand_relu")(y)
    y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(y)
    y = layers.BatchNormalization(name=f"{name}_dw_bn")(y)
    y = layers.ReLU(6.0, name=f"{name}_dw_relu")(y)
    y = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(y)
    y = layers.BatchNormalization(name=f"{name}_project_bn")(y)
    if stride == 1 and x.shape[-1] == filters:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def mobilenet_v2_cifar(input_shape=(32, 32, 3), num_classes: int = 10, blocks=MOBILENET_V2_CIFAR_BLOCKS,
                       stem: int = 32, head: int = 256, name: str = "mobilenet_v2_cifar") -> keras.Model:
    """A small MobileNet-V2 for CIFAR-10 (141,194 parameters with the defaults): a 3x3 stem conv, inverted-
    residual blocks ``block{i}`` (``blocks``: (expansion, filters, repeats, first stride) per stage) with depthwise
    3x3 convolutions (``block{i}_dw``), a 1x1 head conv, global average pooling and the classifier ``fc``. The
    expanded depthwise layers are those of ``benchmarks/bench_ops.py`` (96 channels at 32x32, 144 at stride 2, 192
    at 16x16, 384 at 8x8)."""
    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(stem, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    i = 0
    for expansion, filters, repeats, stride in blocks:
        for r in range(repeats):
            i += 1
            x = _inverted_residual(x, expansion, filters, stride if r == 0 else 1, f"block{i}")
    x = layers.Conv2D(head, 1, use_bias=False, name="head_conv")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.ReLU(6.0, name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(num_classes, name="fc")(x)
    return keras.Model(inputs, outputs, name=name)


def train_classifier(model: keras.Model, x, y, epochs: int, batch_size: int = 64, learning_rate: float = 1e-3,
                     augment: bool = False, seed: int = 0, verbose: int = 2, deterministic: bool = True
                     ) -> keras.Model:
    """Compile (Adam, sparse CE on logits, cosine-decayed learning rate) and fit ``model`` in place.

    ``deterministic`` turns on TensorFlow's op determinism (process-wide) so the same seed gives the same weights;
    multithreaded CPU kernels otherwise reorder float sums from run to run. The initial weights are drawn when the
    model is built: call ``keras.utils.set_random_seed(seed)`` before building it.

    ``augment``: random horizontal flips and 4-pixel random translations (CIFAR-style), as Keras layers in front of
    the training pipeline only (the returned model is unchanged).
    """
    import numpy as np
    import tensorflow as tf

    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    steps = int(np.ceil(len(x) / batch_size)) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(steps, 1))
    model.compile(keras.optimizers.Adam(schedule), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    # a seeded full permutation first (data sorted by class, like CIFAR-10's files, would otherwise give class-pure
    # batches through a bounded shuffle buffer), then a buffer reshuffle every epoch
    perm = np.random.default_rng(seed).permutation(len(x))
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(x)[perm], np.asarray(y)[perm]))
    ds = ds.shuffle(min(len(x), 10000), seed=seed).batch(batch_size)
    if augment:
        aug = keras.Sequential([layers.RandomFlip("horizontal", seed=seed),
                                layers.RandomTranslation(0.125, 0.125, fill_mode="reflect", seed=seed)])
        ds = ds.map(lambda a, b: (aug(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    model.fit(ds.prefetch(tf.data.AUTOTUNE), epochs=epochs, verbose=verbose, shuffle=False)  # ds is shuffled
    return model
