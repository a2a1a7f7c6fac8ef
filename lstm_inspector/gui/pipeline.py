"""What the GUI asks the engine to do, as plain functions (no Qt): run them in a worker.

The GUI computes nothing itself: paths A and B are any two of the registry's paths
(``paths.registry.run_path``: the NumPy reference, a backend, the float64 oracle, a wrong reading, the user's
implementation or outputs), and the comparison is ``compare``. These functions only chain those
calls and split one progress bar among them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.progress import sub_progress
from ..core.weights import READINGS
from ..errors import InspectorError
from ..paths.registry import REFERENCE, choice_for, run_path

MODEL_SUFFIXES = (".h5", ".hdf5", ".keras", ".hdf", ".index", ".ckpt", ".meta", ".pt", ".pth",
                  ".safetensors", ".onnx")
FEATURE_SUFFIXES = (".npy", ".npz", ".csv", ".txt", ".htk", ".fea", ".mfc", ".mfcc", ".plp",
                    ".fbank", ".ark", ".scp", ".wav")


def backend_for(backend: str = "auto", reading: str | None = None) -> str:
    """Path B's key for ``--backend``/``--reading``: a ``reading`` means NumPy under it."""
    if reading:
        from ..core.gru_weights import GRU_READINGS

        if reading not in READINGS and reading not in GRU_READINGS:
            raise InspectorError(f"unknown reading '{reading}' (known: {', '.join(READINGS)}; "
                                 f"of a GRU: {', '.join(GRU_READINGS)})")
        from ..paths.registry import spelling

        return spelling("reading", reading)
    return choice_for(backend).key


def classify_path(path) -> str:
    """``"model"`` or ``"features"`` for a dropped or opened file, by extension then by content.

    HDF5 files and TensorFlow checkpoints are models; everything the feature reader knows
    (npy, npz, csv/txt, HTK, Kaldi ark/scp, wav) is features. A file with another extension is a
    model when it starts with the HDF5 signature, else features.
    """
    path = Path(path)
    if path.is_dir():
        return "model"  # a TF checkpoint folder
    name = path.name.lower()
    if name.endswith(MODEL_SUFFIXES) or ".data-" in name or name == "checkpoint":
        return "model"
    if name.endswith(FEATURE_SUFFIXES):
        return "features"
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return "features"
    return "model" if head == b"\x89HDF\r\n\x1a\n" else "features"


def load_model_file(path, progress=None, **options):
    """``io.models.load_model(path, **options)`` with a progress note (options: what a
    weights-only file does not store, as the CLI's --kind, --activation, --merge-mode...)."""
    from ..io.models import load_model

    if progress is not None:
        progress(0.0, f"reading model {Path(path).name}")
    model = load_model(str(path), **options)
    if progress is not None:
        progress(1.0, "model read")
    return model


def load_feature_file(path, progress=None):
    """``io.features.load_features(path)`` wrapped as the GUI's FeatureInput."""
    from ..io.features import load_features
    from .state import FeatureInput

    if progress is not None:
        progress(0.0, f"reading features {Path(path).name}")
    features = load_features(str(path))
    if 0 in np.shape(features.data):
        # nothing to show or run (a 0-frame heatmap would divide by zero): say so on loading
        from ..io.features import check_features

        check_features(features)
    if progress is not None:
        progress(1.0, "features read")
    return FeatureInput.from_loaded(features, str(path))


def check_inputs(model, features) -> None:
    """Refuse features that do not fit the model, naming the feature file (as ``compare`` does)."""
    from ..core.front import features_width
    from ..io.features import Features, check_features

    check_features(Features(features.data, features.frame_shift, features.source or "features",
                            None, "loaded"), input_size=features_width(model))


@dataclass
class Results:
    trace_a: object
    trace_b: object
    report: object
    answer: object = None  # core.head.Answer: the model's output on both paths, or None
    judged: object = None  # the report whose verdict is said (``core.compare.either_side``)


def compute(model, x, backend="auto", dtype="float32", tf32=None, atol=None, rtol=None,
            progress=None, trace_a=None, trace_b=None, previous_report=None,
            path_a=REFERENCE, initial_state=None, stepped=False) -> Results:
    """Run path ``path_a`` (default the NumPy reference) and path ``backend`` (B) on ``x`` and
    compare them (spellings of ``paths.registry``).

    ``initial_state``: an ``.npz`` path (``io.initial_state``) or a ready
    ``{(layer, direction): (h0, c0)}``; both paths start from it. ``stepped``: hardware paths
    take the stepped road (one call per step) instead of the one-call road.

    ``trace_a`` / ``trace_b`` given: reused instead of rerun (a changed tolerance only recompares,
    a changed backend only reruns B). ``previous_report`` of those same traces: a changed
    tolerance re-thresholds it (``Report.with_tolerance``) instead of analysing again. The
    report comes back frozen: views and exports only read it. ``x`` is the model's input: the
    layers before the first LSTM run on it first (``core.front``), and the paths compare the
    LSTMs on their output (the traces' ``x``).
    """
    from ..core.compare import compare
    from ..core.front import run_front

    model, x = run_front(model, x)  # the model's input -> the first LSTM's (core.front)
    if isinstance(initial_state, (str, Path)):
        from ..io.initial_state import load_initial_state

        initial_state = load_initial_state(initial_state, model)
    streamed = None
    if trace_a is None and trace_b is None and backend != path_a:
        # both to run: as compare does (paths.pair), B first where A is the reference, which
        # then takes its differences with B as it runs (its gates are not recomputed)
        from ..paths.pair import run_pair
        from ..paths.registry import PathSettings

        pair = run_pair(path_a, backend, model, x,
                        PathSettings(dtype=dtype, tf32=tf32, initial_state=initial_state,
                                     stepped=stepped),
                        (atol, rtol), "always", sub_progress(progress, 0.0, 0.9))
        trace_a, trace_b, streamed = pair.a, pair.b, pair.streamed
    if trace_a is None:
        if progress is not None:
            progress(0.0, f"running {path_a}")
        trace_a = run_path(path_a, model, x, dtype=dtype, tf32=tf32,
                           progress=sub_progress(progress, 0.0, 0.35), initial_state=initial_state,
                           stepped=stepped)
    if trace_b is None and backend == path_a:
        trace_b = trace_a  # one path compared with itself: one run
    if trace_b is None:
        if progress is not None:
            progress(0.35, f"running {backend}")
        trace_b = run_path(backend, model, x, dtype=dtype, tf32=tf32,
                           progress=sub_progress(progress, 0.35, 0.9), initial_state=initial_state,
                           stepped=stepped)
    if progress is not None:
        progress(0.9, "comparing the two paths")
    if previous_report is not None and previous_report.a is trace_a and previous_report.b is trace_b:
        from ..core.compare import DEFAULT_ATOL, DEFAULT_RTOL

        report = previous_report.with_tolerance(atol=DEFAULT_ATOL if atol is None else atol,
                                                rtol=DEFAULT_RTOL if rtol is None else rtol,
                                                progress=sub_progress(progress, 0.9, 1.0))
    else:
        # the window plots b's local errors (dotted) even where the paths agree: what each
        # step alone got wrong is part of the picture it draws
        report = compare(trace_a, trace_b, atol=atol, rtol=rtol, model=model,
                         progress=sub_progress(progress, 0.9, 1.0), local="always",
                         streamed=streamed)
    from ..core.head import model_answer

    answer = model_answer(model, trace_a, trace_b, report.atol, report.rtol)
    if progress is not None:
        progress(1.0, "done")
    from ..core.compare import either_side
    from ..paths.registry import is_reference

    # with another path than the reference as A, either side may be the wrong one
    judged = report if is_reference(path_a) else either_side(report)
    return Results(trace_a, trace_b, report, answer, judged)
