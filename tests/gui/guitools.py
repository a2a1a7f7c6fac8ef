"""Helpers for GUI tests: let Qt run, wait for the engine, compute in a window, run the CLI's window."""
import os
import subprocess
import sys
from pathlib import Path

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


def open_files_window(qtbot, model_path, features_path, backend="numpy64", **options):
    """The window ``make_window`` builds on these files (1400 x 900), once both paths ran."""
    from lstm_inspector.gui.app import ensure_app, make_window

    ensure_app()
    window = make_window(str(model_path), str(features_path), backend=backend, preload=False,
                         **options)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitUntil(lambda: window.state.report is not None, timeout=60000)
    wait_idle(qtbot, window)
    return window


REPO = Path(__file__).resolve().parents[2]

# The real CLI in a child process (offscreen): its event loop runs until DONE holds for the
# window, then prints REPORT's "name value" lines about it and quits.
_CHILD = """
import sys, time
from PyQt5 import QtWidgets
from lstm_inspector import cli
from lstm_inspector.gui import app as gui_app

opened = []
make_window = gui_app.make_window
gui_app.make_window = lambda *a, **k: opened.append(make_window(*a, **k)) or opened[-1]

def exec_(self):
    window, deadline = opened[-1], time.time() + 120
    while time.time() < deadline:
        self.processEvents()
        if DONE:
            break
        time.sleep(0.02)
    s = window.state
    for name, value in REPORT:
        print(name, value)
    return 0

QtWidgets.QApplication.exec_ = exec_
sys.exit(cli.main(sys.argv[1:]))
"""


def run_cli_window(args, done: str, report: str):
    """Run ``lstm-inspector ARGS`` in a child whose window quits once ``done`` (an expression of
    ``window``) holds; ``report`` is an expression of ``window`` and ``s`` (its state) giving
    ``(name, value)`` pairs, printed one per line. Returns the CompletedProcess."""
    child = _CHILD.replace("DONE", done).replace("REPORT", report)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-c", child, *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=240)


def printed(proc) -> dict:
    """The child's "name value" lines as a dict."""
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
