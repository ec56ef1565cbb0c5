"""End-to-end frozen-graph inference of ResNet-8 (CIFAR-10 shapes): tfaxdnn's rewritten graphs vs TF's own
quantised graph, images/s in the same process.

    .venv/bin/python benchmarks/bench_graph.py [--images 1000] [--batch 100] [--repeats 5] [--quick]

Graphs (one float ResNet-8 from `tfaxdnn.models.resnet8`, random weights, seed 0, frozen; quantised with 256
random calibration images):
  * float         -- the frozen float graph (TF Conv2D / MatMul);
  * tf-quantized  -- ``quantize(scheme=uint8)``: TF's QuantizedConv2D / QuantizedMatMul (quint8, per tensor);
  * tfax-uint8    -- that graph after ``approximate(multiplier=mul8u_17C8)`` (TfaxApprox* on the TF1 codes);
  * tfax-uint8-mapped -- the same with uniform weight mapping (an in-graph 256-entry lookup on the weight codes);
  * tfax-int8     -- ``quantize(scheme=int8)`` + ``approximate(multiplier=mul8s_1L2J)`` (the LUT form).
Each graph runs in its own tf.compat.v1 Session (Grappler on, default threads), one warm-up pass each, then
``--repeats`` rounds timing one pass of every graph in turn over ``--images`` images (interleaved: load changes on
a shared machine hit all graphs alike); median per graph; ratios are against tf-quantized. Results: benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import keras  # noqa: E402

import tfaxdnn  # noqa: E402
from tfaxdnn.graphs.approximate import approximate_graph  # noqa: E402
from tfaxdnn.graphs.quantize import quantize_graph  # noqa: E402
from tfaxdnn.models import resnet8  # noqa: E402
from tfaxdnn.ops.loader import load  # noqa: E402


def graphs(seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    model = resnet8()
    f = tf.function(lambda v: model(v, training=False)).get_concrete_function(
        tf.TensorSpec([None, 32, 32, 3], tf.float32, name="image"))
    frozen = convert_variables_to_constants_v2(f)
    gd, out = frozen.graph.as_graph_def(), frozen.outputs[0].name
    calib = np.random.default_rng(seed).uniform(size=(256, 32, 32, 3)).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q8u = quantize_graph(gd, "image", calib, scheme="uint8")
        q8s = quantize_graph(gd, "image", calib, scheme="int8")
        uint8 = {"dtype": "uint8"}
        return out, {
            "float": gd,
            "tf-quantized": q8u,
            "tfax-uint8": approximate_graph(q8u, tfaxdnn.Plan(default_multiplier="mul8u_17C8", quantization=uint8)),
            "tfax-uint8-mapped": approximate_graph(q8u, tfaxdnn.Plan(default_multiplier="mul8u_17C8",
                                                                     default_weight_mapping="uniform",
                                                                     quantization=uint8)),
            "tfax-int8": approximate_graph(q8s, tfaxdnn.Plan(default_multiplier="mul8s_1L2J")),
        }


def images_per_s(named_graphs: dict, out: str, x: np.ndarray, batch: int, repeats: int) -> dict:
    """``{name: images/s}``: all sessions open at once, one warm-up pass each, then ``repeats`` rounds that time one
    pass of every graph in turn (interleaved, so load changes on a shared machine hit all graphs alike); median."""
    load()
    sessions = {}
    for name, graph_def in named_graphs.items():
        with tf.Graph().as_default() as g:
            tf.compat.v1.import_graph_def(graph_def, name="")
        sessions[name] = tf.compat.v1.Session(graph=g)

    def one_pass(sess):
        for i in range(0, len(x), batch):
            sess.run(out, {"image:0": x[i:i + batch]})

    for sess in sessions.values():
        one_pass(sess)  # warm-up (Grappler, constant folding, first allocations)
    times = {name: [] for name in sessions}
    for _ in range(repeats):
        for name, sess in sessions.items():
            t0 = time.perf_counter()
            one_pass(sess)
            times[name].append(time.perf_counter() - t0)
    for sess in sessions.values():
        sess.close()
    return {name: len(x) / statistics.median(t) for name, t in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="200 images, 2 repeats")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                 "bench_graph.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.repeats = 200, 2
    out, gs = graphs()
    x = np.random.default_rng(1).uniform(size=(args.images, 32, 32, 3)).astype("float32")
    rates = images_per_s(gs, out, x, args.batch, args.repeats)
    base = rates["tf-quantized"]
    print("\n| graph | images/s | vs tf-quantized |\n|---|---:|---:|")
    for name, r in rates.items():
        print(f"| {name} | {r:.1f} | {r / base:.2f}x |")
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "tensorflow": tf.__version__, "images": args.images, "batch": args.batch, "repeats": args.repeats,
              "images_per_s": rates, "ratio_vs_tf_quantized": {k: v / base for k, v in rates.items()}}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
