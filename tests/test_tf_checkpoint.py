"""TF checkpoints in: real checkpoints written during the test by TensorFlow's own savers.

* TF 2 ``tf.train.Checkpoint`` of tf-keras models (CuDNNLSTM can be built and saved on a CPU),
  with Adam slot variables of the same shapes as the weights beside them;
* TF 1.x ``tf.compat.v1.train.Saver`` in graph mode: real ``CuDNNLSTM`` layers built under the
  scopes TF 1.x gives them, with Adam / Momentum slots;
* the canonical tensors ``tf.contrib.cudnn_rnn.CudnnLSTM``'s saver writes (contrib is gone from
  TF 2, so the test writes variables of those names and layout, derived from known weights by the
  formula of ``CudnnParamsFormatConverterLSTM._cudnn_to_tf_weights`` in TF 1.x's source).

Every loaded array is compared by value with the array that was saved.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from lstm_inspector.core.weights import READINGS, LSTMWeights, read_stored
from lstm_inspector.errors import InspectorError
from lstm_inspector.io.tf_checkpoint import load_checkpoint

tf = pytest.importorskip("tensorflow")
tf_keras = pytest.importorskip("tf_keras")
CuDNNLSTM = tf.compat.v1.keras.layers.CuDNNLSTM


def _randomise(layers, rng):
    """Random weights everywhere (the initial CuDNNLSTM bias is mostly zeros: too easy)."""
    for layer in layers:
        layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in layer.get_weights()])


def _add_optimizer_slots(model, variables=None):
    """Adam slot variables (m, v) with the weights' shapes, holding values unlike the weights."""
    opt = tf_keras.optimizers.legacy.Adam()
    variables = variables or model.trainable_variables
    opt.apply_gradients([(tf.ones_like(v) * 3.0, v) for v in variables])
    return opt


def _stored(layer, direction="forward"):
    return layer.directions[direction]


def _assert_one_sentence(error):
    message = str(error.value)
    assert message and "\n" not in message and "Traceback" not in message
    assert len(message) < 400


# ---- TF 2 object-based checkpoints -------------------------------------------------------
@pytest.fixture(scope="module")
def tf2_stacked(tmp_path_factory):
    """CuDNNLSTM(4) -> Dropout -> Bidirectional(CuDNNLSTM(2)) -> Dense(2), input width 3."""
    rng = np.random.default_rng(0)
    model = tf_keras.Sequential([
        tf_keras.layers.InputLayer(input_shape=(None, 3)),
        CuDNNLSTM(4, return_sequences=True),
        tf_keras.layers.Dropout(0.2),
        tf_keras.layers.Bidirectional(CuDNNLSTM(2, return_sequences=True)),
        tf_keras.layers.Dense(2),
    ])
    _randomise(model.layers, rng)
    opt = _add_optimizer_slots(model)  # moves the weights a little: read them after
    expected = {
        "first": model.layers[0].get_weights(),
        "forward": model.layers[2].forward_layer.get_weights(),
        "backward": model.layers[2].backward_layer.get_weights(),
    }
    folder = tmp_path_factory.mktemp("tf2")
    prefix = tf.train.Checkpoint(model=model, optimizer=opt).save(str(folder / "ckpt"))
    return prefix, expected


def test_tf2_checkpoint_layers_and_values(tf2_stacked):
    prefix, expected = tf2_stacked
    model = load_checkpoint(prefix)
    assert model.file_format == "tf-checkpoint" and model.source == prefix
    assert [l.kind for l in model.layers] == ["CuDNNLSTM", "CuDNNLSTM"]
    first, second = model.layers
    assert (first.input_size, first.units, first.bidirectional) == (3, 4, False)
    assert (second.input_size, second.units, second.bidirectional) == (4, 2, True)
    assert second.merge_mode == "concat"
    assert [l.name for l in model.chain] == [first.name, second.name]

    for layer, direction, key in ((first, "forward", "first"), (second, "forward", "forward"),
                                  (second, "backward", "backward")):
        stored = _stored(layer, direction)
        for got, want in zip((stored.kernel, stored.recurrent_kernel, stored.bias), expected[key]):
            assert got.dtype == want.dtype and np.array_equal(got, want)
        assert stored.true_reading == READINGS["cudnn"]
        assert layer.weights(direction).equals(read_stored(*expected[key], READINGS["cudnn"]))
    assert any("8H bias" in n for n in model.notes)
    assert any("concat" in n for n in model.notes)


@pytest.mark.parametrize("spelling", ["prefix", "index", "data", "folder"])
def test_every_spelling_of_the_path_loads_the_same(tf2_stacked, spelling):
    prefix, expected = tf2_stacked
    path = {"prefix": prefix, "index": prefix + ".index",
            "data": prefix + ".data-00000-of-00001", "folder": os.path.dirname(prefix)}[spelling]
    model = load_checkpoint(path)
    assert model.source == prefix
    assert np.array_equal(_stored(model.layers[0]).kernel, expected["first"][0])


def test_merge_mode_and_layer_options(tf2_stacked):
    prefix, _ = tf2_stacked
    names = [l.name for l in load_checkpoint(prefix).layers]
    model = load_checkpoint(prefix, merge_mode="sum", recurrent_activation="hard_sigmoid",
                            layers=names[1], activation=None)
    first, second = model.layers
    assert second.merge_mode == "sum" and second.output_size == 2
    assert second.weights("backward").recurrent_activation == "hard_sigmoid"
    assert first.recurrent_activation == "sigmoid"  # not named in layers=
    assert any(n.startswith("options ") and names[1] in n for n in model.notes)


def test_save_weights_tf_format_and_dense_between_ends_the_chain(tmp_path):
    """``model.save_weights`` names (no ``model/`` prefix); a Dense between two recurrent layers
    is not identity, so the runnable chain stops before it."""
    rng = np.random.default_rng(1)
    model = tf_keras.Sequential([
        tf_keras.layers.InputLayer(input_shape=(None, 2)),
        CuDNNLSTM(3, return_sequences=True),
        tf_keras.layers.Dense(5),
        CuDNNLSTM(2, return_sequences=True),
    ])
    _randomise(model.layers, rng)
    model.save_weights(str(tmp_path / "w"))
    loaded = load_checkpoint(tmp_path / "w")
    assert [(l.input_size, l.units) for l in loaded.layers] == [(2, 3), (5, 2)]
    assert loaded.layers[0].feeds_next is False
    assert len(loaded.chain) == 1
    assert np.array_equal(_stored(loaded.layers[1]).bias, model.layers[2].get_weights()[2])


def test_keras_lstm_gru_and_overrides(tmp_path):
    """A 4H-bias LSTM is read as Keras LSTM (x @ kernel, sigmoid by default, with a note);
    a GRU (2, 3H) bias is read as Keras GRU(reset_after=True) and runs as Keras runs it;
    overrides change the reading."""
    rng = np.random.default_rng(2)
    model = tf_keras.Sequential([
        tf_keras.layers.InputLayer(input_shape=(None, 2)),
        tf_keras.layers.LSTM(3, return_sequences=True),
        tf_keras.layers.GRU(2, return_sequences=True),
    ])
    _randomise(model.layers, rng)
    prefix = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))

    loaded = load_checkpoint(prefix)
    lstm, gru = loaded.layers
    assert lstm.kind == "LSTM" and _stored(lstm).true_reading == READINGS["keras"]
    assert lstm.recurrent_activation == "sigmoid"
    assert any("hard_sigmoid" in n for n in loaded.notes)
    k, r, b = model.layers[0].get_weights()
    assert lstm.weights().equals(read_stored(k, r, b, READINGS["keras"]))
    assert gru.kind == "GRU" and gru.cell == "gru" and gru.runnable
    assert gru.directions["forward"].reset_after is True
    assert (gru.input_size, gru.units) == (3, 2)
    assert len(loaded.chain) == 2
    from lstm_inspector import run_reference

    x = rng.standard_normal((9, 2)).astype(np.float32)
    np.testing.assert_allclose(run_reference(loaded, x).output,
                               model.predict(x[None], verbose=0)[0], atol=2e-6, rtol=0)

    hard = load_checkpoint(prefix, recurrent_activation="hard_sigmoid")
    assert hard.layers[0].weights().recurrent_activation == "hard_sigmoid"
    as_cudnn = load_checkpoint(prefix, kind="CuDNNLSTM")
    assert _stored(as_cudnn.layers[0]).true_reading == READINGS["cudnn"]
    assert as_cudnn.layers[0].weights().equals(read_stored(k, r, b, READINGS["cudnn"]))


# ---- TF 1.x Saver -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def tf1_saver(tmp_path_factory):
    """Graph mode, scope ``encoder``: CuDNNLSTM(4) on width 3, Bidirectional(CuDNNLSTM(2)),
    CuDNNLSTM(5); each built under its own name as calling it in TF 1.x would scope it (the
    CudnnRNN op itself has no CPU kernel, so the layers are built, not called). Adam and
    Momentum slots sit beside the weights."""
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("tf1")
    values = {}
    with tf.Graph().as_default():
        first = CuDNNLSTM(4, return_sequences=True)
        bidi = tf.compat.v1.keras.layers.Bidirectional(CuDNNLSTM(2, return_sequences=True))
        last = CuDNNLSTM(5)
        with tf.compat.v1.variable_scope("encoder"):
            for layer, width in ((first, 3), (bidi, 4), (last, 4)):
                with tf.compat.v1.variable_scope(layer.name):
                    layer.build((None, None, width))
        variables = tf.compat.v1.trainable_variables()
        loss = tf.add_n([tf.reduce_sum(v) for v in variables])
        train = [tf.compat.v1.train.AdamOptimizer().minimize(loss),
                 tf.compat.v1.train.MomentumOptimizer(0.1, 0.9).minimize(loss)]
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            for v in variables:
                value = rng.normal(size=v.shape.as_list()).astype(np.float32)
                v.load(value, session)
                values[v.op.name] = value
            session.run(train[0])  # slots now differ from zero; weights move, so re-load them
            for v in variables:
                v.load(values[v.op.name], session)
            prefix = saver.save(session, str(folder / "model.ckpt"))
        names = {"first": f"encoder/{first.name}", "bidi": f"encoder/{bidi.name}",
                 "forward": f"encoder/{bidi.name}/{bidi.forward_layer.name}",
                 "backward": f"encoder/{bidi.name}/{bidi.backward_layer.name}",
                 "last": f"encoder/{last.name}"}
    return prefix, values, names


def test_tf1_saver_checkpoint(tf1_saver):
    prefix, values, names = tf1_saver
    shapes = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    assert any(n.endswith("/kernel/Adam") for n in shapes) and any(n.endswith("/Momentum") for n in shapes)

    model = load_checkpoint(prefix)
    assert [l.name for l in model.layers] == [names["first"], names["bidi"], names["last"]]
    assert [(l.input_size, l.units, l.bidirectional) for l in model.layers] == [
        (3, 4, False), (4, 2, True), (4, 5, False)]
    assert len(model.chain) == 3
    # the names alone sort "bidirectional" before "cu_dnnlstm": the widths fixed the order
    assert any("matching widths" in n for n in model.notes)

    scopes = {("first", "forward"): names["first"], ("bidi", "forward"): names["forward"],
              ("bidi", "backward"): names["backward"], ("last", "forward"): names["last"]}
    by_key = {"first": model.layers[0], "bidi": model.layers[1], "last": model.layers[2]}
    for (key, direction), scope in scopes.items():
        saved = [values[f"{scope}/{leaf}"] for leaf in ("kernel", "recurrent_kernel", "bias")]
        stored = _stored(by_key[key], direction)
        for got, want in zip((stored.kernel, stored.recurrent_kernel, stored.bias), saved):
            assert np.array_equal(got, want)
        assert by_key[key].weights(direction).equals(read_stored(*saved, READINGS["cudnn"]))


def _save_graph_variables(prefix, arrays: dict):
    """A TF 1.x Saver checkpoint of variables named and valued as ``arrays``."""
    with tf.Graph().as_default():
        variables = [tf.compat.v1.get_variable(name, initializer=tf.constant(value))
                     for name, value in arrays.items()]
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.variables_initializer(variables))
            return tf.compat.v1.train.Saver(variables).save(session, str(prefix))


def test_raw_build_suffixes_are_separate_layers(tmp_path):
    """Layers built in one scope without their own name: ``rnn/kernel``, ``rnn/kernel_1``."""
    rng = np.random.default_rng(4)
    arrays = {}
    for suffix, (n_in, units) in (("", (3, 2)), ("_1", (2, 2))):
        arrays[f"rnn/kernel{suffix}"] = rng.normal(size=(n_in, 4 * units)).astype(np.float32)
        arrays[f"rnn/recurrent_kernel{suffix}"] = rng.normal(size=(units, 4 * units)).astype(np.float32)
        arrays[f"rnn/bias{suffix}"] = rng.normal(size=(8 * units,)).astype(np.float32)
    model = load_checkpoint(_save_graph_variables(tmp_path / "model.ckpt", arrays))
    assert [(l.input_size, l.units) for l in model.layers] == [(3, 2), (2, 2)]
    assert np.array_equal(_stored(model.layers[1]).kernel, arrays["rnn/kernel_1"])


def _contrib_canonical(weights: LSTMWeights):
    """What CudnnLSTM's saver writes for one direction: ``transpose(concat([W_g | R_g] for g in
    i, c, f, o))`` of shape (in + H, 4H) and the summed biases in the same gate order."""
    order = "icfo"
    stitched = np.concatenate(
        [np.concatenate([weights.weight_ih[weights.gate_rows(g)], weights.weight_hh[weights.gate_rows(g)]],
                        axis=1) for g in order], axis=0).T  # (in + H, 4H)
    bias = np.concatenate([weights.bias_ih[weights.gate_rows(g)] + weights.bias_hh[weights.gate_rows(g)]
                           for g in order])
    return np.ascontiguousarray(stitched), bias


def _random_weights(rng, n_in, units):
    return LSTMWeights(*(rng.normal(size=s).astype(np.float32)
                         for s in ((4 * units, n_in), (4 * units, units), (4 * units,), (4 * units,))))


def test_contrib_cudnn_lstm_canonical_tensors(tmp_path):
    rng = np.random.default_rng(5)
    cells = [_random_weights(rng, 3, 4), _random_weights(rng, 4, 4)]
    arrays = {"cudnn_lstm/opaque_kernel": rng.normal(size=(500,)).astype(np.float32)}
    for k, weights in enumerate(cells):
        kernel, bias = _contrib_canonical(weights)
        scope = f"cudnn_lstm/rnn/multi_rnn_cell/cell_{k}/cudnn_compatible_lstm_cell"
        arrays[f"{scope}/kernel"], arrays[f"{scope}/bias"] = kernel, bias
    model = load_checkpoint(_save_graph_variables(tmp_path / "model.ckpt", arrays))
    assert [(l.kind, l.input_size, l.units) for l in model.layers] == [("CudnnLSTM", 3, 4), ("CudnnLSTM", 4, 4)]
    assert len(model.chain) == 2
    assert any("opaque_kernel" in n for n in model.notes)
    for layer, weights in zip(model.layers, cells):
        got = layer.weights()
        assert np.array_equal(got.weight_ih, weights.weight_ih)
        assert np.array_equal(got.weight_hh, weights.weight_hh)
        assert np.array_equal(got.bias_ih + got.bias_hh, weights.bias_ih + weights.bias_hh)


def test_contrib_bidirectional_canonical_tensors(tmp_path):
    rng = np.random.default_rng(6)
    fw, bw = _random_weights(rng, 3, 2), _random_weights(rng, 3, 2)
    arrays = {}
    for tag, weights in (("fw", fw), ("bw", bw)):
        kernel, bias = _contrib_canonical(weights)
        scope = f"cudnn_lstm/stack_bidirectional_rnn/cell_0/bidirectional_rnn/{tag}/cudnn_compatible_lstm_cell"
        arrays[f"{scope}/kernel"], arrays[f"{scope}/bias"] = kernel, bias
    (layer,) = load_checkpoint(_save_graph_variables(tmp_path / "model.ckpt", arrays)).layers
    assert layer.bidirectional and layer.merge_mode == "concat"
    assert np.array_equal(layer.weights("backward").weight_hh, bw.weight_hh)
    assert np.array_equal(layer.weights("forward").weight_ih, fw.weight_ih)


# ---- what a user can get wrong -----------------------------------------------------------
def test_opaque_kernel_alone_is_refused(tmp_path):
    prefix = _save_graph_variables(tmp_path / "model.ckpt",
                                   {"cudnn_lstm/opaque_kernel": np.zeros(96, np.float32)})
    with pytest.raises(InspectorError, match="opaque_kernel") as error:
        load_checkpoint(prefix)
    _assert_one_sentence(error)


def test_no_lstm_variables(tmp_path):
    prefix = _save_graph_variables(tmp_path / "model.ckpt", {
        "dense/kernel": np.ones((3, 2), np.float32), "dense/bias": np.ones(2, np.float32)})
    with pytest.raises(InspectorError, match="no LSTM variables") as error:
        load_checkpoint(prefix)
    _assert_one_sentence(error)


def test_garbage_index_file(tmp_path):
    (tmp_path / "model.ckpt.index").write_bytes(b"this is not an sstable" * 20)
    (tmp_path / "model.ckpt.data-00000-of-00001").write_bytes(b"\0" * 64)
    for path in (tmp_path / "model.ckpt.index", tmp_path / "model.ckpt", tmp_path):
        with pytest.raises(InspectorError, match="not a readable TensorFlow checkpoint") as error:
            load_checkpoint(path)
        _assert_one_sentence(error)


def test_missing_prefix_and_empty_folder(tmp_path):
    with pytest.raises(InspectorError, match="no TensorFlow checkpoint at") as error:
        load_checkpoint(tmp_path / "nothing.ckpt")
    _assert_one_sentence(error)
    with pytest.raises(InspectorError, match="no TensorFlow checkpoint") as error:
        load_checkpoint(tmp_path)
    _assert_one_sentence(error)


def test_truncated_data_shard(tf2_stacked, tmp_path):
    prefix, _ = tf2_stacked
    import shutil

    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(prefix + suffix, tmp_path / ("cut" + suffix))
    data = tmp_path / "cut.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:40])
    with pytest.raises(InspectorError, match="missing or corrupt") as error:
        load_checkpoint(tmp_path / "cut")
    _assert_one_sentence(error)


@pytest.mark.parametrize("overrides, match", [
    ({"units": 4}, "unknown option"),
    ({"merge_mode": "max"}, "merge mode 'max'"),
    ({"kind": "LSTM", "layers": ["nope"]}, "no recurrent layer named nope"),
    ({"kind": "GRU"}, "kind 'GRU'"),
    ({"recurrent_activation": "banana"}, "activation 'banana'"),
])
def test_bad_overrides(tf2_stacked, overrides, match):
    with pytest.raises(InspectorError, match=match):
        load_checkpoint(tf2_stacked[0], **overrides)


def test_module_import_does_not_load_tensorflow():
    code = ("import sys, lstm_inspector.io.tf_checkpoint; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported at module level'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
