"""The window as a user sees it: pixels at a fixed size, and a few reference images.

Assertions on pixels say what must be true on any machine (heatmaps are not blank, the cursor
is drawn at its step in every view, the divergence marker sits on its step); the reference
images (``tests/reference_images``, compared with a tolerance by ``imagecompare``) catch what
those miss: a panel gone, a layout shifted, a colour bar lost.
"""
import numpy as np
import pytest
from PyQt5 import QtCore

from guitools import compute, cudnn_model, features, forum_model, process
from imagecompare import assert_matches_reference, to_array

CURSOR_RGB = (255, 80, 80)
MARKER_RGB = (230, 30, 30)
SIZE = (1400, 900)


def grab(window):
    window.state.flush()
    process()
    return to_array(window.grab().toImage())


def window_point(window, panel_view, view_box, x, y):
    """Window pixel of view coordinates (x, y) in ``view_box`` of a panel's GraphicsLayoutWidget."""
    scene = view_box.mapViewToScene(QtCore.QPointF(x, y))
    local = panel_view.mapFromScene(scene)
    point = panel_view.viewport().mapTo(window, local)
    return point.x(), point.y()


def near_color(pixels, x, y, rgb, tolerance=40, reach=2):
    """Whether a pixel within ``reach`` of (x, y) has colour ``rgb`` (each channel within tolerance)."""
    patch = pixels[y - reach:y + reach + 1, x - reach:x + reach + 1].astype(int)
    return bool((np.abs(patch - np.array(rgb)).max(axis=2) <= tolerance).any())


def image_region(window, panel_view, heatmap):
    rect = heatmap.image.mapRectToScene(heatmap.image.boundingRect())
    top_left = panel_view.viewport().mapTo(window, panel_view.mapFromScene(rect.topLeft()))
    bottom_right = panel_view.viewport().mapTo(window, panel_view.mapFromScene(rect.bottomRight()))
    ys = sorted((top_left.y(), bottom_right.y()))
    return slice(ys[0] + 2, ys[1] - 2), slice(top_left.x() + 2, bottom_right.x() - 2)


@pytest.fixture
def small_window(qtbot, make_window):
    window = make_window(SIZE)
    s = compute(qtbot, window, cudnn_model(n_in=3, units=8, seed=5), features(60, 3, seed=2),
                backend="numpy:naive")
    s.set_units([3])
    s.set_timestep(20)
    return window


def test_heatmaps_are_drawn_and_not_blank(small_window):
    pixels = grab(small_window)
    panels = [(small_window.gates, hm) for hm in small_window.gates.heatmaps.values()] + \
        [(small_window.states, hm) for hm in small_window.states.heatmaps.values()] + \
        [(small_window.features, small_window.features.heatmap)]
    for panel, heatmap in panels:
        rows, cols = image_region(small_window, panel.view, heatmap)
        region = pixels[rows, cols].reshape(-1, 3)
        assert region.shape[0] > 500, heatmap.plot.titleLabel.text
        colours = np.unique(region, axis=0)
        assert len(colours) > 20 and region.std() > 15, heatmap.plot.titleLabel.text


def test_the_cursor_is_drawn_at_its_step_in_every_view(small_window):
    pixels = grab(small_window)
    w = small_window
    checks = [(w.gates.view, hm.plot.getViewBox(), 3.5) for hm in w.gates.heatmaps.values()]
    checks += [(w.states.view, hm.plot.getViewBox(), 3.5) for hm in w.states.heatmaps.values()]
    checks += [(w.features.view, w.features.heatmap.plot.getViewBox(), 1.0)]
    for view, vb, y in checks:
        x_pix, y_pix = window_point(w, view, vb, 20, y)
        assert near_color(pixels, x_pix, y_pix, CURSOR_RGB), (x_pix, y_pix)
        x_other, _ = window_point(w, view, vb, 40, y)  # no cursor where it is not
        assert not near_color(pixels, x_other, y_pix, CURSOR_RGB)
    vb = w.divergence.plot.getViewBox()
    y_mid = float(np.mean(vb.viewRange()[1]))
    x_pix, y_pix = window_point(w, w.divergence.view, vb, 20, y_mid)
    assert near_color(pixels, x_pix, y_pix, CURSOR_RGB)


def test_small_model_window_matches_reference(small_window):
    assert_matches_reference(small_window.grab().toImage(), "main_window_small_model")


def test_forum_case_marker_and_cursor_after_n(qtbot, make_window):
    window = make_window(SIZE)
    s = compute(qtbot, window, forum_model(), features(40, 1, seed=4), backend="numpy:naive")
    window.activateWindow()
    qtbot.keyClick(window, QtCore.Qt.Key_N)
    s.set_source("diff")
    pixels = grab(window)
    assert s.timestep == 1
    x, y = window.divergence.marker_position()
    x_pix, y_pix = window_point(window, window.divergence.view, window.divergence.plot.getViewBox(),
                                x, y)
    assert near_color(pixels, x_pix, y_pix, MARKER_RGB, reach=1)
    # the cursor runs through the marker's step in the gates view too
    vb = window.gates.heatmaps["i"].plot.getViewBox()
    cx, cy = window_point(window, window.gates.view, vb, 1, 0.5)
    assert near_color(pixels, cx, cy, CURSOR_RGB)
    # step 0 is exact (|A-B| = 0 is the darkest colour), later steps are not
    h_map = window.states.heatmaps["h"]
    rows, _ = image_region(window, window.states.view, h_map)

    def column(t):
        x_pix = window_point(window, window.states.view, h_map.plot.getViewBox(), t, 0)[0]
        return pixels[rows, x_pix].max(axis=1)  # (rows,) brightest channel

    # most of the column (not the tick marks or the dashed unit line): the darkest colour
    assert np.median(column(0)) < 40
    assert np.median(column(20)) > 60
    assert_matches_reference(window.grab().toImage(), "forum_case_after_n")


def test_agreeing_paths_window_matches_reference(qtbot, make_window):
    window = make_window((1200, 800))
    s = compute(qtbot, window, cudnn_model(n_in=3, units=8, layers=2, seed=6),
                features(50, 3, seed=3), backend="numpy64")
    assert s.report.kind == "agree"
    s.set_timestep(30)
    s.set_source("b")
    process()
    assert_matches_reference(window.grab().toImage(), "agree_float64_two_layers")


def test_the_comparison_catches_a_blank_or_shifted_plot_but_not_rendering_noise(monkeypatch,
                                                                               tmp_path):
    """The tolerance is loose for anti-aliasing and hinting, tight for a lost or moved plot."""
    import imagecompare
    from imagecompare import REFERENCES, from_array
    from PyQt5 import QtGui

    monkeypatch.delenv(imagecompare.UPDATE_ENV, raising=False)
    monkeypatch.setattr(imagecompare, "FAILURES", tmp_path)
    reference = to_array(QtGui.QImage(str(REFERENCES / "main_window_small_model.png")))
    rng = np.random.default_rng(0)
    noisy = np.clip(reference.astype(int) + rng.integers(-20, 21, reference.shape), 0, 255)
    assert assert_matches_reference(from_array(noisy), "main_window_small_model") == 0.0
    text_moved = reference.copy()  # a line of text re-hinted: a few hundred pixels
    text_moved[100:112, 400:440] = text_moved[100:112, 401:441]
    assert assert_matches_reference(from_array(text_moved), "main_window_small_model") < 0.001

    blank = reference.copy()  # the gates view lost its images
    blank[240:590, 50:800] = 0
    shifted = np.roll(reference, 6, axis=1)  # everything 6 px to the right
    for broken in (blank, shifted):
        with pytest.raises(AssertionError, match="differ from the reference"):
            assert_matches_reference(from_array(broken), "main_window_small_model")
    assert (tmp_path / "main_window_small_model.png").exists()  # side by side for a person
