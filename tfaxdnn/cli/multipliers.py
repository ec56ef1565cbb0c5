"""``tfaxdnn multipliers [--signed | --unsigned] [--sort mae|power|name]``: the multiplier library as a table."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("multipliers", help="list the bundled multipliers (MAE, power, error rank, hash)",
                              description="The bundled EvoApprox8b multipliers: MAE, WCE, power, area, the rank of the "
                                          "error table T - a*w (exact, over the rationals) and table hash.")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--signed", action="store_true", help="signed (mul8s_*) circuits only")
    g.add_argument("--unsigned", action="store_true", help="unsigned (mul8u_*) circuits only")
    p.add_argument("--sort", choices=("mae", "power", "name"), default="mae", help="sort order (default mae)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from tfaxdnn import multipliers

    signed = True if args.signed else False if args.unsigned else None
    rows = [multipliers.get(n) for n in multipliers.names(signed)]
    key = {"mae": lambda m: (m.mae_percent, m.name), "name": lambda m: m.name,
           "power": lambda m: (m.power_mw if m.power_mw is not None else float("inf"), m.name)}[args.sort]
    print(f"{'name':<22s}{'signed':>7s}{'MAE %':>10s}{'WCE %':>10s}{'power mW':>10s}{'area um2':>10s}{'rank':>6s}"
          "  hash")
    for m in sorted(rows, key=key):
        power = f"{m.power_mw:10.4f}" if m.power_mw is not None else f"{'?':>10s}"
        area = f"{m.area_um2:10.1f}" if m.area_um2 is not None else f"{'?':>10s}"
        print(f"{m.name:<22s}{'yes' if m.signed else 'no':>7s}{m.mae_percent:10.4f}{m.wce_percent:10.3f}{power}{area}"
              f"{m.decomposition().rank:6d}  {m.hash}")
    print(f"{len(rows)} circuits (EvoApprox8b, PDK45 power/area at the published characterisation)")
    return 0
