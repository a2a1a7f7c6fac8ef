"""ONNX LSTM nodes with ``sequence_lens``, read as models and checked against ONNX Runtime.

ONNX: for a sequence of length L (``sequence_lens``), steps ``t >= L`` are padding: ``Y`` is 0
there and the state never sees them (a reverse direction starts at step L - 1). The tool runs
a constant length as a mask over the padding (the state carried, the output 0), so the
reference, the torch backend and every view agree with ONNX Runtime's ``Y`` on every step.
"""
import subprocess
import sys

import numpy as np
import pytest

from lstm_inspector import load_model, run_reference
from lstm_inspector.errors import InspectorError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

H, N_IN, T = 3, 2, 9


def lens_graph(tmp_path, direction="forward", lens=(6,), as_input=False, name="lens.onnx"):
    """x (T, 1, 2) -> LSTM(hidden 3, ``direction``, sequence_lens) -> Y, random weights."""
    D = 2 if direction == "bidirectional" else 1
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32) * 0.5, n)
             for n, s in (("W", (D, 4 * H, N_IN)), ("R", (D, 4 * H, H)), ("B", (D, 8 * H)))]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", len(lens), N_IN])]
    if as_input:
        inputs.append(helper.make_tensor_value_info("lens", TensorProto.INT32, [len(lens)]))
    else:
        inits.append(numpy_helper.from_array(np.array(lens, np.int32), "lens"))
    node = helper.make_node("LSTM", ["x", "W", "R", "B", "lens"], ["Y"], name="first",
                            hidden_size=H, direction=direction)
    graph = helper.make_graph([node], "lens", inputs,
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, list("abcd"))],
                              initializer=inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    path = tmp_path / name
    path.write_bytes(proto.SerializeToString())
    return path


def ort_y(path, x, lens=None):
    """ONNX Runtime's Y (T, D, H) for one sequence."""
    feed = {"x": x[:, None]}
    if lens is not None:
        feed["lens"] = np.array(lens, np.int32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feed)[0][:, :, 0]


def features(steps=T, seed=4):
    return np.random.default_rng(seed).standard_normal((steps, N_IN)).astype(np.float32)


def check_against(trace, model, Y, length=T):
    """Every direction's h (input time) is ONNX's Y on the real steps, and its state is carried
    over the padding (the last one is ONNX's Y_h); the output is Y on every step, where the
    tool's output is in input time."""
    for d, direction in enumerate(model.chain[0].directions):
        h = trace.layer(0, direction).h
        np.testing.assert_allclose(h[:length], Y[:length, d], atol=1e-6, rtol=0)
        carried = Y[max(length - 1, 0), d] if direction == "forward" and length else 0 * Y[0, d]
        if not model.chain[0].go_backwards:
            np.testing.assert_allclose(h[length:], np.broadcast_to(carried, h[length:].shape),
                                       atol=1e-6, rtol=0)
    if not model.chain[0].go_backwards:   # a lone reverse node's output is in processing order
        np.testing.assert_allclose(trace.output, Y.reshape(len(Y), -1), atol=1e-6, rtol=0)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("length", [6, 1])
def test_padding_never_enters_the_state(tmp_path, direction, length):
    path = lens_graph(tmp_path, direction, (length,))
    model = load_model(path)
    assert model.sequence_length == length and "sequence length: " in model.describe()
    x = features()
    Y = ort_y(path, x)
    assert not Y[length:].any()                      # ONNX: padding outputs 0
    reference = run_reference(model, x)
    assert reference.mask is not None and reference.mask.sum() == length
    check_against(reference, model, Y, length)
    check_against(run_reference(model, x, dtype="float64"), model, Y, length)
    padded = x.copy()
    padded[length:] = 1e3                             # what the padding holds changes nothing
    check_against(run_reference(model, padded), model, Y, length)


@pytest.mark.parametrize("backend, direction", [("torch-cpu", "reverse"),
                                                ("torch-cpu", "bidirectional"),
                                                ("tf-cpu", "bidirectional")])
def test_backends_run_the_length(tmp_path, backend, direction):
    from optional import installed

    from lstm_inspector.backends import run_backend

    if backend == "tf-cpu" and not installed("tensorflow"):
        pytest.skip("tensorflow is not installed")
    path = lens_graph(tmp_path, direction, (6,))
    model = load_model(path)
    x = features()
    check_against(run_backend(model, x, backend), model, ort_y(path, x), 6)
    code, out, err = run_cli("compare", path, save(tmp_path, x), "--backend", backend)
    assert code == 0 and "agrees" in out, err


def test_a_length_fed_at_run_time_runs_every_frame(tmp_path):
    path = lens_graph(tmp_path, "bidirectional", as_input=True)
    model = load_model(path)
    assert model.sequence_length is None
    assert any("from the graph at run time" in n for n in model.notes)
    x = features()
    check_against(run_reference(model, x), model, ort_y(path, x, [T]))


def test_what_cannot_be_one_length_is_one_sentence(tmp_path):
    batch = load_model(lens_graph(tmp_path, lens=(6, 4), name="batch.onnx"))
    assert not batch.layers[0].runnable
    assert "not one length (a batch of different lengths)" in batch.layers[0].unsupported
    model = load_model(lens_graph(tmp_path, lens=(12,), name="long.onnx"))
    with pytest.raises(InspectorError, match="sequence length is 12 steps .* 9 frames"):
        run_reference(model, features())
    code, out, err = run_cli("compare", tmp_path / "long.onnx", save(tmp_path, features()),
                             "--backend", "numpy64")
    assert code == 2 and "sequence length is 12 steps" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def save(folder, x):
    np.save(folder / "x.npy", x)
    return folder / "x.npy"


def run_cli(*args, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr
