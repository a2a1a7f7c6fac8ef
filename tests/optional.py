"""Optional libraries in the tests: skip where one is missing, fail in CI.

torch is its own extra (``pip install ".[test]"`` installs no torch), so its tests skip on a
machine without it. In CI (``CI=true``) conftest refuses to start when one of
:data:`CI_REQUIRES` is missing, so the independent checks (Keras's own converter, torch's LSTM)
can never skip silently there.
"""
import importlib.util
import os

CI_REQUIRES = {"tensorflow": "tensorflow", "tf_keras": "tf-keras", "torch": "torch (CPU build)",
               "scipy": "scipy", "onnx": "onnx", "onnxruntime": "onnxruntime",
               "importlinter": "import-linter"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (``sys.modules[module] = None`` counts as missing)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_in_ci() -> list:
    """The pip names of :data:`CI_REQUIRES` not installed here."""
    return [pip for module, pip in CI_REQUIRES.items() if not installed(module)]
