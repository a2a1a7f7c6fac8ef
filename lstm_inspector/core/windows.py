"""What a view reads of a long trace: one step at a time, or a picture of the whole run.

A view never needs a (T, H) array of an hour of audio at once: the step table reads the row at the
cursor (:class:`RowReader`), a heatmap is at most a few thousand pixels wide (:func:`overview`
reduces each bin of consecutive steps to one column, chunk by chunk). Both take a
``rows(lo, hi) -> (hi - lo, H)`` function, e.g. ``LayerTrace.rows`` or ``Report.error_rows``,
so gates a trace does not hold are recomputed only for the rows read.
"""
from __future__ import annotations

import numpy as np

#: A heatmap of up to this many steps shows every step; longer runs are shown binned.
OVERVIEW_COLUMNS = 20_000
CHUNK = 8192


class RowReader:
    """A (T, H) quantity read one step at a time: ``reader[t]`` is row t, computed on demand.

    Rows are fetched in aligned blocks of ``BLOCK`` steps and the last block is kept, so a cursor
    walking step by step (arrow keys, play) recomputes gates once per block, not once per step
    (a block of 16 costs little more than 1 row: one padded product tile)."""

    BLOCK = 16

    def __init__(self, rows, steps: int, units: int):
        self._rows, self.shape = rows, (int(steps), int(units))
        self._block = (0, 0, None)

    def __getitem__(self, t):
        t = int(t)
        lo, hi, block = self._block
        if not lo <= t < hi:
            lo = t - t % self.BLOCK
            hi = min(lo + self.BLOCK, self.shape[0])
            block = self._rows(lo, hi)
            self._block = (lo, hi, block)
        return block[t - lo]

    def __len__(self) -> int:
        return self.shape[0]


def overview(rows, steps: int, columns: int = OVERVIEW_COLUMNS, reduce: str = "mean") -> np.ndarray:
    """(n, H) picture of a (T, H) quantity: every step when T <= ``columns``, else consecutive
    steps binned (``bin = ceil(T / columns)``) and each bin reduced to its ``mean`` or ``max``
    (the largest, for differences: a spike must stay visible). Read chunk by chunk."""
    if steps <= columns:
        return np.asarray(rows(0, steps))
    width = -(-steps // columns)                                   # steps per bin
    per_chunk = max(1, CHUNK // width) * width
    parts = []
    for lo in range(0, steps, per_chunk):
        block = np.asarray(rows(lo, min(lo + per_chunk, steps)), dtype=np.float64)
        full = block.shape[0] // width * width
        for part in (block[:full].reshape(-1, width, block.shape[1]),   # (bins, width, H)
                     block[full:][None]):                               # the last, shorter bin
            if part.shape[1]:
                parts.append(part.max(axis=1) if reduce == "max" else part.mean(axis=1))
    return np.concatenate(parts).astype(np.float32)


def columns(rows, steps: int, units) -> np.ndarray:
    """(T, len(units)) the chosen units of a (T, H) quantity at every step, read chunk by chunk
    (a curve of an hour: never the whole (T, H) of a quantity a long trace recomputes)."""
    units = list(units)
    first = np.asarray(rows(0, min(CHUNK, steps)))
    out = np.empty((steps, len(units)), first.dtype)
    out[:len(first)] = first[:, units]
    for lo in range(CHUNK, steps, CHUNK):
        hi = min(lo + CHUNK, steps)
        out[lo:hi] = np.asarray(rows(lo, hi))[:, units]
    return out
