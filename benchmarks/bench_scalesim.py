"""Cross-check of tfaxdnn.hardware's weight-stationary cycle and memory-traffic model against SCALE-Sim 3.0.0.

For every Conv2D / Dense layer of LeNet-5 and ResNet-8 (batch 1) and every array size, SCALE-Sim runs the layer in
its convolution mode (Dense = 1x1 convolution on a 1x1 input with K channels; SCALE-Sim has no padding, so a padded
layer gets its padded input size) on one ``r x c`` weight-stationary array. From its CSV reports (scalesim's
``get_total_cycles()`` is broken in 3.0.0) we read:

- COMPUTE_REPORT.csv ``Total Cycles`` (compute cycles without the initial DRAM prefetch; stall cycles too);
- DETAILED_ACCESS_REPORT.csv SRAM IFMAP / Filter reads, SRAM OFMAP writes, DRAM IFMAP / Filter reads and DRAM OFMAP
  writes (element counts; one byte per element for int8 operands),

and compare them with ``tfaxdnn.hardware.estimate(model, accelerator=Accelerator.single_array(r, c))``:
ours ``sram_ifmap_bytes``, ``sram_weight_bytes``, ofmap writes ``sram_psum_bytes / 8 + sram_ofmap_bytes`` (int32
partial-sum writes of all but the last row fold, plus the final writes), and the unique-tensor DRAM bytes.

Usage:  python benchmarks/bench_scalesim.py [--arrays 16x16,64x64,256x256] [--tolerance 0.15] [--csv out.csv]
Needs the optional extra ``scalesim`` (requirements-extras.txt). Exits 1 if a cycle or SRAM ratio leaves the
tolerance (DRAM differences are explained in docs/hardware.md and only printed).
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


def _conv_row(s) -> str:
    """SCALE-Sim convolution-topology row for a `LayerShape` (padded input size, square stride)."""
    layer = s.layer
    if s.groups != 1:
        raise ValueError(f"Layer '{s.name}' is grouped/depthwise; compared layers must have groups=1.")
    if s.kind == "dense":
        return f"{s.name}, 1, 1, 1, 1, {s.k}, {s.o}, 1,\n"
    kh, kw = (int(v) for v in layer.kernel_size)
    sh, sw = (int(v) for v in layer.strides)
    if sh != sw:
        raise ValueError(f"Layer '{s.name}': SCALE-Sim needs equal strides, got {layer.strides}.")
    ho, wo = (int(d) for d in tuple(layer.output.shape)[1:3])
    cin = s.k // (kh * kw)
    return f"{s.name}, {(ho - 1) * sh + kh}, {(wo - 1) * sw + kw}, {kh}, {kw}, {cin}, {s.o}, {sh},\n"


def _read_csv(path) -> list:
    with open(path) as f:
        return [{k.strip(): v.strip() for k, v in r.items() if k and k.strip()} for r in csv.DictReader(f)]


def run_scalesim(shapes, rows: int, cols: int, workdir: str, name: str) -> list:
    """Per layer, SCALE-Sim's compute and detailed-access report rows merged into one dict."""
    from scalesim.scale_sim import scalesim

    cfg, topo, layout = (os.path.join(workdir, f"{name}.{ext}") for ext in ("cfg", "csv", "layout.csv"))
    with open(cfg, "w") as f:
        f.write(_CONFIG.format(name=name, rows=rows, cols=cols))
    with open(topo, "w") as f:
        f.write("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                + "".join(_conv_row(s) for s in shapes))
    with open(layout, "w") as f:
        f.write("Layer,\n")
    sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
                   input_type_gemm=False)
    with contextlib.redirect_stdout(io.StringIO()):
        sim.run_scale(top_path=os.path.join(workdir, "out"))
    out = os.path.join(workdir, "out", name)
    compute, access = (_read_csv(os.path.join(out, f)) for f in ("COMPUTE_REPORT.csv", "DETAILED_ACCESS_REPORT.csv"))
    if len(compute) != len(shapes) or len(access) != len(shapes):
        raise RuntimeError(f"SCALE-Sim reported {len(compute)} layers for {len(shapes)} in {name}.")
    return [dict(c, **a) for c, a in zip(compute, access)]


#: (column, ours from a LayerEstimate, SCALE-Sim report column)
TRAFFIC = (
    ("sram_ifmap", lambda r: r.sram_ifmap_bytes, "SRAM IFMAP Reads"),
    ("sram_filter", lambda r: r.sram_weight_bytes, "SRAM Filter Reads"),
    ("sram_ofmap", lambda r: r.sram_psum_bytes // 8 + r.sram_ofmap_bytes, "SRAM OFMAP Writes"),
    ("dram_ifmap", lambda r: r.dram_ifmap_bytes, "DRAM IFMAP Reads"),
    ("dram_filter", lambda r: r.dram_weight_bytes, "DRAM Filter Reads"),
    ("dram_ofmap", lambda r: r.dram_ofmap_bytes, "DRAM OFMAP Writes"),
)


def compare(arrays=((16, 16), (64, 64), (256, 256))) -> list:
    """Per-layer comparison rows: GEMM dims, cycles (ours, SCALE-Sim, ratio) and every traffic count."""
    out = []
    for model in (models.lenet5(), models.resnet8()):
        shapes = hardware.model_shapes(model)
        for rows, cols in arrays:
            ours = hardware.estimate(model, accelerator=hardware.Accelerator.single_array(rows, cols))
            with tempfile.TemporaryDirectory() as tmp:
                ref = run_scalesim(shapes, rows, cols, tmp, f"{model.name}_{rows}x{cols}")
            for s, r in zip(shapes, ref):
                mine = ours[s.name]
                theirs = int(float(r["Total Cycles"]))
                row = {"model": model.name, "array": f"{rows}x{cols}", "layer": s.name, "F": s.f, "K": s.k, "O": s.o,
                       "tiles": mine.tiles, "ours": mine.cycles, "scalesim": theirs,
                       "scalesim_stalls": int(float(r["Stall Cycles"])), "ratio": mine.cycles / theirs,
                       "psum_readback": mine.sram_psum_bytes // 8}
                for col, get, ref_col in TRAFFIC:
                    row[f"{col}_ours"], row[f"{col}_scalesim"] = int(get(mine)), int(float(r[ref_col]))
                    row[f"{col}_ratio"] = row[f"{col}_ours"] / row[f"{col}_scalesim"]
                out.append(row)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arrays", default="16x16,64x64,256x256")
    ap.add_argument("--tolerance", type=float, default=0.15)
    ap.add_argument("--csv", default=None)
    args = ap.parse_args(argv)
    arrays = [tuple(int(v) for v in a.split("x")) for a in args.arrays.split(",")]
    rows = compare(arrays)
    print("Cycles")
    print("| model | array | layer | F | K | O | tiles | ours | SCALE-Sim | ratio |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['array']} | {r['layer']} | {r['F']} | {r['K']} | {r['O']} | {r['tiles']} | "
              f"{r['ours']} | {r['scalesim']} | {r['ratio']:.4f} |")
    ratios = [r["ratio"] for r in rows]
    print(f"\n{len(rows)} layer/array pairs: ratio ours/SCALE-Sim min {min(ratios):.4f}, max {max(ratios):.4f}; "
          f"SCALE-Sim stall cycles total {sum(r['scalesim_stalls'] for r in rows)}")
    print("\nMemory traffic (elements = bytes for int8; ours / SCALE-Sim)")
    names = [c for c, _, _ in TRAFFIC]
    print("| model | array | layer | " + " | ".join(names) + " | psum read-backs (ours only) |")
    print("|---|---|---|" + "---:|" * (len(names) + 1))
    for r in rows:
        cells = [f"{r[c + '_ours']} / {r[c + '_scalesim']}" for c in names]
        print(f"| {r['model']} | {r['array']} | {r['layer']} | " + " | ".join(cells) + f" | {r['psum_readback']} |")
    print()
    for c in names:
        rs = [r[c + "_ratio"] for r in rows]
        print(f"{c}: ratio ours/SCALE-Sim min {min(rs):.4f}, max {max(rs):.4f}")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    checked = ["ratio"] + [c + "_ratio" for c in names if c.startswith("sram")]
    bad = [(r, c) for r in rows for c in checked if abs(r[c] - 1) > args.tolerance]
    for r, c in bad:
        print(f"OUT OF TOLERANCE: {r['model']} {r['array']} {r['layer']} {c}: {r[c]:.4f}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
