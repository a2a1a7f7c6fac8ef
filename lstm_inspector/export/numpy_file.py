"""``--to numpy``: one standalone Python file (NumPy only) plus its weights in a sibling ``.npz``.

The file never imports lstm_inspector: a user pastes it into their project. Its weights are the
canonical ones (``core.weights.LSTMWeights``: gate blocks i, f, c~, o, ``W (4H, in)``,
``R (4H, H)``, the two bias halves summed), so the code is the plain textbook cell::

    z = W @ x_t + R @ h + b;  i, f, o = sigma(z_i, z_f, z_o);  c~ = act(z_c)
    c = f * c + i * c~;  h = o * act(c)

The file defines one ``step_<k>[_backward](x_t, h, c) -> (h, c)`` per layer direction and
``forward(x, state=None, return_state=False, record=False)`` for the chain; ``state`` lets a
streaming caller carry (h, c) from one chunk into the next.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from ..errors import InspectorError
from .checks import refuse_activations

# Activation sources the generated file may need, keyed by Keras name (what core.activations computes).
_ACTIVATION_SOURCE = {
    "tanh": "np.tanh",
    "sigmoid": "lambda z: 1.0 / (1.0 + np.exp(-z))",
    "hard_sigmoid": "lambda z: np.clip(0.2 * z + 0.5, 0.0, 1.0)",
    "hard_sigmoid_keras3": "lambda z: np.clip(z + 3.0, 0.0, 6.0) / 6.0",
    "relu": "lambda z: np.maximum(z, 0.0)",
    "linear": "lambda z: z",
    "softsign": "lambda z: z / (1.0 + np.abs(z))",
    "softplus": "lambda z: np.logaddexp(z, 0.0)",
    "elu": "lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))",
}


def step_name(index: int, direction: str) -> str:
    """The generated function stepping layer ``index``'s ``direction``: ``step_0``, ``step_1_backward``."""
    return f"step_{index}" + ("" if direction == "forward" else "_backward")


def _arrays(model) -> dict:
    """The npz content: ``L{k}_{direction}_{W,R,b}`` in canonical layout, float32."""
    arrays = {}
    for k, layer in enumerate(model.chain):
        for direction in layer.directions:
            w = layer.weights(direction)
            prefix = f"L{k}_{direction}_"
            arrays[prefix + "W"] = np.ascontiguousarray(w.weight_ih, np.float32)  # (4H, in)
            arrays[prefix + "R"] = np.ascontiguousarray(w.weight_hh, np.float32)  # (4H, H)
            arrays[prefix + "b"] = (w.bias_ih + w.bias_hh).astype(np.float32)    # (4H,)
    return arrays


def _activations_used(model) -> list:
    refuse_activations(model, _ACTIVATION_SOURCE, "NumPy")
    used = []
    for layer in model.chain:
        for name in (layer.activation, layer.recurrent_activation):
            if name not in used:
                used.append(name)
    return used


def _layer_lines(model) -> list:
    lines = []
    for k, layer in enumerate(model.chain):
        kind = (f"Bidirectional({layer.kind}, merge_mode={layer.merge_mode})" if layer.bidirectional
                else layer.kind)
        extra = ", go_backwards" if layer.go_backwards else ""
        lines.append(f"  {k} '{layer.name}': {kind}, in={layer.input_size}, H={layer.units}, "
                     f"activation={layer.activation}, recurrent_activation="
                     f"{layer.recurrent_activation}{extra} -> out={layer.output_size}")
    return lines


_TEMPLATE = '''\
"""A standalone NumPy forward pass of the recurrent layers of {source}.

Written by lstm-inspector, checked step by step against its reference before it was kept.
Needs NumPy only; the weights are in {npz} beside this file.

Layers (each feeds the next; the output is what Keras returns with return_sequences=True):
{layers}

Weights, per layer k and direction d (forward / backward), gate blocks in order i, f, c~, o:
    L{{k}}_{{d}}_W (4H, in)   input weights       (rows g*H:(g+1)*H belong to gate g)
    L{{k}}_{{d}}_R (4H, H)    recurrent weights
    L{{k}}_{{d}}_b (4H,)      bias (CuDNNLSTM's two halves b_W + b_R already summed)

One step (sigma = the layer's recurrent activation, act = its activation):
    z    = W @ x_t + R @ h_prev + b           (4H,)
    i    = sigma(z[0:H])     f = sigma(z[H:2H])     o = sigma(z[3H:4H])
    c~   = act(z[2H:3H])
    c    = f * c_prev + i * c~
    h    = o * act(c)
A backward direction (and a go_backwards layer) steps from the last frame to the first;
Bidirectional reverses the backward outputs back to input time and merges them.

Use:
    y = forward(x)                                   # x (T, in) float32 -> y (T, out)
    y, state = forward(x_chunk, state, return_state=True)   # streaming: carry (h, c) on
    h, c = step_0(x_t, h, c)                          # one step of layer 0
"""
import os

import numpy as np

with np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), {npz!r})) as _npz:
    _W = {{name: _npz[name] for name in _npz.files}}
{activations}

# (layer name, units, go_backwards, merge mode, {{direction: (W, R, b, act, sigma)}})
LAYERS = [
{layer_table}]


def cell(W, R, b, act, sigma, x_t, h, c):
    """One LSTM step: (x_t (in,), h (H,), c (H,)) -> (h, c); equations in the module docstring."""
    H = h.shape[0]
    z = W @ x_t + R @ h + b                 # (4H,)
    i = sigma(z[0:H])
    f = sigma(z[H:2 * H])
    g = act(z[2 * H:3 * H])                 # c~
    o = sigma(z[3 * H:4 * H])
    c = f * c + i * g
    h = o * act(c)
    return h.astype(np.float32), c.astype(np.float32)

{steps}

def run_direction(params, x, reverse, h=None, c=None):
    """Step one direction over x (T, in); returns hs, cs (T, H) in input time and the last (h, c)."""
    W, R, b, act, sigma = params
    H = R.shape[1]
    h = np.zeros(H, np.float32) if h is None else np.asarray(h, np.float32)
    c = np.zeros(H, np.float32) if c is None else np.asarray(c, np.float32)
    T = x.shape[0]
    hs = np.empty((T, H), np.float32)
    cs = np.empty((T, H), np.float32)
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        h, c = cell(W, R, b, act, sigma, x[t], h, c)
        hs[t], cs[t] = h, c
    return hs, cs, (h, c)


def _merge(mode, fwd, bwd):
    if mode == "concat":
        return np.concatenate([fwd, bwd], axis=1)
    if mode == "sum":
        return fwd + bwd
    if mode == "mul":
        return fwd * bwd
    if mode == "ave":
        return (fwd + bwd) / np.float32(2)
    raise ValueError("merge mode %r does not feed a next layer" % (mode,))


def forward(x, state=None, return_state=False, record=False):
    """Run every layer on x (T, in); returns the last layer's output sequence (T, out).

    state: None (zeros) or what a previous call returned with return_state=True, a list per
    layer of {{direction: (h, c)}}, to continue a stream where the previous chunk ended.
    (Streaming a backward direction chunk by chunk is not the same as one call: it reads the
    future.) record=True also returns, per layer, {{direction: (hs, cs)}} in input time.
    """
    x = np.asarray(x, np.float32)
    if x.ndim != 2:
        raise ValueError("x must be (T, in), got shape %s" % (x.shape,))
    new_state, records = [], []
    for k, (name, units, go_backwards, merge, directions) in enumerate(LAYERS):
        outs, layer_state, layer_record = [], {{}}, {{}}
        for direction, params in directions.items():
            reverse = go_backwards != (direction == "backward")
            h0, c0 = (state[k][direction] if state is not None else (None, None))
            hs, cs, last = run_direction(params, x, reverse, h0, c0)
            layer_state[direction] = last
            layer_record[direction] = (hs, cs)
            y = hs[::-1] if reverse else hs      # Keras order: processing order
            if direction == "backward":
                y = y[::-1]                     # Bidirectional: back to input time
            outs.append(y)
        x = outs[0] if len(outs) == 1 else _merge(merge, *outs)
        new_state.append(layer_state)
        records.append(layer_record)
    result = (x,)
    if return_state:
        result += (new_state,)
    if record:
        result += (records,)
    return result[0] if len(result) == 1 else result
'''


def write(model, out: Path) -> list:
    """Write ``out`` (.py) and ``out.with_suffix('.npz')``; returns the paths written."""
    out = Path(out)
    if out.suffix != ".py":
        raise InspectorError(f"a NumPy export is a Python file: name it *.py, not '{out.name}'")
    npz = out.with_suffix(".npz")
    used = _activations_used(model)
    act_lines = "\n".join(f"{name} = {_ACTIVATION_SOURCE[name]}" for name in used)
    table, steps = [], []
    for k, layer in enumerate(model.chain):
        dirs = []
        for direction in layer.directions:
            p = f"L{k}_{direction}_"
            dirs.append(f"{direction!r}: (_W[{p + 'W'!r}], _W[{p + 'R'!r}], _W[{p + 'b'!r}], "
                        f"{layer.activation}, {layer.recurrent_activation})")
            steps.append(textwrap.dedent(f'''
                def {step_name(k, direction)}(x_t, h, c):
                    """Layer {k} '{layer.name}' ({direction}): one step, (x_t ({layer.input_size},), h ({layer.units},), c) -> (h, c)."""
                    return cell(*LAYERS[{k}][4][{direction!r}], x_t, h, c)
                '''))
        table.append(f"    ({layer.name!r}, {layer.units}, {layer.go_backwards}, {layer.merge_mode!r}, "
                     f"{{{', '.join(dirs)}}}),\n")
    source = _TEMPLATE.format(
        source=Path(model.source).name or "a model", npz=npz.name,
        layers="\n".join(_layer_lines(model)), activations=act_lines,
        layer_table="".join(table), steps="".join(steps))
    np.savez(npz, **_arrays(model))
    out.write_text(source, encoding="utf-8")
    return [out, npz]
