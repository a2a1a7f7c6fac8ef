"""One side of a comparison read a chunk ahead, on the other core, while the analysis reads the rest.

A long trace's rows are recomputed when they are read: the reference's gates by the loop's own
calls (``recurrence.StepGates``) and its c from the checkpoint before them
(``cells.StepCells``). That is about half of an hour's analysis, and those calls release the
GIL (the compiled loops are ``nogil``, BLAS and NumPy's loops run without it). So while the
analysis reads b's chunk, takes the differences and b's local errors, a worker thread computes
the next chunk of a's rows.

Only the worker reads a's layer, one chunk after the other in order (a trace's window caches
are not shared between threads), so every value is the one a serial read gives. A layer that
holds its rows, a machine with one core, or the same layer on both sides is read in the caller's
thread, as before.
"""
from __future__ import annotations

import contextlib
from concurrent.futures import Executor

from . import blas_threads


def worth_a_thread(la, lb) -> bool:
    """Whether reading ``la`` ahead can overlap work: it recomputes rows (gates or c it does
    not hold), it is not ``lb`` itself, and a second core pays (``blas_threads.second_core_pays``:
    its step's product runs as fast on one core, so the two threads take one core each)."""
    return (la is not lb and not (la.holds_gates and la.holds_cells)
            and blas_threads.second_core_pays(la.units))


@contextlib.contextmanager
def overlapping(wanted: bool):
    """``with overlapping(wanted) as executor``: one worker thread to read ahead with, and NumPy's
    OpenBLAS on one thread meanwhile (its idle threads spin for ~0.1 s after each product and
    would take the worker's core: measured on 140,000 steps of 2 x Bi(128), the analysis took
    5.1-5.4 s reading ahead beside two OpenBLAS threads, 3.4-3.6 s beside one, 4.9-5.3 s without
    reading ahead); None and nothing changed when not ``wanted``."""
    if not wanted:
        yield None
        return
    with blas_threads.worker("lstm-inspector-read-ahead") as executor:
        yield executor


class ChunkRows:
    """``rows.get(i)``: ``{quantity: rows}`` of ``layer`` for the span ``spans[i]`` (lo, hi).

    With ``executor`` (one worker), asking for chunk i also starts chunk i + 1 there, so the
    next chunk is computed while the caller works on this one; chunks are asked for in order.
    Without one, each chunk is read when asked for."""

    def __init__(self, layer, quantities, spans: list, executor: Executor | None = None):
        self.layer, self.quantities, self.spans = layer, tuple(quantities), list(spans)
        self.executor = executor
        self._pending = {}   # chunk index -> Future

    def _read(self, lo: int, hi: int) -> dict:
        return {q: self.layer.rows(q, lo, hi) for q in self.quantities}

    def _start(self, i: int) -> None:
        if i < len(self.spans) and i not in self._pending:
            self._pending[i] = self.executor.submit(self._read, *self.spans[i])

    def get(self, i: int) -> dict:
        if self.executor is None:
            return self._read(*self.spans[i])
        self._start(i)
        self._start(i + 1)
        return self._pending.pop(i).result()
