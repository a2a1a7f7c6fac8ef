"""ONNX models as the model input: the graph's ``LSTM`` and ``GRU`` operators as its layers.

``GRU`` nodes are read by ``io.onnx_gru`` (gates z, r, h; ``linear_before_reset`` is
reset_after); everything below the first paragraph holds for both, except peepholes and
``input_forget`` (LSTM only).

Each ``LSTM`` node (inputs ``X, W, R, B, sequence_lens, initial_h, initial_c, P``) becomes one
recurrent layer, its weights read from the graph's initializers / ``Constant`` nodes:

    W (D, 4H, in), R (D, 4H, H), B (D, 8H) = [Wb, Rb], gate blocks in ONNX's order i, o, f, c
    -> core.weights.from_onnx -> canonical (i, f, c, o), kept as CuDNNLSTM's stored arrays

Attributes: ``direction`` forward / reverse (a ``go_backwards`` layer) / bidirectional (both
directions; how they merge is read from the operators that follow), ``hidden_size``,
``activations`` (f, g, h per direction; g and h must be the same function, the one Keras calls
``activation``; Sigmoid, Tanh, Relu, HardSigmoid, Affine(1, 0), Softsign, Softplus, Elu(1) have
counterparts in the reference), ``layout`` 0 or 1. ``clip``, ``input_forget=1`` and non-zero
peepholes ``P`` are refused by name (the layer is listed, not run). A constant zero initial
state (what torch's exporter writes) is zeros; any other initial state is named as fed from the
graph (``--initial-state`` gives it).

Nodes follow each other as stacked layers when the next node's ``X`` is this node's ``Y`` moved
only by shape operators (``io.onnx_glue`` runs them on index tensors to see exactly how: concat,
forward first, or a reduction over the directions, and whether time was flipped back). Nothing in
the file is executed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.model import Model, RecurrentLayer
from ..core.weights import READINGS, StoredLSTM, from_onnx
from ..errors import InspectorError
from . import onnx_glue
from .torch_checkpoint import refuse_keras_options

FILE_FORMAT = "onnx"
RECURRENT_OPS = ("LSTM", "GRU")
DEFAULT_ACTIVATIONS = ("Sigmoid", "Tanh", "Tanh")
TAKES_ALPHA = ("Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid", "Elu")
TAKES_BETA = ("Affine", "ScaledTanh", "HardSigmoid")
DEFAULT_ALPHA_BETA = {"HardSigmoid": (0.2, 0.5), "Elu": (1.0, None), "Affine": (1.0, 0.0),
                      "LeakyRelu": (0.01, None), "ThresholdedRelu": (1.0, None)}


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise InspectorError("reading an ONNX model needs the onnx package (pip install onnx, "
                             "or 'lstm-inspector[export]')") from None
    return onnx


def is_onnx(path) -> bool:
    """Whether ``path`` parses as an ONNX model with a graph of operators."""
    try:
        onnx = _import_onnx()
        proto = onnx.load(str(path))
    except Exception:
        return False
    return bool(proto.graph.node) and bool(proto.opset_import)


def load_onnx_model(path, **overrides) -> Model:
    """The ``LSTM``/``GRU`` operators of an ONNX file as a :class:`Model` (module docstring)."""
    refuse_keras_options(overrides, "an ONNX model (its LSTM/GRU operators store their "
                                    "activations, direction and layout)")
    onnx = _import_onnx()
    path = Path(path)
    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise InspectorError(f"{path.name} is not a valid ONNX model ({type(exc).__name__}: "
                             f"{first[:160]})") from None
    graph = proto.graph
    nodes = [n for n in graph.node if n.op_type in RECURRENT_OPS]
    if not nodes:
        ops = sorted({n.op_type for n in graph.node})
        others = [o for o in ops if o == "RNN"]
        raise InspectorError(f"{path.name} has no ONNX LSTM or GRU operator"
                             + (f" ({', '.join(others)} is not supported yet)" if others else
                                f" (its operators: {', '.join(ops[:8])})"))
    consts = onnx_glue.constants(graph)
    producers = {out: n for n in graph.node for out in n.output}
    for name, node in producers.items():  # optimisers leave Identity nodes on initializers
        source = name
        while source not in consts and source in producers and \
                producers[source].op_type == "Identity":
            source = producers[source].input[0]
        if source in consts and name not in consts:
            consts[name] = consts[source]
    consumers: dict = {}
    for n in graph.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    sizes = _trial_sizes(graph)
    names = _layer_names(nodes)
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    counts = ", ".join(f"{sum(n.op_type == op for n in nodes)} {op}" for op in RECURRENT_OPS
                       if any(n.op_type == op for n in nodes))
    orders = "; ".join(o for op, o in (("LSTM", "LSTM gates i, o, f, c -> i, f, c, o"),
                                       ("GRU", "GRU gates z, r, h -> r, z, n"))
                       if any(n.op_type == op for n in nodes))
    notes = [f"ONNX model (opset {opset}, producer {proto.producer_name or 'unknown'}): "
             f"{counts} operator(s), weights read from the graph ({orders}; B = [Wb, Rb])"]
    layers = [_layer(node, name, consts, producers, notes) for node, name in zip(nodes, names)]
    length = _model_length(layers, nodes, consts, notes)
    notes += _input_note(nodes[0], names[0], graph, producers)
    for k, layer in enumerate(layers):
        if not layer.runnable:
            continue
        after = nodes[k + 1] if k + 1 < len(nodes) else None
        layers[k] = _linked(layer, nodes[k], after, names, consts, producers, consumers, sizes,
                            notes)
    return Model(layers=tuple(layers), source=str(path), file_format=FILE_FORMAT,
                 notes=tuple(notes), sequence_length=length)


def _model_length(layers, nodes, consts, notes):
    """The one constant sequence length of the runnable nodes (the first one's; a later node
    with another length ends the chain before it), or None."""
    length = None
    for k, (layer, node) in enumerate(zip(layers, nodes)):
        name = node.input[4] if len(node.input) > 4 else ""
        own = int(np.asarray(consts[name]).reshape(-1)[0]) if name in consts else None
        if k == 0:
            length = own
        elif layer.runnable and own != length and (own is not None or length is not None):
            layers[k] = _unsupported(node, layer.name, f"its sequence_lens ({own}) is not the "
                                     f"first layer's ({length})", layer.input_size, layer.units)
    if length is not None:
        notes.append(f"sequence_lens: {length} steps; the steps after them are padding, which "
                     f"never enters the state (masked, output 0, as ONNX computes them)")
    return length


def _layer_names(nodes) -> list:
    """Unique names without '/' (notes name a layer by the part before a '/')."""
    out = []
    for k, node in enumerate(nodes):
        name = (node.name or "").strip("/").replace("/", ".") or f"{node.op_type.lower()}_{k}"
        out.append(name if name not in out else f"{name}_{k}")
    return out


def _trial_sizes(graph) -> list:
    """(T, batch) pairs to run the glue with: small distinct ones, then the input's own dims
    (a Reshape to fixed sizes only works with those); T >= 2, or a flip could not show."""
    init = {t.name for t in graph.initializer}
    dims = [d.dim_value for i in graph.input if i.name not in init
            for d in i.type.tensor_type.shape.dim if d.dim_value > 0]
    pairs = [(3, 2)]
    for a in dims:
        for b in dims:
            if a >= 2 and (a, b) not in pairs:
                pairs.append((a, b))
    return pairs[:8]


def _layer(node, name, consts, producers, notes) -> RecurrentLayer:
    if node.op_type == "GRU":
        import sys

        from .onnx_gru import gru_layer

        return gru_layer(node, name, consts, producers, notes, sys.modules[__name__])
    inputs = list(node.input) + [""] * (8 - len(node.input))
    direction = onnx_glue.attr(node, "direction", "forward")
    D = 2 if direction == "bidirectional" else 1
    refused = []
    for k, what in ((1, "W"), (2, "R"), (3, "B"), (7, "P")):
        if inputs[k] and inputs[k] not in consts:
            refused.append(f"its {what} comes from another operator, not the file's initializers")
    if refused or inputs[1] not in consts:
        return _unsupported(node, name, "; ".join(refused) or "it has no W")
    W, R = np.asarray(consts[inputs[1]]), np.asarray(consts[inputs[2]])
    H = int(onnx_glue.attr(node, "hidden_size", R.shape[-1]))
    if W.ndim != 3 or R.shape != (D, 4 * H, H) or W.shape[:2] != (D, 4 * H):
        raise InspectorError(f"ONNX LSTM '{name}': W {W.shape} and R {R.shape} do not fit "
                             f"hidden_size {H} and direction {direction}")
    B = np.asarray(consts[inputs[3]]) if inputs[3] else np.zeros((D, 8 * H), W.dtype)
    if B.shape != (D, 8 * H):
        raise InspectorError(f"ONNX LSTM '{name}': B has shape {B.shape}, expected {(D, 8 * H)}")
    why = _refusal(node, inputs, consts, D)
    acts = _activations(node, D)
    if isinstance(acts, str):
        why = why or acts
    if why:
        return _unsupported(node, name, why, W.shape[2], H)
    rec_act, act = acts
    dirs = {}
    for d, key in enumerate(("forward", "backward")[:D]):
        kernel, recurrent, bias = from_onnx(W[d], R[d], B[d]).to_cudnn_keras()
        dirs[key] = StoredLSTM(kernel, recurrent, bias, true_reading=READINGS["cudnn"],
                               activation=act, recurrent_activation=rec_act)
    state_from = tuple(inputs[k] for k in (5, 6) if inputs[k] and not _is_zero(inputs[k], consts,
                                                                                producers))
    if state_from:
        notes.append(f"layer '{name}' starts from the graph's initial_h / initial_c "
                     f"({', '.join(state_from)}), not zeros")
    length = _sequence_length(inputs[4], consts, name, notes)
    if isinstance(length, str):
        return _unsupported(node, name, length, W.shape[2], H)
    return RecurrentLayer(name=name, kind="ONNX LSTM", input_size=int(W.shape[2]), units=H,
                          directions=dirs, merge_mode="concat" if D == 2 else None,
                          go_backwards=direction == "reverse", use_bias=bool(inputs[3]),
                          initial_state_from=state_from,
                          zero_output_for_mask=length is not None)


def _sequence_length(name, consts, layer, notes):
    """L from a constant ``sequence_lens`` (ONNX: steps ``t >= L`` are padding: Y is 0 there
    and the state stops at step L - 1; a reverse direction starts at L - 1), None when every
    step runs, or a sentence why the tool cannot run it (a batch of different lengths)."""
    if not name:
        return None
    if name not in consts:
        notes.append(f"layer '{layer}' takes sequence_lens '{name}' from the graph at run time; "
                     f"the tool feeds one sequence, the features, whose length is all of their "
                     f"frames")
        return None
    lengths = np.asarray(consts[name]).reshape(-1)
    if lengths.size == 0 or np.any(lengths != lengths[0]) or lengths[0] < 0:
        return (f"its sequence_lens {lengths.tolist()[:8]} is not one length (a batch of "
                f"different lengths); the tool runs one sequence")
    return int(lengths[0])


def _refusal(node, inputs, consts, D) -> str:
    clip = onnx_glue.attr(node, "clip")
    if clip is not None:
        return (f"clip={clip:g} (ONNX clips the gates' pre-activations to [-clip, clip]) is not "
                f"computed by the reference")
    if onnx_glue.attr(node, "input_forget", 0):
        return "input_forget=1 (the forget gate coupled to the input gate) is not supported"
    if onnx_glue.attr(node, "layout", 0) not in (0, 1):
        return f"layout={onnx_glue.attr(node, 'layout')} is not 0 or 1"
    if inputs[7] and np.any(np.asarray(consts[inputs[7]]) != 0):
        return "peephole weights P (non-zero) are not supported"
    return ""


def _activations(node, D):
    """``(recurrent_activation, activation)`` as Keras names, or a sentence why not."""
    acts = node_activations(node, D, DEFAULT_ACTIVATIONS)
    if isinstance(acts, str):
        return acts
    f, g, h = acts
    if g != h:
        return (f"its activations g={g} and h={h} differ; the reference applies one function to "
                f"the candidate and to c")
    return f, g


def node_activations(node, D: int, defaults: tuple):
    """One direction's activations of an ONNX recurrent ``node`` as Keras names (``f, g, h`` for
    LSTM, ``f, g`` for GRU: ``defaults`` gives their number and the spec's defaults), or a
    sentence why not (a function the reference lacks, directions that differ)."""
    n = len(defaults)
    names = onnx_glue.attr(node, "activations") or list(defaults) * D
    if len(names) != n * D:
        return f"activations lists {len(names)} functions, expected {n * D}"
    alphas = list(onnx_glue.attr(node, "activation_alpha") or [])
    betas = list(onnx_glue.attr(node, "activation_beta") or [])
    keras = []
    for name in names:
        default = DEFAULT_ALPHA_BETA.get(name, (None, None))
        alpha = (alphas.pop(0) if alphas else default[0]) if name in TAKES_ALPHA else None
        beta = (betas.pop(0) if betas else default[1]) if name in TAKES_BETA else None
        keras.append(_keras_name(name, alpha, beta))
    if None in keras:
        bad = names[keras.index(None)]
        return f"activation {bad} has no counterpart in the reference"
    per_dir = {tuple(keras[n * d:n * d + n]) for d in range(D)}
    if len(per_dir) > 1:
        return "its two directions use different activations"
    return per_dir.pop()


def _keras_name(name, alpha, beta):
    close = (lambda a, b: a is not None and abs(a - b) < 1e-6)
    if name in ("Sigmoid", "Tanh", "Relu", "Softsign", "Softplus"):
        return name.lower()
    if name == "HardSigmoid" and close(beta, 0.5):
        return "hard_sigmoid" if close(alpha, 0.2) else (
            "hard_sigmoid_keras3" if close(alpha, 1 / 6) else None)
    if name == "Affine" and close(alpha, 1.0) and close(beta, 0.0):
        return "linear"
    if name == "Elu" and close(alpha, 1.0):
        return "elu"
    return None


ZERO_KEEPING = ("Expand", "Identity", "Cast", "Reshape", "Unsqueeze", "Squeeze", "Tile", "Slice",
                "Gather", "Transpose")  # their output's values are some of their first input's


def _is_zero(name, consts, producers, depth=0) -> bool:
    """Whether tensor ``name`` is a constant zero (possibly expanded, sliced or concatenated, as
    exporters write a zero initial state for any batch size and number of layers)."""
    if name in consts:
        return not np.any(np.asarray(consts[name]))
    node = producers.get(name)
    if node is None or depth > 32:
        return False
    if node.op_type == "ConstantOfShape":
        value = onnx_glue.attr(node, "value")
        return value is None or not np.any(_array(value))
    if node.op_type == "Concat":
        return all(_is_zero(n, consts, producers, depth + 1) for n in node.input)
    return node.op_type in ZERO_KEEPING and _is_zero(node.input[0], consts, producers, depth + 1)


def _array(tensor):
    from onnx import numpy_helper

    return numpy_helper.to_array(tensor)


def _unsupported(node, name, why, n_in=0, H=None) -> RecurrentLayer:
    H = H or int(onnx_glue.attr(node, "hidden_size", 0) or 0)
    kind = f"ONNX {node.op_type}"
    return RecurrentLayer(name=name, kind=kind, input_size=int(n_in), units=H,
                          unsupported=f"{kind} '{name}': {why}", feeds_next=False)


def _input_note(first, name, graph, producers) -> list:
    source, _ = onnx_glue.walk_back(first.input[0], producers)
    if source in {i.name for i in graph.input}:
        return []
    op = producers[source].op_type if source in producers else "a tensor"
    return [f"the graph computes {op} before layer '{name}'; the tool feeds the features to "
            f"that layer directly"]


def _linked(layer, node, after, names, consts, producers, consumers, sizes, notes):
    """``layer`` with its merge mode and whether it feeds the next node, read from the glue."""
    from dataclasses import replace

    D, H = len(layer.directions), layer.units
    layout = onnx_glue.attr(node, "layout", 0)
    if after is None:  # the last node: only the merge of its own outputs matters
        ops = onnx_glue.walk_forward(node.output[0], consumers)
        merge = _merge_of(ops, D, H, layout, consts, sizes)
        return replace(layer, merge_mode=merge or layer.merge_mode, feeds_next=False)
    source, ops = onnx_glue.walk_back(after.input[0], producers)
    nxt = names[names.index(layer.name) + 1]
    if source != node.output[0]:
        what = producers[source].op_type if source in producers else f"'{source}'"
        notes.append(f"layer '{nxt}' is fed by {what}, not by layer '{layer.name}' alone: the "
                     f"runnable chain ends at '{layer.name}'")
        return replace(layer, feeds_next=False)
    reason = "no trial size fits it"
    for T, B in sizes:
        try:
            grids, merge = onnx_glue.run_glue(ops, onnx_glue.index_tensors(T, D, B, H, layout),
                                              consts)
            time, how = onnx_glue.read_link(grids, H, onnx_glue.attr(after, "layout", 0))
            break
        except onnx_glue.NotGlue as exc:
            reason = str(exc)
    else:
        notes.append(f"the operators between layers '{layer.name}' and '{nxt}' are not a plain "
                     f"rearrangement ({reason}): the runnable chain ends at '{layer.name}'")
        return replace(layer, feeds_next=False)
    keras_order = "flipped" if layer.go_backwards else "plain"
    if time != keras_order or how == "backward-first":
        notes.append(f"layer '{nxt}' reads layer '{layer.name}''s output "
                     + ("backward direction first" if how == "backward-first" else
                        "in input time order" if layer.go_backwards else "with time reversed")
                     + f", which the tool's layers cannot express: the runnable chain ends at "
                       f"'{layer.name}'")
        return replace(layer, feeds_next=False)
    return replace(layer, merge_mode=merge if how == "reduced" else layer.merge_mode)


def _merge_of(ops, D, H, layout, consts, sizes):
    """The reduction over directions among the glue after the last node, or None."""
    if D < 2:
        return None
    for T, B in sizes:
        try:
            return onnx_glue.run_glue(ops, onnx_glue.index_tensors(T, D, B, H, layout), consts)[1]
        except onnx_glue.NotGlue:
            continue
    return None
