"""``--to onnx``: the recurrent chain as standard ONNX ``LSTM`` operators, built with ``onnx.helper``.

Graph (opset 17): input ``x`` (batch, T, in) -> Transpose -> per layer one ``LSTM`` node
(``direction`` forward, reverse or bidirectional, ``layout`` 0: ``X (T, batch, in)``,
``Y (T, num_directions, batch, H)``) -> the merge Keras applies -> ... -> output ``y``
(batch, T, out), what Keras returns with ``return_sequences=True``.

Weights per node, from ``core.weights.LSTMWeights.to_onnx``: ``W (D, 4H, in)``, ``R (D, 4H, H)``,
``B (D, 8H) = [Wb, Rb]``, gate blocks in ONNX's order **i, o, f, c** (not cuDNN's i, f, c, o).
Activations (f, g, h per direction) are the layer's: ``sigmoid`` -> Sigmoid, ``hard_sigmoid``
-> HardSigmoid(0.2, 0.5), ``linear`` -> Affine(1, 0)...

Merges: Bidirectional ``concat`` -> Transpose(T, batch, D, H) + Reshape(T, batch, 2H); ``sum``,
``mul``, ``ave`` -> ReduceSum / ReduceProd / ReduceMean over the direction axis. A
``go_backwards`` layer is a ``reverse`` node whose Y (in input time) is flipped back to
processing order, as Keras returns it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backends.onnx_rt import import_runtime
from .checks import refuse_activations, refuse_bidirectional_go_backwards

OPSET = 17
ONNX_ORDER = "iofc"

# Keras activation -> (ONNX name, alpha, beta); alpha/beta None where the function takes none.
ACTIVATIONS = {
    "sigmoid": ("Sigmoid", None, None),
    "tanh": ("Tanh", None, None),
    "relu": ("Relu", None, None),
    "hard_sigmoid": ("HardSigmoid", 0.2, 0.5),
    "hard_sigmoid_keras3": ("HardSigmoid", 1.0 / 6.0, 0.5),
    "linear": ("Affine", 1.0, 0.0),
    "softsign": ("Softsign", None, None),
    "softplus": ("Softplus", None, None),
    "elu": ("Elu", 1.0, None),
}


def _onnx_weights(weights, gate_order: str):
    """``W (4H, in), R (4H, H), B (8H,)`` with gate blocks in ``gate_order`` (ONNX's: i o f c)."""
    if gate_order == ONNX_ORDER:
        return weights.to_onnx()
    rows = [weights.gate_rows(g) for g in gate_order]  # a deliberately other order (tests)
    return (np.concatenate([weights.weight_ih[r] for r in rows]),
            np.concatenate([weights.weight_hh[r] for r in rows]),
            np.concatenate([weights.bias_ih[r] for r in rows] + [weights.bias_hh[r] for r in rows]))


def activation_attributes(layer, directions: int) -> dict:
    """``activations`` (f, g, h per direction) and, where needed, ``activation_alpha/beta``.

    ONNX Runtime consumes alpha/beta values only for the functions that take them, in order.
    """
    names, alphas, betas = [], [], []
    for keras_name in (layer.recurrent_activation, layer.activation, layer.activation):
        name, alpha, beta = ACTIVATIONS[keras_name]
        names.append(name)
        if alpha is not None:
            alphas.append(alpha)
        if beta is not None:
            betas.append(beta)
    attrs = {"activations": names * directions}
    if alphas:
        attrs["activation_alpha"] = alphas * directions
    if betas:
        attrs["activation_beta"] = betas * directions
    return attrs


def build(model, gate_order: str = ONNX_ORDER):
    """The ``onnx.ModelProto`` of ``model.chain``; ``gate_order`` other than i,o,f,c writes a
    deliberately wrong file (to show that the check refuses it)."""
    onnx, _ = import_runtime()
    from onnx import TensorProto, helper, numpy_helper

    refuse_activations(model, ACTIVATIONS, "ONNX")
    refuse_bidirectional_go_backwards(model, "ONNX")
    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    nodes.append(helper.make_node("Transpose", ["x"], ["x_tbi"], perm=[1, 0, 2]))  # (T, B, in)
    current = "x_tbi"
    for k, layer in enumerate(model.chain):
        dirs = tuple(layer.directions)
        parts = [_onnx_weights(layer.weights(d), gate_order) for d in dirs]
        W = const(f"W_{k}", np.stack([p[0] for p in parts]).astype(np.float32))  # (D, 4H, in)
        R = const(f"R_{k}", np.stack([p[1] for p in parts]).astype(np.float32))  # (D, 4H, H)
        B = const(f"B_{k}", np.stack([p[2] for p in parts]).astype(np.float32))  # (D, 8H)
        direction = ("bidirectional" if layer.bidirectional
                     else "reverse" if layer.go_backwards else "forward")
        Y = f"Y_{k}"  # (T, D, B, H)
        nodes.append(helper.make_node(
            "LSTM", [current, W, R, B], [Y, f"Y_h_{k}", f"Y_c_{k}"], name=f"lstm_{k}_{layer.name}",
            hidden_size=layer.units, direction=direction,
            **activation_attributes(layer, len(dirs))))
        out = f"out_{k}"  # (T, B, out)
        if not layer.bidirectional:
            squeezed = out if not layer.go_backwards else f"Yq_{k}"
            nodes.append(helper.make_node("Squeeze", [Y, const(f"axis1_{k}", np.array([1]))],
                                          [squeezed]))
            if layer.go_backwards:  # Y is in input time; Keras returns processing order
                nodes.append(helper.make_node(
                    "Slice", [squeezed, const(f"s_start_{k}", np.array([-1])),
                              const(f"s_end_{k}", np.array([np.iinfo(np.int64).min])),
                              const(f"s_axes_{k}", np.array([0])),
                              const(f"s_steps_{k}", np.array([-1]))], [out]))
        elif layer.merge_mode == "concat":
            nodes.append(helper.make_node("Transpose", [Y], [f"Yt_{k}"], perm=[0, 2, 1, 3]))
            nodes.append(helper.make_node("Reshape", [f"Yt_{k}", const(f"shape_{k}",
                                                                        np.array([0, 0, -1]))], [out]))
        else:
            op = {"sum": "ReduceSum", "mul": "ReduceProd", "ave": "ReduceMean"}[layer.merge_mode]
            if op == "ReduceSum":  # axes is an input from opset 13
                nodes.append(helper.make_node(op, [Y, const(f"axis1_{k}", np.array([1]))], [out],
                                              keepdims=0))
            else:
                nodes.append(helper.make_node(op, [Y], [out], axes=[1], keepdims=0))
        current = out
    nodes.append(helper.make_node("Transpose", [current], ["y"], perm=[1, 0, 2]))  # (B, T, out)
    last = model.chain[-1]
    graph = helper.make_graph(
        nodes, "lstm_inspector_export",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "T", model.input_size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "T", last.output_size])],
        initializer=inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="lstm-inspector",
                              doc_string=f"recurrent chain of {Path(model.source).name}; "
                                         f"gate order i,o,f,c; bias [Wb, Rb]")
    proto.ir_version = 8  # readable by ONNX Runtime releases of the last years
    onnx.checker.check_model(proto, full_check=True)
    return proto


def write(model, out: Path, gate_order: str = ONNX_ORDER) -> list:
    """Write ``out`` (.onnx); returns the paths written."""
    out = Path(out)
    proto = build(model, gate_order)
    out.write_bytes(proto.SerializeToString())
    return [out]
