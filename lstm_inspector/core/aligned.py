"""Arrays whose data starts on a cache line (64 bytes), for the operands read at every step.

NumPy aligns its allocations to 16 bytes only. A vector-matrix product reads R^T whole at every
step, and OpenBLAS's AVX-512 kernel then loads 64 bytes across two cache lines where R^T starts
off a line: measured on this project's 2-core Xeon, ``np.dot(h, R_T)`` took 3.75 us at H 128 and
57 us at H 512 with R^T 16 bytes off a line, 2.79 us and 47 us on one. The numbers do not
depend on where R^T starts (OpenBLAS splits its work by output rows, not by address;
``tests/test_aligned.py`` checks the products bit for bit).
"""
from __future__ import annotations

import numpy as np

LINE = 64   # bytes: a cache line, and an AVX-512 register


def empty(shape, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)`` whose data starts on a ``LINE``-byte boundary."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    raw = np.empty(count * dtype.itemsize + LINE, np.uint8)
    start = -raw.ctypes.data % LINE
    return raw[start:start + count * dtype.itemsize].view(dtype).reshape(shape)


def copy(array, dtype=None) -> np.ndarray:
    """A C-contiguous copy of ``array`` (as ``dtype``) whose data starts on a cache line."""
    array = np.asarray(array)
    out = empty(array.shape, array.dtype if dtype is None else dtype)
    out[...] = array
    return out


def columns(rows: int, widths, dtype) -> tuple:
    """Arrays ``(rows, width)`` for each of ``widths``, each on a cache line, cut from one
    allocation (one large allocation that NumPy backs with huge pages, instead of several that
    each fault in page by page)."""
    dtype = np.dtype(dtype)
    sizes = [-(-rows * width * dtype.itemsize // LINE) * LINE for width in widths]
    block = empty((sum(sizes),), np.uint8)
    starts = np.cumsum([0] + sizes)
    return tuple(block[s:s + rows * width * dtype.itemsize].view(dtype).reshape(rows, width)
                 for s, width in zip(starts, widths))
