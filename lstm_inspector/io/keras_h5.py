"""Keras model and weight files -> :class:`~lstm_inspector.core.model.Model`, with h5py and JSON only.

Read, never run: the architecture comes from the JSON config and the arrays from HDF5 datasets;
nothing in the file is deserialised as code (a ``Lambda`` layer's marshalled bytecode is never
touched), and TensorFlow is never imported.

Files understood
----------------
* full models (``model.save("m.h5")``): root attributes ``model_config``, ``keras_version``,
  ``backend``; weights in ``model_weights/<layer>/<weight name>`` listed by the group's
  ``weight_names`` attribute (split as ``weight_names0``, ``weight_names1``... when long);
* weights-only files (``save_weights``): the same layer groups at the root, no architecture, so
  every layer's kind is inferred from its shapes (bias 8H: CuDNNLSTM; 4H: LSTM; (H, 3H)
  recurrent kernel: GRU; (H, H): SimpleRNN);
* Keras 3 ``.keras`` zips (``config.json`` + ``model.weights.h5`` whose layers sit at
  ``layers/<class>[_k]/[cell/]vars/{0,1,2}``) and Keras 3 ``.weights.h5`` files.

Writers: standalone Keras 2.0-2.2, TF 1.x ``tf.keras`` (``2.2.4-tf``), tf.keras 2.x, tf-keras,
Keras 3. Attributes may be ``bytes`` or ``str``; weight names may lack ``:0``.

Per layer the true reading is ``READINGS["cudnn"]`` for CuDNNLSTM (``W_g =
kernel[:, gH:(g+1)H].reshape(H, in)``, tanh / sigmoid fixed) and ``READINGS["keras"]`` for LSTM
(``W_g = kernel[:, gH:(g+1)H].T``, activations from the config; a config without
``recurrent_activation`` gets the writer's default: hard_sigmoid before Keras 2.3, sigmoid after).
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, replace

import numpy as np

from ..core import activations
from ..core.model import MERGE_MODES, Model, RecurrentLayer
from ..core.weights import READINGS, StoredLSTM
from .overrides import apply_overrides
from ..errors import InspectorError
from . import keras_config as kc
from . import keras_head

_CELL_PART = re.compile(r"^(lstm_cell|gru_cell|simple_rnn_cell|cell|vars)(_\d+)?$")


# ---- HDF5 attribute helpers -------------------------------------------------------------------
def text(value) -> str:
    """An attribute value as ``str`` (h5py >= 3 gives ``str``; older files / writers ``bytes``)."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    return str(value)


def attr_list(group, name: str) -> list:
    """A list attribute, whole (``name``) or chunked (``name0``, ``name1``...), as strings."""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks, k = [], 0
        while f"{name}{k}" in group.attrs:
            chunks.append(group.attrs[f"{name}{k}"])
            k += 1
    out = []
    for raw in chunks:
        for value in np.atleast_1d(raw):
            if isinstance(value, (float, np.floating)):  # Keras writes [] as a float64 array
                continue
            out.append(text(value))
    return out


def version_tuple(version: str) -> tuple:
    match = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", version or "")
    return tuple(int(g or 0) for g in match.groups()) if match else ()


def default_recurrent_activation(version: str) -> str:
    """LSTM's default ``recurrent_activation`` for the Keras that wrote the file.

    Keras <= 2.2 and TF 1.x ``tf.keras`` (``2.1.6-tf``, ``2.2.4-tf``) defaulted to
    hard_sigmoid; Keras 2.3+, tf.keras 2.x and Keras 3 to sigmoid.
    """
    v = version_tuple(version)
    return "hard_sigmoid" if v and v < (2, 3) else "sigmoid"


# ---- weight sets ------------------------------------------------------------------------------
@dataclass
class WeightSet:
    """One recurrent cell's arrays: ``kernel``, ``recurrent_kernel`` and maybe ``bias``.

    ``path`` names the groups that hold it, relative to its layer group (``("bidirectional",
    "forward_lstm")``, ``("forward_layer", "cell", "vars")``); datasets are read on demand.
    """

    path: tuple
    arrays: dict

    def read(self, leaf: str):
        dataset = self.arrays.get(leaf)
        return None if dataset is None else np.asarray(dataset[()])

    def shape(self, leaf: str):
        dataset = self.arrays.get(leaf)
        return None if dataset is None else tuple(dataset.shape)



def legacy_sets(group) -> list:
    """Weight sets of a Keras 2 layer group, in the order of its ``weight_names``."""
    names = attr_list(group, "weight_names")
    if not names:
        group.visititems(lambda n, o: names.append(n) if hasattr(o, "shape") else None)
    by_path: dict = {}
    for name in names:
        dataset = _dataset(group, name)
        if dataset is None:
            continue
        parts = name.split("/")
        leaf = parts[-1].split(":")[0]
        by_path.setdefault(tuple(parts[:-1]), {})[leaf] = dataset
    return [WeightSet(path, arrays) for path, arrays in by_path.items()
            if "kernel" in arrays and "recurrent_kernel" in arrays]


def _dataset(group, name: str):
    for candidate in (name, name.split(":")[0], name + ":0"):
        if candidate in group and hasattr(group[candidate], "shape"):
            return group[candidate]
    return None


def _natural(key: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def vars_sets(group, path=()) -> list:
    """Weight sets of a Keras 3 layout group: ``.../vars/{0,1,2}`` = kernel, recurrent, bias."""
    found = []
    for key in sorted(group.keys(), key=_natural):
        item = group[key]
        if hasattr(item, "shape"):
            continue
        if key == "vars":
            arrays = {leaf: item[str(k)] for k, leaf in enumerate(("kernel", "recurrent_kernel",
                                                                    "bias")) if str(k) in item}
            kernel, recurrent = arrays.get("kernel"), arrays.get("recurrent_kernel")
            if (kernel is not None and recurrent is not None and len(recurrent.shape) >= 2
                    and kernel.shape[-1] == recurrent.shape[-1]):
                found.append(WeightSet(path + (key,), arrays))
        else:
            found.extend(vars_sets(item, path + (key,)))
    return found


# ---- building layers --------------------------------------------------------------------------
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
                      go_backwards=spec.go_backwards, return_sequences=spec.return_sequences)
        if spec.unsupported:
            return self.unsupported(spec.name, spec.kind, spec.cell, chosen[0],
                                    spec.unsupported, **common)
        activation = kc.activation_name(spec.cell.get("activation"), "tanh")
        recurrent = kc.activation_name(spec.cell.get("recurrent_activation"), None)
        if spec.kind == "CuDNNLSTM":
            activation, recurrent = "tanh", "sigmoid"
        elif recurrent is None:
            recurrent = default_recurrent_activation(self.keras_version)
            self.defaulted.append((spec.name, recurrent))
        for label, name in (("activation", activation), ("recurrent activation", recurrent)):
            if name not in activations.ACTIVATIONS:
                return self.unsupported(
                    spec.name, spec.kind, spec.cell, chosen[0],
                    f"layer '{spec.name}' uses {label} '{name}', which the tool cannot "
                    f"reimplement", **common)
        directions = {}
        for direction, found in zip(("forward", "backward"), chosen):
            if found is None:
                raise InspectorError(
                    f"{self.source} has no {direction} weights for layer '{spec.name}'")
            directions[direction] = self.stored(spec, found, activation, recurrent)
        return self.assemble(spec.name, spec.kind, directions, spec.cell.get("units"), **common)

    def stored(self, spec, found: WeightSet, activation, recurrent) -> StoredLSTM:
        kernel, recurrent_kernel = found.read("kernel"), found.read("recurrent_kernel")
        bias = found.read("bias")
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
        reading = READINGS["cudnn"] if spec.kind == "CuDNNLSTM" else READINGS["keras"]
        return StoredLSTM(kernel, recurrent_kernel, bias, reading, activation, recurrent)

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


def _wire(specs, layers, nodes, notes):
    """Set ``feeds_next`` from the graph and add notes on what feeds the first layer."""
    by_key = {node.key: node for node in nodes}
    masking: list = []
    out = []
    for k, (spec, layer) in enumerate(zip(specs, layers)):
        feeds = True
        if spec.feeds_next_forced is not None:
            feeds = spec.feeds_next_forced
        elif k + 1 < len(specs):
            source = kc.trace_source(specs[k + 1].input_key, by_key, masking)
            feeds = source == spec.output_key
        out.append(layer if feeds == layer.feeds_next else replace(layer, feeds_next=feeds))
    if specs:
        source = kc.trace_source(specs[0].input_key, by_key, masking)
        if source in by_key:
            node = by_key[source]
            notes.append(f"layer '{specs[0].name}' is fed by '{node.name}' ({node.class_name}), "
                         f"so its input is that layer's output, not the model's input")
    for node in {id(n): n for n in masking}.values():
        value = node.config.get("mask_value", 0.0)
        notes.append(f"layer '{node.name}' (Masking, mask value {value}) is treated as identity, "
                     f"which holds only while no input frame equals the mask value")
    return out


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
    builder.heads = keras_head.read_heads(nodes, specs, builder.head_arrays, builder.class_names)
    return _wire(specs, layers, nodes, builder.notes)


# ---- weights-only files -----------------------------------------------------------------------
def infer_kind(found: WeightSet):
    """``(kind, unsupported sentence)`` from a weight set's shapes, or ``(None, "")``."""
    kernel, recurrent, bias = (found.shape(n) for n in ("kernel", "recurrent_kernel", "bias"))
    if len(recurrent) != 2 or len(kernel) != 2:
        return "ConvLSTM", kc.unsupported_sentence("ConvLSTM")
    H = recurrent[0]
    if recurrent[1] == 4 * H:
        if bias is None or bias == (4 * H,):
            return "LSTM", ""
        if bias == (8 * H,):
            return "CuDNNLSTM", ""
    if recurrent[1] == 3 * H:
        kind = "CuDNNGRU" if bias == (6 * H,) else "GRU"
        return kind, kc.unsupported_sentence(kind)
    if recurrent[1] == H:
        return "SimpleRNN", kc.unsupported_sentence("SimpleRNN")
    return None, ""


def _entry_key(found: WeightSet, group_name: str, strip: bool = True):
    """``(direction, key)`` of a weight set in a weights-only group.

    ``forward_x`` / ``backward_x`` (Keras 2) and ``forward_layer`` / ``backward_layer``
    (Keras 3) path parts mark the two halves of a Bidirectional layer; they share one key.
    """
    path = list(found.path[1:] if found.path[:1] == (group_name,) else found.path)
    for k in range(len(path) - 1, -1, -1):
        for direction in ("forward", "backward"):
            if path[k].startswith(direction + "_"):
                base = path[k][len(direction) + 1:]
                return direction, "/".join(path[:k] + ([] if base == "layer" else [base]))
    generic = _CELL_PART.match if strip else ("cell", "vars").__contains__
    while len(path) > 1 and generic(path[-1]):
        path.pop()  # ".../lstm_cell", ".../cell/vars" -> "..."
    return None, "/".join(path)


def _pair_halves(entries: dict, directions: list):
    """Join lone forward / backward halves (``Bidirectional(..., backward_layer=other)`` names
    its halves ``forward_a`` and ``backward_b``), in file order."""
    if "forward" not in directions or "backward" not in directions:
        return
    lone = {d: [k for k, slot in entries.items() if list(slot) == [d]]
            for d in ("forward", "backward")}
    for forward, backward in zip(lone["forward"], lone["backward"]):
        entries[forward]["backward"] = entries.pop(backward)["backward"]


def _layers_from_weights(groups, builder: _Builder) -> list:
    """Layers of a weights-only file: ``groups`` is ``[(group name, [WeightSet])]`` in file order."""
    layers, bidirectional = [], []
    for group_name, sets in groups:
        entries: dict = {}  # key -> {direction: WeightSet}
        short = [_entry_key(found, group_name) for found in sets]
        for found, (direction, key) in zip(sets, short):
            if direction is None and short.count((None, key)) > 1:  # e.g. stacked cells
                key = _entry_key(found, group_name, strip=False)[1]
            slot = entries.setdefault(key, {})
            while (direction or "forward") in slot:  # same key twice: keep both, apart
                key += "'"
                slot = entries.setdefault(key, {})
            slot[direction or "forward"] = found
        _pair_halves(entries, [d for d, _ in short])
        for key, slot in entries.items():
            if "forward" not in slot:
                slot = {"forward": slot["backward"]}
            name = group_name if len(entries) == 1 else f"{group_name}/{key or 'layer'}"
            kind, sentence = infer_kind(slot["forward"])
            if kind is None:
                continue
            common = dict(merge_mode="concat" if len(slot) == 2 else None,
                          go_backwards=False, return_sequences=True)
            if sentence:
                layers.append(builder.unsupported(name, kind, {}, slot["forward"], sentence,
                                                  **common))
                continue
            spec = kc.Spec(name, node=None, kind=kind, cell={}, targets=())
            directions = {d: builder.stored(spec, slot[d], "tanh", "sigmoid")
                          for d in ("forward", "backward") if d in slot}
            layers.append(builder.assemble(name, kind, directions, **common))
            if len(slot) == 2:
                bidirectional.append(name)
    if not layers:
        raise InspectorError(f"{builder.source} holds no recurrent layer's weights; the tool "
                             f"inspects LSTM and CuDNNLSTM layers")
    notes = builder.notes
    notes.append("weights-only file: no architecture is stored, so each layer's kind comes from "
                 "its shapes (bias 8H: CuDNNLSTM, 4H: LSTM) and each layer is assumed to feed "
                 "the next")
    if any(layer.kind == "LSTM" and layer.runnable for layer in layers):
        old = default_recurrent_activation(builder.keras_version) == "hard_sigmoid"
        notes.append(
            "weights-only file: LSTM layers are read with activation tanh and recurrent "
            "activation sigmoid" + (f", but Keras {builder.keras_version} defaulted to "
                                    f"hard_sigmoid" if old else "")
            + "; load with recurrent_activation='hard_sigmoid' (or activation=...) if the model "
              "used other ones")
    if bidirectional:
        notes.append(f"weights-only file: merge mode concat assumed for bidirectional layer(s) "
                     f"{', '.join(bidirectional)}; load with merge_mode=... if it was another")
    return layers


# ---- overrides --------------------------------------------------------------------------------
# ---- entry points -----------------------------------------------------------------------------
def _open_h5(path):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InspectorError(f"{path} is a damaged or truncated HDF5 file ({reason})") from None


def _check_version(source, version):
    if version_tuple(version)[:1] == (1,):
        raise InspectorError(f"{source} was written by Keras {version}; Keras 1 files are not "
                             f"supported (re-save the model with Keras 2)")


def _keras3_hard_sigmoid(layer):
    """Keras 3 redefined hard_sigmoid (relu6(x + 3) / 6); Keras 2's is clip(0.2 x + 0.5, 0, 1)."""
    def k3(name):
        return "hard_sigmoid_keras3" if name == "hard_sigmoid" else name

    dirs = {d: replace(s, activation=k3(s.activation),
                                   recurrent_activation=k3(s.recurrent_activation))
            for d, s in layer.directions.items()}
    return replace(layer, directions=dirs)


def _finish(layers, builder, file_format, overrides) -> Model:
    notes = builder.notes
    rec_defaults = sorted({rec for _, rec in builder.defaulted})
    if rec_defaults:
        who = ", ".join(name for name, _ in builder.defaulted)
        notes.insert(0, f"keras {builder.keras_version or '(unknown version)'} file: LSTM layers "
                        f"without recurrent_activation ({who}) use {rec_defaults[0]}")
    if version_tuple(builder.keras_version)[:1] == (3,) and any(
            "hard_sigmoid" in (l.activation, l.recurrent_activation) for l in layers):
        layers = [_keras3_hard_sigmoid(l) for l in layers]
        notes.append("Keras 3 file: hard_sigmoid is read as Keras 3 defines it, relu6(x + 3) / 6")
    layers = apply_overrides(layers, overrides, notes, "the Keras model")
    return Model(tuple(layers), source=builder.source, file_format=file_format,
                 keras_version=builder.keras_version, notes=tuple(dict.fromkeys(notes)),
                 heads=builder.heads)


def load_keras_h5(path, **overrides) -> Model:
    """Read a Keras HDF5 full-model or weights-only file into a :class:`Model`.

    Parameters
    ----------
    path : the ``.h5`` / ``.hdf5`` file.
    **overrides : ``kind``, ``activation``, ``recurrent_activation``, ``merge_mode``,
        ``layers`` (see :func:`apply_overrides`); mostly for weights-only files, whose
        architecture is not stored.
    """
    source = str(path)
    f = _open_h5(path)
    try:
        with f:
            return _load_open_h5(f, source, overrides)
    except OSError as exc:
        raise InspectorError(f"{source} is damaged: reading it failed ({exc})") from None


def _load_open_h5(f, source, overrides) -> Model:
    version = text(f.attrs.get("keras_version", "")) or (
        text(f["model_weights"].attrs.get("keras_version", "")) if "model_weights" in f else "")
    _check_version(source, version)
    if "model_config" in f.attrs:
        try:
            config = json.loads(text(f.attrs["model_config"]))
        except ValueError:
            raise InspectorError(f"{source} has a model_config that is not valid JSON") from None
        root = f["model_weights"] if "model_weights" in f else f
        cache: dict = {}

        def sets_of(group):
            if group not in cache:
                cache[group] = legacy_sets(root[group]) if group in root else []
            return cache[group]

        builder = _Builder(source, version, sets_of)
        builder.head_arrays = lambda node: keras_head.legacy_arrays(root, node)
        builder.class_names = keras_head.class_names_for(source, f.attrs)
        layers = _layers_from_config(config, builder, _legacy_group)
        return _finish(layers, builder, "keras-h5", overrides)
    builder = _Builder(source, version, None)
    names = attr_list(f, "layer_names")
    if names:
        groups = [(n, legacy_sets(f[n])) for n in names if n in f]
    elif "layers" in f:  # Keras 3 save_weights: layers/<class>[_k]/.../vars/{0,1,2}
        groups = [(key, vars_sets(f["layers"][key]))
                  for key in sorted(f["layers"].keys(), key=_natural)]
        builder.notes.append("Keras 3 weights file: layer order follows the stored layer names")
    else:
        raise InspectorError(f"{source} is an HDF5 file but not a Keras model or weights file "
                             f"(it has no model_config and no layer_names)")
    layers = _layers_from_weights(groups, builder)
    return _finish(layers, builder, "keras-h5-weights", overrides)


def _legacy_group(parent_group, entry, index):
    """Keras 2 HDF5: a nested model's layers keep their weights in the top-level layer's group."""
    return parent_group or kc.layer_name(entry)


def _v3_group(parent_group, entry, index):
    """Keras 3 ``model.weights.h5``: ``layers/<snake class>[_<k>]``, nested under ``.../layers``."""
    key = kc.snake_case(entry.get("class_name", "")) + (f"_{index}" if index else "")
    return f"{parent_group}/layers/{key}" if parent_group else f"layers/{key}"


def load_keras_v3(path, **overrides) -> Model:
    """Read a Keras 3 ``.keras`` zip (``config.json`` + ``model.weights.h5``) into a :class:`Model`."""
    source = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            missing = [m for m in ("config.json", "model.weights.h5") if m not in members]
            if missing:
                raise InspectorError(f"{source} is a zip file but not a Keras model (it has no "
                                     f"{' or '.join(missing)})")
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in members \
                else {}
            weights = archive.read("model.weights.h5")
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InspectorError(f"{source} is a damaged .keras file ({exc})") from None
    version = str(metadata.get("keras_version", ""))
    f = _open_h5(io.BytesIO(weights))
    with f:
        def sets_of(group):
            return vars_sets(f[group]) if group in f else []

        builder = _Builder(source, version, sets_of)
        builder.head_arrays = lambda node: keras_head.vars_arrays(f, node)
        builder.class_names = keras_head.class_names_for(source)
        layers = _layers_from_config(config, builder, _v3_group)
        return _finish(layers, builder, "keras-v3", overrides)


def is_hdf5(path) -> bool:
    """True when the file starts with the HDF5 signature (at 0, 512, 1024 or 2048 bytes)."""
    signature = b"\x89HDF\r\n\x1a\n"
    with open(path, "rb") as handle:
        head = handle.read(2048 + 8)
    return any(head[k:k + 8] == signature for k in (0, 512, 1024, 2048))


__all__ = ["load_keras_h5", "load_keras_v3", "is_hdf5"]
