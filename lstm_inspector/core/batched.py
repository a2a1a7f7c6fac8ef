"""The reference on many utterances at once: one product per step for the whole batch.

Utterances of different lengths share one step loop in *processing order*: sorted longest
first, utterance ``j`` runs its own steps ``s = 0 .. T_j - 1``, so at step ``s`` the utterances
still running are a prefix ``0:k`` of the batch (packed sequences) and nothing is ever padded
into a state. Per step, for those ``k`` rows::

    rec[j]  = h_prev[j] R^T                          (k, 1, H) @ (H, 4H): stacked matmul
    z[j]   += rec[j];  a = gates of z                  elementwise
    c[j]    = f c_prev + i c~;  h[j] = o act(c)        elementwise

Why the numbers are those of :func:`recurrence.run_direction`, bit for bit:

* the stacked ``matmul`` of ``(k, 1, H) @ (H, 4H)`` runs, for each ``j``, the same vector-matrix
  BLAS routine as the single utterance's ``np.dot(h (H,), R_T)`` (the same call on the same
  operands; ``tests/test_sweep_batch.py`` checks it on this machine's BLAS);
* the input part ``x W^T + b`` is computed per utterance on its own loop blocks
  (:func:`recurrence.loop_blocks`), the very products ``run_direction`` makes;
* every other operation is elementwise (a NumPy ufunc gives an element the same value wherever
  it sits in the array) and runs through the same functions (:class:`recurrence._Weights`).

Only utterances whose gates the single run holds (``recurrence.keep_gates``) and that fit one
loop block are batched; others run alone (:func:`run_reference_batch` says which).

Where the compiled engine runs every direction (``compiled_loop``: float32, tanh/sigmoid, no
TF32 rounding of h), the utterances run one by one on it instead: its step is the NumPy step's
calls without Python around them, so stepping rows together saves nothing there, and the
batch's own loop (a dozen NumPy calls a step) is slower (measured on 48 utterances of 100-600
frames, 2 x Bi(128): 1.7 s one by one compiled, 3.8 s batched here). The numbers are the single
run's either way.
"""
from __future__ import annotations

import numpy as np

from .recurrence import BLOCK, _Weights, keep_gates, loop_blocks, steps_compiled
from .trace import LayerTrace
from .weights import LSTMWeights


def batchable(steps: int, units: int, dtype) -> bool:
    """Whether a direction of ``steps`` x ``units`` runs in a batch: it holds its gates and its
    input part is one loop block (longer runs keep c and h only: they run alone)."""
    return steps <= BLOCK and keep_gates(steps, units, dtype)


def run_directions(w: LSTMWeights, xs: list, reverse: bool, dtype, masks=None) -> list:
    """One direction on every ``xs[j]`` (T_j, in), a LayerTrace each, as ``run_direction``'s.

    ``reverse``: each utterance runs t = T_j - 1 ... 0. ``masks``: per utterance a (T_j,) bool
    mask (True = the step runs) or None; a masked step computes its gates and carries c, h.
    Every ``T_j`` must be :func:`batchable` (the caller checks). Zero initial states.
    """
    dtype = np.dtype(dtype)
    ww = _Weights.of(w, dtype)
    H, n = ww.H, len(xs)
    masks = [None] * n if masks is None else list(masks)
    order = sorted(range(n), key=lambda j: -len(xs[j]))       # longest first (stable)
    lengths = [len(xs[j]) for j in order]
    S = lengths[0] if n else 0
    # processing order, slot-major: Zp[slot, s] is utterance order[slot]'s step s (the
    # steps of one utterance stay contiguous: a forward direction's trace is a view of them)
    Zp, Ap = np.empty((n, S, 4 * H), dtype), np.empty((n, S, 4 * H), dtype)
    Cp, Hp = np.empty((n, S, H), dtype), np.empty((n, S, H), dtype)
    keep = np.ones((n, S), bool)
    for slot, j in enumerate(order):
        T = lengths[slot]
        x = np.asarray(xs[j], dtype)
        if reverse:
            Zp[slot, :T] = _input_part(ww, x, reverse, np.empty((T, 4 * H), dtype))[::-1]
        else:
            _input_part(ww, x, reverse, Zp[slot, :T])
        if masks[j] is not None:
            keep[slot, :T] = masks[j][::-1] if reverse else masks[j]
    active = np.searchsorted(-np.asarray(lengths), -np.arange(S), side="left")  # T_j > s: k
    _steps(ww, Zp, Ap, Cp, Hp, active, keep, masks_given=any(m is not None for m in masks))
    out = [None] * n
    for slot, j in enumerate(order):
        T = lengths[slot]
        arrays = (Zp[slot, :T], Ap[slot, :T], Cp[slot, :T], Hp[slot, :T])
        if reverse:  # back to input time, contiguous as run_direction's
            arrays = [np.ascontiguousarray(v[::-1]) for v in arrays]
        out[j] = LayerTrace(*arrays)
    return out


def _input_part(ww: _Weights, x: np.ndarray, reverse: bool, z: np.ndarray) -> np.ndarray:
    """``z`` (T, 4H, C-contiguous) = ``x W^T + b`` in input time, computed on
    ``run_direction``'s own loop blocks."""
    for lo, hi in loop_blocks(x.shape[0], reverse):
        ww.input_part(x[lo:hi], z[lo:hi])
    return z


def _steps(ww: _Weights, Zp, Ap, Cp, Hp, active, keep, masks_given: bool) -> None:
    """The packed step loop (module docstring): step ``s`` updates slots ``0:active[s]``."""
    n, S, H = Cp.shape
    dtype = Cp.dtype
    R_T = ww.R_T
    zeros = np.zeros((n, H), dtype)
    rec, tmp = np.empty((n, 1, 4 * H), dtype), np.empty((n, H), dtype)
    matmul, add, mul, negative, exp, reciprocal = (np.matmul, np.add, np.multiply, np.negative,
                                                   np.exp, np.reciprocal)
    fast = ww.fast and not ww.round_h
    ones = np.ones(4 * H, dtype)
    if ww.fast:
        act_h = np.tanh
    else:
        def act_h(c, out):
            out[:] = ww.act(c)
    with np.errstate(over="ignore"):
        for s in range(S):
            k = int(active[s])
            z, a = Zp[:k, s], Ap[:k, s]
            h_prev = Hp[:k, s - 1] if s else zeros[:k]
            c_prev = Cp[:k, s - 1] if s else zeros[:k]
            r = rec[:k]
            # step_gates, k rows: z += h_prev R^T (one vector-matrix product per row); a = gates
            matmul((h_prev if fast else ww.rec_input(h_prev))[:, None, :], R_T, r)
            add(z, r[:, 0], z)
            if fast:
                negative(z, a)
                exp(a, a)
                add(a, ones, a)
                reciprocal(a, a)
                np.tanh(z[:, 2 * H:3 * H], a[:, 2 * H:3 * H])
            else:
                ww.activate(z, a)
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            ct, ht, t = Cp[:k, s], Hp[:k, s], tmp[:k]
            mul(f, c_prev, ct)                             # f * c_{t-1}
            mul(i, g, t)
            add(ct, t, ct)                                 # + i * c~
            act_h(ct, ht)
            mul(ht, o, ht)                                 # h_t = o * act(c_t)
            if masks_given:
                held = ~keep[:k, s]
                if held.any():                             # masked: state carried
                    ct[held], ht[held] = c_prev[held], h_prev[held]


def compiled_everywhere(model, precision: str) -> bool:
    """Whether the single run steps every direction of ``model`` on the compiled engine (module
    docstring): the batch then runs one by one on it."""
    from . import compiled_loop

    if precision != "float32" or compiled_loop.engine() != "compiled":
        return False
    return all(layer.cell == "lstm" and not layer.proj_size
               and all(steps_compiled(_Weights.of(layer.weights(d), np.float32), np.float32)
                       for d in layer.directions)
               for layer in model.chain)


def run_reference_batch(model, xs: list, dtype="float32") -> list:
    """``[run_reference(model, x, dtype) for x in xs]``, the same Traces bit for bit, with the
    batchable utterances (:func:`batchable`) stepped together, one product per step.

    float32 and float64 run batched; ``mixed_float16`` (its own step, ``half_precision``) and
    the utterances too long for a batch run one by one. No teacher, no initial state.
    """
    from ..errors import InspectorError
    from .reference import (PRECISIONS, chain_input, check_input, layer_output, model_mask,
                            reference_trace, run_reference)

    precision = str(np.dtype(dtype) if dtype != "mixed_float16" else dtype)
    if precision not in PRECISIONS:
        raise InspectorError(f"precision {dtype} is not one of {', '.join(PRECISIONS)}")
    xs = [check_input(model, x) for x in xs]
    chain = model.chain
    if compiled_everywhere(model, precision):
        return [run_reference(model, x, dtype) for x in xs]
    widest = max(layer.units for layer in chain)
    # LSTM equations only: a GRU (core.gru) and a projected nn.LSTM (core.projection) run one by one
    plain = all(layer.cell == "lstm" and not layer.proj_size for layer in chain)
    together = [j for j, x in enumerate(xs) if plain and precision != "mixed_float16"
                and batchable(len(x), widest, precision)]
    out = [None if j in set(together) else run_reference(model, x, dtype)
           for j, x in enumerate(xs)]
    if not together:
        return out
    dtype = np.dtype(precision)
    keeps = [model_mask(model, xs[j]) for j in together]
    layer_ins = [chain_input(xs[j], keep).astype(dtype, copy=False)
                 for j, keep in zip(together, keeps)]
    layers = [[] for _ in together]
    for k, layer in enumerate(chain):
        per_direction = {d: run_directions(layer.weights(d).astype(dtype), layer_ins,
                                           layer.processing_reversed(d), dtype, keeps)
                         for d in layer.directions}
        for n in range(len(together)):
            dir_traces = {d: traces[n] for d, traces in per_direction.items()}
            layers[n].append(dir_traces)
            if k + 1 < len(chain):
                layer_ins[n] = layer_output(layer, dir_traces, keeps[n]).astype(dtype, copy=False)
    names = [layer.name for layer in chain]
    for n, j in enumerate(together):
        out[j] = reference_trace(model, xs[j], layers[n], names, precision, keeps[n])
    return out
