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


def _consumers(layer) -> List:
    out = []
    for node in getattr(layer, "_outbound_nodes", []) or []:
        op = getattr(node, "operation", None) or getattr(node, "layer", None) or getattr(node, "outbound_layer", None)
        if op is not None:
            out.append(op)
    return out


def detect_blocks(model) -> Dict[str, str]:
    """Residual blocks: ``{block_name: output_layer_name}``, one per ``Add`` layer, in model order.

    The block output is the ``Add`` itself, or the activation layer that is its only consumer (``..._out`` in
    ``tfaxdnn.models.resnet``). The block name drops a trailing ``_out``/``_add`` from the output layer's name.
    """
    k = framework(model)
    acts = tuple(c for c in (getattr(k.layers, n, None) for n in ("ReLU", "Activation", "LeakyReLU", "ELU"))
                 if c is not None)
    blocks = {}
    for layer in model.layers:
        if not isinstance(layer, k.layers.Add):
            continue
        out = layer
        cons = _consumers(layer)
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
    taps = []
    for name in layer_names:
        layer = model.get_layer(name)
        try:
            taps.append(layer.output)
        except (AttributeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"Layer '{name}' ({type(layer).__name__}) has no single output tensor "
                             f"(shared layer or nested model?): {exc}") from exc
    return k.Model(inputs, taps + outputs, name=f"{model.name}_conductance_taps")
