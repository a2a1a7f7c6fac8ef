"""A long comparison's differences taken while the reference runs: its gates never recomputed.

A long reference trace keeps h and c at checkpoints; reading its gates afterwards recomputes
them by the loop's own calls (``recurrence.StepGates``), a second run of its products: on an
hour of 2 x Bi(128) that was as long as the reference itself and half of the analysis. When the
other path ``b`` has run first, the reference hands each loop block to the analysis as it steps
(``run_reference(on_block=...)``, rows ``lo:hi`` of z, a, c and h in input time), and the
block's differences with ``b`` are taken then::

    step_error[t] = max_j |a[t, j] - b[t, j]|       out[t] = any_j not (|a - b| <= atol + rtol |a|)

into the per-step arrays :func:`analysis.measure` fills (``analysis.rows_differences``, the
same calls), with b's local errors block by block where they are wanted
(``local_error.Teacher``): from the first block with ``local="always"``; with ``"needed"`` from
the first block out of tolerance on (in any direction: the verdict then reads them all, and b's
rows are at hand), the blocks before computed when the verdict asks (:meth:`local`).
``measure(streamed=...)`` then reads nothing of those directions.
The values are those of the pass over the whole traces: per-step values and maxima do not
depend on the blocks, and any window of ``b`` is its rows of the whole, bit for bit. A
direction whose blocks did not all arrive (a short run holds its gates; a projection does
not stream) is read by ``measure`` as before. A GRU's blocks stream as an LSTM's (no c).

Where the machine has cores to spare (twice the directions a layer steps at once: one for
each direction's steps, one for its analysis) and the compiled loop steps (it releases the GIL
while it does), a direction's blocks are analysed by a worker
thread of its own while the loop steps on: the loop hands over its block buffers
(``recurrence.RING`` of them, untouched for two blocks) and waits only when the worker is two
blocks behind. Elsewhere the blocks are analysed in the loop's thread (under ``side_by_side``
one per direction: b's analysis then shares both cores with the reference's steps). One
thread per direction reads that direction of b, in order, so b's window caches are never
shared between threads; the values are the same either way.
"""
from __future__ import annotations

import contextlib
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import blas_threads
from .recurrence import RING
from .trace import LayerTrace

#: blocks of one direction handed to its worker and not yet analysed, at most: the loop's
#: ``RING`` buffers hold them and the block it computes next
PENDING = RING - 1


def spare_cores(directions: int) -> bool:
    """Whether a layer stepping ``directions`` at once leaves a core for each one's analysis."""
    return blas_threads.cores() >= 2 * directions


def worth_a_worker(directions: int) -> bool:
    """Whether each direction's blocks go to a worker thread of its own: cores to spare
    (:func:`spare_cores`) and a loop that releases the GIL while it steps (the compiled engine;
    the NumPy loop holds it between its dozen calls a step, and a worker would wait on it)."""
    from . import compiled_loop

    return spare_cores(directions) and compiled_loop.engine() == "compiled"


class _Direction:
    """What one layer direction's blocks accumulate."""

    def __init__(self, steps: int, quantities: tuple, tolerance):
        self.step = {q: np.empty(steps) for q in quantities}
        self.masks = None if tolerance is None else {q: np.empty(steps, bool) for q in quantities}
        self.rel = dict.fromkeys(quantities, 0.0)
        self.ulp = dict.fromkeys(quantities, 0)
        self.covered, self.h = 0, None
        self.teacher = None  # b's local errors (local_error.Teacher), once they start
        self.untaught = []   # blocks (lo, hi) whose local errors the teacher has not computed
        self.worker, self.jobs = None, deque()   # the analysis thread (pipelined), its blocks

    def finish(self) -> None:
        """Wait for the blocks handed to the worker (raising its first error) and let it go:
        the thread has ended on return, whatever happened."""
        try:
            while self.jobs:
                self.jobs.popleft().result()
        finally:
            self.jobs.clear()
            if self.worker is not None:
                self.worker.shutdown(cancel_futures=True)
                self.worker = None


class StreamedDifferences:
    """The differences of every reference direction that streams against trace ``b``.

    ``tolerance=(atol, rtol)``: make that tolerance's per-step masks too (as
    ``measure(tolerance=...)``); ``model``: b's local errors too, ``local="always"`` for
    every block (as ``measure(local=True)``), ``"needed"`` from the first block out of
    tolerance on (as ``compare(local="needed")`` reads them: :meth:`local`). Pass
    :meth:`observe` as ``run_reference(on_block=...)``, then this object as
    ``measure(streamed=...)`` / ``compare(streamed=...)``. ``pipelined``: analyse each
    direction's blocks in a worker thread of its own (None: where :func:`worth_a_worker`)."""

    def __init__(self, b, tolerance=None, model=None, pipelined: bool | None = None,
                 local: str = "always"):
        from . import analysis

        self.b, self.model, self.local_from_start = b, model, local == "always"
        self.tolerance = None if tolerance is None else tuple(map(float, tolerance))
        self.pipelined = pipelined
        self.directions = {}
        self.parted = False   # a block out of tolerance was seen (then every teacher starts)
        analysis.compiled_kernel()   # compiled (and checked) here, not in two threads at once

    @contextlib.contextmanager
    def running(self):
        """``with streamed.running(): run_reference(..., on_block=streamed.observe)``: NumPy's
        OpenBLAS on one thread while workers analyse beside the loop (an OpenBLAS product on
        two threads would take the loop's core), and every worker done or stopped on leaving,
        also when the run fails or is cancelled."""
        workers = self.pipelined or (self.pipelined is None and worth_a_worker(1))
        with blas_threads.one_thread(workers):
            try:
                yield self
            finally:
                failing = sys.exc_info()[0] is not None
                for mine in self.directions.values():
                    try:
                        mine.finish()
                    except Exception:
                        if not failing:
                            raise

    def observe(self, k: int, direction: str):
        """The block callback of layer ``k``'s ``direction`` (None where b has no such layer)."""
        from . import analysis
        from .local_error import Teacher

        b = self.b
        if k >= len(b.layers) or direction not in b.layers[k]:
            return None
        lb = b.layer(k, direction)
        steps = lb.steps
        mine = self.directions[(k, direction)] = _Direction(steps, lb.quantities,
                                                            self.tolerance)

        def start_teacher():
            mine.teacher = Teacher(self.model, b, k, (direction,), (0, steps))

        if self.model is not None and self.local_from_start:
            start_teacher()

        def analyse(lo, hi, z, a, c, h):
            block = LayerTrace(z=z, a=a, c=c, h=h, cell=lb.cell)
            for q in mine.step:
                out = None if mine.masks is None else mine.masks[q][lo:hi]
                r, u = analysis.rows_differences(block.rows(q, 0, hi - lo), lb.rows(q, lo, hi),
                                                 mine.step[q][lo:hi], out, self.tolerance)
                mine.rel[q], mine.ulp[q] = max(mine.rel[q], r), max(mine.ulp[q], u)
                if out is not None and not self.parted and out.any():
                    self.parted = True
            if mine.teacher is None and self.parted and self.model is not None:
                start_teacher()
            if mine.teacher is not None:
                mine.teacher.chunk(lo, hi)    # b's rows of this block are at hand
            else:
                mine.untaught.append((lo, hi))
            mine.covered += hi - lo
            mine.h = h

        pipelined = (worth_a_worker(len(b.layers[k])) if self.pipelined is None
                     else self.pipelined)
        if not pipelined:
            return analyse
        mine.worker = ThreadPoolExecutor(1, thread_name_prefix="lstm-inspector-streamed")
        handed = [0]

        def on_block(lo, hi, z, a, c, h):
            mine.jobs.append(mine.worker.submit(analyse, lo, hi, z, a, c, h))
            handed[0] += hi - lo
            if len(mine.jobs) > PENDING:      # the loop writes the oldest's buffers next
                mine.jobs.popleft().result()
            if handed[0] == steps:            # the last block: the worker ends after it
                mine.worker.shutdown(wait=False)

        return on_block

    def local(self, k: int, direction: str, la) -> dict | None:
        """b's local errors of this direction, ``{(k, d, q): (local, scale)}``, when its
        teacher started while the reference ran (the blocks before computed now, the same
        values: each block's rows are those of the whole); None where it did not."""
        mine = self._streamed(k, direction, la)
        if mine is None or mine.teacher is None:
            return None
        for lo, hi in mine.untaught:
            mine.teacher.chunk(lo, hi)
        mine.untaught.clear()
        return mine.teacher.result()

    def take(self, k: int, direction: str, la, tolerance, local: bool):
        """``(differences {(k, d, q): (step, rel, ulp)}, masks or None, local errors {} or
        None)`` of this direction when every step of ``la`` (a's layer direction) streamed
        here with this ``tolerance`` (and the local errors if ``local``: :meth:`local`);
        else None."""
        mine = self._streamed(k, direction, la)
        tolerance = None if tolerance is None else tuple(map(float, tolerance))
        if mine is None or tolerance != self.tolerance or tuple(mine.step) != la.quantities:
            return None
        errors = self.local(k, direction, la) if local else None
        if local and errors is None:
            return None
        diffs = {(k, direction, q): (mine.step[q], mine.rel[q], mine.ulp[q]) for q in mine.step}
        masks = None if mine.masks is None else {(k, direction, q): m
                                                 for q, m in mine.masks.items()}
        return diffs, masks, errors

    def _streamed(self, k: int, direction: str, la):
        """This direction's blocks, all of them done, when they are those of ``la`` (a's layer
        direction: its h is the one the blocks were handed with); else None."""
        mine = self.directions.get((k, direction))
        if mine is None:
            return None
        mine.finish()
        if mine.covered != la.steps or mine.h is None or not np.may_share_memory(mine.h, la.h):
            return None
        return mine
