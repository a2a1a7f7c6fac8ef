"""Helpers for GUI tests: let Qt run, wait for the engine, compute in a window."""
from PyQt5 import QtWidgets

from engine_models import cudnn_model, features, forum_model  # noqa: F401 (re-exported)


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
