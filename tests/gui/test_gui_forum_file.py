"""The forum case as a new user meets it: a CuDNNLSTM file (input 1, H = 2) opened in the window.

The file is the bundled ``resources/forum_cudnnlstm_in1_h2.h5`` when it is there, else one
written here by tf-keras's own ``CuDNNLSTM`` (TensorFlow is imported only then).
"""
import numpy as np
import pytest
from PyQt5 import QtCore

from guitools import features, wait_idle

from lstm_inspector import resources_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def forum_file(tmp_path_factory):
    bundled = resources_path() / "forum_cudnnlstm_in1_h2.h5"
    if bundled.is_file():
        return bundled
    import model_files as mf

    folder = tmp_path_factory.mktemp("forum")
    return mf.write_cudnn_model(folder, input_size=1, units=2, dropout=False, seed=3,
                                filename="forum_cudnnlstm_in1_h2.h5").path


def test_open_the_forum_file_naive_port_parts_at_step_1_one_key_away(qtbot, window, forum_file,
                                                                       tmp_path):
    feats = tmp_path / "utterance.npy"
    np.save(feats, features(30, 1, seed=11))
    s = window.state
    s.set_run_settings(backend="numpy:naive")
    window.controller.open_model(forum_file)
    window.controller.open_features(feats, replace=False)
    wait_idle(qtbot, window)
    assert s.report is not None, s.last_error
    assert s.model.layers[0].kind == "CuDNNLSTM" and s.model.layers[0].units == 2
    assert s.report.first.step == 1 and s.report.kind == "structural"
    assert "naive" in s.report.verdict
    assert float(s.report.step_error(0, "forward", "h")[0]) == 0.0  # step 0: the same numbers
    assert window.layer_combo.currentText().startswith("[0]")
    window.activateWindow()
    qtbot.keyClick(window, QtCore.Qt.Key_N)
    s.flush()
    assert s.timestep == 1
    assert window.step_table.model.step == 1
    assert "forum_cudnnlstm_in1_h2.h5" in window.windowTitle()
    assert set(window.recent_files()) == {str(forum_file), str(feats)}


def test_the_bundled_demo_spec_opens_with_its_backend(qtbot, forum_file, tmp_path, monkeypatch):
    """``lstm-inspector`` without files opens resources/demo.json (here a temporary one)."""
    import json

    import lstm_inspector
    from lstm_inspector.gui import app

    np.save(tmp_path / "demo.npy", features(25, 1, seed=5))
    (tmp_path / "model.h5").write_bytes(forum_file.read_bytes())
    (tmp_path / "demo.json").write_text(json.dumps(
        {"model": "model.h5", "features": "demo.npy", "reading": "naive"}))
    monkeypatch.setattr(lstm_inspector, "resources_path", lambda: tmp_path)
    app.ensure_app()
    window = app.make_window(preload=False)
    qtbot.addWidget(window)
    assert window.state.backend == "numpy:naive"
    window.show()  # the files are read once the window is painted
    qtbot.waitUntil(lambda: window.state.report is not None, timeout=30000)
    wait_idle(qtbot, window)
    assert window.state.report.first.step == 1
    assert window.windowTitle() == "lstm-inspector - model.h5 + demo.npy (demo)"
