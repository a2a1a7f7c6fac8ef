"""The layers between a Keras model's input and its first LSTM -> :class:`~lstm_inspector.core.front.Front`.

Read from the JSON config and the HDF5 arrays only. From the first recurrent layer's input the
graph is followed back to the model's input while each layer takes exactly one tensor; the
path, input first, becomes the front. Keras's mask is followed along it: ``Masking`` and
``Embedding(mask_zero=True)`` make one, layers that support masking (``Dense``,
``TimeDistributed``, ``Activation``, ``Dropout``, normalisation...) pass it on, and the others
(``Conv1D``, ``Reshape``, pooling...) drop it, as tf-keras's ``supports_masking`` says.
"""
from __future__ import annotations

from ..core.front import Front
from . import keras_config as kc

#: Layers that pass Keras's mask on unchanged (``supports_masking`` in tf-keras).
PASS_MASK = frozenset({
    "Dense", "TimeDistributed", "Activation", "Dropout", "SpatialDropout1D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "BatchNormalization",
    "LayerNormalization", "Masking", "Embedding", "InputLayer", "Softmax", "ReLU", "LeakyReLU",
    "ELU",
})


def front_path(first_input_key, nodes) -> tuple:
    """``(path, why)``: the nodes from the model's input to the first LSTM's input, input first,
    and a sentence when the graph there is not a single line (a layer with several inputs)."""
    by_key = {node.key: node for node in nodes}
    path, key = [], first_input_key
    while key is not None and key in by_key:
        node = by_key[key]
        if len(node.inputs) > 1:
            return path[::-1], (f"layer '{node.name}' ({node.class_name}) before the first LSTM "
                                f"takes {len(node.inputs)} tensors, which the tool does not "
                                f"follow")
        path.append(node)
        key = node.inputs[0] if node.inputs else None
    return path[::-1], ""


def mask_source(path) -> str:
    """The name of the layer whose Keras mask reaches the end of ``path`` ("" when none does)."""
    source = ""
    for node in path:
        inner = (node.config.get("layer") or {}).get("class_name") \
            if node.class_name == "TimeDistributed" else None
        if node.class_name == "Masking" or inner == "Masking":
            source = node.name
        elif node.class_name == "Embedding" and node.config.get("mask_zero"):
            source = node.name
        elif node.class_name not in PASS_MASK:
            source = ""
    return source


def read_front(first_spec, nodes, arrays_of) -> Front:
    """The :class:`Front` before ``first_spec`` (the first recurrent layer's spec)."""
    path, why = front_path(first_spec.input_key, nodes)
    stopped = why
    for node in path:
        if kc.is_identity(node):
            continue
        stopped = stopped or (f"layer '{node.name}' ({node.class_name}) before the first LSTM "
                              f"is not run by the tool")
        break
    return Front((), stopped, mask_source(path))


__all__ = ["read_front", "front_path", "mask_source", "PASS_MASK"]
