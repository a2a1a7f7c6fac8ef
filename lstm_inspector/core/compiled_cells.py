"""c from known gates, compiled (numba): the loop ``cells`` runs in Python, one step at a time.

Once the gates of a block are known, c is the only recurrence left; per step, in the order
the direction ran::

    c_t  = f_t * c_prev          (float32 product, rounded)
    tmp  = i_t * c~_t            (float32 product, rounded)
    c_t  = c_t + tmp             (float32 sum, rounded)
    c_t  = c_prev                where the step is masked (the state carried)

Each operation is one IEEE float32 operation on the same operands as NumPy's ``multiply`` and
``add`` make them (numba contracts nothing into a fused multiply-add without ``fastmath``), and
an element's value does not depend on where it sits, so the values equal the Python loop's bit
for bit; ``cells.cell_loop`` checks it on first use and keeps the NumPy loop otherwise.
Imported only by ``cells`` (it imports numba).
"""
from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def cell_rows(a, c, c_prev, start, stop, step, kept):
    """Rows ``start, start + step, ...`` (to ``stop``, exclusive) of ``c`` (rows, H) from the
    gates ``a`` (rows, 4H: i, f, c~, o) and the state ``c_prev`` (H,) before the first; ``kept``
    (rows,) bool, False = masked, or empty (none masked)."""
    H = c.shape[1]
    masked = kept.shape[0] > 0
    prev = c_prev.copy()             # c of the step before (a copy: c may be any view)
    for t in range(start, stop, step):
        if masked and not kept[t]:
            for u in range(H):
                c[t, u] = prev[u]
        else:
            for u in range(H):
                ct = a[t, H + u] * prev[u]
                tmp = a[t, u] * a[t, 2 * H + u]
                ct = ct + tmp
                c[t, u] = ct
                prev[u] = ct
