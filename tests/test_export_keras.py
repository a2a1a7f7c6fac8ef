"""keras-lstm and TFLite exports (TensorFlow-heavy: few tests, each converting a few models).

The keras-lstm file is loaded in a fresh TensorFlow process that sees no GPU, whose traced graph
runs no CudnnRNN op, and is converted there by tf.lite.TFLiteConverter; the TFLite file is then
checked step by step through ``compare --tflite``.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine_models import features

pytest.importorskip("tf_keras")

from lstm_inspector.export import export_model  # noqa: E402

TOL = 1e-5

FRESH_PROCESS = r"""
import json, os, sys
os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
from lstm_inspector.export.keras_lstm import graph_ops, load, to_tflite
import tensorflow as tf
import numpy as np
h5, tfl, x = sys.argv[1:4]
ops = graph_ops(h5)
y = load(h5)(np.load(x)[None]).numpy()[0]
to_tflite(h5, tfl)
print(json.dumps({"gpus": len(tf.config.list_physical_devices("GPU")), "run": sorted(ops["run"]),
                  "registered": sorted(ops["registered"]), "shape": list(y.shape)}))
"""


@pytest.fixture(scope="module")
def cudnn_files(tmp_path_factory):
    from model_files import write_cudnn_model

    folder = tmp_path_factory.mktemp("keras-export")
    return {
        "bidirectional": write_cudnn_model(folder, input_size=3, units=4, bidirectional=True,
                                           merge_mode="sum").path,
        "stacked": write_cudnn_model(folder, input_size=3, units=4, stacked=2).path,
        "in1-h1": write_cudnn_model(folder, input_size=1, units=1, filename="in1h1.h5").path,
    }


@pytest.mark.slow
def test_keras_lstm_export_runs_on_cpu_without_cudnn_and_converts_to_tflite(cudnn_files, tmp_path):
    import lstm_inspector as li

    model = li.load_model(cudnn_files["bidirectional"])
    x = features(40, 3, seed=4)
    np.save(tmp_path / "x.npy", x)
    result = export_model(model, "keras-lstm", tmp_path / "port.h5", x=x)
    assert result.accepted and result.max_abs_diff < TOL, result.summary

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", FRESH_PROCESS, tmp_path / "port.h5",
                           tmp_path / "port.tflite", tmp_path / "x.npy"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["gpus"] == 0 and seen["shape"] == [40, 4]
    assert "StatelessWhile" in seen["run"] or "While" in seen["run"]  # the CPU LSTM loop runs
    assert not [op for op in seen["run"] if op.startswith("Cudnn")]

    from test_cli import run_cli

    code, out, err = run_cli("compare", cudnn_files["bidirectional"], tmp_path / "x.npy",
                             "--tflite", tmp_path / "port.tflite", "--no-oracle")
    assert code == 0 and "TFLite interpreter (port.tflite)" in out, out + err


@pytest.mark.slow
def test_keras_lstm_and_tflite_exports_agree_on_cudnnlstm_files(cudnn_files, tmp_path):
    """stacked and in=1/H=1 as keras-lstm and tflite (h, c stepped from the interpreter's
    variable state tensors); the TFLite file streamed in chunks."""
    import lstm_inspector as li
    from lstm_inspector.backends.exported import run_exported
    from lstm_inspector.paths.streaming import stream_check
    from lstm_inspector.core.reference import run_reference

    for kind in ("stacked", "in1-h1"):
        model = li.load_model(cudnn_files[kind])
        x = features(50, model.input_size, seed=1)
        for fmt, suffix in (("keras-lstm", ".h5"), ("tflite", ".tflite")):
            result = export_model(model, fmt, tmp_path / f"{kind}{suffix}", x=x)
            assert result.accepted and result.max_abs_diff < TOL, result.summary
        trace = run_exported(model, x, tmp_path / f"{kind}.tflite")
        assert trace.layer(len(model.chain) - 1).how("c") == "stepped"
        ref = run_reference(model, x)
        np.testing.assert_allclose(trace.output, ref.output, atol=TOL)
    # streaming through the TFLite file, 7 frames a chunk (the last one shorter): equal to one
    # call; a swapped carry is named
    path = f"tflite:{tmp_path / 'stacked.tflite'}"
    model = li.load_model(cudnn_files["stacked"])
    x = features(50, 3, seed=1)
    good = stream_check(model, x, path, 7)
    assert good.agree and good.max_error < 1e-6, good.text()
    bad = stream_check(model, x, path, 7, bug="swap")
    assert bad.first == (7, 0) and "h and c are swapped when carried" in bad.verdict


@pytest.mark.slow
def test_real_model_exports_to_keras_lstm_and_tflite(realdata, tmp_path):
    """poreplex's trained LSTM(48) x 2 on real speech samples: keras-lstm and tflite agree (the
    export removes the converter's cell_clip=10; the converter's own file is caught clipping)."""
    import wave

    import lstm_inspector as li

    model = li.load_model(realdata / "models" / "poreplex-scaler-r3-keras224tf-lstm.hdf5")
    with wave.open(str(realdata / "audio" / "kaldi-test.wav")) as wav:
        samples = np.frombuffer(wav.readframes(300), "<i2").astype(np.float32)
    x = (3 * samples / np.abs(samples).max())[:, None]
    for fmt, suffix in (("keras-lstm", ".h5"), ("tflite", ".tflite")):
        result = export_model(model, fmt, tmp_path / f"poreplex{suffix}", x=x, rtol=1e-5)
        assert result.accepted, result.summary
    # |c| reaches ~50 in this model; TFLiteConverter's own file clips c at 10: the path says so
    from lstm_inspector import compare
    from lstm_inspector.backends.exported import run_exported
    from lstm_inspector.core.reference import run_reference
    from lstm_inspector.export.keras_lstm import to_tflite

    to_tflite(tmp_path / "poreplex.h5", tmp_path / "converter.tflite")
    trace = run_exported(model, x, tmp_path / "converter.tflite")
    report = compare(run_reference(model, x), trace, rtol=1e-5)
    assert not report.agree and np.abs(trace.layer(0).c).max() == 10.0
    assert any("cell_clip=10" in note for note in trace.meta["notes"])


@pytest.mark.slow
def test_real_lstm_variants_export_to_keras_lstm(realdata, tmp_path):
    """frugally-deep's layers with relu, hard_sigmoid and linear recurrent activations."""
    import lstm_inspector as li
    from lstm_inspector.errors import InspectorError

    variants = li.load_model(realdata / "models" / "frugally-deep-lstm-variants-keras225.h5")
    for k in (0, 1, 6):  # relu, hard_sigmoid (Bidirectional), linear (Bidirectional)
        sub = variants.sub_model(k)
        result = export_model(sub, "keras-lstm", tmp_path / f"variant{k}.h5",
                              x=features(30, sub.input_size, seed=k))
        assert result.accepted, result.summary
    with pytest.raises(InspectorError, match="fuses only tanh/sigmoid"):
        export_model(variants.sub_model(0), "tflite", tmp_path / "relu.tflite")


def test_keras_lstm_export_prints_only_its_own_lines(tmp_path):
    """tf-keras's h5 saver logged "Compiled the loaded model, but the compiled metrics have yet
    to be built" for the export (nothing was compiled or loaded): issue 20. The command prints
    its verdict and the file written, and nothing of TensorFlow's."""
    forum = Path(__file__).resolve().parent.parent / "resources" / "forum_cudnnlstm_in1_h2.h5"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", "export", str(forum), "--to",
                           "keras-lstm", str(tmp_path / "m.h5")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "compiled metrics" not in proc.stdout + proc.stderr
    assert "WARNING:tensorflow" not in proc.stderr, proc.stderr
    assert (tmp_path / "m.h5").is_file()
