"""Cross-check of tfaxdnn.hardware's weight-stationary cycle model against SCALE-Sim 3.0.0.

For every Conv2D / Dense layer of LeNet-5 and ResNet-8 (batch 1) and every array size, SCALE-Sim runs the layer as a
GEMM (M = output positions F, N = output channels O, K = reduction length) on one ``r x c`` weight-stationary array;
we read ``Total Cycles`` (compute cycles without the initial DRAM prefetch; stall cycles are reported too) from its
COMPUTE_REPORT.csv (scalesim's ``get_total_cycles()`` is broken in 3.0.0) and compare with
``tfaxdnn.hardware.estimate(model, accelerator=Accelerator.single_array(r, c))``.

Usage:  python benchmarks/bench_scalesim.py [--arrays 16x16,64x64,256x256] [--tolerance 0.15] [--csv out.csv]
Needs the optional extra ``scalesim`` (requirements-extras.txt). Exits 1 if any ratio leaves the tolerance.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tfaxdnn import hardware, models  # noqa: E402

_CONFIG = """[general]
run_name = {name}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 4096
FilterSramSzkB: 4096
OfmapSramSzkB: 4096
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: ws
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def run_scalesim(shapes, rows: int, cols: int, workdir: str, name: str) -> list:
    """SCALE-Sim compute report rows (dicts) for ``shapes`` as GEMMs on one ``rows x cols`` WS array."""
    from scalesim.scale_sim import scalesim

    for s in shapes:
        if s.groups != 1:
            raise ValueError(f"Layer '{s.name}' is grouped/depthwise; SCALE-Sim's GEMM mode has no groups.")
    cfg, topo, layout = (os.path.join(workdir, f"{name}.{ext}") for ext in ("cfg", "csv", "layout.csv"))
    with open(cfg, "w") as f:
        f.write(_CONFIG.format(name=name, rows=rows, cols=cols))
    with open(topo, "w") as f:
        f.write("Layer, M, N, K,\n" + "".join(f"{s.name}, {s.f}, {s.o}, {s.k},\n" for s in shapes))
    with open(layout, "w") as f:
        f.write("Layer,\n")
    sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
                   input_type_gemm=True)
    with contextlib.redirect_stdout(io.StringIO()):
        sim.run_scale(top_path=os.path.join(workdir, "out"))
    with open(os.path.join(workdir, "out", name, "COMPUTE_REPORT.csv")) as f:
        rows_out = [{k.strip(): v.strip() for k, v in r.items() if k and k.strip()} for r in csv.DictReader(f)]
    if len(rows_out) != len(shapes):
        raise RuntimeError(f"SCALE-Sim reported {len(rows_out)} layers for {len(shapes)} in {name}.")
    return rows_out


def compare(arrays=((16, 16), (64, 64), (256, 256))) -> list:
    """Per-layer comparison rows: model, array, layer, GEMM dims, our cycles, SCALE-Sim cycles, ratio."""
    out = []
    for model in (models.lenet5(), models.resnet8()):
        shapes = hardware.model_shapes(model)
        for rows, cols in arrays:
            ours = hardware.estimate(model, accelerator=hardware.Accelerator.single_array(rows, cols))
            with tempfile.TemporaryDirectory() as tmp:
                ref = run_scalesim(shapes, rows, cols, tmp, f"{model.name}_{rows}x{cols}")
            for s, r in zip(shapes, ref):
                theirs = int(float(r["Total Cycles"]))
                out.append({"model": model.name, "array": f"{rows}x{cols}", "layer": s.name, "F": s.f, "K": s.k,
                            "O": s.o, "tiles": ours[s.name].tiles, "ours": ours[s.name].cycles,
                            "scalesim": theirs, "scalesim_stalls": int(float(r["Stall Cycles"])),
                            "ratio": ours[s.name].cycles / theirs})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arrays", default="16x16,64x64,256x256")
    ap.add_argument("--tolerance", type=float, default=0.15)
    ap.add_argument("--csv", default=None)
    args = ap.parse_args(argv)
    arrays = [tuple(int(v) for v in a.split("x")) for a in args.arrays.split(",")]
    rows = compare(arrays)
    print("| model | array | layer | F | K | O | tiles | ours | SCALE-Sim | ratio |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['array']} | {r['layer']} | {r['F']} | {r['K']} | {r['O']} | {r['tiles']} | "
              f"{r['ours']} | {r['scalesim']} | {r['ratio']:.4f} |")
    ratios = [r["ratio"] for r in rows]
    print(f"\n{len(rows)} layer/array pairs: ratio ours/SCALE-Sim min {min(ratios):.4f}, max {max(ratios):.4f}; "
          f"SCALE-Sim stall cycles total {sum(r['scalesim_stalls'] for r in rows)}")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    bad = [r for r in rows if abs(r["ratio"] - 1) > args.tolerance]
    for r in bad:
        print(f"OUT OF TOLERANCE: {r['model']} {r['array']} {r['layer']}: ratio {r['ratio']:.4f}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
