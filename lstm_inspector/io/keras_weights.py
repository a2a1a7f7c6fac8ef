"""Weights-only Keras files (``save_weights``): layers inferred from the arrays alone.

No architecture is stored, so each layer's kind comes from its shapes (bias 8H: CuDNNLSTM,
4H: LSTM; (H, 3H) recurrent kernel: GRU, 6H bias: CuDNNGRU; (H, H): SimpleRNN) and everything
else is assumed;
every assumption is stated once (``Model.assumptions``) and each has a load option.
"""
from __future__ import annotations

from ..errors import InspectorError
from . import keras_config as kc
from .h5_arrays import _CELL_PART, WeightSet, default_recurrent_activation
from .keras_layers import _Builder
from .overrides import weights_only_assumptions

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
        return ("CuDNNGRU" if bias == (6 * H,) else "GRU"), ""
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
    lstm = any(layer.kind == "LSTM" and layer.runnable for layer in layers)
    gru = any(layer.cell == "gru" and layer.runnable for layer in layers)
    old = default_recurrent_activation(builder.keras_version) == "hard_sigmoid"
    builder.assumptions.extend(weights_only_assumptions(lstm, old, bidirectional, gru))
    return layers

