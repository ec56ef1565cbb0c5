"""Whole-model approximate inference against the float model: throughput at a serving batch and batch-1 latency.

    .venv/bin/python benchmarks/bench_models.py [--images 2000] [--batch 250] [--repeats 5] [--latency-repeats 50]

For LeNet-5 (MNIST), ResNet-8 and MobileNet-V2 (CIFAR-10; ``tfaxdnn.models``), the approximate model is what a user
gets from ``tfaxdnn.approximate(model, Plan(default_multiplier=...))``: every Conv2D / DepthwiseConv2D / Dense
through the LUT op (BN folded, per-tensor activations, per-channel weights), signed mul8s_1L2N and unsigned
mul8u_17C8 tables. Each is timed round-robin with the float Keras model in the same process (both as
``tf.function`` of ``model(x, training=False)``):

  * throughput -- images/s over ``--images`` test images in batches of ``--batch`` (median of ``--repeats`` passes);
  * latency    -- milliseconds per single image (median of ``--latency-repeats`` calls), a user serving one image.

Pretrained batch-1 latency (issue 26 item 5, target <= 1.3x float): the shipped LeNet-5 (MNIST) and ResNet-8
(CIFAR-10) of ``tfaxdnn.models.pretrained``, approximated with signed tables (PRETRAINED_TABLES: mul8s_1L2N, error
rank 2 with denominator 16; mul8s_1KVM, rank 1), each traced at batch 1 on the ``auto`` path (the "auto" decisions
cleared first, so every layer measures its two paths at batch 1), and, to show where the time goes, forced onto
the ``lut`` and the ``lowrank`` path; all timed round-robin with the float model in one process (median of
``--pretrained-repeats``, each round starting one function later), outputs checked identical across the three
paths. ``--no-throughput`` runs only this.

Weights (throughput section) are the models' seeded random initialisation (speed does not depend on training;
the activation codes come from real test images when ../shared/data/datasets holds them, else from random
images); their approximate models take the default (``auto``) path, decided at the first traced batch size.
Prints the ratios and writes JSON with the CPU model and vector ISA.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import keras  # noqa: E402

import tfaxdnn  # noqa: E402
from bench_ops import TABLES, _vector_isa, cpu_family_model, cpu_model, median_times  # noqa: E402
from tfaxdnn import models  # noqa: E402

DATA_DIR = os.environ.get("TFAXDNN_DATA", os.path.join(HERE, "..", "..", "shared", "data", "datasets"))
PRETRAINED = [("LeNet-5", "lenet5_mnist", "mnist"), ("ResNet-8", "resnet8_cifar10", "cifar10")]
PRETRAINED_TABLES = ("mul8s_1L2N", "mul8s_1KVM")
MODELS = [("LeNet-5", "mnist", models.lenet5), ("ResNet-8", "cifar10", models.resnet8),
          ("MobileNet-V2", "cifar10", models.mobilenet_v2_cifar)]


def load_images(name: str, count: int):
    """The first ``count`` test images of ``name`` (scaled to [0, 1], NHWC), or random ones without the data."""
    path = os.path.join(DATA_DIR, f"{name}.npz")
    if os.path.isfile(path):
        x = np.load(path)["x_test"][:count].astype(np.float32) / 255.0
        source = path
    else:
        shape = (28, 28) if name == "mnist" else (32, 32, 3)
        x = np.random.default_rng(0).random((count, *shape), np.float32)
        source = "random"
    if x.ndim == 3:
        x = x[..., None]
    return x, source


def build_pair(build, images, table_names, seed=0):
    """The float model and its approximate versions (one per table), as traced inference functions."""
    keras.utils.set_random_seed(seed)
    model = build(input_shape=images.shape[1:])
    fns = [tf.function(lambda b, m=model: m(b, training=False))]
    for name in table_names:
        dtype = "int8" if tfaxdnn.multipliers.get(name).signed else "uint8"
        plan = tfaxdnn.Plan(default_multiplier=name, quantization=tfaxdnn.QuantizationConfig(dtype=dtype))
        approx = tfaxdnn.approximate(model, plan, calibration_data=images[:256])
        fns.append(tf.function(lambda b, m=approx: m(b, training=False)))
    return model, fns


def throughput(fns, images, batch, repeats):
    """Images/s of each function over all images in batches (timed round-robin, median of passes)."""
    batches = [tf.constant(images[i:i + batch]) for i in range(0, len(images), batch)]
    for fn in fns:
        fn(batches[0])  # trace
        if len(batches[-1]) != batch:
            fn(batches[-1])
    runs = [lambda fn=fn: [fn(b).numpy() for b in batches] for fn in fns]
    return [len(images) / t for t in median_times(runs, repeats, warmup=1)]


def latency(fns, image, repeats):
    """Seconds per call of each function on one image (round-robin, median), output fetched to the host."""
    one = tf.constant(image[None])
    return median_times([lambda fn=fn: fn(one).numpy() for fn in fns], repeats, warmup=3)


def pretrained_latency(repeats: int, only: str = ""):
    """Batch-1 latency of the shipped models, float against approximate on the auto / lut / lowrank paths (see the
    module docstring); rows per model and table."""
    from tfaxdnn.layers import ApproxMixin, paths

    rows = []
    for model_name, ref, data in PRETRAINED:
        if only and only not in model_name:
            continue
        images, source = load_images(data, 256)
        model = models.pretrained(ref)
        one = tf.constant(images[:1])
        float_fn = tf.function(lambda b, m=model: m(b, training=False))
        float_fn(one)
        fns, labels, decisions, outs = [float_fn], ["float"], {}, {}
        for name in PRETRAINED_TABLES:
            plan = tfaxdnn.Plan(default_multiplier=name, quantization=tfaxdnn.QuantizationConfig(dtype="int8"))
            approx = tfaxdnn.approximate(model, plan, calibration_data=images[:256])
            n_approx = sum(isinstance(layer, ApproxMixin) for layer in approx.layers)
            for path in ("auto", "lut", "lowrank"):
                fn = tf.function(lambda b, m=approx: m(b, training=False))
                if path == "auto":
                    paths.clear_choices()  # this model's decisions only (measured at batch 1, its batch bucket)
                with paths.use_path(path):
                    outs[(name, path)] = fn(one).numpy()  # traced here: the path is fixed in the trace
                if path == "auto":
                    picked = [v[0] for v in paths.choices().values()]
                    decisions[name] = dict(layers=n_approx, geometries=len(picked),
                                           lowrank=picked.count("lowrank"), lut=picked.count("lut"),
                                           choices=[dict(key=repr(k), path=v[0], lut_ms=v[1] * 1e3,
                                                         lowrank_ms=v[2] * 1e3) for k, v in paths.choices().items()])
                fns.append(fn)
                labels.append((name, path))
        times = median_times([lambda fn=fn: fn(one).numpy() for fn in fns], repeats, warmup=3, rotate=True)
        t_float = times[0]
        for (name, path), t in zip(labels[1:], times[1:]):
            same = bool(np.array_equal(outs[(name, path)], outs[(name, "lut")]))
            row = dict(model=model_name, pretrained=ref, table=name, path=path, data=source,
                       approx_latency_ms=t * 1e3, float_latency_ms=t_float * 1e3, ratio_latency=t / t_float,
                       logits_identical_to_lut=same)
            if path == "auto":
                row["auto_decisions"] = decisions[name]
            rows.append(row)
            auto_txt = (f"  (auto: {decisions[name]['lowrank']} of {decisions[name]['geometries']} geometries "
                        "low-rank)" if path == "auto" else "")
            print(f"  {model_name:9s} {name:11s} {path:8s} batch 1: approx {t * 1e3:7.3f} ms, float "
                  f"{t_float * 1e3:7.3f} ms ({t / t_float:.2f}x; target <= 1.3x){auto_txt}  same logits as LUT: "
                  f"{same}", flush=True)
    print("\n| model | table | path | approx ms (batch 1) | float ms | approx / float | <= 1.3x |")
    print("|---|---|:-:|---:|---:|---:|:-:|")
    for r in rows:
        print(f"| {r['model']} | {r['table']} | {r['path']} | {r['approx_latency_ms']:.3f} | "
              f"{r['float_latency_ms']:.3f} | {r['ratio_latency']:.2f}x | "
              f"{'yes' if r['ratio_latency'] <= 1.3 else 'no'} |")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--latency-repeats", type=int, default=50)
    ap.add_argument("--pretrained-repeats", type=int, default=100,
                    help="batch-1 calls per function in the pretrained-latency section (0: skip it)")
    ap.add_argument("--no-throughput", action="store_true",
                    help="only the pretrained batch-1 latency section (not the random-weight models)")
    ap.add_argument("--models", default="", help="only the models whose name contains this text (e.g. MobileNet)")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "bench_models.json"))
    args = ap.parse_args()
    t_start, load_start = time.time(), os.getloadavg()
    threads = tf.config.threading.get_intra_op_parallelism_threads() or "default"
    print(f"TF {tf.__version__}, {os.cpu_count()} CPUs ({cpu_model()}, {_vector_isa()}), intra-op threads {threads}; "
          f"{args.images} images, batch {args.batch}; ratios are approximate / float in the same process")
    print(f"load average {load_start}; CPU {cpu_family_model()}")
    rows = []
    for model_name, data, build in MODELS:
        if args.no_throughput:
            break
        if args.models and args.models not in model_name:
            continue
        images, source = load_images(data, args.images)
        model, fns = build_pair(build, images, list(TABLES.values()))
        ips = throughput(fns, images, args.batch, args.repeats)
        lat = latency(fns, images[0], args.latency_repeats)
        for (sign, table_name), a_ips, a_lat in zip(TABLES.items(), ips[1:], lat[1:]):
            row = dict(model=model_name, params=model.count_params(), table=f"{sign} ({table_name})",
                       data=source, images=len(images), batch=args.batch,
                       approx_images_per_s=a_ips, float_images_per_s=ips[0], ratio_throughput=a_ips / ips[0],
                       approx_latency_ms=a_lat * 1e3, float_latency_ms=lat[0] * 1e3, ratio_latency=a_lat / lat[0])
            rows.append(row)
            print(f"  {model_name:12s} {sign:8s} batch {args.batch}: approx {a_ips:8.0f} img/s, float {ips[0]:8.0f} "
                  f"img/s (approx {ips[0] / a_ips:.2f}x slower) | batch 1: approx {a_lat * 1e3:7.3f} ms, float "
                  f"{lat[0] * 1e3:7.3f} ms ({a_lat / lat[0]:.2f}x)", flush=True)
    if rows:
        print(f"\n| model | table | approx img/s (batch {args.batch}) | float img/s | float / approx "
              "| approx ms (batch 1) | float ms | approx / float |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['table']} | {r['approx_images_per_s']:.0f} | {r['float_images_per_s']:.0f} | "
              f"{1 / r['ratio_throughput']:.2f}x | {r['approx_latency_ms']:.3f} | {r['float_latency_ms']:.3f} | "
              f"{r['ratio_latency']:.2f}x |")
    pre_rows = []
    if args.pretrained_repeats:
        print(f"\nPretrained models, batch-1 latency (median of {args.pretrained_repeats} round-robin calls):")
        pre_rows = pretrained_latency(args.pretrained_repeats, args.models)
    if args.json:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        env = dict(tensorflow=tf.__version__, keras=keras.__version__, numpy=np.__version__,
                   python=platform.python_version(), machine=platform.machine(), cpus=os.cpu_count(),
                   processor=cpu_model(), cpu_family_model=cpu_family_model(), vector_isa=_vector_isa(),
                   intra_op_threads=str(threads), load_average_start=load_start, load_average=os.getloadavg(),
                   seconds=time.time() - t_start, images=args.images, batch=args.batch,
                   pretrained_repeats=args.pretrained_repeats, pretrained_order="rotating round-robin",
                   time=time.strftime("%Y-%m-%d %H:%M:%S"), repeats=args.repeats,
                   latency_repeats=args.latency_repeats)
        with open(args.json, "w") as f:
            json.dump(dict(env=env, models=rows, pretrained_latency=pre_rows), f, indent=1)


if __name__ == "__main__":
    main()
