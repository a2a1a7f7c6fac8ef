"""The views read well at 1400x900 and at 1024x700 (issue 10, "Views"): axes fitted to the data
and lined up, tick labels apart, nothing clipped, no label on a curve."""
import numpy as np
import pytest

from guitools import compute, cudnn_model, features, process

SIZES = [(1400, 900), (1024, 700)]


@pytest.fixture(params=SIZES, ids=["1400x900", "1024x700"])
def shown(request, qtbot, make_window):
    window = make_window(request.param)
    s = compute(qtbot, window, cudnn_model(n_in=3, units=48, seed=5), features(118, 3, seed=2),
                backend="numpy:naive")
    s.flush()
    process()
    return window, request.param


def view_width(plot):
    return plot.getViewBox().sceneBoundingRect().width()


def test_the_window_keeps_its_size(shown):
    window, size = shown
    assert (window.width(), window.height()) == size  # minimum sizes fit together


def test_curve_plots_share_the_heatmaps_time_axis_and_fit_the_data(shown):
    window, _ = shown
    states = window.states
    heatmap = states.heatmaps["c"].plot
    steps = window.state.steps
    for plot in list(states.curve_plots.values()) + [states.diff_plot]:
        assert view_width(plot) == pytest.approx(view_width(heatmap), abs=1.0)
        lo, hi = plot.getViewBox().viewRange()[0]
        assert lo == pytest.approx(-0.5, abs=0.01) and hi == pytest.approx(steps - 0.5, abs=0.01)


def test_no_plot_is_wider_than_its_view(shown):
    window, _ = shown
    for panel in (window.features, window.gates, window.states, window.divergence):
        assert panel.view.ci.size().width() <= panel.view.viewport().width() + 1, type(panel).__name__


def test_tick_labels_of_heatmaps_and_curves_stay_apart(shown):
    window, _ = shown
    plots = [hm.plot for hm in window.gates.heatmaps.values()]
    plots += [hm.plot for hm in window.states.heatmaps.values()]
    plots += list(window.states.curve_plots.values())
    for plot in plots:
        axis = plot.getAxis("left")
        lo, hi = plot.getViewBox().viewRange()[1]
        size = axis.geometry().height()
        spacing = axis.tickSpacing(lo, hi, size)[0][0]
        assert spacing * size / (hi - lo) >= 12, plot.titleLabel.text


def test_status_bar_and_show_buttons_are_not_clipped(shown):
    window, size = shown
    label = window.verdict_label
    text = label.text() if size == (1400, 900) else label.text().split(";")[0]  # kind and step
    assert label.fontMetrics().horizontalAdvance(text) <= label.width(), text
    for button in window.source_buttons.buttons.values():
        assert button.width() >= button.sizeHint().width()
    for combo in (window.path_chooser.combo_a, window.path_chooser.combo_b):
        text = combo.currentText()
        assert combo.fontMetrics().horizontalAdvance(text) < combo.width() - 20, text


def test_the_tolerance_is_named_in_the_title_not_on_its_line(shown):
    window, _ = shown
    panel = window.divergence
    assert getattr(panel.tolerance_line, "label", None) is None
    assert "atol 1e-05" in panel.plot.titleLabel.text
    assert np.isfinite(panel.tolerance_line.value())
