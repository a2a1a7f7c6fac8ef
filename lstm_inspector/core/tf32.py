"""TF32 arithmetic in NumPy: what tensor cores do to a float32 matrix product, and its shape.

TF32 keeps float32's 8 exponent bits but only 10 of its 23 mantissa bits. A tensor core rounds
each *input* of a product to TF32 (round to nearest, ties to even) and accumulates in float32::

    round_tf32(v) = v with its 13 low mantissa bits rounded away (nearest, ties to even)
    x @ W  ->  round_tf32(x) @ round_tf32(W)         (float32 accumulation)

On cuDNN's LSTM (measured on an H200, ``docs/cudnn-lstm-facts.md`` section 6) rounding the
inputs of ``x @ W`` only comes closest to what TF32 does; rounding ``h @ R`` too is slightly
farther. The readings ``tf32`` (``x @ W``) and ``tf32-xh`` (both products) of
``core.weights.READINGS`` run the NumPy reference so; they reproduce the *size and shape* of
TF32's drift, not cuDNN's exact trajectory: a hypothesis of magnitude, never an equality test.

:func:`step_effect` is that hypothesis for a path's own steps: how far each step, computed from
the path's own previous state, lands from exact arithmetic (float64), against how far TF32
would move the same step. A path *consistent with TF32 matmuls* has local errors of TF32's size
(within ``BAND``) and well above float32's own rounding (``ABOVE_FLOAT32``).
"""
from __future__ import annotations

import numpy as np

MANTISSA_BITS = 10                 # TF32's stored mantissa bits (float32 has 23)
_DROP = 23 - MANTISSA_BITS         # low bits rounded away
_HALF = np.uint32((1 << (_DROP - 1)) - 1)
_KEEP = np.uint32(~((1 << _DROP) - 1) & 0xFFFFFFFF)
_EXPONENT = np.uint32(0x7F800000)
MATMULS = ("exact", "tf32", "tf32-xh")   # which products' inputs are rounded
BAND = 5.0            # local error within [1/BAND, BAND] x TF32's own effect: consistent
ABOVE_FLOAT32 = 10.0  # ... and over this many times float32's own rounding of the same steps


def rounded_operands(matmul: str) -> tuple:
    """``(x @ W rounded, h @ R rounded)`` under an ``LSTMWeights.matmul`` of ``"exact"``,
    ``"tf32"`` (x @ W only) or ``"tf32-xh"`` (both): the one rule the step loop and teacher
    forcing both follow."""
    return matmul in ("tf32", "tf32-xh"), matmul == "tf32-xh"


def round_tf32(a) -> np.ndarray:
    """``a`` (float32) rounded to TF32 (10 mantissa bits, to nearest, ties to even), as float32.

    On the bits: add ``0x0FFF`` plus the lowest kept bit, clear the 13 low bits (a carry into
    the exponent is the correct rounding up, to infinity past the largest value). Inf and NaN
    are kept."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32)
    lsb = (u >> np.uint32(_DROP)) & np.uint32(1)
    rounded = (u + _HALF + lsb) & _KEEP
    return np.where((u & _EXPONENT) == _EXPONENT, u, rounded).view(np.float32)


def tf32_matmul(a, b) -> np.ndarray:
    """``a @ b`` as a tensor core computes it in TF32: inputs rounded, float32 accumulation."""
    return round_tf32(a) @ round_tf32(b)


def step_effect(weights, x_proc, h_proc, c_proc, h0=None, c0=None, rows: int = 2048) -> dict:
    """The local error of a path's steps, and TF32's and float32's effect on the same steps.

    ``weights``: the direction's canonical :class:`~lstm_inspector.core.weights.LSTMWeights`;
    ``x_proc``, ``h_proc``, ``c_proc`` (T, ...) the path's input and states in processing order
    (c derived from h is fine: its recursion is contractive). On the first ``rows`` steps, each
    from the path's own previous (h, c)::

        exact   = step in float64
        path    = max |h_path - exact|          (the path's local error)
        tf32    = max |h(TF32 x @ W) - exact|   (what TF32 does to these steps)
        float32 = max |h(float32) - exact|      (plain float32 rounding)

    Returns ``{"path", "tf32", "float32", "consistent"}``: consistent when ``path`` is within
    ``BAND`` of ``tf32`` and over ``ABOVE_FLOAT32 x float32``.
    """
    from .activations import get as activation

    n = min(rows, len(h_proc))
    H = h_proc.shape[1]
    x = np.asarray(x_proc[:n], np.float32)
    h = np.asarray(h_proc[:n], np.float64)
    h_prev = np.zeros((n, H))
    c_prev = np.zeros((n, H))
    h_prev[1:], c_prev[1:] = h[:-1], np.asarray(c_proc[:n - 1], np.float64)
    if h0 is not None:
        h_prev[0], c_prev[0] = h0, c0
    W = np.asarray(weights.weight_ih, np.float32).T
    R = np.asarray(weights.weight_hh, np.float32).T
    b = (weights.bias_ih + weights.bias_hh).astype(np.float64)
    rec, act = activation(weights.recurrent_activation), activation(weights.activation)

    def h_of(xw, hr):
        z = xw + hr + b
        with np.errstate(over="ignore"):
            a = rec(z)
            a[:, 2 * H:3 * H] = act(z[:, 2 * H:3 * H])
        c = a[:, H:2 * H] * c_prev + a[:, :H] * a[:, 2 * H:3 * H]
        return a[:, 3 * H:] * act(c)

    hr64 = h_prev @ R.astype(np.float64)
    exact = h_of(x.astype(np.float64) @ W.astype(np.float64), hr64)
    hr32 = (h_prev.astype(np.float32) @ R).astype(np.float64)
    tf32 = h_of(tf32_matmul(x, W).astype(np.float64), hr32)
    f32 = h_of((x @ W).astype(np.float64), hr32)
    out = {"path": float(np.abs(h - exact).max()), "tf32": float(np.abs(tf32 - exact).max()),
           "float32": float(np.abs(f32 - exact).max())}
    out["consistent"] = bool(out["tf32"] / BAND <= out["path"] <= out["tf32"] * BAND
                             and out["path"] > ABOVE_FLOAT32 * out["float32"])
    return out
