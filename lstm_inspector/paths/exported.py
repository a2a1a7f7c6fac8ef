"""Path kind: an exported model file run as the model (``onnx:FILE`` by ONNX Runtime,
``tflite:FILE`` by the TFLite interpreter, ``file:FILE.py`` a NumPy export), through
``backends.exported.run_exported``."""
from __future__ import annotations

from pathlib import Path

from .registry import PathKind

PREFIXES = ("onnx:", "tflite:", "file:")


def run(file, model, x, settings):
    from ..backends.exported import run_exported
    from ..errors import InspectorError

    grus = [layer.name for layer in model.chain if layer.cell == "gru"]
    if grus:   # an exported file is read as LSTM nodes (backends.onnx_rt, tflite_rt)
        raise InspectorError(f"layer '{grus[0]}' is a GRU; exported files are run as LSTM "
                             f"layers only")

    return run_exported(model, x, file, settings.progress)


def resolve(key: str) -> str:
    """The file made absolute; one sentence when it does not exist."""
    from ..errors import InspectorError

    kind, _, file = key.partition(":")
    if not Path(file).is_file():
        raise InspectorError(f"{file} does not exist")
    return f"{kind}:{Path(file).resolve()}"


def label(key: str) -> str:
    kind, _, file = key.partition(":")
    return f"exported {kind}: {Path(file).name}"


KIND = PathKind(name="exported", prefixes=PREFIXES, group="exported", label=label, run=run,
                usage="onnx:FILE, tflite:FILE, file:FILE.py", resolve=resolve,
                libraries=lambda key: ("tensorflow",) if key.startswith("tflite:") else (),
                # ONNX and TFLite files take a carried state; a NumPy export does not
                streams=lambda key: None if key.startswith("file:") else tuple(key.split(":", 1)))
