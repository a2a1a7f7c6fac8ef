"""The views show the engine's data, and the one cursor moves every view."""
import numpy as np
import pytest
from PyQt5 import QtCore

from guitools import compute, cudnn_model, features, forum_model, process, wait_idle

from lstm_inspector.core.derived_gates import derive_gates
from lstm_inspector.core.trace import GATES, QUANTITIES
from lstm_inspector.gui.panels.step_table import BAD_CELL


def all_cursor_values(window):
    panels = (window.features, window.gates, window.states, window.divergence)
    return [line.value() for panel in panels for line in panel.cursors.lines]


def test_gate_heatmaps_hold_the_trace_arrays_of_each_source(qtbot, window, small_model,
                                                            small_features):
    s = compute(qtbot, window, small_model, small_features)
    lt_a, lt_b = s.trace_a.layer(0), s.trace_b.layer(0)
    for q in GATES:
        assert np.array_equal(window.gates.image(q), lt_a.gate(q))
    for q in ("c", "h"):
        assert np.array_equal(window.states.image(q), lt_a.quantity(q))
    assert np.array_equal(window.features.heatmap.image.image, small_features)

    window.source_buttons.buttons["b"].click()
    assert s.source == "b"
    for q in GATES:
        assert np.array_equal(window.gates.image(q), lt_b.gate(q))
    assert np.array_equal(window.states.image("h"), lt_b.h)
    assert "naive" in window.gates.heatmaps["i"].plot.titleLabel.text

    s.set_source("diff")
    for q in GATES:
        assert np.array_equal(window.gates.image(q), s.report.error(0, "forward", q))
    assert np.array_equal(window.states.image("c"), s.report.error(0, "forward", "c"))
    # not blank: the naive reading differs from the true one
    assert window.gates.image("i").max() > 1e-3


def test_derived_quantities_are_labelled_derived(qtbot, window, small_model, small_features):
    s = compute(qtbot, window, small_model, small_features)
    # a backend trace whose gates were derived from its own states (what cuDNN backends return)
    derive_gates(small_model.with_reading("naive"), s.trace_b)
    s.set_results(s.trace_a, s.trace_b, s.report)
    s.set_source("b")
    assert "derived" in window.gates.heatmaps["f"].plot.titleLabel.text
    assert "derived" not in window.states.heatmaps["h"].plot.titleLabel.text
    s.set_source("a")
    assert "derived" not in window.gates.heatmaps["f"].plot.titleLabel.text


def test_cursor_moves_every_view_slider_and_table(qtbot, window, small_model, small_features):
    s = compute(qtbot, window, small_model, small_features)
    with qtbot.waitSignal(s.timestepChanged, timeout=2000) as signal:
        s.set_timestep(17)
    assert signal.args == [17]
    values = all_cursor_values(window)
    assert len(values) >= 4 + 5 + 1 + 1  # gates, states, divergence, features
    assert values == [17] * len(values)
    assert window.slider.value() == 17
    assert window.step_table.model.step == 17
    assert "step 17 /" in window.step_label.text()

    s.set_timestep(10_000)  # clamped to the last step
    s.flush()
    assert s.timestep == small_features.shape[0] - 1
    assert set(all_cursor_values(window)) == {s.timestep}

    window.slider.setValue(5)  # the slider drives the state too
    s.flush()
    assert all_cursor_values(window) == [5] * len(values)


def test_a_burst_of_steps_is_drawn_once(qtbot, window, small_model, small_features):
    s = compute(qtbot, window, small_model, small_features)
    seen = []
    s.timestepChanged.connect(seen.append)
    for t in range(1, 30):
        s.set_timestep(t)
    assert seen == []  # coalesced: nothing drawn until the event loop runs
    process()
    assert seen == [29]


def test_dragging_a_cursor_moves_the_state(qtbot, window, small_model, small_features):
    s = compute(qtbot, window, small_model, small_features)
    line = window.states.cursors.lines[2]
    line.setValue(22.4)
    line.sigDragged.emit(line)  # what pyqtgraph emits while the user drags
    line.sigPositionChangeFinished.emit(line)
    process()
    assert s.timestep == 22
    assert set(all_cursor_values(window)) == {22}


def test_forum_case_n_jumps_to_step_1(qtbot, window):
    """in = 1, H = 2, the naive port: equal at step 0, parted from step 1; one key press away."""
    s = compute(qtbot, window, forum_model(), features(40, 1, seed=4), backend="numpy:naive")
    assert s.report.first.step == 1
    assert s.timestep == 0
    window.activateWindow()
    qtbot.keyClick(window, QtCore.Qt.Key_N)
    s.flush()
    assert s.timestep == 1
    assert set(all_cursor_values(window)) == {1}
    assert window.divergence.first[0] == 1


def test_keys_step_and_jump(qtbot, window, small_model, small_features):
    s = compute(qtbot, window, small_model, small_features)
    window.activateWindow()
    last = small_features.shape[0] - 1
    for key, modifier, expected in [(QtCore.Qt.Key_Right, QtCore.Qt.NoModifier, 1),
                                    (QtCore.Qt.Key_Right, QtCore.Qt.ShiftModifier, 11),
                                    (QtCore.Qt.Key_Left, QtCore.Qt.NoModifier, 10),
                                    (QtCore.Qt.Key_End, QtCore.Qt.NoModifier, last),
                                    (QtCore.Qt.Key_Left, QtCore.Qt.ShiftModifier, last - 10),
                                    (QtCore.Qt.Key_Home, QtCore.Qt.NoModifier, 0)]:
        qtbot.keyClick(window, key, modifier)
        s.flush()
        assert s.timestep == expected, QtCore.Qt.Key(key)


def test_n_and_p_follow_the_reports_divergent_steps(qtbot, window):
    # a planted bug: B reads only the input half of the bias -> parts at step 0 everywhere
    model = cudnn_model(n_in=3, units=4, seed=8)
    s = compute(qtbot, window, model, features(30, 3), backend="numpy:input-bias-only",
                atol=1e-5, rtol=1e-4)
    steps = s.divergent_steps()
    assert np.array_equal(steps, s.report.divergent_steps(0, "forward"))
    assert steps.size >= 3
    start = int(steps[1])
    s.set_timestep(start)
    s.flush()
    window.activateWindow()
    qtbot.keyClick(window, QtCore.Qt.Key_N)  # the keys themselves, so an unbound key fails
    s.flush()
    assert s.timestep == steps[steps > start][0]
    qtbot.keyClick(window, QtCore.Qt.Key_P)
    qtbot.keyClick(window, QtCore.Qt.Key_P)
    s.flush()
    assert s.timestep == steps[0]
    qtbot.keyClick(window, QtCore.Qt.Key_P)  # none before the first: stays, says so
    s.flush()
    assert s.timestep == steps[0]
    assert "no earlier step" in window.statusBar().currentMessage()


def test_play_and_pause_with_space(qtbot, window, small_model, small_features):
    s = compute(qtbot, window, small_model, small_features)
    window.activateWindow()
    qtbot.keyClick(window, QtCore.Qt.Key_Space)
    assert window.play_timer.isActive()
    qtbot.waitUntil(lambda: s.timestep >= 3, timeout=3000)
    qtbot.keyClick(window, QtCore.Qt.Key_Space)
    assert not window.play_timer.isActive()
    stopped = s.timestep
    qtbot.wait(150)
    assert s.timestep == stopped


def test_clicking_the_divergence_marker_moves_the_cursor(qtbot, window):
    s = compute(qtbot, window, forum_model(), features(40, 1, seed=4), backend="numpy:naive")
    panel = window.divergence
    x, y = panel.marker_position()
    assert x == 1 == s.report.first.step
    assert y == pytest.approx(np.log10(s.report.step_error(0, "forward", s.report.first.quantity)[1]))
    scene_pos = panel.marker.mapToScene(QtCore.QPointF(x, y))
    view_pos = panel.view.mapFromScene(scene_pos)
    assert s.timestep == 0
    qtbot.mouseClick(panel.view.viewport(), QtCore.Qt.LeftButton, pos=view_pos)
    s.flush()
    assert s.timestep == 1
    assert set(all_cursor_values(window)) == {1}


def test_clicking_a_heatmap_row_selects_that_unit(qtbot, window, small_model, small_features):
    s = compute(qtbot, window, small_model, small_features)
    heatmap = window.gates.heatmaps["o"]
    scene_pos = heatmap.image.mapToScene(QtCore.QPointF(30.5, 6.5))  # pixel (t=30, unit=6)
    view_pos = window.gates.view.mapFromScene(scene_pos)
    with qtbot.waitSignal(s.selectionChanged, timeout=2000):
        qtbot.mouseClick(window.gates.view.viewport(), QtCore.Qt.LeftButton, pos=view_pos)
    assert s.units == [6]
    assert heatmap.unit_lines[0].value() == 6
    curve = window.states.curves("c")[0]
    assert np.array_equal(curve.yData, s.trace_a.layer(0).c[:, 6])
    # Ctrl+click adds a unit
    scene_pos = heatmap.image.mapToScene(QtCore.QPointF(30.5, 2.5))
    qtbot.mouseClick(window.gates.view.viewport(), QtCore.Qt.LeftButton,
                     QtCore.Qt.ControlModifier, window.gates.view.mapFromScene(scene_pos))
    assert s.units == [6, 2]


def test_states_curves_overlay_both_paths_and_their_difference(qtbot, window, small_model,
                                                              small_features):
    s = compute(qtbot, window, small_model, small_features)
    s.set_units([3])
    a, b = s.trace_a.layer(0), s.trace_b.layer(0)
    c_curves = window.states.curves("c")
    assert np.array_equal(c_curves[0].yData, a.c[:, 3])
    assert np.array_equal(c_curves[1].yData, b.c[:, 3])
    diff = window.states.curves("diff")
    err = s.report.error(0, "forward", "c")[:, 3]
    assert np.allclose(diff[0].yData, np.maximum(err, 1e-12))


def test_divergence_plot_shows_step_error_and_tolerance(qtbot, window, small_model,
                                                       small_features):
    s = compute(qtbot, window, small_model, small_features, atol=1e-4, rtol=0.0)
    panel = window.divergence
    for q in QUANTITIES:
        y = panel.curves[q].yData  # the data given (getData() is log10 of it on a log axis)
        assert np.allclose(y, np.maximum(s.report.step_error(0, "forward", q), 1e-12))
    assert panel.tolerance_line.value() == pytest.approx(-4.0)  # log10(atol)
    assert s.report.verdict in panel.verdict.text().replace("&#x27;", "'")
    assert window.verdict_label.toolTip() == s.report.verdict
    first = s.report.first
    assert f"from step {first.step} in {first.quantity}" in window.verdict_label.text()


def test_step_table_shows_the_values_at_the_cursor(qtbot, window, small_model, small_features):
    s = compute(qtbot, window, small_model, small_features)
    s.set_timestep(9)
    s.flush()
    model, proxy = window.step_table.model, window.step_table.proxy
    a, b = s.trace_a.layer(0), s.trace_b.layer(0)
    for unit in (0, 5, 7):
        for col, (q, part) in enumerate(model.columns):
            if not part:
                continue
            expected = {"A": a.quantity(q), "B": b.quantity(q),
                        "|A-B|": s.report.error(0, "forward", q)}[part][9, unit]
            assert model.value(unit, col) == pytest.approx(float(expected), abs=0, rel=0)
            shown = float(proxy.data(proxy.index(unit, col)))
            if part == "|A-B|":  # three significant digits
                assert shown == pytest.approx(float(expected), rel=5e-3, abs=1e-30)
            else:  # six decimals
                assert shown == pytest.approx(float(expected), abs=5.1e-7)
            bad = bool(s.report.out_of_tolerance(0, "forward", q)[9, unit])
            assert (model.cell_background(unit, col) == BAD_CELL) == bad
    assert "step 9" in window.step_table.caption.text()


def test_step_table_sorts_on_numbers_and_filters(qtbot, window):
    model_ = cudnn_model(n_in=3, units=16, seed=1)
    s = compute(qtbot, window, model_, features(20, 3), backend="numpy:hard_sigmoid")
    s.set_timestep(7)
    s.flush()
    table = window.step_table
    col = table.model.columns.index(("h", "|A-B|"))
    table.table.sortByColumn(col, QtCore.Qt.DescendingOrder)
    err = s.report.error(0, "forward", "h")[7]
    order = [table.proxy.unit_at(r) for r in range(table.proxy.rowCount())]
    assert np.all(np.diff(err[order]) <= 0)
    s.set_timestep(12)  # re-sorted at the new step
    s.flush()
    err = s.report.error(0, "forward", "h")[12]
    order = [table.proxy.unit_at(r) for r in range(table.proxy.rowCount())]
    assert np.all(np.diff(err[order]) <= 0)
    # clicking the top row selects the worst unit
    table._row_clicked(table.proxy.index(0, 0))
    assert s.units == [int(np.argmax(err))]

    table.only_bad.setChecked(True)
    bad = np.logical_or.reduce([s.report.out_of_tolerance(0, "forward", q)[12] for q in QUANTITIES])
    assert table.proxy.rowCount() == int(bad.sum())


def test_layer_and_direction_chooser_follows_the_models_chain(qtbot, window):
    model = cudnn_model(n_in=3, units=4, layers=2, bidirectional=True, seed=2)
    s = compute(qtbot, window, model, features(25, 3), backend="numpy:naive")
    items = [window.layer_combo.itemData(k) for k in range(window.layer_combo.count())]
    assert items == [(0, "forward"), (0, "backward"), (1, "forward"), (1, "backward")]
    window.layer_combo.setCurrentIndex(3)
    assert (s.layer, s.direction) == (1, "backward")
    assert np.array_equal(window.gates.image("c~"), s.trace_a.layer(1, "backward").gate("c~"))
    assert np.array_equal(window.step_table.model._arrays[("h", "B")],
                          s.trace_b.layer(1, "backward").h)
    y = window.divergence.curves["h"].yData
    assert np.allclose(y, np.maximum(s.report.step_error(1, "backward", "h"), 1e-12))


def test_tolerance_change_recompares_without_rerunning(qtbot, window, small_model,
                                                       small_features):
    s = compute(qtbot, window, small_model, small_features)
    a, b = s.trace_a, s.trace_b
    window.controller.set_tolerance(10.0, 0.0)
    wait_idle(qtbot, window)
    assert s.trace_a is a and s.trace_b is b
    assert s.report.atol == 10.0 and s.report.kind == "agree"
    assert s.divergent_steps().size == 0
    assert window.divergence.first is None
    assert "atol 10" in window.tolerance_label.text()


def test_backend_menu_reruns_path_b_only(qtbot, window, small_model, small_features):
    s = compute(qtbot, window, small_model, small_features)
    a = s.trace_a
    window.path_actions["b"]["numpy64"].trigger()
    wait_idle(qtbot, window)
    assert s.backend == "numpy64" and s.trace_a is a
    assert s.trace_b.meta["dtype"] == "float64"
    assert window.path_actions["b"]["numpy64"].isChecked()
    assert window.run_label.text().endswith("float64")  # B: numpy CPU float64
    window.dtype_actions["float64"].trigger()
    wait_idle(qtbot, window)
    assert s.trace_a.meta["dtype"] == "float64" and s.trace_a is not a
    assert s.report.kind == "agree"


def test_zooming_one_view_zooms_every_time_axis(qtbot, window, small_model, small_features):
    compute(qtbot, window, small_model, small_features)
    window.gates.heatmaps["f"].plot.getViewBox().setXRange(10, 30, padding=0)
    process()
    for panel in (window.features, window.gates, window.divergence, window.states):
        lo, hi = panel.time_view_boxes()[0].viewRange()[0]
        assert (lo, hi) == pytest.approx((10, 30), abs=1e-6), type(panel).__name__
