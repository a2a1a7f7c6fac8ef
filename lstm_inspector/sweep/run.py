"""Where a sweep's utterances run: this process, local worker processes, or a Dask cluster.

All three hand the same function (:func:`~lstm_inspector.sweep.work.sweep_utterance`) the same
settings and utterance, so their rows are identical but for the time. Memory stays bounded by
the work in flight, not by the corpus: at most ``2 * jobs`` utterances are submitted at once
(a window refilled as rows come back), and only rows (a few hundred bytes each) are kept.

* ``jobs=1``: in this process, one utterance after the other.
* ``jobs=N``: a ``concurrent.futures.ProcessPoolExecutor`` in the *spawn* context (no forked
  TensorFlow state); its initializer loads the model and imports TensorFlow/torch once per
  worker and makes the worker ignore Ctrl-C (the parent stops them). Each worker's thread
  pools get ``cpu_count // N`` threads (``OMP_NUM_THREADS``, ``TF_NUM_INTRAOP_THREADS``...,
  unless already set).
* ``scheduler="tcp://host:port"``: a ``dask.distributed.Client`` on that scheduler (the
  ``[cluster]`` extra); each Dask worker prepares itself on its first utterance.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal

from ..errors import InspectorError
from .work import SweepSettings, prepare, sweep_utterance


def iter_rows(utterances, settings: SweepSettings, jobs: int = 1, scheduler: str | None = None):
    """Yield ``(index, row)`` for every utterance, in completion order.

    Parameters
    ----------
    utterances : sequence of io.corpus.Utterance
    settings : SweepSettings
    jobs : int
        Local worker processes (1: this process). With ``scheduler``, the window in flight is
        twice the cluster's threads (at least ``2 * jobs``).
    scheduler : str, optional
        A Dask scheduler address (``tcp://host:port``) or a ``dask.distributed.Client``.

    Closing the generator (``KeyboardInterrupt`` in the caller, ``break``) cancels what has not
    run yet and stops the workers.
    """
    if jobs < 1:
        raise InspectorError(f"--jobs must be at least 1 (got {jobs})")
    if scheduler is not None:
        yield from _dask_rows(utterances, settings, scheduler, jobs)
    elif jobs == 1:
        for index, utterance in enumerate(utterances):
            yield index, sweep_utterance(settings, utterance)
    else:
        yield from _pool_rows(utterances, settings, jobs)


def _worker_init(settings: SweepSettings) -> None:
    """Pool initializer: Ctrl-C is the parent's business; load the model and backend once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        prepare(settings)
    except Exception:  # noqa: BLE001  each utterance's row will carry the sentence
        pass


#: Thread pools of the numeric libraries, shared out among local workers (unless the user set them).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


@contextlib.contextmanager
def _threads_per_worker(jobs):
    """Give each spawned worker ``cpu_count // jobs`` threads, so N workers do not fight over
    the cores with N full-size thread pools (spawned children read these when they start)."""
    share = str(max(1, (os.cpu_count() or 1) // jobs))
    added = [name for name in THREAD_VARIABLES if name not in os.environ]
    os.environ.update(dict.fromkeys(added, share))
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _pool_rows(utterances, settings, jobs):
    with _threads_per_worker(jobs):
        yield from _pool_rows_spawned(utterances, settings, jobs)


def _pool_rows_spawned(utterances, settings, jobs):
    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_worker_init, initargs=(settings,))
    pending = {}
    todo = iter(enumerate(utterances))
    try:
        for index, utterance in _take(todo, 2 * jobs):
            pending[pool.submit(sweep_utterance, settings, utterance)] = index
        while pending:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                for nxt, utterance in _take(todo, 1):
                    pending[pool.submit(sweep_utterance, settings, utterance)] = nxt
                yield index, future.result()
    finally:
        if pending:  # stopped early: drop the queue and stop the workers now
            processes = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
        pool.shutdown(wait=True)


def _take(iterator, n):
    """Up to ``n`` items from ``iterator``."""
    for _ in range(n):
        try:
            yield next(iterator)
        except StopIteration:
            return


def connect(scheduler):
    """A ``dask.distributed.Client`` for an address (or the client given); sentences on failure."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise InspectorError("--scheduler needs dask.distributed "
                             "(pip install 'lstm-inspector[cluster]')") from None
    if not isinstance(scheduler, str):
        return scheduler, False
    try:
        return Client(scheduler, timeout="10s"), True
    except (OSError, TimeoutError, ValueError) as exc:
        raise InspectorError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None


def _dask_rows(utterances, settings, scheduler, jobs):
    from dask.distributed import as_completed

    client, owned = connect(scheduler)
    window = max(2 * jobs, 2 * sum(client.nthreads().values()) or 2)
    todo = iter(enumerate(utterances))
    pending = {}
    try:
        for index, utterance in _take(todo, window):
            pending[client.submit(sweep_utterance, settings, utterance, pure=False)] = index
        stream = as_completed(list(pending))
        for future in stream:
            index = pending.pop(future)
            for nxt, utterance in _take(todo, 1):
                new = client.submit(sweep_utterance, settings, utterance, pure=False)
                pending[new] = nxt
                stream.add(new)
            yield index, future.result()
    finally:
        if pending:
            client.cancel(list(pending))
        if owned:
            client.close()
