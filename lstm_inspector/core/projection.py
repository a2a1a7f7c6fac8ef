"""The reference's step loop for an LSTM with an output projection (``nn.LSTM(proj_size=P)``).

One direction, canonical weights plus ``W_hr (P, H)``::

    z_t = (x_t W^T + b_W + b_R) + h_{t-1} R^T      (4H,)    R is (4H, P): h is P wide
    a_t = sigma(z_t) on i, f, o;  act(z_t) on c~
    c_t = f_t c_{t-1} + i_t c~_t                    (H,)
    m_t = o_t act(c_t)                              (H,)     the unprojected output
    h_t = m_t W_hr^T = W_hr m_t                     (P,)

The gates and the input part are computed by the very calls of ``recurrence._Weights`` (the
same products and activations as the unprojected loop), so :class:`recurrence.StepGates`
recomputes any window of them from the stored h exactly as for a plain LSTM; ``m`` is not
stored: it is ``o * act(c)`` of the recorded o and c (:func:`unprojected`).
"""
from __future__ import annotations

import numpy as np

from .recurrence import (PROGRESS_EVERY, StepGates, _Weights, keep_gates, loop_blocks, rows_of,
                         run_direction)
from .trace import LayerTrace
from .weights import LSTMWeights


def run_any_direction(w: LSTMWeights, x, reverse: bool, dtype, tick=None, gates=None,
                      h0=None, c0=None, mask=None, on_block=None) -> LayerTrace:
    """:func:`run_projected` for weights with ``weight_hr``, else
    :func:`recurrence.run_direction` (the same arguments): what the reference calls.
    ``on_block`` (``run_direction``'s) is not called under a projection."""
    if w.weight_hr is not None:
        return run_projected(w, x, reverse, dtype, tick, gates, h0, c0, mask)
    return run_direction(w, x, reverse, dtype, tick, gates, h0, c0, mask, on_block=on_block)


def run_projected(w: LSTMWeights, x, reverse: bool, dtype, tick=None, gates=None,
                  h0=None, c0=None, mask=None) -> LayerTrace:
    """:func:`recurrence.run_direction` for weights with ``weight_hr`` (the same arguments)."""
    T, H, P = x.shape[0], w.units, w.out_units
    ww = _Weights.of(w, dtype)
    HR_T = np.ascontiguousarray(w.weight_hr.T, dtype=dtype)          # (H, P): m @ HR_T == W_hr m
    keep = keep_gates(T, H, dtype) if gates is None else bool(gates)
    C, Hs = np.empty((T, H), dtype), np.empty((T, P), dtype)
    Z = np.empty((T, 4 * H), dtype) if keep else None
    A = np.empty((T, 4 * H), dtype) if keep else None
    h_prev = np.zeros(P, dtype) if h0 is None else np.array(h0, dtype)
    c_prev = np.zeros(H, dtype) if c0 is None else np.array(c0, dtype)
    rec, tmp, m = np.empty(4 * H, dtype), np.empty(H, dtype), np.empty(H, dtype)
    done = 0
    for lo, hi in loop_blocks(T, reverse):
        Zb = Z[lo:hi] if keep else np.empty((hi - lo, 4 * H), dtype)
        Ab = A[lo:hi] if keep else np.empty((hi - lo, 4 * H), dtype)
        ww.input_part(np.asarray(rows_of(x, lo, hi), dtype), Zb)
        order = range(hi - lo - 1, -1, -1) if reverse else range(hi - lo)
        with np.errstate(over="ignore"):
            for j in order:
                if tick is not None and done % PROGRESS_EVERY == 0:
                    tick(done)
                zt, at = Zb[j], Ab[j]
                ww.step_gates(zt, at, zt[2 * H:3 * H], at[2 * H:3 * H], h_prev, rec)
                i, f, g, o = at.reshape(4, H)
                ct, ht = C[lo + j], Hs[lo + j]
                np.multiply(f, c_prev, ct)                              # f * c_{t-1}
                np.multiply(i, g, tmp)
                np.add(ct, tmp, ct)                                     # + i * c~
                m[:] = ww.act(ct) if not ww.fast else np.tanh(ct)
                np.multiply(m, o, m)                                    # m_t = o * act(c_t)
                np.dot(m, HR_T, ht)                                     # h_t = W_hr m_t
                if mask is not None and not mask[lo + j]:               # masked: state carried
                    ct[:], ht[:] = c_prev, h_prev
                h_prev, c_prev = ht, ct
                done += 1
    source = None if keep else StepGates(ww, x, Hs, reverse, h0)
    return LayerTrace(z=Z, a=A, c=C, h=Hs, gate_source=source)


def unprojected(trace: LayerTrace, act=np.tanh) -> np.ndarray:
    """``m = o * act(c)`` (T, H) of a projected direction: its output before ``W_hr``."""
    return trace.gate("o") * act(trace.c)
