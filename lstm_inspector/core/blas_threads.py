"""How many threads NumPy's OpenBLAS runs, for a process that also runs torch or TensorFlow.

OpenBLAS's worker threads spin for a while (about 0.1 s) after each product before they sleep.
In a sweep the NumPy reference and a library path alternate utterance by utterance in one
process, so those spinning threads take the cores from the library's own thread pool, whose
barriers then wait: measured on 96 utterances of 2 x Bi(128) on 2 cores, torch's calls took
0.75-0.96 s beside a two-thread OpenBLAS and 0.37 s beside a one-thread one (the reference
0.93-1.00 s against 1.02-1.06 s). Lowering the count later does not stop threads already
spinning; it must be set before the products run.

A second thread pays in the reference's step (a vector-matrix product with R^T) only when R^T
does not fit one core's L2 cache (H 512: 4 MB, twice as fast on two cores), so
:func:`one_thread_pays` says when one thread is the better choice. The numbers do not depend
on the count: OpenBLAS splits a product by output rows, each computed whole by one thread
(``tests/test_blas_threads.py`` checks the reference bit for bit both ways).
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading

import numpy as np

L2_UNKNOWN = 1 << 20   # bytes assumed where the system does not say


def bundled_libraries() -> list:
    """NumPy's own OpenBLAS (``numpy.libs/libscipy_openblas*``), loaded with ctypes; empty where
    NumPy was built with another BLAS."""
    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    loaded = []
    for path in sorted(glob.glob(os.path.join(libs, "libscipy_openblas*"))):
        try:
            loaded.append(ctypes.CDLL(path))
        except OSError:
            continue
    return loaded


def _library():
    """NumPy's bundled OpenBLAS's ``(get, set)`` thread-count functions, or None."""
    for lib in bundled_libraries():
        for suffix in ("64_", ""):
            get = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None)
            put = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                return get, put
    return None


def threads() -> int | None:
    """OpenBLAS's thread count now (None: NumPy does not use its bundled OpenBLAS)."""
    found = _library()
    return None if found is None else int(found[0]())


def set_threads(count: int) -> int | None:
    """Run NumPy's OpenBLAS with ``count`` threads from now on; returns the count before (None:
    not NumPy's bundled OpenBLAS, nothing changed)."""
    found = _library()
    if found is None:
        return None
    before = int(found[0]())
    found[1](int(count))
    return before


def l2_bytes() -> int:
    """One core's L2 cache in bytes (Linux sysfs), or ``L2_UNKNOWN``."""
    try:
        for index in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
            with open(os.path.join(index, "level")) as f:
                if f.read().strip() != "2":
                    continue
            with open(os.path.join(index, "size")) as f:
                size = f.read().strip().upper()
            scale = {"K": 1 << 10, "M": 1 << 20}.get(size[-1:], 1)
            return int(size.rstrip("KM")) * scale
    except (OSError, ValueError):
        pass
    return L2_UNKNOWN


def one_thread_pays(model) -> bool:
    """Whether the reference of ``model`` runs as fast on one OpenBLAS thread: the widest
    recurrent matrix R^T (H x 4H float32) fits one core's L2 cache."""
    return fits_one_core(max((layer.units for layer in model.chain), default=0))


def fits_one_core(units: int) -> bool:
    """Whether a step's product with R^T (``units`` x 4 ``units`` float32) runs as fast on one
    OpenBLAS thread: R^T fits one core's L2 cache."""
    return units * 4 * units * 4 <= l2_bytes()


def cores() -> int:
    """The machine's cores (1 where the count is unknown)."""
    return os.cpu_count() or 1


def second_core_pays(units: int) -> bool:
    """Whether work split over two threads, each with OpenBLAS on one thread, runs faster: a
    second core, and R^T within one core's cache (:func:`fits_one_core`)."""
    return cores() > 1 and fits_one_core(units)


@contextlib.contextmanager
def worker(name: str):
    """``with worker(name) as executor``: one worker thread (its name starting ``name``)
    beside the caller's, and NumPy's OpenBLAS on one thread meanwhile (:func:`one_thread`: its
    idle threads spin for ~0.1 s after each product and would take the worker's core)."""
    from concurrent.futures import ThreadPoolExecutor

    with one_thread(), ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) as executor:
        yield executor


_held = {"blocks": 0, "before": None}   # one_thread's blocks open now, the count they replaced
_held_lock = threading.Lock()


@contextlib.contextmanager
def one_thread(when: bool = True):
    """Within the block NumPy's OpenBLAS runs one thread (where ``when``), its count restored
    after; a count the user set in ``OPENBLAS_NUM_THREADS`` is left alone. The count is
    process-wide: blocks open at once in several threads (two analyses, a sweep beside one)
    share it, and the last to close restores the count the first replaced."""
    if not when or "OPENBLAS_NUM_THREADS" in os.environ:
        yield
        return
    with _held_lock:
        if _held["blocks"] == 0:
            _held["before"] = set_threads(1)
        _held["blocks"] += 1
    try:
        yield
    finally:
        with _held_lock:
            _held["blocks"] -= 1
            if _held["blocks"] == 0 and _held["before"] is not None:
                set_threads(_held["before"])
