"""``--tflite FILE``: a TensorFlow Lite model run by ``tf.lite.Interpreter`` (TensorFlow 2.21).

A converted Keras LSTM becomes a fused ``UNIDIRECTIONAL_SEQUENCE_LSTM`` op per direction (a
backward one between two ``REVERSE_V2``). Each op is matched to a layer direction of
``model.chain`` by its weights (``input_to_{input,forget,cell,output}_weights`` against the
model's W rows i, f, c~, o; nearest of the right shape), then read from the interpreter with
all intermediate tensors kept:

* h: the op's output sequence from one ``invoke`` of the whole file.
* c: TFLite keeps each op's ``(h, c)`` in *variable* tensors that persist between invokes (a
  converted LSTM is stateful: call ``reset_all_variables()`` between utterances). So c per
  step is *stepped* by invoking the file one frame at a time and reading the cell-state
  tensor after each call, for every direction that runs forward in time above forward-only
  layers (h is then the stepped run's too: one trajectory). A backward direction, or anything
  above one, cannot be stepped that way (it needs the future frames): there c is *derived*,
  ``c_t = f_t c_{t-1} + i_t c~_t`` with the gates computed by the NumPy equations from the
  file's own h, and h stays the one-call h.

TFLiteConverter writes ``cell_clip = 10`` into each fused Keras LSTM: the file clips c to
[-10, 10], which the original model does not. Where the stepped c sits at exactly ±10 the notes
say so (a trained model's |c| can reach 50, e.g. the real poreplex model in the tests).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..core.reference import derive_cell_states
from ..errors import InspectorError
from .common import (base_meta, float32, import_tf, record_one_call_gap, run_chain,
                     stepped_direction)

NAME = "tflite"
LSTM_OP = "UNIDIRECTIONAL_SEQUENCE_LSTM"
STATE_INPUTS = (18, 19)  # input_activation_state (h), input_cell_state (c)
CELL_CLIP = 10.0  # cell_clip TFLiteConverter writes into a fused Keras LSTM (seen in its options)


def interpreter(path):
    """A ``tf.lite.Interpreter`` keeping every tensor, without default delegates."""
    tf, _ = import_tf()
    path = Path(path)
    if not path.is_file():
        raise InspectorError(f"TFLite file {path} does not exist")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        try:
            return tf.lite.Interpreter(
                model_path=str(path), experimental_preserve_all_tensors=True,
                experimental_op_resolver_type=tf.lite.experimental.OpResolverType
                .BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        except (ValueError, RuntimeError) as exc:
            raise InspectorError(f"{path.name} is not a TensorFlow Lite model TensorFlow can read "
                                 f"({str(exc).splitlines()[0]})") from None


def _match_ops(it, model) -> dict:
    """``{(layer index, direction): op}`` pairing each LSTM op with the nearest layer direction."""
    ops = [op for op in it._get_ops_details() if op["op_name"] == LSTM_OP]
    if any(op["op_name"] == "BIDIRECTIONAL_SEQUENCE_LSTM" for op in it._get_ops_details()):
        raise InspectorError("the TFLite file uses BIDIRECTIONAL_SEQUENCE_LSTM, which the tool "
                             "does not read yet")
    wanted = [(k, d) for k, layer in enumerate(model.chain) for d in layer.directions]
    if len(ops) < len(wanted):
        raise InspectorError(
            f"the TFLite file has {len(ops)} fused LSTM ops ({LSTM_OP}) for the model's "
            f"{len(wanted)} layer directions; a converter turns LSTMs it cannot fuse (other "
            f"activations than tanh/sigmoid) into a generic loop the tool cannot read per step")
    pairs, free = {}, list(ops)
    for k, d in wanted:
        w = model.chain[k].weights(d)
        target = np.concatenate([w.weight_ih[w.gate_rows(g)] for g in "ifco"])  # (4H, in)

        def distance(op):
            blocks = [it.get_tensor(i) for i in op["inputs"][1:5]]
            if any(b.shape != (w.units, w.input_size) for b in blocks):
                return np.inf
            return float(np.abs(np.concatenate(blocks) - target).max())

        best = min(free, key=distance)
        if not np.isfinite(distance(best)):
            raise InspectorError(f"no LSTM op of the TFLite file has the shape of layer "
                                 f"'{model.chain[k].name}' ({d})")
        pairs[(k, d)] = best
        free.remove(best)
    return pairs


def _invoke(it, x: np.ndarray):
    """Resize the single input to (1, n, in), reset the LSTM states, feed x (n, in)."""
    inp = it.get_input_details()
    if len(inp) != 1:
        raise InspectorError(f"the TFLite file has {len(inp)} inputs; the tool feeds one")
    it.resize_tensor_input(inp[0]["index"], [1, x.shape[0], x.shape[1]])
    it.allocate_tensors()
    it.reset_all_variables()
    it.set_tensor(inp[0]["index"], float32(x[None]))
    it.invoke()


def run(model, x: np.ndarray, path, progress=None):
    """Run the TFLite file ``path`` on x (T, in) and trace it as ``model.chain``'s layers."""
    tf, _ = import_tf()
    x = float32(x)
    it = interpreter(path)
    _invoke(it, x)
    pairs = _match_ops(it, model)
    one_call = {key: it.get_tensor(op["outputs"][0])[0].copy() for key, op in pairs.items()}
    file_output = it.get_tensor(it.get_output_details()[0]["index"])[0].copy()
    # Which directions can be stepped: forward in time, above forward-only layers.
    steppable, clean = set(), True
    for k, layer in enumerate(model.chain):
        for d in layer.directions:
            if clean and not layer.processing_reversed(d):
                steppable.add((k, d))
        clean = clean and not any(layer.processing_reversed(d) for d in layer.directions)
    stepped = {}
    if steppable:
        T = x.shape[0]
        hs = {key: np.empty_like(one_call[key]) for key in steppable}
        cs = {key: np.empty_like(one_call[key]) for key in steppable}
        _invoke(it, x[:1])
        for t in range(T):
            if t:
                it.set_tensor(it.get_input_details()[0]["index"], x[None, t:t + 1])
                it.invoke()  # the LSTM ops carry (h, c) from the previous invoke
            for key in steppable:
                op = pairs[key]
                hs[key][t] = it.get_tensor(op["outputs"][0])[0, 0]
                cs[key][t] = it.get_tensor(op["inputs"][STATE_INPUTS[1]]).reshape(-1)
        stepped = {key: (hs[key], cs[key]) for key in steppable}
    gaps, derived = [], []
    chain = list(model.chain)
    label = f"TFLite interpreter ({Path(path).name})"

    def run_layer(layer, layer_in, part, start=None, keep=None):  # zero start, no mask
        k = chain.index(layer)
        states = {}
        for d in layer.directions:
            reverse = layer.processing_reversed(d)
            h_proc = one_call[(k, d)]  # the op runs forward over its (possibly reversed) input
            if (k, d) in stepped:  # runs forward: processing order is input time
                states[d] = stepped_direction(layer, layer_in, d, 0, h_proc,
                                              lambda x_proc, report, key=(k, d): stepped[key],
                                              None, label, gaps)
            else:
                x_proc = layer_in[::-1] if reverse else layer_in
                c = derive_cell_states(layer.weights(d), x_proc, h_proc)
                derived.append(f"{layer.name} {d}")
                if reverse:
                    h_proc, c = h_proc[::-1], c[::-1]
                states[d] = (h_proc, c, "derived")
        return states

    meta = base_meta(NAME, "CPU", "n/a", {"tensorflow": tf.__version__})
    meta["file"] = str(path)
    meta["file_output"] = file_output
    trace = run_chain(model, x, run_layer, meta, label, progress)
    notes = meta["notes"]
    if gaps:
        record_one_call_gap(meta, gaps, "the TFLite interpreter (its LSTM ops keep (h, c) "
                                        "between invokes)")
    clipped = [key for key, (_, c) in stepped.items() if np.abs(c).max() == np.float32(CELL_CLIP)]
    if clipped:
        meta["cell_clip"] = CELL_CLIP
        notes.append(f"the cell state of the TFLite LSTM op stops at exactly ±{CELL_CLIP:g} "
                     f"(layer {', '.join(model.chain[k].name for k, _ in clipped)}): "
                     f"TFLiteConverter fuses a Keras LSTM with cell_clip={CELL_CLIP:g}, so a "
                     f"model whose |c| grows beyond it computes something else there")
    if derived:
        notes.append(f"c of {', '.join(derived)} is derived from the file's one-call h by the NumPy "
                     f"equations: a backward direction cannot be stepped one invoke at a time")
    return trace


def remove_cell_clip(path) -> int:
    """Set ``cell_clip`` of every fused LSTM op in the TFLite file ``path`` to 0 (no clipping,
    as the Keras model computes); returns how many ops had a clip. Rewrites the file."""
    import_tf()
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    flat = flatbuffer_utils.read_model(str(path))
    changed = 0
    for subgraph in flat.subgraphs:
        for op in subgraph.operators:
            options = op.builtinOptions
            if isinstance(options, schema.UnidirectionalSequenceLSTMOptionsT) and options.cellClip:
                options.cellClip = 0.0
                changed += 1
    flatbuffer_utils.write_model(flat, str(path))
    return changed
