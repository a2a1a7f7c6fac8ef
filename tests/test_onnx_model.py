"""ONNX models as the model input: files written by the tool's own exporter, by torch.onnx.export
and by hand with onnx.helper, loaded back as models and checked against ONNX Runtime's output.
"""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest


from lstm_inspector import load_model, run_reference
from lstm_inspector.core.model import Model, RecurrentLayer
from lstm_inspector.core.weights import READINGS, LSTMWeights, StoredLSTM
from lstm_inspector.errors import InspectorError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

needs_torch = pytest.mark.torch  # conftest skips it without torch; CI's torch run selects it


def run_cli(*args, timeout=240):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def _stored(rng, n_in, H, rec_act="sigmoid"):
    w = LSTMWeights(rng.standard_normal((4 * H, n_in)).astype(np.float32) * 0.5,
                    rng.standard_normal((4 * H, H)).astype(np.float32) * 0.5,
                    rng.standard_normal(4 * H).astype(np.float32) * 0.8,
                    rng.standard_normal(4 * H).astype(np.float32) * 0.8)
    return StoredLSTM(*w.to_cudnn_keras(), true_reading=READINGS["cudnn"],
                      recurrent_activation=rec_act)


def _layer(rng, name, n_in, H, bidirectional=False, merge="concat", go_backwards=False,
           rec_act="sigmoid"):
    dirs = {"forward": _stored(rng, n_in, H, rec_act)}
    if bidirectional:
        dirs["backward"] = _stored(rng, n_in, H, rec_act)
    return RecurrentLayer(name, "CuDNNLSTM", n_in, H, dirs,
                          merge_mode=merge if bidirectional else None, go_backwards=go_backwards)


MODELS = {  # what the tool's own exporter writes: every glue it emits
    "stacked-go-backwards": lambda rng: [_layer(rng, "a", 3, 4, go_backwards=True),
                                         _layer(rng, "b", 4, 5)],
    "bidirectional-sum-ave-concat": lambda rng: [
        _layer(rng, "a", 3, 4, True, "sum"), _layer(rng, "b", 4, 4, True, "ave"),
        _layer(rng, "c", 4, 2, True, "concat"), _layer(rng, "d", 4, 3, True, "mul")],
    "hard-sigmoid": lambda rng: [_layer(rng, "a", 2, 6, rec_act="hard_sigmoid")],
}


def _ort_output(path, feed):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feed)[0]


@pytest.mark.parametrize("name", list(MODELS))
def test_the_tools_own_export_loads_back_and_agrees(tmp_path, name):
    from lstm_inspector.export import onnx_file

    rng = np.random.default_rng(0)
    original = Model(MODELS[name](rng), source="hand.h5", file_format="keras-h5")
    path = tmp_path / "m.onnx"
    onnx_file.write(original, path)
    model = load_model(path)
    assert model.file_format == "onnx"
    assert len(model.chain) == len(original.chain)
    for mine, theirs in zip(model.chain, original.chain):
        assert (mine.merge_mode, mine.go_backwards, mine.bidirectional) == \
            (theirs.merge_mode, theirs.go_backwards, theirs.bidirectional)
        assert mine.recurrent_activation == theirs.recurrent_activation
        for d in theirs.directions:
            assert mine.weights(d).equals(theirs.weights(d))
    x = rng.standard_normal((17, original.input_size)).astype(np.float32)
    out = run_reference(model, x).output
    np.testing.assert_array_equal(out, run_reference(original, x).output)
    np.testing.assert_allclose(out, _ort_output(path, {"x": x[None]})[0], atol=1e-5, rtol=0)


def _torch_export(tmp_path, n_in, H, depth, bidirectional, T=11, seed=0):
    import torch

    torch.manual_seed(seed)
    module = torch.nn.LSTM(n_in, H, num_layers=depth, bidirectional=bidirectional)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.6)
    path = tmp_path / "torch.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(T, 1, n_in),), str(path), input_names=["x"],
                          dynamo=False)
    return path


@needs_torch
@pytest.mark.parametrize("n_in, H, depth, bidirectional", [(3, 4, 1, False), (2, 5, 2, False),
                                                           (5, 3, 2, True)])
def test_torch_onnx_export_agrees_with_onnx_runtime(tmp_path, n_in, H, depth, bidirectional):
    path = _torch_export(tmp_path, n_in, H, depth, bidirectional)
    model = load_model(path)
    assert len(model.chain) == depth and model.layers[0].bidirectional == bidirectional
    assert all(not l.initial_state_from for l in model.layers)  # torch's zero states: zeros
    x = np.random.default_rng(1).standard_normal((11, n_in)).astype(np.float32)
    expected = _ort_output(path, {"x": x[:, None]})[:, 0]
    np.testing.assert_allclose(run_reference(model, x).output, expected, atol=1e-5, rtol=0)


@needs_torch
def test_a_batch_first_three_layer_module_with_a_head_exports_and_loads(tmp_path):
    """torch slices each layer's zero initial state out of one Expand-ed zero tensor, and
    transposes around batch-first LSTMs; a Linear head follows the last one."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(3, 4, num_layers=3, bidirectional=True, batch_first=True)
            self.fc = torch.nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(self.lstm(x)[0])

    torch.manual_seed(4)
    net = Net()
    path = tmp_path / "net.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(2, 7, 3),), str(path), input_names=["x"],
                          dynamic_axes={"x": {0: "batch", 1: "T"}}, dynamo=False)
    model = load_model(path)
    assert len(model.chain) == 3 and all(not l.initial_state_from for l in model.layers)
    x = np.random.default_rng(6).standard_normal((12, 3)).astype(np.float32)
    with torch.no_grad():
        expected = net.lstm(torch.from_numpy(x)[None])[0][0].numpy()
    np.testing.assert_allclose(run_reference(model, x).output, expected, atol=1e-5, rtol=0)


@needs_torch
def test_compare_runs_an_onnx_model_against_its_own_file(tmp_path):
    path = _torch_export(tmp_path, 5, 3, 2, True, T=30)
    x = np.random.default_rng(2).standard_normal((30, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli("compare", path, tmp_path / "x.npy", "--onnx", path, "--json",
                             "--no-oracle")
    assert code == 0, err
    assert json.loads(out)["agree"]
    code, out, err = run_cli("info", path)
    assert code == 0 and "(onnx)" in out and "Bidirectional(ONNX LSTM, merge=concat)" in out


# ---- graphs written by hand: attributes the reference refuses or reads --------------------
def _graph_model(tmp_path, H=3, n_in=2, attrs=None, initial_h=None, layout=0, second=None,
                 name="hand.onnx"):
    """x -> LSTM (-> glue -> LSTM second) -> y, weights random, written with onnx.helper."""
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32) * 0.5, n)
             for n, s in (("W", (1, 4 * H, n_in)), ("R", (1, 4 * H, H)), ("B", (1, 8 * H)))]
    inputs = ["x", "W", "R", "B", "", "", ""]
    if initial_h is not None:
        inits.append(numpy_helper.from_array(np.full((1, 1, H), initial_h, np.float32), "h0"))
        inputs[5] = "h0"
    nodes = [helper.make_node("LSTM", inputs, ["Y"], name="first", hidden_size=H,
                              layout=layout, **(attrs or {}))]
    out = "Y"
    if second is not None:
        nodes += second(inits, rng, H)
        out = "Y2"
    graph = helper.make_graph(
        nodes, "hand", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                      ["T", 1, n_in] if layout == 0 else
                                                      [1, "T", n_in])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, list("abcd"))], initializer=inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    path = tmp_path / name
    path.write_bytes(proto.SerializeToString())
    return path


@pytest.mark.parametrize("attrs, words", [
    ({"clip": 1.5}, "clip=1.5"),
    ({"input_forget": 1}, "input_forget=1"),
    ({"activations": ["Sigmoid", "Relu", "Tanh"]}, "g=relu and h=tanh differ"),
    ({"activations": ["LeakyRelu", "Tanh", "Tanh"]}, "LeakyRelu"),
])
def test_attributes_the_reference_cannot_compute_are_named(tmp_path, attrs, words):
    path = _graph_model(tmp_path, attrs=attrs)
    model = load_model(path)
    assert not model.layers[0].runnable and words in model.layers[0].unsupported
    np.save(tmp_path / "x.npy", np.zeros((5, 2), np.float32))
    code, out, err = run_cli("compare", path, tmp_path / "x.npy", "--backend", "numpy64")
    assert code == 2 and words in err and "Traceback" not in err


def test_activations_read_from_the_node_agree_with_onnx_runtime(tmp_path):
    attrs = {"activations": ["HardSigmoid", "Relu", "Relu"], "activation_alpha": [0.2],
             "activation_beta": [0.5]}
    path = _graph_model(tmp_path, attrs=attrs)
    model = load_model(path)
    layer = model.layers[0]
    assert (layer.recurrent_activation, layer.activation) == ("hard_sigmoid", "relu")
    x = np.random.default_rng(4).standard_normal((9, 2)).astype(np.float32)
    expected = _ort_output(path, {"x": x[:, None]})[:, 0, 0]  # Y (T, D, batch, H)
    np.testing.assert_allclose(run_reference(model, x).output, expected, atol=1e-5, rtol=0)


def test_layout_1_reads_the_same_layers_as_layout_0(tmp_path):
    """ONNX Runtime's CPU LSTM refuses layout 1, so the batch-first file is checked against
    the same graph in layout 0, which ONNX Runtime runs."""
    plain = load_model(_graph_model(tmp_path, second=_second_lstm(_squeeze), name="t.onnx"))
    batch_first = load_model(_graph_model(tmp_path, layout=1, name="b.onnx",
                                          second=_second_lstm(_squeeze, layout=1)))
    assert [l.name for l in batch_first.chain] == ["first", "second"]
    x = np.random.default_rng(4).standard_normal((9, 2)).astype(np.float32)
    np.testing.assert_array_equal(run_reference(batch_first, x).output,
                                  run_reference(plain, x).output)
    wrong = load_model(_graph_model(tmp_path, layout=1, name="w.onnx",
                                    second=_second_lstm(_squeeze)))  # (B, T, H) read as (T, B, H)
    assert [l.name for l in wrong.chain] == ["first"]


def test_weights_behind_identity_nodes_are_read(tmp_path):
    path = _graph_model(tmp_path)
    proto = onnx.load(str(path))
    node = proto.graph.node[0]
    proto.graph.node.insert(0, helper.make_node("Identity", ["R"], ["R_id"]))
    node.input[2] = "R_id"
    (tmp_path / "id.onnx").write_bytes(proto.SerializeToString())
    model = load_model(tmp_path / "id.onnx")
    assert model.layers[0].runnable
    x = np.random.default_rng(7).standard_normal((5, 2)).astype(np.float32)
    np.testing.assert_array_equal(run_reference(model, x).output,
                                  run_reference(load_model(path), x).output)


def test_nonzero_initial_state_is_named_as_fed(tmp_path):
    model = load_model(_graph_model(tmp_path, initial_h=0.5))
    assert model.layers[0].initial_state_from == ("h0",)
    assert any("initial_h" in n for n in model.notes)
    assert load_model(_graph_model(tmp_path, initial_h=0.0, name="z.onnx")).layers[0] \
        .initial_state_from == ()


def _second_lstm(glue, layout=0):
    """A second LSTM (``layout``) fed by the first through ``glue(inits, H, layout)``, nodes
    ending in 'X2'."""
    def build(inits, rng, H):
        inits += [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32) * 0.5, n)
                  for n, s in (("W2", (1, 8, H)), ("R2", (1, 8, 2)))]
        return glue(inits, H, layout) + [helper.make_node(
            "LSTM", ["X2", "W2", "R2"], ["Y2"], name="second", hidden_size=2, layout=layout)]
    return build


def _squeeze(inits, H, layout=0):
    """The direction axis of Y squeezed: axis 1 in layout 0, axis 2 in layout 1."""
    inits.append(numpy_helper.from_array(np.array([1 + layout], np.int64), "axis1"))
    return [helper.make_node("Squeeze", ["Y", "axis1"], ["X2"])]


def _matmul(inits, H, layout=0):
    inits += [numpy_helper.from_array(np.array([1], np.int64), "axis1"),
              numpy_helper.from_array(np.eye(H, dtype=np.float32), "M")]
    return [helper.make_node("Squeeze", ["Y", "axis1"], ["S"]),
            helper.make_node("MatMul", ["S", "M"], ["X2"])]


def _flip(inits, H, layout=0):
    inits += [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
              (("axis1", [1]), ("st", [-1]), ("en", [np.iinfo(np.int64).min]), ("ax", [0]),
               ("sp", [-1]))]
    return [helper.make_node("Squeeze", ["Y", "axis1"], ["S"]),
            helper.make_node("Slice", ["S", "st", "en", "ax", "sp"], ["X2"])]


def test_stacked_nodes_link_only_through_shape_operators(tmp_path):
    model = load_model(_graph_model(tmp_path, second=_second_lstm(_squeeze), name="a.onnx"))
    assert [l.name for l in model.chain] == ["first", "second"]
    x = np.random.default_rng(5).standard_normal((6, 2)).astype(np.float32)
    expected = _ort_output(tmp_path / "a.onnx", {"x": x[:, None]})[:, 0, 0]
    np.testing.assert_allclose(run_reference(model, x).output, expected, atol=1e-5, rtol=0)
    model = load_model(_graph_model(tmp_path, second=_second_lstm(_matmul), name="b.onnx"))
    assert [l.name for l in model.chain] == ["first"]
    assert any("MatMul" in n and "chain ends" in n for n in model.notes)
    # a forward node whose output is fed to the next one time-reversed: not a Keras layer
    model = load_model(_graph_model(tmp_path, second=_second_lstm(_flip), name="c.onnx"))
    assert [l.name for l in model.chain] == ["first"]
    assert any("time reversed" in n for n in model.notes)


def test_files_without_an_lstm_and_misplaced_options_are_one_sentence(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    (tmp_path / "relu.onnx").write_bytes(helper.make_model(graph).SerializeToString())
    with pytest.raises(InspectorError, match="no ONNX LSTM or GRU operator .its operators: Relu"):
        load_model(tmp_path / "relu.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07junk that is not protobuf")
    with pytest.raises(InspectorError, match="not a valid ONNX model"):
        load_model(tmp_path / "junk.onnx")
    path = _graph_model(tmp_path)
    code, out, err = run_cli("info", path, "--prefix", "rnn.")
    assert code == 2 and "--prefix" in err and "ONNX" in err
    with pytest.raises(InspectorError, match="--kind does not apply"):
        load_model(path, kind="LSTM")
