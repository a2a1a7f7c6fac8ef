"""Run > Streaming check: path B in chunks, its report in a dialog; a planted carry bug named."""
import pytest
from PyQt5 import QtWidgets

from guitools import compute, cudnn_model, features
from lstm_inspector.core.streaming import MISTAKES
from lstm_inspector.gui.streaming_dialog import run_streaming_check, streaming_path

RESET = list(MISTAKES)[0]


@pytest.mark.torch
def test_streaming_check_from_the_run_menu(qtbot, window):
    compute(qtbot, window, cudnn_model(n_in=3, units=6, seed=3), features(50, 3, seed=1),
            backend="torch-cpu")
    texts = [a.text() for a in window.findChildren(QtWidgets.QAction)]
    assert "S&treaming check (chunks of N)..." in texts

    good = run_streaming_check(window, chunk=8)
    assert good.report.agree and good.report.label.startswith("PyTorch")
    bad = run_streaming_check(window, chunk=8, bug="reset")
    shown = bad.findChildren(QtWidgets.QTextBrowser)[0].toPlainText()
    assert not bad.report.agree and RESET in shown and "at step 8" in shown
    good.close()
    bad.close()


def test_paths_without_a_carried_state_fall_back_to_the_reference():
    assert streaming_path("torch-cpu") == "torch-cpu"
    assert streaming_path("onnx:/x/m.onnx") == "onnx:/x/m.onnx"
    assert streaming_path("numpy:naive") == "numpy"
    assert streaming_path("tf-gpu") == "numpy"
