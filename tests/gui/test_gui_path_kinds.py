"""A path kind registered at run time is in the window's A/B choosers and runs as path B."""
import numpy as np
import pytest

from guitools import compute, cudnn_model, features, wait_idle

from lstm_inspector.core.reference import run_reference
from lstm_inspector.paths import registry
from lstm_inspector.paths.registry import PathKind


def run_scaled(eps, model, x, settings):
    trace = run_reference(model, x, progress=settings.progress)
    for layer in trace.layers:
        for record in layer.values():
            record.h = record.h * (1 + float(eps))
    trace.label = f"toy x(1+{eps})"
    return trace


@pytest.fixture
def toy_kind():
    registry.register(PathKind(name="toy", prefixes=("toy:",), listed=("toy:1e-3",),
                               group="numpy", label=lambda key: f"toy {key}", run=run_scaled))
    yield
    registry.unregister("toy")


def test_a_registered_kind_is_offered_and_runs(qtbot, toy_kind, window):
    chooser = window.path_chooser
    assert chooser.combo_b.findData("toy:1e-3") >= 0 and chooser.combo_a.findData("toy:1e-3") >= 0
    model, x = cudnn_model(n_in=3, units=5, seed=4), features(25, 3, seed=2)
    s = compute(qtbot, window, model, x, backend="reference")
    chooser.combo_b.activated.emit(chooser.combo_b.findData("toy:1e-3"))
    wait_idle(qtbot, window)
    assert s.path_b == "toy:1e-3"
    np.testing.assert_allclose(s.trace_b.layer(0).h, s.trace_a.layer(0).h * 1.001, rtol=1e-6)
    assert not s.report.agree and "toy x(1+1e-3)" in s.report.b_label


def test_the_window_takes_path_a_your_port_against_a_path_b(qtbot):
    """``lstm-inspector MODEL FEATURES --a impl:port.py:NAME --b numpy64``: no reference."""
    from pathlib import Path

    from guitools import open_files_window
    from lstm_inspector import resources_path

    planted = Path(__file__).resolve().parents[1] / "impls" / "planted.py"
    spec = f"impl:{planted}:correct"
    window = open_files_window(qtbot, resources_path() / "demo_digits_cudnnlstm.h5",
                               resources_path() / "demo_seven.npy", backend="numpy64",
                               path_a=spec)
    s = window.state
    assert (s.path_a, s.path_b) == (spec, "numpy64")
    assert window.path_chooser.combo_a.currentData() == spec
    assert s.trace_a.meta["backend"] == "impl" and s.report.agree


def test_with_a_not_the_reference_the_verdict_names_the_side_that_is_wrong(qtbot, window):
    """A = NumPy under the onnx-order reading, B = the float64 oracle: B's own steps obey the
    model's equations, A's do not; the window must not call it precision drift."""
    model, x = cudnn_model(n_in=3, units=5, seed=4), features(25, 3, seed=2)
    s = compute(qtbot, window, model, x, backend="numpy64")
    window.controller.set_paths(a="numpy:onnx-order")
    wait_idle(qtbot, window)
    assert s.judged is not s.report and s.judged.kind == "structural"
    assert "onnx-order" in window.divergence.verdict.text()
    assert window.verdict_label.text().startswith("Structural")
    assert window.controller.diagnosed_path() == "a"
