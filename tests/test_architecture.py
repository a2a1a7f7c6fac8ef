"""Imports point one way: core never loads Qt, TensorFlow or torch (nor does io, nor the CLI's start)."""
import subprocess
import sys

import pytest

HEAVY = ("PyQt5", "pyqtgraph", "tensorflow", "torch", "tf_keras")


@pytest.mark.parametrize("module", [
    "lstm_inspector.core.reference", "lstm_inspector.core.compare", "lstm_inspector.io.models",
    "lstm_inspector.io.features", "lstm_inspector.cli", "lstm_inspector",
    "lstm_inspector.core.detective", "lstm_inspector.core.fixes", "lstm_inspector.io.outputs",
    "lstm_inspector.paths.user_impl", "lstm_inspector.paths.diagnosis",
])
def test_module_loads_no_heavy_library(module):
    code = (f"import sys, {module}\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing {module} loaded {out.stdout.strip()}"
