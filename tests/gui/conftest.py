"""GUI test fixtures: settings in a temporary folder, a shown window, waiting for the engine.

Every test runs offscreen (tests/conftest.py) against the real engine (run_reference, the
backends' NumPy paths, compare); no TensorFlow unless a test says so.
"""
import pytest
from PyQt5 import QtCore

from engine_models import cudnn_model, features
from guitools import process


@pytest.fixture(autouse=True)
def settings_dir(tmp_path):
    """QSettings go to a fresh folder per test, never the user's ~/.config."""
    folder = tmp_path / "qsettings"
    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.IniFormat)
    QtCore.QSettings.setPath(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope, str(folder))
    return folder


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
