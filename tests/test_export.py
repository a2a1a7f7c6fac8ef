"""Exports (numpy, onnx) run back and agree with the reference; a wrong file is refused.

Models: in-memory ones (fast), files written by tf-keras (CuDNNLSTM: stacked, bidirectional,
in=1/H=1) and the real models in ../shared/realdata. The keras-lstm export and TFLite are in
tests/test_export_keras.py (TensorFlow-heavy, kept few).
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core.reference import run_reference
from lstm_inspector.errors import InspectorError

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from lstm_inspector.backends.exported import run_exported  # noqa: E402
from lstm_inspector.export import export_model  # noqa: E402

TOL = 1e-5


def assert_close(trace, ref, atol=TOL, rtol=0.0):
    for k, d, lt in ref.items():
        for q in ("h", "c"):
            np.testing.assert_allclose(getattr(trace.layer(k, d), q), getattr(lt, q), atol=atol,
                                       rtol=rtol, err_msg=f"{k} {d} {q}")


CASES = {
    "stacked": dict(layers=2),
    "bidirectional-concat": dict(layers=2, bidirectional=True),
    "bidirectional-sum": dict(layers=2, bidirectional=True, merge_mode="sum"),
    "bidirectional-ave": dict(layers=2, bidirectional=True, merge_mode="ave"),
    "bidirectional-mul": dict(layers=2, bidirectional=True, merge_mode="mul"),
    "go_backwards": dict(layers=2, go_backwards=True),
    "in1-h1": dict(n_in=1, units=1),
    "hard_sigmoid-lstm": dict(layers=2, cudnn=False, recurrent_activation="hard_sigmoid"),
}


@pytest.mark.parametrize("fmt,suffix", [("numpy", ".py"), ("onnx", ".onnx")])
@pytest.mark.parametrize("case", CASES)
def test_export_runs_back_equal_to_the_reference(tmp_path, fmt, suffix, case):
    model = cudnn_model(**CASES[case])
    result = export_model(model, fmt, tmp_path / f"m{suffix}")
    assert result.accepted, result.summary
    assert result.max_abs_diff < TOL
    x = features(37, model.input_size, seed=5)  # other input than the check's
    assert_close(run_exported(model, x, tmp_path / f"m{suffix}"), run_reference(model, x))


def test_onnx_file_is_standard_lstm_ops_that_pass_the_checker(tmp_path):
    model = cudnn_model(layers=2, bidirectional=True)
    export_model(model, "onnx", tmp_path / "m.onnx")
    proto = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    lstms = [n for n in proto.graph.node if n.op_type == "LSTM"]
    assert len(lstms) == 2 and all(n.domain == "" for n in proto.graph.node)
    # gate order i, o, f, c and bias [Wb, Rb]: the W of layer 0 holds the canonical rows reordered
    w = model.chain[0].weights("forward")
    W = onnx.numpy_helper.to_array(next(t for t in proto.graph.initializer if t.name == "W_0"))
    H = w.units
    np.testing.assert_array_equal(W[0, H:2 * H], w.weight_ih[w.gate_rows("o")])
    np.testing.assert_array_equal(W[0, 2 * H:3 * H], w.weight_ih[w.gate_rows("f")])


def test_wrong_gate_order_in_onnx_is_refused_with_its_report(tmp_path, capsys):
    model = cudnn_model(layers=2, units=5)
    out = tmp_path / "wrong.onnx"
    result = export_model(model, "onnx", out, gate_order="ifco")  # cuDNN's order written into ONNX
    assert not result.accepted and result.max_abs_diff > 1e-2
    assert not out.exists()
    assert (tmp_path / "wrong.onnx.rejected").is_file()
    report = (tmp_path / "wrong.onnx.rejected.txt").read_text()
    assert "REJECTED" in report and "first divergence: step 0" in report
    assert "gates iofc" in report  # the detective names the order the file computes


def test_exported_numpy_file_runs_with_only_numpy_importable(tmp_path):
    """A fresh interpreter (-I -S) whose sys.path holds a folder with numpy alone."""
    model = cudnn_model(layers=2, bidirectional=True, merge_mode="sum", units=3)
    export_model(model, "numpy", tmp_path / "port.py")
    x = features(25, model.input_size, seed=2)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "want.npy", run_reference(model, x).output)
    only = tmp_path / "only_numpy"
    only.mkdir()
    root = Path(np.__file__).resolve().parent.parent
    for name in ("numpy", "numpy.libs"):
        if (root / name).exists():
            os.symlink(root / name, only / name)
    # -S: no site-packages; the standard library stays, numpy alone is added
    code = (f"import sys; sys.path += [{str(only)!r}, {str(tmp_path)!r}]\n"
            "assert not any('site-packages' in p for p in sys.path[:-2])\n"
            "import importlib.util as u\n"
            "assert u.find_spec('lstm_inspector') is None and u.find_spec('h5py') is None\n"
            "import numpy as np, port\n"
            f"y = port.forward(np.load({str(tmp_path / 'x.npy')!r}))\n"
            f"d = np.abs(y - np.load({str(tmp_path / 'want.npy')!r})).max()\n"
            "h, c = port.step_0(np.ones(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32))\n"
            "top = {m.split('.')[0] for m in sys.modules}\n"
            "print('maxdiff', d, sorted(m for m in top if m not in ('numpy', 'port', '__main__') and "
            "m.lstrip('_') not in sys.stdlib_module_names and m not in sys.stdlib_module_names))\n")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True,
                          timeout=60, env={"PATH": os.environ.get("PATH", "")})
    assert proc.returncode == 0, proc.stderr
    diff, others = proc.stdout.split(" ", 2)[1:]
    assert float(diff) < TOL and others.strip() == "[]"
    text = (tmp_path / "port.py").read_text()
    assert "lstm_inspector" not in text.replace("lstm-inspector", "")
    assert "c    = f * c_prev + i * c~" in text and "(4H, in)" in text


def test_exported_numpy_file_streams_with_carried_state(tmp_path):
    import importlib.util

    model = cudnn_model(layers=2, units=4)
    export_model(model, "numpy", tmp_path / "s.py")
    spec = importlib.util.spec_from_file_location("s_export", tmp_path / "s.py")
    port = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(port)
    x = features(60, 3)
    whole = port.forward(x)
    state, parts = None, []
    for start in range(0, 60, 16):
        y, state = port.forward(x[start:start + 16], state, return_state=True)
        parts.append(y)
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6)


def test_bad_export_requests_are_one_sentence(tmp_path):
    model = cudnn_model()
    with pytest.raises(InspectorError, match=r"\*\.onnx file"):
        export_model(model, "onnx", tmp_path / "m.py")
    with pytest.raises(InspectorError, match="unknown export format"):
        export_model(model, "coreml", tmp_path / "m.ml")
    with pytest.raises(InspectorError, match="does not exist"):
        export_model(model, "numpy", tmp_path / "nowhere" / "m.py")
    with pytest.raises(InspectorError, match="file's own model"):
        export_model(model.with_reading("naive"), "numpy", tmp_path / "m.py")
    with pytest.raises(InspectorError, match="not a NumPy file written by lstm-inspector"):
        (tmp_path / "evil.py").write_text("raise SystemExit('ran')\n")
        run_exported(model, features(5, 3), tmp_path / "evil.py")


def test_onnx_path_refuses_a_file_that_does_not_fit_the_model(tmp_path):
    export_model(cudnn_model(units=4), "onnx", tmp_path / "m.onnx")
    with pytest.raises(InspectorError, match="does not match layer"):
        run_exported(cudnn_model(units=5), features(5, 3), tmp_path / "m.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not onnx at all")
    with pytest.raises(InspectorError, match="not a valid ONNX model"):
        run_exported(cudnn_model(), features(5, 3), tmp_path / "junk.onnx")


# ---- files written by tf-keras, and the real models ---------------------------------------
@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    from model_files import write_cudnn_model

    folder = tmp_path_factory.mktemp("export")
    return {
        "stacked": write_cudnn_model(folder, input_size=3, units=4, stacked=2).path,
        "bidirectional": write_cudnn_model(folder, input_size=3, units=4, bidirectional=True,
                                           stacked=2).path,
        "in1-h1": write_cudnn_model(folder, input_size=1, units=1, filename="in1h1.h5").path,
    }


@pytest.mark.parametrize("kind", ["stacked", "bidirectional", "in1-h1"])
def test_tf_keras_cudnnlstm_files_export_to_numpy_and_onnx(keras_files, tmp_path, kind):
    import lstm_inspector as li

    model = li.load_model(keras_files[kind])
    x = features(60, model.input_size, seed=3)
    for fmt, suffix in (("numpy", ".py"), ("onnx", ".onnx")):
        result = export_model(model, fmt, tmp_path / f"{kind}{suffix}", x=x)
        assert result.accepted and result.max_abs_diff < TOL, result.summary


def test_real_models_export_to_numpy_and_onnx(realdata, tmp_path):
    """poreplex's trained LSTM(48) x 2 (Keras 2.2.4-tf) and frugally-deep's layers with relu,
    linear and hard_sigmoid recurrent activations (ONNX Relu, Affine, HardSigmoid)."""
    import lstm_inspector as li

    models = realdata / "models"
    poreplex = li.load_model(models / "poreplex-scaler-r3-keras224tf-lstm.hdf5")
    x = np.sin(np.linspace(0, 40, 400, dtype=np.float32))[:, None] * 3
    subjects = [("poreplex", poreplex, x)]
    variants = li.load_model(models / "frugally-deep-lstm-variants-keras225.h5")
    for k, layer in enumerate(variants.layers):
        subjects.append((layer.name, variants.sub_model(k), features(30, layer.input_size, seed=k)))
    seen = set()
    for name, model, xs in subjects:
        for fmt, suffix in (("numpy", ".py"), ("onnx", ".onnx")):
            result = export_model(model, fmt, tmp_path / f"{name}{suffix}", x=xs, rtol=1e-5)
            assert result.accepted, result.summary
        seen.add(model.chain[0].recurrent_activation)
    assert {"relu", "hard_sigmoid", "linear", "sigmoid"} <= seen


# ---- the command line ---------------------------------------------------------------------
def test_cli_export_compare_and_stream(keras_files, tmp_path):
    from test_cli import run_cli

    model = keras_files["stacked"]
    np.save(tmp_path / "x.npy", features(40, 3, seed=1))
    code, out, err = run_cli("export", model, "--to", "onnx", tmp_path / "m.onnx", tmp_path / "x.npy")
    assert code == 0 and "largest |difference|" in out and (tmp_path / "m.onnx").is_file(), err
    code, out, err = run_cli("compare", model, tmp_path / "x.npy", "--onnx", tmp_path / "m.onnx")
    assert code == 0 and "ONNX Runtime (m.onnx)" in out, out + err
    code, out, err = run_cli("compare", model, tmp_path / "x.npy", "--backend",
                             f"onnx:{tmp_path / 'm.onnx'}", "--chunk", "8", "--chunk-bug", "swap")
    assert code == 1 and "h and c are swapped when carried" in out, out + err
    code, out, err = run_cli("export", model, "--to", "onnx", tmp_path / "m.py")
    assert code == 2 and err.count("\n") == 1 and "*.onnx file" in err


def test_gui_pipeline_takes_an_onnx_file_as_path_b(tmp_path):
    """The window's path B is a backend string; ``onnx:FILE`` runs the file (as --onnx does)."""
    from lstm_inspector.gui.pipeline import backend_for, compute

    model = cudnn_model(layers=2)
    export_model(model, "onnx", tmp_path / "m.onnx")
    backend = backend_for(f"onnx:{tmp_path / 'm.onnx'}")
    results = compute(model, features(30, 3), backend=backend)
    assert results.report.agree and "m.onnx" in results.trace_b.label
    assert results.trace_b.layer(1).how("c") == "stepped"
