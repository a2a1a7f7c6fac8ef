"""Where a sweep's utterances run: this process, local worker processes, or a Dask cluster.

All three hand the same function (:func:`sweep_chunk`) the same settings and utterances, so
their rows are identical but for the time. The unit of work is a *batch* of ``batch``
consecutive utterances (``sweep.batch``: each path runs them together where it can; rows as one
by one); ``batch=1`` sends utterances one by one. Memory stays bounded by the work in flight,
not by the corpus: at most ``2 * jobs`` batches are submitted at once (a window refilled as
rows come back), and only rows (a few hundred bytes each) are kept.

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
from .batch import DEFAULT_BATCH, sweep_batch
from .work import SweepSettings, prepare, sweep_utterance


def sweep_chunk(settings: SweepSettings, utterances) -> list:
    """The rows of ``utterances``: one alone, several as a batch (``sweep.batch``)."""
    if len(utterances) == 1:
        return [sweep_utterance(settings, utterances[0])]
    return sweep_batch(settings, utterances)


def chunks(utterances, batch: int):
    """``(indices, utterances)`` of ``batch`` consecutive utterances each (corpus order)."""
    todo = list(enumerate(utterances))
    for lo in range(0, len(todo), batch):
        part = todo[lo:lo + batch]
        yield [k for k, _ in part], [u for _, u in part]


def iter_rows(utterances, settings: SweepSettings, jobs: int = 1, scheduler: str | None = None,
              batch: int = DEFAULT_BATCH):
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
    batch : int
        Utterances per unit of work (``sweep.batch``; 1: one by one). Same rows either way.

    Closing the generator (``KeyboardInterrupt`` in the caller, ``break``) cancels what has not
    run yet and stops the workers.
    """
    if jobs < 1:
        raise InspectorError(f"--jobs must be at least 1 (got {jobs})")
    if batch < 1:
        raise InspectorError(f"--batch must be at least 1 (got {batch})")
    work = chunks(utterances, batch)
    if scheduler is not None:
        yield from _dask_rows(work, settings, scheduler, jobs)
    elif jobs == 1:
        for indices, part in work:
            yield from zip(indices, sweep_chunk(settings, part))
    else:
        yield from _pool_rows(work, settings, jobs)


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


def _pool_rows(work, settings, jobs):
    with _threads_per_worker(jobs):
        yield from _pool_rows_spawned(work, settings, jobs)


def _pool_rows_spawned(work, settings, jobs):
    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_worker_init, initargs=(settings,))
    pending = {}
    todo = iter(work)
    try:
        for indices, part in _take(todo, 2 * jobs):
            pending[pool.submit(sweep_chunk, settings, part)] = indices
        while pending:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                indices = pending.pop(future)
                for nxt, part in _take(todo, 1):
                    pending[pool.submit(sweep_chunk, settings, part)] = nxt
                yield from zip(indices, future.result())
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


def _dask_rows(work, settings, scheduler, jobs):
    from dask.distributed import as_completed

    client, owned = connect(scheduler)
    window = max(2 * jobs, 2 * sum(client.nthreads().values()) or 2)
    todo = iter(work)
    pending = {}
    try:
        for indices, part in _take(todo, window):
            pending[client.submit(sweep_chunk, settings, part, pure=False)] = indices
        stream = as_completed(list(pending))
        for future in stream:
            indices = pending.pop(future)
            for nxt, part in _take(todo, 1):
                new = client.submit(sweep_chunk, settings, part, pure=False)
                pending[new] = nxt
                stream.add(new)
            yield from zip(indices, future.result())
    finally:
        if pending:
            client.cancel(list(pending))
        if owned:
            client.close()
