"""``lstm-inspector MODEL FEATURES --onnx FILE --chunk N``: the window runs an ONNX file written by
``lstm-inspector export`` as path B, then the streaming check in chunks of N frames (a real
window, offscreen, through the real CLI in a child process)."""
import numpy as np
import pytest

from guitools import printed, run_cli_window
from test_cli import run_cli

pytest.importorskip("onnxruntime")


def run_child(*args):
    """The real CLI's window, until the streaming check's dialog shows (or an error)."""
    return run_cli_window(
        args, done='getattr(window, "streaming_dialog", None) is not None or window.state.last_error',
        report='[("b", s.trace_b.label if s.trace_b is not None else None), '
               '("agree", s.report.agree if s.report is not None else None), '
               '("stream", (d := getattr(window, "streaming_dialog", None)) and d.report.label), '
               '("stream_agree", d and d.report.agree), '
               '("error", s.last_error)]')


def test_onnx_file_and_chunk_from_the_command_line(tmp_path):
    import model_files

    model = model_files.write_cudnn_model(tmp_path, input_size=3, units=4, stacked=2, seed=3).path
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((40, 3), np.float32))
    code, out, err = run_cli("export", model, "--to", "onnx", tmp_path / "m.onnx")
    assert code == 0, out + err
    proc = run_child(model, tmp_path / "x.npy", "--onnx", tmp_path / "m.onnx", "--chunk", "8")
    assert proc.returncode == 0, proc.stderr
    lines = printed(proc)
    assert lines["b"] == "ONNX Runtime (m.onnx)" and lines["agree"] == "True", proc.stdout
    assert "m.onnx" in lines["stream"] and lines["stream_agree"] == "True", proc.stdout
    assert lines["error"] in ("None", "")


def test_bad_chunk_is_one_line_exit_2(tmp_path):
    proc = run_child("gui", "--chunk", "0")
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout + proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "--chunk must be at least 1" in proc.stderr
