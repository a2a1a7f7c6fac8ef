"""Optional libraries in the tests: skip where one is missing, fail in CI.

torch is its own extra (``pip install ".[test]"`` installs no torch), so its tests skip on a
machine without it: conftest marks every test that runs torch ``torch`` (by its backend
parameter or fixture, or explicitly) and skips those when torch is missing. In CI (``CI=true``)
conftest refuses to start when one of :data:`CI_REQUIRES` is missing, so the independent checks
(Keras's own converter, torch's LSTM) can never skip silently there; the one exception is the
run that must be without torch, which says so with ``LSTM_INSPECTOR_TESTS_WITHOUT_TORCH=1``
(.ci/run's README run): there torch must be missing and its tests skip.
"""
import importlib.util
import os

#: Set to 1 for a run that is meant to be without torch (CI's README run): torch may not be
#: installed then, and its tests skip even under CI=true.
WITHOUT_TORCH = "LSTM_INSPECTOR_TESTS_WITHOUT_TORCH"

CI_REQUIRES = {"tensorflow": "tensorflow", "tf_keras": "tf-keras", "torch": "torch (CPU build)",
               "scipy": "scipy", "onnx": "onnx", "onnxruntime": "onnxruntime",
               "importlinter": "import-linter", "numba": "numba"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (``sys.modules[module] = None`` counts as missing)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def without_torch() -> bool:
    """Whether this run is declared to be without torch (:data:`WITHOUT_TORCH`)."""
    return os.environ.get(WITHOUT_TORCH, "").strip().lower() in ("1", "true", "yes")


def missing_in_ci() -> list:
    """The pip names of :data:`CI_REQUIRES` not installed here (torch only counts when the run is
    not declared to be without it)."""
    return [pip for module, pip in CI_REQUIRES.items()
            if not installed(module) and not (module == "torch" and without_torch())]
