"""Path kind ``numpy:<reading>``: the NumPy reference under a reading of the stored weights
(``core.weights.READINGS``: ``numpy:naive``, ``numpy:hard_sigmoid``, ``numpy:tf32``...; a GRU's
from ``core.gru_weights.GRU_READINGS``: ``numpy:rzn-order``, ``numpy:reset-before``...).

A wrong reading is an experiment on the NumPy path, not something the real kernels do: the
library paths refuse a model that carries one.
"""
from __future__ import annotations

from ..core.gru_weights import GRU_READINGS
from ..core.weights import READINGS
from ..errors import InspectorError
from .registry import PathKind

PREFIX = "numpy:"


def run(reading, model, x, settings):
    from ..core.reference import check_input, run_reference

    if reading not in READINGS and reading not in GRU_READINGS:
        raise InspectorError(f"unknown reading '{reading}' in path '{PREFIX}{reading}' "
                             f"(readings: {', '.join(READINGS)}; of a GRU: "
                             f"{', '.join(GRU_READINGS)})")
    if model.reading is not None and model.reading != reading:
        raise InspectorError(
            f"this model is already read as '{model.reading}'; load the file's model to try "
            f"reading '{reading}'")
    read = model if model.reading == reading else model.with_reading(reading)
    return run_reference(read, check_input(model, x), progress=settings.progress,
                         initial_state=settings.initial_state)


KIND = PathKind(name="reading", prefixes=(PREFIX,), listed=tuple(PREFIX + r for r in READINGS),
                group="numpy", label=lambda key: f"NumPy, '{key[len(PREFIX):]}' reading",
                run=run, usage=f"numpy:<reading> (readings: {', '.join(READINGS)})")
