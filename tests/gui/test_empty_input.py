"""A feature file with no frames (issue 20): one sentence and exit 2 everywhere, never an internal
error. The window's feature heatmap divided by its 0 columns (pyqtgraph's ``setRect``) before the
engine could refuse the input; now loading refuses it and an empty heatmap draws nothing."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
DEMO = RESOURCES / "demo_digits_cudnnlstm.h5"


@pytest.fixture
def empty_npy(tmp_path):
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros((0, 13), np.float32))
    return path


def _inspector(*args, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "LSTM_INSPECTOR_DEBUG")}
    env["XDG_CONFIG_HOME"] = str(Path(cwd) / "config")
    return subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)], env=env,
                          cwd=str(cwd), capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("command", [[], ["compare"], ["sweep", "--backend", "numpy:naive"]])
def test_a_zero_frame_file_is_one_sentence_and_exit_2(tmp_path, empty_npy, command):
    sub, options = command[:1], command[1:]
    shot = ["--screenshot", tmp_path / "x.png"] if not command else []
    out = _inspector(*sub, DEMO, empty_npy, *options, *shot, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert "empty.npy has no frames (0 time steps)" in text, text
    assert "Traceback" not in text and "nternal error" not in text
    if not command:
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("lstm-inspector: "), out.stderr
        assert not (tmp_path / "x.png").exists()


def test_loading_a_zero_frame_file_refuses_it_before_the_window_shows_it(empty_npy):
    from lstm_inspector.errors import InspectorError
    from lstm_inspector.gui.pipeline import load_feature_file

    with pytest.raises(InspectorError, match="empty.npy has no frames"):
        load_feature_file(empty_npy)


def test_an_empty_heatmap_draws_nothing(make_window):
    """0 frames (or 0 values) clear the image like no data at all, whoever passes them."""
    window = make_window()
    heatmap = window.features.heatmap
    for data in (np.zeros((0, 13), np.float32), np.zeros((5, 0), np.float32)):
        heatmap.set_data(data)
        assert heatmap.image.image is None
