"""Keras HDF5 loading: real files written here by tf-keras, files rewritten to look like old
writers, and real files written by other people (``realdata``).

Each loaded array is checked by value against ``layer.get_weights()`` of the model that wrote
the file, and canonical weights against tf-keras's own CuDNNLSTM -> LSTM converter.
"""
import json
import shutil

import h5py
import numpy as np
import pytest

from lstm_inspector.core.weights import READINGS
from lstm_inspector.errors import InspectorError, UnsupportedLayerError
from lstm_inspector.io import keras_h5
from lstm_inspector.io.models import _checkpoint_target, load_model

import model_files as mf


def assert_stored(layer, arrays, cudnn=True):
    """The loaded directions hold exactly ``arrays`` (get_weights order: fwd [, bwd])."""
    per = len(arrays) // len(layer.directions)
    for k, direction in enumerate(("forward", "backward")[:len(layer.directions)]):
        stored = layer.directions[direction]
        got = [stored.kernel, stored.recurrent_kernel, stored.bias]
        want = list(arrays[k * per:(k + 1) * per])
        if len(want) == 2:  # use_bias=False
            want.append(np.zeros(want[0].shape[1], want[0].dtype))
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and np.array_equal(g, w)
        assert stored.true_reading == (READINGS["cudnn"] if cudnn else READINGS["keras"])


def tf_keras_converted(target_layer, weights, input_size):
    """What tf-keras's loader makes of CuDNNLSTM ``weights`` for ``target_layer`` (LSTM)."""
    from tf_keras.src.saving.legacy import hdf5_format

    target_layer.build((None, None, input_size))
    return hdf5_format.preprocess_weights_for_loading(target_layer, list(weights))


# ---- CuDNNLSTM -------------------------------------------------------------------------------
@pytest.mark.parametrize("functional", [False, True])
@pytest.mark.parametrize("weights_only", [False, True])
def test_single_cudnn_layer_reads_stored_arrays_and_matches_keras_converter(
        tmp_path, functional, weights_only):
    written = mf.write_cudnn_model(tmp_path, input_size=3, units=5, functional=functional,
                                   weights_only=weights_only)
    model = load_model(written.path)
    assert model.file_format == ("keras-h5-weights" if weights_only else "keras-h5")
    (layer,) = model.layers
    assert (layer.kind, layer.input_size, layer.units) == ("CuDNNLSTM", 3, 5)
    assert (layer.activation, layer.recurrent_activation) == ("tanh", "sigmoid")
    assert_stored(layer, written.weights[0])
    K = mf.keras()
    expected = tf_keras_converted(K.layers.LSTM(5), written.weights[0], 3)
    for got, want in zip(layer.weights().to_keras_lstm(), expected):
        np.testing.assert_array_equal(got, want)
    assert model.chain == (layer,)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_cudnn_each_merge_mode(tmp_path, merge_mode):
    stacked = 1 if merge_mode is None else 2
    written = mf.write_cudnn_model(tmp_path, input_size=3, units=4, bidirectional=True,
                                   merge_mode=merge_mode, stacked=stacked)
    model = load_model(written.path)
    assert [l.name for l in model.layers] == written.names
    first = model.layers[0]
    assert first.bidirectional and first.merge_mode == merge_mode
    assert_stored(first, written.weights[0])
    K = mf.keras()
    target = K.layers.Bidirectional(K.layers.LSTM(4, return_sequences=True),
                                    merge_mode=merge_mode)
    expected = tf_keras_converted(target, written.weights[0], 3)
    got = list(first.weights("forward").to_keras_lstm()) + list(
        first.weights("backward").to_keras_lstm())
    for g, w in zip(got, expected):
        np.testing.assert_array_equal(g, w)
    if stacked == 2:
        second = model.layers[1]
        assert second.input_size == (8 if merge_mode == "concat" else 4)
        assert_stored(second, written.weights[1])
    assert len(model.chain) == stacked


def test_stacked_cudnn_with_dropout_chains_all_layers(tmp_path):
    written = mf.write_cudnn_model(tmp_path, input_size=2, units=3, stacked=3)
    model = load_model(written.path)
    assert [l.name for l in model.layers] == written.names
    assert [l.input_size for l in model.layers] == [2, 3, 3]
    assert all(l.feeds_next for l in model.layers[:-1])
    assert len(model.chain) == 3
    for layer, arrays in zip(model.layers, written.weights):
        assert_stored(layer, arrays)


@pytest.mark.parametrize("weights_only", [False, True])
def test_nested_model_weights_sit_under_the_outer_layer(tmp_path, weights_only):
    written = mf.write_cudnn_model(tmp_path, input_size=3, units=4, stacked=2, nested=True,
                                   weights_only=weights_only)
    model = load_model(written.path)
    assert len(model.layers) == 2
    if not weights_only:
        assert [l.name for l in model.layers] == written.names
        assert len(model.chain) == 2
    for layer, arrays in zip(model.layers, written.weights):
        assert_stored(layer, arrays)


# ---- Keras LSTM, RNN cells, GRU --------------------------------------------------------------
@pytest.mark.parametrize("recurrent_activation", ["hard_sigmoid", "relu"])
def test_keras_lstm_activations_come_from_config(tmp_path, recurrent_activation):
    written = mf.write_keras_lstm_model(tmp_path, recurrent_activation=recurrent_activation,
                                        activation="softsign", stacked=2)
    model = load_model(written.path)
    for layer, arrays in zip(model.layers, written.weights):
        assert (layer.kind, layer.activation) == ("LSTM", "softsign")
        assert layer.recurrent_activation == recurrent_activation
        assert_stored(layer, arrays, cudnn=False)
        for got, want in zip(layer.weights().to_keras_lstm(), arrays):
            np.testing.assert_array_equal(got, want)


def test_rnn_lstmcell_and_no_bias_and_go_backwards(tmp_path):
    written = mf.write_keras_lstm_model(tmp_path, recurrent_activation="sigmoid", cell=True,
                                        use_bias=False, go_backwards=True)
    (layer,) = load_model(written.path).layers
    assert layer.name == written.names[0] and layer.kind == "LSTM" and layer.go_backwards
    assert not layer.directions["forward"].bias.any()
    assert_stored(layer, written.weights[0], cudnn=False)


def test_rnn_stacked_cells_become_stacked_layers(tmp_path):
    written = mf.write_stacked_cells_model(tmp_path, input_size=3, units=(4, 2))
    model = load_model(written.path)
    assert [(l.input_size, l.units) for l in model.layers] == [(3, 4), (4, 2)]
    assert len(model.chain) == 2
    arrays = written.weights[0]
    assert_stored(model.layers[0], arrays[:3], cudnn=False)
    assert_stored(model.layers[1], arrays[3:], cudnn=False)


def test_dense_between_recurrent_layers_ends_the_chain(tmp_path):
    written = mf.write_keras_lstm_model(tmp_path, input_size=3, units=4, stacked=2,
                                        between=lambda K: K.layers.Dense(4))
    model = load_model(written.path)
    assert [l.feeds_next for l in model.layers] == [False, True]
    assert len(model.chain) == 1
    assert model.sub_model(1).chain[0].name == written.names[1]


@pytest.mark.parametrize("cudnn", [False, True])
def test_gru_then_lstm_runs_as_one_chain(tmp_path, cudnn):
    """A GRU (or CuDNNGRU) feeding an LSTM: both runnable, arrays as stored (tests/test_gru.py
    checks what they compute against Keras)."""
    written = mf.write_gru_model(tmp_path, input_size=3, units=4, cudnn=cudnn)
    model = load_model(written.path)
    gru, lstm = model.layers
    kind = "CuDNNGRU" if cudnn else "GRU"
    assert gru.kind == kind and gru.cell == "gru" and gru.runnable and lstm.cell == "lstm"
    assert (gru.input_size, gru.units) == (3, 4)
    assert len(model.chain) == 2
    stored = gru.directions["forward"]
    for got, want in zip((stored.kernel, stored.recurrent_kernel, stored.bias), written.weights[0]):
        assert np.array_equal(got, want)
    assert_stored(lstm, written.weights[1], cudnn=False)


def test_weights_only_gru_is_inferred_from_shapes(tmp_path):
    written = mf.write_gru_model(tmp_path, cudnn=True, weights_only=True)
    gru, lstm = load_model(written.path).layers
    assert gru.kind == "CuDNNGRU" and gru.runnable and gru.cell == "gru"
    assert lstm.kind == "LSTM" and lstm.runnable


def test_simple_rnn_is_recognised_but_unsupported(tmp_path):
    K = mf.keras()
    model = K.Sequential([K.layers.InputLayer(input_shape=(None, 3)),
                          K.layers.SimpleRNN(4, return_sequences=True)])
    written = mf.save(model, tmp_path, "simple.h5")
    layer = load_model(written.path).layers[0]
    assert layer.kind == "SimpleRNN" and not layer.runnable
    assert layer.unsupported == ("SimpleRNN layers are not supported yet; only LSTM, CuDNNLSTM, "
                                 "GRU and CuDNNGRU layers can be inspected")
    with pytest.raises(UnsupportedLayerError):
        layer.weights()


# ---- weights-only files and overrides --------------------------------------------------------
def test_weights_only_lstm_defaults_to_sigmoid_with_a_note_and_overrides(tmp_path):
    written = mf.write_keras_lstm_model(tmp_path, stacked=2, weights_only=True,
                                        recurrent_activation="hard_sigmoid")
    model = load_model(written.path)
    assert [l.recurrent_activation for l in model.layers] == ["sigmoid", "sigmoid"]
    assert any("recurrent activation sigmoid" in a and "--recurrent-activation" in a
               for a in model.assumptions)
    assert any("the tool assumed" in n for n in model.notes)
    for layer, arrays in zip(model.layers, written.weights):
        assert_stored(layer, arrays, cudnn=False)
    fixed = load_model(written.path, recurrent_activation="hard_sigmoid")
    assert [l.recurrent_activation for l in fixed.layers] == ["hard_sigmoid"] * 2
    one = load_model(written.path, recurrent_activation="relu", layers=[model.layers[1].name])
    assert [l.recurrent_activation for l in one.layers] == ["sigmoid", "relu"]
    as_cudnn = load_model(written.path, kind="CuDNNLSTM")
    assert all(l.kind == "CuDNNLSTM" and l.directions["forward"].true_reading
               == READINGS["cudnn"] for l in as_cudnn.layers)
    with pytest.raises(InspectorError, match="unknown option"):
        load_model(written.path, recurent_activation="sigmoid")
    with pytest.raises(InspectorError, match="not 'CuDNNLSTM' or 'LSTM'"):
        load_model(written.path, kind="GRU")
    with pytest.raises(InspectorError, match="no recurrent layer named"):
        load_model(written.path, layers=["nope"], activation="relu")


def test_weights_only_bidirectional_assumes_concat(tmp_path):
    written = mf.write_cudnn_model(tmp_path, bidirectional=True, merge_mode="sum",
                                   weights_only=True)
    model = load_model(written.path)
    (layer,) = model.layers
    assert layer.kind == "CuDNNLSTM" and layer.merge_mode == "concat"
    assert any("merge mode concat" in a and "--merge-mode" in a for a in model.assumptions)
    assert_stored(layer, written.weights[0])
    assert load_model(written.path, merge_mode="sum").layers[0].merge_mode == "sum"
    assert load_model(written.path, merge_mode="none").layers[0].merge_mode is None


# ---- old writers, emulated by rewriting a saved file ------------------------------------------
def emulate_old_writer(src, dst, version):
    """Rewrite a tf-keras file as Keras <= 2.2 wrote it: bytes attributes, weight names without
    ``:0``, chunked ``layer_names0/1`` and ``weight_names0/1``, a list-style Sequential config
    and LSTM configs without ``recurrent_activation``."""
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        layers = [e for e in config["config"]["layers"] if e["class_name"] != "InputLayer"]
        layers[0]["config"]["batch_input_shape"] = [None, None, 3]
        for entry in layers:
            entry["config"].pop("recurrent_activation", None)
        config["config"] = layers  # Keras 2.0/2.1: Sequential config is the layer list
        for name, value in (("model_config", json.dumps(config)), ("keras_version", version),
                            ("backend", "tensorflow")):
            f.attrs[name] = np.bytes_(value)
        weights = f["model_weights"]
        weights.attrs["keras_version"] = np.bytes_(version)
        names = [keras_h5.text(n) for n in weights.attrs["layer_names"]]
        del weights.attrs["layer_names"]
        weights.attrs["layer_names0"] = np.array([n.encode() for n in names[:2]])
        weights.attrs["layer_names1"] = np.array([n.encode() for n in names[2:]])
        for name in names:
            group = weights[name]
            old = [keras_h5.text(n) for n in group.attrs["weight_names"]]
            if not old:
                continue
            new = []
            for weight in old:
                group.move(weight, weight.replace(":0", ""))
                new.append(weight.replace(":0", "").encode())
            del group.attrs["weight_names"]
            group.attrs["weight_names0"] = np.array(new[:1])
            group.attrs["weight_names1"] = np.array(new[1:])
    return dst


@pytest.mark.parametrize("version, expected", [("2.1.6", "hard_sigmoid"),
                                               ("2.2.4-tf", "hard_sigmoid"),
                                               ("2.3.1", "sigmoid")])
def test_old_writer_file_defaults_recurrent_activation_by_version(tmp_path, version, expected):
    written = mf.write_keras_lstm_model(tmp_path, recurrent_activation="relu", stacked=2)
    path = emulate_old_writer(written.path, tmp_path / f"old-{version}.h5", version)
    with h5py.File(path, "r") as f:  # the emulation really wrote old-style attributes
        assert isinstance(f.attrs["keras_version"], bytes) and "layer_names" not in \
            f["model_weights"].attrs
    model = load_model(path)
    assert model.keras_version == version
    assert [l.name for l in model.layers] == written.names
    assert [l.recurrent_activation for l in model.layers] == [expected, expected]
    assert any(f"keras {version} file" in n and expected in n for n in model.notes)
    for layer, arrays in zip(model.layers, written.weights):
        assert_stored(layer, arrays, cudnn=False)
    assert len(model.chain) == 2


# ---- Keras 3 format ----------------------------------------------------------------------------
def test_dot_keras_zip_written_by_tf_keras(tmp_path):
    K = mf.keras()
    inner = K.Sequential([K.layers.LSTM(2, return_sequences=True, input_shape=(None, 8))],
                         name="inner")
    x = K.layers.Input((None, 3))
    y = K.layers.Bidirectional(K.layers.LSTM(4, return_sequences=True,
                                             recurrent_activation="relu"))(x)
    model = K.Model(x, K.layers.Dense(1)(inner(K.layers.Dropout(0.1)(y))))
    mf.randomize(model, seed=3)
    path = tmp_path / "m.keras"
    model.save(str(path))
    loaded = load_model(path)
    assert loaded.file_format == "keras-v3"
    bi, lstm = loaded.layers
    assert bi.bidirectional and bi.recurrent_activation == "relu"
    assert_stored(bi, model.layers[1].get_weights(), cudnn=False)
    assert_stored(lstm, inner.layers[0].get_weights(), cudnn=False)
    assert len(loaded.chain) == 2


# ---- real files written by other people --------------------------------------------------------
def test_poreplex_keras224tf_file(realdata):
    path = realdata / "models" / "poreplex-scaler-r3-keras224tf-lstm.hdf5"
    model = load_model(path)
    assert model.keras_version == "2.2.4-tf"
    chain = model.chain
    assert [(l.name, l.input_size, l.units) for l in chain] == [("lstm_1", 1, 48),
                                                                  ("lstm_2", 48, 48)]
    with h5py.File(path, "r") as f:
        for layer in chain:
            group = f["model_weights"][layer.name][layer.name]
            stored = layer.directions["forward"]
            for leaf in ("kernel", "recurrent_kernel", "bias"):
                np.testing.assert_array_equal(getattr(stored, leaf), group[f"{leaf}:0"][()])
    assert (chain[0].activation, chain[0].recurrent_activation) == ("tanh", "sigmoid")


def test_frugally_deep_variants_file(realdata):
    path = realdata / "models" / "frugally-deep-lstm-variants-keras225.h5"
    model = load_model(path)
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
    expected = {}
    for entry in config["config"]["layers"]:
        inner = entry["config"].get("layer", {}).get("config", entry["config"])
        if "recurrent_activation" in inner:
            expected[entry["name"]] = (inner["activation"], inner["recurrent_activation"],
                                       entry["class_name"] == "Bidirectional")
    assert [l.name for l in model.layers] == list(expected)
    for layer in model.layers:
        activation, recurrent, bidirectional = expected[layer.name]
        assert (layer.activation, layer.recurrent_activation) == (activation, recurrent)
        assert layer.bidirectional == bidirectional and layer.runnable
    assert {"relu", "hard_sigmoid", "linear"} <= {l.recurrent_activation for l in model.layers}
    # lstm_1 feeds lstm_2 only: bidirectional_1, next in the file, reads input_1 instead
    assert [l.name for l in model.chain] == ["lstm_1"]
    assert any("initial state" in n for n in model.notes)


# ---- bad inputs --------------------------------------------------------------------------------
def test_truncated_h5(tmp_path):
    written = mf.write_cudnn_model(tmp_path)
    data = written.path.read_bytes()
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InspectorError, match="damaged or truncated"):
        load_model(bad)


def test_h5_without_recurrent_layer(tmp_path):
    written = mf.write_dense_model(tmp_path)
    with pytest.raises(InspectorError, match="has no recurrent layer"):
        load_model(written.path)


def test_text_file_renamed_h5_and_other_non_models(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("this is not a model\n")
    with pytest.raises(InspectorError, match="is not a Keras HDF5 file or a TensorFlow checkpoint"):
        load_model(text)
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(InspectorError, match="is empty"):
        load_model(empty)
    with pytest.raises(InspectorError, match="does not exist"):
        load_model(tmp_path / "missing.h5")
    with pytest.raises(InspectorError, match="is a folder"):
        load_model(tmp_path)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(InspectorError, match="not a Keras model or weights file"):
        load_model(plain)


def test_checkpoint_paths_are_recognised(tmp_path):
    (tmp_path / "model.ckpt-10.index").write_bytes(b"x")
    (tmp_path / "model.ckpt-10.data-00000-of-00001").write_bytes(b"x")
    prefix = tmp_path / "model.ckpt-10"
    assert _checkpoint_target(prefix) == prefix
    assert _checkpoint_target(tmp_path / "model.ckpt-10.index") == tmp_path / "model.ckpt-10.index"
    assert _checkpoint_target(tmp_path / "model.ckpt-10.data-00000-of-00001") == prefix
    (tmp_path / "model.ckpt-10.meta").write_bytes(b"x")
    assert _checkpoint_target(tmp_path / "model.ckpt-10.meta") == prefix
    assert _checkpoint_target(tmp_path) == tmp_path
    assert _checkpoint_target(tmp_path / "other.h5") is None


def test_lambda_layer_is_never_executed(tmp_path):
    marker = tmp_path / "lambda-ran.txt"
    written = mf.write_lambda_model(tmp_path, marker)
    assert marker.exists()  # building the model ran it: the marker works
    marker.unlink()
    model = load_model(written.path)
    assert not marker.exists()
    (layer,) = model.layers
    assert_stored(layer, written.weights[0], cudnn=False)
    assert layer.feeds_next


def test_masking_before_lstm_is_read_as_the_models_mask(tmp_path):
    K = mf.keras()
    model = K.Sequential([K.layers.Masking(mask_value=0.0, input_shape=(None, 3)),
                          K.layers.LSTM(4, return_sequences=True)])
    written = mf.save(model, tmp_path, "masking.h5")
    loaded = load_model(written.path)
    assert loaded.mask_value == 0.0
    assert any("Masking" in n and "mask value 0" in n and "carry h and c" in n
               for n in loaded.notes)
    assert_stored(loaded.layers[0], written.weights[0], cudnn=False)


# ---- config details ----------------------------------------------------------------------------
def test_activation_names_from_strings_and_keras3_dicts():
    from lstm_inspector.io.keras_config import activation_name

    assert activation_name("relu", "tanh") == "relu"
    assert activation_name(None, "tanh") == "tanh"
    assert activation_name({"module": "keras.activations", "class_name": "function",
                            "config": "hard_sigmoid", "registered_name": "hard_sigmoid"},
                           None) == "hard_sigmoid"
    assert activation_name({"class_name": "HardSigmoid", "config": {}}, None) == "hard_sigmoid"
    assert activation_name({"module": "keras.activations", "registered_name": "softsign"},
                           None) == "softsign"


def test_dict_activations_and_unknown_activation_in_a_file(tmp_path):
    written = mf.write_keras_lstm_model(tmp_path, recurrent_activation="sigmoid", stacked=2)
    with h5py.File(written.path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        first, second = [e for e in config["config"]["layers"] if e["class_name"] == "LSTM"]
        first["config"]["activation"] = {"module": "keras.activations", "class_name": "function",
                                         "config": "relu", "registered_name": "relu"}
        first["config"]["recurrent_activation"] = {"class_name": "HardSigmoid", "config": {}}
        second["config"]["recurrent_activation"] = "my_custom_gate"
        f.attrs["model_config"] = json.dumps(config)
    model = load_model(written.path)
    one, two = model.layers
    assert (one.activation, one.recurrent_activation) == ("relu", "hard_sigmoid")
    assert not two.runnable and "my_custom_gate" in two.unsupported
    assert len(model.chain) == 1


def test_load_model_hands_checkpoints_to_the_checkpoint_loader(tmp_path):
    K = mf.keras()
    import tensorflow as tf

    model = K.Sequential([K.layers.InputLayer(input_shape=(None, 3)), mf.cudnn_lstm(4)])
    mf.randomize(model)
    prefix = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    for given in (prefix, prefix + ".index"):
        loaded = load_model(given)
        assert loaded.file_format == "tf-checkpoint"
        assert [(l.kind, l.input_size, l.units) for l in loaded.layers] == [("CuDNNLSTM", 3, 4)]
