"""The package's error vocabulary: one exception type and one phrasing for names that are not known."""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["UnknownNameError", "did_you_mean", "unknown_name"]


class UnknownNameError(KeyError, ValueError):
    """A name (multiplier, layer, node, plan key, ...) that is not among the valid ones.

    Subclasses both `KeyError` (a lookup failed) and `ValueError` (a bad argument), so either ``except`` works; its
    message prints as plain text (not quoted like a bare `KeyError`).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def did_you_mean(name, choices: Iterable) -> str:
    """``" Did you mean: 'a', 'b'?"`` (closest first) or an empty string."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=3, cutoff=0.4)
    return f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""


def unknown_name(what: str, name, choices, hint: str = "") -> UnknownNameError:
    """``Unknown <what> 'name'. Did you mean ...? <hint>`` as an `UnknownNameError` (to raise)."""
    choices = list(choices)
    listing = f" Valid choices: {choices}." if len(choices) <= 20 else f" ({len(choices)} valid choices.)"
    return UnknownNameError(f"Unknown {what} {name!r}.{did_you_mean(name, choices)}"
                            f"{listing if not hint else ''}{' ' + hint if hint else ''}")
