"""Path kind: a real LSTM library (``auto``, ``tf-gpu``, ``torch-cuda``, ``tf-cpu``,
``torch-cpu``), run by ``backends.run_backend`` on the one-call road (or the stepped road)."""
from __future__ import annotations

from .registry import PathKind

LIBRARY_NAMES = ("auto", "tf-gpu", "torch-cuda", "tf-cpu", "torch-cpu")


def run(name, model, x, settings):
    from ..backends import run_backend

    return run_backend(model, x, backend=name, tf32=settings.tf32, progress=settings.progress,
                       initial_state=settings.initial_state, stepped=settings.stepped)


def libraries(name: str) -> tuple:
    """auto tries TensorFlow's CuDNNLSTM first."""
    return ("torch",) if name.startswith("torch") else ("tensorflow",)


KIND = PathKind(name="library", names=LIBRARY_NAMES, listed=LIBRARY_NAMES, group="backend",
                label=lambda key: f"backend: {key}", depends_on=("tf32", "stepped"), run=run,
                libraries=libraries,
                # auto streams on NumPy (as it always has); torch-cpu takes (h0, c0)
                streams=lambda name: {"auto": ("numpy", None),
                                      "torch-cpu": ("torch-cpu", None)}.get(name))
