"""Frozen-GraphDef transforms in the style of TF's ``transform_graph``: ``tfaxdnn-transform-graph`` or
``tfaxdnn transform-graph`` (`tfaxdnn.cli.transform_graph`)."""

from tfaxdnn.graphs.errors import GraphFileError, GraphTransformError, RefusalError

__all__ = ["GraphFileError", "GraphTransformError", "RefusalError"]
