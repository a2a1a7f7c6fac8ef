"""Path kind ``outputs:FILE``: what your port wrote (npy of h, npz/csv of h and c), read by
``io.outputs.load_outputs`` (nothing runs)."""
from __future__ import annotations

from pathlib import Path

from .registry import PathKind

PREFIX = "outputs:"


def resolve(key: str) -> str:
    """The file (or, for a sweep, the folder) made absolute; one sentence when missing."""
    from ..errors import InspectorError

    file = Path(key[len(PREFIX):])
    if not file.exists():
        raise InspectorError(f"{file} does not exist")
    return PREFIX + str(file.resolve())


def run(file, model, x, settings):
    from ..io.outputs import load_outputs

    return load_outputs(model, x, file, layer=settings.layer, reference=settings.reference)


KIND = PathKind(name="outputs", prefixes=(PREFIX,), group="yours", run=run,
                label=lambda key: f"your outputs: {Path(key[len(PREFIX):]).name}",
                usage="outputs:FILE", resolve=resolve, reads_reference=True)
