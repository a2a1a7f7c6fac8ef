"""A bidirectional layer's two directions step at once, one per core (core.side_by_side).

The trace must be the one of one direction after the other, bit for bit (held gates and a long
run's checkpoints alike); the backward direction must really step in the worker thread, with
OpenBLAS on one thread meanwhile; an error there, or a Cancel from the progress callback, must
reach the caller and leave no thread behind.
"""
import threading

import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core import blas_threads, compiled_loop, recurrence, side_by_side
from lstm_inspector.core.reference import run_reference
from lstm_inspector.errors import Cancelled, InspectorError

pytestmark = pytest.mark.skipif(compiled_loop.why_not() is not None,
                                reason="the compiled step loop is not available here")


@pytest.fixture(autouse=True)
def compiled(monkeypatch):
    """The compiled engine, and OpenBLAS's count ours to set (a Dask LocalCluster started
    earlier in this process sets the variable)."""
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    compiled_loop.use_engine("compiled")
    yield
    compiled_loop.use_engine(None)


def _one_after_the_other(monkeypatch):
    monkeypatch.setattr(side_by_side, "worth_it", lambda layer, compiled: False)


def _bits(trace):
    """Every quantity's bytes, held or recomputed (z and a read whole, c and h)."""
    return {(k, d, q): np.ascontiguousarray(v).tobytes()
            for k, dirs in enumerate(trace.layers) for d, lt in dirs.items()
            for q, v in zip("zach", (*lt.gate_rows(0, lt.steps), lt.c, lt.h))}


@pytest.mark.parametrize("gates", [True, False])
def test_side_by_side_writes_the_bits_of_one_direction_after_the_other(gates, monkeypatch):
    model = cudnn_model(4, 6, layers=2, bidirectional=True, seed=7)
    x = features(9000 if not gates else 700, 4, seed=8)
    seen = []
    real = recurrence.run_direction

    def spied(w, x, reverse, *args, **kwargs):
        seen.append((threading.current_thread().name, reverse, blas_threads.threads()))
        return real(w, x, reverse, *args, **kwargs)
    monkeypatch.setattr("lstm_inspector.core.projection.run_direction", spied)
    together = run_reference(model, x, gates=gates)
    assert len(seen) == 4
    workers = [(reverse, count) for name, reverse, count in seen
               if name.startswith("lstm-inspector-direction")]
    assert [reverse for reverse, _ in workers] == [True, True]   # each layer's backward
    if blas_threads.threads() is not None:
        assert all(count == 1 for _, count in workers)
    _one_after_the_other(monkeypatch)
    alone = run_reference(model, x, gates=gates)
    assert _bits(together) == _bits(alone)
    assert together.layers[0]["forward"].holds_gates == gates


def test_not_side_by_side_on_the_numpy_loop_or_a_single_direction():
    layer = cudnn_model(4, 6, bidirectional=True).layers[0]
    assert side_by_side.worth_it(layer, True)
    assert not side_by_side.worth_it(layer, False)
    assert not side_by_side.worth_it(cudnn_model(4, 6).layers[0], True)


def test_progress_covers_both_directions_and_ends_at_one():
    model = cudnn_model(4, 6, layers=2, bidirectional=True, seed=7)
    seen = []
    run_reference(model, features(3000, 4), progress=lambda f, text: seen.append((f, text)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("both directions" in text for _, text in seen)


def _direction_threads():
    return [t for t in threading.enumerate() if t.name.startswith("lstm-inspector-direction")]


def test_a_cancel_stops_both_directions(monkeypatch):
    model = cudnn_model(4, 6, layers=2, bidirectional=True, seed=7)
    finished = []
    real = recurrence.run_direction

    def spied(w, x, reverse, *args, **kwargs):
        trace = real(w, x, reverse, *args, **kwargs)
        finished.append(reverse)
        return trace
    monkeypatch.setattr("lstm_inspector.core.projection.run_direction", spied)

    def progress(fraction, text):   # Cancel at once: the worker's direction has just begun
        raise Cancelled()
    with pytest.raises(Cancelled):
        run_reference(model, features(200_000, 4), progress=progress)
    assert finished == []            # the worker's direction stopped too, not ran to its end
    assert _direction_threads() == []


@pytest.mark.parametrize("steps", [50, 200_000])
def test_an_error_in_the_worker_direction_reaches_the_caller(steps, monkeypatch):
    real = recurrence.run_direction
    finished = []

    def failing(w, x, reverse, *args, **kwargs):
        if reverse:
            raise InspectorError("the backward direction failed")
        trace = real(w, x, reverse, *args, **kwargs)
        finished.append(reverse)
        return trace
    monkeypatch.setattr("lstm_inspector.core.projection.run_direction", failing)
    with pytest.raises(InspectorError, match="backward direction failed"):
        run_reference(cudnn_model(4, 6, bidirectional=True), features(steps, 4))
    assert _direction_threads() == []
    if steps > 50:   # the caller's direction stopped at the error, not at its end
        assert finished == []
