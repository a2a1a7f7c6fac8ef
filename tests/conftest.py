"""Shared test fixtures: offscreen Qt, the real-data folder, small tf-keras model files."""
import os
from pathlib import Path

import pytest

import optional

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
REALDATA = Path(os.environ.get("LSTM_INSPECTOR_REALDATA", REPO.parent / "shared" / "realdata"))


@pytest.fixture(scope="session")
def realdata():
    """Path of ../shared/realdata (real files written by other people); skip where absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real-data folder {REALDATA} is absent (it lies beside the project in CI)")
    return REALDATA


def pytest_sessionstart(session):
    """In CI, a missing optional library fails the run instead of skipping its tests; a run
    declared to be without torch must really be without it."""
    if optional.in_ci() and optional.missing_in_ci():
        raise pytest.UsageError(f"CI=true but {', '.join(optional.missing_in_ci())} is not "
                                f"installed, so the tests needing it would skip; .ci/run "
                                f"installs it")
    if optional.without_torch() and optional.installed("torch"):
        raise pytest.UsageError(f"{optional.WITHOUT_TORCH}=1 but torch is installed: this run "
                                f"is meant to show that the tests pass without it")


TORCH_MISSING = "torch is not installed (pip install torch, CPU build: see the README)"


def runs_torch(item) -> bool:
    """Whether a test runs torch: marked ``torch``, parametrized with a torch backend
    (``torch-cpu``, ``torch-cuda``), or using a fixture named for torch (``torch_cuda``)."""
    if item.get_closest_marker("torch"):
        return True
    params = getattr(getattr(item, "callspec", None), "params", {})
    if any(isinstance(v, str) and v.startswith("torch-") for v in params.values()):
        return True
    return any("torch" in name for name in getattr(item, "fixturenames", ()))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark every test that runs torch ``torch`` (before ``-m`` selects), and skip those where
    torch is missing (in CI only a run declared without torch gets that far)."""
    have_torch = optional.installed("torch")
    for item in items:
        if runs_torch(item):
            item.add_marker(pytest.mark.torch)
            if not have_torch:
                item.add_marker(pytest.mark.skip(reason=TORCH_MISSING))


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs an NVIDIA GPU (skipped cleanly without one)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line("markers", "torch: runs torch (skipped without it; conftest adds "
                                       "it by backend parameter or fixture)")
    config.addinivalue_line("markers", "torch_too: runs torch as well where it is installed, "
                                       "and runs without it too")
