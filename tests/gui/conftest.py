"""GUI test fixtures: settings in a temporary folder, a shown window, waiting for the engine.

Every test runs offscreen (tests/conftest.py) against the real engine (run_reference, the
backends' NumPy paths, compare); no TensorFlow unless a test says so.
"""
import pytest
from PyQt5 import QtCore, QtWidgets

from engine_models import cudnn_model, features, forum_model  # noqa: F401 (re-exported)


@pytest.fixture(autouse=True)
def settings_dir(tmp_path):
    """QSettings go to a fresh folder per test, never the user's ~/.config."""
    folder = tmp_path / "qsettings"
    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.IniFormat)
    QtCore.QSettings.setPath(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope, str(folder))
    return folder


def process(app=None, rounds=3):
    app = app or QtWidgets.QApplication.instance()
    for _ in range(rounds):
        app.processEvents()


def wait_idle(qtbot, window, timeout=30000):
    """Until the worker has nothing left, then deliver the coalesced cursor signal."""
    qtbot.waitUntil(lambda: not window.controller.worker.busy, timeout=timeout)
    window.state.flush()
    process()


def compute(qtbot, window, model, x, backend="numpy:naive", **settings):
    """Give the window a model and features made in code and wait for both paths + compare."""
    window.state.set_run_settings(backend=backend, **settings)
    window.controller.set_inputs(model, x, model_path="<test model>", features_source="<test features>")
    wait_idle(qtbot, window)
    assert window.state.report is not None, window.state.last_error
    return window.state


@pytest.fixture
def make_window(qtbot):
    """A factory of shown main windows (1400 x 900), closed and drained after the test."""
    from lstm_inspector.gui.app import ensure_app
    from lstm_inspector.gui.main_window import MainWindow

    ensure_app()
    made = []

    def make(size=(1400, 900)):
        window = MainWindow()
        qtbot.addWidget(window)
        window.resize(*size)
        window.show()
        qtbot.waitExposed(window)
        made.append(window)
        return window

    yield make
    for window in made:
        window.controller.cancel()
        window.controller.wait(10000)
        for box in list(window.error_boxes):
            try:
                box.close()
            except RuntimeError:
                pass
    process()


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def small_model():
    """One CuDNNLSTM layer, input 3, H = 8, fixed-seed weights."""
    return cudnn_model(n_in=3, units=8, seed=5)


@pytest.fixture
def small_features():
    return features(60, 3, seed=2)
