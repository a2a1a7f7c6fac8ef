"""Your implementation as a path in the window: run only when asked, in a separate process that
Cancel kills; its errors in a dialog with your own traceback lines; Diagnose names the fault."""
import time
from pathlib import Path

import numpy as np
from PyQt5 import QtWidgets

from guitools import compute, features, forum_model, process, wait_idle

from lstm_inspector.paths.registry import choice_for


def impl_path(spec):
    return choice_for(f"impl:{spec}")


def outputs_path(file):
    return choice_for(f"outputs:{file}")

IMPLS = Path(__file__).resolve().parents[1] / "impls"
FORUM_FN = f"{IMPLS / 'forum_newlstm.py'}:NewLSTM"


def test_the_forum_function_as_path_b_and_diagnose_names_the_recurrent_transpose(qtbot, window):
    s = compute(qtbot, window, forum_model(), features(12, 1, seed=4), backend="reference")
    window.use_your_path(impl_path(FORUM_FN))  # what Run > Run my implementation... ends in
    wait_idle(qtbot, window, timeout=60000)
    assert s.path_b == "impl:" + FORUM_FN
    assert s.trace_b.meta["backend"] == "impl" and "NewLSTM" in s.trace_b.label
    assert window.path_chooser.combo_b.currentData() == s.path_b
    assert "NewLSTM" in window.path_chooser.combo_b.currentText()
    assert s.report.first.step == 1  # h = 0 at step 0 hides the transpose
    assert np.array_equal(window.states.curves("h")[1].yData, s.trace_b.layer(0).h[:, 0])

    window.diagnose_action.trigger()
    wait_idle(qtbot, window, timeout=60000)
    diagnosis = s.diagnosis
    assert diagnosis is not None and not diagnosis.agree
    dialog = window.diagnosis_dialog
    assert dialog.isVisible()
    text = dialog.text()
    assert "transpose each gate block of recurrent_kernel" in text
    assert "diverges" in text.splitlines()[0]
    # the divergence view marks the diagnosed step, and the cursor is on it
    assert diagnosis.marked_step == (0, "forward", 1)
    assert window.divergence.diagnosed_line.isVisible()
    assert window.divergence.diagnosed_line.value() == 1
    # its words stand in the title above the plot, not over the curves (issue 20)
    assert getattr(window.divergence.diagnosed_line, "label", None) is None
    assert "diagnosed (convention): step 1" in window.divergence.plot.titleLabel.text
    assert s.timestep == 1
    dialog.close()
    # new traces drop the diagnosis and its mark
    window.controller.set_paths(b="numpy:naive")
    wait_idle(qtbot, window)
    assert s.diagnosis is None and not window.divergence.diagnosed_line.isVisible()


def test_your_outputs_as_path_b(qtbot, window, tmp_path):
    model, x = forum_model(), features(10, 1, seed=4)
    s = compute(qtbot, window, model, x, backend="numpy:naive")
    naive_h = s.trace_b.layer(0).h
    np.save(tmp_path / "port_h.npy", naive_h)
    window.use_your_path(outputs_path(tmp_path / "port_h.npy"))
    wait_idle(qtbot, window)
    assert s.path_b.startswith("outputs:") and np.allclose(s.trace_b.layer(0).h, naive_h)
    assert s.trace_b.layer(0).how("h") == "measured"
    assert s.report.first.step == 1


def test_a_raising_function_shows_their_traceback_and_the_window_stays(qtbot, window):
    s = compute(qtbot, window, forum_model(), features(10, 1, seed=4), backend="numpy:naive")
    before = s.trace_b
    with qtbot.waitSignal(s.failed, timeout=60000) as failure:
        window.use_your_path(impl_path(f"{IMPLS / 'faulty.py'}:raises"))
    wait_idle(qtbot, window)
    assert "\n" not in failure.args[0]
    box = window.error_boxes[-1]
    assert "faulty.py" in box.detailedText() and "helper" in box.detailedText()
    assert "lstm_inspector" not in box.detailedText()  # their lines, not ours
    box.close()
    assert s.trace_b is before  # the previous comparison is still shown
    window.controller.set_paths(b="numpy:hard_sigmoid")  # and the window still computes
    wait_idle(qtbot, window)
    assert s.path_b == "numpy:hard_sigmoid" and s.report is not None


def test_cancel_kills_a_function_that_never_returns(qtbot, window):
    s = compute(qtbot, window, forum_model(), features(10, 1, seed=4), backend="numpy:naive")
    window.use_your_path(impl_path(f"{IMPLS / 'faulty.py'}:never_returns"))
    qtbot.waitUntil(lambda: "separate process" in window.statusBar().currentMessage()
                    or "never_returns" in window.statusBar().currentMessage(), timeout=30000)
    assert window.cancel_button.isVisible()
    started = time.monotonic()
    window.cancel_button.click()
    qtbot.waitUntil(lambda: not window.controller.worker.busy, timeout=10000)
    assert time.monotonic() - started < 5
    process()
    assert not window.cancel_button.isVisible()
    assert not [w for w in QtWidgets.QApplication.topLevelWidgets()
                if w.objectName() == "errorBox" and w.isVisible()]


def test_the_command_line_opens_the_window_with_your_function_as_b(tmp_path):
    """``lstm-inspector MODEL FEATURES --impl FILE.py:NAME --screenshot``: B is the function."""
    import os
    import subprocess
    import sys

    from PyQt5 import QtGui
    from imagecompare import to_array

    repo = Path(__file__).resolve().parents[2]
    png = tmp_path / "impl.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "lstm_inspector",
                          str(repo / "resources" / "forum_cudnnlstm_in1_h2.h5"),
                          str(repo / "resources" / "forum_input.npy"), "--impl", FORUM_FN,
                          "--screenshot", str(png)], capture_output=True, text=True, env=env,
                         cwd=str(tmp_path), timeout=120)
    assert out.returncode == 0, out.stderr
    pixels = to_array(QtGui.QImage(str(png)))
    assert pixels.shape[:2] == (900, 1400) and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
    missing = subprocess.run([sys.executable, "-m", "lstm_inspector",
                              str(repo / "resources" / "forum_cudnnlstm_in1_h2.h5"),
                              str(repo / "resources" / "forum_input.npy"), "--impl",
                              str(tmp_path / "nope.py"), "--screenshot", str(png)],
                             capture_output=True, text=True, env=env, timeout=120)
    assert missing.returncode == 2 and "nope.py does not exist" in missing.stderr
    assert missing.stderr.strip().count("\n") == 0
