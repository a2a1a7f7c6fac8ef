"""A bidirectional layer's two directions stepped at once, one on each core.

The two directions of a layer read the same input and nothing of each other, and the compiled
step loop releases the GIL (its loop is numba ``nogil``; BLAS and NumPy's inner loops run
without it). So the backward direction steps in a worker thread while the forward one steps in
the caller's: each makes the very calls it makes alone, into its own buffers, and every number
is the one a run of one direction after the other writes (``tests/test_side_by_side.py``).

It applies where the step is the compiled loop's (the NumPy loop holds the GIL between its
calls) and its product with R^T runs on one core as fast (``blas_threads.fits_one_core``: R^T
fits one core's L2 cache; OpenBLAS then runs one thread meanwhile, so the two directions do
not wait on each other's BLAS threads). Measured on 2 x Bi(128), 140,000 steps, 2 cores: see
README's performance table.

Progress is reported by the caller's direction for both (they advance together); a Cancel
raised there stops the worker's direction at its next progress check, and the worker's
errors reach the caller.
"""
from __future__ import annotations

import threading

from ..errors import Cancelled
from . import blas_threads


def worth_it(layer, compiled: bool) -> bool:
    """Whether ``layer``'s directions step side by side: two of them, on the compiled loop
    (``compiled``: both directions' weights step compiled), a second core, and R^T within one
    core's cache."""
    return len(layer.directions) == 2 and compiled and blas_threads.second_core_pays(layer.units)


def second_core() -> bool:
    """Whether this machine has a second core for the other direction (b's local errors, whose
    float64 products on blocks of rows do not ask R^T to fit a core's cache)."""
    return blas_threads.cores() > 1


def run_both(run_one, directions, tick=None) -> dict:
    """``{direction: run_one(direction, tick)}`` for the two ``directions``, the second in a
    worker thread; ``tick(steps_done)`` is called by the first (it may raise Cancelled).
    ``run_one(direction, tick)`` calls its tick every so many steps: there each direction stops
    once the other has failed or been cancelled."""
    first, second = directions
    stop = threading.Event()

    def worker_tick(_steps_done):
        if stop.is_set():
            raise Cancelled()

    with blas_threads.worker("lstm-inspector-direction") as executor:
        other = executor.submit(run_one, second, worker_tick)

        def first_tick(steps_done):
            if other.done() and other.exception() is not None:
                raise other.exception()   # the worker's error, now: not after this direction
            if tick is not None:
                tick(steps_done)
        try:
            mine = run_one(first, first_tick)
        except BaseException:
            stop.set()
            raise
        return {first: mine, second: other.result()}
