"""The differences of one chunk of one quantity in one compiled pass (numba): ``analysis``'s.

For float32 rows ``a`` (the reference side) and ``b`` of the same shape, per row r and unit j::

    e[r, j]  = |a - b|                      (both widened to float64 first: exact)
    step[r]  = max_j e[r, j]
    rel      = max_{r, j} e / max(|a|, 1e-30)
    ulp      = max_{r, j} |m(a) - m(b)|     (m: the float32 bits on a monotonic integer line,
                                             ``analysis.ulp_distance``)
    out[r]   = any_j not (e <= atol + rtol |a|)

NumPy computes these in about twenty passes over the chunk, each a temporary array; this is one
pass. Every value is the same IEEE operation on the same operands (float64 subtraction,
absolute value, division, a product and a sum rounded one at a time: numba contracts nothing
into a fused multiply-add without ``fastmath``), and maxima do not depend on order, so the
results equal the NumPy ones bit for bit. A NaN makes ``step[r]`` and ``rel`` NaN, as
``numpy.max`` does (NumPy's keeps an input NaN's payload bits, this one is the plain NaN), and
counts as out. Imported only by ``analysis`` (it imports numba).
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def chunk_differences(a, b, a_bits, b_bits, atol, rtol, step, out):
    """Fill ``step`` (rows,) and ``out`` (rows,) bool (``out`` of length 0: not wanted);
    return ``(rel, ulp)``. ``a_bits``, ``b_bits``: ``a`` and ``b`` viewed as int32.

    The inner loop has no branch, so the compiler can run it on vectors: every maximum is
    taken over the *bit patterns* of non-negative float64 values (``e`` and ``e / size`` are
    >= 0 or NaN), which order as the values do, with NaN above every number (a quiet NaN's bits
    exceed infinity's): an integer maximum, which needs no ``fastmath``."""
    rows, units = a.shape
    want_out = out.shape[0] > 0
    rel_bits = np.int64(0)
    ulp = np.int64(0)
    e_row = np.empty(units, np.float64)
    d_row = np.empty(units, np.float64)
    bits_of = np.empty(1, np.int64)          # one int64 read back as float64, allocated once
    value_of = bits_of.view(np.float64)
    for r in range(rows):
        bad = 0
        for j in range(units):
            x = np.float64(a[r, j])
            e = abs(x - np.float64(b[r, j]))
            size = abs(x)
            e_row[j] = e
            d_row[j] = e / (size if size > 1e-30 else 1e-30)   # NaN when a NaN is there
            bad |= not (e <= atol + rtol * size)
            ia = np.int64(a_bits[r, j])
            ib = np.int64(b_bits[r, j])
            sa = ia >> 31
            sb = ib >> 31
            u = abs(((ia ^ (sa & 0x7FFFFFFF)) - sa) - ((ib ^ (sb & 0x7FFFFFFF)) - sb))
            ulp = max(ulp, u)
        worst = np.int64(0)
        for bits in e_row.view(np.int64):
            worst = max(worst, bits)
        for bits in d_row.view(np.int64):
            rel_bits = max(rel_bits, bits)
        bits_of[0] = worst
        value = value_of[0]
        step[r] = np.nan if value != value else value
        if want_out:
            out[r] = bad != 0
    bits_of[0] = rel_bits
    rel = value_of[0]
    return (np.nan if rel != rel else rel), ulp
