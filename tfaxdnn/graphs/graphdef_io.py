"""Reading and writing frozen GraphDefs (binary ``.pb`` or text ``.pbtxt``) with clear errors."""

from __future__ import annotations

import os

from google.protobuf import message, text_format
from tensorflow.core.framework import graph_pb2

from tfaxdnn.graphs.errors import GraphFileError

TEXT_SUFFIXES = (".pbtxt", ".txt", ".pbtext", ".prototxt")


def is_text_path(path: str) -> bool:
    return os.fspath(path).lower().endswith(TEXT_SUFFIXES)


def _check(graph_def: graph_pb2.GraphDef, path: str) -> graph_pb2.GraphDef:
    if not graph_def.node:
        raise GraphFileError(f"'{path}' holds no graph nodes: is it a frozen GraphDef?")
    for i, node in enumerate(graph_def.node):
        if not node.name or not node.op:
            raise GraphFileError(f"'{path}' is not a valid GraphDef: node #{i} has no name or op (corrupted file?).")
    return graph_def


def parse_graph_def(data: bytes, path: str = "<bytes>", text=None) -> graph_pb2.GraphDef:
    """A GraphDef from serialized bytes; ``text`` None tries binary, then text format."""
    if not data:
        raise GraphFileError(f"'{path}' is empty.")
    errors = []
    if text in (None, False):
        gd = graph_pb2.GraphDef()
        try:
            gd.ParseFromString(data)
            if gd.node and all(n.name and n.op for n in gd.node):
                return _check(gd, path)
            errors.append("binary: parsed but holds no valid nodes")
        except (message.DecodeError, RuntimeWarning, ValueError) as exc:
            errors.append(f"binary: {exc}")
    if text in (None, True):
        gd = graph_pb2.GraphDef()
        try:
            text_format.Parse(data.decode("utf-8"), gd)
            return _check(gd, path)
        except (text_format.ParseError, UnicodeDecodeError) as exc:
            errors.append(f"text: {str(exc).splitlines()[0][:200]}")
    raise GraphFileError(f"Cannot read '{path}' as a TensorFlow GraphDef (binary .pb or text .pbtxt); the file is "
                         f"corrupted or of another kind ({'; '.join(errors)}).")


def load_graph_def(path) -> graph_pb2.GraphDef:
    """Reads a frozen GraphDef; text format for ``.pbtxt``/``.txt`` names, otherwise detected."""
    path = os.fspath(path)
    if os.path.isdir(path):
        hint = " (a SavedModel: freeze it first, see docs/tfaxdnn.graphs.md)" if os.path.exists(
            os.path.join(path, "saved_model.pb")) else ""
        raise GraphFileError(f"--in_graph '{path}' is a directory{hint}; expected a frozen GraphDef file.")
    if not os.path.isfile(path):
        raise GraphFileError(f"--in_graph '{path}' does not exist.")
    with open(path, "rb") as f:
        data = f.read()
    return parse_graph_def(data, path, text=True if is_text_path(path) else None)


def save_graph_def(graph_def: graph_pb2.GraphDef, path, text=None) -> None:
    """Writes ``graph_def``; text format when ``text`` or (``text`` None and) the name ends in ``.pbtxt``/``.txt``."""
    path = os.fspath(path)
    text = is_text_path(path) if text is None else text
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise GraphFileError(f"--out_graph '{path}': directory '{parent}' does not exist.")
    if text:
        with open(path, "w") as f:
            f.write(text_format.MessageToString(graph_def))
    else:
        with open(path, "wb") as f:
            f.write(graph_def.SerializeToString())
