"""`make demo`: LeNet-5 on the bundled MNIST subset through approximate multipliers, then XAI-Gen.

Part 1 approximates the trained model with single multipliers and mixed plans (accuracy, energy and latency on the
paper's accelerator); part 2 runs XAI-Gen and prints the layer importance, the chosen plan, accuracy and energy
against the exact baseline. Everything runs on bundled data in about a minute; outputs go to ``out/demo``.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

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


def main():
    t0 = time.perf_counter()
    (xtr, ytr), (xte, yte), src = load_mnist(full=False)
    xtr, xte = preprocess_mnist(xtr), preprocess_mnist(xte)
    print(f"LeNet-5 on the bundled MNIST subset ({len(xtr)} train / {len(xte)} test images)")
    keras.utils.set_random_seed(0)  # before building: the initial weights come from this seed
    model = train_classifier(lenet5(), xtr, ytr, epochs=8, batch_size=64, seed=0, verbose=0)
    base_acc = tfaxdnn.evaluate(model, xte, yte).accuracy
    base = hardware.estimate(model)
    print(f"float model: accuracy {base_acc:.4f}; exact 8-bit accelerator: energy {base.energy_j * 1e9:.1f} nJ, "
          f"latency {base.latency_s * 1e6:.2f} us per image (Accelerator.paper())\n")
    print(f"{'plan':<36s}{'accuracy':>9s}{'mult. power':>12s}{'energy nJ':>11s}{'x exact':>9s}{'latency us':>12s}")
    exact_power = multipliers.get(multipliers.EXACT_SIGNED).power_mw
    for label, plan in plans():
        ax = tfaxdnn.approximate(model, plan, calibration_data=xtr[:500])
        acc = tfaxdnn.evaluate(ax, xte, yte).accuracy
        rep = hardware.estimate(ax)
        names = {ax.get_layer(n).multiplier_name for n in ("conv1", "conv2", "conv3", "fc1", "fc2")}
        power = max(multipliers.get(n).power_mw for n in names) / exact_power if len(names) == 1 else float("nan")
        power_txt = f"{power:.3f}" if power == power else "mixed"
        print(f"{label:<36s}{acc:>9.4f}{power_txt:>12s}{rep.energy_j * 1e9:>11.1f}{rep.relative_energy:>9.3f}"
              f"{rep.latency_s * 1e6:>12.2f}")
    print("\nXAI-Gen (conductance-ranked layers, Q_c = baseline - 2 points):")
    result = run_and_save(model, (xte, yte), xtr, OUT, XAIGenConfig(), t_p_values=(0.0, 0.2, 0.4))
    print("\nimportance (normalised, least important first): " + ", ".join(
        f"{n} {result.importance.normalized()[n]:.3f}" for n in result.importance.ascending()))
    print(f"XAI-Gen: accuracy {result.accuracy:.4f} vs {result.baseline_accuracy:.4f}, energy "
          f"{result.energy_j * 1e9:.1f} nJ vs {result.baseline_energy_j * 1e9:.1f} nJ "
          f"({result.energy_reduction:.2f}x lower). Demo took {time.perf_counter() - t0:.0f} s.")


if __name__ == "__main__":
    main()
