"""Importing TensorFlow once, quietly, with the Keras 2 API selected.

``TF_USE_LEGACY_KERAS=1`` must be set before TensorFlow is imported for
``tf.compat.v1.keras.layers.CuDNNLSTM`` to exist (TF >= 2.16 ships Keras 3). TensorFlow's C++
start-up writes absl and CUDA probe lines straight to file descriptor 2, whatever
``TF_CPP_MIN_LOG_LEVEL`` says; they would bury the one-sentence errors this tool promises, so
the import and the first device probe run with fd 2 pointed at /dev/null.

That redirection is process-wide while the import runs (seconds, often in a background thread
of the GUI), so Python's ``sys.stderr`` is pointed at a copy of the real fd 2 for the same time:
the tool's own sentences, printed from any thread, still reach the user. Overlapping blocks
(a preload thread and a worker both importing) share one redirection, undone by the last to
leave.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

from ..errors import InspectorError

_QUIET_LOCK = threading.Lock()
_quiet_depth = 0
_saved = None  # (dup of the real fd 2, Python's previous sys.stderr, the stream on the dup)
_real_fd2 = None  # (fd, (st_dev, st_ino)): a dup of fd 2's file, kept open for the process


def _dup_of_fd2() -> int:
    """A descriptor on fd 2's current file, reused while fd 2 points at the same file.

    It is never closed: a thread may still hold a stream on it, and a closed number could be
    reused by another file that the stream would then write into.
    """
    global _real_fd2
    stat = os.fstat(2)
    key = (stat.st_dev, stat.st_ino)
    if _real_fd2 is None or _real_fd2[1] != key:
        _real_fd2 = (os.dup(2), key)
    return _real_fd2[0]


def _silence_fd2() -> bool:
    """First entrant: fd 2 -> /dev/null, sys.stderr -> a dup of the real fd 2. False: cannot."""
    global _quiet_depth, _saved
    with _QUIET_LOCK:
        if _quiet_depth == 0:
            try:
                sys.stderr.flush()
            except (AttributeError, OSError, ValueError):
                pass
            try:
                real = _dup_of_fd2()
            except OSError:
                return False
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
            previous, stream = sys.stderr, None
            if _writes_to_fd2(previous):
                stream = open(real, "w", buffering=1, encoding=getattr(previous, "encoding", None),
                              errors="backslashreplace", closefd=False)
                sys.stderr = stream
            _saved = (real, previous, stream)
        _quiet_depth += 1
        return True


def _restore_fd2() -> None:
    global _quiet_depth, _saved
    with _QUIET_LOCK:
        _quiet_depth -= 1
        if _quiet_depth:
            return
        real, previous, stream = _saved
        _saved = None
        if stream is not None:
            if sys.stderr is stream:
                sys.stderr = previous
            stream.flush()
        os.dup2(real, 2)


def _writes_to_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def quiet_native_stderr():
    """Send native writes to fd 2 to /dev/null inside the block; Python's sys.stderr still shows.

    Set ``LSTM_INSPECTOR_DEBUG=1`` to keep TensorFlow's native messages.
    """
    if os.environ.get("LSTM_INSPECTOR_DEBUG") or not _silence_fd2():
        yield
        return
    try:
        yield
    finally:
        _restore_fd2()

_PROBED = False


def llvm_loaded_globally() -> bool:
    """Whether LLVM's symbols are in the process's global namespace (``dlsym(RTLD_DEFAULT)``).

    Mesa's software OpenGL (llvmpipe) loads the system ``libLLVM`` with ``RTLD_GLOBAL`` when a
    GL context is set up, e.g. by Qt's xcb GL integration; TensorFlow's native module then
    binds to those symbols instead of its own LLVM and crashes while loading (SIGSEGV). The
    same library loaded locally is harmless, so the test is the global symbol, not the mapping.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        return hasattr(ctypes.CDLL(None), "LLVMContextCreate")
    except (OSError, TypeError):
        return False


def import_tensorflow(purpose: str = "this backend"):
    """The ``tensorflow`` module (and the first GPU probe) without start-up noise.

    Refuses with a sentence, instead of crashing the process, where a global LLVM is loaded
    (see :func:`llvm_loaded_globally`).
    """
    global _PROBED
    if _PROBED:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules and llvm_loaded_globally():
        raise InspectorError(
            f"TensorFlow is needed for {purpose} but cannot be loaded in this process: the OpenGL "
            "driver (Mesa llvmpipe) has loaded its own LLVM, which crashes TensorFlow; start the "
            "app with QT_XCB_GL_INTEGRATION=none (its default) or pick a NumPy or torch backend")
    try:
        with quiet_native_stderr():
            import tensorflow as tf
            try:
                tf.config.list_physical_devices("GPU")
            except Exception:  # a broken driver must not stop a CPU run
                pass
    except ImportError as exc:
        raise InspectorError(
            f"TensorFlow is needed for {purpose} but could not be imported ({exc}); "
            "install it with 'pip install tensorflow tf-keras'") from None
    _PROBED = True
    return tf
