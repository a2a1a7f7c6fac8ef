"""A GRU model in the window: the gate panels, the states panel, the step table and the
divergence plot follow the selected layer's cell kind (r, z, n, Rh, h; no cell state)."""
import numpy as np
import pytest

from guitools import compute

from lstm_inspector import load_model
from lstm_inspector.core.trace import GATES, GRU_GATES, GRU_QUANTITIES

import model_files as mf


@pytest.fixture(scope="module")
def gru_then_lstm(tmp_path_factory):
    """A real tf-keras file: CuDNNGRU(4) -> LSTM(4) -> Dense(2)."""
    written = mf.write_gru_model(tmp_path_factory.mktemp("gru-gui"), input_size=3, units=4,
                                 cudnn=True)
    return load_model(written.path)


def test_panels_follow_the_cell_kind_of_the_selected_layer(qtbot, window, gru_then_lstm):
    x = np.random.default_rng(3).standard_normal((25, 3)).astype(np.float32)
    s = compute(qtbot, window, gru_then_lstm, x, backend="numpy:rzn-order")
    lt_a = s.trace_a.layer(0)
    assert lt_a.cell == "gru"
    assert list(window.gates.heatmaps) == list(GRU_GATES)
    for q in GRU_GATES:
        assert np.array_equal(window.gates.image(q), lt_a.gate(q))
    assert "reset gate r" in window.gates.heatmaps["r"].plot.titleLabel.text
    assert "Rh" in window.gates.heatmaps["Rh"].plot.titleLabel.text
    assert list(window.states.heatmaps) == ["n", "h"]
    assert np.array_equal(window.states.image("n"), lt_a.quantity("n"))
    assert "GRU" in window.docks["states"].windowTitle()
    table = window.step_table.model
    assert [q for q, part in table.columns[1::3]] == list(GRU_QUANTITIES)
    curves = window.divergence.curves
    points = {q: curve.getData()[0] for q, curve in curves.items()}
    assert len(points["r"]) == s.steps and (points["c"] is None or len(points["c"]) == 0)
    # the rzn-order reading swaps r and z: the window shows it diverging
    s.set_source("diff")
    assert window.gates.image("z").max() > 1e-3

    s.set_layer(1, "forward")          # the LSTM above it: the LSTM's panels again
    assert list(window.gates.heatmaps) == list(GATES)
    assert np.array_equal(window.gates.image("f"), s.report.error(1, "forward", "f"))
    assert list(window.states.heatmaps) == ["c", "h"]
    assert "Cell state c" in window.docks["states"].windowTitle()
    assert [q for q, part in table.columns[1::3]][:4] == list(GATES)
