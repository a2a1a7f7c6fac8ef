"""One utterance of a sweep: run both paths, compare, keep one row (never the traces).

The work runs wherever a sweep sends it: in the CLI's own process, in a local worker process,
or on a Dask worker on another machine. Each process loads the model and imports its backend's
library once (:func:`prepare`, cached per settings) and then turns utterances into rows with
:func:`sweep_utterance`. A row is plain JSON-able data::

    name, address      the utterance id and the string load_features opens it by
    frames             T
    kind               agree | precision | structural (Report.kind) | error
    verdict            Report.verdict, or the one-sentence error of a bad utterance
    first              Report.first.to_dict() (step, layer, quantity, unit, a, b), or None
    max_error          Report.max_error(): the largest |a - b| over every quantity
    backend            the backend that ran path B (what ``auto`` picked, on that machine)
    answer             the model's answer for both paths where it has one, else None
    seconds            wall time of this utterance (the only field that differs run to run)
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import InspectorError

#: Row fields in the order tables show them.
ROW_FIELDS = ("name", "address", "frames", "kind", "verdict", "first", "max_error", "backend",
              "answer", "seconds")
#: Fields that depend on the run, not on the data (left out when runs are compared).
VOLATILE_FIELDS = ("seconds",)

_prepared: dict = {}  # per process: SweepSettings -> Model


@dataclass(frozen=True)
class SweepSettings:
    """What every utterance of a sweep is run with (picklable, hashable: sent to each worker)."""

    model: str
    backend: str = "auto"
    atol: float | None = None
    rtol: float | None = None
    dtype: str = "float32"
    tf32: bool | None = None
    overrides: tuple = ()  # (("kind", "LSTM"), ...) for load_model
    feature: str = "mfcc"
    layer: int | None = None


def open_model(settings: SweepSettings):
    """The model the sweep runs (``settings.layer`` alone when given); errors as sentences."""
    from ..io.models import load_model

    model = load_model(settings.model, **dict(settings.overrides))
    if settings.layer is not None:
        if not 0 <= settings.layer < len(model.layers):
            raise InspectorError(f"the model has {len(model.layers)} recurrent layers; "
                                 f"--layer {settings.layer} is not one of them")
        model = model.sub_model(settings.layer)
    model.chain  # a model with nothing runnable says so here, once
    return model


def prepare(settings: SweepSettings):
    """Load the model and warm the backend once in this process (later calls are free).

    The warm-up runs path B on two frames of zeros, so that importing TensorFlow or torch and
    building their functions is not counted in the first utterance's time.
    """
    if settings not in _prepared:
        from ..backends import run_backend

        model = open_model(settings)
        run_backend(model, np.zeros((2, model.input_size), np.float32), backend=settings.backend,
                    tf32=settings.tf32)
        _prepared[settings] = model
    return _prepared[settings]


def empty_row(utterance) -> dict:
    """A row with only the utterance's name and address filled in."""
    row = dict.fromkeys(ROW_FIELDS)
    row.update(name=utterance.name, address=utterance.address, kind="error")
    return row


def sweep_utterance(settings: SweepSettings, utterance) -> dict:
    """The row of one utterance (see the module docstring); a bad utterance is an error row.

    Parameters
    ----------
    settings : SweepSettings
    utterance : io.corpus.Utterance

    Returns
    -------
    dict
        Never raises for the utterance's sake: an ``InspectorError`` becomes ``kind = "error"``
        with its sentence as the verdict, anything else an "internal error" sentence.
    """
    start = time.perf_counter()
    row = empty_row(utterance)
    try:
        row.update(_compare(settings, utterance, row))
    except InspectorError as exc:
        row.update(kind="error", verdict=str(exc))
    except Exception as exc:  # a bug must not end a sweep of thousands: say it in the row
        row.update(kind="error", verdict=f"internal error ({type(exc).__name__}: {exc})")
    row["seconds"] = round(time.perf_counter() - start, 4)
    return row


def _compare(settings: SweepSettings, utterance, row: dict) -> dict:
    from ..backends import run_backend
    from ..core.compare import compare
    from ..core.reference import check_input, run_reference
    from ..io.features import check_features, load_features

    if utterance.problem:
        raise InspectorError(utterance.problem)
    model = prepare(settings)
    feats = load_features(utterance.address, feature=settings.feature)
    check_features(feats, input_size=model.input_size)
    x = check_input(model, feats.data)
    row["frames"] = int(x.shape[0])
    reference = run_reference(model, x, dtype=settings.dtype)
    other = run_backend(model, x, backend=settings.backend, tf32=settings.tf32)
    report = compare(reference, other, atol=settings.atol, rtol=settings.rtol, model=model,
                     oracle=False)
    return {
        "kind": report.kind,
        "verdict": report.verdict,
        "first": None if report.first is None else report.first.to_dict(),
        "max_error": report.max_error(),
        "backend": other.meta.get("backend"),
        "answer": None,  # the model's answer needs its Dense/softmax head: not run yet
    }
