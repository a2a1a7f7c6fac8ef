"""The paths the window can put side by side, as a list; any two of them are A and B.

A *path* is one way of executing the model on the input that yields a
:class:`~lstm_inspector.core.trace.Trace`: the instrumented NumPy reference, a real backend
(``auto``, ``tf-gpu``, ``torch-cuda``, ``tf-cpu``, ``torch-cpu``), the float64 oracle, NumPy
under a wrong reading, the user's implementation (``--impl FILE.py[:NAME]``, run in a separate
process only on explicit request) or outputs another program wrote (``--outputs FILE``).
Nothing here imports Qt: the controller runs :func:`run_path` in its worker.

Keys are strings: ``"reference"``, a ``run_backend`` name (an exported model too:
``"onnx:FILE"``, ``"tflite:FILE"``, ``"file:FILE.py"``), ``"impl:FILE[:NAME]"``, ``"outputs:FILE"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..backends import EXPORTED_PREFIXES
from ..core.weights import READINGS
from ..errors import InspectorError

REFERENCE = "reference"
HARDWARE_BACKENDS = ("auto", "tf-gpu", "torch-cuda", "tf-cpu", "torch-cpu")
IMPL_PREFIX, OUTPUTS_PREFIX = "impl:", "outputs:"


@dataclass(frozen=True)
class PathChoice:
    """One entry of the A/B choosers.

    key : what :func:`run_path` runs; label : what the chooser says; group : ``"reference"``,
    ``"backend"``, ``"numpy"`` (float64 or a wrong reading) or ``"yours"``; executes_code : True
    when running it executes code the user brought (asked for explicitly, never on its own).
    """

    key: str
    label: str
    group: str
    executes_code: bool = False


def builtin_paths() -> list[PathChoice]:
    """The reference, every backend name, the float64 oracle and each wrong reading."""
    paths = [PathChoice(REFERENCE, "NumPy reference", "reference")]
    paths += [PathChoice(name, f"backend: {name}", "backend") for name in HARDWARE_BACKENDS]
    paths.append(PathChoice("numpy64", "NumPy float64 (oracle)", "numpy"))
    paths += [PathChoice(f"numpy:{name}", f"NumPy, '{name}' reading", "numpy") for name in READINGS]
    return paths


def impl_path(spec: str) -> PathChoice:
    """The user's Python function ``FILE.py[:NAME]`` as a path (it runs only when chosen)."""
    spec = str(spec)
    return PathChoice(IMPL_PREFIX + spec, f"yours: {_short(spec)}", "yours",
                      executes_code=True)


def outputs_path(file) -> PathChoice:
    """Outputs another program wrote (npy/npz/csv of h, optionally c) as a path."""
    return PathChoice(OUTPUTS_PREFIX + str(file), f"your outputs: {Path(str(file)).name}", "yours")


def exported_path(key: str) -> PathChoice:
    """An exported model (``onnx:FILE``, ``tflite:FILE``, ``file:FILE.py``) run as a path."""
    kind, _, file = key.partition(":")
    return PathChoice(key, f"exported {kind}: {Path(file).name}", "exported")


def _short(spec: str) -> str:
    file, _, name = spec.partition(".py:")
    if name:
        return f"{Path(file).name}.py:{name}"
    return Path(spec).name


def choice_for(key: str, paths=None) -> PathChoice:
    """The :class:`PathChoice` of ``key`` among ``paths`` (default: the built-in ones), or one
    made from the key itself (``impl:``/``outputs:``); an unknown key raises one sentence."""
    for choice in paths if paths is not None else builtin_paths():
        if choice.key == key:
            return choice
    if key.startswith(IMPL_PREFIX):
        return impl_path(key[len(IMPL_PREFIX):])
    if key.startswith(OUTPUTS_PREFIX):
        return outputs_path(key[len(OUTPUTS_PREFIX):])
    if key.startswith(EXPORTED_PREFIXES):
        return exported_path(key)
    known = ", ".join(c.key for c in builtin_paths())
    raise InspectorError(f"unknown path '{key}' (known: {known}, impl:FILE.py, outputs:FILE, "
                         f"onnx:FILE, tflite:FILE)")


def settings_key(key: str, dtype: str, tf32, stepped: bool = False) -> tuple:
    """What a path's trace depends on besides the model and input: a cached trace is reused
    only while this is unchanged (the reference's precision, the hardware's TF32 and road)."""
    if key == REFERENCE:
        return (key, dtype)
    if key in HARDWARE_BACKENDS:
        return (key, tf32, bool(stepped))
    return (key,)


def run_path(key: str, model, x, dtype="float32", tf32=None, progress=None, initial_state=None,
             stepped: bool = False):
    """Run path ``key`` on ``x`` (T, in) and return its :class:`Trace`.

    ``dtype`` is the reference's precision; ``tf32`` and ``stepped`` (the stepped road instead
    of the one-call road) apply to the hardware backends; ``initial_state``
    ``{(layer, direction): (h0, c0)}`` to the reference and the backends.
    """
    if key == REFERENCE:
        from ..core.reference import run_reference

        return run_reference(model, x, dtype=dtype, progress=progress,
                             initial_state=initial_state)
    if key.startswith(IMPL_PREFIX):
        from ..paths.user_impl import run_impl

        return run_impl(model, x, key[len(IMPL_PREFIX):], progress=progress)
    if key.startswith(OUTPUTS_PREFIX):
        from ..io.outputs import load_outputs

        return load_outputs(model, x, key[len(OUTPUTS_PREFIX):])
    from ..backends import run_backend

    return run_backend(model, x, backend=key, tf32=tf32, progress=progress,
                       initial_state=initial_state, stepped=stepped)
