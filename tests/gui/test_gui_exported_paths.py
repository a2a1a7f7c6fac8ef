"""``lstm-inspector MODEL FEATURES --onnx FILE --chunk N``: the window runs an ONNX file written by
``lstm-inspector export`` as path B, then the streaming check in chunks of N frames (a real
window, offscreen, through the real CLI in a child process)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_cli import run_cli

pytest.importorskip("onnxruntime")
REPO = Path(__file__).resolve().parents[2]

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
        if getattr(window, "streaming_dialog", None) is not None or window.state.last_error:
            break
        time.sleep(0.02)
    s = window.state
    print("b", s.trace_b.label if s.trace_b is not None else None)
    print("agree", s.report.agree if s.report is not None else None)
    dialog = getattr(window, "streaming_dialog", None)
    print("stream", None if dialog is None else dialog.report.label)
    print("stream_agree", None if dialog is None else dialog.report.agree)
    print("error", s.last_error)
    return 0

QtWidgets.QApplication.exec_ = exec_
sys.exit(cli.main(sys.argv[1:]))
"""


def run_child(*args):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=240)


def test_onnx_file_and_chunk_from_the_command_line(tmp_path):
    import model_files

    model = model_files.write_cudnn_model(tmp_path, input_size=3, units=4, stacked=2, seed=3).path
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((40, 3), np.float32))
    code, out, err = run_cli("export", model, "--to", "onnx", tmp_path / "m.onnx")
    assert code == 0, out + err
    proc = run_child(model, tmp_path / "x.npy", "--onnx", tmp_path / "m.onnx", "--chunk", "8")
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    assert lines["b"] == "ONNX Runtime (m.onnx)" and lines["agree"] == "True", proc.stdout
    assert "m.onnx" in lines["stream"] and lines["stream_agree"] == "True", proc.stdout
    assert lines["error"] in ("None", "")


def test_bad_chunk_is_one_line_exit_2(tmp_path):
    proc = run_child("gui", "--chunk", "0")
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout + proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "--chunk must be at least 1" in proc.stderr
