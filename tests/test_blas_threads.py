"""NumPy's OpenBLAS at one thread while a sweep alternates the reference with a library.

OpenBLAS's idle threads spin after each product and take the cores from torch's (or
TensorFlow's) thread pool in the same process; a sweep therefore runs the reference on one
OpenBLAS thread where that is as fast (R^T fits one core's L2) and restores the count after.
The numbers do not depend on the count (checked here bit for bit).
"""
import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core import blas_threads
from lstm_inspector.core.reference import run_reference
from lstm_inspector.sweep.work import SweepSettings, sharing_cores

pytestmark = pytest.mark.skipif(blas_threads.threads() is None,
                                reason="NumPy does not use its bundled OpenBLAS here")


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    before = blas_threads.set_threads(2)
    if blas_threads.threads() != 2:
        blas_threads.set_threads(before)
        pytest.skip("OpenBLAS runs one thread at most on this machine")
    yield
    blas_threads.set_threads(before)


def _bits(trace):
    return b"".join(np.ascontiguousarray(getattr(lt, q)).tobytes()
                    for _, _, lt in trace.items() for q in "zach")


@pytest.mark.parametrize("units", [64, 300])
def test_the_reference_is_the_same_bits_on_one_and_two_threads(two_threads, units):
    model = cudnn_model(5, units, bidirectional=True, seed=units)
    x = features(60, 5, seed=2)
    both = _bits(run_reference(model, x))
    blas_threads.set_threads(1)
    assert blas_threads.threads() == 1
    assert _bits(run_reference(model, x)) == both


def test_a_sweep_beside_a_library_runs_one_thread_and_restores_the_count(two_threads):
    small = cudnn_model(3, 8, seed=1)
    with sharing_cores(SweepSettings(model="m.h5", backend="torch-cpu"), small):
        assert blas_threads.threads() == 1
    assert blas_threads.threads() == 2
    # NumPy against NumPy: nothing else has a thread pool
    with sharing_cores(SweepSettings(model="m.h5", backend="numpy64"), small):
        assert blas_threads.threads() == 2


def test_a_matrix_beyond_one_cores_cache_keeps_the_threads(two_threads, monkeypatch):
    monkeypatch.setattr(blas_threads, "l2_bytes", lambda: 2 << 20)
    assert blas_threads.one_thread_pays(cudnn_model(3, 256, seed=1))       # R^T 1 MiB
    wide = cudnn_model(3, 512, seed=1)                                     # R^T 4 MiB
    assert not blas_threads.one_thread_pays(wide)
    with sharing_cores(SweepSettings(model="m.h5", backend="torch-cpu"), wide):
        assert blas_threads.threads() == 2


def test_a_count_the_user_set_is_left_alone(two_threads, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    with sharing_cores(SweepSettings(model="m.h5", backend="torch-cpu"), cudnn_model(3, 8)):
        assert blas_threads.threads() == 2


def test_l2_size_is_read_or_assumed():
    assert blas_threads.l2_bytes() >= 64 << 10


@pytest.mark.torch
def test_run_sweep_runs_its_rows_on_one_thread_beside_torch(two_threads):
    """The wiring: run_sweep makes the rows with one OpenBLAS thread, then gives the count back."""
    pytest.importorskip("torch")
    from pathlib import Path

    from lstm_inspector.sweep.command import run_sweep

    resources = Path(__file__).resolve().parent.parent / "resources"
    seen = []
    result = run_sweep(SweepSettings(model=str(resources / "demo_digits_cudnnlstm.h5"),
                                     backend="torch-cpu"),
                       resources / "demo_utterances.ark",
                       on_row=lambda done, total, row: seen.append(blas_threads.threads()))
    assert result["rows"] and all(r["kind"] == "agree" for r in result["rows"])
    assert seen[0] == 2 and set(seen[1:]) == {1}   # listed before; each row on one thread
    assert blas_threads.threads() == 2


def test_one_thread_blocks_open_in_several_threads_restore_the_count_once(two_threads):
    """Two analyses at once (threads): the count stays 1 while either block is open and goes
    back to 2 when the last one closes, whichever closes first."""
    import threading

    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with blas_threads.one_thread():
            first_in.set()
            second_in.wait(10)
        seen["after first"] = blas_threads.threads()
        first_out.set()

    def second():
        first_in.wait(10)
        with blas_threads.one_thread():
            second_in.set()
            first_out.wait(10)
            seen["inside second, first closed"] = blas_threads.threads()
    workers = [threading.Thread(target=f) for f in (first, second)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(20)
    assert seen == {"after first": 1, "inside second, first closed": 1}
    assert blas_threads.threads() == 2
