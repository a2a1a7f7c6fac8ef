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
    """In CI, a missing optional library fails the run instead of skipping its tests."""
    if optional.in_ci() and optional.missing_in_ci():
        raise pytest.UsageError(f"CI=true but {', '.join(optional.missing_in_ci())} is not "
                                f"installed, so the tests needing it would skip; .ci/run "
                                f"installs it")


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs an NVIDIA GPU (skipped cleanly without one)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
