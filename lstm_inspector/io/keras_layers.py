"""Keras configs + weight sets -> :class:`~lstm_inspector.core.model.RecurrentLayer` objects.

``keras_config`` says which recurrent layers a config declares (:class:`~.keras_config.Spec`);
:class:`_Builder` attaches each one's arrays (``h5_arrays.WeightSet``) and its activations, and
:func:`layers_from_config` wires them (which layer feeds which; Masking, initial states).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..core import activations
from ..core.model import MERGE_MODES, RecurrentLayer
from ..core.gru_weights import GRU_READINGS, StoredGRU
from ..core.weights import READINGS, StoredLSTM
from ..errors import InspectorError
from . import keras_config as kc
from . import keras_front, keras_head
from .h5_arrays import WeightSet, default_recurrent_activation

class _Builder:
    """Collects layers and notes for one file."""

    def __init__(self, source: str, keras_version: str, sets_of):
        self.source = source
        self.keras_version = keras_version
        self.sets_of = sets_of  # group -> [WeightSet]
        self.used: dict = {}
        self.notes: list = []
        self.defaulted = []
        self.head_arrays = lambda node: {}  # node -> {"kernel", "bias"} of a layer after the LSTMs
        self.class_names: tuple = ()
        self.heads: dict = {}
        self.mask_value = None  # a Masking layer's value when one feeds the first layer
        self.assumptions: list = []  # what a weights-only file left the loader to guess
        self.not_computed: list = []  # what the file's model computes and the tool does not
        self.front = None  # core.front.Front: the layers before the first LSTM

    def pick(self, group, targets):
        sets = self.sets_of(group)
        used = self.used.setdefault(group, set())
        free = [k for k in range(len(sets)) if k not in used]
        named = [k for k in free if any(t and t in sets[k].path for t in targets)]
        choice = (named or free or [None])[0]
        if choice is not None:
            used.add(choice)
            return sets[choice]
        return None

    def layer(self, spec: kc.Spec) -> RecurrentLayer:
        chosen = [self.pick(spec.node.group, targets) for targets in spec.targets]
        common = dict(merge_mode=spec.merge_mode if len(chosen) == 2 else None,
                      **spec.layer_fields())
        if spec.unsupported:
            return self.unsupported(spec.name, spec.kind, spec.cell, chosen[0],
                                    spec.unsupported, **common)
        # Bidirectional(backward_layer=...): the backward half has its own activations
        cells = {"forward": spec.cell, "backward": spec.backward_cell or spec.cell}
        pairs = {}
        for direction, cell in cells.items():
            activation = _activation(cell, "activation", "tanh")
            recurrent = _activation(cell, "recurrent_activation", None)
            if spec.kind in ("CuDNNLSTM", "CuDNNGRU"):
                activation, recurrent = "tanh", "sigmoid"
            elif recurrent is None:
                recurrent = default_recurrent_activation(self.keras_version)
                if direction == "forward":
                    self.defaulted.append((spec.name, recurrent))
            for label, name in (("activation", activation), ("recurrent activation", recurrent)):
                if name not in activations.ACTIVATIONS:
                    return self.unsupported(
                        spec.name, spec.kind, spec.cell, chosen[0],
                        f"layer '{spec.name}' uses {label} '{name}', which the tool cannot "
                        f"reimplement", **common)
            pairs[direction] = (activation, recurrent)
        if len(chosen) == 2 and pairs["backward"] != pairs["forward"]:
            self.notes.append(
                f"layer '{spec.name}' has its own backward layer: the backward half computes "
                f"activation={pairs['backward'][0]}, recurrent_activation="
                f"{pairs['backward'][1]} (the forward half {pairs['forward'][0]}, "
                f"{pairs['forward'][1]})")
        directions = {}
        for direction, found in zip(("forward", "backward"), chosen):
            if found is None:
                raise InspectorError(
                    f"{self.source} has no {direction} weights for layer '{spec.name}'")
            directions[direction] = self.stored(spec, found, *pairs[direction])
        return self.assemble(spec.name, spec.kind, directions, spec.cell.get("units"), **common)

    def stored(self, spec, found: WeightSet, activation, recurrent) -> StoredLSTM:
        kernel, recurrent_kernel, bias = (
            self.checked(spec.name, leaf, found.read(leaf))
            for leaf in ("kernel", "recurrent_kernel", "bias"))
        if spec.kind in kc.GRU_KINDS:
            return stored_gru(self, spec, kernel, recurrent_kernel, bias, activation, recurrent)
        H = recurrent_kernel.shape[0] if recurrent_kernel.ndim == 2 else 0
        if (recurrent_kernel.shape != (H, 4 * H) or H == 0 or kernel.ndim != 2
                or kernel.shape[1] != 4 * H):
            raise InspectorError(
                f"layer '{spec.name}' in {self.source} has kernel {kernel.shape} and recurrent "
                f"kernel {recurrent_kernel.shape}, not (in, 4H) and (H, 4H) as an LSTM's are")
        if bias is None:
            if spec.cell.get("use_bias", True) and spec.kind == "CuDNNLSTM":
                raise InspectorError(f"layer '{spec.name}' in {self.source} has no bias array")
            bias = np.zeros(4 * H, kernel.dtype)  # use_bias=False: z = W x + R h
        if bias.shape not in ((4 * H,), (8 * H,)):
            raise InspectorError(f"layer '{spec.name}' in {self.source} has a bias of shape "
                                 f"{bias.shape}, not ({4 * H},) or ({8 * H},) as an LSTM of {H} "
                                 f"units has")
        reading = READINGS["cudnn"] if spec.kind == "CuDNNLSTM" else READINGS["keras"]
        return StoredLSTM(kernel, recurrent_kernel, bias, reading, activation, recurrent)

    def checked(self, name: str, leaf: str, array):
        """``array`` (a weight of layer ``name``) as finite floats: an integer or boolean array
        is converted to float32 with a note; other dtypes, NaN and Inf are refused."""
        if array is None:
            return None
        what = leaf.replace("_", " ")
        if array.dtype.kind in "iub":
            self.notes.append(f"layer '{name}' stores its {what} as {array.dtype} values; the "
                              f"tool converted them to float32")
            array = array.astype(np.float32)
        elif array.dtype.kind != "f":
            raise InspectorError(f"layer '{name}' in {self.source} stores its {what} as "
                                 f"{array.dtype} values, not floating-point numbers")
        bad = array.size - int(np.count_nonzero(np.isfinite(array)))
        if bad:
            nans = int(np.count_nonzero(np.isnan(array)))
            raise InspectorError(f"layer '{name}' in {self.source} has {nans} NaN and "
                                 f"{bad - nans} infinite values in its {what} "
                                 f"({array.size} values); the model cannot be run")
        return array

    def assemble(self, name, kind, directions, config_units=None, **common) -> RecurrentLayer:
        forward = directions["forward"]
        units, input_size = forward.recurrent_kernel.shape[0], forward.kernel.shape[0]
        for direction, stored in directions.items():
            if (stored.kernel.shape != forward.kernel.shape
                    or stored.recurrent_kernel.shape != forward.recurrent_kernel.shape):
                raise InspectorError(f"layer '{name}' in {self.source} has {direction} weights "
                                     f"of other shapes than its forward weights")
        if config_units is not None and int(config_units) != units:
            raise InspectorError(f"layer '{name}' in {self.source} says {config_units} units but "
                                 f"its recurrent kernel has {units} rows")
        if common.get("merge_mode") not in MERGE_MODES:
            raise InspectorError(f"layer '{name}' has merge mode '{common['merge_mode']}', not one "
                                 f"of concat, sum, mul, ave or None")
        return RecurrentLayer(name, kind, int(input_size), int(units), directions, **common)

    def unsupported(self, name, kind, cell, found, sentence, **common) -> RecurrentLayer:
        shape_k = found.shape("kernel") if found else None
        shape_r = found.shape("recurrent_kernel") if found else None
        units = cell.get("units") or cell.get("filters") or (shape_r[-2] if shape_r else 0)
        input_size = shape_k[-2] if shape_k and len(shape_k) >= 2 else 0
        common["merge_mode"] = common.get("merge_mode") if common.get("merge_mode") in \
            MERGE_MODES else None
        return RecurrentLayer(name, kind, int(input_size), int(units or 0), {},
                              unsupported=sentence, **common)


def _activation(cell: dict, key: str, default):
    """The activation a config names under ``key``: absent -> ``default``; ``null`` -> linear,
    as Keras reads ``LSTM(activation=None)`` (``activations.get(None)`` is linear)."""
    if key in cell and cell[key] is None:
        return "linear"
    return kc.activation_name(cell.get(key), default)


def _wire(specs, layers, nodes, builder):
    """Set ``feeds_next`` from the graph, find the mask (``builder.mask_value``) and add notes
    on what feeds the first layer."""
    notes = builder.notes
    by_key = {node.key: node for node in nodes}
    between: list = []
    out = []
    for k, (spec, layer) in enumerate(zip(specs, layers)):
        feeds = True
        if spec.feeds_next_forced is not None:
            feeds = spec.feeds_next_forced
        elif k + 1 < len(specs):
            source = kc.trace_source(specs[k + 1].input_key, by_key, between)
            feeds = source == spec.output_key
        out.append(layer if feeds == layer.feeds_next else replace(layer, feeds_next=feeds))
    first: list = []
    if specs:
        source = kc.trace_source(specs[0].input_key, by_key, first)
        if source in by_key:
            node = by_key[source]
            notes.append(f"layer '{specs[0].name}' is fed by '{node.name}' ({node.class_name}), "
                         f"so its input is that layer's output, not the model's input")
            builder.front = keras_front.read_front(specs[0], nodes, builder.head_arrays)
            if first:  # a Masking right before the LSTM: its mask comes from the LSTM's input
                _first_mask(first[0], out, builder)
                builder.front = replace(builder.front, mask_from="")
        elif first:
            _first_mask(first[0], out, builder)  # the nearest Masking decides
    for node in {id(n): n for n in between}.values():
        value = _mask_value(node)
        notes.append(f"layer '{node.name}' (Masking, mask value {value:g}) is treated as identity "
                     f"(it does not sit between the model's input and the first LSTM), which "
                     f"holds only while no frame it sees equals the mask value")
    return out


def _mask_value(node) -> float:
    config = node.config if node.class_name == "Masking" else \
        ((node.config.get("layer") or {}).get("config") or {})
    return float(config.get("mask_value", 0.0))


def _first_mask(node, layers, builder) -> None:
    """The Masking layer before the first LSTM: the model runs under its mask."""
    value = _mask_value(node)
    builder.mask_value = value
    builder.notes.append(
        f"layer '{node.name}' (Masking, mask value {value:g}) masks every frame whose features "
        f"all equal {value:g}: the LSTMs carry h and c through those steps, as Keras does")
    cudnn = [layer.name for layer in layers if layer.kind == "CuDNNLSTM"]
    if cudnn:
        builder.notes.append(
            f"Keras refuses to run CuDNNLSTM layers ({', '.join(cudnn)}) with a mask ('Masking is "
            f"not supported for CuDNN RNNs'); the tool applies the mask as an LSTM layer would")


def _layers_from_config(config: dict, builder: _Builder, group_of) -> list:
    nodes: list = []
    kc.flatten(config, group_of, nodes=nodes)
    specs = [spec for node in nodes for spec in kc.recurrent_specs(node)]
    if not specs:
        names = ", ".join(node.name for node in nodes if node.class_name != "InputLayer")
        raise InspectorError(f"{builder.source} has no recurrent layer (its layers: "
                             f"{names or 'none'}); the tool inspects LSTM and CuDNNLSTM layers")
    layers = [builder.layer(spec) for spec in specs]
    for spec in specs:
        builder.notes.extend(spec.notes)
        builder.not_computed.extend(spec.not_computed)
    builder.heads = keras_head.read_heads(nodes, specs, builder.head_arrays, builder.class_names)
    builder.not_computed.extend(keras_head.state_readers(nodes, specs, builder.heads))
    return _wire(specs, layers, nodes, builder)


def stored_gru(builder: _Builder, spec, kernel, recurrent_kernel, bias, activation,
               recurrent) -> StoredGRU:
    """A GRU or CuDNNGRU direction's arrays and their true reading (``core.gru_weights``):
    CuDNNGRU is cuDNN's per-gate layout with reset_after; a Keras GRU is ``x @ kernel`` with
    the config's ``reset_after`` (absent in files older than Keras 2.1.3: False, said)."""
    name, source = spec.name, builder.source
    H = recurrent_kernel.shape[0] if recurrent_kernel.ndim == 2 else 0
    if (H == 0 or recurrent_kernel.shape != (H, 3 * H) or kernel.ndim != 2
            or kernel.shape[1] != 3 * H):
        raise InspectorError(
            f"layer '{name}' in {source} has kernel {kernel.shape} and recurrent kernel "
            f"{recurrent_kernel.shape}, not (in, 3H) and (H, 3H) as a GRU's are")
    if spec.kind == "CuDNNGRU":
        reset_after, shapes, reading = True, ((6 * H,),), GRU_READINGS["cudnn"]
    else:
        if "reset_after" in spec.cell:
            reset_after = bool(spec.cell["reset_after"])
        else:
            reset_after = bias is not None and bias.shape == (2, 3 * H)
            if spec.node is not None:
                builder.notes.append(f"layer '{name}''s config does not say reset_after (files "
                                     f"older than Keras 2.1.3): read as reset_after="
                                     f"{reset_after} from its bias")
        shapes = ((2, 3 * H),) if reset_after else ((3 * H,),)
        reading = replace(GRU_READINGS["keras"], reset_after=reset_after)
    if bias is None:
        if spec.cell.get("use_bias", True) and spec.kind == "CuDNNGRU":
            raise InspectorError(f"layer '{name}' in {source} has no bias array")
    elif bias.shape not in shapes:
        raise InspectorError(f"layer '{name}' in {source} has a bias of shape {bias.shape}, not "
                             f"{' or '.join(map(str, shapes))} as a {spec.kind} of {H} units "
                             f"with reset_after={reset_after} has")
    return StoredGRU(kernel, recurrent_kernel, bias, reading, activation, recurrent)
