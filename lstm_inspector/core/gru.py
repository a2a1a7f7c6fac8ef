"""The instrumented NumPy GRU: one direction's step loop, and one teacher-forced step for many rows.

Canonical weights (``gru_weights.py``: blocks r, z, n; ``W (3H, in)``, ``R (3H, H)``)::

    xp_t = W x_t + b_W                                    (3H,)  input part, all steps at once
    r_t  = sigma(xp_r + R_r h_{t-1} + b_Rr)
    z_t  = sigma(xp_z + R_z h_{t-1} + b_Rz)
    Rh_t = R_n h_{t-1} + b_Rn            (reset_after=True: CuDNNGRU, nn.GRU, Keras's default)
         = R_n (r_t * h_{t-1}) + b_Rn    (reset_after=False)
    n~_t = xp_n + r_t * Rh_t             (reset_after=True)
         = xp_n + Rh_t                   (reset_after=False)
    n_t  = act(n~_t)
    h_t  = z_t * h_{t-1} + (1 - z_t) * n_t              (Keras's order of the sum)
    h_{-1} = h0 (zeros unless an initial state is given)

A masked step (``core.masking``) computes its gates but carries h. The trace records, per step,
``z = [r~, z~, n~, Rh]`` (pre-activations and the recurrent part of n on its own, where the two
reset_after conventions differ) and ``a = [r, z, n, Rh]``; a GRU has no cell state (``c`` is None).
Everything is indexed by input time, a reversed direction running t = T-1 ... 0. A long run
(past ``recurrence.KEEP_GATES_BYTES`` a direction, as an LSTM) keeps h alone, a GRU's whole
state: any window of z and a is recomputed from it by the loop's own calls (:class:`GRUStepGates`).
"""
from __future__ import annotations

import numpy as np

from . import activations, recurrence
from .cells import Recent
from .gru_weights import GRUWeights
from .recurrence import loop_blocks, rows_of
from .teacher import TeacherWeights
from .trace import LayerTrace

PROGRESS_EVERY = 256  # steps between progress callbacks


class GRUStepWeights:
    """``w`` prepared in ``dtype``: transposed matrices (``x @ W_T == W x``) and activations."""

    def __init__(self, w: GRUWeights, dtype):
        dtype = np.dtype(dtype)
        self.w, self.dtype, self.H = w, dtype, w.units
        H = self.H
        self.W_T = np.ascontiguousarray(w.weight_ih.T, dtype=dtype)            # (in, 3H)
        self.R_T = np.ascontiguousarray(w.weight_hh.T, dtype=dtype)            # (H, 3H)
        self.R_rz_T = np.ascontiguousarray(self.R_T[:, :2 * H])                 # (H, 2H)
        self.R_n_T = np.ascontiguousarray(self.R_T[:, 2 * H:])                  # (H, H)
        self.b_W = w.bias_ih.astype(dtype)
        self.b_R = w.bias_hh.astype(dtype)
        self.reset_after = w.reset_after
        self.act = activations.get(w.activation)
        self.rec_act = activations.get(w.recurrent_activation)

    def input_part(self, x: np.ndarray) -> np.ndarray:
        """``x W^T + b_W`` (rows, 3H)."""
        out = np.asarray(x, self.dtype) @ self.W_T
        out += self.b_W
        return out

    def steps(self, xp: np.ndarray, h_prev: np.ndarray) -> tuple:
        """Rows of steps from their input parts ``xp`` (rows, 3H) and previous states
        ``h_prev`` (rows, H) (one row: the loop; many: teacher forcing). Returns
        ``(z (rows, 4H), a (rows, 4H), h (rows, H))`` with blocks r, z, n, Rh."""
        H, dtype = self.H, self.dtype
        rows = xp.shape[0]
        z = np.empty((rows, 4 * H), dtype)
        a = np.empty((rows, 4 * H), dtype)
        with np.errstate(over="ignore"):
            if self.reset_after:
                hp = h_prev @ self.R_T                                          # (rows, 3H)
                hp += self.b_R
                z[:, :2 * H] = xp[:, :2 * H] + hp[:, :2 * H]
                a[:, :2 * H] = self.rec_act(z[:, :2 * H])                       # r, z
                rh = hp[:, 2 * H:]                                              # R_n h + b_Rn
                z[:, 2 * H:3 * H] = xp[:, 2 * H:] + a[:, :H] * rh
            else:
                rz = h_prev @ self.R_rz_T
                rz += self.b_R[:2 * H]
                z[:, :2 * H] = xp[:, :2 * H] + rz
                a[:, :2 * H] = self.rec_act(z[:, :2 * H])
                rh = (a[:, :H] * h_prev) @ self.R_n_T                           # R_n (r h)
                rh += self.b_R[2 * H:]
                z[:, 2 * H:3 * H] = xp[:, 2 * H:] + rh
            z[:, 3 * H:] = rh
            a[:, 3 * H:] = rh
            n = self.act(z[:, 2 * H:3 * H])
            a[:, 2 * H:3 * H] = n
            u = a[:, H:2 * H]
            h = u * h_prev + (dtype.type(1) - u) * n
        return z, a, h.astype(dtype, copy=False)


def step_function(sw: GRUStepWeights):
    """The one step both the loop and :class:`GRUStepGates` call::

        step(z, a, h_prev, h)      z (4H,) holds the input part xp_t in its first 3H on entry;
                                   the step fills z and a (blocks r, z, n, Rh) and writes h_t

    tanh / sigmoid layers make a dozen NumPy calls in place (sigma as ``1 / (1 + exp(-z))``);
    other activations go through :meth:`GRUStepWeights.steps` (``core.activations``). The same
    calls on the same values give the same bits, so a window of gates recomputed from the
    stored h is what the loop computed. The caller ignores overflow."""
    H, dtype = sw.H, sw.dtype
    if (sw.w.activation, sw.w.recurrent_activation) != ("tanh", "sigmoid"):
        def generic_step(z, a, h_prev, h):
            zz, aa, hh = sw.steps(z[None, :3 * H].copy(), h_prev[None])
            z[:], a[:], h[:] = zz[0], aa[0], hh[0]
        return generic_step
    R_T, R_rz_T, R_n_T, b_R, one = sw.R_T, sw.R_rz_T, sw.R_n_T, sw.b_R, dtype.type(1)
    b_Rrz, b_Rn, reset_after = b_R[:2 * H], b_R[2 * H:], sw.reset_after
    hp, rz, tmp = np.empty(3 * H, dtype), np.empty(2 * H, dtype), np.empty(H, dtype)
    dot, add, mul, sub = np.dot, np.add, np.multiply, np.subtract
    neg, exp, recip, tanh = np.negative, np.exp, np.reciprocal, np.tanh

    def step(z, a, h_prev, h):
        z_rz, a_rz, z_n, a_n, rh = z[:2 * H], a[:2 * H], z[2 * H:3 * H], a[2 * H:3 * H], z[3 * H:]
        r, u = a[:H], a[H:2 * H]
        if reset_after:
            dot(h_prev, R_T, hp)                      # R h            (3H,)
            add(hp, b_R, hp)                          # + b_R
            add(z_rz, hp[:2 * H], z_rz)               # r~, z~
            rh[:] = hp[2 * H:]                        # Rh = R_n h + b_Rn
        else:
            dot(h_prev, R_rz_T, rz)
            add(rz, b_Rrz, rz)
            add(z_rz, rz, z_rz)
        neg(z_rz, a_rz)                               # sigma = 1 / (1 + exp(-z))
        exp(a_rz, a_rz)
        add(a_rz, one, a_rz)
        recip(a_rz, a_rz)
        if reset_after:
            mul(r, rh, tmp)                           # r * (R_n h + b_Rn)
        else:
            mul(r, h_prev, tmp)                       # R_n (r * h) + b_Rn
            dot(tmp, R_n_T, rh)
            add(rh, b_Rn, rh)
            tmp[:] = rh
        add(z_n, tmp, z_n)                            # n~
        tanh(z_n, a_n)                                # n
        a[3 * H:] = rh
        mul(u, h_prev, h)                             # h = z h_prev + (1 - z) n
        sub(one, u, tmp)
        mul(tmp, a_n, tmp)
        add(h, tmp, h)
    return step


def run_gru_direction(w: GRUWeights, x, reverse: bool, dtype, tick=None, h0=None,
                      mask=None, gates: bool | None = None, on_block=None) -> LayerTrace:
    """Step one GRU direction through time (module docstring); a ``cell="gru"`` LayerTrace.

    ``x`` (T, in) in input time (an array or anything ``x[lo:hi]`` reads); ``reverse``: run
    t = T-1 ... 0; ``tick(steps_done)`` every ``PROGRESS_EVERY`` steps (it may raise
    Cancelled); ``h0`` (H,) the state before the first processed step; ``mask`` (T,) bool,
    True = the step runs (a masked step carries h).

    The input part ``x W^T + b_W`` is one product per loop block (``recurrence.loop_blocks``,
    as the LSTM's), then each step makes :func:`step_function`'s calls: one matrix-vector
    product ``h R^T`` and a dozen elementwise calls, written straight into the trace's rows.
    ``gates``: keep z and a (None: ``recurrence.keep_gates`` decides, as for an LSTM). A long
    run keeps h alone (a GRU has no other state): any window of its gates is recomputed from
    the stored h by the same calls (:class:`GRUStepGates`), and an hour of a GRU(128)
    direction holds 184 MB instead of 1.66 GB. ``on_block(lo, hi, z, a, None, h)``: a long
    run's blocks as they are computed (``recurrence.run_direction``'s, ``core.streamed``),
    buffers untouched until the loop computes the block after next."""
    dtype = np.dtype(dtype)
    sw = GRUStepWeights(w, dtype)
    T, H = len(x), w.units
    keep = recurrence.keep_gates(T, H, dtype) if gates is None else bool(gates)
    Hs = np.empty((T, H), dtype)
    if keep:
        Z, A = np.empty((T, 4 * H), dtype), np.empty((T, 4 * H), dtype)
    else:
        ring = [tuple(np.empty((min(recurrence.BLOCK, T), 4 * H), dtype) for _ in "za")
                for _ in range(1 if on_block is None else recurrence.RING)]
    h_prev = np.zeros(H, dtype) if h0 is None else np.asarray(h0, dtype).reshape(H).copy()
    step = step_function(sw)
    done = 0
    with np.errstate(over="ignore"):
        for n_block, (lo, hi) in enumerate(loop_blocks(T, reverse)):
            Zb, Ab = (Z[lo:hi], A[lo:hi]) if keep else \
                (buffer[:hi - lo] for buffer in ring[n_block % len(ring)])
            Zb[:, :3 * H] = sw.input_part(np.asarray(rows_of(x, lo, hi), dtype))
            for t in (range(hi - 1, lo - 1, -1) if reverse else range(lo, hi)):
                if tick is not None and done % PROGRESS_EVERY == 0:
                    tick(done)
                h = Hs[t]
                step(Zb[t - lo], Ab[t - lo], h_prev, h)
                if mask is not None and not mask[t]:
                    h[:] = h_prev                             # masked: h carried
                h_prev = h
                done += 1
            if not keep and on_block is not None:
                on_block(lo, hi, Zb, Ab, None, Hs[lo:hi])
    if keep:
        return LayerTrace(z=Z, a=A, c=None, h=Hs, cell="gru")
    return LayerTrace(z=None, a=None, c=None, h=Hs, cell="gru",
                      gate_source=GRUStepGates(sw, x, Hs, reverse, h0))


class GRUStepGates:
    """Rows ``lo:hi`` of a long GRU direction's z and a, recomputed exactly from its stored h.

    The calls :func:`run_gru_direction` made, on the same values: the input part of each loop
    block the window touches (the whole block, as the loop computed it; the last two kept),
    then :func:`step_function`'s step from the stored ``h_{t-1}`` (``h0``, or zeros, before the
    first processed step); the h it writes is dropped. A GRU's gates need no other state, so no
    checkpoint is kept. ``x`` as in ``recurrence.rows_of``."""

    def __init__(self, sw: GRUStepWeights, x, h: np.ndarray, reverse: bool, h0=None):
        self.sw, self.x, self.h, self.reverse = sw, x, h, reverse
        self.h0 = np.zeros(sw.H, sw.dtype) if h0 is None else \
            np.asarray(h0, sw.dtype).reshape(sw.H).copy()
        self.step = step_function(sw)
        self._blocks = Recent(2)

    def input_block(self, lo: int, hi: int) -> np.ndarray:
        """The input part of the loop block ``lo:hi``, computed as the loop computed it."""
        return self._blocks.get((lo, hi), lambda: self.sw.input_part(
            np.asarray(rows_of(self.x, lo, hi), self.sw.dtype)))

    def __call__(self, lo: int, hi: int) -> tuple:
        H, h, T = self.sw.H, self.h, self.h.shape[0]
        z = np.empty((hi - lo, 4 * H), self.sw.dtype)
        a = np.empty_like(z)
        for b_lo, b_hi in sorted(loop_blocks(T, self.reverse)):
            if b_lo < hi and lo < b_hi:
                s, e = max(lo, b_lo), min(hi, b_hi)
                z[s - lo:e - lo, :3 * H] = self.input_block(b_lo, b_hi)[s - b_lo:e - b_lo]
        dropped = np.empty(H, self.sw.dtype)
        with np.errstate(over="ignore"):
            for t in range(lo, hi):
                prev = t + 1 if self.reverse else t - 1
                self.step(z[t - lo], a[t - lo], h[prev] if 0 <= prev < T else self.h0, dropped)
        return z, a


def gru_teacher_step(sw: GRUStepWeights, x: np.ndarray, h_prev: np.ndarray) -> LayerTrace:
    """Every row's step from the given previous h (teacher forcing): no recurrence left."""
    z, a, h = sw.steps(sw.input_part(x), np.asarray(h_prev, sw.dtype))
    return LayerTrace(z=z, a=a, c=None, h=h, cell="gru")


def prepared(w, dtype):
    """``w`` (canonical LSTM or GRU weights, or either already prepared) as what a
    teacher-forced block multiplies by in ``dtype`` (``reference.teacher_forced_layer``)."""
    dtype = np.dtype(dtype)
    if isinstance(w, (TeacherWeights, GRUStepWeights)) and w.dtype == dtype:
        return w
    base = w.w if isinstance(w, (TeacherWeights, GRUStepWeights)) else w
    if isinstance(base, GRUWeights):
        return GRUStepWeights(base.astype(dtype), dtype)
    return TeacherWeights(base.astype(dtype), dtype)
