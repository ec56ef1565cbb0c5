"""The ``tfaxdnn`` command."""

from tfaxdnn.cli.main import build_parser, main

__all__ = ["main", "build_parser"]
