"""Path kind ``numpy64``: the NumPy reference in float64, the exact-arithmetic oracle."""
from __future__ import annotations

from .registry import PathKind


def run(key, model, x, settings):
    from ..core.reference import run_reference

    return run_reference(model, x, dtype="float64", progress=settings.progress,
                         initial_state=settings.initial_state)


KIND = PathKind(name="oracle", names=("numpy64",), listed=("numpy64",), group="numpy",
                label=lambda key: "NumPy float64 (oracle)", run=run)
