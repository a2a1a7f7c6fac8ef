"""``lstm-inspector MODEL FEATURES`` without --screenshot: the command opens the interactive
window on those files (a real window, offscreen; the event loop ends once both paths ran)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine_models import features

REPO = Path(__file__).resolve().parents[2]

# Run the real CLI in a child; its event loop runs until the worker is idle, then prints what
# the window holds and quits.
CHILD = """
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
        if window.state.report is not None and not window.controller.worker.busy:
            break
        time.sleep(0.02)
    s = window.state
    print("visible", window.isVisible())
    print("model", s.model_path)
    print("b", s.trace_b.label if s.trace_b is not None else None)
    print("error", s.last_error)
    return 0

QtWidgets.QApplication.exec_ = exec_
sys.exit(cli.main(sys.argv[1:]))
"""


def run_child(*args):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=240)


def test_model_features_opens_the_window_on_those_files(tmp_path):
    x = tmp_path / "forum_x.npy"
    np.save(x, features(12, 1, seed=3))
    model = REPO / "resources" / "forum_cudnnlstm_in1_h2.h5"
    proc = run_child(model, x, "--reading", "naive")
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    assert lines["visible"] == "True"
    assert lines["model"].endswith("forum_cudnnlstm_in1_h2.h5")
    assert "naive" in lines["b"] and lines["error"] in ("None", "")


def test_one_file_only_is_refused_in_one_line():
    model = REPO / "resources" / "forum_cudnnlstm_in1_h2.h5"
    proc = run_child(model)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "give both a model file and a feature file" in lines[0]
