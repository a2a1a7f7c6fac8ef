"""The window says what the CLI says about the file's model (issue 15): the load options reach
the loader, the notes sit under the verdict, masked steps are greyed."""
import numpy as np
import pytest
from PyQt5 import QtCore, QtGui

import model_files
from guitools import open_files_window as open_window

pytestmark = pytest.mark.filterwarnings("ignore")


def test_weights_only_options_reach_the_loader_and_notes_show(qtbot, tmp_path):
    K = model_files.keras()
    model = K.Sequential([K.layers.Input((None, 3)),
                          K.layers.LSTM(4, return_sequences=True, go_backwards=True)])
    written = model_files.save(model, tmp_path, "w.weights.h5", weights_only=True, seed=2)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((15, 3), np.float32))
    window = open_window(qtbot, written.path, tmp_path / "x.npy",
                         model_options={"go_backwards": True})
    assert window.state.model.layers[0].go_backwards
    from lstm_inspector.gui.panels.divergence import DivergencePanel

    (panel,) = window.findChildren(DivergencePanel)
    assert "note:" in panel.verdict.text() and "Assumed" in panel.verdict.text()
    assert "--go-backwards" not in window.state.report.verdict  # given, so no longer assumed


def test_status_bar_never_says_plain_agree_on_another_model(qtbot, tmp_path):
    K = model_files.keras()
    x_in = K.layers.Input((None, 3))
    h_in, c_in = K.layers.Input((4,)), K.layers.Input((4,))
    y = K.layers.LSTM(4, return_sequences=True)(x_in, initial_state=[h_in, c_in])
    path = model_files.save(K.Model([x_in, h_in, c_in], y), tmp_path, "init.h5", seed=5).path
    np.save(tmp_path / "x.npy", np.random.default_rng(2).standard_normal((12, 3), np.float32))
    window = open_window(qtbot, path, tmp_path / "x.npy")
    assert window.state.report.agree  # the two paths agree with each other ...
    text = window.verdict_label.text()
    assert "not on what the file's model computes" in text  # ... but both ran from zeros
    assert "from zeros" in window.state.report.verdict


def test_masked_steps_are_greyed_and_the_mask_noted(qtbot, tmp_path):
    K = model_files.keras()
    model = K.Sequential([K.layers.Input((None, 3)), K.layers.Masking(0.0),
                          K.layers.LSTM(4, return_sequences=True)])
    path = model_files.save(model, tmp_path, "m.h5", seed=3).path
    x = np.random.default_rng(1).standard_normal((30, 3)).astype(np.float32)
    x[20:] = 0.0
    np.save(tmp_path / "x.npy", x)
    window = open_window(qtbot, path, tmp_path / "x.npy")
    assert window.state.masked_steps()[20:].all()
    assert any("10 of 30 steps masked" in n for n in window.state.notes())
    from lstm_inspector.gui.panels.divergence import DivergencePanel

    (panel,) = window.findChildren(DivergencePanel)
    assert panel._mask_bands.runs == 1
    assert "note:" in panel.verdict.text()
    # the screen: the plot's black background is grey over steps 20-29 only (a row of pixels
    # near the plot's top, above the curves; away from the cursor's line at step 0 and the
    # band's edges)
    box, view = panel.plot.getViewBox(), panel.view
    image = view.grab().toImage()
    area = box.viewRect()
    top = area.top() + 0.03 * area.height() if box.yInverted() else \
        area.bottom() - 0.03 * area.height()

    def lightness(step):
        pixel = view.mapFromScene(box.mapViewToScene(QtCore.QPointF(step, top)))
        return QtGui.QColor(image.pixel(pixel.x(), pixel.y())).lightness()

    grey = [lightness(step) for step in range(22, 29)]
    plain = [lightness(step) for step in range(2, 18)]
    assert min(grey) > max(plain), (grey, plain)
    # zoomed in (the mouse wheel's range change): the band starts at step 20's cell, x = 19.5
    box.setXRange(17.5, 22.5, padding=0)
    qtbot.wait(50)
    image = view.grab().toImage()
    assert lightness(19.3) < lightness(19.7) and lightness(18) < lightness(21)


def test_mask_bands_share_follows_the_steps_under_each_column():
    """``mask_bands.masked_share``: the columns of a zoomed-out view carry the share of masked
    steps under them; zoomed in, each column the step it lies on."""
    from lstm_inspector.gui.panels.mask_bands import masked_share

    masked = np.zeros(1000, bool)
    masked[100:200] = True
    masked[500::2] = True
    counts = np.concatenate([[0], np.cumsum(masked)])
    share = masked_share(counts, -0.5, 999.5, 10)
    np.testing.assert_allclose(share, [0, 1, 0, 0, 0, .5, .5, .5, .5, .5])
    zoomed = masked_share(counts, 98.5, 101.5, 30)    # ten columns a step
    np.testing.assert_array_equal(zoomed, [0] * 10 + [1] * 20)   # steps 99, 100, 101
