"""ONNX ``GRU`` operator nodes as the model input: graphs written with onnx.helper (both
``linear_before_reset`` values, reverse, bidirectional, stacked, sequence_lens, layout 1) and by
torch.onnx.export of an ``nn.GRU``, checked against ONNX Runtime's own output."""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from lstm_inspector import load_model, run_reference

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def run_cli(*args, timeout=240):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def _gru_node(rng, inits, x, y, n_in, H, name, direction="forward", lbr=1, lengths=None,
              initial_h=None, layout=0, **attrs):
    """A GRU node reading ``x`` into ``y`` with random W, R, B (added to ``inits``)."""
    D = 2 if direction == "bidirectional" else 1
    for what, shape in (("W", (D, 3 * H, n_in)), ("R", (D, 3 * H, H)), ("B", (D, 6 * H))):
        inits.append(numpy_helper.from_array(
            (rng.standard_normal(shape) * 0.7).astype(np.float32), f"{name}_{what}"))
    inputs = [x, f"{name}_W", f"{name}_R", f"{name}_B", "", ""]
    if lengths is not None:
        inits.append(numpy_helper.from_array(np.array([lengths], np.int32), f"{name}_L"))
        inputs[4] = f"{name}_L"
    if initial_h is not None:
        inits.append(numpy_helper.from_array(np.full((D, 1, H), initial_h, np.float32),
                                             f"{name}_h0"))
        inputs[5] = f"{name}_h0"
    return helper.make_node("GRU", inputs, [y], name=name, hidden_size=H, direction=direction,
                            linear_before_reset=lbr, layout=layout, **attrs)


def _write(tmp_path, nodes, inits, n_in, out, file="gru.onnx", layout=0):
    graph = helper.make_graph(
        nodes, "gru", [helper.make_tensor_value_info(
            "x", TensorProto.FLOAT, ["T", 1, n_in] if layout == 0 else [1, "T", n_in])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, list("abcd"))], initializer=inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    path = tmp_path / file
    path.write_bytes(proto.SerializeToString())
    return path


def _one_node(tmp_path, n_in=3, H=4, file="gru.onnx", seed=0, **kw):
    rng = np.random.default_rng(seed)
    inits = []
    node = _gru_node(rng, inits, "x", "Y", n_in, H, "gru", **kw)
    return _write(tmp_path, [node], inits, n_in, "Y", file)


def _ort(path, x):
    """ONNX Runtime's Y for one sequence ``x (T, in)``: ``(T, D * H)``, forward first."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y = session.run(None, {"x": x[:, None]})[0]
    if y.ndim == 4:   # (T, D, 1, H)
        y = np.concatenate([y[:, d, 0] for d in range(y.shape[1])], axis=-1)
    return y.reshape(len(x), -1)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("lbr", [0, 1])
def test_a_gru_node_agrees_with_onnx_runtime(tmp_path, direction, lbr):
    path = _one_node(tmp_path, direction=direction, lbr=lbr)
    model = load_model(path)
    layer = model.layers[0]
    assert layer.runnable and layer.cell == "gru" and layer.kind == "ONNX GRU"
    assert layer.directions["forward"].reset_after == bool(lbr)
    assert layer.bidirectional == (direction == "bidirectional")
    x = np.random.default_rng(1).standard_normal((13, 3)).astype(np.float32)
    out = run_reference(model, x).output
    if direction == "reverse":  # a go_backwards layer's output is in processing order
        out = out[::-1]
    np.testing.assert_allclose(out, _ort(path, x), atol=1e-5, rtol=0)


def _stacked(tmp_path, lbr=(1, 0)):
    """bidirectional GRU -> Transpose/Reshape (concat) -> GRU, as exporters link layers."""
    rng = np.random.default_rng(2)
    inits = [numpy_helper.from_array(np.array([0, 0, -1], np.int64), "shape")]
    nodes = [_gru_node(rng, inits, "x", "Y1", 3, 4, "first", "bidirectional", lbr[0]),
             helper.make_node("Transpose", ["Y1"], ["Yt"], perm=[0, 2, 1, 3]),
             helper.make_node("Reshape", ["Yt", "shape"], ["X2"]),
             _gru_node(rng, inits, "X2", "Y2", 8, 5, "second", "forward", lbr[1])]
    return _write(tmp_path, nodes, inits, 3, "Y2", "stacked.onnx")


def test_stacked_nodes_agree_with_onnx_runtime(tmp_path):
    path = _stacked(tmp_path)
    model = load_model(path)
    assert [l.name for l in model.chain] == ["first", "second"]
    assert model.layers[0].merge_mode == "concat"
    x = np.random.default_rng(3).standard_normal((9, 3)).astype(np.float32)
    np.testing.assert_allclose(run_reference(model, x).output, _ort(path, x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_sequence_lens_and_initial_h_as_the_lstm_nodes(tmp_path, direction):
    path = _one_node(tmp_path, direction=direction, lengths=7)
    model = load_model(path)
    assert model.sequence_length == 7
    x = np.random.default_rng(4).standard_normal((10, 3)).astype(np.float32)
    np.testing.assert_allclose(run_reference(model, x).output, _ort(path, x), atol=1e-5, rtol=0)
    assert load_model(_one_node(tmp_path, initial_h=0.0, file="z.onnx")).layers[0] \
        .initial_state_from == ()
    fed = load_model(_one_node(tmp_path, initial_h=0.5, file="h.onnx"))
    assert fed.layers[0].initial_state_from == ("gru_h0",)
    assert any("initial_h" in n for n in fed.notes)


def test_activations_are_read_and_what_cannot_run_is_named(tmp_path):
    path = _one_node(tmp_path, activations=["HardSigmoid", "Relu"], activation_alpha=[0.2],
                     activation_beta=[0.5])
    model = load_model(path)
    assert (model.layers[0].recurrent_activation, model.layers[0].activation) == \
        ("hard_sigmoid", "relu")
    x = np.random.default_rng(5).standard_normal((8, 3)).astype(np.float32)
    np.testing.assert_allclose(run_reference(model, x).output, _ort(path, x), atol=1e-5, rtol=0)
    np.save(tmp_path / "x.npy", x)
    for kw, words in (({"clip": 1.5}, "clip=1.5"),
                      ({"activations": ["LeakyRelu", "Tanh"]}, "LeakyRelu")):
        path = _one_node(tmp_path, file="bad.onnx", **kw)
        assert words in load_model(path).layers[0].unsupported
        code, out, err = run_cli("compare", path, tmp_path / "x.npy", "--backend", "numpy64")
        assert code == 2 and words in err and "Traceback" not in err


def test_layout_1_reads_the_same_layers_as_layout_0(tmp_path):
    """ONNX Runtime's CPU GRU refuses layout 1: the batch-first stack (Y (1, T, 2, 4) reshaped
    to (1, T, 8)) is checked against the same nodes in layout 0, which ONNX Runtime runs."""
    plain = load_model(_stacked(tmp_path))
    rng = np.random.default_rng(2)
    inits = [numpy_helper.from_array(np.array([0, 0, -1], np.int64), "shape")]
    nodes = [_gru_node(rng, inits, "x", "Y1", 3, 4, "first", "bidirectional", 1, layout=1),
             helper.make_node("Reshape", ["Y1", "shape"], ["X2"]),
             _gru_node(rng, inits, "X2", "Y2", 8, 5, "second", "forward", 0, layout=1)]
    batch_first = load_model(_write(tmp_path, nodes, inits, 3, "Y2", "b.onnx", layout=1))
    assert [l.name for l in batch_first.chain] == ["first", "second"]
    x = np.random.default_rng(6).standard_normal((7, 3)).astype(np.float32)
    np.testing.assert_array_equal(run_reference(batch_first, x).output,
                                  run_reference(plain, x).output)


def test_cli_compare_and_info(tmp_path):
    path = _stacked(tmp_path, lbr=(1, 1))
    x = np.random.default_rng(7).standard_normal((20, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli("compare", path, tmp_path / "x.npy", "--backend", "numpy64",
                             "--json")
    assert code == 0, err
    assert json.loads(out)["agree"]
    code, out, err = run_cli("info", path)
    assert code == 0, err
    assert "Bidirectional(ONNX GRU, merge=concat)" in out and "second: ONNX GRU" in out
    assert "cell=gru" in out


@pytest.mark.slow
@pytest.mark.parametrize("lbr", [0, 1])
def test_tf_cpu_runs_keras_gru_with_the_nodes_reset(tmp_path, lbr):
    path = _one_node(tmp_path, direction="bidirectional", lbr=lbr)
    x = np.random.default_rng(8).standard_normal((12, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli("compare", path, tmp_path / "x.npy", "--backend", "tf-cpu",
                             "--json")
    assert code == 0, err
    assert json.loads(out)["agree"]


@pytest.mark.torch
def test_torch_refuses_reset_before_in_a_sentence_and_runs_reset_after(tmp_path):
    x = np.random.default_rng(9).standard_normal((12, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    path = _one_node(tmp_path, lbr=0)
    code, out, err = run_cli("compare", path, tmp_path / "x.npy", "--backend", "torch-cpu")
    assert code == 2 and "reset_after=False" in err and "Traceback" not in err
    path = _one_node(tmp_path, lbr=1, file="after.onnx")
    code, out, err = run_cli("compare", path, tmp_path / "x.npy", "--backend", "torch-cpu",
                             "--json")
    assert code == 0, err
    assert json.loads(out)["agree"]


@pytest.mark.torch
@pytest.mark.parametrize("depth, bidirectional", [(1, False), (2, True)])
def test_torch_onnx_export_of_an_nn_gru_agrees(tmp_path, depth, bidirectional):
    import torch

    torch.manual_seed(0)
    module = torch.nn.GRU(3, 4, num_layers=depth, bidirectional=bidirectional)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.6)
    path = tmp_path / "torch.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(11, 1, 3),), str(path), input_names=["x"],
                          dynamo=False)
    model = load_model(path)
    assert len(model.chain) == depth and all(not l.initial_state_from for l in model.layers)
    x = np.random.default_rng(1).standard_normal((11, 3)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)[:, None])[0][:, 0].numpy()
    np.testing.assert_allclose(run_reference(model, x).output, expected, atol=1e-5, rtol=0)
