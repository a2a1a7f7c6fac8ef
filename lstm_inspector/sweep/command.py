"""Sweep a test set: every utterance through paths A and B, rows in corpus order.

:func:`run_sweep` is what ``lstm-inspector sweep`` (``cli.sweep``) and the window's sweep table
call; the rows come from ``sweep.work`` in this process, local worker processes or Dask.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from .work import SweepSettings


def run_sweep(settings: SweepSettings, source, jobs=1, scheduler=None, on_row=None,
              batch=None) -> dict:
    """Sweep ``source`` and return the result object (what ``--json`` prints).

    Parameters
    ----------
    settings : SweepSettings
    source : str or Path
        Kaldi ark/scp, folder, list file (see ``io.corpus``).
    jobs, scheduler, batch : see ``sweep.run.iter_rows`` (batch None: ``DEFAULT_BATCH``).
    on_row : callable(done, total, row), optional
        Called once the utterances are listed (``row`` None), then as each row arrives.

    Returns
    -------
    dict with ``model``, ``source``, ``backend``, ``atol``, ``rtol``, ``rows`` (corpus order),
    ``summary`` and ``stopped`` (True when interrupted; the rows are those done).
    """
    from ..io.corpus import list_utterances
    from .batch import DEFAULT_BATCH
    from .run import iter_rows
    from .summary import summarize
    from .work import open_model, prepare, sharing_cores

    from ..paths.registry import kind_of

    kind_of(settings.path_a), kind_of(settings.spec_b)  # a misspelt path: before any work starts
    rows, stopped, utterances, stream = {}, False, [], None
    try:  # Ctrl-C at any moment, even while the model loads, ends with what was done
        utterances = list_utterances(source)
        here = jobs == 1 and scheduler is None     # the rows are made in this process
        # a bad model or unavailable backend is bad input: said once, here
        model = prepare(settings) if here else open_model(settings)
        if on_row is not None:
            on_row(0, len(utterances), None)  # the total is known: the progress bar can say it
        stream = iter_rows(utterances, settings, jobs=jobs, scheduler=scheduler,
                           batch=DEFAULT_BATCH if batch is None else batch)
        with sharing_cores(settings, model) if here else contextlib.nullcontext():
            for index, row in stream:
                rows[index] = row
                if on_row is not None:
                    on_row(len(rows), len(utterances), row)
    except KeyboardInterrupt:
        stopped = True
    finally:
        if stream is not None:
            stream.close()
    ordered = [rows[k] for k in sorted(rows)]
    return {"model": settings.model, "source": str(Path(source).resolve()), "backend": settings.path_b,
            "path_a": settings.path_a,
            "atol": settings.atol, "rtol": settings.rtol, "dtype": settings.dtype,
            "jobs": jobs, "scheduler": scheduler,
            "batch": DEFAULT_BATCH if batch is None else batch, "stopped": stopped, "rows": ordered,
            "summary": summarize(ordered, total=len(utterances))}
