"""The XAI-Gen paper's own Table I configurations, evaluated under our hardware model (a regression table).

Table I lists, per network, skipping thresholds (percent of neurons skipped) and multipliers M1-M7 per layer group
(M1 exact ``mul8s_1KV6``; M2-M7 ``mul8s_1KV8, 1KV9, 1KVP, 1L2J, 1L2L, 1L2N``), an accuracy, and an "Ea" in µW (one
significant digit; a power, so it cannot be a per-inference energy). LeNet-5 has one entry per layer (conv1, conv2,
conv3, fc1, fc2). ResNet-18 has six entries, read here as stem, stages 1-4 (every convolution of the stage, shortcuts
included) and fc. Table I's ResNet-34 / ResNet-50 rows need networks this package does not build; the third
ResNet-18 row lists five multipliers for six groups and cannot be applied as printed. Skip masks come from the
fractions alone (no neuron scores in the paper), so structured skipping never crosses a residual add here.

Run ``python -m tfaxdnn.hardware.paper`` for the table in docs/hardware.md.
"""

from __future__ import annotations

from typing import Dict, List

from tfaxdnn import multipliers as _mults

#: M1..M7 of the paper (M1 exact).
PAPER_M = dict(enumerate(_mults.PAPER_MULTIPLIERS, start=1))

#: (network, skipping thresholds in %, multiplier indices, accuracy %, "Ea" as printed)
TABLE_I = (
    ("lenet5", (5, 0, 10, 15, 70), (2, 1, 3, 6, 7), 94, "2 µW"),
    ("lenet5", (5, 0, 5, 10, 60), (3, 1, 3, 6, 7), 94, "3 µW"),
    ("lenet5", (5, 0, 5, 20, 50), (2, 1, 2, 6, 7), 95, "4 µW"),
    ("resnet18", (0, 5, 5, 10, 15, 70), (1, 2, 2, 5, 6, 7), 88, "26 µW"),
    ("resnet18", (0, 5, 5, 10, 20, 70), (1, 2, 2, 3, 4, 5), 86, "20 µW"),
)
#: The paper's headline reductions ("almost 7x" LeNet-5, 2.6x ResNet-18), not tied to a Table I row.
PAPER_CLAIM = {"lenet5": "almost 7x", "resnet18": "2.6x"}


def _group(network: str, layer: str) -> int:
    if network == "lenet5":
        return ["conv1", "conv2", "conv3", "fc1", "fc2"].index(layer)
    if layer == "stem_conv":
        return 0
    if layer == "fc":
        return 5
    return int(layer[len("stage")])  # stage{i}_...


def table_i_plan(network: str, skips, mults, layer_names) -> dict:
    """Plan dict of one Table I row for a model with ``layer_names`` (approximable layers in order)."""
    layers = {}
    for name in layer_names:
        g = _group(network, name)
        layers[name] = {"multiplier": PAPER_M[mults[g]], "skip_fraction": skips[g] / 100.0}
    return {"default_multiplier": None, "layers": layers}


def regression_rows(batch_sizes=(1, 64)) -> List[Dict]:
    """One dict per (Table I row, batch size): our reduction per accounting and under the paper's Eq. (1)-(2)."""
    from tfaxdnn import models
    from tfaxdnn.hardware.accelerator import Accelerator
    from tfaxdnn.hardware.estimate import estimate
    from tfaxdnn.hardware.shapes import model_shapes

    nets = {"lenet5": models.lenet5(), "resnet18": models.resnet18()}
    acc = Accelerator.paper()
    rows = []
    for network, skips, mults, accuracy, ea in TABLE_I:
        model = nets[network]
        plan = table_i_plan(network, skips, mults, [s.name for s in model_shapes(model)])
        for batch in batch_sizes:
            rep = estimate(model, plan, acc, batch_size=batch)
            eq = estimate(model, plan, acc, batch_size=batch, cycle_model="paper")
            rows.append({"network": network, "skipping": skips, "multipliers": mults, "accuracy": accuracy,
                         "ea": ea, "claim": PAPER_CLAIM[network], "batch": batch,
                         "system": rep.reduction("system"), "compute": rep.reduction("compute"),
                         "multiplier": rep.reduction("multiplier"), "paper_eq": eq.reduction("system"),
                         "energy_j": rep.energy_j})
    return rows


def main() -> None:
    print("| network | skipping % | multipliers | paper: acc. / Ea / claim | batch | system | compute | multiplier "
          "| Eq. (1)-(2) | E system |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in regression_rows():
        mults = ", ".join(f"M{m}" for m in r["multipliers"])
        print(f"| {r['network']} | {r['skipping']} | {mults} | {r['accuracy']} % / {r['ea']} / {r['claim']} | "
              f"{r['batch']} | {r['system']:.3f}x | {r['compute']:.3f}x | {r['multiplier']:.3f}x | "
              f"{r['paper_eq']:.3f}x | {r['energy_j'] * 1e6:.4g} µJ |")


if __name__ == "__main__":
    main()
