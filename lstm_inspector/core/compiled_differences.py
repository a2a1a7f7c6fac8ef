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
    return ``(rel, ulp)``. ``a_bits``, ``b_bits``: ``a`` and ``b`` viewed as int32."""
    rows, units = a.shape
    want_out = out.shape[0] > 0
    rel = 0.0
    rel_nan = False
    ulp = 0
    for r in range(rows):
        worst = 0.0
        nan = False
        bad = False
        for j in range(units):
            x = np.float64(a[r, j])
            e = abs(x - np.float64(b[r, j]))
            size = abs(x)
            if e != e:
                nan = True
            elif e > worst:
                worst = e
            d = e / max(size, 1e-30) if size == size else size
            if d != d:
                rel_nan = True
            elif d > rel:
                rel = d
            if want_out:
                allowed = rtol * size
                allowed = atol + allowed
                if not e <= allowed:
                    bad = True
            ia = np.int64(a_bits[r, j])
            ib = np.int64(b_bits[r, j])
            sa = ia >> 31
            sb = ib >> 31
            u = abs(((ia ^ (sa & 0x7FFFFFFF)) - sa) - ((ib ^ (sb & 0x7FFFFFFF)) - sb))
            if u > ulp:
                ulp = u
        step[r] = np.nan if nan else worst
        if want_out:
            out[r] = bad
    return (np.nan if rel_nan else rel), ulp
