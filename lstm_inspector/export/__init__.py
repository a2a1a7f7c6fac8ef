"""Export a verified port: write the model's recurrent chain in a deployable format, run the
written file at once on the user's features (or random ones), compare it step by step with the
NumPy reference, and keep it only if it agrees.

=============  ===========================================================  ==================
format         what is written                                               run back with
=============  ===========================================================  ==================
``numpy``      ``OUT.py`` (NumPy only) + ``OUT.npz``                          the file's forward
``onnx``       ``OUT.onnx``: standard ``LSTM`` operators (i, o, f, c)         ONNX Runtime (CPU)
``keras-lstm`` ``OUT.h5``: tf-keras ``LSTM`` layers, no CudnnRNN op          TensorFlow (CPU)
``tflite``     ``OUT.tflite``: the Keras LSTMs through TFLiteConverter       tf.lite.Interpreter
=============  ===========================================================  ==================

Besides h and c of every layer, the file's own final output (what a user gets from it) must
match the reference's output sequence.

A file that does not agree within the tolerance is renamed ``OUT.rejected`` (each file written,
``.rejected`` appended) and the comparison is written beside it as ``OUT.rejected.txt``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InspectorError

FORMATS = ("numpy", "onnx", "keras-lstm", "tflite")
SUFFIX = {"numpy": ".py", "onnx": ".onnx", "keras-lstm": ".h5", "tflite": ".tflite"}
ATOL = 1e-5
RTOL = 1e-4


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and how the written file compared with the reference."""

    format: str
    files: list
    report: object  # core.compare.Report: reference (a) vs the written file (b)
    max_abs_diff: float
    accepted: bool
    summary: str = ""
    extra: dict = field(default_factory=dict)


def _writer(fmt: str):
    if fmt == "numpy":
        from . import numpy_file as module
    elif fmt == "onnx":
        from . import onnx_file as module
    elif fmt == "keras-lstm":
        from . import keras_lstm as module
    elif fmt == "tflite":
        from . import tflite_file as module
    else:
        raise InspectorError(f"unknown export format '{fmt}' (formats: {', '.join(FORMATS)})")
    return module


def run_written(model, fmt: str, path, x) -> object:
    """A Trace of the written file ``path`` of format ``fmt`` run on ``x``."""
    if fmt == "keras-lstm":
        from .keras_lstm import run_file
        return run_file(model, x, path)
    from ..backends.exported import run_exported
    return run_exported(model, x, path, keep_output=True)


def max_state_difference(report) -> float:
    """The largest |a - b| over h and c of every layer and direction."""
    return max(float(report.step_error(k, d, q).max()) for k, d in report.keys() for q in ("h", "c"))


def export_model(model, fmt: str, out, x=None, atol=ATOL, rtol=RTOL, steps=50, seed=0,
                 **writer_options) -> ExportResult:
    """Write ``model.chain`` as ``fmt`` to ``out``, run it back and compare with the reference.

    Parameters
    ----------
    model : core.model.Model (its true reading; a model read another way is refused).
    fmt : ``"numpy"``, ``"onnx"``, ``"keras-lstm"`` or ``"tflite"``.
    out : output path (its suffix must be ``.py``, ``.onnx``, ``.h5``, ``.tflite``).
    x : (T, in) features to check on; None: ``steps`` frames of seeded standard normal noise.
    atol, rtol : agreement tolerance on every quantity at every step (default 1e-5, 1e-4).
    writer_options : passed to the format's writer (``gate_order`` for ONNX, to prove a wrong
        file is refused).

    Returns
    -------
    ExportResult; ``accepted`` False means the files now end in ``.rejected`` beside a
    ``.rejected.txt`` report.
    """
    from ..core.compare import compare
    from ..core.reference import check_input, run_reference

    if model.reading is not None:
        raise InspectorError(f"this model is read as '{model.reading}'; export the file's own model")
    grus = [layer.name for layer in model.chain if layer.cell == "gru"]
    if grus:
        raise InspectorError(f"layer '{grus[0]}' is a GRU; the exports write LSTM layers only "
                             f"(a GRU export is not built yet)")
    module = _writer(fmt)
    from .checks import refuse_projection

    refuse_projection(model, fmt)
    out = Path(out)
    if out.suffix != SUFFIX[fmt]:
        raise InspectorError(f"a {fmt} export is written to a *{SUFFIX[fmt]} file, not '{out.name}'")
    if not out.parent.is_dir():
        raise InspectorError(f"the folder {out.parent} does not exist")
    if x is None:
        x = np.random.default_rng(seed).standard_normal((steps, model.input_size)).astype(np.float32)
    x = check_input(model, x).astype(np.float32)
    files = module.write(model, out, **writer_options)
    try:
        trace = run_written(model, fmt, out, x)
    except InspectorError:
        raise
    except Exception as exc:  # the written file does not even run: refuse it
        return _reject(fmt, files, None, float("inf"),
                       f"the written file failed to run ({type(exc).__name__}: {exc})")
    ref = run_reference(model, x)
    report = compare(ref, trace, atol=atol, rtol=rtol, model=model, oracle=False)
    worst = max_state_difference(report)
    file_output = trace.meta.pop("file_output", None)
    problems = []
    if not report.agree:
        problems.append(report.verdict)
    if file_output is not None:  # what the user gets from the file: its own final output
        if file_output.shape != ref.output.shape:
            problems.append(f"the written file outputs shape {file_output.shape}, the reference "
                            f"{ref.output.shape}")
        else:
            output_gap = float(np.abs(file_output - ref.output).max())
            worst = max(worst, output_gap)
            if output_gap > atol + rtol * float(np.abs(ref.output).max()):
                problems.append(f"the written file's own output differs from the reference's "
                                f"by {output_gap:.3g}")
    text = (f"{fmt} export {out.name}: ran {trace.label} on {x.shape[0]} frames; largest "
            f"|difference| from the NumPy reference (h and c of every layer, and the output): "
            f"{worst:.3g} (tolerance atol={atol:g} rtol={rtol:g})")
    if problems:
        notes = "".join(f"\nnote: {n}" for n in trace.meta.get("notes", []))
        return _reject(fmt, files, report, worst, "\n".join([text] + problems) + notes)
    return ExportResult(fmt, files, report, worst, True, text)


def _reject(fmt, files, report, worst, text) -> ExportResult:
    moved = []
    for path in files:
        target = path.with_name(path.name + ".rejected")
        path.replace(target)
        moved.append(target)
    note = moved[0].with_name(moved[0].name + ".txt")
    detail = text
    if report is not None and report.first is not None:
        detail += f"\nfirst divergence: {report.first.describe()}"
    note.write_text(f"REJECTED: the written file does not agree with the reference.\n{detail}\n",
                    encoding="utf-8")
    return ExportResult(fmt, moved + [note], report, worst, False,
                        f"REJECTED {detail}\nkept as {moved[0]} with the report {note}")


__all__ = ["export_model", "ExportResult", "FORMATS"]
