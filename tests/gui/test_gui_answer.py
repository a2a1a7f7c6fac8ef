"""The window's model answer above the divergence plot: a float32 / float64 difference within
the comparison's tolerance is "the same output", not red; beyond tolerance it is red."""
import html

from lstm_inspector import resources_path
from lstm_inspector.gui.panels.divergence import DivergencePanel

from guitools import open_files_window


def _answer_label(window):
    (panel,) = window.findChildren(DivergencePanel)
    text = html.unescape(panel.verdict.text())
    return next(part for part in text.split("<br>") if "Model's answer" in part)


def _open(qtbot, **options):
    root = resources_path()
    return open_files_window(qtbot, root / "forum_cudnnlstm_in1_h2.h5", root / "forum_input.npy",
                             **options)


def test_answer_within_tolerance_is_the_same_output_and_not_red(qtbot):
    line = _answer_label(_open(qtbot))
    assert "same output within tolerance (largest difference" in line, line
    assert "#c62828" not in line and "values differ" not in line


def test_answer_beyond_tolerance_is_different_and_red(qtbot):
    line = _answer_label(_open(qtbot, atol=1e-12, rtol=0.0))
    assert "DIFFERENT output beyond tolerance" in line and "#c62828" in line, line
