"""The front: the layers before the first LSTM, run in NumPy exactly as Keras runs them (issue 19).

Every case builds ``Input -> front layers -> LSTM`` with tf-keras, saves it with ``model.save``,
and holds the tool's LSTM input (``run_front``) and the model's output (the reference run on
it, under the mask the front made) against Keras's own, computed from the same file.
"""
import json
import subprocess
import sys

import numpy as np
import pytest

import model_files
from lstm_inspector import load_model
from lstm_inspector.core.front import features_width, run_front
from lstm_inspector.core.reference import run_reference

pytestmark = pytest.mark.filterwarnings("ignore")


def run_cli(*args, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def rng(seed):
    return np.random.default_rng(seed)


def silent(x, frames):
    x = x.copy()
    x[list(frames)] = 0.0
    return x


L = None  # tf_keras.layers, set by the fixture


def cases():
    """name -> (input shape per frame, front layers (a function of tf_keras.layers), features)."""
    T = 20
    vec = rng(1).standard_normal((T, 5)).astype(np.float32)
    spec = rng(2).standard_normal((T, 8)).astype(np.float32)
    ids = rng(3).integers(1, 9, (T, 1)).astype(np.float32)
    ids[[4, 5, 16, 17, 18, 19]] = 0  # a hole and right padding
    return {
        "dense": ((5,), lambda L: [L.Dense(7, activation="relu")], vec),
        "time_distributed_dense": ((5,), lambda L: [L.TimeDistributed(L.Dense(6, "tanh"))], vec),
        "dense_no_bias": ((5,), lambda L: [L.Dense(4, use_bias=False)], vec),
        "conv1d_valid": ((5,), lambda L: [L.Conv1D(4, 3)], vec),
        "conv1d_same_strided": ((5,), lambda L: [L.Conv1D(4, 4, strides=2, padding="same")],
                                vec),
        "conv1d_same_even_kernel": ((5,), lambda L: [L.Conv1D(3, 4, padding="same")], vec),
        "conv1d_causal_dilated": ((5,), lambda L: [L.Conv1D(4, 3, padding="causal",
                                                            dilation_rate=2,
                                                            activation="relu")], vec),
        "conv2d_crnn": ((8, 1), lambda L: [L.Conv2D(3, (3, 3), padding="same",
                                                    activation="relu"),
                                           L.Reshape((-1, 24))], spec),
        "conv2d_strided_pooled": ((8, 1), lambda L: [L.Conv2D(2, (2, 3), strides=(1, 2)),
                                                     L.MaxPooling2D((2, 1)),
                                                     L.Reshape((-1, 6))], spec),
        "conv2d_avgpool_same": ((8, 1), lambda L: [L.Conv2D(2, 3, padding="same"),
                                                   L.AveragePooling2D(3, strides=2,
                                                                      padding="same"),
                                                   L.Reshape((-1, 8))], spec),
        "batch_norm": ((5,), lambda L: [L.Dense(6), L.BatchNormalization()], vec),
        "layer_norm": ((5,), lambda L: [L.LayerNormalization()], vec),
        "activation": ((5,), lambda L: [L.Activation("selu"), L.Activation("softmax")], vec),
        "permute": ((5,), lambda L: [L.Permute((2, 1))], vec),
        "reshape": ((5,), lambda L: [L.Reshape((-1, 10))], vec),
        "zero_padding": ((5,), lambda L: [L.ZeroPadding1D((2, 1))], vec),
        "pooling_1d": ((5,), lambda L: [L.MaxPooling1D(2), L.AveragePooling1D(3, strides=2,
                                                                             padding="same")],
                       vec),
        "dropouts": ((5,), lambda L: [L.Dropout(0.5), L.SpatialDropout1D(0.3),
                                      L.GaussianNoise(1.0)], vec),
        "embedding_mask_zero": ((), lambda L: [L.Embedding(10, 4, mask_zero=True)], ids),
        "masking_then_dense": ((5,), lambda L: [L.Masking(0.0), L.Dense(6),
                                                L.Activation("tanh")],
                               silent(vec, [3, 4, 15, 16, 17, 18, 19])),
        "masking_then_conv1d": ((5,), lambda L: [L.Masking(0.0), L.Conv1D(4, 1)],
                                silent(vec, [3, 4, 17, 18, 19])),
    }


CASES = cases()


@pytest.fixture(scope="module", params=[".h5", ".keras"])
def built(tmp_path_factory, request):
    """name -> (file, features, Keras's LSTM input, Keras's output), saved as HDF5 and as a
    ``.keras`` zip (whose variables are numbered, not named)."""
    K = model_files.keras()
    folder = tmp_path_factory.mktemp("front")
    out = {}
    for k, (name, (shape, make, x)) in enumerate(sorted(CASES.items())):
        time = 12 if name == "permute" else None  # Permute swaps a fixed time axis
        inputs = K.layers.Input((time,) + shape)
        y = inputs
        for layer in make(K.layers):
            y = layer(y)
        lstm = K.layers.LSTM(3, return_sequences=True, name="lstm")
        model = K.Model(inputs, lstm(y))
        path = model_files.save(model, folder, f"{name}{request.param}", seed=10 + k).path
        loaded = K.models.load_model(str(path), compile=False)
        feed = x[:12] if name == "permute" else x
        batch = feed.reshape((1, len(feed)) + shape)
        lstm_in = K.Model(loaded.input, loaded.get_layer("lstm").input)(batch)
        out[name] = (path, feed, np.asarray(lstm_in)[0], np.asarray(loaded(batch))[0])
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_front_computes_what_keras_computes(built, name):
    path, x, lstm_in, expected = built[name]
    model = load_model(path)
    if name == "dropouts":  # identity at inference: no front at all
        assert model.front is None and not model.unfaithful()
        assert np.abs(run_reference(model, x, dtype="float64").output - expected).max() < 1e-5
        return
    assert model.front is not None and model.front.runs, model.describe()
    assert model.unfaithful(), "a front that did not run must be named"
    assert features_width(model) == (x.shape[1] if x.ndim == 2 else 1)
    ran, y = run_front(model, x)
    assert y.shape == lstm_in.shape and np.abs(y - lstm_in).max() < 1e-5
    assert not ran.unfaithful(), ran.unfaithful()
    out = run_reference(ran, y, dtype="float64").output
    assert np.abs(out - expected).max() < 1e-5


def test_masks_follow_keras(built):
    """Embedding(mask_zero) and Masking -> Dense make the LSTM's mask; Conv1D drops it."""
    for name, masked in (("embedding_mask_zero", [4, 5, 16, 17, 18, 19]),
                         ("masking_then_dense", [3, 4, 15, 16, 17, 18, 19]),
                         ("masking_then_conv1d", None)):
        path, x, _, _ = built[name]
        ran, y = run_front(load_model(path), x)
        if masked is None:
            assert ran.input_mask is None
        else:
            assert np.flatnonzero(~ran.input_mask).tolist() == masked


def test_features_are_lstm_input_skips_the_front_and_names_a_mask(built, tmp_path):
    path, x, lstm_in, _ = built["dense"]
    model = load_model(path, features_are="lstm-input")
    assert features_width(model) == 7 and not model.unfaithful()
    assert run_front(model, lstm_in)[1] is lstm_in
    masked = load_model(built["embedding_mask_zero"][0], features_are="lstm-input")
    assert any("mask" in n for n in masked.unfaithful())


def test_a_layer_the_front_cannot_run_is_named_and_compare_says_so(tmp_path):
    K = model_files.keras()
    model = K.Sequential([K.layers.Input((None, 4)), K.layers.Dense(5),
                          K.layers.UpSampling1D(2, name="upsample"),
                          K.layers.LSTM(3, return_sequences=True)])
    path = model_files.save(model, tmp_path, "stops.h5", seed=3).path
    loaded = load_model(path)
    assert "layer 'upsample' (UpSampling1D)" in loaded.front.stopped_at
    np.save(tmp_path / "x.npy", rng(4).standard_normal((10, 5)).astype(np.float32))
    code, out, err = run_cli("compare", path, tmp_path / "x.npy", "--backend", "numpy64",
                             "--json")
    data = json.loads(out)
    assert code == 1 and not data["faithful"] and "UpSampling1D" in data["verdict"], err
    code, out, err = run_cli("compare", path, tmp_path / "x.npy", "--backend", "numpy64",
                             "--features-are", "lstm-input")
    assert code == 0, out + err
    # a sweep of such agreements is not a plain agree either
    code, out, err = run_cli("sweep", path, tmp_path / "x.npy", "--backend", "numpy64",
                             "--json")
    rows = json.loads(out)["rows"]
    assert code == 1 and rows[0]["kind"] == "agree" and rows[0]["faithful"] is False, out + err


# ---- done when: a CRNN given its raw spectrogram ----------------------------------------------
@pytest.fixture(scope="module")
def crnn(tmp_path_factory):
    K = model_files.keras()
    folder = tmp_path_factory.mktemp("crnn")
    inputs = K.layers.Input((None, 16, 1))
    y = K.layers.Conv2D(4, (3, 3), padding="same", activation="relu")(inputs)
    y = K.layers.BatchNormalization()(y)
    y = K.layers.MaxPooling2D((1, 2))(y)
    y = K.layers.Reshape((-1, 32))(y)
    y = K.layers.Bidirectional(K.layers.LSTM(6, return_sequences=True))(y)
    model = K.Model(inputs, K.layers.Dense(3, activation="softmax")(y))
    path = model_files.save(model, folder, "crnn.h5", seed=1).path
    x = rng(0).standard_normal((40, 16)).astype(np.float32)
    np.save(folder / "spec.npy", x)
    (folder / "list").mkdir()
    for k in range(3):
        np.save(folder / "list" / f"utt{k}.npy", rng(k + 5).standard_normal((25 + k, 16))
                .astype(np.float32))
    loaded = K.models.load_model(str(path), compile=False)
    expected = np.asarray(loaded(x[None, :, :, None]))[0]
    return path, folder, x, expected


@pytest.mark.parametrize("backend", ["numpy64", "tf-cpu"])
def test_crnn_on_its_raw_spectrogram_agrees_with_keras(crnn, backend):
    path, folder, x, expected = crnn
    code, out, err = run_cli("compare", path, folder / "spec.npy", "--backend", backend,
                             "--json")
    assert code == 0, out + err
    data = json.loads(out)
    assert data["faithful"] and data["agree"]
    assert any("ran in NumPy" in n and "(40, 32)" in n for n in data["notes"])
    assert data["front"]["ran"] and data["front"]["lstm_input_shape"] == [40, 32]
    for side in ("a", "b"):
        answer = np.asarray(data["model_output"][side], np.float64)
        assert np.abs(answer - expected[-1]).max() <= 1e-5


def test_crnn_sweep_agrees(crnn):
    path, folder, _, _ = crnn
    code, out, err = run_cli("sweep", path, folder / "list", "--json")
    assert code == 0, out + err
    rows = json.loads(out)["rows"]
    assert len(rows) == 3 and all(r["kind"] == "agree" and r["faithful"] for r in rows)
    assert all(r["max_error"] <= 1e-5 for r in rows)


@pytest.mark.parametrize("name", ["embedding_mask_zero", "masking_then_dense"])
@pytest.mark.parametrize("backend", ["tf-cpu", "torch-cpu"])
def test_backends_run_the_front_and_its_mask(built, tmp_path, name, backend):
    """tf-cpu applies the front's mask through Keras's own; torch runs the kept steps only."""
    import optional

    if backend == "torch-cpu" and not optional.installed("torch"):
        if optional.in_ci():
            pytest.fail("torch is required in CI")
        pytest.skip("torch is not installed")
    path, x, _, expected = built[name]
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli("compare", path, tmp_path / "x.npy", "--backend", backend,
                             "--json")
    assert code == 0, out + err
    data = json.loads(out)
    assert data["faithful"] and data["masked_steps"]
    ran, y = run_front(load_model(path), x)
    assert data["masked_steps"] == np.flatnonzero(~ran.input_mask).tolist()


def test_a_masking_right_before_the_lstm_works_on_either_input(tmp_path):
    """Lambda -> Masking -> LSTM: the front stops at the Lambda, but given the LSTM's input the
    mask is Keras's (computed from that input), so the verdict is a plain agree."""
    K = model_files.keras()
    inputs = K.layers.Input((None, 4))
    y = K.layers.Lambda(lambda t: t * 1.0, name="same")(inputs)
    y = K.layers.Masking(0.0)(y)
    model = K.Model(inputs, K.layers.LSTM(3, return_sequences=True)(y))
    path = model_files.save(model, tmp_path, "lambda_mask.h5", seed=6).path
    x = silent(rng(7).standard_normal((15, 4)).astype(np.float32), [2, 12, 13, 14])
    np.save(tmp_path / "x.npy", x)
    loaded = load_model(path, features_are="lstm-input")
    assert loaded.mask_value == 0.0 and not loaded.unfaithful(), loaded.unfaithful()
    expected = np.asarray(K.models.load_model(str(path), compile=False)(x[None]))[0]
    assert np.abs(run_reference(loaded, x, dtype="float64").output - expected).max() < 1e-5
    code, out, err = run_cli("compare", path, tmp_path / "x.npy", "--backend", "tf-cpu",
                             "--features-are", "lstm-input", "--json")
    data = json.loads(out)
    assert code == 0 and data["masked_steps"] == [2, 12, 13, 14], out + err
    assert not load_model(path).front.runs and load_model(path).unfaithful()


def test_features_that_do_not_fit_the_front_get_one_sentence(built, tmp_path):
    from lstm_inspector import InspectorError
    from dataclasses import replace

    path, x, _, _ = built["dense"]
    model = load_model(path)
    unknown = replace(model, front=replace(model.front, step_shape=None))  # width not recorded
    with pytest.raises(InspectorError, match=r"layer '\w+' \(Dense\) before the first LSTM "
                                             r"cannot read frames of shape \(3,\)"):
        run_front(unknown, x[:, :3])
    np.save(tmp_path / "narrow.npy", x[:, :3])
    code, out, err = run_cli("compare", path, tmp_path / "narrow.npy", "--backend", "numpy64")
    assert code == 2 and "3 columns" in err and "--features-are lstm-input" in err
