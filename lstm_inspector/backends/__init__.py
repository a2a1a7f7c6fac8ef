"""Real LSTM implementations run on the same model and input as the NumPy reference.

With ``io.tf_runtime`` (which reads TF checkpoints), the only code that imports TensorFlow or
torch, always inside functions (``.importlinter`` enforces it). Backends, truest
first (``auto`` picks the first one that is available and can run the model):

=============  ==================================================================  ==========
name           what runs                                                           c is
=============  ==================================================================  ==========
``tf-gpu``     ``tf.compat.v1.keras.layers.CuDNNLSTM`` with the stored arrays        derived
``torch-cuda`` ``torch.nn.LSTM`` on cuDNN, canonical weights                        derived
``tf-cpu``     ``tf_keras.layers.LSTM`` cell via Keras's own CuDNNLSTM converter     measured
``torch-cpu``  ``torch.nn.LSTM`` on the CPU                                         derived
=============  ==================================================================  ==========

Every real backend takes the *one-call road* (``trace.meta["road"] == "one-call"``): each
layer direction is one library call over the whole sequence, as the model runs it, so h is
measured from the very computation the model makes (on a GPU: with TF32 where it is on); c
and the gates are derived from that h (``common.one_call_direction``), except on tf-cpu whose
one call returns c at every step too. A library that refuses the length runs in chunks, state
carried, and says so. ``stepped=True`` takes the *stepped road* instead (torch, tf-gpu): one
call per step, c measured at every step (provenance ``"stepped"``).

The NumPy paths (``numpy``, ``numpy64``, ``numpy:<reading>``) and exported files
(``onnx:FILE``...) are paths beside these, not libraries: ``paths.registry`` runs every kind.

Readings: the four real backends always run the file's *true* weights; a model carrying a
reading (``Model.with_reading``) is refused there with a sentence pointing at ``numpy:<reading>``,
because a wrong reading is an experiment on the NumPy path, not something the real kernels do.
"""
from __future__ import annotations

import importlib.util
import warnings

from ..core.weights import READINGS
from ..errors import InspectorError

REAL_BACKENDS = ("tf-gpu", "torch-cuda", "tf-cpu", "torch-cpu")  # truest first
#: The NumPy paths ``lstm-inspector backends`` lists beside them (run as paths: ``paths.reference``,
#: ``paths.oracle``, ``paths.reading``).
NUMPY_BACKENDS = ("numpy", "numpy64") + tuple(f"numpy:{name}" for name in READINGS)

_cache: dict = {}


def _missing(module: str, pip_name: str) -> str:
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed (pip install {pip_name})"
    return ""


def _probe_tf() -> tuple:
    """(reason tf-cpu is unavailable, reason tf-gpu is unavailable); "" means available."""
    cpu = _missing("tensorflow", "tensorflow") or _missing("tf_keras", "tf-keras")
    if cpu:
        return cpu, cpu
    from .tf_cudnn import gpu_problem

    try:
        from .common import import_tf

        import_tf()
    except Exception as exc:  # a broken install must not crash a listing
        reason = f"TensorFlow failed to import ({type(exc).__name__}: {exc})"
        return reason, reason
    return "", gpu_problem()


def _probe_torch() -> tuple:
    """(reason torch-cpu is unavailable, reason torch-cuda is unavailable)."""
    cpu = _missing("torch", "torch")
    if cpu:
        return cpu, cpu
    try:
        import torch
    except Exception as exc:
        reason = f"torch failed to import ({type(exc).__name__}: {exc})"
        return reason, reason
    try:
        with warnings.catch_warnings():
            # a CUDA build of torch on a machine without a driver warns here; the reason says it
            warnings.simplefilter("ignore")
            cuda = "" if torch.cuda.is_available() else _torch_no_gpu(torch)
    except Exception as exc:
        cuda = f"torch could not query CUDA ({type(exc).__name__}: {exc})"
    return "", cuda


def _torch_no_gpu(torch) -> str:
    """Why torch sees no GPU: a CPU build, or a CUDA build without a GPU / driver."""
    if not torch.version.cuda:
        return (f"this torch ({torch.__version__}) is the CPU build; on a GPU machine install a "
                f"CUDA build (pip install torch)")
    return (f"torch (built for CUDA {torch.version.cuda}) sees no CUDA GPU: no NVIDIA GPU or "
            f"driver (nvidia-smi)")


_LIBRARY = {"tf-gpu": ("tf", 1), "tf-cpu": ("tf", 0), "torch-cuda": ("torch", 1),
            "torch-cpu": ("torch", 0)}


def _reason(name: str) -> str:
    """Why real backend ``name`` cannot run here ("" if it can); probes its library once."""
    library, which = _LIBRARY[name]
    if library not in _cache:
        _cache[library] = _probe_tf() if library == "tf" else _probe_torch()
    return _cache[library][which]


def available_backends(refresh: bool = False) -> dict:
    """``{name: ""}`` for each backend that can run here, ``{name: reason}`` for the others.

    Probing imports TensorFlow and torch (seconds, once): the answer is cached for the process;
    ``refresh=True`` probes again. Both are first looked up with ``importlib.util.find_spec``,
    so a missing library costs nothing, and :func:`run_backend` with a named backend probes
    only that backend's library.
    """
    if refresh:
        _cache.clear()
    available = {name: _reason(name) for name in REAL_BACKENDS}
    available.update(dict.fromkeys(NUMPY_BACKENDS, ""))
    return available


def _supports(name: str, model) -> str:
    """"" if backend ``name`` can compute this model's layers, else the sentence why not."""
    problem = _projection(name, model)
    if problem or name == "tf-cpu":
        return problem
    if name in ("tf-gpu",):
        from .tf_cudnn import supports
    elif name in ("torch-cuda", "torch-cpu"):
        from .torch_lstm import supports
    else:
        return ""
    return supports(model)


def _projection(name: str, model) -> str:
    """Why TensorFlow backend ``name`` cannot run an ``nn.LSTM(proj_size)`` layer ("" if it can)."""
    if not name.startswith("tf-"):
        return ""
    from .common import projection_problem

    return projection_problem(model, "CuDNNLSTM" if name == "tf-gpu" else "Keras's LSTM")


def _available_sentence() -> str:
    ok = [n for n in REAL_BACKENDS if not _reason(n)]
    return (f"available here: {', '.join(ok) or 'no real backend'}, numpy, numpy64, "
            f"numpy:<reading> (readings: {', '.join(READINGS)})")


def pick_auto(model) -> tuple:
    """``(name, note)``: the truest available backend that can run ``model``."""
    skipped = []
    for name in REAL_BACKENDS:
        reason = _reason(name) or _supports(name, model)
        if not reason:
            note = f"auto picked {name}"
            return name, note + (f" ({'; '.join(skipped)})" if skipped else "")
        skipped.append(f"{name}: {reason}")
    raise InspectorError(f"no real backend can run this model here ({'; '.join(skipped)})")


def run_backend(model, x, backend: str = "auto", tf32=None, progress=None, initial_state=None,
                stepped: bool = False):
    """Run ``model.chain`` on ``x`` with a real LSTM library (``paths.library`` is its path).

    Parameters
    ----------
    model : core.model.Model
    x : (T, in) array of features; checked (2-D, width = ``model.input_size``, finite).
    backend : ``"auto"`` or one of :data:`REAL_BACKENDS` (every other path, NumPy readings and
        exported files included: ``lstm_inspector.run_path``).
    tf32 : None (the library's default), True or False; GPU backends only.
    progress : callable(fraction, text), optional; may raise ``errors.Cancelled``.
    initial_state : ``{(layer, direction): (h0, c0)}``, optional (zeros where missing); every
        backend starts from it. A model with a ``Masking`` layer runs under its mask
        (``core.masking``): tf-cpu through Keras's own mask, the others on the kept steps only.
    stepped : take the stepped road (one call per step, c measured at every step) instead of
        the one-call road (the default, what the model runs); torch and tf-gpu only (tf-cpu's
        one call measures c already).

    Returns
    -------
    Trace with h and c of every layer and direction indexed by input time, gates derived
    from them (``core.derived_gates.derive_gates``), and ``meta`` saying what ran.
    """
    from ..core.reference import check_input
    from .common import float32

    backend = (backend or "auto").strip()
    if backend not in ("auto",) + REAL_BACKENDS:
        raise InspectorError(f"unknown backend '{backend}'; {_available_sentence()}")
    x = check_input(model, x)

    note = ""
    if backend == "auto":
        backend, note = pick_auto(model)
    elif _reason(backend):
        raise InspectorError(
            f"backend {backend} is not available ({_reason(backend)}); {_available_sentence()}")
    x = float32(x)
    if _projection(backend, model):
        raise InspectorError(_projection(backend, model))
    if backend == "tf-gpu":
        from .tf_cudnn import run
        trace = run(model, x, tf32=tf32, progress=progress, initial_state=initial_state,
                    stepped=stepped)
    elif backend == "tf-cpu":
        from .tf_cpu import run
        trace = run(model, x, tf32=tf32, progress=progress, initial_state=initial_state,
                    stepped=stepped)
    else:
        from .torch_lstm import run
        trace = run(model, x, device="cuda" if backend == "torch-cuda" else "cpu",
                    tf32=tf32, progress=progress, initial_state=initial_state, stepped=stepped)
    if note:
        trace.meta["notes"].insert(0, note)
        trace.meta["auto"] = note
    return trace


def run_backend_batch(model, xs, backend: str, tf32=None) -> list:
    """``[run_backend(model, x, backend, tf32) for x in xs]``, the same traces; ``torch-cpu``
    steps the utterances together, packed by length (``backends.torch_batch``), every other
    backend one by one."""
    if backend != "torch-cpu" or _reason(backend):
        return [run_backend(model, x, backend=backend, tf32=tf32) for x in xs]
    from ..core.reference import check_input
    from .common import float32
    from .torch_batch import run_batch

    return run_batch(model, [float32(check_input(model, x)) for x in xs], tf32=tf32)


__all__ = ["run_backend", "run_backend_batch", "available_backends", "pick_auto", "REAL_BACKENDS",
           "NUMPY_BACKENDS"]
