"""Path kind ``impl:FILE.py[:NAME]``: your own LSTM function, run in a separate process
(``paths.user_impl``), only ever on explicit request (it executes your code)."""
from __future__ import annotations

from pathlib import Path

from .registry import PathKind

PREFIX = "impl:"


def run(impl, model, x, settings):
    from .user_impl import DEFAULT_TIMEOUT, run_impl

    return run_impl(model, x, impl, layer=settings.layer, form=settings.form,
                    reference=settings.reference, timeout=settings.timeout or DEFAULT_TIMEOUT,
                    progress=settings.progress)


def label(key: str) -> str:
    spec = key[len(PREFIX):]
    file, _, name = spec.partition(".py:")
    return f"yours: {Path(file).name}.py:{name}" if name else f"yours: {Path(spec).name}"


def absolute(spec: str) -> str:
    """``FILE.py[:NAME]`` with the file made absolute (workers and the window may run in
    another folder); one sentence when the file does not exist."""
    from ..errors import InspectorError

    spec = str(spec)
    file, sep, name = spec.partition(".py:") if ".py:" in spec else (spec, "", "")
    file = file + (".py" if sep else "")
    if not Path(file).is_file():
        raise InspectorError(f"{file} does not exist")
    return str(Path(file).resolve()) + (f":{name}" if sep else "")


KIND = PathKind(name="impl", prefixes=(PREFIX,), group="yours", label=label, run=run,
                executes_code=True, usage="impl:FILE.py[:NAME]", reads_reference=True,
                resolve=lambda key: PREFIX + absolute(key[len(PREFIX):]))
