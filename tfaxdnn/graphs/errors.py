"""Errors raised by tfaxdnn.graphs (all subclasses of ValueError so callers can catch one type)."""


class GraphTransformError(ValueError):
    """A transform cannot be applied (bad arguments, bad plan, unsupported graph)."""


class GraphFileError(GraphTransformError):
    """A graph file is missing, unreadable or not a GraphDef."""


class RefusalError(GraphTransformError):
    """A node cannot be rewritten; the message names the node and its op."""


def describe(node) -> str:
    """``node 'conv1/Conv2D' (QuantizedConv2D)``."""
    return f"node '{node.name}' ({node.op})"
