"""``lstm-inspector MODEL FEATURES`` without --screenshot: the command opens the interactive
window on those files (a real window, offscreen; the event loop ends once both paths ran)."""
import numpy as np

from engine_models import features
from guitools import REPO, printed, run_cli_window


def run_child(*args):
    """The real CLI's window, until both paths ran and the worker is idle."""
    return run_cli_window(
        args, done="window.state.report is not None and not window.controller.worker.busy",
        report='[("visible", window.isVisible()), ("model", s.model_path), '
               '("b", s.trace_b.label if s.trace_b is not None else None), '
               '("error", s.last_error)]')


def test_model_features_opens_the_window_on_those_files(tmp_path):
    x = tmp_path / "forum_x.npy"
    np.save(x, features(12, 1, seed=3))
    model = REPO / "resources" / "forum_cudnnlstm_in1_h2.h5"
    proc = run_child(model, x, "--reading", "naive")
    assert proc.returncode == 0, proc.stderr
    lines = printed(proc)
    assert lines["visible"] == "True"
    assert lines["model"].endswith("forum_cudnnlstm_in1_h2.h5")
    assert "naive" in lines["b"] and lines["error"] in ("None", "")


def test_one_file_only_is_refused_in_one_line():
    model = REPO / "resources" / "forum_cudnnlstm_in1_h2.h5"
    proc = run_child(model)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "give both a model file and a feature file" in lines[0]
