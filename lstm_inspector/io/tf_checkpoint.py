"""TensorFlow checkpoints (TF 1.x ``Saver``, TF 2 ``tf.train.Checkpoint`` / ``save_weights``) in.

A checkpoint stores variables only: names, shapes and values, no layer classes and no
configuration. This loader reads them with TensorFlow's checkpoint reader (nothing in the file is
executed), groups them into recurrent layers by name, and tells the layer kind from the shapes:

==============================================  ===========================  ==============
``kernel``, ``recurrent_kernel``, ``bias``      kind                         true reading
==============================================  ===========================  ==============
``(in, 4H)``, ``(H, 4H)``, ``(8H,)``             CuDNNLSTM                    ``cudnn``
``(in, 4H)``, ``(H, 4H)``, ``(4H,)`` or none     Keras LSTM                   ``keras``
``(in, 3H)``, ``(H, 3H)``, ``(6H,)``             CuDNNGRU                     ``cudnn`` (GRU)
``(in, 3H)``, ``(H, 3H)``, ``(2,3H)``/``(3H,)``  GRU, reset_after True/False  ``keras`` (GRU)
==============================================  ===========================  ==============

Names the loader understands (``/.ATTRIBUTES/VARIABLE_VALUE`` is stripped first):

* TF 1.x ``Saver``: ``<scope>/cu_dnnlstm/kernel``, ``<scope>/cu_dnnlstm_1/...``, bidirectional
  ``bidirectional/forward_cu_dnnlstm/kernel`` and ``.../backward_cu_dnnlstm/...``; a layer built
  without its own scope gives ``<scope>/kernel``, ``<scope>/kernel_1`` (grouped by the suffix).
* TF 2 object-based: ``model/layer_with_weights-0/kernel``, ``layer-1/...``, bidirectional
  ``.../forward_layer/...`` and ``.../backward_layer/...``; Keras ``LSTM`` adds ``/cell``.
* ``tf.contrib.cudnn_rnn.CudnnLSTM``: its saver writes, beside the ``opaque_kernel`` buffer,
  canonical tensors ``<scope>/rnn/multi_rnn_cell/cell_<k>/cudnn_compatible_lstm_cell/kernel``
  ``(in + H, 4H)`` and ``bias (4H,)`` (bidirectional: ``stack_bidirectional_rnn/cell_<k>/
  bidirectional_rnn/fw|bw/...``). That kernel is ``concat([x, h]) @ kernel`` with gates in order
  i, c~, f, o and both biases summed, so ``kernel[:in]`` / ``kernel[in:]`` are read with
  ``layout="keras", gate_order="icfo"``. An ``opaque_kernel`` alone is refused: its flat layout
  cannot be split without the layer sizes.

Optimizer state is skipped: TF 2 slot variables (``.OPTIMIZER_SLOT``, ``optimizer/...``), TF 1.x
slots (``.../kernel/Adam``, ``Adam_1``, ``Momentum``...) and Keras ``training/...`` variables.

Layer order: by the indices in the names (``layer_with_weights-0 < layer_with_weights-1``,
``cu_dnnlstm < cu_dnnlstm_1``, ``cell_0 < cell_1``). TF 1.x auto-names count per class, so
``bidirectional`` and ``cu_dnnlstm_1`` say nothing about each other; when the name order does not
feed each layer's output width into the next one's input width, the first order that does (keeping
each class's counter order) is taken and a note says so.

TensorFlow is imported inside the functions that need it, never at module import.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace

import numpy as np

from ..core.model import Model, RecurrentLayer
from ..core.gru_weights import GRU_READINGS, StoredGRU
from ..core.weights import READINGS, Reading, StoredLSTM
from ..errors import InspectorError
from .checkpoint_files import _get_tensor, _open_reader, _resolve_prefix, _shape_map
from .overrides import (apply_overrides, check_overrides, remaining_assumptions,
                        weights_only_assumptions)

FILE_FORMAT = "tf-checkpoint"

#: True reading of the canonical tensors ``tf.contrib.cudnn_rnn.CudnnLSTM``'s saver writes.
CONTRIB_CANONICAL_READING = Reading("cudnn-rnn-canonical", layout="keras", gate_order="icfo", bias="sum")

_ATTRIBUTES_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_LEAF = re.compile(r"^(kernel|recurrent_kernel|bias|opaque_kernel)(?:_(\d+))?$")
_OPTIMIZER_SCOPE = re.compile(
    r"^(optimizer|training|Adam|AdamW|SGD|RMSprop|RMSProp|Adagrad|Adadelta|Adamax|Nadam|Ftrl|"
    r"Momentum|GradientDescent|LossScaleOptimizer)(_\d+)?$"
)
_CONTRIB_CELL = "cudnn_compatible_lstm_cell"
_MAX_ORDERED = 8  # width-chain search over permutations stays below 8! = 40320 orders
_MAX_ORDERINGS = 50000


# ---- entry point -------------------------------------------------------------------------
def load_checkpoint(path, **overrides) -> Model:
    """Load the recurrent layers of a TensorFlow checkpoint.

    Parameters
    ----------
    path : str or Path
        The checkpoint prefix (``model.ckpt``), its ``.index`` file, a ``.data-00000-of-00001``
        shard, its ``.meta`` file, or a folder (its ``checkpoint`` file names the latest).
    **overrides
        The Keras loader's options, for what a checkpoint does not store (None: not given).
        ``kind``: ``"CuDNNLSTM"`` or ``"LSTM"`` sets how the stored arrays are read instead of
        inferring it from the bias length (8H -> CuDNNLSTM, 4H -> LSTM; CuDNNLSTM also fixes
        tanh / sigmoid); ``activation``, ``recurrent_activation``: Keras names (TF 1.x ``LSTM``
        used ``hard_sigmoid``); ``merge_mode``: ``concat`` (assumed), ``sum``, ``mul``, ``ave``
        or ``none`` for bidirectional layers; ``layers``: a name or list of names the options
        apply to (default: every runnable layer).

    Returns
    -------
    Model
        ``file_format="tf-checkpoint"``, ``source`` the resolved prefix, ``notes`` saying what
        was assumed (a checkpoint has no configuration).

    Raises
    ------
    InspectorError
        Missing or corrupt checkpoint, no LSTM variables, an ``opaque_kernel`` alone, or an
        unknown override.
    """
    options = check_overrides(overrides, "a TF checkpoint")
    prefix = _resolve_prefix(path)
    reader = _open_reader(prefix)
    shapes = _shape_map(reader, prefix)
    groups = _group_variables(shapes)
    layers, notes = _build_layers(groups, lambda name: _get_tensor(reader, name, prefix), options)
    if layers:
        layers = apply_overrides(layers, options, notes, "the checkpoint")
    if not layers:
        if any(g.opaque for g in groups):
            raise InspectorError(
                f"checkpoint {prefix} holds only a tf.contrib.cudnn_rnn opaque_kernel buffer, whose "
                "flat layout cannot be split without the layer sizes; re-save it with CudnnLSTM's "
                "saver (canonical tensors) or as a Keras CuDNNLSTM model"
            )
        examples = ", ".join(sorted(n for n in shapes if n != "_CHECKPOINTABLE_OBJECT_GRAPH")[:3])
        raise InspectorError(
            f"checkpoint {prefix} holds no LSTM variables (no kernel / recurrent_kernel / bias "
            f"group among {len(shapes)} variables{', e.g. ' + examples if examples else ''})"
        )
    bidirectional = [layer.name for layer in layers if layer.bidirectional]
    assumptions = remaining_assumptions(weights_only_assumptions(
        any(layer.kind == "LSTM" and layer.runnable for layer in layers), False, bidirectional),
        overrides)
    notes.append("TF checkpoint (no architecture stored): the tool assumed "
                 + "; ".join(assumptions))
    return Model(layers=tuple(layers), source=str(prefix), file_format=FILE_FORMAT,
                 notes=tuple(notes), assumptions=tuple(assumptions))


# ---- grouping variables by name ----------------------------------------------------------
@dataclass
class _Group:
    """Variables sharing a scope: one layer direction, a non-recurrent layer, or an opaque buffer."""

    path: tuple  # scope components, leaf removed
    suffix: int  # 0, or k for leaf names ``kernel_k`` (same-scope duplicates in TF 1.x)
    names: dict = field(default_factory=dict)  # leaf ("kernel", ...) -> full variable name
    shapes: dict = field(default_factory=dict)  # leaf -> shape

    @property
    def opaque(self) -> bool:
        return "opaque_kernel" in self.names

    @property
    def recurrent(self) -> bool:
        return "recurrent_kernel" in self.names and "kernel" in self.names

    @property
    def contrib_cell(self) -> bool:
        return bool(self.path) and self.path[-1] == _CONTRIB_CELL and "kernel" in self.names


def _is_optimizer_state(components) -> bool:
    return any(c.startswith(".OPTIMIZER_SLOT") for c in components) or bool(
        components and _OPTIMIZER_SCOPE.match(components[0])
    )


def _group_variables(shapes: dict) -> list:
    """Groups of ``kernel / recurrent_kernel / bias / opaque_kernel`` variables by scope."""
    groups = {}
    for name, shape in shapes.items():
        clean = name[: -len(_ATTRIBUTES_SUFFIX)] if name.endswith(_ATTRIBUTES_SUFFIX) else name
        components = tuple(c for c in clean.split("/") if c)
        if not components or _is_optimizer_state(components):
            continue
        match = _LEAF.match(components[-1])
        if not match:
            continue
        leaf, suffix = match.group(1), int(match.group(2) or 0)
        group = groups.setdefault((components[:-1], suffix), _Group(components[:-1], suffix))
        group.names[leaf] = name
        group.shapes[leaf] = shape
    return list(groups.values())


def _component_key(component: str):
    """Natural-sort key: ``cu_dnnlstm`` < ``cu_dnnlstm_1`` < ``cu_dnnlstm_10``."""
    match = re.match(r"^(.*?)[-_]?(\d+)$", component)
    if match and match.group(1):
        return (match.group(1), int(match.group(2)))
    return (component, 0) if not component.isdigit() else ("", int(component))


def _sort_key(path, suffix=0):
    return tuple(_component_key(c) for c in path) + (("", suffix),)


# ---- one direction -----------------------------------------------------------------------
@dataclass
class _Direction:
    kind: str  # CuDNNLSTM, LSTM, CudnnLSTM, GRU, CuDNNGRU, SimpleRNN, ?
    input_size: int
    units: int
    stored: StoredLSTM | None = None
    unsupported: str = ""
    notes: tuple = ()


def _read_direction(group: _Group, fetch, label: str) -> _Direction:
    """One direction as the file stores it: kind from the shapes, tanh / sigmoid."""
    if group.contrib_cell:
        return _read_contrib_cell(group, fetch)
    k_shape, r_shape = group.shapes["kernel"], group.shapes["recurrent_kernel"]
    b_shape = group.shapes.get("bias")
    if len(r_shape) != 2 or len(k_shape) != 2 or r_shape[0] == 0 or r_shape[1] % r_shape[0]:
        return _Direction("?", k_shape[0] if k_shape else 0, r_shape[0] if r_shape else 0,
                          unsupported=f"recurrent kernel of shape {r_shape} is not (H, gates*H)")
    units, n_in = r_shape[0], k_shape[0]
    gates = r_shape[1] // units
    if k_shape[1] != r_shape[1]:
        return _Direction("?", n_in, units,
                          unsupported=f"kernel {k_shape} and recurrent kernel {r_shape} disagree")
    if gates == 3:
        return _read_gru(group, fetch, n_in, units, b_shape)
    if gates == 1:
        return _Direction("SimpleRNN", n_in, units, unsupported="SimpleRNN layers are not supported")
    if gates != 4:
        return _Direction("?", n_in, units,
                          unsupported=f"a recurrent kernel of {gates} gate blocks is not an LSTM")
    if b_shape not in (None, (4 * units,), (8 * units,)):
        return _Direction("?", n_in, units,
                          unsupported=f"LSTM bias of shape {b_shape} is neither (4H,) nor (8H,)")

    notes = []
    kernel, recurrent = fetch(group.names["kernel"]), fetch(group.names["recurrent_kernel"])
    if b_shape is None:
        bias = np.zeros(4 * units, kernel.dtype)
        notes.append(f"layer {label} has no bias variable (use_bias=False): read as zero")
    else:
        bias = fetch(group.names["bias"])
    kind = "CuDNNLSTM" if bias.shape == (8 * units,) else "LSTM"
    reading = READINGS["cudnn"] if kind == "CuDNNLSTM" else READINGS["keras"]
    stored = StoredLSTM(kernel, recurrent, bias, true_reading=reading)
    return _Direction(kind, n_in, units, stored=stored, notes=tuple(notes))


def _read_gru(group: _Group, fetch, n_in: int, units: int, b_shape) -> _Direction:
    """A GRU direction: CuDNNGRU from a (6H,) bias, Keras GRU with reset_after from (2, 3H),
    without it from (3H,) (``core.gru_weights``)."""
    shapes = {(6 * units,): ("CuDNNGRU", "cudnn", True), (2, 3 * units): ("GRU", "keras", True),
              (3 * units,): ("GRU", "keras", False), None: ("GRU", "keras", True)}
    if b_shape not in shapes:
        return _Direction("GRU", n_in, units, unsupported=f"GRU bias of shape {b_shape} is "
                          f"not (3H,), (2, 3H) or (6H,)")
    kind, layout, reset_after = shapes[b_shape]
    reading = replace(GRU_READINGS[layout], reset_after=reset_after)
    bias = None if b_shape is None else fetch(group.names["bias"])
    stored = StoredGRU(fetch(group.names["kernel"]), fetch(group.names["recurrent_kernel"]), bias,
                       true_reading=reading)
    return _Direction(kind, n_in, units, stored=stored)


def _read_contrib_cell(group: _Group, fetch) -> _Direction:
    k_shape, b_shape = group.shapes["kernel"], group.shapes.get("bias")
    if len(k_shape) != 2 or k_shape[1] % 4 or k_shape[0] <= k_shape[1] // 4:
        return _Direction("CudnnLSTM", 0, 0,
                          unsupported=f"CudnnLSTM canonical kernel of shape {k_shape} is not (in + H, 4H)")
    units = k_shape[1] // 4
    n_in = k_shape[0] - units
    if b_shape != (4 * units,):
        return _Direction("CudnnLSTM", n_in, units,
                          unsupported=f"CudnnLSTM canonical bias of shape {b_shape} is not ({4 * units},)")
    stitched = fetch(group.names["kernel"])  # (in + H, 4H): concat([x, h]) @ stitched, gates i c f o
    stored = StoredLSTM(
        np.ascontiguousarray(stitched[:n_in]), np.ascontiguousarray(stitched[n_in:]),
        fetch(group.names["bias"]), true_reading=CONTRIB_CANONICAL_READING,
    )
    return _Direction("CudnnLSTM", n_in, units, stored=stored)


# ---- layers ------------------------------------------------------------------------------
@dataclass
class _LayerVars:
    """The direction groups of one recurrent layer and where it sits in the names."""

    path: tuple  # the layer's scope (direction and cell components removed)
    inner: str  # TF 1.x Bidirectional: the wrapped layer's name (``cu_dnnlstm_1``), else ""
    suffix: int
    directions: dict = field(default_factory=dict)  # "forward"/"backward" -> _Group
    name: str = ""

    @property
    def sort_key(self):
        return _sort_key(self.path + ((self.inner,) if self.inner else ()), self.suffix)

    @property
    def family(self):
        """Keras counts auto-names per class, so one family's layers keep their name order."""
        if self.inner:
            return self.path, _component_key(self.inner)[0]
        if not self.path:
            return self.path, "#"
        return self.path[:-1], _component_key(self.path[-1])[0]


def _scope_of(group: _Group) -> tuple:
    """A direction group's scope without the cell component (``cell``, CudnnLSTM's cell)."""
    if group.path and group.path[-1] in ("cell", _CONTRIB_CELL):
        return group.path[:-1]
    return group.path


def _split_direction(path: tuple):
    """``(layer path, inner name, "forward"|"backward"|None)`` of a direction group's scope."""
    if not path:
        return path, "", None
    last = path[-1]
    for direction, tf2, tf1 in (("forward", "forward_layer", "fw"), ("backward", "backward_layer", "bw")):
        if last in (tf2, tf1):
            return path[:-1], "", direction
        if last.startswith(direction + "_") and len(last) > len(direction) + 1:
            return path[:-1], last[len(direction) + 1:], direction
    return path, "", None


def _collect_layers(groups: list) -> list:
    """Direction groups paired into layers; a lone ``forward_x`` stays a plain layer ``x``."""
    candidates = {}
    for group in groups:
        if not (group.recurrent or group.contrib_cell):
            continue
        layer_path, inner, direction = _split_direction(_scope_of(group))
        candidates.setdefault((layer_path, inner, group.suffix), {})[direction] = group
    layers = []
    for (layer_path, inner, suffix), found in candidates.items():
        if None in found:
            layers.append(_LayerVars(layer_path, inner, suffix, {"forward": found[None]}))
        if "forward" in found and "backward" in found:
            layers.append(_LayerVars(layer_path, inner, suffix,
                                     {"forward": found["forward"], "backward": found["backward"]}))
        else:
            for direction in ("forward", "backward"):
                if direction in found:  # no partner: a plain layer under its own scope
                    group = found[direction]
                    layers.append(_LayerVars(_scope_of(group), "", suffix, {"forward": group}))
    # names: the scope, unique; a TF 1.x wrapper sharing its scope with others adds the inner name
    for layer in layers:
        layer.name = "/".join(layer.path) or "(root)"
        if layer.suffix:
            layer.name += f"[{layer.suffix}]"
    counts = {}
    for layer in layers:
        counts[layer.name] = counts.get(layer.name, 0) + 1
    for layer in layers:
        if counts[layer.name] > 1 and layer.inner:
            layer.name = "/".join(layer.path + (layer.inner,))
    return sorted(layers, key=lambda l: l.sort_key)


def _build_layers(groups: list, fetch, options: dict):
    """Ordered :class:`RecurrentLayer` list and notes from variable groups."""
    notes = []
    if any(g.opaque for g in groups) and any(g.contrib_cell for g in groups):
        notes.append("ignored the CudnnLSTM opaque_kernel buffer and read the canonical tensors "
                     "its saver wrote beside it (gates i, c~, f, o; biases summed)")
    records = _collect_layers(groups)
    if not records:
        return [], notes
    built = []
    for record in records:
        layer, layer_notes = _make_layer(record, fetch)
        notes.extend(layer_notes)
        built.append(layer)

    order, order_note = _order_layers(records, built)
    if order_note:
        notes.append(order_note)
    records = [records[k] for k in order]
    built = [built[k] for k in order]
    built = _mark_feeds(records, built, groups)
    notes.extend(_summary_notes(built, options))
    if any(l.runnable for l in built):
        notes.append("a checkpoint stores variables only: return_sequences=True, no go_backwards "
                     "and nothing but Dropout between recurrent layers are assumed")
    return built, notes


def _make_layer(record: _LayerVars, fetch):
    name = record.name
    notes = []
    directions = {d: _read_direction(g, fetch, name + ("" if d == "forward" else " (backward)"))
                  for d, g in record.directions.items()}
    forward = directions["forward"]
    for d in directions.values():
        notes.extend(d.notes)
    bidirectional = len(directions) == 2
    unsupported = next((d.unsupported for d in directions.values() if d.unsupported), "")
    if bidirectional and not unsupported:
        f, b = directions["forward"], directions["backward"]
        if (f.kind, f.input_size, f.units) != (b.kind, b.input_size, b.units):
            unsupported = (f"its forward ({f.kind} {f.input_size}->{f.units}) and backward "
                           f"({b.kind} {b.input_size}->{b.units}) directions differ")
    if unsupported:
        return RecurrentLayer(name, forward.kind, forward.input_size, forward.units,
                              unsupported=unsupported), notes
    layer = RecurrentLayer(
        name, forward.kind, forward.input_size, forward.units,
        directions={d: directions[d].stored for d in directions},
        merge_mode="concat" if bidirectional else None,
    )
    return layer, notes


def _summary_notes(layers: list, options: dict) -> list:
    """One note per assumption, naming the layers it concerns."""
    def names(predicate):
        return ", ".join(l.name for l in layers if l.runnable and predicate(l))

    notes = []
    if names(lambda l: l.kind == "CuDNNLSTM"):
        notes.append(f"inferred CuDNNLSTM from the 8H bias: {names(lambda l: l.kind == 'CuDNNLSTM')}")
    if names(lambda l: l.kind == "LSTM"):
        act = options.get("recurrent_activation", "sigmoid")
        notes.append(
            f"read as Keras LSTM (x @ kernel) with recurrent activation {act}"
            + ("" if "recurrent_activation" in options
               else " (TF 2's default; TF 1.x and Keras <= 2.2 used hard_sigmoid)")
            + f": {names(lambda l: l.kind == 'LSTM')}"
        )
    if names(lambda l: l.kind == "CudnnLSTM"):
        notes.append("read tf.contrib.cudnn_rnn.CudnnLSTM canonical tensors (concat([x, h]) @ kernel, "
                     f"gates i, c~, f, o, biases summed): {names(lambda l: l.kind == 'CudnnLSTM')}")
    # merge mode, go_backwards, activations: Model.assumptions (one note, each with its option)
    return notes


def _is_indexed(path: tuple) -> bool:
    return any(re.match(r"^layer(_with_weights)?-\d+$", c) for c in path)


def _order_layers(records: list, layers: list):
    """Indices of the layers in name order, or in the first width-consistent order when TF 1.x
    names leave the order open (keeping each name family's counter order)."""
    identity = list(range(len(layers)))
    if len(layers) < 2 or all(_is_indexed(r.path) for r in records) or _chains(layers):
        return identity, ""
    if len(layers) > _MAX_ORDERED:
        return identity, ("layer order taken from the variable names; it may not be the model's "
                          "(TF 1.x names do not say it)")
    for count, perm in enumerate(itertools.permutations(identity)):
        if count > _MAX_ORDERINGS:
            break
        last_seen = {}
        consistent = True
        for k in perm:
            family = records[k].family
            if last_seen.get(family, -1) > k:
                consistent = False
                break
            last_seen[family] = k
        if consistent and _chains([layers[k] for k in perm]):
            names = " -> ".join(layers[k].name for k in perm)
            return list(perm), (f"layer order inferred from matching widths ({names}); "
                                "TF 1.x variable names do not say it")
    return identity, ("layer order taken from the variable names; their widths do not chain, so "
                      "only the first layer (or each layer alone) can be run")


def _chains(layers) -> bool:
    return all(
        before.runnable and after.runnable and after.input_size == before.output_size
        for before, after in zip(layers, layers[1:])
    )


def _mark_feeds(records: list, layers: list, groups: list) -> list:
    """``feeds_next=False`` where a weighted non-recurrent layer (Dense...) sits between two
    recurrent layers; known only where TF 2 names carry layer indices."""
    from dataclasses import replace

    others = [_sort_key(g.path, g.suffix) for g in groups
              if "kernel" in g.names and not g.recurrent and not g.contrib_cell and _is_indexed(g.path)]
    out = list(layers)
    for k in range(len(out) - 1):
        a, b = records[k], records[k + 1]
        if _is_indexed(a.path) and _is_indexed(b.path) and any(
            a.sort_key < o < b.sort_key and o[: len(a.path)] != a.sort_key[: len(a.path)] for o in others
        ):
            out[k] = replace(out[k], feeds_next=False)
    return out
