"""The window's rough edges a newcomer met (issue 20, item 7): file names kept as written in
error sentences, the Diagnose dialog's long lines wrapped, a window that fits a small screen,
and an empty window's axes (a second of steps, log ticks with exponents)."""
from pathlib import Path

import pytest
from PyQt5 import QtCore

from lstm_inspector.errors import InspectorError

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


@pytest.mark.parametrize("message, shown", [
    ("notamodel.h5 is not an HDF5 file", "notamodel.h5 is not an HDF5 file."),
    ("h5py could not read it", "h5py could not read it."),
    ("the feature file x.npy has no frames", "The feature file x.npy has no frames."),
])
def test_error_sentences_keep_file_names_as_written(message, shown):
    from lstm_inspector.gui.workers import describe_error

    assert describe_error(InspectorError(message))[0] == shown
    assert describe_error(KeyError("missing"))[0] == "Internal error: KeyError: 'missing'."


def test_the_diagnose_dialogs_fix_line_wraps_instead_of_scrolling(qtbot):
    """The fix's sentence ("... transpose each gate block of recurrent_kernel.") was cut at the
    dialog's edge, behind a horizontal scroll bar."""
    import lstm_inspector as li
    from lstm_inspector.gui.diagnosis_dialog import DiagnosisDialog

    model = li.load_model(RESOURCES / "forum_cudnnlstm_in1_h2.h5")
    x = li.load_features(RESOURCES / "forum_input.npy").data
    tests = Path(__file__).resolve().parents[1]
    diagnosis = li.diagnose(model, x, li.run_impl(model, x, f"{tests}/impls/forum_newlstm.py:NewLSTM"))
    dialog = DiagnosisDialog(diagnosis)
    qtbot.addWidget(dialog)
    dialog.resize(640, 520)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert "gate block of recurrent_kernel." in dialog.text()
    assert dialog.browser.horizontalScrollBar().maximum() == 0


@pytest.mark.parametrize("available, start, size", [
    ((0, 0, 1440, 900), (0, 20), (1400, 900)),       # issue 20: y = 20, 900 tall, 900 screen
    ((0, 27, 1280, 773), (300, 300), (1400, 900)),   # a desktop panel on top, small screen
    ((1920, 0, 1366, 768), (0, 0), (1400, 900)),     # a second screen to the right
])
def test_the_window_fits_the_available_screen(qtbot, available, start, size):
    from PyQt5 import QtWidgets

    from lstm_inspector.gui.screen_fit import fit_within

    window = QtWidgets.QMainWindow()
    qtbot.addWidget(window)
    window.resize(*size)
    window.move(*start)
    area = QtCore.QRect(*available)
    fit_within(window, area)
    right, bottom = window.x() + window.width(), window.y() + window.height()   # no frame here
    assert area.x() <= window.x() and right <= area.x() + area.width()
    assert area.y() <= window.y() and bottom <= area.y() + area.height()
    fitted = (window.x(), window.y(), window.width(), window.height())
    fit_within(window, area)   # a window that fits stays where it is
    assert (window.x(), window.y(), window.width(), window.height()) == fitted


def test_an_empty_window_shows_a_second_of_steps_and_decades(window):
    """Not -0.004 ... 0.004 s, and log ticks with their exponents (not 2 ... 9)."""
    from lstm_inspector.gui.panels.common import EMPTY_STEPS
    from lstm_inspector.gui.panels.divergence import EMPTY_DECADES

    lo, hi = window.features.heatmap.plot.getViewBox().viewRange()[0]
    assert lo == pytest.approx(-0.5) and hi == pytest.approx(EMPTY_STEPS - 0.5)
    assert window.features.seconds_axis.frame_shift == pytest.approx(0.01)   # 0 ... 1 s on top
    lo, hi = window.divergence.plot.getViewBox().viewRange()[1]
    assert (lo, hi) == pytest.approx(EMPTY_DECADES)
    ticks = window.divergence.plot.getAxis("left").tickValues(lo, hi, 300)
    assert ticks and all(float(v).is_integer() for v in ticks[0][1])   # whole decades, 10^k
