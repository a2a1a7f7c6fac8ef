"""Files in and out, errors, long work, settings, drag-and-drop and run_gui."""
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from PyQt5 import QtCore, QtWidgets

from guitools import compute, features, forum_model, wait_idle

from lstm_inspector.errors import InspectorError
from lstm_inspector.gui import pipeline
from lstm_inspector.gui.workers import Worker, describe_error

REPO = Path(__file__).resolve().parents[2]


_WORKERS = []


@pytest.fixture(autouse=True)
def _workers_finish():
    """A bare Worker's pool thread may still be returning from its last signal when a test ends;
    deleting the Worker then deletes its QThreadPool with the GIL held while that thread waits
    for the GIL (a hang seen in CI). Each test's Workers are waited for (GIL released) first."""
    yield
    while _WORKERS:
        worker = _WORKERS.pop()
        worker.cancel()
        worker.wait()


def bare_worker() -> Worker:
    worker = Worker()
    _WORKERS.append(worker)
    return worker


def error_texts(window):
    texts = []
    for box in window.error_boxes:
        try:
            texts.append((box.text(), box.detailedText(), box.isVisible()))
        except RuntimeError:
            pass
    return texts


def test_bad_model_file_shows_one_sentence_and_the_window_stays_usable(qtbot, window, tmp_path):
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"this is not an HDF5 file at all\n" * 10)
    with qtbot.waitSignal(window.state.failed, timeout=10000) as failure:
        window.controller.open_model(bad)
    message = failure.args[0]
    wait_idle(qtbot, window)
    [(text, details, visible)] = error_texts(window)
    assert visible and text == message
    assert "\n" not in text and text.endswith(".") and "broken.h5" in text
    assert not text.lower().startswith("internal error")
    assert details  # the traceback is there, behind "Show Details..."
    assert not window.state.is_busy and not window.progress_bar.isVisible()
    window.error_boxes[0].close()
    # still usable: a good model and features compute, the cursor moves
    s = compute(qtbot, window, forum_model(), features(20, 1))
    s.set_timestep(3)
    s.flush()
    assert window.slider.value() == 3


def test_features_of_the_wrong_width_say_so(qtbot, window, tmp_path):
    path = tmp_path / "feats.npy"
    np.save(path, features(10, 5))
    window.controller.set_inputs(model=forum_model(), compute=False)
    with qtbot.waitSignal(window.state.failed, timeout=10000) as failure:
        window.controller.open_features(path)
    wait_idle(qtbot, window)
    assert "5" in failure.args[0] and "1" in failure.args[0]
    assert "\n" not in failure.args[0]
    assert window.state.report is None


def test_internal_errors_are_one_sentence_with_the_traceback_in_details(qtbot):
    try:
        raise ZeroDivisionError("division by zero\nsecond line")
    except ZeroDivisionError as exc:
        message, details = describe_error(exc)
    assert message == "Internal error: ZeroDivisionError: division by zero."
    assert "Traceback" in details and "second line" in details
    message, _ = describe_error(InspectorError("the file has 3 columns"))
    assert message == "The file has 3 columns."

    worker = bare_worker()
    with qtbot.waitSignal(worker.failed, timeout=5000) as failure:
        worker.submit("boom", lambda progress: {}["missing"])
    assert failure.args[0] == "Internal error: KeyError: 'missing'."
    assert "KeyError" in failure.args[1]


def test_cancel_stops_long_work_cooperatively(qtbot):
    worker = bare_worker()
    calls, results = [], []

    def long_work(progress):
        for k in range(2000):
            progress(k / 2000, f"step {k}")
            calls.append(k)
            time.sleep(0.002)
        return "finished"

    with qtbot.waitSignal(worker.cancelled, timeout=10000) as cancelled:
        worker.submit("long", long_work, results.append)
        qtbot.waitUntil(lambda: len(calls) > 5, timeout=5000)
        worker.cancel()
    assert cancelled.args == ["long"]
    assert results == [] and len(calls) < 2000
    assert not worker.busy
    # a new job after a cancel runs normally
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.submit("short", lambda progress: 42, results.append)
    assert results == [42]


def test_a_new_job_supersedes_the_running_one(qtbot):
    worker = bare_worker()
    results = []
    started = threading.Event()

    def slow(progress):
        started.set()
        for _ in range(500):
            progress(0.5)
            time.sleep(0.002)
        return "slow"

    worker.submit("slow", slow, results.append)
    started.wait(5)
    with qtbot.waitSignal(worker.finished, timeout=10000):
        worker.submit("fast", lambda progress: "fast", results.append)
    assert results == ["fast"]


def test_gui_modules_import_no_tensorflow_or_torch():
    code = ("import sys, lstm_inspector.gui.main_window, lstm_inspector.gui.app\n"
            "print(' '.join(m for m in ('tensorflow', 'torch', 'tf_keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.stdout.strip() == ""


def test_classify_dropped_files(tmp_path):
    assert pipeline.classify_path(tmp_path / "model.h5") == "model"
    assert pipeline.classify_path(tmp_path / "ckpt.index") == "model"
    assert pipeline.classify_path(tmp_path / "model.ckpt-100.data-00000-of-00001") == "model"
    for name in ("utt.npy", "utt.htk", "feats.ark", "feats.scp", "utt.wav", "x.csv"):
        assert pipeline.classify_path(tmp_path / name) == "features"
    odd = tmp_path / "weights.bin"  # no telling extension: decided by the HDF5 signature
    with h5py.File(odd, "w") as f:
        f["x"] = np.zeros(3)
    assert pipeline.classify_path(odd) == "model"
    text = tmp_path / "feats.dat"
    text.write_text("1 2 3\n4 5 6\n")
    assert pipeline.classify_path(text) == "features"


def test_dropping_a_feature_file_loads_and_computes(qtbot, window, tmp_path):
    path = tmp_path / "dropped.npy"
    x = features(25, 1, seed=9)
    np.save(path, x)
    window.controller.set_inputs(model=forum_model(), compute=False)
    window.state.set_run_settings(backend="numpy:naive")
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(path))])
    assert drag_enter(window, mime).isAccepted()
    assert drop(window, mime).isAccepted()
    wait_idle(qtbot, window)
    assert np.array_equal(window.state.features.data, x)
    assert window.state.report is not None and window.state.report.first.step == 1
    assert str(path) in window.recent_files()
    assert "dropped.npy" in window.windowTitle()
    # something that is not a local file is refused
    other = QtCore.QMimeData()
    other.setText("hello")
    assert not drag_enter(window, other).isAccepted()


def drag_enter(window, mime):
    from PyQt5 import QtGui

    event = QtGui.QDragEnterEvent(QtCore.QPoint(10, 10), QtCore.Qt.CopyAction, mime,
                                  QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
    window.dragEnterEvent(event)
    return event


def drop(window, mime):
    from PyQt5 import QtGui

    event = QtGui.QDropEvent(QtCore.QPointF(10, 10), QtCore.Qt.CopyAction, mime,
                             QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
    window.dropEvent(event)
    return event


def test_settings_persist_colour_map_recent_files_and_geometry(qtbot, make_window, tmp_path,
                                                              settings_dir):
    first = make_window()
    first.set_colormap("magma")
    path = tmp_path / "f.npy"
    np.save(path, features(5, 1))
    first.controller.open_features(path)
    wait_idle(qtbot, first)
    first.resize(1200, 800)
    first.docks["states"].hide()
    first.close()
    assert any(settings_dir.rglob("*.ini"))

    second = make_window(size=(1000, 700))
    second._restore_geometry()
    assert second.state.colormap == "magma"
    assert second.recent_files() == [str(path)]
    assert [a.text() for a in second.recent_menu.actions()] == [str(path)]
    assert second.size() == QtCore.QSize(1200, 800)
    assert not second.docks["states"].isVisible()


def test_export_everything(qtbot, window, tmp_path):
    s = compute(qtbot, window, forum_model(), features(30, 1, seed=4))
    written = {kind: window.export(kind, tmp_path / f"out.{kind}")
               for kind in ("png", "svg", "npz", "csv", "json", "html")}
    assert all(path is not None and path.stat().st_size > 0 for path in written.values())

    from PyQt5 import QtGui
    image = QtGui.QImage(str(written["png"]))
    assert image.size() == window.size()
    assert written["svg"].read_text()[:200].lstrip().startswith("<?xml")

    with np.load(written["npz"]) as npz:
        assert np.array_equal(npz["A.layer0.forward.h"], s.trace_a.layer(0).h)
        assert np.array_equal(npz["B.layer0.forward.a"], s.trace_b.layer(0).a)
        assert np.array_equal(npz["x"], s.trace_a.x)
        assert "naive" in json.loads(str(npz["meta_json"]))["B"]["label"]

    table = np.loadtxt(written["csv"], delimiter=",", skiprows=1)
    header = written["csv"].read_text().splitlines()[0].split(",")
    assert table.shape == (30, len(header))
    assert np.allclose(table[:, header.index("B_h_u1")], s.trace_b.layer(0).h[:, 1], atol=1e-8)

    report = json.loads(written["json"].read_text())
    assert report["verdict"] == s.report.verdict and report["first"]["step"] == 1
    page = written["html"].read_text()
    assert "data:image/png;base64," in page and "first divergence" in page.lower()


def test_screenshot_mode_writes_the_png_and_exits_0(tmp_path):
    """run_gui(screenshot=...) in a fresh process: the demo made in code, a numpy reading."""
    png = tmp_path / "shot.png"
    code = ("import sys\nfrom lstm_inspector.gui.app import run_gui\n"
            f"sys.exit(run_gui(backend='numpy:naive', screenshot={str(png)!r}, size=(1000, 700)))")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=str(REPO), timeout=120)
    assert out.returncode == 0, out.stderr
    from PyQt5 import QtGui

    from imagecompare import to_array
    image = QtGui.QImage(str(png))
    assert (image.width(), image.height()) == (1000, 700)
    assert "tensorflow" not in out.stderr.lower()
    # the picture holds the views: heatmaps in a colour map, curves; not a blank or empty window
    pixels = to_array(image)[..., :3].reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    assert len(colours) >= 300, f"only {len(colours)} colours: the views were not drawn"
    assert counts.max() < 0.6 * len(pixels), "one colour fills most of the picture"


def test_screenshot_mode_bad_input_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "model.h5"
    bad.write_bytes(b"garbage")
    feats = tmp_path / "f.npy"
    np.save(feats, features(5, 1))
    code = ("import sys\nfrom lstm_inspector.gui.app import run_gui\n"
            f"sys.exit(run_gui({str(bad)!r}, {str(feats)!r}, backend='numpy:naive', "
            f"screenshot={str(tmp_path / 'x.png')!r}))")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=str(REPO), timeout=120)
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.startswith("lstm-inspector:")]
    assert len(lines) == 1 and "model.h5" in lines[0]
    assert not (tmp_path / "x.png").exists()
    # a missing file and an unknown reading are refused before any window
    for args in (f"'{tmp_path / 'nope.h5'}', {str(feats)!r}", "None, None, reading='sideways'"):
        code = ("import sys\nfrom lstm_inspector.gui.app import run_gui\n"
                f"sys.exit(run_gui({args}, screenshot={str(tmp_path / 'y.png')!r}))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, cwd=str(REPO), timeout=120)
        assert out.returncode == 2 and out.stderr.strip().count("\n") == 0, out.stderr


def test_help_pages_open(qtbot, window):
    from lstm_inspector.gui import dialogs

    page = dialogs.help_dialog(window, "The CuDNNLSTM layout", dialogs.CUDNN_LAYOUT_HTML)
    text = page.findChild(QtWidgets.QTextBrowser).toPlainText()
    assert "reshape(H, in)" in text and "forum" in text and "i, f, c, o" in text
    page.close()


def test_colour_map_and_frame_shift_settings_reach_the_views(qtbot, window):
    s = compute(qtbot, window, forum_model(), features(20, 1))
    [magma] = [a for a in window.cmap_group.actions() if a.text() == "magma"]
    magma.trigger()  # View > Colour map > magma
    assert s.colormap == "magma" and window.cmap_group.checkedAction() is magma
    assert window.gates.heatmaps["i"].bar.colorMap().name == "magma"
    assert window.features.heatmap.bar.colorMap().name == "magma"
    s.set_source("diff")  # |A - B| keeps its own map, so a difference never reads as a value
    assert window.gates.heatmaps["i"].bar.colorMap().name == "inferno"
    s.set_run_settings(default_frame_shift=0.025)  # the features have no frame shift of their own
    s.set_timestep(4)
    s.flush()
    assert window.features.seconds_axis.frame_shift == 0.025
    assert "0.100 s" in window.step_label.text()
    assert "25 ms per frame" in window.features.heatmap.plot.titleLabel.text


def test_an_htk_file_brings_its_own_frame_shift(qtbot, window, realdata):
    """Real HTK MFCCs from Kaldi's test data (142 frames x 39, 10 ms in the header)."""
    from lstm_inspector.gui.app import demo_model_in_code

    path = realdata / "features" / "kaldi-test.wav.fea_htk.1"
    window.state.set_run_settings(backend="numpy:naive", default_frame_shift=0.5)
    window.controller.set_inputs(model=demo_model_in_code(input_size=39, units=4), compute=False)
    window.controller.open_features(path)
    wait_idle(qtbot, window)
    s = window.state
    assert s.features.data.shape == (142, 39)
    assert s.frame_shift == pytest.approx(0.01)  # the file's, not the 0.5 s setting
    assert s.report is not None and s.trace_a.steps == 142
    assert np.array_equal(window.features.heatmap.image.image, s.features.data)
    assert "assumed" not in window.features.heatmap.plot.titleLabel.text


def test_tolerance_dialog_reads_numbers_and_blanks(qtbot, window):
    from lstm_inspector.gui.dialogs import ToleranceDialog

    dialog = ToleranceDialog(None, 1e-4, parent=window)
    qtbot.addWidget(dialog)
    assert dialog.values() == (None, 1e-4)
    dialog.atol_edit.setText("2e-6")
    dialog.rtol_edit.setText("")
    assert dialog.values() == (2e-6, None)


def test_screenshot_mode_needs_both_files_or_neither(tmp_path, capsys):
    from lstm_inspector.gui.app import run_gui

    assert run_gui(str(tmp_path / "m.h5"), None, screenshot=str(tmp_path / "s.png")) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_status_says_what_ran_with_versions_and_notes():
    from lstm_inspector.core.trace import Trace
    from lstm_inspector.gui.status import describe_run, run_details

    meta = {"backend": "tf-gpu", "device": "NVIDIA H200", "tf32": False, "dtype": "float32",
            "reading": "file", "versions": {"tensorflow": "2.21.0", "tf_keras": "2.21.0",
                                            "cudnn": "9.3", "numpy": "2.4"},
            "notes": ["auto picked tf-gpu"]}
    trace = Trace(layers=[], layer_names=[], x=np.zeros((1, 1)), output=np.zeros((1, 1)),
                  label="CuDNNLSTM on the GPU", meta=meta)
    text = describe_run(trace)
    assert text == ("tf-gpu NVIDIA H200 float32 TF32 False "
                    "(tensorflow 2.21.0, tf_keras 2.21.0, cudnn 9.3)")
    details = "\n".join(run_details(trace, "B"))
    assert "auto picked tf-gpu" in details and "numpy 2.4" in details
