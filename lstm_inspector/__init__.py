"""lstm-inspector: see exactly where your port of a cuDNN LSTM parts from the real thing.

Public API (each import is lazy, so ``import lstm_inspector`` stays light)::

    import lstm_inspector as li
    model = li.load_model("model.h5")              # CuDNNLSTM/LSTM layers, canonical weights
    model = li.load_model("ckpt.pt", prefix="encoder.lstm.")  # nn.LSTM of a state dict (or .onnx)
    feats = li.load_features("utt.htk")            # (T, d) float32 + metadata
    model, x = li.run_front(model, feats.data)     # the layers before the first LSTM (if any)
    ref = li.run_reference(model, feats.data)      # instrumented NumPy forward pass
    other = li.run_backend(model, feats.data)      # cuDNN on a GPU, else TF / torch on CPU
    other = li.run_path("onnx:model.onnx", model, feats.data)  # any path, as the CLI spells it
    report = li.compare(ref, other)                # where and why they part
    print(report.verdict)

    # your own forward pass as a path, and what it got wrong
    mine = li.run_impl(model, feats.data, "my_port.py:forward")  # runs in a separate process
    result = li.diagnose(model, feats.data, mine)  # ranked conventions, the fix, checked
    print(result.text)
    theirs = li.load_outputs(model, feats.data, "c_port_h.npy")  # outputs of a port elsewhere
"""
from .errors import InspectorError, UnsupportedLayerError

__version__ = "0.1.0"

__all__ = [
    "InspectorError", "UnsupportedLayerError", "load_model", "load_features",
    "run_reference", "run_backend", "run_path", "compare", "run_impl", "load_outputs", "diagnose",
    "model_answer", "load_initial_state", "run_front", "run_pair", "__version__",
]


def load_model(path, **overrides):
    """Read a model file (Keras HDF5, weights-only HDF5, TF checkpoint, PyTorch state dict as
    ``.pt`` or safetensors with ``prefix=`` naming one module of several, ONNX); see
    ``io.models``."""
    from .io.models import load_model as _load

    return _load(path, **overrides)


def run_front(model, x):
    """``(model, lstm_input)``: the model's input ``x`` through the layers before its first
    LSTM (Dense, Conv1D/2D, normalisation, Embedding...; see ``core.front``), and the model
    that knows it ran (and the mask it made). Run the paths on ``lstm_input`` with that model;
    ``model.unfaithful()`` names what no path computes."""
    from .core.front import run_front as _run

    return _run(model, x)


def load_features(path, **options):
    """Read a feature file (npy, npz, csv/txt, HTK, Kaldi ark/scp, wav); see ``io.features``."""
    from .io.features import load_features as _load

    return _load(path, **options)


def run_reference(model, x, dtype="float32", teacher=None, **options):
    """Instrumented NumPy forward pass; see ``core.reference.run_reference`` (options:
    ``initial_state``, ``gates``, ``progress``; ``dtype="mixed_float16"`` as Keras's policy)."""
    from .core.reference import run_reference as _run

    return _run(model, x, dtype=dtype, teacher=teacher, **options)


def load_initial_state(path, model):
    """``{(layer, direction): (h0, c0)}`` from an npz (names h0, c0, h0_<k>, h0_<k>_backward...);
    see ``io.initial_state``."""
    from .io.initial_state import load_initial_state as _load

    return _load(path, model)


def run_backend(model, x, backend="auto", **options):
    """Run a real LSTM implementation (or any other path: ``numpy64``, ``numpy:naive``,
    ``onnx:FILE``...); :func:`run_path` with ``backend`` as the path."""
    return run_path(backend, model, x, **options)


def run_path(spec, model, x, **settings):
    """Run any path on ``x`` (T, in) and return its Trace: ``numpy`` (the reference),
    ``numpy64``, ``numpy:<reading>``, ``auto``/``tf-gpu``/``torch-cuda``/``tf-cpu``/
    ``torch-cpu``, ``impl:FILE.py[:NAME]``, ``outputs:FILE``, ``onnx:FILE``, ``tflite:FILE``.
    Settings: ``dtype``, ``tf32``, ``stepped``, ``initial_state``, ``progress``, ``reference``,
    ``layer``, ``form``, ``timeout``; see ``paths.registry``."""
    from .paths.registry import run_path as _run

    return _run(spec, model, x, **settings)


def run_pair(spec_a, spec_b, model, x, tolerance=None, local="needed", **settings):
    """Run two paths as ``compare`` does: B first where A is the reference, which then takes
    its differences with B as it steps (``paths.pair.run_pair``); returns a ``Pair`` (``.a``,
    ``.b``, ``.streamed`` for ``compare(..., streamed=...)``). ``tolerance=(atol, rtol)`` and
    ``local`` as the compare's; settings as :func:`run_path`'s."""
    from .paths.pair import run_pair as _run
    from .paths.registry import PathSettings

    return _run(spec_a, spec_b, model, x, PathSettings(**settings), tolerance, local)


def compare(a, b, atol=None, rtol=None, **options):
    """Divergence analysis of two traces; see ``core.compare.compare``."""
    from .core.compare import compare as _compare

    return _compare(a, b, atol=atol, rtol=rtol, **options)


def run_impl(model, x, impl, layer=None, **options):
    """Run the user's own LSTM function (``"FILE.py[:NAME]"``) as a path, in a separate process.

    Returns a ``PortTrace`` (h measured; c measured if returned, else derived; gates measured if
    returned, else derived). Options: ``form`` ("sequence"/"step"), ``timeout`` (s),
    ``reference``, ``progress``; see ``paths.user_impl.run_impl``. Raises ``UserCodeError``
    (an ``InspectorError`` with ``.user_traceback``) when their code raises, returns the wrong
    shape, hangs or crashes.
    """
    from .paths.user_impl import run_impl as _run

    model, x = _model_and_x(model, x)
    return _run(model, x, impl, layer=layer, **options)


def load_outputs(model, x, path, layer=None, reference=None):
    """Read a port's outputs (npy/npz/csv: h, optionally c, per layer and direction) as a path;
    see ``io.outputs.load_outputs`` for the array names."""
    from .io.outputs import load_outputs as _load

    model, x = _model_and_x(model, x)
    return _load(model, x, path, layer=layer, reference=reference)


def diagnose(model, x, trace, layer=None, **options):
    """Which convention did ``trace`` get wrong? Returns a ``Diagnosis`` (``.agree``,
    ``.exit_code``, ``.findings`` with the ranked matches and the checked fix, ``.text``,
    ``.to_dict()``). Options: ``atol``, ``rtol``, ``reference``, ``rerun``, ``progress``;
    see ``paths.diagnosis.diagnose``."""
    from .paths.diagnosis import diagnose as _diagnose

    model, x = _model_and_x(model, x)
    return _diagnose(model, x, trace, layer=layer, **options)


def _model_and_x(model, x):
    """A loaded model and a checked (T, in) array; file paths are read (model, features)."""
    import os

    from .core.reference import check_input

    from .core.front import run_front

    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    if isinstance(x, (str, os.PathLike)):
        x = load_features(x).data
    model, x = run_front(model, x)
    return model, check_input(model, x)


def model_answer(model, a, b, atol=None, rtol=None):
    """The model's output on both paths (the plain layers after the LSTMs); see ``core.head``.
    ``atol``, ``rtol``: the comparison's tolerance (default ``compare``'s)."""
    from .core.compare import DEFAULT_ATOL, DEFAULT_RTOL
    from .core.head import model_answer as _answer

    return _answer(model, a, b, DEFAULT_ATOL if atol is None else atol,
                   DEFAULT_RTOL if rtol is None else rtol)


def resources_path():
    """The folder holding the bundled demo files (installed package data, or the repo's resources/)."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    for candidate in (here / "resources", here.parent / "resources"):
        if candidate.is_dir():
            return candidate
    return here.parent / "resources"
