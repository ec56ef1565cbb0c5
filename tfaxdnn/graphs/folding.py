"""Batch-norm folding for frozen graphs (TF1 ``fold_batch_norms`` / ``fold_old_batch_norms``), in float64 like the
Keras path's (`tfaxdnn.quant.kernels.fold_batch_norm`).

A conv/matmul node's output chain ``[BiasAdd | Add const]* -> Mul const -> [Add const]*`` (the form of
``tf.nn.batch_normalization``, which Keras 3 BatchNormalization freezes to) or ``[BiasAdd] -> FusedBatchNorm*``
(``is_training=False``) is folded into the kernel and one bias: ``kernel·c`` and ``b·c + d``. Each link must be the
only consumer of the previous one, and the constants per output channel (or scalars); anything else ends the chain.
Constant operands are evaluated from their constant subgraph in float64 (a float32 scalar constant such as the
epsilon is read as its shortest decimal, i.e. the value the user typed: ``0.001``, not ``float32(0.001)``).
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional

import numpy as np
import tensorflow as tf

from tfaxdnn.graphs.graph_index import GraphIndex, split_input
from tfaxdnn.quant.kernels import fold_batch_norm, scale_kernel

_ADD = ("BiasAdd", "Add", "AddV2")
_FUSED_BN = ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")


@dataclasses.dataclass
class Fold:
    """The folded kernel and bias of a node, the chain's last node (whose name the result takes) and the absorbed
    nodes (to drop). ``bias`` is None and ``absorbed`` empty when nothing follows the node."""

    kernel: np.ndarray
    bias: Optional[np.ndarray]
    end: str
    absorbed: List[str]

    @property
    def scaled(self) -> bool:
        return self.bias is not None


def _const64(index: GraphIndex, ref: str, depth: int = 0) -> Optional[np.ndarray]:
    """float64 value of a constant subgraph (Const/Identity/arithmetic), else None."""
    name, out, _ = split_input(ref)
    node = index.nodes.get(name)
    if node is None or out != 0 or depth > 20:
        return None
    if node.op == "Const":
        v = tf.make_ndarray(node.attr["value"].tensor)
        if not np.issubdtype(v.dtype, np.number):
            return None
        if v.dtype == np.float32 and v.ndim == 0:
            return np.float64(float(np.format_float_positional(v, unique=True)))
        return v.astype(np.float64)
    args = [_const64(index, r, depth + 1) for r in node.input if not r.startswith("^")]
    if any(a is None for a in args) or not args:
        return None
    ops = {"Identity": lambda a: a, "Snapshot": lambda a: a, "Cast": lambda a: a, "Neg": np.negative,
           "Rsqrt": lambda a: 1.0 / np.sqrt(a), "Sqrt": np.sqrt, "Add": np.add, "AddV2": np.add,
           "Sub": np.subtract, "Mul": np.multiply, "RealDiv": np.divide, "Squeeze": np.squeeze,
           "Reshape": lambda a, s: a.reshape(s.astype(np.int64)), "ExpandDims": lambda a, d: np.expand_dims(a, int(d))}
    if node.op not in ops:
        return None
    try:
        return np.asarray(ops[node.op](*args), np.float64)
    except (TypeError, ValueError):
        return None


def _per_channel(v: Optional[np.ndarray], n: int) -> Optional[np.ndarray]:
    """``v`` as ``[n]`` when it broadcasts along the last axis only, else None."""
    if v is None:
        return None
    if v.size == 1:
        return np.full(n, float(v.reshape(-1)[0]))
    if v.shape[-1] == n and v.size == n:
        return v.reshape(n)
    return None


def _sole_consumer(index: GraphIndex, name: str):
    users = index.consumers.get(name, [])
    if len(users) != 1:
        return None
    refs = [r for r in users[0].input if split_input(r)[0] == name]
    return users[0] if all(split_input(r)[1] == 0 for r in refs) and len(refs) == 1 else None


def _other(node, name: str) -> str:
    ins = [r for r in node.input if not r.startswith("^")]
    return ins[1] if split_input(ins[0])[0] == name else ins[0]


def fold(index: GraphIndex, node, kernel: np.ndarray) -> Fold:
    """The `Fold` of ``node`` (Conv2D / DepthwiseConv2dNative / MatMul with constant ``kernel``, HWIO / HWCM /
    [in, out] layout)."""
    depthwise = node.op == "DepthwiseConv2dNative"
    n = kernel.shape[-2] * kernel.shape[-1] if depthwise else kernel.shape[-1]
    scale, bias = np.ones(n), np.zeros(n)
    chain, cur, scaled = [], node.name, False
    while True:
        nxt = _sole_consumer(index, cur)
        if nxt is None:
            break
        if nxt.op in _FUSED_BN:
            if nxt.attr["is_training"].b or nxt.attr["data_format"].s not in (b"NHWC", b"") or scaled:
                break
            ins = [r for r in nxt.input if not r.startswith("^")]
            if split_input(ins[0])[0] != cur:
                break
            gamma, beta, mean, var = (_per_channel(_const64(index, r), n) for r in ins[1:5])
            if any(v is None for v in (gamma, beta, mean, var)):
                break
            eps = float(np.format_float_positional(np.float32(nxt.attr["epsilon"].f), unique=True))
            scale, bias = fold_batch_norm(scale, bias, gamma, beta, mean, var, eps)
            chain.append(nxt.name)
            scaled = True
            break
        if nxt.op in _ADD or (nxt.op == "Mul" and not scaled):
            c = _per_channel(_const64(index, _other(nxt, cur)), n)
            if c is None or (nxt.op == "BiasAdd" and nxt.attr["data_format"].s not in (b"NHWC", b"")):
                break
            if nxt.op == "Mul":
                scale, bias, scaled = scale * c, bias * c, True
            else:
                bias = bias + c
            chain.append(nxt.name)
            cur = nxt.name
            continue
        break
    if not scaled:  # a bias alone stays where it is (same arithmetic either way)
        return Fold(kernel, None, node.name, [])
    return Fold(scale_kernel(kernel, scale, depthwise).astype(np.float32), bias.astype(np.float32), chain[-1],
                chain[:-1])
