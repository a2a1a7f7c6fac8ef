"""The analysis is a frozen value made in the worker: the GUI thread only reads it.

Spies wrap the engine's computing functions (the NumPy reference, teacher forcing, the
analysis passes) and record the thread that calls them; the real functions still run.
"""
import html
import json
import threading

import pytest

from guitools import compute, cudnn_model, features, forum_model, wait_idle

from lstm_inspector.core import analysis, reference

COMPUTING = [(reference, "run_reference"), (reference, "teacher_forced_layer"),
             (analysis, "measure"), (analysis, "threshold"), (analysis, "reading_worst"),
             (analysis, "local_errors")]


@pytest.fixture
def calls(monkeypatch):
    """``[(function name, thread name)]`` of every call to the engine's computing functions."""
    seen = []
    for module, name in COMPUTING:
        real = getattr(module, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            seen.append((_name, threading.current_thread().name))
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    return seen


def on_gui_thread(calls):
    main = threading.main_thread().name
    return [name for name, thread in calls if thread == main]


def test_compute_runs_every_analysis_in_the_worker(qtbot, window, calls):
    compute(qtbot, window, cudnn_model(3, 6, layers=2, bidirectional=True, seed=2),
            features(40, 3), backend="numpy:hard_sigmoid")
    assert {"run_reference", "teacher_forced_layer", "measure", "threshold"} <= {n for n, _ in calls}
    assert on_gui_thread(calls) == []


def test_exporting_json_and_html_computes_nothing(qtbot, window, tmp_path, calls):
    s = compute(qtbot, window, forum_model(), features(30, 1, seed=4))
    calls.clear()
    json_path = window.export("json", tmp_path / "report.json")
    html_path = window.export("html", tmp_path / "report.html")
    assert calls == []
    written = json.loads(json_path.read_text())
    assert written["verdict"] == s.report.verdict and written["closer_to_exact"] == s.report.closer_to_exact
    assert html.escape(s.report.verdict) in html_path.read_text()


def test_a_tolerance_change_rethresholds_without_rerunning_the_paths(qtbot, window, calls):
    s = compute(qtbot, window, cudnn_model(3, 6, seed=4), features(50, 3), backend="numpy:hard_sigmoid")
    first = s.report
    calls.clear()
    window.controller.set_tolerance(1e-2, 0.0)
    wait_idle(qtbot, window)
    assert s.report is not first and s.report.atol == 1e-2
    names = [n for n, _ in calls]
    assert "threshold" in names
    assert "run_reference" not in names and "measure" not in names
    assert "teacher_forced_layer" not in names or "reading_worst" in names  # readings only
    assert on_gui_thread(calls) == []
    # the analysis is shared, not recomputed: the same per-step arrays
    assert s.report.step_error(0, "forward", "h") is first.step_error(0, "forward", "h")
