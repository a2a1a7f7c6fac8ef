"""What a newcomer met on a fresh machine (issue 20, items 6 and 8): the version, the export
help, the grammar of a sentence about "your outputs", Qt's runtime-folder line, and a wav at
another sample rate than the model was trained on."""
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
RESOURCES = REPO / "resources"
FORUM = RESOURCES / "forum_cudnnlstm_in1_h2.h5"
FORUM_X = RESOURCES / "forum_input.npy"
DEMO = RESOURCES / "demo_digits_cudnnlstm.h5"


def run_cli(*args, env=None):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env)
    return proc.returncode, proc.stdout, proc.stderr


def test_version_is_the_package_and_setup_version():
    import lstm_inspector

    code, out, err = run_cli("--version")
    assert code == 0 and out.strip() == f"lstm-inspector {lstm_inspector.__version__}", out + err
    setup_py = (REPO / "setup.py").read_text()
    assert "version=VERSION" in setup_py and "__version__" in setup_py  # one version, read there


def test_export_help_lists_every_target():
    code, out, err = run_cli("--help")
    assert code == 0
    assert "export write a verified port (numpy, onnx, keras-lstm, tflite)" in " ".join(out.split())
    code, out, err = run_cli("export", "--help")
    assert "{numpy,onnx,keras-lstm,tflite}" in out


def test_sentences_about_your_outputs_take_the_plural(tmp_path):
    """"your outputs (port_h.npy) diverge", not "diverges"; a singular path keeps its verb."""
    import lstm_inspector as li
    from lstm_inspector.errors import verb

    model = li.load_model(FORUM)
    x = li.load_features(FORUM_X).data
    np.save(tmp_path / "wrong_h.npy", li.run_reference(model.with_reading("naive"), x).layer(0).h)
    np.save(tmp_path / "right_h.npy", li.run_reference(model, x).layer(0).h)
    wrong = li.diagnose(model, x, li.load_outputs(model, x, tmp_path / "wrong_h.npy"))
    assert wrong.text.startswith("your outputs (wrong_h.npy) diverge from the reference"), wrong.text
    right = li.diagnose(model, x, li.load_outputs(model, x, tmp_path / "right_h.npy"))
    assert right.text.startswith("your outputs (right_h.npy) agree with the reference"), right.text
    report = li.compare(li.run_reference(model, x), li.load_outputs(model, x, tmp_path / "right_h.npy"),
                        model=model)
    assert "your outputs (right_h.npy) agree with " in report.verdict
    assert verb("your NewLSTM (forum_newlstm.py)", "diverges") == "diverges"
    assert verb("NumPy reference (float32)", "agrees") == "agrees"


def test_qt_gets_a_private_runtime_folder_and_says_nothing(tmp_path):
    """Without XDG_RUNTIME_DIR (a root shell, ssh) Qt printed "QStandardPaths: XDG_RUNTIME_DIR
    not set" at every launch; the app gives it Qt's own default folder, private."""
    from lstm_inspector.gui.display import runtime_dir

    environ = {}
    folder = runtime_dir(environ)
    assert folder and environ["XDG_RUNTIME_DIR"] == folder
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert runtime_dir({"XDG_RUNTIME_DIR": "/mine"}) is None     # the user's own stays
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    code = ("from lstm_inspector.gui.app import ensure_app; "
            "from lstm_inspector.gui.main_window import MainWindow; "
            "app = ensure_app(); w = MainWindow(); w.show(); app.processEvents(); print('shown')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env, cwd=str(tmp_path))
    assert proc.returncode == 0 and "shown" in proc.stdout, proc.stderr
    assert "XDG_RUNTIME_DIR" not in proc.stderr, proc.stderr


def _resampled_wav(path: Path, rate: int) -> Path:
    """The demo's "seven" at another sample rate (linear interpolation), a real 16-bit wav."""
    import wave

    with wave.open(str(RESOURCES / "demo_seven.wav")) as w:
        source_rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float64)
    n = int(len(x) * rate / source_rate)
    y = np.interp(np.arange(n) * source_rate / rate, np.arange(len(x)), x)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.round(y).astype(np.int16).tobytes())
    return path


def test_a_wav_at_another_rate_than_the_demo_model_was_trained_on_is_said(tmp_path):
    """11025 Hz audio gives 13 MFCCs per 10 ms too, so the model runs, on another spectrum (the
    demo says "nine" for this "seven"); the demo's metadata says 16 kHz, and compare says so."""
    from lstm_inspector.io.model_audio import trained_sample_rate

    assert trained_sample_rate(DEMO) == 16000 and trained_sample_rate(FORUM) is None
    wav = _resampled_wav(tmp_path / "seven_11k.wav", 11025)
    code, out, err = run_cli("compare", DEMO, wav, "--backend", "numpy")
    assert code == 0, err
    assert re.search(r"note: seven_11k\.wav is 11025 Hz audio but the model was trained on "
                     r"16000 Hz audio \(its demo\.json says so\).*resample the wav to 16000 Hz",
                     out), out
    code, out, err = run_cli("compare", DEMO, RESOURCES / "demo_seven.wav", "--backend", "numpy")
    assert code == 0 and "Hz audio but" not in out


@pytest.mark.parametrize("rate", [16000, 11025])
def test_the_window_notes_the_rate_too(rate, tmp_path):
    pytest.importorskip("PyQt5")
    from lstm_inspector import load_model
    from lstm_inspector.gui.state import FeatureInput
    from lstm_inspector.io.features import load_features

    wav = _resampled_wav(tmp_path / f"seven_{rate}.wav", rate)
    features = FeatureInput.from_loaded(load_features(str(wav)), str(wav))
    assert features.sample_rate == rate

    class State:  # the notes of InspectorState, without a window
        from lstm_inspector.gui.state import InspectorState as _S
        notes = _S.notes

    state = State()
    state.model, state.features, state.trace_a = load_model(DEMO), features, None
    state.trace_b = state.report = None
    said = [n for n in state.notes() if "Hz audio but the model was trained on" in n]
    assert len(said) == (rate != 16000)
