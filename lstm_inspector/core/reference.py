"""The instrumented NumPy forward pass: every gate, cell state and output at every timestep.

For one direction with canonical weights (gate blocks i, f, c~, o; see ``weights.py``)::

    z_t  = W x_t + R h_{t-1} + b_W + b_R          (4H,)   pre-activations
    i_t  = sigma(z_i)   f_t = sigma(z_f)   o_t = sigma(z_o)     (sigma: recurrent_activation)
    c~_t = act(z_c)                                            (act: activation, tanh for cuDNN)
    c_t  = f_t * c_{t-1} + i_t * c~_t
    h_t  = o_t * act(c_t)
    h_{-1} = c_{-1} = 0

A backward direction (and a ``go_backwards`` layer) runs t = T-1 ... 0; its "previous" state is
the one of step t+1. Everything is recorded indexed by input time (see ``trace.py``).

Teacher-forced mode replaces (h_{t-1}, c_{t-1}) and each layer's input by another path's
recorded values, so every step is computed from the same state as that path: the difference
at step t is then the *local* error of step t, not error carried over from earlier steps. With
the previous states known, no recurrence remains and the whole layer is one matrix product.

The stored CuDNNLSTM layout is handled once, in ``weights.read_stored``; this module only sees
canonical weights.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..errors import InspectorError, plural
from . import activations
from .model import Model
from .trace import LayerTrace, Trace
from .weights import LSTMWeights

_FAST = ("tanh", "sigmoid")  # (activation, recurrent_activation) of the unrolled fast loop


def check_input(model: Model, x) -> np.ndarray:
    """``x`` as a 2-D (T, in) array, or an InspectorError sentence saying what is wrong."""
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.ndim == 1 and model.input_size == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise InspectorError(f"features have shape {x.shape}; expected (frames, {model.input_size})")
    if x.shape[0] == 0:
        raise InspectorError("the features have no frames")
    if x.shape[1] != model.input_size:
        layer = "the model's first layer" if model.first_layer == 0 else model.layer_label(0)
        raise InspectorError(f"the features have {plural(x.shape[1], 'column')} but {layer} "
                             f"expects {plural(model.input_size, 'input')}")
    if not np.issubdtype(x.dtype, np.number):
        raise InspectorError(f"features of type {x.dtype} are not numbers")
    bad = ~np.isfinite(x)
    if bad.any():
        t, j = np.argwhere(bad)[0]
        raise InspectorError(
            f"the features contain {int(bad.sum())} NaN/Inf values, the first at frame {t}, column {j}")
    return x


def _processing_reversed(layer, direction: str) -> bool:
    """Whether this direction reads the input from the last frame to the first."""
    return layer.go_backwards != (direction == "backward")


def layer_output(layer, dir_traces: dict) -> np.ndarray:
    """The layer's output sequence as Keras returns it, (T, out), from the recorded h.

    A direction that runs reversed returns its outputs in processing order (Keras's
    ``go_backwards``); ``Bidirectional`` reverses the backward one back before merging.
    """
    outs = []
    for direction, lt in dir_traces.items():
        y = lt.h[::-1] if _processing_reversed(layer, direction) else lt.h  # processing order
        if direction == "backward":
            y = y[::-1]
        outs.append(y)
    if len(outs) == 1:
        return outs[0]
    fwd, bwd = outs
    mode = layer.merge_mode
    if mode == "concat":
        return np.concatenate([fwd, bwd], axis=1)
    if mode == "sum":
        return fwd + bwd
    if mode == "mul":
        return fwd * bwd
    if mode == "ave":
        return (fwd + bwd) / fwd.dtype.type(2)
    raise InspectorError(f"layer '{layer.name}' has merge mode {mode!r}, which does not feed a next layer")


def _empty_layer_trace(T: int, H: int, dtype) -> LayerTrace:
    return LayerTrace(z=np.empty((T, 4 * H), dtype), a=np.empty((T, 4 * H), dtype),
                      c=np.empty((T, H), dtype), h=np.empty((T, H), dtype))


PROGRESS_EVERY = 256  # steps between progress callbacks (a Cancel is honoured within them)


def _run_direction(w: LSTMWeights, x: np.ndarray, reverse: bool, dtype,
                   tick=None, h0=None, c0=None) -> LayerTrace:
    """Step one direction through time, recording z, a, c, h into a new LayerTrace.

    ``h0, c0`` (H,): the state before the first processed step (default zeros).

    ``tick(steps_done)`` is called every ``PROGRESS_EVERY`` steps (it may raise Cancelled)."""
    T, H = x.shape[0], w.units
    lt = _empty_layer_trace(T, H, dtype)
    Z, A, C, Hs = lt.z, lt.a, lt.c, lt.h
    # Input part of every step at once: (T, in) @ (in, 4H) -> (T, 4H), written into Z.
    np.dot(x, w.weight_ih.T.astype(dtype), out=Z)
    Z += (w.bias_ih + w.bias_hh).astype(dtype)
    R_T = np.ascontiguousarray(w.weight_hh.T, dtype=dtype)  # (H, 4H): h @ R_T == R h
    h_prev = np.zeros(H, dtype) if h0 is None else np.array(h0, dtype)  # streaming: carried state
    c_prev = np.zeros(H, dtype) if c0 is None else np.array(c0, dtype)
    rec = np.empty(4 * H, dtype)
    tmp = np.empty(H, dtype)
    fast = (w.activation, w.recurrent_activation) == _FAST
    act, rec_act = activations.get(w.activation), activations.get(w.recurrent_activation)
    # Per-step views, made by C-level iteration (cheaper than indexing in the loop).
    # A.reshape(T, 4, H)[t] unpacks to the i, f, c~, o views of step t.
    steps = zip(Z, A, Z[:, 2 * H:3 * H], A[:, 2 * H:3 * H], A.reshape(T, 4, H), C, Hs)
    if reverse:
        steps = reversed(list(steps))
    dot, add, mul, tanh, exp, neg, recip = (
        np.dot, np.add, np.multiply, np.tanh, np.exp, np.negative, np.reciprocal)
    steps = iter(steps)
    with np.errstate(over="ignore"):
        for start in range(0, T, PROGRESS_EVERY):
            if tick is not None:
                tick(start)
            for zt, at, zc, ac, (i, f, g, o), ct, ht in itertools.islice(steps, PROGRESS_EVERY):
                dot(h_prev, R_T, rec)                              # R h_{t-1}      (4H,)
                add(zt, rec, zt)                                   # z_t
                if fast:
                    # sigma(z) = 1 / (1 + exp(-z)) on all four blocks, then c~ = tanh(z_c) over it
                    neg(zt, at)
                    exp(at, at)
                    add(at, 1, at)
                    recip(at, at)
                    tanh(zc, ac)
                else:
                    at[:] = rec_act(zt)
                    ac[:] = act(zc)
                mul(f, c_prev, ct)                                 # f * c_{t-1}
                mul(i, g, tmp)
                add(ct, tmp, ct)                                   # + i * c~
                if fast:
                    tanh(ct, ht)
                else:
                    ht[:] = act(ct)
                mul(ht, o, ht)                                     # h_t = o * act(c_t)
                h_prev, c_prev = ht, ct
    return lt


def layer_output_rows(layer, dir_traces: dict, lo: int, hi: int) -> np.ndarray:
    """Rows ``lo:hi`` of :func:`layer_output` (the layer's output sequence), reading only them."""
    picked = {}
    for direction, lt in dir_traces.items():
        T = lt.h.shape[0]
        # a go_backwards layer returns its sequence reversed: output row t is h[T-1-t]
        picked[direction] = _States(lt.h[T - hi:T - lo] if layer.go_backwards else lt.h[lo:hi])
    return layer_output(layer, picked)


class _States:
    """Just the ``h`` that :func:`layer_output` reads."""

    def __init__(self, h):
        self.h = h


def previous_states(h: np.ndarray, c: np.ndarray, reverse: bool, lo: int, hi: int, dtype) -> tuple:
    """``(h_{t-1}, c_{t-1})`` for input-time rows ``lo:hi`` in processing order (zeros at the start).

    Forward: the previous step of t is t-1; reversed: t+1 (the step that ran before it)."""
    T, H = h.shape
    h_prev = np.zeros((hi - lo, H), dtype)
    c_prev = np.zeros((hi - lo, H), dtype)
    if reverse:
        src = slice(lo + 1, min(hi + 1, T))
        n = src.stop - src.start
        h_prev[:n], c_prev[:n] = h[src], c[src]
    else:
        src = slice(max(lo - 1, 0), hi - 1)
        n = src.stop - src.start
        h_prev[hi - lo - n:], c_prev[hi - lo - n:] = h[src], c[src]
    return h_prev, c_prev


ROW_TILE = 64  # rows per padded GEMM tile: see _row_invariant_matmul


def _row_invariant_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` with every row's value independent of how many rows ``a`` has.

    BLAS takes other code paths for a ragged last tile of rows (or a single row), so one row's
    result can differ in the last bit between a 1000-row product and a 333-row one. Padding
    ``a`` with zero rows to a multiple of ``ROW_TILE`` keeps every row in full tiles, so a long
    input analysed chunk by chunk gets exactly the values of the whole at once.
    """
    rows = a.shape[0]
    pad = -rows % ROW_TILE
    if pad:
        a = np.concatenate([a, np.zeros((pad, a.shape[1]), a.dtype)])
    return (a @ b)[:rows]


def teacher_step(w: LSTMWeights, x: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray,
                 dtype) -> LayerTrace:
    """Every row's step from the given previous states: one matrix product, no loop.

    ``z = x W^T + h_prev R^T + b_W + b_R`` (rows, 4H), then the gates, ``c = f c_prev + i c~``
    and ``h = o act(c)``, row by row independent (so any split of the rows gives the same values).
    """
    z = _row_invariant_matmul(x.astype(dtype, copy=False), w.weight_ih.T.astype(dtype))  # (rows, 4H)
    z += _row_invariant_matmul(h_prev, w.weight_hh.T.astype(dtype))
    z += (w.bias_ih + w.bias_hh).astype(dtype)
    rows = {g: w.gate_rows(g) for g in "ifco"}
    rec_act, act = activations.get(w.recurrent_activation), activations.get(w.activation)
    with np.errstate(over="ignore"):
        a = rec_act(z)
        a[:, rows["c"]] = act(z[:, rows["c"]])
    i, f, g, o = (a[:, rows[k]] for k in "ifco")
    c = f * c_prev + i * g
    return LayerTrace(z=z, a=a.astype(dtype, copy=False), c=c, h=o * act(c))


def teacher_forced_layer(model: Model, index: int, teacher: Trace, dtype="float64",
                         layer_in=None, rows: tuple | None = None) -> dict:
    """Layer ``index`` of ``model.chain`` computed step by step from ``teacher``'s states.

    Its input is ``layer_in`` (the whole (T, in) sequence) or, if None, the teacher's output of
    the layer below (``x`` for the first layer). ``rows=(lo, hi)`` computes only input-time
    steps ``lo:hi`` (bounded memory for long inputs; the values equal those rows of the whole).
    Returns ``{direction: LayerTrace}``; no recurrence, one GEMM per direction.
    """
    dtype = np.dtype(dtype)
    chain = model.chain
    layer = chain[index]
    T = teacher.steps
    lo, hi = (0, T) if rows is None else (int(rows[0]), int(rows[1]))
    if layer_in is not None:
        layer_in = np.asarray(layer_in)[lo:hi]
    elif index == 0:
        layer_in = teacher.x[lo:hi]
    else:
        layer_in = layer_output_rows(chain[index - 1], teacher.layers[index - 1], lo, hi)
    layer_in = np.asarray(layer_in).astype(dtype, copy=False)
    out = {}
    for direction in layer.directions:
        tt = teacher.layer(index, direction)
        w = layer.weights(direction).astype(dtype)
        h_prev, c_prev = previous_states(tt.h, tt.c, _processing_reversed(layer, direction),
                                         lo, hi, dtype)
        out[direction] = teacher_step(w, layer_in, h_prev, c_prev, dtype)
    return out


def run_reference(model: Model, x, dtype="float32", teacher: Trace | None = None,
                  progress=None) -> Trace:
    """Run ``model.chain`` on ``x`` (T, in) and record every quantity at every step.

    Parameters
    ----------
    model : Model
    x : array (T, in)
    dtype : "float32" (what cuDNN computes) or "float64" (an exact-arithmetic oracle).
    teacher : Trace, optional
        Another path's trace; each step then starts from the teacher's (h, c) at the previous
        step and each layer reads the teacher's output of the layer below (local error only).
    progress : callable(fraction, text), optional; may raise ``errors.Cancelled``.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise InspectorError(f"precision {dtype} is not float32 or float64")
    x = check_input(model, x)
    chain = model.chain
    if teacher is not None and len(teacher.layers) < len(chain):
        raise InspectorError("the teacher trace has fewer layers than the model's chain")
    layer_in = x.astype(dtype)
    layers, names = [], []
    jobs = sum(len(layer.directions) for layer in chain)
    done = 0
    for k, layer in enumerate(chain):
        if teacher is not None:
            if progress is not None:
                progress(done / jobs, f"NumPy reference (teacher-forced): layer {layer.name}")
            dir_traces = teacher_forced_layer(model, k, teacher, dtype, layer_in)
            done += len(layer.directions)
        else:
            dir_traces = {}
            for direction in layer.directions:
                text = f"NumPy reference: layer {layer.name} {direction}"
                tick = None
                if progress is not None:
                    def tick(steps_done, base=done, text=text, T=len(layer_in)):
                        progress((base + steps_done / T) / jobs, text)
                w = layer.weights(direction).astype(dtype)
                dir_traces[direction] = _run_direction(
                    w, layer_in, _processing_reversed(layer, direction), dtype, tick)
                done += 1
        layers.append(dir_traces)
        names.append(layer.name)
        if k + 1 < len(chain):
            layer_in = layer_output(layer, dir_traces if teacher is None else teacher.layers[k])
            layer_in = layer_in.astype(dtype, copy=False)
    output = layer_output(chain[-1], layers[-1])
    if progress is not None:
        progress(1.0, "NumPy reference done")
    reading = model.reading or "file"
    label = "NumPy reference" if reading == "file" else f"NumPy, '{reading}' reading"
    backend = "numpy64" if dtype == np.float64 else "numpy"
    meta = {"backend": backend if reading == "file" else f"numpy:{reading}",
            "device": "CPU", "dtype": dtype.name, "tf32": "n/a", "reading": reading,
            "numpy": np.__version__}
    if teacher is not None:
        label += f" (teacher-forced by {teacher.label or 'another path'})"
        meta["teacher"] = teacher.label
    return Trace(layers=layers, layer_names=names, x=x, output=output,
                 label=f"{label} ({dtype.name})", meta=meta, first_layer=model.first_layer)


def derive_gates(model: Model, trace: Trace) -> Trace:
    """Fill a backend trace's z and a from its own measured (h, c): the NumPy equations,
    teacher-forced by the trace itself. Marks them ``derived``; returns the same trace."""
    for k in range(min(len(model.chain), len(trace.layers))):
        forced = teacher_forced_layer(model, k, trace, np.float32)
        for direction, lt in trace.layers[k].items():
            lt.z, lt.a = forced[direction].z, forced[direction].a
            lt.provenance.update({"z": "derived", "i": "derived", "f": "derived",
                                  "c~": "derived", "o": "derived"})
    return trace


def run_direction_from(weights: LSTMWeights, x, h0=None, c0=None, dtype="float32") -> LayerTrace:
    """One forward-running direction on ``x`` (n, in) from ``(h0, c0)``: a chunk of a stream."""
    dtype = np.dtype(dtype)
    return _run_direction(weights.astype(dtype), np.asarray(x, dtype), False, dtype, None, h0, c0)
