"""``--to keras-lstm``: a Keras HDF5 of plain ``LSTM`` layers, which runs on a CPU and in TFLite.

A CuDNNLSTM file holds layers whose only kernel is the GPU-only ``CudnnRNN`` op. This export
writes the same chain as tf-keras ``LSTM`` layers (``Bidirectional`` with the same merge mode,
``go_backwards`` kept) with ``core.weights.LSTMWeights.to_keras_lstm`` weights: per gate block
``kernel = W_g.T`` (``x @ kernel``), ``recurrent_kernel = R_g.T``, one bias ``b_W + b_R``, gate
order i, f, c, o. The model's input is ``(batch, time, in)`` with both free; its output is the
last recurrent layer's sequence (a classifier head is not part of the chain).

TensorFlow Lite: :func:`to_tflite` converts the file through ``tf.lite.TFLiteConverter`` from a
concrete function with batch 1 and free time (``from_keras_model`` with a free batch fails on
the LSTM's TensorList ops); the LSTMs become fused ``UNIDIRECTIONAL_SEQUENCE_LSTM`` ops.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from ..backends.common import float32, import_tf, run_chain
from ..errors import InspectorError
from .checks import refuse_activations, refuse_bidirectional_go_backwards

KERAS2_ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "relu", "linear", "softsign", "softplus",
                      "elu", "selu", "exponential", "swish")


def build(model):
    """A tf-keras ``Model``: input ``x (batch, T, in)`` -> ``LSTM`` / ``Bidirectional`` chain."""
    refuse_activations(model, KERAS2_ACTIVATIONS, "keras-lstm")
    refuse_bidirectional_go_backwards(model, "keras-lstm")
    tf, K = import_tf()
    inputs = K.Input((None, model.input_size), name="x")
    y = inputs
    keras_layers = []
    for layer in model.chain:
        lstm = K.layers.LSTM(layer.units, activation=layer.activation,
                             recurrent_activation=layer.recurrent_activation,
                             return_sequences=True, go_backwards=layer.go_backwards,
                             name=layer.name if not layer.bidirectional else f"{layer.name}_lstm")
        wrapped = (K.layers.Bidirectional(lstm, merge_mode=layer.merge_mode, name=layer.name)
                   if layer.bidirectional else lstm)
        y = wrapped(y)
        keras_layers.append(wrapped)
    keras_model = K.Model(inputs, y, name="lstm_inspector_export")
    for layer, wrapped in zip(model.chain, keras_layers):
        arrays = []
        for direction in layer.directions:  # Bidirectional: forward weights, then backward
            arrays += [float32(a) for a in layer.weights(direction).to_keras_lstm()]
        wrapped.set_weights(arrays)
    return keras_model


class _NotCompiled(logging.Filter):
    """Drops tf-keras's "Compiled the loaded model, but the compiled metrics have yet to be
    built" line, which its h5 saver logs for any model that was never compiled (this one: an
    inference export, nothing was compiled or loaded)."""

    def filter(self, record) -> bool:
        return "compiled metrics have yet to be built" not in record.getMessage()


def write(model, out: Path) -> list:
    """Write ``out`` (.h5, a full tf-keras model); returns the paths written."""
    out = Path(out)
    keras_model = build(model)
    tf_logger, quiet = logging.getLogger("tensorflow"), _NotCompiled()
    tf_logger.addFilter(quiet)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "HDF5 is legacy": it is the format asked for
            keras_model.save(out, save_format="h5")
    finally:
        tf_logger.removeFilter(quiet)
    return [out]


def load(path):
    """The written file loaded by tf-keras (only files this module wrote: no code inside)."""
    tf, K = import_tf()
    return K.models.load_model(str(path), compile=False)


def _lstm_layers(keras_model) -> list:
    """Per recurrent layer of the loaded model: ``[forward LSTM]`` or ``[forward, backward]``."""
    out = []
    for kl in keras_model.layers:
        kind = type(kl).__name__
        if kind == "Bidirectional":
            out.append([kl.forward_layer, kl.backward_layer])
        elif kind == "LSTM":
            out.append([kl])
    return out


def run_file(model, x: np.ndarray, path):
    """Trace of the written Keras file on x: each loaded LSTM cell run by TensorFlow on the CPU
    with its per-step c recorded (``tf_cpu.recording_rnn``: measured); ``meta["file_output"]``
    is the loaded model's own output."""
    from ..backends.common import base_meta, tf_versions
    from ..backends.tf_cpu import recording_rnn, run_direction

    tf, K = import_tf()
    with tf.device("/CPU:0"):
        keras_model = load(path)
        lstms = _lstm_layers(keras_model)
        if len(lstms) < len(model.chain):
            raise InspectorError(f"{Path(path).name} has {len(lstms)} LSTM layers; the model's "
                                 f"chain has {len(model.chain)}")
        chain = list(model.chain)

        def run_layer(layer, layer_in, part, start=None, keep=None):  # zero start, no mask
            states = {}
            for direction, lstm in zip(layer.directions, lstms[chain.index(layer)]):
                reverse = layer.processing_reversed(direction)
                x_proc = np.ascontiguousarray(layer_in[::-1] if reverse else layer_in)
                h, c = run_direction(tf, recording_rnn(lstm), x_proc)
                if reverse:
                    h, c = h[::-1], c[::-1]
                states[direction] = (h, c, "measured")
            return states

        meta = base_meta("keras-lstm-file", "CPU", "n/a", tf_versions(tf, K))
        meta["file"] = str(path)
        trace = run_chain(model, float32(x), run_layer, meta,
                          f"exported Keras LSTM ({Path(path).name})")
        meta["file_output"] = keras_model(float32(x)[None], training=False).numpy()[0]
    return trace


def to_tflite(h5_path, out) -> Path:
    """Convert a keras-lstm export to TensorFlow Lite (batch 1, any length) and write ``out``."""
    return convert(load(h5_path), out)


def convert(keras_model, out) -> Path:
    """``keras_model`` through ``tf.lite.TFLiteConverter`` (batch 1, any length) into ``out``."""
    tf, K = import_tf()
    spec = tf.TensorSpec([1, None, keras_model.input_shape[-1]], tf.float32)
    concrete = tf.function(lambda x: keras_model(x, training=False)).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], keras_model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat = converter.convert()
    out = Path(out)
    out.write_bytes(flat)
    return out


def graph_ops(h5_path) -> dict:
    """Op types of the loaded file traced on the CPU: ``{"run": ops reached from the graph,
    "registered": ops only in functions registered as alternatives}``.

    tf-keras's ``LSTM`` registers a cuDNN implementation beside its standard one for Grappler
    to choose on a GPU; it is never called on a CPU. ``run`` follows the function calls the
    graph makes; a file that would need ``CudnnRNN`` on a CPU has it there.
    """
    tf, K = import_tf()
    keras_model = load(h5_path)
    spec = tf.TensorSpec([1, None, keras_model.input_shape[-1]], tf.float32)
    graph_def = tf.function(lambda x: keras_model(x, training=False)).get_concrete_function(
        spec).graph.as_graph_def()
    library = {f.signature.name: f for f in graph_def.library.function}
    reached, seen = set(), set()

    def visit(nodes):
        for node in nodes:
            reached.add(node.op)
            called = [node.op] if node.op in library else []
            for value in node.attr.values():
                if value.HasField("func"):
                    called.append(value.func.name)
                called += [f.name for f in value.list.func]
            for name in called:
                if name in library and name not in seen:
                    seen.add(name)
                    visit(library[name].node_def)

    visit(graph_def.node)
    every = {n.op for f in library.values() for n in f.node_def}
    return {"run": reached - set(library), "registered": every - reached}
