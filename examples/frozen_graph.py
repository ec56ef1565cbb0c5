"""Frozen graphs: approximate a frozen float LeNet-5, a frozen tfmot QAT LeNet-5 and a frozen float ResNet-8 with
tfaxdnn.graphs, and compare with the Keras path (`tfaxdnn.approximate`) on the same plans.

    python examples/frozen_graph.py [--part all|lenet|resnet] [--epochs 4] [--out out/frozen_graph]
    python examples/frozen_graph.py --part resnet --full --resnet-epochs 4 --test-samples 2000

ResNet-8 (Keras 3: residual adds, strided convs, BatchNorm, global average pooling; CIFAR-10, bundled subset unless
``--full``): frozen float graph -> ``quantize`` in the uint8 scheme (TF1 ops, per-tensor) or the int8 scheme (LUT
form, per-channel symmetric) -> ``approximate`` with every layer on one multiplier; uint8 with and without uniform
weight mapping, int8 with and without; the Keras path on the unmapped plan and the same calibration data.

Float model: freeze -> ``quantize(calibration=...)`` (TF1 QuantizedConv2D/MatMul, quint8, like ALWANN) ->
``approximate(plan=...)`` with unsigned multipliers. QAT model: freeze -> ``approximate`` (FakeQuant rewrite) with
signed multipliers; there the graph and Keras paths use the same grids and should agree to float tolerance.
Uses the bundled MNIST subset.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: E402

import keras  # noqa: E402

import tfaxdnn  # noqa: E402
from tfaxdnn.graphs.graphdef_io import load_graph_def, save_graph_def  # noqa: E402
from tfaxdnn.data import load_mnist, preprocess_mnist  # noqa: E402
from tfaxdnn.models import lenet5, train_classifier  # noqa: E402
from tfaxdnn.ops.loader import load  # noqa: E402

UINT8 = {"dtype": "uint8", "activation": "asymmetric"}


def freeze(call, path):
    f = tf.function(call).get_concrete_function(tf.TensorSpec([None, 28, 28, 1], tf.float32, name="image"))
    frozen = convert_variables_to_constants_v2(f)
    save_graph_def(frozen.graph.as_graph_def(), path)
    return frozen.outputs[0].name.split(":")[0]


def graph_accuracy(path, output, x, y):
    load()
    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(load_graph_def(path), name="")
        with tf.compat.v1.Session(graph=g) as sess:
            logits = np.concatenate([sess.run(f"{output}:0", {"image:0": x[i:i + 500]})
                                     for i in range(0, len(x), 500)])
    return float((logits.argmax(1) == y).mean())


def transform(in_graph, out_graph, output, transforms):
    cmd = [sys.executable, "-m", "tfaxdnn", "transform-graph", "--in_graph", in_graph, "--out_graph", out_graph,
           "--inputs", "image", "--outputs", output, "--transforms", transforms]
    subprocess.run(cmd, check=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))


def tfmot_lenet5():
    import tf_keras
    import tensorflow_model_optimization as tfmot

    inputs = tf_keras.Input((28, 28, 1), name="image")
    x = tf_keras.layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = tf_keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = tf_keras.layers.Conv2D(16, 5, activation="relu", name="conv2")(x)
    x = tf_keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = tf_keras.layers.Conv2D(120, 5, activation="relu", name="conv3")(x)
    x = tf_keras.layers.Flatten(name="flatten")(x)
    x = tf_keras.layers.Dense(84, activation="relu", name="fc1")(x)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(10, name="fc2")(x))
    return tfmot.quantization.keras.quantize_model(model)


UNSIGNED = ("mul8u_1JJQ", "mul8u_2AC", "mul8u_17C8", "mul8u_L40")
SIGNED = ("mul8s_1KV6", "mul8s_1L2J", "mul8s_1L2N", "mul8s_1L12")


def graph_accuracy_def(graph_def, output, x, y, input_name="image"):
    """Top-1 accuracy of an in-memory GraphDef."""
    load()
    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as sess:
            logits = np.concatenate([sess.run(f"{output}:0", {f"{input_name}:0": x[i:i + 250]})
                                     for i in range(0, len(x), 250)])
    return float((logits.argmax(1) == y).mean())


def resnet_part(args):
    """ResNet-8 on CIFAR-10: uint8 / uint8 + uniform mapping / int8 graph schemes vs the Keras path."""
    import time
    import warnings

    from tfaxdnn.graphs.approximate import approximate_graph
    from tfaxdnn.graphs.quantize import quantize_graph
    from tfaxdnn.graphs.report import format_rows, report
    from tfaxdnn.data import load_cifar10, preprocess_cifar10
    from tfaxdnn.models import resnet8

    (xtr, ytr), (xte, yte), src = load_cifar10(full=args.full, seed=args.seed)
    xtr, xte = preprocess_cifar10(xtr[:args.train_samples]), preprocess_cifar10(xte[:args.test_samples])
    ytr, yte = ytr[:args.train_samples].reshape(-1), yte[:args.test_samples].reshape(-1)
    print(f"CIFAR-10 from {src}: {len(xtr)} training, {len(xte)} test images")
    keras.utils.set_random_seed(args.seed)
    model = resnet8()
    t0 = time.time()
    train_classifier(model, xtr, ytr, args.resnet_epochs, seed=args.seed, verbose=2)
    print(f"trained {args.resnet_epochs} epochs in {time.time() - t0:.0f} s")
    f = tf.function(lambda v: model(v, training=False)).get_concrete_function(
        tf.TensorSpec([None, 32, 32, 3], tf.float32, name="image"))
    frozen = convert_variables_to_constants_v2(f)
    gd, out_name = frozen.graph.as_graph_def(), frozen.outputs[0].name.split(":")[0]
    save_graph_def(gd, os.path.join(args.out, "resnet8_float.pb"))
    calib = xtr[:256]
    float_acc = graph_accuracy_def(gd, out_name, xte, yte)
    print(f"float: Keras {tfaxdnn.evaluate(model, xte, yte).accuracy:.4f}, graph {float_acc:.4f}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q8u = quantize_graph(gd, "image", calib, scheme="uint8")
        q8s = quantize_graph(gd, "image", calib, scheme="int8")
    rows = []
    for mult in UNSIGNED + SIGNED:
        signed = mult.startswith("mul8s")
        quant = {"dtype": "int8" if signed else "uint8"}
        plan = tfaxdnn.Plan(default_multiplier=mult, quantization=quant)
        keras_acc = tfaxdnn.evaluate(tfaxdnn.approximate(model, plan, calibration_data=calib), xte, yte).accuracy
        mapped = tfaxdnn.Plan(default_multiplier=mult, default_weight_mapping="uniform", quantization=quant)
        q = q8s if signed else q8u
        accs = [graph_accuracy_def(approximate_graph(q, pl), out_name, xte, yte) for pl in (plan, mapped)]
        cells = (None, None, *accs) if signed else (*accs, None, None)
        rows.append((mult, *cells, keras_acc))
        print(rows[-1], flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print(format_rows(report(approximate_graph(q8s, tfaxdnn.Plan(default_multiplier="mul8s_1L2J")))))
    fmt = lambda v: "—" if v is None else f"{v:.4f}"  # noqa: E731
    print(f"\nResNet-8, CIFAR-10, {len(xte)} test images; float graph {float_acc:.4f}")
    print("| multiplier | graph uint8 | graph uint8 + uniform | graph int8 | graph int8 + uniform | Keras path "
          "(no mapping) |\n|---|---:|---:|---:|---:|---:|")
    for mult, *cells in rows:
        print(f"| {mult} | " + " | ".join(fmt(v) for v in cells) + " |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("all", "lenet", "resnet"), default="all")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--resnet-epochs", type=int, default=4)
    p.add_argument("--full", action="store_true", help="CIFAR-10 from ../shared/data (else the bundled subset)")
    p.add_argument("--train-samples", type=int, default=50000)
    p.add_argument("--test-samples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/frozen_graph")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.part in ("all", "resnet"):
        resnet_part(args)
    if args.part == "resnet":
        return
    (xtr, ytr), (xte, yte), _ = load_mnist(full=False)
    xtr, xte = preprocess_mnist(xtr), preprocess_mnist(xte)
    np.savez(os.path.join(args.out, "calibration.npz"), x=xtr[:256])
    rows = []

    # float Keras 3 model -> quantize -> approximate (unsigned tables)
    keras.utils.set_random_seed(args.seed)  # before building: the initial weights come from this seed
    model = train_classifier(lenet5(), xtr, ytr, args.epochs, seed=args.seed, verbose=0)
    float_pb = os.path.join(args.out, "lenet5_float.pb")
    out_name = freeze(lambda v: model(v, training=False), float_pb)
    rows.append(("float LeNet-5", "float (no approximation)", tfaxdnn.evaluate(model, xte, yte).accuracy,
                 graph_accuracy(float_pb, out_name, xte, yte)))
    for mult in ("mul8u_1JJQ", "mul8u_17C8", "mul8u_FTA"):
        plan = tfaxdnn.Plan(default_multiplier=mult, quantization=UINT8)
        plan_path = os.path.join(args.out, f"plan_{mult}.json")
        plan.to_json(plan_path)
        pb = os.path.join(args.out, f"lenet5_{mult}.pb")
        transform(float_pb, pb, out_name, f"quantize(calibration={args.out}/calibration.npz) "
                                          f"approximate(plan={plan_path}) strip_unused_nodes")
        keras_acc = tfaxdnn.evaluate(tfaxdnn.approximate(model, plan, calibration_data=xtr[:256]), xte, yte).accuracy
        rows.append(("float LeNet-5", f"all {mult}", keras_acc, graph_accuracy(pb, out_name, xte, yte)))

    # tfmot QAT model -> approximate (FakeQuant rewrite, signed tables)
    import tf_keras

    tf_keras.utils.set_random_seed(args.seed)
    qat = tfmot_lenet5()
    qat.compile("adam", tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    qat.fit(xtr, ytr, epochs=args.epochs, batch_size=64, verbose=0)
    qat_pb = os.path.join(args.out, "lenet5_qat.pb")
    qat_out = freeze(lambda v: qat(v, training=False), qat_pb)
    qat_acc = float((qat.predict(xte, verbose=0).argmax(1) == yte).mean())
    rows.append(("tfmot QAT LeNet-5", "tfmot fake-quant", qat_acc, graph_accuracy(qat_pb, qat_out, xte, yte)))
    mixed = {"conv1": "mul8s_1L2J", "conv2": {"multiplier": "mul8s_1L2N", "weight_mapping": "uniform"},
             "conv3": "mul8s_1KV9", "fc1": "mul8s_1KV9", "fc2": "mul8s_1L2L"}
    for label, plan in (("all mul8s_1KV6 (exact)", tfaxdnn.Plan(default_multiplier="mul8s_1KV6")),
                        ("all mul8s_1L2N", tfaxdnn.Plan(default_multiplier="mul8s_1L2N")),
                        ("mixed plan", tfaxdnn.Plan(mixed))):
        plan_path = os.path.join(args.out, "plan_qat.json")
        plan.to_json(plan_path)
        pb = os.path.join(args.out, "lenet5_qat_ax.pb")
        transform(qat_pb, pb, qat_out, f"approximate(plan={plan_path})")
        keras_acc = tfaxdnn.evaluate(tfaxdnn.approximate(qat, plan), xte, yte).accuracy
        rows.append(("tfmot QAT LeNet-5", label, keras_acc, graph_accuracy(pb, qat_out, xte, yte)))

    print(f"\n{'model':<20s}{'plan':<28s}{'Keras path':>11s}{'graph path':>11s}")
    for model_name, label, k, g in rows:
        print(f"{model_name:<20s}{label:<28s}{k:>11.4f}{g:>11.4f}")


if __name__ == "__main__":
    main()
