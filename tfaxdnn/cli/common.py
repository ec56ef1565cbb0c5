"""What the verbs of the ``tfaxdnn`` command share: loading models, plans and data files; the argument groups every verb
that needs them adds the same way (so one flag means one thing everywhere); readable errors.

A verb module (``tfaxdnn/cli/<verb>.py``) has ``add_parser(subparsers)``, which adds its sub-command and sets
``func=run`` on it, and ``run(args)``, which returns the exit code. Problems the user can fix are raised as
`CommandError` (``raise fail(...)``, or inside ``with reported(...)``): ``error: <message>``, exit code 2 through
`tfaxdnn.cli.main`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import Optional, Tuple

__all__ = ["CommandError", "fail", "reported", "load_model", "load_plan", "load_dataset", "load_data",
           "load_validation", "accelerator", "report_line", "model_arg", "data_args", "split_args", "hardware_args",
           "search_args", "seed_arg", "quiet_arg", "choices_of", "DATA_HELP", "ACCELERATORS"]

#: the default help of ``--data``
DATA_HELP = "npz with x_train, y_train, x_test, y_test (x_train: calibration; x_test/y_test: evaluation)"
#: ``--accelerator`` choices
ACCELERATORS = ("paper", "tpu")


# -- errors ---------------------------------------------------------------------------------------------------------
class CommandError(SystemExit):
    """A problem the user can fix (missing file, bad value): ``str(exc)`` is ``error: <message>``. Raised out of
    `tfaxdnn.cli.main` it is printed to stderr and exits with code 2; raised elsewhere (a verb's ``run`` called
    directly) Python prints it and exits with code 1."""

    def __init__(self, message):
        super().__init__(f"error: {message}")


def fail(message) -> CommandError:
    """``raise fail(exc) from None``: the exception (or text) as a `CommandError`."""
    return CommandError(message)


@contextlib.contextmanager
def reported(*types):
    """Turns the given exception types (default: ValueError, KeyError, TypeError, FileNotFoundError) raised in the
    block into a `CommandError` carrying their message."""
    try:
        yield
    except (types or (ValueError, KeyError, TypeError, FileNotFoundError)) as exc:
        raise fail(exc) from None


# -- loading --------------------------------------------------------------------------------------------------------
def load_model(path: str):
    """The Keras 3 model saved at ``path`` (approximate layers registered), uncompiled."""
    import keras

    import tfaxdnn.layers  # noqa: F401  (registers the approximate layers for loading)

    if not os.path.isfile(path):
        raise fail(f"model file not found: {path}")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001  (any load failure becomes a readable CLI error)
        raise fail(f"cannot load Keras model '{path}': {exc}") from None


def load_plan(path: Optional[str]):
    """The `tfaxdnn.plan.Plan` in the JSON file ``path`` (None: None)."""
    from tfaxdnn.plan import as_plan

    if path is None:
        return None
    try:
        return as_plan(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise fail(f"cannot use plan '{path}': {exc}") from None


def load_dataset(path: str, model, scale: Optional[float] = None, *, train: bool = True, what: str = "") -> tuple:
    """``((x_train, y_train), (x_test, y_test))`` of the npz data file ``path``, images prepared for ``model``'s input
    (divided by ``scale``: default 255 for integer pixels, 1 for float data); ``x_train`` is None when not ``train``.
    ``what`` prefixes the split names in messages."""
    from tfaxdnn.data.loaders import load_npz, prepare_images

    with reported(ValueError, FileNotFoundError, KeyError):
        (x_train, y_train), (x_test, y_test) = load_npz(path)
        if train:
            x_train = prepare_images(x_train, model.input_shape, f"{what}x_train", scale)
        x_test = prepare_images(x_test, model.input_shape, f"{what}x_test", scale)
    return (x_train if train else None, y_train), (x_test, y_test)


def load_data(args, model) -> tuple:
    """``(x_cal, (x_test, y_test))`` of ``--data`` (``--scale``) prepared for ``model``'s input."""
    (x_cal, _), test = load_dataset(args.data, model, args.scale)
    return x_cal, test


def load_validation(args, model) -> Optional[Tuple]:
    """``(x, y)``: the x_test/y_test of ``--val-data`` (``--scale``) prepared for ``model``, or None without it."""
    if not getattr(args, "val_data", None):
        return None
    _, val = load_dataset(args.val_data, model, args.scale, train=False, what="validation ")
    return val


def accelerator(name: str):
    """The `tfaxdnn.hardware.Accelerator` of an ``--accelerator`` choice."""
    from tfaxdnn.hardware import Accelerator

    return {"paper": Accelerator.paper, "tpu": Accelerator.tpu_v4_like}[name]()


def report_line(report) -> str:
    """One line of a `tfaxdnn.hardware` report: energy per batch, latency, memory."""
    return (f"energy {report.energy_j:.4g} J per batch of {report.batch_size} ({report.relative_energy:.3f} x "
            f"all-exact, system accounting), latency {report.latency_s * 1e3:.4g} ms, memory "
            f"{report.memory_bytes / 1024:.1f} KiB")


# -- argument groups ------------------------------------------------------------------------------------------------
def model_arg(p, help: str = "trained Keras 3 model (.keras)") -> None:
    p.add_argument("--model", required=True, help=help)


def data_args(p, *, help: str = DATA_HELP, calibration: bool = True) -> None:
    """``--data``, ``--scale`` and (``calibration``) ``--calibration-samples``."""
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True, help=help)
    g.add_argument("--scale", type=float, default=None,
                   help="divide pixels by this (default: 255 for integer pixels, 1 for float data)")
    if calibration:
        g.add_argument("--calibration-samples", type=int, default=500, help="calibration images used (default 500)")


def split_args(p, *, fraction: float = 0.5, val_data: bool = True,
               samples_help: str = "x_test images used (default: all)") -> None:
    """How a search splits its evaluation images: ``--validation-fraction`` of x_test is selected on, the rest
    reports the result; with ``--val-data``, that file's x_test is selected on and all of ``--data``'s x_test
    reports. ``--evaluation-samples`` caps the images."""
    g = p.add_argument_group("validation split")
    if val_data:
        g.add_argument("--val-data", default=None, help="npz whose x_test/y_test is the validation split (then all "
                                                        "of --data's x_test reports the result)")
    g.add_argument("--validation-fraction", type=float, default=fraction,
                   help=f"share of x_test the search selects on; the rest reports the result (default {fraction})")
    g.add_argument("--evaluation-samples", type=int, default=None, help=samples_help)


def hardware_args(p) -> None:
    """``--accelerator`` and ``--batch-size`` of the energy figures."""
    g = p.add_argument_group("hardware model")
    g.add_argument("--accelerator", choices=ACCELERATORS, default="paper",
                   help="accelerator model (default: the XAI-Gen paper's multi-pod array)")
    g.add_argument("--batch-size", type=int, default=1, help="inference batch size of the energy figures")


def search_args(p, *, explain_help: str) -> None:
    """What the XAI searches (xaigen, nas) share: multipliers, accuracy constraint, weight mapping, energy accounting,
    conductance images, explanation images."""
    from tfaxdnn.multipliers import PAPER_MULTIPLIERS

    g = p.add_argument_group("search")
    g.add_argument("--multipliers", default=",".join(PAPER_MULTIPLIERS),
                   help="comma-separated multipliers (default: the paper's seven signed ones)")
    g.add_argument("--max-accuracy-drop", type=float, default=0.02,
                   help="accuracy constraint Q_c below the float baseline (default 0.02)")
    g.add_argument("--weight-mapping", choices=("none", "uniform", "data"), default="uniform",
                   help="offline weight mapping of approximated layers (default uniform, ALWANN)")
    g.add_argument("--energy-accounting", choices=("system", "compute", "multiplier"), default="system",
                   help="energy the search minimises: whole accelerator, MAC array or multipliers (all three are "
                        "reported)")
    g.add_argument("--importance-samples", type=int, default=200, help="images for conductance (default 200)")
    g.add_argument("--explain-images", type=int, default=4, help=explain_help)


def seed_arg(p, help: str = "sampling and split seed (default 0)") -> None:
    p.add_argument("--seed", type=int, default=0, help=help)


def quiet_arg(p, help: str = "no progress bars or summary") -> None:
    p.add_argument("--quiet", action="store_true", help=help)


def choices_of(name: str, load):
    """An argparse ``type`` accepting the names ``load()`` returns, imported only when the flag is given (keeps
    ``tfaxdnn --help`` from importing Keras); rejects others like ``choices=`` does."""
    def check(value: str) -> str:
        allowed = tuple(load())
        if value not in allowed:
            raise argparse.ArgumentTypeError(f"invalid choice: {value!r} (choose from "
                                             f"{', '.join(map(repr, allowed))})")
        return value
    check.__name__ = name
    return check
