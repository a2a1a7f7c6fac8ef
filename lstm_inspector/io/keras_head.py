"""The plain layers after a Keras model's last recurrent layer -> :class:`~lstm_inspector.core.head.Head`.

Read from the JSON config and the HDF5 arrays only (no Keras, no code from the file). From the
last recurrent layer's output, the graph is followed one layer at a time while exactly one
layer consumes the current tensor and takes nothing else; each layer becomes a
:class:`~lstm_inspector.core.head.HeadLayer` when NumPy can compute it (``Dense``,
``TimeDistributed(Dense)``, ``Activation``, ``Softmax`` over the last axis, identity layers such
as ``Dropout``, ``Flatten``, ``Reshape``, ``GlobalAveragePooling1D``/``GlobalMaxPooling1D``).
The first one it cannot compute is named in ``Head.stopped_at``.

Class names come from the file (a root attribute ``class_names`` or ``labels``: a list of
strings, or JSON of one) or from a ``demo.json`` beside it that names this file as its model
(the bundled demo).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core import activations
from ..core.head import Head, HeadLayer
from . import keras_config as kc
from .h5_arrays import read_dataset

#: Layer classes run as identity after the chain (inference-time no-ops), besides Keras's own.
IDENTITY = kc.IDENTITY_CLASSES - {"InputLayer"}
POOLING = {"GlobalAveragePooling1D": "global_mean", "GlobalMaxPooling1D": "global_max"}
RUN_HERE = ("Dense, TimeDistributed(Dense), Activation, Softmax, Dropout, Flatten, Reshape and "
            "global 1-D pooling")


def _activation(value, default="linear") -> str | None:
    """A Keras activation name the head can compute, or None."""
    name = kc.activation_name(value, default)
    return name if name == "softmax" or name in activations.ACTIVATIONS else None


def _not_run(node, why: str = "") -> str:
    return (f"layer '{node.name}' ({node.class_name}{why}) and what follows it are not run "
            f"(after the LSTMs the tool runs {RUN_HERE})")


def head_layer(node, arrays_of) -> tuple:
    """``(HeadLayer, "")`` for a layer NumPy can compute, else ``(None, sentence why not)``."""
    class_name, config = node.class_name, node.config
    wrapper = ""
    if class_name == "TimeDistributed":  # the wrapped layer, applied to every step
        inner = config.get("layer") or {}
        wrapper, class_name, config = "TimeDistributed", inner.get("class_name", ""), \
            inner.get("config") or {}
    label = f"{wrapper}({class_name})" if wrapper else class_name
    if class_name in IDENTITY:
        return HeadLayer(node.name, "identity", class_name=label), ""
    if class_name == "Dense":
        activation = _activation(config.get("activation"))
        arrays = arrays_of(node)
        kernel, bias = arrays.get("kernel"), arrays.get("bias")
        if activation is None:
            return None, _not_run(node, f", activation {config.get('activation')!r}")
        if kernel is None or kernel.ndim != 2 or (bias is not None and bias.shape !=
                                                   (kernel.shape[1],)):
            return None, _not_run(node, ": its kernel and bias were not found or have odd shapes")
        if not all(_finite_numbers(a) for a in (kernel, bias) if a is not None):
            return None, _not_run(node, ": its kernel or bias holds NaN, Inf or non-numbers")
        return HeadLayer(node.name, "dense", activation, kernel.astype(np.float64),
                         None if bias is None else bias.astype(np.float64), class_name=label), ""
    if class_name in ("Activation", "Softmax"):
        axis = config.get("axis", -1)
        if class_name == "Softmax" and axis not in (-1, [-1]):
            return None, _not_run(node, f", axis {axis}")
        activation = "softmax" if class_name == "Softmax" else _activation(config.get("activation"))
        if activation is None:
            return None, _not_run(node, f", activation {config.get('activation')!r}")
        return HeadLayer(node.name, "activation", activation, class_name=label), ""
    if wrapper:
        return None, _not_run(node)
    if class_name == "Flatten":
        return HeadLayer(node.name, "flatten", class_name=label), ""
    if class_name == "Reshape":
        shape = config.get("target_shape")
        if not isinstance(shape, (list, tuple)) or not all(isinstance(v, int) for v in shape):
            return None, _not_run(node, f", target shape {shape!r}")
        return HeadLayer(node.name, "reshape", target_shape=tuple(shape), class_name=label), ""
    if class_name in POOLING and config.get("data_format", "channels_last") == "channels_last" \
            and not config.get("keepdims", False):
        return HeadLayer(node.name, POOLING[class_name], class_name=label), ""
    return None, _not_run(node)


def _finite_numbers(array) -> bool:
    return array.dtype.kind in "iubf" and bool(np.isfinite(array).all())


def read_heads(nodes, specs, arrays_of, class_names=()) -> dict:
    """``{name of the last recurrent layer: Head}`` (empty without recurrent layers).

    Parameters
    ----------
    nodes : the flattened graph (``keras_config.flatten``), file order.
    specs : the recurrent layers' specs, file order.
    arrays_of : ``node -> {"kernel": array, "bias": array}``, read from the file.
    class_names : names of the model's outputs, if known.
    """
    if not specs:
        return {}
    last = specs[-1]
    key, name, layers, stopped = last.output_key, last.name, [], ""
    reads = ()
    while True:
        users = [node for node in nodes if key in node.inputs]
        if not users:
            break  # the model's output
        if len(users) > 1:
            stopped = (f"the output of '{name}' feeds {len(users)} layers "
                       f"({', '.join(n.name for n in users)}); the tool follows one path")
            break
        node = users[0]
        if reads_state(node, key):
            reads = returned_state(node, key, last) if key == last.output_key else None
            if not reads:
                stopped = (f"layer '{node.name}' ({node.class_name}) reads a state that "
                           f"'{name}' returns (return_state=True), not its output; the tool "
                           f"does not run it")
                break
        if node.inputs != [key]:
            stopped = _not_run(node, ": it also takes other tensors")
            break
        layer, why = head_layer(node, arrays_of)
        if layer is None:
            stopped = why
            break
        layers.append(layer)
        key, name = node.key, node.name
    return {last.name: Head(last.name, tuple(layers), stopped, tuple(class_names), reads)}


def returned_state(node, key, spec) -> tuple:
    """``(direction, "h" | "c")`` of the state ``node`` reads from ``spec``'s outputs
    (``[y, h, c]``, Bidirectional ``[y, h_fwd, c_fwd, h_bwd, c_bwd]``), () when it reads
    several tensors or a state the tool does not have."""
    index = [t for k, t in zip(node.inputs, node.tensors or ()) if k == key]
    if len(index) != 1 or len(node.inputs) != 1 or not 1 <= index[0] <= 4:
        return ()
    direction = "forward" if index[0] <= 2 else "backward"
    if direction == "backward" and spec.node.class_name != "Bidirectional":
        return ()
    return direction, "h" if index[0] % 2 == 1 else "c"


def reads_state(node, key) -> bool:
    """True when ``node`` reads an output of ``key`` other than the first (a returned state)."""
    return any(k == key and t for k, t in zip(node.inputs, node.tensors or ()))


def state_readers(nodes, specs, heads=None) -> list:
    """Sentences naming layers that read the states a recurrent layer returns
    (``return_state=True``) where the model's head (``heads``, :func:`read_heads`) does not
    compute what they read."""
    handled = {(h.after, h.layers[0].name) for h in (heads or {}).values()
               if h.reads and h.layers}
    out = []
    recurrent = {spec.node.key for spec in specs}  # an initial state: see initial_state_from
    for spec in specs:
        if not spec.return_state:
            continue
        for node in nodes:
            if (node.key not in recurrent and reads_state(node, spec.output_key)
                    and (spec.name, node.name) not in handled):
                out.append(f"layer '{spec.name}' returns its states (return_state=True) and "
                           f"layer '{node.name}' ({node.class_name}) reads them; the tool "
                           f"computes the output sequence, not what follows the states")
    return out


# ---- arrays -------------------------------------------------------------------------------
def legacy_arrays(root, node) -> dict:
    """``{"kernel", "bias"}`` of a layer in a Keras 2 HDF5 file (``model_weights/<group>``)."""
    from .h5_arrays import attr_list

    if node.group not in root:
        return {}
    group = root[node.group]
    names = attr_list(group, "weight_names")
    own = [n for n in names if node.name in n.split("/")[:-1]]
    out = {}
    for name in own or (names if node.group == node.name else []):
        leaf = name.split("/")[-1].split(":")[0]
        for candidate in (name, name.split(":")[0]):
            if candidate in group and hasattr(group[candidate], "shape"):
                out.setdefault(leaf, read_dataset(group[candidate]))
                break
    return out


def vars_arrays(f, node) -> dict:
    """``{"kernel", "bias"}`` of a layer in a Keras 3 ``model.weights.h5`` (``.../vars/0, 1``)."""
    if node.group not in f:
        return {}
    found = []
    f[node.group].visititems(lambda n, o: found.append(o) if n.split("/")[-1] == "vars" else None)
    if not found:
        return {}
    variables = found[0]
    return {leaf: read_dataset(variables[str(k)]) for k, leaf in enumerate(var_names(node))
            if hasattr(variables.get(str(k)), "shape")}


def var_names(node) -> tuple:
    """The names of a layer's variables in the order a ``.keras`` file numbers them (``vars/0``,
    ``vars/1``...): a normalisation's depend on ``scale`` / ``center``."""
    class_name, config = node.class_name, node.config
    if class_name == "TimeDistributed":
        inner = config.get("layer") or {}
        class_name, config = inner.get("class_name", ""), inner.get("config") or {}
    if class_name == "Embedding":
        return ("embeddings",)
    if class_name in ("BatchNormalization", "LayerNormalization"):
        names = tuple(k for k, flag in (("gamma", "scale"), ("beta", "center"))
                      if config.get(flag, True))
        return names + (("moving_mean", "moving_variance")
                        if class_name == "BatchNormalization" else ())
    return ("kernel", "bias")


# ---- class names --------------------------------------------------------------------------
def class_names_for(source, attrs=None) -> tuple:
    """The model's output names: from the file's ``class_names``/``labels`` attribute, else from
    a ``demo.json`` beside it whose ``model`` is this file; () when neither says."""
    from .h5_arrays import text

    for key in ("class_names", "labels"):
        if attrs is not None and key in attrs:
            value = attrs[key]
            if isinstance(value, (bytes, str, np.bytes_)) or np.ndim(value) == 0:
                try:
                    value = json.loads(text(value))
                except ValueError:
                    continue
            return tuple(text(v) for v in np.atleast_1d(value))
    try:
        path = Path(source)
        spec = json.loads((path.parent / "demo.json").read_text(encoding="utf-8"))
        if spec.get("model") == path.name and isinstance(spec.get("labels"), list):
            return tuple(str(label) for label in spec["labels"])
    except (OSError, ValueError, TypeError):
        pass
    return ()


__all__ = ["read_heads", "head_layer", "legacy_arrays", "vars_arrays", "class_names_for"]
