"""Keras's ``mixed_float16`` policy on its CPU LSTM kernel, in NumPy, bit for bit.

Under the policy Keras keeps float32 weights but computes in float16: the input and the weights
are cast to float16, every operation's result is rounded to float16, and matrix products
accumulate in float32 before that rounding (checked against TensorFlow's CPU kernels in
``tests/test_fidelity.py``: the reference equals Keras's own output exactly). TensorFlow's float16
sigmoid is ``e / (1 + e)`` with ``e = exp(z)``, each operation rounded.
"""
from __future__ import annotations

import numpy as np

from . import activations
from .trace import LayerTrace
from .weights import LSTMWeights


def half(a):
    """``a`` rounded to float16, kept as float32 (one float16 operation's result)."""
    return np.asarray(a, np.float32).astype(np.float16).astype(np.float32)


def half_sigmoid(z):
    """TensorFlow's float16 sigmoid, bit for bit: ``e = r(exp(z)); r(e / r(1 + e))`` (Eigen's
    generic logistic in float16 operations; 1 where exp overflows float16)."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = half(np.exp(z))
        out = half(e / half(1 + e))
    return np.where(np.isinf(e), np.float32(1), out)


class HalfWeights:
    """One direction's weights as Keras's ``mixed_float16`` policy casts them (float16 values
    held in float32) and the step of that policy, for any number of rows at once::

        z = r(r(xw + r(h R16)) + b16);  a = r(sigma(z));  c~ = r(act(z_c))
        c = r(r(f c) + r(i c~));  h = r(o r(act(c)))        r: round to float16

    with ``xw = r(r(x) W16)`` and sigma = sigmoid as TensorFlow's float16 kernel computes it
    (:func:`half_sigmoid`).
    """

    def __init__(self, w: LSTMWeights):
        self.H = w.units
        self.W16, self.R16 = half(w.weight_ih.T), half(w.weight_hh.T)  # (in, 4H), (H, 4H)
        self.b16 = half(w.bias_ih + w.bias_hh)                         # Keras: one summed bias
        self.act = activations.get(w.activation)
        self.rec_act = (half_sigmoid if w.recurrent_activation == "sigmoid"
                        else activations.get(w.recurrent_activation))

    def input_part(self, x):
        return half(half(x) @ self.W16)                              # (rows, 4H)

    def step(self, xw, h_prev, c_prev):
        """``(z, a, c, h)`` of every row from its input part and previous (h, c)."""
        H = self.H
        with np.errstate(over="ignore"):
            z = half(half(xw + half(h_prev @ self.R16)) + self.b16)  # (rows, 4H)
            a = half(self.rec_act(z))
            a[..., 2 * H:3 * H] = half(self.act(z[..., 2 * H:3 * H]))
            i, f, g, o = (a[..., k * H:(k + 1) * H] for k in range(4))
            c = half(half(f * c_prev) + half(i * g))
            h = half(o * half(self.act(c)))
        return z, a, c, h


def run_direction_half(w: LSTMWeights, x: np.ndarray, reverse: bool, h0=None, c0=None,
                        keep=None) -> LayerTrace:
    """One direction under Keras's ``mixed_float16`` policy (:class:`HalfWeights`)."""
    T, H = x.shape[0], w.units
    lt = LayerTrace(z=np.empty((T, 4 * H), np.float32), a=np.empty((T, 4 * H), np.float32),
                    c=np.empty((T, H), np.float32), h=np.empty((T, H), np.float32))
    hw = HalfWeights(w)
    xw = hw.input_part(x)                                       # (T, 4H)
    h_prev = half(np.zeros(H) if h0 is None else h0)
    c_prev = half(np.zeros(H) if c0 is None else c0)
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        z, a, c, h = hw.step(xw[t], h_prev, c_prev)
        if keep is not None and not keep[t]:
            c, h = c_prev, h_prev
        lt.z[t], lt.a[t], lt.c[t], lt.h[t] = z, a, c, h
        h_prev, c_prev = h, c
    return lt
