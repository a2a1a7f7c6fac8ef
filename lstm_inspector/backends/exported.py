"""Exported models as paths: ``run_exported(model, x, path)`` runs a deployable file and traces it.

By suffix: ``.onnx`` -> ONNX Runtime (``onnx_rt``), ``.tflite`` -> ``tf.lite.Interpreter``
(``tflite_rt``), ``.py`` -> a NumPy file written by ``lstm-inspector export --to numpy``
(its own ``forward``; h and c measured). Each trace carries the file's name in its label and
``meta["file"]``, and its layers are ``model.chain``'s, so it compares with any other path.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..core.reference import check_input
from ..errors import InspectorError
from .common import base_meta, float32, run_chain

KINDS = {".onnx": "onnx", ".tflite": "tflite", ".py": "numpy-file"}


def _numpy_module(path: Path):
    """Import a NumPy export (refused unless it carries the exporter's mark)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if "Written by lstm-inspector" not in text:
        raise InspectorError(f"{path.name} is not a NumPy file written by lstm-inspector export; "
                             f"the tool runs no other Python code")
    spec = importlib.util.spec_from_file_location(f"_lstm_export_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_numpy_file(model, x: np.ndarray, path) -> object:
    """Trace of an exported NumPy file's own ``forward(x, record=True)``."""
    path = Path(path)
    module = _numpy_module(path)
    y, records = module.forward(float32(x), record=True)
    if len(records) < len(model.chain):
        raise InspectorError(f"{path.name} has {len(records)} layers; the model's chain has "
                             f"{len(model.chain)}")
    chain = list(model.chain)

    def run_layer(layer, layer_in, part, start=None, keep=None):  # zero start, no mask
        return {d: (hs, cs, "measured") for d, (hs, cs) in records[chain.index(layer)].items()}

    meta = base_meta("numpy-file", "CPU", "n/a", {})
    meta["file"] = str(path)
    meta["file_output"] = y
    return run_chain(model, float32(x), run_layer, meta, f"exported NumPy ({path.name})")


def run_exported(model, x, path, progress=None, keep_output=False):
    """Run the exported file ``path`` on ``x`` (T, in) as ``model``'s chain; a Trace.

    Parameters
    ----------
    model : core.model.Model whose chain the file implements (its layers are matched in order).
    x : (T, in) features.
    path : ``.onnx`` (ONNX Runtime), ``.tflite`` (TensorFlow Lite interpreter) or ``.py``
        (a NumPy export).
    keep_output : keep the file's own final output in ``trace.meta["file_output"]`` (the
        export check compares it with the reference's output; dropped otherwise).

    Returns
    -------
    Trace: h measured from the file's own sequence outputs; c measured (NumPy), stepped
    (ONNX: one frame per call from initial_h/initial_c) or as ``tflite_rt`` says; gates derived.
    """
    path = Path(path)
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise InspectorError(f"{path.name}: an exported model is a .onnx, .tflite or .py file")
    if not path.is_file():
        raise InspectorError(f"{path} does not exist")
    x = check_input(model, x)
    if kind == "onnx":
        from .onnx_rt import run
    elif kind == "tflite":
        from .tflite_rt import run
    else:
        run = None
    trace = run_numpy_file(model, x, path) if run is None else run(model, x, path, progress)
    trace.meta.setdefault("file", str(path))
    if not keep_output:
        trace.meta.pop("file_output", None)
    return trace
