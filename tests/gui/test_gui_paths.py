"""Paths are a list: any two of them are A and B, chosen in the window; views follow."""
import numpy as np
import pytest

from guitools import compute, cudnn_model, features, wait_idle

from lstm_inspector.core.reference import run_reference
from lstm_inspector.errors import InspectorError
from lstm_inspector.paths.registry import builtin_paths, choice_for


def test_the_list_holds_reference_backends_oracle_and_readings():
    keys = [c.key for c in builtin_paths()]
    assert keys[0] == "reference"
    for key in ("auto", "tf-cpu", "torch-cpu", "tf-gpu", "torch-cuda", "numpy64", "numpy:naive"):
        assert key in keys
    assert not any(c.executes_code for c in builtin_paths())
    assert choice_for("impl:/x/forum.py:NewLSTM").executes_code
    assert choice_for("impl:/x/forum.py:NewLSTM").label.endswith("forum.py:NewLSTM")
    with pytest.raises(InspectorError, match="unknown path 'sideways'"):
        choice_for("sideways")


def test_any_two_paths_as_a_and_b_and_the_views_follow(qtbot, window):
    model, x = cudnn_model(n_in=3, units=6, seed=3), features(40, 3, seed=1)
    s = compute(qtbot, window, model, x, backend="numpy:naive")
    chooser = window.path_chooser
    assert chooser.combo_a.currentData() == "reference"
    assert chooser.combo_b.currentData() == "numpy:naive"

    # A becomes the float64 oracle, picked in the chooser as a user would
    chooser.combo_a.activated.emit(chooser.combo_a.findData("numpy64"))
    wait_idle(qtbot, window)
    assert s.path_a == "numpy64" and s.trace_a.meta["dtype"] == "float64"
    naive = run_reference(model.with_reading("naive"), x)
    assert np.array_equal(s.trace_b.layer(0).h, naive.layer(0).h)  # B kept, not rerun
    assert np.array_equal(window.gates.image("i"), s.trace_a.layer(0).gate("i"))
    assert s.report.a is s.trace_a and s.report.b is s.trace_b
    assert window.path_actions["a"]["numpy64"].isChecked()
    assert "float64" in window.run_label.text().split("|")[0]

    # B from the Run menu: the reference; the chooser follows
    window.path_actions["b"]["reference"].trigger()
    wait_idle(qtbot, window)
    assert chooser.combo_b.currentData() == "reference"
    assert s.report.kind in ("agree", "precision")
    s.set_source("b")
    assert np.array_equal(window.gates.image("f"), s.trace_b.layer(0).gate("f"))
    assert np.array_equal(window.states.curves("h")[1].yData, s.trace_b.layer(0).h[:, 0])


def test_swapping_and_switching_back_reuse_the_traces(qtbot, window):
    s = compute(qtbot, window, cudnn_model(n_in=3, units=4, seed=2), features(30, 3),
                backend="numpy:hard_sigmoid")
    a, b = s.trace_a, s.trace_b
    window.controller.swap_paths()
    wait_idle(qtbot, window)
    assert (s.path_a, s.path_b) == ("numpy:hard_sigmoid", "reference")
    assert s.trace_a is b and s.trace_b is a  # only recompared
    window.controller.set_paths(a="reference", b="numpy:naive")
    wait_idle(qtbot, window)
    naive = s.trace_b
    window.controller.set_paths(b="numpy:hard_sigmoid")
    wait_idle(qtbot, window)
    assert s.trace_b is b and s.trace_a is a  # both still cached
    window.controller.set_paths(b="numpy:naive")
    wait_idle(qtbot, window)
    assert s.trace_b is naive
    # a new input drops every cached trace
    window.controller.set_inputs(features=features(30, 3, seed=9))
    wait_idle(qtbot, window)
    assert s.trace_b is not naive and s.trace_a is not a


def test_the_same_path_as_a_and_b_agrees_exactly(qtbot, window):
    s = compute(qtbot, window, cudnn_model(n_in=3, units=4, seed=2), features(20, 3),
                backend="reference")
    assert s.trace_a is s.trace_b
    assert s.report.kind == "agree" and s.report.max_error() == 0


def test_the_demo_window_shows_the_models_answer_for_both_paths(qtbot, window):
    """The bundled digit model on its "seven": the answer of A and of B, where the user looks."""
    from pathlib import Path

    resources = Path(__file__).resolve().parents[2] / "resources"
    s = window.state
    s.set_run_settings(backend="numpy64")
    window.controller.open_model(resources / "demo_digits_cudnnlstm.h5")
    window.controller.open_features(resources / "demo_seven.npy", replace=False)
    wait_idle(qtbot, window, timeout=60000)
    assert s.answer is not None and s.answer.same_answer
    header = window.divergence.verdict.text()
    assert "A &#x27;seven&#x27;" in header or "A 'seven'" in header
    assert "B &#x27;seven&#x27;" in header or "B 'seven'" in header
    assert "same answer" in header
    assert "answer: A 'seven'" in window.verdict_label.text()


def test_the_loaders_notes_show_above_the_plot(qtbot, window):
    from dataclasses import replace

    model = cudnn_model(n_in=3, units=4, seed=2)
    noted = replace(model, notes=("the input of layer 0 comes from a Lambda layer this tool "
                                  "does not run",))
    s = compute(qtbot, window, noted, features(20, 3), backend="numpy:naive")
    assert s.model.run_notes()
    assert "note: the input of layer 0 comes from a Lambda" in window.divergence.verdict.text()
