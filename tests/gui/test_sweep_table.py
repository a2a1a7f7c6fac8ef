"""The sweep table: a sweep's JSON as rows worst first; double-click opens the utterance in the
inspector; a sweep run from the Run menu fills the table as utterances are done."""
import json
import sys
from pathlib import Path

import numpy as np
from PyQt5 import QtCore, QtWidgets

from guitools import wait_idle
from lstm_inspector import resources_path
from lstm_inspector.gui import sweep_table
from lstm_inspector.sweep.command import run_sweep
from lstm_inspector.sweep.work import SweepSettings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from test_sweep import write_corpus  # noqa: E402

DEMO = resources_path() / "demo_digits_cudnnlstm.h5"


def sweep_json(tmp_path):
    """A real sweep (NumPy path under the naive reading) of a folder: an ark of 4 utterances
    and one file of the wrong width, saved as `sweep --json` saves it."""
    folder = tmp_path / "set"
    folder.mkdir()
    write_corpus(folder, 4, frames=(12, 30), seed=4)
    np.save(folder / "narrow.npy", np.zeros((10, 5), np.float32))
    result = run_sweep(SweepSettings(str(DEMO), backend="numpy:naive"), folder)
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(result))
    return path, result


def double_click(qtbot, table, row):
    view = table.table
    qtbot.waitExposed(table)
    center = view.visualRect(view.model().index(row, 0)).center()
    qtbot.mouseClick(view.viewport(), QtCore.Qt.LeftButton, pos=center)  # a press, as a hand gives
    qtbot.mouseDClick(view.viewport(), QtCore.Qt.LeftButton, pos=center)


def test_sweep_json_opens_worst_first_and_double_click_opens_the_utterance(qtbot, window, tmp_path):
    path, result = sweep_json(tmp_path)
    table = sweep_table.open_sweep_dialog(window, str(path))
    qtbot.addWidget(table)
    shown = table.rows_in_view()
    diffs = [r["max_error"] for r in shown[:-1]]
    assert len(shown) == 5 and diffs == sorted(diffs, reverse=True) and diffs[-1] > 1.0
    assert shown[-1]["name"] == "narrow.npy" and shown[-1]["kind"] == "error"
    assert table.proxy.index(4, 2).data() == "error"
    assert "13 inputs" in table.proxy.index(4, 0).data(QtCore.Qt.ToolTipRole)
    assert shown[0]["name"] in table.detail.text() and "naive" in table.detail.text()
    assert "4 structural" in table.header.text() and "1 could not run" in table.header.text()

    with qtbot.waitSignal(table.openRequested, timeout=5000):
        double_click(qtbot, table, 0)
    qtbot.waitUntil(lambda: window.state.report is not None or bool(window.state.last_error),
                    timeout=30000)
    assert window.state.report is not None, window.state.last_error
    wait_idle(qtbot, window)
    s = window.state
    assert s.backend == "numpy:naive" and s.model_path == str(DEMO.resolve())
    assert s.features.data.shape[0] == shown[0]["frames"]
    assert s.report.kind == "structural" and s.report.first.to_dict() == shown[0]["first"]


def test_a_json_that_is_not_a_sweep_is_one_sentence(window, tmp_path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"verdict": "a compare report"}))
    assert sweep_table.open_sweep_dialog(window, str(path)) is None
    texts = [w.text() for w in QtWidgets.QApplication.topLevelWidgets()
             if isinstance(w, QtWidgets.QMessageBox) and w.isVisible()]
    assert any("not a sweep result" in t for t in texts)
    for box in QtWidgets.QApplication.topLevelWidgets():
        if isinstance(box, QtWidgets.QMessageBox):
            box.close()


def test_sweep_from_the_run_menu_fills_the_table(qtbot, window, tmp_path):
    corpus = write_corpus(tmp_path, 3, frames=(10, 20), seed=7)
    window.state.set_run_settings(backend="numpy:naive")
    window.controller.open_model(DEMO)
    wait_idle(qtbot, window)
    table = sweep_table.run_sweep_dialog(window, source=str(corpus))
    qtbot.addWidget(table)
    qtbot.waitUntil(lambda: table.model.rowCount() == 3 and table.stop_button.isHidden(),
                    timeout=30000)  # the thread's finished signal hides Stop
    shown = table.rows_in_view()
    assert {r["kind"] for r in shown} == {"structural"}
    assert [r["max_error"] for r in shown] == sorted((r["max_error"] for r in shown), reverse=True)
    assert not table.runner.isRunning()
