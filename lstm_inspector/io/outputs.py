"""Outputs of a port written in another language (C, a phone build...), read as a path.

``load_outputs(model, x, "port_h.npz")`` reads what the port computed on the same features
and returns a :class:`~lstm_inspector.core.port_trace.PortTrace` (h measured, c measured when
the file has it else derived, gates measured when the file has them else derived).

Files and array names (T frames, H units of the layer):

=========================  ====================================================================
``.npy``                   (T, H): h of the layer (``--layer``, default 0), forward direction;
                           (T, 2H) for a bidirectional layer: forward then backward columns
``.csv`` / ``.txt``        the same as a table; (T, 2H) for a one-direction layer: h then c
``.npz``                   any of ``h``, ``c`` (the layer, forward) or per layer and direction
                           ``layer0/h``, ``layer0/forward/c``, ``layer1/backward/h``...; gates
                           under the same prefixes as ``i``, ``f``, ``g`` (c~), ``o``
=========================  ====================================================================

Everything is by *input time* (a backward direction's row t is the step that read x_t), as
Keras's Bidirectional returns it. Layer k > 0 is judged on the input the port itself gave it:
the file's output of layer k-1 when the file holds every direction of it, else the reference's.
Files are read with NumPy only (``allow_pickle=False``): nothing in them is executed.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..core.port_trace import PortTrace, check_states, port_layer_trace, to_input_time
from ..core.analysis import reversed_direction
from ..core.reference import layer_output, run_reference
from ..errors import InspectorError
from .named_arrays import read_named_arrays

_KEY = re.compile(r"^(?:layer(?P<layer>\d+)/)?(?:(?P<dir>forward|backward)/)?(?P<q>h|c|i|f|g|o)$")


def _read_npz(path: Path, default_layer: int) -> dict:
    """``{(layer, direction): {quantity: array}}`` from an npz's names (see the module docstring)."""
    names = ("h, c (and gates i, f, g, o), optionally under layer<k>/ and forward/ or backward/, "
             "e.g. layer0/forward/h")
    out = {}
    for m, arr in read_named_arrays(path, _KEY, "the outputs file", names):
        k = int(m["layer"]) if m["layer"] is not None else default_layer
        out.setdefault((k, m["dir"] or "forward"), {})[m["q"]] = arr
    return out


def _read_table(path: Path, layer, default_layer: int) -> dict:
    """An npy or text table: h (and c, or the backward h), see the module docstring."""
    from .features import load_features

    data = np.asarray(load_features(str(path)).data)
    H = layer.units
    if data.ndim != 2 or data.shape[1] not in (H, 2 * H):
        raise InspectorError(f"{path.name} has shape {data.shape}; expected (frames, {H}) "
                             f"for h of layer {default_layer} ({layer.name}, {H} units), or "
                             f"(frames, {2 * H}) for h and c (both directions if bidirectional)")
    if data.shape[1] == H:
        return {(default_layer, "forward"): {"h": data}}
    if layer.bidirectional:
        return {(default_layer, "forward"): {"h": data[:, :H]},
                (default_layer, "backward"): {"h": data[:, H:]}}
    return {(default_layer, "forward"): {"h": data[:, :H], "c": data[:, H:]}}


def load_outputs(model, x, path, layer=None, reference=None) -> PortTrace:
    """Read a port's outputs on features ``x`` as a trace.

    Parameters
    ----------
    model : Model
    x : array (T, in), the features the port ran on.
    path : an npy, npz, csv or txt file (names in the module docstring).
    layer : int, optional; the layer an unnamed array belongs to (default 0).
    reference : Trace, optional; the float32 NumPy reference on ``x`` (computed when needed).
    """
    path = Path(path)
    if not path.is_file():
        raise InspectorError(f"there is no outputs file '{path}'")
    chain = model.chain
    default_layer = 0 if layer is None else int(layer)
    if not 0 <= default_layer < len(chain):
        raise InspectorError(f"the model has {len(chain)} runnable recurrent layer(s); "
                             f"--layer {default_layer} is not one of them")
    if reference is None:
        reference = run_reference(model, x)
    x = reference.x
    suffix = path.suffix.lower()
    if suffix == ".npz":
        found = _read_npz(path, default_layer)
    elif suffix in (".npy", ".csv", ".txt", ".tsv", ".dat"):
        found = _read_table(path, chain[default_layer], default_layer)
    else:
        raise InspectorError(f"{path.name}: outputs are read from .npy, .npz, .csv or .txt files")
    T = x.shape[0]
    n_layers = max(k for k, _ in found) + 1
    if n_layers > len(chain):
        raise InspectorError(f"{path.name} has outputs for layer {n_layers - 1}, but the model "
                             f"has {len(chain)} runnable recurrent layer(s)")
    layers = [dict() for _ in range(n_layers)]
    inputs = {}
    for k in sorted({k for k, _ in found}):
        rec = chain[k]
        below = layers[k - 1] if k else None
        if k == 0:
            inputs[k] = x
        elif below and set(below) == set(chain[k - 1].directions):
            inputs[k] = layer_output(chain[k - 1], below)     # the port's own output below
        else:
            inputs[k] = layer_output(chain[k - 1], reference.layers[k - 1])
        for d in rec.directions:
            arrays = found.get((k, d))
            if arrays is None:
                continue
            if "h" not in arrays:
                raise InspectorError(f"{path.name} has {', '.join(sorted(arrays))} for layer {k} "
                                     f"{d} but no h")
            what = f"{path.name} (layer {k} {d})"
            q = {n: check_states(n, a, T, rec.units, what) for n, a in arrays.items()}
            for n, a in q.items():
                if not np.isfinite(a).all():
                    t = int(np.argwhere(~np.isfinite(a))[0][0])
                    raise InspectorError(f"{what} has NaN/Inf in {n}, first at step {t}")
            reverse = reversed_direction(model, k, d)
            proc = {n: to_input_time(a.astype(np.float64), reverse) for n, a in q.items()}
            gates = {n: proc[n] for n in "ifgo" if n in proc}
            layers[k][d] = port_layer_trace(
                rec.weights(d), to_input_time(np.asarray(inputs[k], np.float64), reverse),
                proc["h"], proc.get("c"), gates, reverse, np.float64)
        missing = set(found) - {(k, d) for d in rec.directions} - {(j, e) for j, e in found if j != k}
        if missing:
            raise InspectorError(f"{path.name} has a backward direction for layer {k}, which has none")
    last = max(k for k, dirs in enumerate(layers) if dirs)
    if set(layers[last]) == set(chain[last].directions):
        output = layer_output(chain[last], layers[last])
    else:
        output = next(iter(layers[last].values())).h
    return PortTrace(layers=layers, layer_names=[chain[k].name for k in range(n_layers)], x=x,
                     output=output, label=f"your outputs ({path.name})",
                     meta={"backend": "outputs", "file": str(path), "device": "your port",
                           "dtype": "float64", "tf32": "n/a"},
                     layer_inputs=inputs, source=str(path))
