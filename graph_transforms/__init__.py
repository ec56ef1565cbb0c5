"""Frozen-GraphDef transforms in the style of TF's ``transform_graph``: ``tfaxdnn-transform-graph`` /
``python -m graph_transforms``. See `graph_transforms.cli`."""

from graph_transforms.errors import GraphFileError, GraphTransformError, RefusalError

__all__ = ["GraphFileError", "GraphTransformError", "RefusalError"]
