"""What the verbs of the ``tfaxdnn`` command share: loading models, plans and data files; the argument groups every verb
that needs them adds the same way (so one flag means one thing everywhere); readable errors.

A verb module (``tfaxdnn/cli/<verb>.py``) has ``add_parser(subparsers)``, which adds its sub-command and sets
``func=run`` on it, and ``run(args)``, which returns the exit code. Problems the user can fix are raised as
`CommandError` (``raise fail(...)``, or inside ``with reported(...)``): ``error: <message>``, exit code 2 through
`tfaxdnn.cli.main`; errors of the settings a verb builds from its flags name the flags (``with flag_errors(args,
Config)``, `CONFIG_FLAGS`). A long verb stopped with Ctrl-C returns `interrupted`'s exit code 130 after one line
saying what is left (`command_line`: the command to rerun).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import shlex
import sys
import zipfile
from typing import Optional, Sequence, Tuple

__all__ = ["CommandError", "fail", "reported", "flag_errors", "flag_names", "interrupted", "command_line",
           "load_model", "load_plan", "load_dataset", "load_data", "load_validation", "warn_input_range",
           "accelerator", "report_line", "model_arg", "data_args", "split_args", "hardware_args", "search_args",
           "seed_arg", "quiet_arg", "selection_args", "confidence_value", "choices_of", "DATA_HELP", "ACCELERATORS",
           "KEYS", "CONFIG_FLAGS", "ATTACK_FLAGS", "INTERRUPTED"]

#: the default help of ``--data``
DATA_HELP = "npz with x_train, y_train, x_test, y_test (x_train: calibration; x_test/y_test: evaluation)"
#: ``--accelerator`` choices
ACCELERATORS = ("paper", "tpu")
#: the arrays of a data file, and what the verbs use them for (a verb reads, and requires, only those it uses)
KEYS = {"x_train": "calibration images", "y_train": "training labels", "x_test": "evaluation images",
        "y_test": "evaluation labels"}
#: the setting (`tfaxdnn.search.NASConfig`, `XAIGenConfig` field) -> the flag that sets it, where the two differ
#: beyond ``_`` -> ``-``: errors raised while building the settings name the flag (`flag_errors`)
CONFIG_FLAGS = {"pop_size": "--pop", "n_offsprings": "--offsprings", "n_seeds": "--seeds",
                "skip_aware": "--plain-operators", "sequential": "--no-sequential"}
#: the same for the robustness attack's settings (`AttackConfig`), whose field names are common words: applied to
#: its own errors only
ATTACK_FLAGS = {"method": "--attack", "epsilon": "--epsilon", "steps": "--attack-steps",
                "samples": "--attack-samples"}
#: exit code of a verb stopped by Ctrl-C (128 + SIGINT, as shells report it)
INTERRUPTED = 130


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


def flag_names(message: str, args, settings, flags: Optional[dict] = None) -> str:
    """``message`` with the fields of the dataclass ``settings`` (with or without backticks) written as the flags of
    ``args`` that set them: ``flags`` (default `CONFIG_FLAGS`) names those that are not ``--<field, - for _>``; a
    field no flag of ``args`` sets keeps its name."""
    table = {}
    for field in dataclasses.fields(settings):
        flag = (CONFIG_FLAGS if flags is None else flags).get(field.name, "--" + field.name.replace("_", "-"))
        if hasattr(args, flag[2:].replace("-", "_")):
            table[field.name] = flag
    if not table:
        return message
    names = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
    return re.sub(rf"`?(?<![\w-])({names})(?![\w-])`?", lambda m: table[m.group(1)], message)


@contextlib.contextmanager
def flag_errors(args, settings, flags: Optional[dict] = None):
    """Like `reported` (ValueError, KeyError, TypeError), for the block that builds the dataclass ``settings`` from
    ``args``: the message names the flags instead of the fields (`flag_names`)."""
    try:
        yield
    except (ValueError, KeyError, TypeError) as exc:
        raise fail(flag_names(str(exc), args, settings, flags)) from None


def command_line(args, *extra: str) -> Optional[str]:
    """The ``tfaxdnn`` command that ran, shell-quoted, with the flags ``extra`` it lacks appended; None when it is not
    known (the verb's ``run`` called without `tfaxdnn.cli.main`)."""
    argv = getattr(args, "cli_argv", None)
    if argv is None:
        return None
    return shlex.join(["tfaxdnn", *argv, *(e for e in extra if e not in argv)])


def interrupted(message: str, newline: bool = False) -> int:
    """Prints ``interrupted: <message>`` (one line; after a line break when ``newline``, e.g. below a progress bar)
    to stderr; returns `INTERRUPTED`."""
    print(f"{chr(10) if newline else ''}interrupted: {message}", file=sys.stderr)
    return INTERRUPTED


# -- loading --------------------------------------------------------------------------------------------------------
def load_model(path: str):
    """The Keras 3 model saved at ``path`` (approximate layers registered), uncompiled."""
    import keras

    import tfaxdnn.layers  # noqa: F401  (registers the approximate layers for loading)

    if os.path.isdir(path):
        raise fail(f"model path '{path}' is a folder: pass the Keras 3 model file (.keras, written by "
                   "model.save('m.keras'))")
    if not os.path.isfile(path):
        raise fail(f"model file not found: {path}")
    if path.endswith(".keras"):  # Keras itself reports a damaged archive as "File not found"
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise fail(f"model file '{path}' exists but cannot be read: it is not a complete .keras (zip) archive "
                       f"({exc}; truncated or damaged?): save or copy the model again") from None
        if "config.json" not in names:
            raise fail(f"model file '{path}' exists but cannot be read: the zip archive holds no Keras model "
                       f"(no config.json among {sorted(names)[:5]}): pass a file written by model.save('m.keras')")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001  (any load failure becomes a readable CLI error)
        raise fail(f"cannot load Keras model '{path}' (the file exists but Keras cannot read it): {exc}") from None


def load_plan(path: Optional[str]):
    """The `tfaxdnn.plan.Plan` in the JSON file ``path`` (None: None)."""
    from tfaxdnn.plan import as_plan

    if path is None:
        return None
    try:
        return as_plan(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise fail(f"cannot use plan '{path}': {exc}") from None


def _prepared(x, model, scale: Optional[float], name: str):
    """``x`` prepared for ``model``'s input (`tfaxdnn.data.prepare_images`); an explicit ``--scale`` that divides
    data already in [-1, 1] (a float image set, binary images) down to at most 1/255 is refused."""
    import numpy as np

    from tfaxdnn.data.loaders import prepare_images

    out = prepare_images(x, model.input_shape, name, scale)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if scale is not None and scale > 1 and 0 < peak <= 1.0001 / 255:
        lo, hi = float(np.min(x)), float(np.max(x))
        raise ValueError(f"--scale {scale:g} divides {name}, whose values already lie in [{lo:.4g}, {hi:.4g}], down "
                         f"to [{lo / scale:.3g}, {hi / scale:.3g}], a sliver of any trained input range: leave out "
                         "--scale (integer pixels are then divided by 255, float data used as it is) or pass "
                         "--scale 1.")
    return out


def load_dataset(path: str, model, scale: Optional[float] = None, *, need: Sequence[str] = tuple(KEYS),
                 what: str = "") -> tuple:
    """``((x_train, y_train), (x_test, y_test))`` of the npz data file ``path``, images prepared for ``model``'s input
    (divided by ``scale``: default 255 for integer pixels, 1 for float data and integers in [0, 1]). Only the arrays
    ``need`` are read (and required); the others are None. ``what`` prefixes the split names in messages."""
    from tfaxdnn.data.loaders import load_npz

    with reported(ValueError, FileNotFoundError, KeyError):
        (x_train, y_train), (x_test, y_test) = load_npz(path, need, KEYS, f"{what}dataset".capitalize())
        return ((None if x_train is None else _prepared(x_train, model, scale, f"{what}x_train"), y_train),
                (None if x_test is None else _prepared(x_test, model, scale, f"{what}x_test"), y_test))


def load_data(args, model, calibration: bool = True) -> tuple:
    """``(x_cal, (x_test, y_test))`` of ``--data`` (``--scale``) prepared for ``model``'s input (``x_cal`` None
    unless ``calibration``)."""
    (x_cal, _), test = load_dataset(args.data, model, args.scale,
                                    need=("x_train",) * calibration + ("x_test", "y_test"))
    return x_cal, test


def load_validation(args, model) -> Optional[Tuple]:
    """``(x, y)``: the x_test/y_test of ``--val-data`` (``--scale``) prepared for ``model``, or None without it."""
    if not getattr(args, "val_data", None):
        return None
    _, val = load_dataset(args.val_data, model, args.scale, need=("x_test", "y_test"), what="validation ")
    return val


def warn_input_range(model, x, args, what: str = "x_test") -> None:
    """Prints ``warning: ...`` to stderr when ``x`` (from ``--data``) misses the input range the approximate
    ``model`` was calibrated on (`tfaxdnn.core.evaluation.input_range_problem`), naming ``--scale``."""
    from tfaxdnn.core.evaluation import input_range_problem

    problem = input_range_problem(model, x)
    if problem:
        scaling = (f"--scale {args.scale:g} divided them" if args.scale is not None else
                   "without --scale, integer pixels were divided by 255 and float data used as it is")
        print(f"warning: {what} of {args.data}: {problem} ({scaling}); check --scale.", file=sys.stderr)


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
                   help="divide pixels by this (default: 255 for integer pixels, 1 for float data and for integers "
                        "already in [0, 1])")
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
                   help="accuracy constraint Q_c below the float baseline (default 0.02): the upper --confidence "
                        "bound of a candidate's paired drop on the validation images must not exceed it")
    g.add_argument("--weight-mapping", choices=("none", "uniform", "data"), default="uniform",
                   help="offline weight mapping of approximated layers (default uniform, ALWANN)")
    g.add_argument("--energy-accounting", choices=("system", "compute", "multiplier"), default="system",
                   help="energy the search minimises: whole accelerator, MAC array or multipliers (all three are "
                        "reported)")
    g.add_argument("--importance-samples", type=int, default=200, help="images for conductance (default 200)")
    g.add_argument("--explain-images", type=int, default=4, help=explain_help)


def confidence_value(text: str):
    """``--confidence``: a number in [0.5, 1), or ``none`` (the point estimate)."""
    if str(text).strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid confidence: {text!r} (a number in [0.5, 1), or 'none')") from None
    if not 0.5 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"invalid confidence: {text!r} (a number in [0.5, 1), or 'none')")
    return value


def selection_args(p, *, confirmation_help: str, sequential: bool = True, fraction: float = 0.25) -> None:
    """How a search enforces its accuracy budget: ``--confidence`` of the paired drop bound,
    ``--confirmation-fraction`` and (``sequential``) ``--no-sequential``."""
    g = p.add_argument_group("sound selection")
    g.add_argument("--confidence", type=confidence_value, default=0.95,
                   help="one-sided confidence of the upper bound of a candidate's paired accuracy drop that the "
                        "budget constrains (default 0.95; 'none': the point estimate)")
    g.add_argument("--confirmation-fraction", type=float, default=fraction, help=confirmation_help)
    if sequential:
        g.add_argument("--no-sequential", dest="sequential", action="store_false",
                       help="score every candidate on every validation image (default: stop as soon as one provably "
                            "breaks the budget)")


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
