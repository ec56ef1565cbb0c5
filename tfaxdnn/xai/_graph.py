"""Model introspection for XAI: framework (Keras 3 or tf_keras), layer selection, residual blocks, tap models."""

from __future__ import annotations

import difflib
from typing import Dict, List, Optional, Sequence, Tuple

import keras

from tfaxdnn.core import kinds


def _tf_keras():
    try:
        import tf_keras  # never TensorFlow's keras alias: tfmot flips it process-wide
    except ImportError:  # pragma: no cover - tf_keras is in requirements
        return None
    return tf_keras


def framework(model):
    """The Keras module (``keras`` or ``tf_keras``) that ``model`` belongs to; ``ValueError`` otherwise."""
    if isinstance(model, keras.Model):
        return keras
    if type(model).__module__.startswith("tf_keras"):
        tfk = _tf_keras()
        if tfk is not None and isinstance(model, tfk.Model):
            return tfk
    raise ValueError(f"`model` must be a Keras 3 or tf_keras Model. Received: model of type {type(model).__name__}")


def is_neuron_layer(layer) -> bool:
    """An approximable kind (Conv2D, DepthwiseConv2D or Dense, a subclass, or a tfmot wrapper around one)."""
    return kinds.kind_of(layer) is not None


def _node_operation(node):
    """The layer (Keras 3 operation) a node is a call of."""
    op = getattr(node, "operation", None)
    return op if op is not None else getattr(node, "layer", None)


def graph_nodes(model) -> List:
    """The nodes (layer calls) of ``model``'s own graph, from its outputs back to its inputs.

    A layer's ``_inbound_nodes`` may hold calls outside this graph: Keras rebuilds a Sequential model loaded from
    ``.keras`` more than once, so each layer of it has several calls, and ``layer.output`` (the first call) is not
    connected to ``model.outputs``. Walking back from ``model.outputs`` finds the calls the model really runs.
    """
    _, outputs = model_io(model)
    seen, nodes, stack = set(), [], []
    for t in outputs:
        op, index = t._keras_history[0], t._keras_history[1]
        stack.append(op._inbound_nodes[index])
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        stack.extend(node.parent_nodes)
    return nodes


def _node_outputs(node) -> list:
    import tensorflow as tf

    return tf.nest.flatten(node.outputs)


def _consumers(layer, nodes=None) -> List:
    """Layers that take ``layer``'s output: within ``nodes`` (a model's `graph_nodes`) when given."""
    if nodes is None:
        nodes = [n for n in getattr(layer, "_outbound_nodes", []) or []]
        return [op for op in map(_node_operation, nodes) if op is not None]
    out = []
    for node in nodes:
        if any(_node_operation(p) is layer for p in node.parent_nodes) and _node_operation(node) is not None:
            out.append(_node_operation(node))
    return out


def detect_blocks(model) -> Dict[str, str]:
    """Residual blocks: ``{block_name: output_layer_name}``, one per ``Add`` layer, in model order.

    The block output is the ``Add`` itself, or the activation layer that is its only consumer (``..._out`` in
    ``tfaxdnn.models.resnet``). The block name drops a trailing ``_out``/``_add`` from the output layer's name.
    """
    k = framework(model)
    acts = tuple(c for c in (getattr(k.layers, n, None) for n in ("ReLU", "Activation", "LeakyReLU", "ELU"))
                 if c is not None)
    try:
        nodes = graph_nodes(model)
    except ValueError:  # no defined outputs: every call of the layer
        nodes = None
    blocks = {}
    for layer in model.layers:
        if not isinstance(layer, k.layers.Add):
            continue
        out = layer
        cons = _consumers(layer, nodes)
        if len(cons) == 1 and isinstance(cons[0], acts):
            out = cons[0]
        name = out.name
        for suffix in ("_out", "_add"):
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                break
        blocks[name] = out.name
    return blocks


def _unknown(kind: str, name, valid: Sequence[str]) -> ValueError:
    close = difflib.get_close_matches(str(name), list(valid), n=len(valid), cutoff=0.0)
    return ValueError(f"Unknown {kind} {name!r}; valid names (closest first): {close}")


def select_layers(model, layers=None, blocks: Optional[Dict[str, str]] = None) -> List[str]:
    """Names of the layers to attribute to, in model (topological) order.

    Default: every Conv2D, DepthwiseConv2D and Dense layer plus residual-block outputs (``detect_blocks``, or the
    outputs of ``blocks``). ``layers`` may hold names or layer objects.
    """
    k = framework(model)
    names = [l.name for l in model.layers]
    if layers is None:
        block_outs = set((blocks if blocks is not None else detect_blocks(model)).values())
        chosen = {l.name for l in model.layers if is_neuron_layer(l) or l.name in block_outs}
    else:
        if isinstance(layers, (str, bytes)) or not isinstance(layers, (list, tuple, set)):
            layers = [layers]
        chosen = set()
        for item in layers:
            name = item if isinstance(item, str) else getattr(item, "name", item)
            if name not in names:
                raise _unknown("layer", name, names)
            chosen.add(name)
        if not chosen:
            raise ValueError("`layers` is empty; pass None for the default selection or at least one layer name.")
    selected = [n for n in names if n in chosen]
    if not selected:
        raise ValueError(f"Model '{model.name}' has no Conv2D, DepthwiseConv2D, Dense or residual-block layer; "
                         f"pass `layers=` with some of {names}")
    return selected


def model_io(model) -> Tuple[list, list]:
    """``(inputs, outputs)`` symbolic tensors; ``ValueError`` for unbuilt or multi-input/-output models."""
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError) as exc:
        raise ValueError(f"Model '{model.name}' has no defined inputs/outputs; build it with an Input first "
                         f"(Received error: {exc})") from exc
    if not inputs or not outputs:
        raise ValueError(f"Model '{model.name}' has no defined inputs/outputs; build it with an Input first.")
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"Model '{model.name}' must have one input and one output; "
                         f"got {len(inputs)} inputs and {len(outputs)} outputs.")
    return inputs, outputs


def tap_model(model, layer_names: Sequence[str]):
    """A model with the same input returning ``[y_1, ..., y_L, logits]`` (the selected layers' outputs, then F).

    Run inside a ``GradientTape``, the intermediate outputs are tensors of the one forward pass, so
    ``tape.gradient(F, [y_1, ...])`` gives every layer's ``dF/dy`` (total derivative) in one backward pass.
    """
    k = framework(model)
    inputs, outputs = model_io(model)
    nodes = graph_nodes(model)
    taps = []
    for name in layer_names:
        layer = model.get_layer(name)
        calls = [n for n in nodes if _node_operation(n) is layer]
        if len(calls) != 1:
            raise ValueError(f"Layer '{name}' ({type(layer).__name__}) is called {len(calls)} times in the graph of "
                             f"model '{model.name}'; conductance needs a layer called exactly once (shared layers "
                             "have no single output).")
        outs = _node_outputs(calls[0])
        if len(outs) != 1:
            raise ValueError(f"Layer '{name}' ({type(layer).__name__}) has {len(outs)} output tensors; conductance "
                             "needs a layer with a single output.")
        taps.append(outs[0])
    return k.Model(inputs, taps + outputs, name=f"{model.name}_conductance_taps")
