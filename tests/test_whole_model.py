"""Never a silent "agree" on something else than the file's model (issue 19).

Each test builds a tf-keras model, saves it with ``model.save`` as users do, and holds the
tool's reference, ``compare``'s verdict and exit code against what Keras itself computes from
the file (``load_model`` here, in the test; the tool never runs a file's code). Where the tool
computes what the file computes, it must match Keras; where it does not, it must say so:
``faithful`` false, exit code 1, the sentence naming what it did not compute.
"""
import json
import subprocess
import sys

import numpy as np
import pytest

import model_files
from lstm_inspector import load_model
from lstm_inspector.core.reference import run_reference

pytestmark = pytest.mark.filterwarnings("ignore")


def run_cli(*args, timeout=240):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def keras_output(path, x):
    """What Keras computes from the file itself, batch of one (every output, batch axis off)."""
    K = model_files.keras()
    model = K.models.load_model(str(path), compile=False)
    out = model(np.asarray(x)[None])
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(o, np.float64)[0] for o in outs]


def features(steps, width, seed=0):
    return np.random.default_rng(seed).standard_normal((steps, width)).astype(np.float32)


def compare_json(path, x_path, *options, backend="numpy64"):
    code, out, err = run_cli("compare", path, x_path, "--backend", backend, "--json", *options)
    assert code in (0, 1), err
    return code, json.loads(out)


def plainly_agrees(code, data) -> bool:
    return code == 0 or (data["agree"] and data["faithful"])


# ---- 1. Bidirectional(backward_layer=...) ---------------------------------------------------
@pytest.fixture(scope="module")
def own_backward(tmp_path_factory):
    K = model_files.keras()
    folder = tmp_path_factory.mktemp("backward")
    backward = K.layers.LSTM(5, return_sequences=True, activation="relu",
                             recurrent_activation="hard_sigmoid", go_backwards=True)
    model = K.Sequential([K.layers.Input((None, 3)),
                          K.layers.Bidirectional(K.layers.LSTM(5, return_sequences=True),
                                                 backward_layer=backward)])
    path = model_files.save(model, folder, "own_backward.h5", seed=3).path
    x = features(25, 3, seed=4)
    np.save(folder / "x.npy", x)
    return path, folder / "x.npy", x


def test_the_backward_layer_runs_with_its_own_activations(own_backward):
    path, x_path, x = own_backward
    (expected,) = keras_output(path, x)
    model = load_model(path)
    assert model.layers[0].directions["backward"].activation == "relu"
    assert np.abs(run_reference(model, x, dtype="float64").output - expected).max() < 1e-5
    code, data = compare_json(path, x_path, backend="tf-cpu")
    assert code == 0 and data["faithful"], data["verdict"]


@pytest.mark.torch_too
def test_cudnn_paths_refuse_a_relu_backward_layer(own_backward):
    from lstm_inspector.backends.common import cudnn_activation_problem

    path, _, x = own_backward
    sentence = cudnn_activation_problem(load_model(path), "torch's nn.LSTM")
    assert "backward layer uses activation=relu" in sentence
    import optional

    if not optional.installed("torch"):
        if optional.in_ci() and not optional.without_torch():
            pytest.fail("torch is required in CI")
        return  # the run with torch (-m "torch or torch_too") checks the refusal itself
    from lstm_inspector import InspectorError
    from lstm_inspector.backends import run_backend

    with pytest.raises(InspectorError, match="backward layer uses activation=relu"):
        run_backend(load_model(path), x, backend="torch-cpu")


# ---- 2-5. What the tool names instead of agreeing -------------------------------------------
def _time_major(K):
    return K.Sequential([K.layers.Input((None, 3)),
                         K.layers.LSTM(4, return_sequences=True, time_major=True)])


def _two_states_head(K):
    x = K.layers.Input((None, 3))
    _, h, c = K.layers.LSTM(4, return_state=True, name="lstm")(x)
    return K.Model(x, K.layers.Dense(2, name="on_hc")(K.layers.Concatenate()([h, c])))


def _nested_twice(K):
    inner = K.Sequential([K.layers.Input((None, 3)), K.layers.LSTM(3, return_sequences=True)],
                         name="inner")
    x = K.layers.Input((None, 3))
    return K.Model(x, inner(inner(x)))


def _lambda_front(K):
    x = K.layers.Input((None, 3))
    y = K.layers.Lambda(lambda t: t * 2.0, name="scale")(x)
    return K.Model(x, K.layers.LSTM(4, return_sequences=True)(y))


NAMED = {  # builder, words the verdict must hold
    "time_major": (_time_major, "time_major"),
    "two_states_head": (_two_states_head, "return_state"),
    "nested_twice": (_nested_twice, "called 2 times"),
    "lambda_front": (_lambda_front, "layer 'scale' (Lambda)"),
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_what_the_tool_does_not_compute_is_named_never_agreed(name, tmp_path):
    K = model_files.keras()
    build, words = NAMED[name]
    path = model_files.save(build(K), tmp_path, f"{name}.h5", seed=5).path
    x = features(12, 3, seed=6)
    np.save(tmp_path / "x.npy", x)
    model = load_model(path)
    assert any(words in n for n in model.unfaithful()), model.unfaithful()
    code, data = compare_json(path, tmp_path / "x.npy")
    assert code == 1 and not data["faithful"], data["verdict"]
    assert words in data["verdict"] and "not what the file's model computes" in data["verdict"]


@pytest.mark.parametrize("reads", ["c", "backward_h"])
def test_a_head_on_a_returned_state_is_computed(reads, tmp_path):
    """``Dense`` on the cell state an LSTM returns (``return_state=True``), or on the backward
    h a Bidirectional returns: the model's answer is Keras's."""
    from lstm_inspector.core.head import model_answer

    K = model_files.keras()
    x_in = K.layers.Input((None, 3))
    if reads == "c":
        _, _, state = K.layers.LSTM(4, return_state=True, name="lstm")(x_in)
    else:
        outs = K.layers.Bidirectional(K.layers.LSTM(4, return_state=True,
                                                    go_backwards=False), name="bi")(x_in)
        state = outs[3]
    model = K.Model(x_in, K.layers.Dense(2, activation="softmax", name="on_state")(state))
    path = model_files.save(model, tmp_path, f"state_{reads}.h5", seed=9).path
    x = features(14, 3, seed=10)
    np.save(tmp_path / "x.npy", x)
    (expected,) = keras_output(path, x)
    loaded = load_model(path)
    assert not loaded.unfaithful(), loaded.unfaithful()
    ref = run_reference(loaded, x, dtype="float64")
    answer = model_answer(loaded, ref, ref)
    assert np.abs(answer.a - expected).max() < 1e-5
    code, data = compare_json(path, tmp_path / "x.npy", backend="tf-cpu")
    assert code == 0 and data["faithful"]
    assert np.abs(np.asarray(data["model_output"]["a"]) - expected).max() < 1e-5


# ---- 6. Weights-only guesses ----------------------------------------------------------------
def test_weights_only_states_float32_and_go_backwards_names_layers(tmp_path):
    K = model_files.keras()
    model = K.Sequential([K.layers.Input((None, 3)),
                          K.layers.LSTM(4, return_sequences=True, name="lstm_1"),
                          K.layers.LSTM(4, return_sequences=True, go_backwards=True,
                                        name="lstm_2")])
    written = model_files.save(model, tmp_path, "w.weights.h5", weights_only=True, seed=7)
    full = model_files.save(model, tmp_path, "full.h5", seed=7).path
    x = features(15, 3, seed=8)
    np.save(tmp_path / "x.npy", x)
    guessed = load_model(written.path)
    assert any("float32" in a and "--dtype mixed_float16" in a for a in guessed.assumptions)
    (expected,) = keras_output(full, x)
    second = guessed.layers[1].name  # as the weights file names it
    code, data = compare_json(written.path, tmp_path / "x.npy", f"--go-backwards={second}")
    told = load_model(written.path, go_backwards=second)
    assert [l.go_backwards for l in told.layers] == [False, True]
    assert np.abs(run_reference(told, x, dtype="float64").output - expected).max() < 1e-5
    assert code == 0 and "float32" in data["verdict"], data["verdict"]


# ---- every option the file records ----------------------------------------------------------
def test_every_recurrent_config_key_is_read_or_known_irrelevant():
    """Build the recurrent layers with every option tf-keras has; any config key the loader
    neither reads nor names as irrelevant at inference fails here (add it to one or the other
    in ``io.keras_options``, with what it does)."""
    import tensorflow as tf

    from lstm_inspector.io import keras_options

    K = model_files.keras()
    lstm = dict(units=3, activation="relu", recurrent_activation="hard_sigmoid", use_bias=False,
                return_sequences=True, return_state=True, go_backwards=True, stateful=False,
                unroll=True, time_major=True, dropout=0.1, recurrent_dropout=0.1,
                kernel_regularizer="l2", implementation=1, unit_forget_bias=False)
    layers = [K.layers.LSTM(**lstm), K.layers.RNN(K.layers.LSTMCell(3)),
              K.layers.RNN(K.layers.StackedRNNCells([K.layers.LSTMCell(3)])),
              K.layers.Bidirectional(K.layers.LSTM(3, return_sequences=True),
                                     backward_layer=K.layers.LSTM(3, return_sequences=True,
                                                                  go_backwards=True),
                                     merge_mode="sum"),
              K.layers.TimeDistributed(K.layers.Dense(2)),
              tf.compat.v1.keras.layers.CuDNNLSTM(3, return_sequences=True)]
    try:  # Keras 3 writes a few keys of its own (seed, zero_output_for_mask...)
        import keras as keras3

        L3 = keras3.layers
        if keras3.__version__.startswith("3."):
            layers += [L3.LSTM(**{k: v for k, v in lstm.items()
                                     if k not in ("time_major", "implementation")}),
                       L3.RNN(L3.StackedRNNCells([L3.LSTMCell(3)])),
                       L3.Bidirectional(L3.LSTM(3), backward_layer=L3.LSTM(3, go_backwards=True))]
    except ImportError:
        pass
    keys = set()
    for layer in layers:
        config = layer.get_config()
        keys |= set(config)
        for inner in ("cell", "layer", "backward_layer"):
            if isinstance(config.get(inner), dict):
                keys |= set(config[inner].get("config") or {})
    unknown = sorted(k for k in keys
                     if k not in keras_options.READ and k not in keras_options.IRRELEVANT)
    assert not unknown, f"config keys neither read nor known irrelevant: {unknown}"
    # and a key nobody knows makes the layer "not computed", by name
    sentences = keras_options.option_sentences("lstm", {"units": 3, "new_knob": 2.0}, {}, {})
    assert sentences and "new_knob" in sentences[0]


def test_exports_refuse_a_backward_layer_with_its_own_activations(own_backward, tmp_path):
    from lstm_inspector import InspectorError
    from lstm_inspector.export import export_model

    path, _, x = own_backward
    with pytest.raises(InspectorError, match="backward layer with its own activations"):
        export_model(load_model(path), "numpy", tmp_path / "port.py", x=x)
