"""``--onnx FILE``: an ONNX model (exported by this tool or by a converter) run by ONNX Runtime.

The file's ``LSTM`` nodes, in graph order, are matched to ``model.chain``'s layers (node k ->
layer k; widths and directions must agree). One ONNX Runtime call of the whole file, with each
node's ``Y`` added as an extra graph output, gives every node's sequence output h
(``Y (T, D, batch, H)``; both directions indexed by the node's input time). ONNX's ``LSTM``
returns c only for the last step (``Y_c``), but takes ``initial_h`` / ``initial_c``: h and c
at every step are *stepped* by running each node alone (its own weights and attributes) one
frame at a time from the (h, c) the previous call returned (one trajectory, as every stepped
backend). The one-call h of the whole file is compared with the stepped h and the gap goes into
the notes and ``meta["one_call_gap"]``. The same single-node runs, fed chunks of N frames, give the
streaming run (:func:`chunk_runner`).

Nothing in the file is executed but ONNX operators; the model is checked with ``onnx.checker``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InspectorError
from .common import base_meta, float32, record_one_call_gap, run_chain, stepped_direction

NAME = "onnx"


def import_runtime():
    """``(onnx, onnxruntime)`` or an InspectorError saying how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise InspectorError("running an ONNX file needs onnx and onnxruntime (pip install "
                             "'lstm-inspector[export]' or pip install onnx onnxruntime)") from None
    return onnx, onnxruntime


def _session(ort, proto):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def load(path):
    """The checked ``onnx.ModelProto`` of ``path``, or an InspectorError sentence."""
    onnx, _ = import_runtime()
    path = Path(path)
    if not path.is_file():
        raise InspectorError(f"ONNX file {path} does not exist")
    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
    except Exception as exc:
        raise InspectorError(f"{path.name} is not a valid ONNX model ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    return proto


def _attr(node, name, default=None):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            value = helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def lstm_nodes(proto, model) -> list:
    """The file's LSTM nodes matched to ``model.chain`` (checked: count, widths, directions)."""
    nodes = [n for n in proto.graph.node if n.op_type == "LSTM"]
    chain = model.chain
    if len(nodes) < len(chain):
        raise InspectorError(f"the ONNX file has {len(nodes)} LSTM operators but the model's chain "
                             f"has {len(chain)} recurrent layers")
    for node, layer in zip(nodes, chain):
        hidden = _attr(node, "hidden_size")
        direction = _attr(node, "direction", "forward")
        want = "bidirectional" if layer.bidirectional else None
        if hidden != layer.units or (want and direction != want) or \
                (not want and direction == "bidirectional"):
            raise InspectorError(f"ONNX LSTM '{node.name or node.output[0]}' (hidden_size {hidden}, "
                                 f"{direction}) does not match layer '{layer.name}' ({layer.units} "
                                 f"units, {'bidirectional' if want else 'one direction'})")
    return nodes[:len(chain)]


def _constants(proto) -> dict:
    from onnx import numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Constant" and node.attribute:
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _feed(proto, x: np.ndarray) -> dict:
    """The single data input of the file fed with x (T, in) as one sequence."""
    inits = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise InspectorError(f"the ONNX file has {len(inputs)} inputs; the tool feeds files with "
                             f"one input (the features)")
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 3:
        raise InspectorError(f"the ONNX file's input has {len(dims)} dimensions; expected 3 "
                             f"(batch, time, features)")
    time_major = dims[1] == 1 and dims[0] != 1
    return {inputs[0].name: float32(x[:, None] if time_major else x[None])}


class NodeRunner:
    """One LSTM node of the file run alone by ONNX Runtime from given states.

    Built from the node's own weights and attributes, with its data input replaced by a graph
    input and ``initial_h`` / ``initial_c`` fed. A bidirectional node runs as batch 2: row 0
    carries the forward direction's frames and state, row 1 the backward's, so one call
    advances each direction by the frames it is given.
    """

    def __init__(self, ort, node, constants):
        from onnx import TensorProto, helper, numpy_helper

        self.name = node.name or node.output[0]
        self.units = _attr(node, "hidden_size")
        self.layout = _attr(node, "layout", 0)
        direction = _attr(node, "direction", "forward")
        self.reverse = {"forward": (False,), "reverse": (True,),
                        "bidirectional": (False, True)}[direction]
        inputs = list(node.input) + [""] * (8 - len(node.input))
        inits = []
        for k in (1, 2, 3, 7):  # W, R, B, P
            name = inputs[k]
            if not name:
                continue
            if name not in constants:
                raise InspectorError(f"the ONNX LSTM '{self.name}' takes input '{name}' from another "
                                     f"operator; the tool can only step LSTMs with constant weights")
            inits.append(numpy_helper.from_array(constants[name], name))
        new_inputs = ["X"] + inputs[1:4] + ["", "h0", "c0"] + ([inputs[7]] if inputs[7] else [])
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        lstm = helper.make_node("LSTM", new_inputs, ["Y", "Y_h", "Y_c"], **attrs)

        def value(name):
            return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)

        graph = helper.make_graph([lstm], "step", [value("X"), value("h0"), value("c0")],
                                  [value("Y"), value("Y_h"), value("Y_c")], initializer=inits)
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        proto.ir_version = 8
        self.session = _session(ort, proto)

    def run(self, x_rows: np.ndarray, h0: np.ndarray, c0: np.ndarray):
        """Advance every direction by the frames given.

        ``x_rows (D, n, in)``: direction d's frames in *its* processing order; ``h0, c0 (D, H)``.
        Returns ``(hs (D, n, H) in processing order, h (D, H), c (D, H))``.
        """
        D = len(self.reverse)
        rows = [x_rows[d][::-1] if rev else x_rows[d] for d, rev in enumerate(self.reverse)]
        X = np.stack(rows, axis=1)  # (n, batch=D, in): a reverse direction reads it from the end
        h0 = np.repeat(h0[:, None], D, axis=1)  # (dirs, batch, H): row d's state in batch d
        c0 = np.repeat(c0[:, None], D, axis=1)
        if self.layout == 1:
            X, h0, c0 = (np.swapaxes(a, 0, 1) for a in (X, h0, c0))
        Y, Y_h, Y_c = self.session.run(None, {"X": float32(X), "h0": float32(h0),
                                              "c0": float32(c0)})
        if self.layout == 1:  # (batch, n, D, H) -> (n, D, batch, H)
            Y = np.transpose(Y, (1, 2, 0, 3))
            Y_h, Y_c = np.swapaxes(Y_h, 0, 1), np.swapaxes(Y_c, 0, 1)
        idx = np.arange(D)
        hs = np.stack([Y[::-1, d, d] if rev else Y[:, d, d] for d, rev in enumerate(self.reverse)])
        return hs, Y_h[idx, idx], Y_c[idx, idx]

    def step(self, x_dirs: np.ndarray):
        """One frame per call: ``x_dirs (D, T, in)`` in processing order -> hs, cs (D, T, H)."""
        D, T, _ = x_dirs.shape
        h = np.zeros((D, self.units), np.float32)
        c = np.zeros((D, self.units), np.float32)
        hs = np.empty((D, T, self.units), np.float32)
        cs = np.empty((D, T, self.units), np.float32)
        for t in range(T):
            _, h, c = self.run(x_dirs[:, t:t + 1], h, c)
            hs[:, t], cs[:, t] = h, c
        return hs, cs


def _with_outputs(proto, names):
    """A copy of ``proto`` that also outputs the tensors ``names``."""
    from onnx import TensorProto, helper

    full = type(proto)()
    full.CopyFrom(proto)
    have = {o.name for o in full.graph.output}
    for name in names:
        if name not in have:
            full.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return full


def runners(model, path) -> list:
    """A :class:`NodeRunner` per chain layer, from the file's LSTM nodes."""
    _, ort = import_runtime()
    proto = load(path)
    constants = _constants(proto)
    return [NodeRunner(ort, node, constants) for node in lstm_nodes(proto, model)]


def run(model, x: np.ndarray, path, progress=None):
    """Run the ONNX file ``path`` on x (T, in) and trace it as ``model.chain``'s layers.

    h: each LSTM node's ``Y`` from one call of the whole file (measured); c: stepped.
    """

    onnx, ort = import_runtime()
    proto = load(path)
    nodes = lstm_nodes(proto, model)
    constants = _constants(proto)
    session = _session(ort, _with_outputs(proto, [n.output[0] for n in nodes]))
    try:
        names = [n.output[0] for n in nodes]
        first = proto.graph.output[0].name
        *outs, file_output = session.run(names + [first], _feed(proto, x))
    except Exception as exc:
        raise InspectorError(f"ONNX Runtime could not run {Path(path).name} "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    label = f"ONNX Runtime ({Path(path).name})"
    meta = base_meta(NAME, "CPU", "n/a", {"onnx": onnx.__version__, "onnxruntime": ort.__version__})
    meta["file"] = str(path)
    if file_output.ndim == 3 and 1 in file_output.shape[:2]:  # (1, T, out) or (T, 1, out)
        meta["file_output"] = file_output[0] if file_output.shape[0] == 1 else file_output[:, 0]
    gaps = []
    chain = list(model.chain)

    def run_layer(layer, layer_in, part, start=None, keep=None):  # zero start, no mask
        k = chain.index(layer)
        runner = NodeRunner(ort, nodes[k], constants)
        Y = outs[k]
        if runner.layout == 1:
            Y = np.transpose(Y, (1, 2, 0, 3))  # -> (T, D, batch, H)
        directions = tuple(layer.directions)
        x_dirs = np.stack([layer_in[::-1] if layer.processing_reversed(d) else layer_in
                           for d in directions])  # (D, T, in), processing order
        hs, cs = runner.step(x_dirs)  # every direction stepped at once (batch row per direction)
        return {direction: stepped_direction(
                    layer, layer_in, direction, d, Y[:, d, 0],  # one-call h, node input time
                    lambda x_proc, report, d=d: (hs[d], cs[d]), part, label, gaps)
                for d, direction in enumerate(directions)}

    trace = run_chain(model, float32(x), run_layer, meta, label, progress)
    record_one_call_gap(meta, gaps, "each ONNX LSTM node (initial_h/initial_c)")
    return trace
