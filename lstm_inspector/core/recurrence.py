"""The reference's step loop, and the exact recomputation of any window of its gates.

One direction, canonical weights (see ``reference.py`` for the equations)::

    z_t = (x_t W^T + b_W + b_R) + h_{t-1} R^T      (4H,)
    a_t = sigma(z_t) on i, f, o;  act(z_t) on c~
    c_t = f_t c_{t-1} + i_t c~_t;  h_t = o_t act(c_t)

The input part ``x W^T + b`` is computed for ``BLOCK`` steps at once (a row-invariant product:
every row's value is the same whatever block it falls in), the recurrent part one step at a time
(``np.dot(h_{t-1}, R^T)``). Because h and c are stored, the gates of any window ``lo:hi`` can be
recomputed afterwards with *the same operations on the same values* (:class:`StepGates`): bit for
bit what the loop computed. A long trace therefore keeps only c and h (H values per step instead
of 10 H) and recomputes the gates of the window a view or the analysis reads.
"""
from __future__ import annotations

import itertools

import numpy as np

from . import activations
from .tf32 import round_tf32
from .trace import LayerTrace
from .weights import LSTMWeights

FAST = ("tanh", "sigmoid")  # (activation, recurrent_activation) of the unrolled fast loop
BLOCK = 4096                # steps whose input part is computed at once
PROGRESS_EVERY = 256        # steps between progress callbacks (a Cancel is honoured within them)
ROW_TILE = 64               # rows per padded GEMM tile: see row_invariant_matmul
#: A direction keeps its gates (z and a, 8H values per step) when they take at most this many
#: bytes (float32: 131,072 steps at H = 128, 32,768 at H = 512); longer runs keep c and h and
#: recompute the gates of the window asked for (a cursor move then recomputes its step).
KEEP_GATES_BYTES = 512 * 2 ** 20


def row_invariant_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` with every row's value independent of how many rows ``a`` has.

    BLAS takes other code paths for a ragged last tile of rows (or a single row), so one row's
    result can differ in the last bit between a 1000-row product and a 333-row one. Padding
    ``a`` with zero rows to a multiple of ``ROW_TILE`` keeps every row in full tiles, so a long
    input computed chunk by chunk gets exactly the values of the whole at once.
    """
    rows = a.shape[0]
    pad = -rows % ROW_TILE
    if pad:
        a = np.concatenate([a, np.zeros((pad, a.shape[1]), a.dtype)])
    return (a @ b)[:rows]


def keep_gates(steps: int, units: int, dtype) -> bool:
    """Whether a direction of ``steps`` x ``units`` holds its gates (see ``KEEP_GATES_BYTES``)."""
    return steps * 8 * units * np.dtype(dtype).itemsize <= KEEP_GATES_BYTES


class _Weights:
    """What the loop and the recomputation share: transposed matrices, summed bias, activations."""

    def __init__(self, w: LSTMWeights, dtype):
        self.H = w.units
        self.W_T = np.ascontiguousarray(w.weight_ih.T, dtype=dtype)   # (in, 4H)
        self.R_T = np.ascontiguousarray(w.weight_hh.T, dtype=dtype)   # (H, 4H): h @ R_T == R h
        # TF32 products (core.tf32): the weights rounded once, x (and h) rounded as they come
        self.round_x = w.matmul in ("tf32", "tf32-xh")
        self.round_h = w.matmul == "tf32-xh"
        if self.round_x:
            self.W_T = round_tf32(self.W_T).astype(dtype)
        if self.round_h:
            self.R_T = round_tf32(self.R_T).astype(dtype)
        self.bias = (w.bias_ih + w.bias_hh).astype(dtype)
        self.fast = (w.activation, w.recurrent_activation) == FAST
        self.act = activations.get(w.activation)
        self.rec_act = activations.get(w.recurrent_activation)

    def input_part(self, x_rows: np.ndarray, out: np.ndarray) -> None:
        """``out = x_rows W^T + b`` (rows, 4H)."""
        if self.round_x:
            x_rows = round_tf32(x_rows).astype(self.W_T.dtype)
        out[...] = row_invariant_matmul(x_rows, self.W_T)
        out += self.bias

    def rec_input(self, h: np.ndarray) -> np.ndarray:
        """``h`` as the recurrent product reads it (rounded to TF32 under ``tf32-xh``)."""
        return round_tf32(h).astype(self.R_T.dtype) if self.round_h else h

    def activate(self, z: np.ndarray, a: np.ndarray) -> None:
        """``a`` = the gates of ``z`` (any leading shape, last axis 4H), elementwise."""
        H = self.H
        with np.errstate(over="ignore"):
            if self.fast:
                # sigma(z) = 1 / (1 + exp(-z)) on all four blocks, then c~ = tanh(z_c) over it
                np.negative(z, a)
                np.exp(a, a)
                np.add(a, 1, a)
                np.reciprocal(a, a)
                np.tanh(z[..., 2 * H:3 * H], a[..., 2 * H:3 * H])
            else:
                a[...] = self.rec_act(z)
                a[..., 2 * H:3 * H] = self.act(z[..., 2 * H:3 * H])


def run_direction(w: LSTMWeights, x: np.ndarray, reverse: bool, dtype, tick=None,
                  gates: bool | None = None, h0=None, c0=None, mask=None) -> LayerTrace:
    """Step one direction through time, recording c, h (and z, a) into a new LayerTrace.

    ``x`` (T, in) in input time; ``reverse``: run t = T-1 ... 0. ``gates``: keep z and a
    (None: :func:`keep_gates` decides); when not kept the trace recomputes any window of them
    exactly (:class:`StepGates`). ``tick(steps_done)`` is called every ``PROGRESS_EVERY`` steps
    (it may raise Cancelled). ``h0, c0`` (H,): the state before the first processed step
    (default zeros; a stream's carried state). ``mask`` (T,) bool, True = the step runs: a
    masked step still computes its gates (as Keras does) but carries c and h (``masking.py``).
    """
    T, H = x.shape[0], w.units
    ww = _Weights(w, dtype)
    keep = keep_gates(T, H, dtype) if gates is None else bool(gates)
    C, Hs = np.empty((T, H), dtype), np.empty((T, H), dtype)
    Z = np.empty((T, 4 * H), dtype) if keep else None
    A = np.empty((T, 4 * H), dtype) if keep else None
    h_prev = np.zeros(H, dtype) if h0 is None else np.array(h0, dtype)
    c_prev = np.zeros(H, dtype) if c0 is None else np.array(c0, dtype)
    rec, tmp = np.empty(4 * H, dtype), np.empty(H, dtype)
    dot, add, mul, tanh = np.dot, np.add, np.multiply, np.tanh
    rec_in = ww.rec_input if ww.round_h else None
    done = 0
    for start in range(0, T, BLOCK):
        lo, hi = (T - min(start + BLOCK, T), T - start) if reverse else (start, min(start + BLOCK, T))
        Zb = Z[lo:hi] if keep else np.empty((hi - lo, 4 * H), dtype)
        Ab = A[lo:hi] if keep else np.empty((hi - lo, 4 * H), dtype)
        ww.input_part(x[lo:hi], Zb)
        # Per-step views, made by C-level iteration (cheaper than indexing in the loop).
        # Ab.reshape(n, 4, H)[j] unpacks to the i, f, c~, o views of step j.
        kept = itertools.repeat(True) if mask is None else mask[lo:hi].tolist()
        steps = zip(Zb, Ab, Ab.reshape(hi - lo, 4, H), C[lo:hi], Hs[lo:hi], kept)
        steps = reversed(list(steps)) if reverse else iter(steps)
        while True:
            if tick is not None:
                tick(done)
            batch = list(itertools.islice(steps, PROGRESS_EVERY))
            if not batch:
                break
            with np.errstate(over="ignore"):
                for zt, at, (i, f, g, o), ct, ht, kt in batch:
                    dot(h_prev if rec_in is None else rec_in(h_prev), ww.R_T, rec)  # R h_{t-1}
                    add(zt, rec, zt)                               # z_t
                    ww.activate(zt, at)
                    mul(f, c_prev, ct)                             # f * c_{t-1}
                    mul(i, g, tmp)
                    add(ct, tmp, ct)                               # + i * c~
                    if ww.fast:
                        tanh(ct, ht)
                    else:
                        ht[:] = ww.act(ct)
                    mul(ht, o, ht)                                 # h_t = o * act(c_t)
                    if not kt:                                     # masked: state carried
                        ct[:], ht[:] = c_prev, h_prev
                    h_prev, c_prev = ht, ct
            done += len(batch)
    source = None if keep else StepGates(ww, x, Hs, reverse, h0)
    return LayerTrace(z=Z, a=A, c=C, h=Hs, gate_source=source)


class StepGates:
    """Rows ``lo:hi`` of a direction's z and a, recomputed exactly from its stored h.

    The same input part (row-invariant), the same ``np.dot(h_{t-1}, R^T)`` per step and the same
    elementwise activations as :func:`run_direction`: equal to what the loop computed, bit for bit.
    ``x`` may be an array (T, in) or a callable ``(lo, hi) -> rows`` (a layer's input recomputed
    from the layer below).
    """

    def __init__(self, weights: _Weights, x, h: np.ndarray, reverse: bool, h0=None):
        self.w, self.x, self.h, self.reverse = weights, x, h, reverse
        self.h0 = None if h0 is None else np.array(h0, h.dtype)  # the state before the first step

    def __call__(self, lo: int, hi: int) -> tuple:
        w, h, T = self.w, self.h, self.h.shape[0]
        dtype = h.dtype
        x_rows = self.x(lo, hi) if callable(self.x) else self.x[lo:hi]
        z = np.empty((hi - lo, 4 * w.H), dtype)
        w.input_part(np.asarray(x_rows, dtype), z)
        rec = np.empty(4 * w.H, dtype)
        for j, t in enumerate(range(lo, hi)):
            prev = t + 1 if self.reverse else t - 1
            if 0 <= prev < T:
                np.dot(w.rec_input(h[prev]), w.R_T, rec)
            elif self.h0 is not None:
                np.dot(w.rec_input(self.h0), w.R_T, rec)
            else:
                rec[:] = 0
            np.add(z[j], rec, z[j])
        a = np.empty_like(z)
        w.activate(z, a)
        return z, a


def cell_states_between(w: LSTMWeights, x: np.ndarray, h: np.ndarray, checkpoints: dict,
                        dtype=np.float32, out: np.ndarray | None = None, h0=None, c0=None):
    """c at every step of one direction from its measured h and c at a few steps (processing order).

    ``x`` (T, in) and ``h`` (T, H) in processing order; ``checkpoints`` ``{step: c (H,)}`` the
    c a library returned at those steps. Between them::

        i, f, c~ = gates of  x_t W^T + h_{t-1} R^T + b       (h_{t-1}: the measured one)
        c_t      = f_t c_{t-1} + i_t c~_t                    (from the last checkpoint on)

    so c is *derived* from the path's own h (no recurrence through the library), restarting at
    every measured checkpoint, whose value is kept as measured. ``h0, c0`` (H,): the state
    before the first step (default zeros). Returns ``(c (T, H), gap)``: gap is the largest
    |derived - measured| at a checkpoint, c carried over one chunk. With ``out`` (T, H) given
    (it may be a reversed view), c is written there and only gap returned.
    """
    T, H = h.shape
    ww = _Weights(w, dtype)
    c = np.empty((T, H), dtype) if out is None else out
    c_prev = np.zeros(H, dtype) if c0 is None else np.array(c0, dtype)
    gap = 0.0
    for lo in range(0, T, BLOCK):
        hi = min(lo + BLOCK, T)
        z = np.empty((hi - lo, 4 * H), dtype)
        ww.input_part(np.asarray(x[lo:hi], dtype), z)
        h_prev = np.zeros((hi - lo, H), dtype)
        h_prev[1 if lo == 0 else 0:] = h[max(lo - 1, 0):hi - 1]
        if lo == 0 and h0 is not None:
            h_prev[0] = h0
        z += row_invariant_matmul(ww.rec_input(h_prev), ww.R_T)
        a = np.empty_like(z)
        ww.activate(z, a)
        ig = a[:, :H] * a[:, 2 * H:3 * H]                                  # i * c~   (rows, H)
        f = a[:, H:2 * H]
        for j in range(hi - lo):
            t = lo + j
            c_prev = f[j] * c_prev + ig[j]
            if t in checkpoints:
                gap = max(gap, float(np.abs(c_prev - checkpoints[t]).max()))
                c_prev = checkpoints[t]
            c[t] = c_prev
    return gap if out is not None else (c, gap)
