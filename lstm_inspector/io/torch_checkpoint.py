"""PyTorch ``nn.LSTM`` and ``nn.GRU`` weights from a state dict (``torch.save`` ``.pt``/``.pth``, or safetensors).

A state dict names its tensors ``<prefix>weight_ih_l{k}[_reverse]``, ``weight_hh_l{k}``,
``bias_ih_l{k}``, ``bias_hh_l{k}`` (``weight_hr_l{k}`` with ``proj_size``); the prefix is the
module's path in the model (``encoder.lstm.``, or none for a bare ``nn.LSTM``). Layers, width,
units and directions are read from those names and shapes:

    weight_ih_l{k} (4H, in_k)   weight_hh_l{k} (4H, H)   bias_ih_l{k}, bias_hh_l{k} (4H,)
    in_0 = the input width, in_k = D * H (D = 2 when ``_reverse`` tensors exist)

These are cuDNN's canonical arrays (gate order i, f, g, o; ``z = W x + b_ih + R h + b_hh``), so
they go into :class:`~lstm_inspector.core.weights.LSTMWeights` unchanged and are kept as
CuDNNLSTM's stored arrays (``LSTMWeights.to_cudnn_keras``, an exact reshuffle), the convention
the rest of the tool already runs on every backend. A bidirectional ``nn.LSTM`` returns
``concat(forward, backward)`` per step: Keras's ``merge_mode="concat"``. tanh / sigmoid are fixed
in ``nn.LSTM``. With ``proj_size=P`` each direction also holds ``weight_hr_l{k} (P, H)``:
``h_t = W_hr (o_t * tanh(c_t))`` is P wide (c stays H wide), ``weight_hh_l{k}`` is ``(4H, P)``
and the next layer's input is ``D * P``; the projection is kept beside the stored arrays
(``StoredLSTM.projection``).
An ``nn.GRU`` (``weight_hh (3H, H)``, gates r, z, n, reset_after) is kept as its own arrays
under the ``torch`` GRU reading (``core.gru_weights``).

``.pt`` files are read by ``io.torch_runtime`` (``torch.load(weights_only=True)``, never
unpickling code); safetensors by ``io.safetensors_file`` (json and NumPy, no torch needed).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..core.gru_weights import GRU_READINGS, StoredGRU, from_torch_gru
from ..core.model import Model, RecurrentLayer
from ..core.weights import READINGS, StoredLSTM, from_torch
from ..errors import InspectorError

_NAME = re.compile(r"^(?P<prefix>.*?)(?P<what>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)"
                   r"_l(?P<layer>\d+)(?P<reverse>_reverse)?$")
GATES = {4: "nn.LSTM", 3: "nn.GRU", 1: "nn.RNN"}


def load_torch_checkpoint(path, safetensors: bool = False, prefix: str | None = None,
                          **overrides) -> Model:
    """The ``nn.LSTM`` of a state dict file as a :class:`Model`.

    ``prefix`` names the module when the file holds several (``"encoder.lstm."``; the trailing
    dot may be left out). Raises InspectorError for a file that needs code to unpickle, holds no
    or several LSTMs (without ``prefix``), or whose tensors do not fit together.
    """
    refuse_keras_options(overrides, "a PyTorch checkpoint (nn.LSTM computes tanh and sigmoid, "
                                    "concatenates its directions and stores its whole structure)")
    path = Path(path)
    if safetensors:
        from .safetensors_file import read_header, read_tensor

        entries = read_header(path)
        names, file_format = list(entries), "safetensors"

        def fetch(name):
            return read_tensor(path, entries[name])
    else:
        from .torch_runtime import load_tensors

        tensors = load_tensors(path)
        names, fetch, file_format = list(tensors), tensors.__getitem__, "pytorch-state-dict"
    modules = group_modules(names)
    chosen = choose_module(modules, prefix, path.name, len(names))
    layers = build_layers(chosen, modules[chosen], fetch, path.name)
    module = layers[0].kind if layers else "nn.LSTM"
    layout = ("gates r, z, n, reset_after: n = tanh(W_n x + b_in + r * (R_n h + b_hn))"
              if module == "nn.GRU" else "gates i, f, g, o, b_ih + b_hh")
    notes = [f"PyTorch state dict, module '{chosen or '(no prefix)'}': {module} weights read as "
             f"stored (cuDNN's layout, {layout})"
             + (f"; its directions are concatenated, forward first, as {module} returns them"
                if any(l.bidirectional for l in layers) else "")]
    others = sorted(set(modules) - {chosen})
    if others:
        notes.append(f"the file holds other recurrent modules too: {', '.join(map(repr, others))} "
                     f"(--prefix picks one)")
    return Model(layers=tuple(layers), source=str(path), file_format=file_format,
                 notes=tuple(notes))


def refuse_keras_options(overrides: dict, what: str) -> None:
    """One sentence for a Keras weights-only option given for a file that stores what it sets."""
    given = sorted(k for k, v in overrides.items() if v not in (None, False, (), []))
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise InspectorError(f"{flags} do{'es' if len(given) == 1 else ''} not apply to {what}; "
                             f"--reading puts another reading beside the true one")


def group_modules(names) -> dict:
    """``{prefix: {(layer, reverse): {what: tensor name}}}`` for every recurrent module."""
    modules: dict = {}
    for name in names:
        match = _NAME.match(name)
        if match:
            key = (int(match["layer"]), bool(match["reverse"]))
            modules.setdefault(match["prefix"], {}).setdefault(key, {})[match["what"]] = name
    return {p: parts for p, parts in modules.items()
            if any("weight_ih" in v for v in parts.values())}


def choose_module(modules: dict, prefix, file: str, count: int) -> str:
    """The prefix of the module to load: the one asked for, or the only one."""
    listed = ", ".join(repr(p) if p else "'' (no prefix)" for p in sorted(modules))
    if prefix is not None:
        for candidate in (prefix, prefix + "." if prefix and not prefix.endswith(".") else prefix):
            if candidate in modules:
                return candidate
        raise InspectorError(f"{file} has no recurrent module with prefix '{prefix}'"
                             + (f" (it has {listed})" if modules else ""))
    if not modules:
        raise InspectorError(f"{file} holds no nn.LSTM weights (no tensor named like "
                             f"'weight_ih_l0' among its {count})")
    if len(modules) > 1:
        raise InspectorError(f"{file} holds {len(modules)} recurrent modules ({listed}); name one "
                             f"with --prefix (API: prefix=...)")
    return next(iter(modules))


def build_layers(prefix: str, parts: dict, fetch, file: str) -> list:
    """One :class:`RecurrentLayer` per ``l{k}``, checked to chain (``in_k = D * H``)."""
    depth = 1 + max(k for k, _ in parts)
    bidirectional = any(rev for _, rev in parts)
    layers, width = [], None
    for k in range(depth):
        dirs = {}
        for direction, rev in (("forward", False), ("backward", True))[:1 + bidirectional]:
            names = parts.get((k, rev))
            if not names or "weight_ih" not in names or "weight_hh" not in names:
                raise InspectorError(f"{file}: module '{prefix}' lacks weight_ih_l{k}"
                                     f"{'_reverse' if rev else ''} or weight_hh_l{k}"
                                     f"{'_reverse' if rev else ''}")
            unsupported = _unsupported(names, fetch, k, rev)
            if unsupported:
                return layers + [_refused(prefix, k, names, fetch, unsupported)]
            dirs[direction] = _direction(names, fetch, file)
        forward = dirs["forward"]
        gru = getattr(forward, "cell", "") == "gru"
        # kernel (in, gates * H); recurrent kernel (P, 4H) under proj_size, so H is read here
        n_in, units = forward.kernel.shape[0], forward.kernel.shape[1] // (3 if gru else 4)
        if width is not None and n_in != width:
            raise InspectorError(f"{file}: {prefix}weight_ih_l{k} takes {n_in} inputs but layer "
                                 f"{k - 1} outputs {width}")
        width = (forward.proj_size or units) * len(dirs)
        layers.append(RecurrentLayer(
            name=f"{prefix}l{k}", kind="nn.GRU" if gru else "nn.LSTM", input_size=n_in, units=units,
            directions=dirs,
            merge_mode="concat" if bidirectional else None, use_bias="bias_ih" in parts[(k, False)],
            feeds_next=k < depth - 1))
    return layers


def _unsupported(names: dict, fetch, k: int, rev: bool) -> str:
    """Why this layer direction cannot be run ("" when it can)."""
    suffix = f"l{k}{'_reverse' if rev else ''}"
    w_hh = fetch(names["weight_hh"]).shape
    if "weight_hr" in names:  # proj_size: weight_hh is (4H, P), weight_hr (P, H)
        w_hr = fetch(names["weight_hr"]).shape
        gates = w_hh[0] // w_hr[1] if len(w_hr) == 2 and w_hr[1] and w_hh[0] % w_hr[1] == 0 else 0
        return "" if gates == 4 else (f"nn.LSTM weight_hr_{suffix} {tuple(w_hr)} does not fit "
                                      f"weight_hh_{suffix} {tuple(w_hh)}")
    gates = w_hh[0] // w_hh[1] if len(w_hh) == 2 and w_hh[1] and w_hh[0] % w_hh[1] == 0 else 0
    if gates not in (4, 3):
        kind = GATES.get(gates, "a recurrent module")
        return (f"{kind} (weight_hh_{suffix} {tuple(w_hh)}) is not supported; the tool runs "
                f"nn.LSTM and nn.GRU")
    return ""


def _refused(prefix, k, names, fetch, why) -> RecurrentLayer:
    w_ih, w_hh = fetch(names["weight_ih"]).shape, fetch(names["weight_hh"]).shape
    kind = "nn.LSTM" if why.startswith("nn.LSTM") else why.split(" (")[0]
    gates = {v: g for g, v in GATES.items()}.get(kind, 1)  # weight_ih is (gates * H, in)
    return RecurrentLayer(name=f"{prefix}l{k}", kind=kind, input_size=int(w_ih[-1]),
                          units=int(w_ih[0]) // gates, unsupported=why, feeds_next=False)


def _direction(names: dict, fetch, file: str) -> StoredLSTM:
    arrays = [fetch(names[w]) if w in names else None
              for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    if (arrays[2] is None) != (arrays[3] is None):
        raise InspectorError(f"{file}: {names['weight_ih']} has one bias tensor without the other "
                             f"(bias_ih and bias_hh come together)")
    w_hh = np.asarray(arrays[1])
    if w_hh.ndim == 2 and w_hh.shape[0] == 3 * w_hh.shape[1]:   # nn.GRU: (3H, H)
        return _gru_direction(arrays, names, file)
    projection = fetch(names["weight_hr"]) if "weight_hr" in names else None
    try:
        weights = from_torch(*arrays, weight_hr=projection)
    except InspectorError as exc:
        raise InspectorError(f"{file}: {names['weight_ih'].rsplit('weight_ih', 1)[0]}: "
                             f"{exc}") from None
    kernel, recurrent, bias = weights.to_cudnn_keras()
    return StoredLSTM(kernel, recurrent, bias, true_reading=READINGS["cudnn"],
                      projection=weights.weight_hr)


def _gru_direction(arrays: list, names: dict, file: str) -> StoredGRU:
    """An ``nn.GRU`` direction kept as stored: ``kernel = weight_ih.T``, ``recurrent_kernel =
    weight_hh.T``, ``bias = [bias_ih, bias_hh]`` under the ``torch`` GRU reading (gates r, z, n,
    reset_after), so that ``StoredGRU.read()`` gives the arrays back unchanged."""
    try:
        weights = from_torch_gru(*arrays)
    except InspectorError as exc:
        raise InspectorError(f"{file}: {names['weight_ih'].rsplit('weight_ih', 1)[0]}: "
                             f"{exc}") from None
    bias = None if arrays[2] is None else np.concatenate([weights.bias_ih, weights.bias_hh])
    return StoredGRU(np.ascontiguousarray(weights.weight_ih.T),
                     np.ascontiguousarray(weights.weight_hh.T), bias,
                     true_reading=GRU_READINGS["torch"])
