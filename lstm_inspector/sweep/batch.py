"""A batch of a sweep's utterances: each path runs them together, the rows are those of one by one.

:func:`sweep_batch` gives exactly the rows :func:`~lstm_inspector.sweep.work.sweep_utterance`
gives for each utterance (every field but ``seconds``), computed with fewer calls:

* the NumPy reference (``numpy`` at float32 or float64, ``numpy64``) steps the whole batch at
  once, one stacked vector-matrix product per step (``core.batched``: packed by length, nothing
  padded into a state, bit for bit the single run); where the compiled engine runs the model
  (float32, numba), one by one on it, which is faster;
* ``torch-cpu`` steps each layer direction for the whole batch, packed by hand: longest first,
  one ``nn.LSTM`` call per distinct length on the utterances still running, their state
  carried (``backends.torch_batch``: no padded step ever computed, every final state the
  single call's);
* every other path (TensorFlow, ONNX, your implementation, ...) runs one utterance at a time.

The comparison and its analysis run per utterance, as one by one. A batch holds the traces of
its utterances until their rows are made: memory follows the batch size, not the test set.
Should a batched run fail, its utterances run again one by one, so each gets its own row and
sentence.
"""
from __future__ import annotations

import time

from .work import SweepSettings, _run, compared, empty_row, guarded, lstm_input

#: Utterances per batch unless told (``sweep --batch N``; 1 or ``--no-batch``: one by one).
DEFAULT_BATCH = 16


def sweep_batch(settings: SweepSettings, utterances) -> list:
    """The rows of ``utterances`` (corpus order), as ``[sweep_utterance(settings, u) ...]``.

    ``seconds`` is each row's share of the batched runs plus its own comparison."""
    start = time.perf_counter()
    rows = [empty_row(u) for u in utterances]
    groups = {}  # id(model) -> [(position, model, x)]: a front gives each utterance its model
    for n, utterance in enumerate(utterances):
        ready = guarded(rows[n], lstm_input, settings, utterance, rows[n])
        if ready is not None:
            groups.setdefault(id(ready[0]), []).append((n,) + tuple(ready))
    shared = time.perf_counter() - start
    for group in groups.values():
        model, xs = group[0][1], [x for _, _, x in group]
        t0 = time.perf_counter()
        try:
            traces = _traces(settings, model, xs, [utterances[n] for n, _, _ in group])
        except Exception:  # noqa: BLE001  one by one below: each row gets its own sentence
            traces = None
        shared += time.perf_counter() - t0
        for k, (n, _, x) in enumerate(group):
            t0 = time.perf_counter()
            if traces is None:
                found = guarded(rows[n], _alone, settings, utterances[n], model, x)
            else:
                found = guarded(rows[n], compared, settings, model, *traces[k])
            rows[n].update(found or {})
            rows[n]["seconds"] = time.perf_counter() - t0
    for row in rows:
        row["seconds"] = round((row["seconds"] or 0.0) + shared / len(rows), 4)
    return rows


def _alone(settings: SweepSettings, utterance, model, x) -> dict:
    reference = _run(settings.path_a, settings, model, x, None, utterance)
    other = _run(settings.spec_b, settings, model, x, reference, utterance)
    return compared(settings, model, reference, other)


def _traces(settings: SweepSettings, model, xs: list, utterances: list) -> list:
    """``[(trace A, trace B)]`` of the utterances' LSTM inputs ``xs``, each path batched where
    it can be (module docstring)."""
    first = batched_traces(settings.path_a, settings, model, xs)
    if first is None:
        first = [_run(settings.path_a, settings, model, x, None, u)
                 for x, u in zip(xs, utterances)]
    second = batched_traces(settings.spec_b, settings, model, xs)
    if second is None:
        second = [_run(settings.spec_b, settings, model, x, a, u)
                  for x, a, u in zip(xs, first, utterances)]
    return list(zip(first, second))


def batched_traces(spec: str, settings: SweepSettings, model, xs: list):
    """Path ``spec``'s traces of ``xs`` run as a batch, or None for a path that runs one by
    one."""
    from ..paths.registry import argument, kind_of

    kind = kind_of(spec)
    if kind.name == "reference" and settings.dtype in ("float32", "float64"):
        from ..core.batched import run_reference_batch

        return run_reference_batch(model, xs, settings.dtype)
    if kind.name == "oracle":
        from ..core.batched import run_reference_batch

        return run_reference_batch(model, xs, "float64")
    if kind.name == "library" and argument(kind, spec) == "torch-cpu":
        from ..backends import run_backend_batch

        return run_backend_batch(model, xs, "torch-cpu", tf32=settings.tf32)
    return None
