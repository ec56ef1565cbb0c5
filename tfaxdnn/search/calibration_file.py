"""A search's activation ranges, kept in its output folder (``calibration.json``) and reused from there.

The ranges are the float model's layer-input extremes on the calibration images, and float convolutions round
differently on every backend and device (TensorFlow's oneDNN, XLA on a CPU or a GPU): ranges measured elsewhere differ
in the last bits, so do the 8-bit scales, and a candidate's accuracy can differ by an image. Kept in the folder, the
ranges that scored the first candidates score the rest: a search resumed on another machine, or run on a GPU from
ranges measured on a CPU (`examples/search_pack.py`), scores every candidate as one machine would.

The file records the ranges, the method, what measured them (``computed_by``) and a key: a digest of the model's
weights, the calibration images, the layers and the method. A file of another model, other images or another method
is refused (`CheckpointError`), never half-read.
"""

from __future__ import annotations

import hashlib
import json
import os

from tfaxdnn.search.checkpoint import CheckpointError, array_digest

__all__ = ["calibration_key", "cached_calibration", "write_calibration"]

FILE = "calibration.json"


def calibration_key(evaluator, method: str) -> str:
    """The digest of what ``evaluator``'s ranges for ``method`` depend on (weights, images, layers, method)."""
    return hashlib.sha256(json.dumps({"model": array_digest(*evaluator.model.get_weights()),
                                      "images": array_digest(evaluator.x_cal), "layers": list(evaluator.layers),
                                      "method": method}).encode()).hexdigest()


def write_calibration(evaluator, path: str, method: str = "minmax") -> None:
    """Writes ``evaluator``'s ranges for ``method`` (measured now if not yet) to ``path``."""
    from tfaxdnn.ops import backend

    with open(path, "w") as f:
        json.dump({"key": calibration_key(evaluator, method), "computed_by": backend.device(),
                   **evaluator.calibration(method).to_dict()}, f, indent=1)


def cached_calibration(evaluator, path: str, method: str = "minmax") -> bool:
    """``evaluator`` takes its ``method`` ranges from ``path`` when the file exists (True; `CheckpointError` when it
    belongs to another model, other images or another method); else measures them and writes the file (False)."""
    from tfaxdnn.rewrite.keras_model import Calibration

    if not os.path.isfile(path):
        write_calibration(evaluator, path, method)
        return False
    with open(path) as f:
        held = json.load(f)
    if held.get("key") != calibration_key(evaluator, method) or held.get("method") != method:
        raise CheckpointError(f"{path} holds the activation ranges of another model (other weights), other "
                              "calibration images or another method: it belongs to a search with other settings. "
                              "Resume with the same model, data and settings, or use another folder (or delete the "
                              "file).")
    evaluator.use_calibration(Calibration.from_dict(held, evaluator.x_cal))
    return True
