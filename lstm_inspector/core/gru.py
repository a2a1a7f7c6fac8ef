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
Everything is indexed by input time, a reversed direction running t = T-1 ... 0.
"""
from __future__ import annotations

import numpy as np

from . import activations
from .gru_weights import GRUWeights
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


def run_gru_direction(w: GRUWeights, x, reverse: bool, dtype, tick=None, h0=None,
                      mask=None) -> LayerTrace:
    """Step one GRU direction through time (module docstring); a ``cell="gru"`` LayerTrace.

    ``x`` (T, in) in input time (an array or anything ``x[lo:hi]`` reads); ``reverse``: run
    t = T-1 ... 0; ``tick(steps_done)`` every ``PROGRESS_EVERY`` steps (it may raise
    Cancelled); ``h0`` (H,) the state before the first processed step; ``mask`` (T,) bool,
    True = the step runs (a masked step carries h).

    The loop writes each step straight into the trace's rows (views made once, buffers reused):
    one matrix-vector product ``h R^T`` and a dozen elementwise calls a step. tanh / sigmoid
    layers compute sigma as ``1 / (1 + exp(-z))``; other activations go through
    ``core.activations`` (:meth:`GRUStepWeights.steps`, the teacher-forced step)."""
    dtype = np.dtype(dtype)
    sw = GRUStepWeights(w, dtype)
    T, H = len(x), w.units
    Z, A, Hs = np.empty((T, 4 * H), dtype), np.empty((T, 4 * H), dtype), np.empty((T, H), dtype)
    Z[:, :3 * H] = sw.input_part(np.asarray(x[0:T], dtype))        # x W^T + b_W, all steps
    h_prev = np.zeros(H, dtype) if h0 is None else np.asarray(h0, dtype).reshape(H).copy()
    if (w.activation, w.recurrent_activation) != ("tanh", "sigmoid"):
        return _generic_loop(sw, Z, A, Hs, h_prev, reverse, tick, mask)
    R_T, R_n_T, b_R, one = sw.R_T, sw.R_n_T, sw.b_R, dtype.type(1)
    b_Rrz, b_Rn = b_R[:2 * H], b_R[2 * H:]
    hp, rz, tmp = np.empty(3 * H, dtype), np.empty(2 * H, dtype), np.empty(H, dtype)
    dot, add, mul, sub = np.dot, np.add, np.multiply, np.subtract
    neg, exp, recip, tanh = np.negative, np.exp, np.reciprocal, np.tanh
    order = range(T - 1, -1, -1) if reverse else range(T)
    with np.errstate(over="ignore"):
        for done, t in enumerate(order):
            if tick is not None and done % PROGRESS_EVERY == 0:
                tick(done)
            z, a, h = Z[t], A[t], Hs[t]
            z_rz, a_rz, z_n, a_n, rh = z[:2 * H], a[:2 * H], z[2 * H:3 * H], a[2 * H:3 * H], z[3 * H:]
            r, u = a[:H], a[H:2 * H]
            if sw.reset_after:
                dot(h_prev, R_T, hp)                      # R h            (3H,)
                add(hp, b_R, hp)                          # + b_R
                add(z_rz, hp[:2 * H], z_rz)               # r~, z~
                rh[:] = hp[2 * H:]                        # Rh = R_n h + b_Rn
            else:
                dot(h_prev, sw.R_rz_T, rz)
                add(rz, b_Rrz, rz)
                add(z_rz, rz, z_rz)
            neg(z_rz, a_rz)                               # sigma = 1 / (1 + exp(-z))
            exp(a_rz, a_rz)
            add(a_rz, one, a_rz)
            recip(a_rz, a_rz)
            if sw.reset_after:
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
            if mask is not None and not mask[t]:
                h[:] = h_prev                             # masked: h carried
            h_prev = h
    return LayerTrace(z=Z, a=A, c=None, h=Hs, cell="gru")


def _generic_loop(sw: GRUStepWeights, Z, A, Hs, h_prev, reverse, tick, mask) -> LayerTrace:
    """The loop for any activations: :meth:`GRUStepWeights.steps` one row at a time."""
    T = Hs.shape[0]
    h_prev = h_prev[None]
    order = range(T - 1, -1, -1) if reverse else range(T)
    for done, t in enumerate(order):
        if tick is not None and done % PROGRESS_EVERY == 0:
            tick(done)
        z, a, h = sw.steps(Z[t:t + 1, :3 * sw.H].copy(), h_prev)
        Z[t], A[t] = z[0], a[0]
        if mask is not None and not mask[t]:
            h = h_prev                                                          # carried
        Hs[t] = h[0]
        h_prev = h
    return LayerTrace(z=Z, a=A, c=None, h=Hs, cell="gru")


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
