"""Long work off the GUI thread: loading files, running both paths, comparing.

A :class:`Worker` runs one job at a time on a ``QThreadPool`` thread (ScopeFoundry's habit: the
worker computes, the GUI only repaints on its signals). A job is ``fn(progress)``; ``progress
(fraction, text)`` reports to the progress bar and raises :class:`~lstm_inspector.errors.Cancelled`
once Cancel was pressed, so the engine stops at its next progress call (cooperative cancel).

Errors never reach the user as tracebacks: an :class:`~lstm_inspector.errors.InspectorError`
becomes its one sentence, anything else "internal error: ..."; the traceback goes only to the
details. Results of a job that was cancelled or superseded are dropped.

:func:`preload_libraries` imports TensorFlow / torch in a plain Python thread at startup so the
window appears at once and the first backend run does not pay the import.
"""
from __future__ import annotations

import importlib
import threading
import traceback

from PyQt5 import QtCore

from ..errors import Cancelled, InspectorError


def describe_error(exc: BaseException) -> tuple[str, str]:
    """``(one sentence for the dialog, details)`` for an exception raised by long work."""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if getattr(exc, "user_traceback", ""):  # the user's own code raised: their lines help
        details = exc.user_traceback
    if isinstance(exc, InspectorError):
        message = str(exc).strip() or type(exc).__name__
    elif isinstance(exc, MemoryError):
        message = "internal error: out of memory (try a shorter feature file or float32)"
    else:
        first = (str(exc).strip().splitlines() or [""])[0]
        message = f"internal error: {type(exc).__name__}" + (f": {first}" if first else "")
    if not message.endswith((".", "!", "?")):
        message += "."
    return sentence_start(message), details


def sentence_start(message: str) -> str:
    """``message`` with its first word capitalised when it is a plain lowercase word ("the
    feature file ..." -> "The ..."); a file name or identifier stays as written
    ("notamodel.h5 is not ...", "h5py ...")."""
    first = message.split(" ", 1)[0]
    if first.isalpha() and first.islower():
        return message[:1].upper() + message[1:]
    return message


class _Signals(QtCore.QObject):
    progress = QtCore.pyqtSignal(int, float, str)    # job id, fraction, text
    done = QtCore.pyqtSignal(int, object)           # job id, result
    failed = QtCore.pyqtSignal(int, str, str)        # job id, message, details
    cancelled = QtCore.pyqtSignal(int)


class _Job(QtCore.QRunnable):
    def __init__(self, job_id: int, fn, signals: _Signals):
        super().__init__()
        self.setAutoDelete(True)
        self.job_id, self.fn, self.signals = job_id, fn, signals
        self.cancel_flag = threading.Event()

    def progress(self, fraction: float, text: str = "") -> None:
        if self.cancel_flag.is_set():
            raise Cancelled()
        self.signals.progress.emit(self.job_id, float(fraction), str(text))

    def run(self) -> None:  # worker thread
        try:
            result = self.fn(self.progress)
        except Cancelled:
            self.signals.cancelled.emit(self.job_id)
        except BaseException as exc:  # noqa: BLE001 - every failure goes to the user as a sentence
            message, details = describe_error(exc)
            self.signals.failed.emit(self.job_id, message, details)
        else:
            if self.cancel_flag.is_set():
                self.signals.cancelled.emit(self.job_id)
            else:
                self.signals.done.emit(self.job_id, result)


class Worker(QtCore.QObject):
    """Runs named jobs one after another; a new job cancels the one running.

    Signals: ``started(str)`` (job name), ``progress(float, str)``, ``finished()`` (idle again),
    ``failed(str, str)`` (message, details), ``cancelled(str)``.
    """

    started = QtCore.pyqtSignal(str)
    progress = QtCore.pyqtSignal(float, str)
    finished = QtCore.pyqtSignal()
    failed = QtCore.pyqtSignal(str, str)
    cancelled = QtCore.pyqtSignal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pool = QtCore.QThreadPool(self)
        self.pool.setMaxThreadCount(1)  # jobs depend on each other (load, then run, then compare)
        self._signals = _Signals(self)
        self._signals.progress.connect(self._on_progress)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self._signals.cancelled.connect(self._on_cancelled)
        self._next_id = 0
        self._jobs: dict[int, tuple] = {}  # id -> (job, name, on_done)

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def submit(self, name: str, fn, on_done=None, replace: bool = True) -> int:
        """Run ``fn(progress)`` in the background; ``on_done(result)`` on the GUI thread."""
        if replace:
            self.cancel()
        self._next_id += 1
        job = _Job(self._next_id, fn, self._signals)
        self._jobs[job.job_id] = (job, name, on_done)
        self.started.emit(name)
        self.pool.start(job)
        return job.job_id

    def cancel(self) -> None:
        """Ask every queued or running job to stop at its next progress call."""
        for job, _, _ in self._jobs.values():
            job.cancel_flag.set()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the pool is idle (tests, shutdown); signals are delivered afterwards."""
        return self.pool.waitForDone(msecs)

    # ---- GUI thread ----------------------------------------------------------------------------
    def _pop(self, job_id: int):
        entry = self._jobs.pop(job_id, None)
        return entry

    def _on_progress(self, job_id: int, fraction: float, text: str) -> None:
        entry = self._jobs.get(job_id)
        if entry is not None and not entry[0].cancel_flag.is_set():
            self.progress.emit(fraction, text)

    def _on_done(self, job_id: int, result) -> None:
        entry = self._pop(job_id)
        if entry is None:
            return
        job, name, on_done = entry
        try:
            if not job.cancel_flag.is_set() and on_done is not None:
                on_done(result)
        except Exception as exc:  # noqa: BLE001 - a failing callback is reported, not raised into Qt
            self.failed.emit(*describe_error(exc))
        finally:
            self._maybe_idle()

    def _on_failed(self, job_id: int, message: str, details: str) -> None:
        entry = self._pop(job_id)
        if entry is None:
            return
        if not entry[0].cancel_flag.is_set():
            self.failed.emit(message, details)
        self._maybe_idle()

    def _on_cancelled(self, job_id: int) -> None:
        entry = self._pop(job_id)
        if entry is not None:
            self.cancelled.emit(entry[1])
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        if not self._jobs:
            self.finished.emit()


# ---- library preloading -----------------------------------------------------------------------
_PRELOAD_LOCK = threading.Lock()
_PRELOADED: dict[str, threading.Thread] = {}


def libraries_for(backend: str) -> tuple:
    """Heavy libraries a path will import ("tensorflow", "torch"), in the order to load (none
    for a spelling the registry does not know: its error comes when it runs)."""
    from ..errors import InspectorError
    from ..paths.registry import libraries_for as _libraries

    try:
        return _libraries(backend)
    except InspectorError:
        return ()


def _import_library(name: str) -> None:
    """Import one heavy library the way the backends do (TensorFlow: ``backends.common.import_tf``)."""
    try:
        if name == "tensorflow":
            common = importlib.import_module("lstm_inspector.backends.common")
            common.import_tf()
        else:
            importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a failed preload shows up later, as the backend's own error
        pass


def preload_libraries(backend: str) -> list:
    """Start importing what ``backend`` needs in daemon threads; returns the threads."""
    threads = []
    with _PRELOAD_LOCK:
        for name in libraries_for(backend):
            thread = _PRELOADED.get(name)
            if thread is None:
                thread = threading.Thread(target=_import_library, args=(name,),
                                          name=f"preload-{name}", daemon=True)
                _PRELOADED[name] = thread
                thread.start()
            threads.append(thread)
    return threads
