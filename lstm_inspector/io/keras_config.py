"""Keras model configs (JSON) -> the recurrent layers they declare and how they are wired.

A Keras model file describes its architecture as JSON (``model_config`` in HDF5, ``config.json``
in a ``.keras`` zip). This module reads that JSON only, never code: it flattens nested models
into one list of :class:`Node` (file order, each with the keys of the nodes that feed it), and
turns every recurrent layer into one or more :class:`Spec` (what it is, which weight sets belong
to it, its activations). ``keras_h5`` then attaches the arrays.

Formats understood:

* Keras 2.0/2.1 Sequential: ``{"class_name": "Sequential", "config": [layer, ...]}``;
* Keras >= 2.2, tf.keras, tf-keras: ``{"config": {"name": ..., "layers": [...]}}``, functional
  layers with ``inbound_nodes = [[[name, node, tensor, kwargs], ...], ...]``;
* Keras 3: ``inbound_nodes = [{"args": [{"class_name": "__keras_tensor__", "config":
  {"keras_history": [name, node, tensor]}}], "kwargs": {...}}]`` and activations or cells
  serialised as ``{"module": ..., "class_name": ..., "config": ..., "registered_name": ...}``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..core import activations
from ..errors import InspectorError
from . import keras_options
from .config_checks import check_entry

#: Layers that are identity at inference (Masking is, as long as no frame equals the mask value).
IDENTITY_CLASSES = frozenset({
    "Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "ActivityRegularization", "InputLayer", "Masking",
})
MODEL_CLASSES = frozenset({"Sequential", "Model", "Functional"})
LSTM_KINDS = ("LSTM", "CuDNNLSTM")
GRU_KINDS = ("GRU", "CuDNNGRU")
#: Recurrent layers the tool runs (``core.reference``: LSTM equations, ``core.gru``: GRU's).
RUNNABLE_KINDS = LSTM_KINDS + GRU_KINDS
#: Recurrent layers recognised but not reimplemented.
OTHER_RECURRENT = frozenset({
    "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
})
CELL_KINDS = {"LSTMCell": "LSTM", "GRUCell": "GRU", "SimpleRNNCell": "SimpleRNN"}


def unsupported_sentence(kind: str) -> str:
    return (f"{kind} layers are not supported yet; only LSTM, CuDNNLSTM, GRU and CuDNNGRU layers "
            f"can be inspected")


@dataclass
class Node:
    """One layer of the flattened model graph.

    key : unique in the flattened graph (``"inner_seq/lstm_1"`` for a layer of a nested model).
    group : where its weights live (legacy HDF5: the top-level layer's group name; ``.keras``:
        the layer's own path in ``model.weights.h5``).
    inputs : keys of the nodes feeding it (first: the data input; more: initial states...).
    """

    key: str
    name: str
    class_name: str
    config: dict
    group: str
    inputs: list = field(default_factory=list)
    calls: int = 1
    tensors: list = field(default_factory=list)  # which output of each input it reads (0...)


@dataclass
class Spec:
    """One recurrent layer (or one cell of ``RNN(StackedRNNCells)``) to build.

    targets : per direction, names that identify its weight set inside ``node.group``
        (``("lstm_1",)``; ``("forward_lstm_1", "forward_layer")`` ...).
    cell : the config holding ``units``, ``activation``, ``recurrent_activation``, ``use_bias``.
    input_key, output_key : graph keys of what feeds it and what it produces.
    """

    name: str
    node: Node
    kind: str
    cell: dict
    targets: tuple
    merge_mode: str | None = None
    go_backwards: bool = False
    return_sequences: bool = False
    unsupported: str = ""
    input_key: str | None = None
    output_key: str = ""
    feeds_next_forced: bool | None = None
    notes: list = field(default_factory=list)
    use_bias: bool = True
    stateful: bool = False
    dtype_policy: str = ""
    zero_output_for_mask: bool = False
    initial_state_from: tuple = ()
    not_computed: list = field(default_factory=list)  # what the tool does not compute, named
    backward_cell: dict | None = None  # Bidirectional(backward_layer=...)'s own config
    return_state: bool = False

    def layer_fields(self) -> dict:
        """What the config says about the layer beyond its weights (RecurrentLayer fields)."""
        return dict(go_backwards=self.go_backwards, return_sequences=self.return_sequences,
                    use_bias=self.use_bias, stateful=self.stateful,
                    dtype_policy=self.dtype_policy,
                    zero_output_for_mask=self.zero_output_for_mask,
                    initial_state_from=tuple(self.initial_state_from))


# ---- small readers --------------------------------------------------------------------------
def snake_case(name: str) -> str:
    """Keras's ``to_snake_case`` (``"CuDNNLSTM"`` -> ``"cu_dnnlstm"``, ``"LSTM"`` -> ``"lstm"``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def activation_name(value, default: str | None) -> str | None:
    """The Keras name of a serialised activation: a string or a Keras 2/3 dict; None -> default."""
    if value is None:
        return default
    if isinstance(value, dict):
        inner = value.get("config")
        if isinstance(inner, str):  # Keras 3: {"class_name": "function", "config": "sigmoid"}
            value = inner
        elif isinstance(inner, dict) and isinstance(inner.get("name"), str):
            value = inner["name"]
        else:
            value = value.get("registered_name") or value.get("class_name") or ""
    value = str(value).rsplit(">", 1)[-1].rsplit(".", 1)[-1]
    if value not in activations.ACTIVATIONS:
        value = snake_case(value)
    return value


def policy_name(value) -> str:
    """A layer's dtype policy name from its config's ``dtype``: ``"mixed_float16"``, ``"float32"``
    (a string, a Keras 2 ``Policy`` dict or a Keras 3 ``DTypePolicy`` dict), "" when absent."""
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name") or value.get("class_name")
    return str(value) if value else ""


def layer_config(entry: dict) -> dict:
    config = entry.get("config")
    if not isinstance(config, dict):
        raise InspectorError(f"a layer entry of class {entry.get('class_name')} has no config")
    return config


def layer_name(entry: dict) -> str:
    config = entry.get("config")
    inner = config.get("name") if isinstance(config, dict) else None
    return str(entry.get("name") or inner or entry.get("class_name"))


def _tensor_refs(value, out: list):
    """Collect ``[name, node, tensor]`` references from Keras 2 / Keras 3 inbound structures."""
    if isinstance(value, dict):
        inner = value.get("config")
        history = inner.get("keras_history") if value.get("class_name") == "__keras_tensor__" \
            and isinstance(inner, dict) else None
        if isinstance(history, list) and history:
            out.append(str(history[0]))
            return
        for item in value.values():
            _tensor_refs(item, out)
    elif isinstance(value, (list, tuple)):
        if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
            out.append(value[0])  # Keras 2: [name, node_index, tensor_index, kwargs]
            if len(value) > 3:
                _tensor_refs(value[3], out)  # kwargs may carry initial_state tensors
            return
        for item in value:
            _tensor_refs(item, out)


def inbound_names(entry: dict) -> tuple:
    """``(names, calls)``: the layers feeding ``entry``'s first call (data input first) and how
    many times the layer is called."""
    nodes = entry.get("inbound_nodes") or []
    if not nodes or not isinstance(nodes, list):
        return [], 0
    names: list = []
    _tensor_refs(nodes[0], names)
    return names, len(nodes)


# ---- flattening -----------------------------------------------------------------------------
def model_layers(model_cfg: dict) -> tuple:
    """``(class_name, name, layers list, config)`` of a model entry, old and new formats."""
    class_name = check_entry(model_cfg, "the model").get("class_name", "")
    config = model_cfg.get("config")
    if isinstance(config, list):  # Keras 2.0/2.1 Sequential
        return class_name, model_cfg.get("name") or "sequential", config, {}
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise InspectorError(
            f"the model config (class {class_name or 'unknown'}) lists no layers"
        )
    return class_name, config.get("name") or class_name.lower(), config["layers"], config


def is_model(entry: dict) -> bool:
    config = entry.get("config")
    return entry.get("class_name") in MODEL_CLASSES or isinstance(config, list) or (
        isinstance(config, dict) and isinstance(config.get("layers"), list)
        and entry.get("class_name") not in ("StackedRNNCells",))


def flatten(model_cfg: dict, group_of, scope: str = "", outer_inputs=None, nodes=None,
            parent_group=None, outer_calls: int = 1):
    """Flatten ``model_cfg`` (nested models included) into ``nodes``; return its output keys.

    ``group_of(parent_group, entry, index)`` gives a layer's weight group (legacy HDF5 and
    ``.keras`` differ): ``parent_group`` is the enclosing model's group (None at the top),
    ``index`` counts earlier layers of the same class in this model (``.keras`` names
    ``lstm``, ``lstm_1``...). ``outer_calls``: how many times the enclosing model is called
    (a nested model called twice calls each of its layers twice).
    """
    nodes = [] if nodes is None else nodes
    class_name, _, layers, config = model_layers(model_cfg)
    outer_inputs = list(outer_inputs or [])
    functional = any("inbound_nodes" in entry for entry in layers) and class_name != "Sequential"
    out_key: dict = {}
    prev = outer_inputs
    counters: dict = {}
    for entry in layers:
        check_entry(entry)
        name = layer_name(entry)
        key = f"{scope}{name}"
        snake = snake_case(entry.get("class_name", ""))
        index = counters.get(snake, -1) + 1
        counters[snake] = index
        group = group_of(parent_group, entry, index)
        if functional:
            names, calls = inbound_names(entry)
            inputs = [out_key.get(n, f"{scope}{n}") for n in names]
            if not names and entry.get("class_name") == "InputLayer":
                inputs = outer_inputs[:1]
        else:
            inputs, calls = list(prev), 1
        if is_model(entry):
            outputs = flatten(entry, group_of, f"{key}/", inputs, nodes, group,
                              max(calls, 1) * outer_calls)
            out_key[name] = outputs[0] if outputs else key
            prev = outputs[:1]
            continue
        nodes.append(Node(key, name, entry.get("class_name", ""), layer_config(entry), group,
                          inputs, max(calls, 1) * outer_calls,
                          keras_options.tensor_indexes(entry) if functional else []))
        out_key[name] = key
        prev = [key]
    if functional and isinstance(config.get("output_layers"), list) and config["output_layers"]:
        outs = []
        _tensor_refs(config["output_layers"], outs)
        return [out_key.get(n, f"{scope}{n}") for n in outs] or prev
    return prev


# ---- recurrent layers -----------------------------------------------------------------------
def _unwrap(class_name: str, config: dict):
    """``(kind, cells, rnn_config)``: the recurrent kind, ``[(cell_name, cell_config)]`` and the
    config holding ``return_sequences`` / ``go_backwards``; kind None if not recurrent."""
    if class_name in RUNNABLE_KINDS or class_name in OTHER_RECURRENT:
        return class_name, [(config.get("name", class_name.lower()), config)], config
    if class_name == "RNN":
        cell = config.get("cell") or {}
        cell_class = cell.get("class_name", "")
        if cell_class == "StackedRNNCells":
            cells = (cell.get("config") or {}).get("cells") or []
            kinds = {CELL_KINDS.get(c.get("class_name"), c.get("class_name")) for c in cells}
            if kinds == {"LSTM"}:
                return "LSTM", [(c["config"].get("name", f"cell_{k}"), c["config"])
                                for k, c in enumerate(cells)], config
            return f"RNN(StackedRNNCells of {', '.join(sorted(map(str, kinds)))})", [], config
        kind = CELL_KINDS.get(cell_class)
        if kind is None:
            return f"RNN({cell_class or 'unknown cell'})", [], config
        return kind, [(config.get("name", "rnn"), cell.get("config") or {})], config
    return None, [], config


def recurrent_specs(node: Node) -> list:
    """The :class:`Spec` list of ``node`` (empty when it is not a recurrent layer)."""
    class_name, config = node.class_name, node.config
    wrapper, merge_mode, bidirectional = None, None, False
    backward_name, backward_cell = None, None
    if class_name in ("Bidirectional", "TimeDistributed"):
        inner = config.get("layer") or {}
        wrapper = class_name
        bidirectional = class_name == "Bidirectional"
        merge_mode = config.get("merge_mode", "concat") if bidirectional else None
        if bidirectional and isinstance(config.get("backward_layer"), dict):
            backward_cell = config["backward_layer"].get("config") or {}
            backward_name = backward_cell.get("name")
        class_name, config = inner.get("class_name", ""), inner.get("config") or {}
    kind, cells, rnn_config = _unwrap(class_name, config)
    if kind is None:
        return []
    inner_name = config.get("name", node.name)
    state_from = tuple(key.rsplit("/", 1)[-1] for key in node.inputs[1:])
    common = dict(
        node=node, merge_mode=merge_mode, backward_cell=backward_cell,
        return_state=bool(rnn_config.get("return_state", False)),
        go_backwards=bool(rnn_config.get("go_backwards", False)),
        return_sequences=bool(rnn_config.get("return_sequences", False)),
        input_key=node.inputs[0] if node.inputs else None, output_key=node.key,
        stateful=bool(rnn_config.get("stateful", False)),
        dtype_policy=policy_name(rnn_config.get("dtype")) or policy_name(node.config.get("dtype")),
        zero_output_for_mask=bool(rnn_config.get("zero_output_for_mask", False)),
        initial_state_from=state_from,
    )
    notes = []
    if state_from:
        notes.append(f"layer '{node.name}' takes its initial state from other tensors of the "
                     f"model ({', '.join(state_from)}); the tool starts it from zeros unless "
                     f"--initial-state gives h0 and c0")
    if common["stateful"]:
        notes.append(f"layer '{node.name}' is stateful: Keras carries its state from one batch "
                     f"to the next; the tool runs one sequence from the initial state (zeros, "
                     f"or --initial-state), as a freshly loaded or reset model does")
    if common["dtype_policy"].startswith("mixed"):
        notes.append(f"layer '{node.name}' runs under the '{common['dtype_policy']}' dtype "
                     f"policy: Keras computes it in float16; --dtype mixed_float16 makes the "
                     f"NumPy reference do the same")
    not_computed = keras_options.option_sentences(
        node.name, rnn_config, cells[0][1] if cells else config,
        node.config if wrapper else {}) + (
        keras_options.backward_sentences(node.name, config, backward_cell)
        if backward_cell is not None else [])
    if node.calls > 1:
        not_computed.append(f"layer '{node.name}' is called {node.calls} times in the model; "
                            f"the tool computes its first call only")
    if bidirectional:
        targets = ((f"forward_{inner_name}", "forward_layer"),
                   (f"backward_{backward_name or inner_name}", "backward_layer"))
    else:
        targets = ((node.name, inner_name),)
    label = f"{wrapper}({kind})" if wrapper else kind
    if kind not in RUNNABLE_KINDS or not cells:
        return [Spec(node.name, kind=kind, cell=config, targets=targets,
                     unsupported=unsupported_sentence(label), notes=notes,
                     not_computed=not_computed, **common)]
    if len(cells) > 1 and bidirectional:
        return [Spec(node.name, kind="Bidirectional(RNN(StackedRNNCells))", cell=config,
                     targets=targets, unsupported=unsupported_sentence(
                         "Bidirectional(RNN(StackedRNNCells))"), notes=notes, **common)]
    if wrapper == "TimeDistributed":
        notes.append(f"layer '{node.name}' is TimeDistributed({kind}): the tool runs its LSTM on "
                     f"one (T, in) sequence, not inside the outer time axis")
    specs = []
    for k, (cell_name, cell) in enumerate(cells):
        spec = Spec(node.name if len(cells) == 1 else f"{node.name}/{cell_name}",
                    kind=kind, cell=cell, notes=notes if k == 0 else [],
                    not_computed=not_computed if k == 0 else [],
                    targets=targets if len(cells) == 1 else ((cell_name,),),
                    use_bias=bool(cell.get("use_bias", True)), **common)
        if len(cells) > 1:  # RNN(StackedRNNCells): cell k feeds cell k+1 at every step
            spec.go_backwards = common["go_backwards"] and k == 0
            spec.return_sequences = common["return_sequences"] or k < len(cells) - 1
            spec.input_key = common["input_key"] if k == 0 else f"{node.key}#{k - 1}"
            spec.output_key = node.key if k == len(cells) - 1 else f"{node.key}#{k}"
        if wrapper == "TimeDistributed":
            spec.feeds_next_forced = False
        specs.append(spec)
    return specs


def trace_source(key, nodes_by_key: dict, seen_masking: list):
    """Follow ``key`` back through identity layers; return the first non-identity key (or None)."""
    while key is not None and key in nodes_by_key:
        node = nodes_by_key[key]
        if not is_identity(node):
            return key
        if node.class_name == "Masking" or (node.class_name == "TimeDistributed" and
                                            (node.config.get("layer") or {}).get("class_name")
                                            == "Masking"):
            seen_masking.append(node)
        key = node.inputs[0] if node.inputs else None
    return key


def is_identity(node: Node) -> bool:
    if node.class_name in IDENTITY_CLASSES:
        return True
    if node.class_name == "TimeDistributed":
        return (node.config.get("layer") or {}).get("class_name") in IDENTITY_CLASSES
    if node.class_name == "Activation":
        return activation_name(node.config.get("activation"), "linear") == "linear"
    return False
