"""The window on an ``nn.LSTM(proj_size=P)`` checkpoint: c and the gates H wide, h P wide."""
import numpy as np
import pytest

from guitools import compute

pytestmark = pytest.mark.torch


def test_window_shows_a_projected_lstm_against_torch(qtbot, window, tmp_path):
    import torch

    from lstm_inspector import load_model

    torch.manual_seed(3)
    module = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3)
    torch.save(module.state_dict(), tmp_path / "proj.pt")
    model = load_model(tmp_path / "proj.pt")
    x = np.random.default_rng(2).standard_normal((30, 4)).astype(np.float32)
    s = compute(qtbot, window, model, x, backend="torch-cpu")
    assert s.report.agree, s.report.verdict
    assert "P=3" in window.layer_combo.itemText(0) and "H=6" in window.layer_combo.itemText(0)
    s.set_units([1, 4])        # unit 4 has a c but no h (h is 3 wide)
    s.set_timestep(7)
    s.flush()
    a = s.trace_a.layer(0)
    assert [len(c.yData) for c in window.states.curves("c")] == [30] * 4
    h_curves = window.states.curves("h")
    assert len(h_curves) == 2 and np.array_equal(h_curves[0].yData, a.h[:, 1])
    table = window.step_table.model
    h_col, c_col = table.columns.index(("h", "A")), table.columns.index(("c", "A"))
    assert table.rowCount() == 6
    assert table.cell_text(2, h_col) == f"{a.h[7, 2]:.6f}"
    assert table.cell_text(4, h_col) == "" and table.cell_text(4, c_col) == f"{a.c[7, 4]:.6f}"
