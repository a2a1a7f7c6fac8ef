"""Path kind ``numpy`` (``reference`` in the window): the instrumented NumPy reference.

Runs ``core.reference.run_reference`` at the settings' precision (float32 as cuDNN by default;
float64; mixed_float16 as Keras's policy), from the settings' initial state.
"""
from __future__ import annotations

from .registry import REFERENCE, PathKind


def run(key, model, x, settings):
    from ..core.reference import run_reference

    return run_reference(model, x, dtype=settings.dtype, progress=settings.progress,
                         initial_state=settings.initial_state, on_block=settings.on_block)


KIND = PathKind(name="reference", names=(REFERENCE,), aliases={"numpy": REFERENCE},
                listed=(REFERENCE,), group="reference", label=lambda key: "NumPy reference",
                depends_on=("dtype",), run=run, usage="numpy (the reference)",
                streams=lambda key: ("numpy", None))
