"""The analysis reads a long reference trace a chunk ahead in a worker thread (core.read_ahead).

Its recomputed rows (gates by the loop's own calls, c from checkpoints) take about half of an
hour's analysis and release the GIL, so they are computed on the other core while the caller
reads b and takes the differences. The report must be the serial read's, value for value; the
worker must really run (in its thread, OpenBLAS on one thread meanwhile, restored after); an
error or a Cancel there must reach the caller, not hang it.
"""
import threading

import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core import blas_threads, read_ahead
from lstm_inspector.core.compare import compare
from lstm_inspector.core.reference import run_reference
from lstm_inspector.errors import Cancelled, InspectorError


@pytest.fixture
def long_pair(monkeypatch):
    """A long reference trace (no gates, c at checkpoints every 4,096 steps; three chunks of
    the analysis) and a different path, float64 (it holds everything). OpenBLAS's count is
    ours to set (a Dask LocalCluster started earlier in this process sets the variable)."""
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    model = cudnn_model(4, 6, layers=2, bidirectional=True, seed=5)
    x = features(9000, 4, seed=6)
    a = run_reference(model, x, gates=False)
    b = run_reference(model, x, dtype="float64")
    assert not a.layer(0, "forward").holds_gates and not a.layer(0, "forward").holds_cells
    return model, a, b


def _serial(monkeypatch):
    monkeypatch.setattr(read_ahead, "worth_a_thread", lambda la, lb: False)


def _same(got, want):
    assert got.to_dict() == want.to_dict()
    for k, d in want.measures.keys:
        for q in ("i", "f", "c~", "o", "c", "h"):
            assert got.step_error(k, d, q).tobytes() == want.step_error(k, d, q).tobytes()
            assert got.out_steps(k, d, q).tobytes() == want.out_steps(k, d, q).tobytes()


def test_reading_ahead_gives_the_serial_report_from_a_worker_thread(long_pair, monkeypatch):
    model, a, b = long_pair
    seen = []
    real = read_ahead.ChunkRows._read

    def spied(self, lo, hi):
        seen.append((threading.current_thread().name, blas_threads.threads()))
        return real(self, lo, hi)
    monkeypatch.setattr(read_ahead.ChunkRows, "_read", spied)
    monkeypatch.setattr(read_ahead.blas_threads, "fits_one_core", lambda units: True)
    threads_before = blas_threads.threads()
    ahead = compare(a, b, model=model, local="always")
    assert len(seen) == 4 * 3                       # 4 directions x 3 chunks of analysis.CHUNK
    assert all(name.startswith("lstm-inspector-read-ahead") for name, _ in seen)
    if threads_before is not None:
        assert {count for _, count in seen} == {1}          # one OpenBLAS thread meanwhile
        assert blas_threads.threads() == threads_before     # and restored
    _serial(monkeypatch)
    seen.clear()
    serial = compare(a, b, model=model, local="always")
    assert {name for name, _ in seen} == {threading.current_thread().name}
    _same(ahead, serial)


def test_a_trace_that_holds_its_rows_is_read_in_the_callers_thread():
    model = cudnn_model(4, 6, seed=7)
    x = features(50, 4)
    a, b = run_reference(model, x), run_reference(model, x, dtype="float64")
    assert not read_ahead.worth_a_thread(a.layer(0), b.layer(0))
    assert not read_ahead.worth_a_thread(a.layer(0), a.layer(0))


def test_an_error_in_the_worker_reaches_the_caller(long_pair, monkeypatch):
    model, a, b = long_pair
    monkeypatch.setattr(read_ahead.blas_threads, "fits_one_core", lambda units: True)
    layer = a.layer(1, "backward")
    real = layer.gate_source

    def broken(lo, hi):
        if lo >= 4096:
            raise InspectorError("planted: the window cannot be recomputed")
        return real(lo, hi)
    layer.gate_source = broken
    try:
        threads_before = blas_threads.threads()
        with pytest.raises(InspectorError, match="planted"):
            compare(a, b, model=model)
        assert blas_threads.threads() == threads_before
    finally:
        layer.gate_source = real


def test_a_cancel_stops_the_analysis_and_the_worker(long_pair, monkeypatch):
    model, a, b = long_pair
    monkeypatch.setattr(read_ahead.blas_threads, "fits_one_core", lambda units: True)
    calls = []

    def progress(fraction, text):
        calls.append(fraction)
        if len(calls) == 5:
            raise Cancelled()
    threads_before = blas_threads.threads()
    with pytest.raises(Cancelled):
        compare(a, b, model=model, progress=progress)
    assert blas_threads.threads() == threads_before
    assert not [t for t in threading.enumerate() if t.name.startswith("lstm-inspector-read")]
