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
    answer             the model's answer on both paths (``core.head``: the Dense/softmax layers
                       after the LSTMs), class names or values and whether they match; None
                       when the file has no such layers
    seconds            wall time of this utterance (the only field that differs run to run)
"""
from __future__ import annotations

import contextlib
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
    backend: str = "auto"       # path B, any spelling of ``paths.registry`` (impl:F, onnx:F...)
    atol: float | None = None
    rtol: float | None = None
    dtype: str = "float32"
    tf32: bool | None = None
    overrides: tuple = ()  # (("kind", "LSTM"), ...) for load_model
    feature: str = "mfcc"
    layer: int | None = None
    impl: str | None = None     # FILE.py[:NAME]: the user's own function as path B
    outputs: str | None = None  # a folder of the port's outputs, one file per utterance
    form: str | None = None     # how --impl is called ("sequence" / "step"; None: told apart)
    timeout: float | None = None
    path_a: str = "numpy"       # path A, any spelling (default the NumPy reference)

    @property
    def spec_b(self) -> str:
        """Path B's spelling: ``impl``/``outputs`` (the short forms) else ``backend``."""
        from ..paths.registry import spelling

        if self.impl:
            return spelling("impl", self.impl)
        if self.outputs:
            return spelling("outputs", self.outputs)
        return self.backend

    @property
    def path_b(self) -> str:
        """What runs as path B, in words for headers: the backend, ``impl X`` or ``outputs D``."""
        if self.impl:
            return f"impl {self.impl}"
        if self.outputs:
            return f"outputs in {self.outputs}"
        return self.backend


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
        from ..paths.registry import kind_of, run_path

        model = open_model(settings)
        for spec in (settings.path_a, settings.spec_b):
            kind = kind_of(spec)
            if not kind.executes_code and kind.name != "outputs":  # outputs: one file each
                run_path(spec, model, np.zeros((2, model.input_size), np.float32),
                         dtype=settings.dtype, tf32=settings.tf32)
        _prepared[settings] = model
    return _prepared[settings]


#: Path kinds that run NumPy alone (no thread pool of their own beside OpenBLAS's)
NUMPY_KINDS = ("reference", "oracle", "reading")


@contextlib.contextmanager
def sharing_cores(settings: SweepSettings, model):
    """Within the block, one OpenBLAS thread in this process when the sweep's NumPy reference
    alternates with a library that has its own thread pool (torch, TensorFlow, ONNX Runtime,
    ...) and the reference runs as fast on one thread (``core.blas_threads``: OpenBLAS's
    spinning threads would take the library's cores; the numbers are the same). The count is
    restored after; one the user set in ``OPENBLAS_NUM_THREADS`` is left alone."""
    from ..core import blas_threads
    from ..paths.registry import kind_of

    names = {kind_of(spec).name for spec in (settings.path_a, settings.spec_b)}
    with blas_threads.one_thread(names & set(NUMPY_KINDS) and names - set(NUMPY_KINDS)
                                 and blas_threads.one_thread_pays(model)):
        yield


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
    row.update(guarded(row, _compare, settings, utterance, row) or {})
    row["seconds"] = round(time.perf_counter() - start, 4)
    return row


def guarded(row: dict, work, *args):
    """``work(*args)``, or None with the error as the row's sentence (``kind = "error"``: an
    ``InspectorError`` as it is, anything else as an "internal error", since a bug must not end
    a sweep of thousands)."""
    try:
        return work(*args)
    except InspectorError as exc:
        row.update(kind="error", verdict=str(exc))
    except Exception as exc:  # noqa: BLE001
        row.update(kind="error", verdict=f"internal error ({type(exc).__name__}: {exc})")
    return None


def _compare(settings: SweepSettings, utterance, row: dict) -> dict:
    model, x = lstm_input(settings, utterance, row)
    reference = _run(settings.path_a, settings, model, x, None, utterance)
    other = _run(settings.spec_b, settings, model, x, reference, utterance)
    return compared(settings, model, reference, other)


def lstm_input(settings: SweepSettings, utterance, row: dict) -> tuple:
    """``(model, x)``: the utterance's features through the model's front, checked as the first
    LSTM's input (``row["frames"]`` set); a bad utterance raises its sentence."""
    from ..core.front import features_width, run_front
    from ..core.reference import check_input
    from ..io.features import check_features, load_features

    if utterance.problem:
        raise InspectorError(utterance.problem)
    model = prepare(settings)
    feats = load_features(utterance.address, feature=settings.feature)
    # with a layer, check_input's sentence names the layer whose width the features must have
    check_features(feats, input_size=features_width(model) if settings.layer is None else None)
    model, x = run_front(model, feats.data)  # the model's input -> the first LSTM's
    x = check_input(model, x)
    row["frames"] = int(x.shape[0])
    return model, x


def compared(settings: SweepSettings, model, reference, other) -> dict:
    """A row's findings from the traces of paths A and B on one utterance."""
    from ..core.compare import compare, either_side
    from ..core.fidelity import faithful
    from ..core.head import model_answer
    from ..paths.registry import is_reference

    report = compare(reference, other, atol=settings.atol, rtol=settings.rtol, model=model,
                     oracle=False)
    # with another path than the reference as A, either side may be the wrong one
    decisive = report if is_reference(settings.path_a) else either_side(report)
    answer = model_answer(model, report.a, report.b, report.atol, report.rtol)
    return {
        "kind": decisive.kind,
        "verdict": decisive.verdict,
        "first": None if report.first is None else report.first.to_dict(),
        "max_error": report.max_error(),
        "backend": other.meta.get("backend"),
        "answer": None if answer is None else answer_row(answer),
        # False: the paths did not compute what the file's model computes (core.fidelity)
        "faithful": faithful(report),
    }


def _run(spec: str, settings: SweepSettings, model, x, trace_a, utterance):
    """One path's trace on this utterance (``outputs:DIR``: the utterance's file in DIR); your
    implementation is fed path A's layer inputs when A is the float32 reference."""
    from ..paths.registry import PathSettings, argument, is_reference, kind_of, run_path, spelling

    kind = kind_of(spec)
    if kind.name == "outputs":
        spec = spelling("outputs", outputs_file(argument(kind, spec), utterance.name))
    reference = trace_a if (trace_a is not None and is_reference(settings.path_a)
                            and settings.dtype == "float32") else None
    return run_path(spec, model, x, PathSettings(
        dtype=settings.dtype, tf32=settings.tf32, reference=reference, form=settings.form,
        timeout=settings.timeout))


OUTPUT_SUFFIXES = (".npy", ".npz", ".csv", ".txt")


def outputs_file(folder, name: str):
    """The port's outputs for utterance ``name`` in ``folder``: ``NAME.npy`` (``.npz``,
    ``.csv``, ``.txt``), also without the feature file's own extension (``spk1/a.npy`` for the
    folder sweep's ``spk1/a.htk``)."""
    from pathlib import Path

    folder = Path(folder)
    stem = str(Path(name).with_suffix("")) if Path(name).suffix else name
    tried = []
    for base in dict.fromkeys((name, stem)):
        for suffix in ("",) + OUTPUT_SUFFIXES:
            candidate = folder / (base + suffix)
            if suffix or candidate.suffix.lower() in OUTPUT_SUFFIXES:
                tried.append(candidate.name)
                if candidate.is_file():
                    return candidate
    raise InspectorError(f"{folder} holds no outputs for utterance '{name}' (looked for "
                         f"{', '.join(dict.fromkeys(tried))})")


def answer_row(answer) -> dict:
    """The model's answer on both paths, short: class names (or values) and whether they match."""
    if answer.classes:
        a, b = (answer.label(int(np.argmax(v))).strip("'") for v in (answer.a, answer.b))
    else:
        a, b = answer.side(answer.a), answer.side(answer.b)
    return {"a": a, "b": b, "same": answer.same_answer,
            "largest_difference": answer.largest_difference, "summary": answer.describe()}
