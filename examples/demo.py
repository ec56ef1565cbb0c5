"""`make demo`: LeNet-5 on the bundled MNIST subset through approximate multipliers, then XAI-Gen.

Part 1 approximates the trained model with single multipliers and mixed plans (accuracy on all test images, energy
and latency on the paper's accelerator; the columns are explained above the table, and a line under it says why
approximate plans are slower); part 2 runs XAI-Gen, which selects on half of the test images and reports on the other
half, and prints the layer importance, the chosen plan, accuracy and energy against the exact baseline. Everything runs on bundled data in about a minute; outputs go to ``out/demo``.
"""

from __future__ import annotations

import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
# warnings as one readable line (a demo reader needs the message, not the library's source line)
warnings.formatwarning = lambda message, category, *_args, **_kw: f"warning ({category.__name__}): {message}\n"

import keras  # noqa: E402

import tfaxdnn  # noqa: E402
from tfaxdnn import hardware, multipliers  # noqa: E402
from tfaxdnn.data import load_mnist, preprocess_mnist  # noqa: E402
from tfaxdnn.models import lenet5, train_classifier  # noqa: E402
from tfaxdnn.search import XAIGenConfig, run_and_save  # noqa: E402

OUT = os.path.join("out", "demo")


def plans():
    """(label, plan) pairs: single multipliers, weight mapping, and a mixed plan."""
    layers = ["conv1", "conv2", "conv3", "fc1", "fc2"]
    out = [(f"all {name}", tfaxdnn.Plan(default_multiplier=name)) for name in multipliers.PAPER_MULTIPLIERS]
    for mapping in ("uniform", "data"):
        out.append((f"all mul8s_1L2N + {mapping} mapping",
                    tfaxdnn.Plan(default_multiplier="mul8s_1L2N", default_weight_mapping=mapping)))
    mixed = {"conv1": "mul8s_1L2J", "conv2": "mul8s_1KVP", "conv3": "mul8s_1KV8", "fc1": "mul8s_1KV8",
             "fc2": "mul8s_1L2N"}
    out.append(("mixed plan + uniform mapping", tfaxdnn.Plan(
        {n: {"multiplier": mixed[n], "weight_mapping": "uniform"} for n in layers})))
    return out


def latency_note(base, rep, multiplier) -> str:
    """Why ``rep`` (every layer on ``multiplier``) has a longer latency than the exact ``base``, from both reports."""
    acc = hardware.Accelerator.paper()
    exact_units = hardware.place("exact", None, acc).units
    units = hardware.place("approx", multipliers.get(multiplier), acc).units
    slower = ", ".join(f"{a.name} {a.tiles} tiles {e.cycles} -> {a.cycles}"
                       for e, a in zip(base.layers, rep.layers) if a.cycles > e.cycles)
    return (f"Why approximate plans are slower: the clock is {acc.clock_period_s * 1e9:g} ns for every plan (it does "
            "not follow the multiplier's delay), but\nAccelerator.paper() carries each approximate multiplier in one "
            f"pod only, so an approximate layer runs on {units} lower half-pod\n(an exact one on {exact_units} exact "
            f"half-pods) and its weight tiles run in turn: {slower} cycles\n"
            f"({sum(e.cycles for e in base.layers)} -> {sum(a.cycles for a in rep.layers)} cycles in all).")


def main():
    t0 = time.perf_counter()
    (xtr, ytr), (xte, yte), src = load_mnist(full=False)
    xtr, xte = preprocess_mnist(xtr), preprocess_mnist(xte)
    n_test, n_calib = len(xte), 500
    print(f"LeNet-5 on the bundled MNIST subset ({len(xtr)} train / {n_test} test images)")
    keras.utils.set_random_seed(0)  # before building: the initial weights come from this seed
    model = train_classifier(lenet5(), xtr, ytr, epochs=8, batch_size=64, seed=0, verbose=0)
    base_acc = tfaxdnn.evaluate(model, xte, yte).accuracy
    base = hardware.estimate(model)
    acc = hardware.Accelerator.paper()
    print(f"float model: accuracy {base_acc:.4f} on all {n_test} test images; exact 8-bit accelerator: energy "
          f"{base.energy_j * 1e9:.1f} nJ, latency {base.latency_s * 1e6:.2f} us per image (Accelerator.paper())\n")
    print(f"Part 1: each plan applied to the trained model. Columns:\n"
          f"  accuracy     top-1 on all {n_test} MNIST test images (activation ranges from the first {n_calib} "
          "training images)\n"
          "  mult. power  power of the plan's multiplier / power of the exact mul8s_1KV6 ('mixed': several)\n"
          "  energy nJ    system energy per image: multipliers + accumulators + on-chip SRAM"
          f"{' + DRAM' if acc.include_dram else ' (no DRAM)'}; x exact = / all-exact\n"
          "  latency us   cycles x clock per image, layers one after another\n"
          f"  energy and latency: Accelerator.paper() ({acc.pods} pods of {acc.rows}x{acc.cols} MACs), batch "
          f"{base.batch_size}, clock {acc.clock_period_s * 1e9:g} ns\n")
    print(f"{'plan':<36s}{'accuracy':>9s}{'mult. power':>12s}{'energy nJ':>11s}{'x exact':>9s}{'latency us':>12s}")
    exact_power = multipliers.get(multipliers.EXACT_SIGNED).power_mw
    slow = None
    for label, plan in plans():
        ax = tfaxdnn.approximate(model, plan, calibration_data=xtr[:n_calib])
        accuracy = tfaxdnn.evaluate(ax, xte, yte).accuracy
        rep = hardware.estimate(ax)
        names = {ax.get_layer(n).multiplier_name for n in ("conv1", "conv2", "conv3", "fc1", "fc2")}
        power = max(multipliers.get(n).power_mw for n in names) / exact_power if len(names) == 1 else float("nan")
        power_txt = f"{power:.3f}" if power == power else "mixed"
        print(f"{label:<36s}{accuracy:>9.4f}{power_txt:>12s}{rep.energy_j * 1e9:>11.1f}{rep.relative_energy:>9.3f}"
              f"{rep.latency_s * 1e6:>12.2f}")
        if slow is None and len(names) == 1 and rep.latency_s > base.latency_s:
            slow = (rep, names.pop())
    if slow is not None:
        print(latency_note(base, *slow))
    config = XAIGenConfig()
    n_val = int(round(n_test * config.validation_fraction))
    print(f"\nPart 2: XAI-Gen (conductance-ranked layers, Q_c = float accuracy on the validation images - "
          f"{config.max_accuracy_drop * 100:g} points).\nIt splits the {n_test} test images at random (seed "
          f"{config.seed}) into {n_val} validation images, which it selects on, and {n_test - n_val} test images\n"
          f"it never sees, which report its result (its \"evaluation images\" are all {n_test}); energy: system, as "
          "above.")
    result = run_and_save(model, (xte, yte), xtr, OUT, config, t_p_values=(0.0, 0.2, 0.4))
    print("\nimportance (normalised, least important first): " + ", ".join(
        f"{n} {result.importance.normalized()[n]:.3f}" for n in result.importance.ascending()))
    print(f"XAI-Gen: accuracy {result.accuracy:.4f} vs float {result.baseline_accuracy:.4f} on the "
          f"{result.n_test} held-out test images, energy {result.energy_j * 1e9:.1f} nJ vs "
          f"{result.baseline_energy_j * 1e9:.1f} nJ ({result.energy_reduction:.2f}x lower, system). "
          f"Demo took {time.perf_counter() - t0:.0f} s.")


if __name__ == "__main__":
    main()
