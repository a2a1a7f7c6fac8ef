"""The layering, enforced: import-linter's contracts (``.importlinter``) on the static imports,
and, for what static imports cannot show (imports inside functions), what importing a module
really loads.

Contracts: the command line (``cli/``) -> gui -> sweep -> export -> paths -> backends -> io ->
core -> errors, never upwards (and io's Keras reader one way inside io); core imports NumPy alone; only backends, ``io.tf_runtime`` and
``io.torch_runtime`` (``torch.load(weights_only=True)``) import TensorFlow or torch; nothing
below gui imports Qt.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("PyQt5", "pyqtgraph", "tensorflow", "torch", "tf_keras", "kaldiio")


def test_import_contracts_hold():
    pytest.importorskip("importlinter", reason="import-linter is in the test extra")
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(REPO / ".importlinter"), no_cache=True) == 0, \
        "an import breaks the layering (the contract report is printed above)"


@pytest.mark.parametrize("module", [
    # modules whose heavy imports sit inside functions: importing them must stay light
    "lstm_inspector.io.models", "lstm_inspector.io.features", "lstm_inspector.cli",
    "lstm_inspector", "lstm_inspector.io.outputs", "lstm_inspector.paths.user_impl",
    "lstm_inspector.paths.diagnosis", "lstm_inspector.backends", "lstm_inspector.paths.registry",
])
def test_module_loads_no_heavy_library(module):
    code = (f"import sys, {module}\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing {module} loaded {out.stdout.strip()}"


def test_gpu_check_runs_without_qt_tensorflow_or_kaldiio():
    """The GPU image has numpy, h5py, scipy, pytest, hypothesis and torch only: the package, its
    backends and tests/test_gpu.py must import, list backends and collect there."""
    blocked = "PyQt5 pyqtgraph tensorflow tf_keras keras kaldiio".split()
    code = (f"import sys\nfor m in {blocked!r}: sys.modules[m] = None\n"
            "import lstm_inspector, lstm_inspector.backends as b, lstm_inspector.io.features\n"
            "reasons = b.available_backends()\n"
            "assert 'not installed' in reasons['tf-gpu'], reasons['tf-gpu']\n"
            "import pytest\n"
            "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-p', 'no:pytest-qt', "
            "'-m', 'gpu', 'tests/test_gpu.py']))")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, env=env, timeout=240)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "error" not in out.stdout.lower()
