"""The bundled demo (``resources/``, made by ``tools/make_demo.py``) is what the app opens with no
arguments, so it must be real and right: a CuDNNLSTM model file that names its utterances right,
features that are what the app computes from the wavs, and a forum model that shows the thread's bug.

Predictions are computed the way TensorFlow itself would run the file on a CPU: a Keras ``LSTM``
model of the same architecture loading the CuDNNLSTM weights through Keras's own converter.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
DEMO = json.loads((RESOURCES / "demo.json").read_text())
WORDS = [u["word"] for u in DEMO["utterances"]]
MODEL = RESOURCES / DEMO["model"]
FORUM = RESOURCES / DEMO["forum"]["model"]
FORUM_INPUT = RESOURCES / DEMO["forum"]["features"]


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _h5(path):
    """(model_config, {layer: [arrays in weight_names order]}) read with h5py, no Keras."""
    import h5py

    with h5py.File(path, "r") as f:
        config = json.loads(_text(f.attrs["model_config"]))
        group = f["model_weights"]
        arrays = {}
        for name in map(_text, group.attrs["layer_names"]):
            names = [_text(n) for n in group[name].attrs["weight_names"]]
            arrays[name] = [group[name][n][()] for n in names]
    return config, arrays


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _run(kernel, recurrent_kernel, bias, x, layout):
    """h (T, H) of an LSTM on x (T, in), reading the stored arrays by ``layout``:
    ``"cudnn"``: z_g = kernel_block.reshape(H, in) @ x + recurrent_block @ h (docs/cudnn-lstm-facts.md);
    ``"naive"``: z = x @ kernel + h @ recurrent_kernel (the forum's port). Both add both bias halves."""
    n_in, four_h = kernel.shape
    units = four_h // 4
    blocks = [slice(g * units, (g + 1) * units) for g in range(4)]
    if layout == "cudnn":
        w = np.concatenate([kernel[:, s].reshape(units, n_in) for s in blocks]).T   # (in, 4H)
        r = np.concatenate([recurrent_kernel[:, s] for s in blocks]).T              # (H, 4H)
    else:
        w, r = kernel, recurrent_kernel
    b = bias[:4 * units] + bias[4 * units:]
    h, c, hs = np.zeros(units), np.zeros(units), []
    for x_t in np.asarray(x, dtype=np.float64):
        z = x_t @ w + h @ r + b                                                     # (4H,)
        i, f, g, o = (z[s] for s in blocks)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        hs.append(h)
    return np.array(hs)


@pytest.fixture(scope="module")
def keras_twin():
    """A CPU Keras model with the demo file's weights, converted by Keras from CuDNNLSTM layout."""
    import tf_keras

    config, arrays = _h5(MODEL)
    width = arrays["lstm_1"][0].shape[0]
    inputs = tf_keras.Input(shape=(None, width))
    h = inputs
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "CuDNNLSTM":
            cfg = layer["config"]
            h = tf_keras.layers.LSTM(cfg["units"], recurrent_activation="sigmoid",
                                     return_sequences=cfg["return_sequences"], name=cfg["name"])(h)
        elif layer["class_name"] == "Dense":
            cfg = layer["config"]
            h = tf_keras.layers.Dense(cfg["units"], activation=cfg["activation"], name=cfg["name"])(h)
    model = tf_keras.Model(inputs, h)
    model.load_weights(str(MODEL))
    return model


@pytest.fixture(scope="module")
def features():
    """{word: (features computed from the bundled wav, bundled npy)}."""
    from lstm_inspector.io.features import read_wav, wav_features

    out = {}
    for u in DEMO["utterances"]:
        signal, rate = read_wav(RESOURCES / u["wav"])
        out[u["word"]] = (wav_features(signal, rate, feature=DEMO["feature"]),
                          np.load(RESOURCES / u["npy"]))
    return out


def test_demo_json_names_bundled_files():
    assert DEMO["labels"] == ["zero", "one", "two", "three", "four", "five", "six", "seven",
                              "eight", "nine"]
    assert DEMO["word"] in WORDS and len(WORDS) >= 2
    assert DEMO["frame_shift"] == 0.01
    names = [DEMO["model"], DEMO["features"], DEMO["features_npy"], DEMO["forum"]["model"],
             DEMO["forum"]["features"]] + [u[k] for u in DEMO["utterances"] for k in ("wav", "npy", "htk")]
    for name in names:
        assert (RESOURCES / name).is_file(), name
    assert (RESOURCES / "README.md").is_file()


def test_model_file_is_a_full_cudnnlstm_model():
    config, arrays = _h5(MODEL)
    kinds = [layer["class_name"] for layer in config["config"]["layers"]]
    assert kinds == ["InputLayer", "CuDNNLSTM", "CuDNNLSTM", "Dense"]
    assert MODEL.stat().st_size < 1_000_000
    width = arrays["lstm_1"][0].shape[0]
    assert width == 13
    for name, n_in in (("lstm_1", width), ("lstm_2", arrays["lstm_1"][1].shape[0])):
        kernel, recurrent_kernel, bias = arrays[name]
        units = recurrent_kernel.shape[0]
        assert kernel.shape == (n_in, 4 * units)
        assert recurrent_kernel.shape == (units, 4 * units)
        assert bias.shape == (8 * units,)
        # like a CuDNNLSTM trained on a GPU, the two bias halves differ by unit_forget_bias
        forget = np.zeros(4 * units)
        forget[units:2 * units] = 1
        np.testing.assert_allclose(bias[4 * units:] - bias[:4 * units], forget, atol=1e-5)
    assert arrays["digit"][0].shape == (arrays["lstm_2"][1].shape[0], 10)


def test_model_file_loads_through_the_app():
    from lstm_inspector.io.models import load_model

    model = load_model(MODEL)
    assert [layer.kind for layer in model.layers] == ["CuDNNLSTM", "CuDNNLSTM"]
    assert model.input_size == 13
    assert [layer.name for layer in model.chain] == ["lstm_1", "lstm_2"]


def test_bundled_features_are_what_the_app_computes_from_the_wavs(features):
    from lstm_inspector.io.htk import read_htk

    for word, (from_wav, npy) in features.items():
        assert npy.dtype == np.float32 and npy.ndim == 2 and npy.shape[1] == 13
        assert from_wav.shape == npy.shape
        np.testing.assert_allclose(from_wav, npy, rtol=0, atol=1e-5, err_msg=word)
        htk, header, _ = read_htk(RESOURCES / f"demo_{word}.htk")
        assert header.kind_name == "MFCC" and header.samp_period == 100000
        np.testing.assert_array_equal(htk, npy)


def test_model_names_the_bundled_words_right(keras_twin, features):
    labels = DEMO["labels"]
    for word, (from_wav, npy) in features.items():
        for x in (from_wav, npy):
            p = keras_twin.predict(np.asarray(x, np.float32)[None], verbose=0)[0]
            assert labels[int(np.argmax(p))] == word, (word, p)
            assert p.max() > 0.5


def test_numpy_cudnn_layout_agrees_with_keras_converter(keras_twin, features):
    """The file read in cuDNN layout in NumPy gives Keras's answer; the naive reading does not."""
    _, arrays = _h5(MODEL)
    x = features[DEMO["word"]][1]
    dense_kernel, dense_bias = arrays["digit"]
    import tf_keras

    lstm_2 = tf_keras.Model(keras_twin.input, keras_twin.get_layer("lstm_2").output)
    expected = lstm_2.predict(x[None], verbose=0)[0]                          # (H,)
    h2 = _run(*arrays["lstm_2"], _run(*arrays["lstm_1"], x, "cudnn"), "cudnn")
    np.testing.assert_allclose(h2[-1], expected, atol=2e-5)
    naive = _run(*arrays["lstm_2"], _run(*arrays["lstm_1"], x, "naive"), "naive")
    assert np.abs(naive[-1] - expected).max() > 1e-2
    logits = h2[-1] @ dense_kernel + dense_bias
    assert DEMO["labels"][int(np.argmax(logits))] == DEMO["word"]


def test_app_reference_names_the_word(features):
    """The app's own NumPy pass over the demo gives the last LSTM output that picks the word."""
    from lstm_inspector.core.reference import run_reference
    from lstm_inspector.io.models import load_model

    _, arrays = _h5(MODEL)
    x = features[DEMO["word"]][1]
    trace = run_reference(load_model(MODEL), x, dtype="float64")
    h_last = trace.layer(1).h[-1]
    expected = _run(*arrays["lstm_2"], _run(*arrays["lstm_1"], x, "cudnn"), "cudnn")[-1]
    np.testing.assert_allclose(h_last, expected, atol=1e-9)
    logits = h_last @ arrays["digit"][0] + arrays["digit"][1]
    assert DEMO["labels"][int(np.argmax(logits))] == DEMO["word"]


def test_forum_model_reproduces_the_thread_pattern():
    """CuDNNLSTM(2) on 1-wide input: the naive port agrees at step 0 and drifts after."""
    import tf_keras

    config, arrays = _h5(FORUM)
    [layer] = [l for l in config["config"]["layers"] if l["class_name"] == "CuDNNLSTM"]
    assert layer["config"]["units"] == 2 and layer["config"]["return_sequences"]
    kernel, recurrent_kernel, bias = arrays[layer["config"]["name"]]
    assert (kernel.shape, recurrent_kernel.shape, bias.shape) == ((1, 8), (2, 8), (16,))
    x = np.load(FORUM_INPUT)
    assert x.shape == (10, 1) and x.dtype == np.float32

    true_h = _run(kernel, recurrent_kernel, bias, x, "cudnn")
    naive_h = _run(kernel, recurrent_kernel, bias, x, "naive")
    error = np.abs(true_h - naive_h).max(axis=1)
    assert error[0] < 1e-6
    assert error[1:].min() > 1e-5 and error[1:].max() > 1e-2

    inputs = tf_keras.Input(shape=(None, 1))
    cpu = tf_keras.Model(inputs, tf_keras.layers.LSTM(
        2, recurrent_activation="sigmoid", return_sequences=True,
        name=layer["config"]["name"])(inputs))
    cpu.load_weights(str(FORUM))
    np.testing.assert_allclose(cpu.predict(x[None], verbose=0)[0], true_h, atol=1e-6)


# The forum thread's printed numbers for n_coeffs_output = 2 (../shared/seed/forum-thread.md).
THREAD_NET_RUN = np.array([
    [-1.6811120e-05, -7.6083797e-01], [-5.3793984e-04, -9.5489222e-01],
    [-4.9301507e-03, -9.7488159e-01], [-2.7245175e-02, -9.5495248e-01],
    [-1.0828623e-01, -9.0503311e-01], [-2.8274482e-01, -8.2405442e-01],
    [-4.7703674e-01, -7.3043454e-01], [-6.2741107e-01, -6.1664152e-01],
    [-7.3953187e-01, -4.4329706e-01], [-8.0043334e-01, -1.7720392e-01]])
THREAD_NEWLSTM = np.array([
    [-1.68111220e-05, -7.60837996e-01], [-4.95224298e-04, -9.54892126e-01],
    [-4.78779e-03, -9.7487646e-01], [-2.719039e-02, -9.5483796e-01],
    [-1.0874437e-01, -9.0371213e-01], [-2.9537781e-01, -8.1501876e-01],
    [-5.2451342e-01, -6.9765331e-01], [-6.9437694e-01, -5.4462647e-01],
    [-7.9712232e-01, -3.1257828e-01], [-8.5020044e-01, -8.377024e-02]])


def test_app_reproduces_both_columns_of_the_forum_thread():
    """The app's reference on the forum file gives the thread's net.run output, and the naive
    reading started at each step from that run's state (as the poster did) gives its NewLSTM.

    What this proves, and what not: the thread does not publish its weights, so
    ``tools/make_demo.py`` *fitted* the bundled file's weights (least squares) to the thread's
    printed net.run column. Matching that column therefore proves the fit, not the engine. The
    engine is checked independently beside it: tf-keras itself, loading the bundled file into an
    ``LSTM`` through Keras's own CuDNNLSTM converter, gives the same column, and so does the
    app's reference; the NewLSTM column (never fitted) is what the naive reading predicts."""
    import tf_keras

    from lstm_inspector.core.reference import run_reference
    from lstm_inspector.io.models import load_model

    model = load_model(FORUM)
    x = np.load(FORUM_INPUT)
    true = run_reference(model, x, dtype="float32")
    np.testing.assert_allclose(true.layer(0).h, THREAD_NET_RUN, rtol=0, atol=1e-6)
    inputs = tf_keras.Input(shape=(None, 1))
    keras_lstm = tf_keras.Model(inputs, tf_keras.layers.LSTM(
        2, recurrent_activation="sigmoid", return_sequences=True, name=model.layers[0].name)(inputs))
    keras_lstm.load_weights(str(FORUM))  # Keras's own converter, not the app's reading
    keras_h = keras_lstm.predict(x[None], verbose=0)[0]
    np.testing.assert_allclose(keras_h, THREAD_NET_RUN, rtol=0, atol=1e-6)
    np.testing.assert_allclose(true.layer(0).h, keras_h, rtol=0, atol=1e-6)
    port = run_reference(model.with_reading("naive"), x, dtype="float32", teacher=true)
    np.testing.assert_allclose(port.layer(0).h, THREAD_NEWLSTM, rtol=0, atol=1e-6)
    assert np.abs(port.layer(0).h - THREAD_NET_RUN)[1:].max() > 1e-2


def test_demo_ark_and_initial_state_are_the_shipped_utterances_and_states(tmp_path):
    """``demo_utterances.ark`` holds the npy features of every demo utterance (read back by
    kaldiio and by the app's own reader); ``demo_states.npz`` is the state of both LSTMs after
    "three"; ``tools/make_demo.py --extras-only`` writes exactly these from the npy files."""
    import subprocess
    import sys

    import kaldiio

    from lstm_inspector import load_initial_state, load_model
    from lstm_inspector.core.reference import run_reference
    from lstm_inspector.io.corpus import list_utterances
    from lstm_inspector.io.features import load_features

    ark = RESOURCES / "demo_utterances.ark"
    stored = dict(kaldiio.load_ark(str(ark)))
    assert sorted(stored) == sorted(f"demo_{w}" for w in WORDS)
    for word in WORDS:
        npy = np.load(RESOURCES / f"demo_{word}.npy")
        assert stored[f"demo_{word}"].dtype == np.float32
        assert np.array_equal(stored[f"demo_{word}"], npy)
        assert np.array_equal(load_features(str(ark), key=f"demo_{word}").data, npy)
    assert sorted(u.name for u in list_utterances(ark)) == sorted(stored)

    model = load_model(str(MODEL))
    start = load_initial_state(RESOURCES / "demo_states.npz", model)
    after_three = run_reference(model, np.load(RESOURCES / "demo_three.npy"))
    assert sorted(start) == [(0, "forward"), (1, "forward")]
    for (k, direction), (h0, c0) in start.items():
        assert np.array_equal(h0, after_three.layer(k, direction).h[-1])
        assert np.array_equal(c0, after_three.layer(k, direction).c[-1])

    for name in ("demo_digits_cudnnlstm.h5",) + tuple(f"demo_{w}.npy" for w in WORDS):
        (tmp_path / name).symlink_to(RESOURCES / name)
    tool = Path(__file__).resolve().parent.parent / "tools" / "make_demo.py"
    proc = subprocess.run([sys.executable, str(tool), "--extras-only", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "demo_utterances.ark").read_bytes() == ark.read_bytes()
    made = np.load(tmp_path / "demo_states.npz")
    with np.load(RESOURCES / "demo_states.npz") as shipped:
        assert sorted(made.files) == sorted(shipped.files)
        assert all(np.array_equal(made[n], shipped[n]) for n in shipped.files)
