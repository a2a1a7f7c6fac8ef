"""The layers between a Keras model's input and its first LSTM -> :class:`~lstm_inspector.core.front.Front`.

Read from the JSON config and the HDF5 arrays only. From the first recurrent layer's input the
graph is followed back to the model's input while each layer takes exactly one tensor; the
path, input first, becomes the front. Keras's mask is followed along it: ``Masking`` and
``Embedding(mask_zero=True)`` make one, layers that support masking (``Dense``,
``TimeDistributed``, ``Activation``, ``Dropout``, normalisation...) pass it on, and the others
(``Conv1D``, ``Reshape``, pooling...) drop it, as tf-keras's ``supports_masking`` says.
"""
from __future__ import annotations

import numpy as np

from ..core import activations
from ..core.front import Front
from ..core.front_layers import FrontLayer
from . import keras_config as kc

#: Inference no-ops besides ``keras_config.IDENTITY_CLASSES``.
IDENTITY_MORE = frozenset({"SpatialDropout2D", "SpatialDropout3D"})
POOLING = {"MaxPooling1D": ("max_pool", 1), "AveragePooling1D": ("avg_pool", 1),
           "MaxPooling2D": ("max_pool", 2), "AveragePooling2D": ("avg_pool", 2)}
RUN_HERE = ("Dense, TimeDistributed(Dense), Conv1D, Conv2D, BatchNormalization, "
            "LayerNormalization, Activation, Reshape, Permute, Embedding, Masking, "
            "ZeroPadding1D, pooling and Dropout")

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


def _ints(value, n: int, what: str) -> tuple:
    """``value`` (an int or a list of ints) as ``n`` ints."""
    if isinstance(value, int):
        return (value,) * n
    if isinstance(value, (list, tuple)) and len(value) == n and all(isinstance(v, int) for v in value):
        return tuple(value)
    raise ValueError(f"{what} {value!r}")


def _activation(config) -> str:
    name = kc.activation_name(config.get("activation"), "linear")
    if name != "softmax" and name not in activations.ACTIVATIONS:
        raise ValueError(f"activation {config.get('activation')!r}")
    return name


def _arrays(node, arrays_of, needed, optional=()) -> dict:
    found = {k: np.asarray(v, np.float64) for k, v in arrays_of(node).items()}
    missing = [k for k in needed if k not in found]
    if missing:
        raise ValueError(f"its {', '.join(missing)} not found in the file")
    return {k: found[k] for k in tuple(needed) + tuple(optional) if k in found}


def front_layer(node, arrays_of) -> FrontLayer:
    """The :class:`FrontLayer` of ``node``; ValueError (why, in words) when the tool cannot run it."""
    class_name, config = node.class_name, node.config
    label = class_name
    if class_name == "TimeDistributed":
        inner = config.get("layer") or {}
        class_name, config = inner.get("class_name", ""), inner.get("config") or {}
        label = f"TimeDistributed({class_name})"
        if class_name not in ("Dense",) and class_name not in kc.IDENTITY_CLASSES:
            raise ValueError("the tool runs TimeDistributed(Dense) only")
    make = lambda kind, **kw: FrontLayer(node.name, kind, label, **kw)  # noqa: E731
    if class_name == "Masking":
        return make("masking", options={"mask_value": float(config.get("mask_value", 0.0))})
    if class_name in kc.IDENTITY_CLASSES or class_name in IDENTITY_MORE:
        return make("identity")
    if config.get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"data_format {config.get('data_format')}")
    if class_name == "Dense":
        bias = ("bias",) if config.get("use_bias", True) else ()
        return make("dense", activation=_activation(config),
                    arrays=_arrays(node, arrays_of, ("kernel",) + bias))
    if class_name == "Activation":
        return make("activation", activation=_activation(config))
    if class_name == "Softmax" and config.get("axis", -1) in (-1, [-1]):
        return make("activation", activation="softmax")
    if class_name == "ReLU" and not config.get("max_value") and not config.get(
            "negative_slope") and not config.get("threshold"):
        return make("activation", activation="relu")
    if class_name in ("Conv1D", "Conv2D"):
        n = 1 if class_name == "Conv1D" else 2
        if config.get("groups", 1) != 1:
            raise ValueError(f"groups {config.get('groups')}")
        padding = config.get("padding", "valid")
        if padding not in (("valid", "same", "causal") if n == 1 else ("valid", "same")):
            raise ValueError(f"padding {padding!r}")
        bias = ("bias",) if config.get("use_bias", True) else ()
        return make(f"conv{n}d", activation=_activation(config),
                    arrays=_arrays(node, arrays_of, ("kernel",) + bias),
                    options={"strides": _ints(config.get("strides", 1), n, "strides"),
                             "dilation": _ints(config.get("dilation_rate", 1), n, "dilation"),
                             "padding": padding})
    if class_name == "BatchNormalization":
        axis = config.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
        if not isinstance(axis, int) or axis in (0, 1):  # 0: batch, 1: time (sample-wise)
            raise ValueError(f"axis {config.get('axis')!r}")
        optional = tuple(k for k, flag in (("gamma", "scale"), ("beta", "center"))
                         if config.get(flag, True))
        return make("batch_norm", arrays=_arrays(node, arrays_of, ("moving_mean",
                                                                   "moving_variance") + optional),
                    options={"axis": axis - 1 if axis > 0 else axis,
                             "epsilon": float(config.get("epsilon", 1e-3))})
    if class_name == "LayerNormalization":
        axis = config.get("axis", -1)
        axes = axis if isinstance(axis, list) else [axis]
        if not all(isinstance(a, int) and a != 0 for a in axes):
            raise ValueError(f"axis {axis!r}")
        optional = tuple(k for k, flag in (("gamma", "scale"), ("beta", "center"))
                         if config.get(flag, True))
        return make("layer_norm", arrays=_arrays(node, arrays_of, optional),
                    options={"axes": [a - 1 if a > 0 else a for a in axes],
                             "epsilon": float(config.get("epsilon", 1e-3))})
    if class_name == "Reshape":
        shape = config.get("target_shape")
        if not isinstance(shape, (list, tuple)) or not all(isinstance(v, int) for v in shape):
            raise ValueError(f"target shape {shape!r}")
        return make("reshape", options={"target_shape": tuple(shape)})
    if class_name == "Permute":
        dims = config.get("dims")
        if not isinstance(dims, (list, tuple)) or sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"dims {dims!r}")
        return make("permute", options={"dims": tuple(dims)})
    if class_name == "Embedding":
        return make("embedding", arrays=_arrays(node, arrays_of, ("embeddings",)),
                    options={"mask_zero": bool(config.get("mask_zero", False))})
    if class_name == "ZeroPadding1D":
        return make("zero_pad1d", options={"padding": _ints(config.get("padding", 1), 2,
                                                              "padding")})
    if class_name in POOLING:
        kind, n = POOLING[class_name]
        size = _ints(config.get("pool_size", 2), n, "pool_size")
        strides = config.get("strides")
        padding = config.get("padding", "valid")
        if padding not in ("valid", "same"):
            raise ValueError(f"padding {padding!r}")
        return make(kind, options={"pool_size": size, "padding": padding,
                                   "strides": size if strides is None else
                                   _ints(strides, n, "strides")})
    raise ValueError("")


def step_shape(path) -> tuple | None:
    """The model's input shape per frame (after batch and time), None when the file does not
    record it; () for token ids."""
    for node in path[:1]:
        for key in ("batch_input_shape", "batch_shape"):
            shape = node.config.get(key)
            if isinstance(shape, (list, tuple)) and len(shape) >= 2:
                if all(isinstance(v, int) for v in shape[2:]):
                    return tuple(shape[2:])
    return None


def read_front(first_spec, nodes, arrays_of) -> Front:
    """The :class:`Front` before ``first_spec`` (the first recurrent layer's spec): every layer
    up to the first one the tool cannot run, and that one named."""
    path, stopped = front_path(first_spec.input_key, nodes)
    layers = []
    if not stopped:
        for node in path:
            if node.class_name == "InputLayer":
                continue
            try:
                layers.append(front_layer(node, arrays_of))
            except ValueError as exc:
                why = f", {exc}" if str(exc) else ""
                stopped = (f"layer '{node.name}' ({node.class_name}{why}) before the first "
                           f"LSTM is not run by the tool (it runs {RUN_HERE})")
                break
    return Front(tuple(layers), stopped, mask_source(path), step_shape=step_shape(path))


__all__ = ["read_front", "front_layer", "front_path", "mask_source", "PASS_MASK"]
