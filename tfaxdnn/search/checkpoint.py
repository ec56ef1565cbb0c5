"""Search checkpoints: one file, written atomically after every generation, refused when damaged.

File layout: a line of JSON (format, SHA-256 and length of the payload, the run's settings fingerprint), then the
pickled payload. Loading checks the magic, the length and the hash before unpickling, so a truncated or altered
file raises `CheckpointError` (never a silent restart).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from typing import Any, Optional

import numpy as np

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "saved_fingerprint", "array_digest"]

FORMAT = "tfaxdnn-nas-checkpoint/1"

#: modules of earlier layouts whose classes a checkpoint may name -> where those classes live now. Classes of the
#: old single-module ``tfaxdnn.search.nas`` (`XAINASProblem`, ...) need no entry: that name is now the package,
#: which re-exports them. Checkpoints written since name the classes' real modules (``tfaxdnn.search.nas.problem``).
MOVED_MODULES = {"tfaxdnn.search.nas_genome": "tfaxdnn.search.nas.genome",
                 "tfaxdnn.search.nas_operators": "tfaxdnn.search.nas.operators",
                 "tfaxdnn.search.nas_robustness": "tfaxdnn.search.nas.robustness"}


class _Unpickler(pickle.Unpickler):
    """Finds the classes of checkpoints written before the package was reorganised at their new home."""

    def find_class(self, module, name):
        return super().find_class(MOVED_MODULES.get(module, module), name)


class CheckpointError(RuntimeError):
    """A checkpoint (or a cache kept next to it) is missing, damaged or belongs to a run with other settings."""


def array_digest(*arrays) -> str:
    """SHA-256 of the dtypes, shapes and bytes of ``arrays`` (a model's weights, a split's images): what a settings
    fingerprint records of them."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_checkpoint(path: str, state: Any, fingerprint: str) -> None:
    """Pickle ``state`` to ``path`` (temporary file + ``os.replace``: a kill never leaves a half-written file)."""
    payload = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    header = {"format": FORMAT, "sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload),
              "fingerprint": fingerprint}
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(json.dumps(header).encode() + b"\n")
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def saved_fingerprint(path: str) -> Optional[str]:
    """The settings fingerprint in the header of the checkpoint at ``path`` (None when it has no readable header;
    `load_checkpoint` then says what is wrong)."""
    try:
        with open(path, "rb") as f:
            header = json.loads(f.readline())
        return header.get("fingerprint") if header.get("format") == FORMAT else None
    except (OSError, ValueError, AttributeError):
        return None


def load_checkpoint(path: str, fingerprint: Optional[str] = None) -> Any:
    """The state saved by `save_checkpoint`; ``fingerprint`` (if given) must match the saved run's settings."""
    if not os.path.isfile(path):
        raise CheckpointError(f"No checkpoint to resume from: {path} does not exist (run without --resume to "
                              "start a new search).")
    with open(path, "rb") as f:
        first = f.readline()
        payload = f.read()
    try:
        header = json.loads(first)
        ok = header.get("format") == FORMAT
    except (ValueError, AttributeError):
        ok = False
    if not ok:
        raise CheckpointError(f"Checkpoint {path} is corrupted or not a tfaxdnn NAS checkpoint (bad header). "
                              "Refusing to resume; delete it (and the output folder) to start over.")
    if len(payload) != header["bytes"] or hashlib.sha256(payload).hexdigest() != header["sha256"]:
        raise CheckpointError(f"Checkpoint {path} is corrupted: payload of {len(payload)} bytes does not match its "
                              f"recorded length {header['bytes']} / SHA-256. Refusing to resume; delete it to start "
                              "over.")
    if fingerprint is not None and header["fingerprint"] != fingerprint:
        raise CheckpointError(f"Checkpoint {path} belongs to a search with other settings (fingerprint "
                              f"{header['fingerprint'][:12]} vs {fingerprint[:12]} now). Resume with the same model, "
                              "data and settings, or use another --out.")
    try:
        return _Unpickler(io.BytesIO(payload)).load()
    except Exception as exc:  # noqa: BLE001  (hash matched but an import changed: still a refusal with a reason)
        raise CheckpointError(f"Checkpoint {path} cannot be unpickled: {exc}") from None
