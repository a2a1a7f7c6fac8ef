"""Backends on the CPU: real TensorFlow and real torch against each other and the NumPy reference.

Every model has random weights far from any initialiser (biases too, so a bias bug shows); the
tf-cpu path reads the stored arrays through Keras's own converter, so agreement here means the
canonical weights, the chain semantics (stacking, merge modes, go_backwards) and the reference
all match what Keras and PyTorch compute.
"""
import numpy as np
import pytest

from optional import installed
import lstm_inspector as li
from engine_models import cudnn_model, features, random_stored
from lstm_inspector.backends import (NUMPY_BACKENDS, REAL_BACKENDS, available_backends,
                                     run_backend)
from lstm_inspector.core.model import Model, RecurrentLayer
from lstm_inspector.core.reference import run_reference
from lstm_inspector.core.weights import Reading
from lstm_inspector.errors import Cancelled, InspectorError

ATOL = 1e-5
STEPS = 24
#: The CPU backends of this machine: torch is an extra, so without it its checks skip (conftest
#: skips tests marked ``torch``). Every test here runs torch too where it is installed.
HAS_TORCH = installed("torch")
CPU_BACKENDS = ("tf-cpu", "torch-cpu") if HAS_TORCH else ("tf-cpu",)
needs_torch = pytest.mark.torch
pytestmark = pytest.mark.torch_too

CASES = {
    "in5-H3": dict(n_in=5, units=3),
    "H1": dict(n_in=4, units=1),
    "in1-H2 (forum)": dict(n_in=1, units=2),
    "stacked x3": dict(n_in=3, units=4, layers=3),
    "bi concat x2": dict(n_in=3, units=2, layers=2, bidirectional=True, merge_mode="concat"),
    "bi sum x2": dict(n_in=3, units=3, layers=2, bidirectional=True, merge_mode="sum"),
    "bi mul x2": dict(n_in=2, units=3, layers=2, bidirectional=True, merge_mode="mul"),
    "bi ave x2": dict(n_in=3, units=2, layers=2, bidirectional=True, merge_mode="ave"),
    "go_backwards x2": dict(n_in=3, units=4, layers=2, go_backwards=True),
    "bi go_backwards": dict(n_in=2, units=3, bidirectional=True, merge_mode="concat",
                            go_backwards=True),
    "keras LSTM x2": dict(n_in=3, units=4, layers=2, cudnn=False),
}


def max_error(a, b, quantity):
    """Largest |a - b| of ``quantity`` (h, c or a) over every layer and direction."""
    worst = 0.0
    for k, direction, lt in a.items():
        other = b.layer(k, direction)
        worst = max(worst, float(np.max(np.abs(getattr(lt, quantity).astype(np.float64)
                                               - getattr(other, quantity)))))
    return worst


@pytest.fixture(scope="module")
def runs():
    """tf-cpu, torch-cpu and the NumPy reference on every case, computed once."""
    out = {}
    for name, options in CASES.items():
        model = cudnn_model(seed=len(out), **options)
        x = features(STEPS, model.input_size, seed=len(out) + 1)
        traces = {name: run_backend(model, x, name) for name in CPU_BACKENDS}
        out[name] = (model, {**traces, "numpy": run_reference(model, x)})
    return out


@needs_torch
@pytest.mark.parametrize("case", list(CASES))
def test_tf_cpu_and_torch_cpu_agree(runs, case):
    model, traces = runs[case]
    tf_trace, torch_trace = traces["tf-cpu"], traces["torch-cpu"]
    assert len(tf_trace.layers) == len(model.chain)
    for quantity in ("h", "c"):
        assert max_error(tf_trace, torch_trace, quantity) < ATOL, quantity
    np.testing.assert_allclose(tf_trace.output, torch_trace.output, atol=ATOL, rtol=0)


def assert_gates_make_the_states(model, trace):
    """A backend's gates are derived (cuDNN never shows them) by the reference's equations, so
    comparing them with the reference's proves nothing. What can fail: the derived gates must
    rebuild the backend's *own* states, c_t = f c_prev + i c~ and h_t = o tanh(c_t), in the
    direction's processing order from c = 0, written out here apart from the package's code."""
    for k, direction, lt in trace.items():
        i, f, g, o = (lt.gate(q).astype(np.float64) for q in ("i", "f", "c~", "o"))
        c, h = lt.c.astype(np.float64), lt.h.astype(np.float64)
        order = np.arange(len(c))  # input time, in processing order
        if model.chain[k].go_backwards != (direction == "backward"):
            order = order[::-1]
        c_prev = np.zeros_like(c)
        c_prev[order[1:]] = c[order[:-1]]
        np.testing.assert_allclose(f * c_prev + i * g, c, atol=ATOL, rtol=0,
                                   err_msg=f"layer {k} {direction}: f c_prev + i c~ is not c")
        np.testing.assert_allclose(o * np.tanh(c), h, atol=ATOL, rtol=0,
                                   err_msg=f"layer {k} {direction}: o tanh(c) is not h")


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("backend", ["tf-cpu", pytest.param("torch-cpu", marks=needs_torch)])
def test_backend_agrees_with_reference(runs, case, backend):
    model, traces = runs[case]
    trace, ref = traces[backend], traces["numpy"]
    for quantity in ("h", "c"):  # what the backend itself computed (measured or stepped)
        assert max_error(trace, ref, quantity) < ATOL, quantity
    assert trace.output.shape == ref.output.shape
    np.testing.assert_allclose(trace.output, ref.output, atol=ATOL, rtol=0)
    assert_gates_make_the_states(model, trace)


@needs_torch
def test_provenance_and_meta(runs):
    _, traces = runs["bi concat x2"]
    tf_lt, torch_lt = traces["tf-cpu"].layer(1, "backward"), traces["torch-cpu"].layer(1, "backward")
    assert tf_lt.how("c") == "measured" and torch_lt.how("c") == "derived"  # one call each
    assert tf_lt.how("h") == "measured" and torch_lt.how("h") == "measured"
    for lt in (tf_lt, torch_lt):
        assert all(lt.how(g) == "derived" for g in ("i", "f", "c~", "o", "z_i"))
        assert np.isfinite(lt.z).all() and np.isfinite(lt.a).all()
    tf_meta, torch_meta = traces["tf-cpu"].meta, traces["torch-cpu"].meta
    assert tf_meta["backend"] == "tf-cpu" and torch_meta["backend"] == "torch-cpu"
    assert tf_meta["versions"]["tensorflow"] and tf_meta["versions"]["tf_keras"]
    assert torch_meta["versions"]["torch"]
    for meta in (tf_meta, torch_meta):
        assert meta["device"] == "CPU" and meta["tf32"] == "n/a" and meta["dtype"] == "float32"
        assert meta["reading"] == "file"
    assert any("Keras's own converter (CuDNNLSTM -> LSTM)" in n for n in tf_meta["notes"])
    assert tf_meta["road"] == torch_meta["road"] == "one-call"
    assert torch_meta["derivation_max_abs"] < ATOL


# ---- tf-cpu internals ------------------------------------------------------------------------
@pytest.mark.parametrize("cudnn, activation, recurrent_activation", [
    (True, "tanh", "sigmoid"), (False, "tanh", "hard_sigmoid"), (False, "relu", "sigmoid")])
def test_recording_wrapper_h_equals_plain_keras_lstm(cudnn, activation, recurrent_activation):
    """The concat(h, c) wrapper runs TF's own cell math: its h is the plain LSTM layer's output."""
    from lstm_inspector.backends import tf_cpu
    from lstm_inspector.backends.common import import_tf

    tf, _ = import_tf()
    stored = random_stored(4, 5, seed=7, cudnn=cudnn, recurrent_activation=recurrent_activation)
    from dataclasses import replace

    stored = replace(stored, activation=activation)
    layer = RecurrentLayer("lstm", "CuDNNLSTM" if cudnn else "LSTM", 4, 5, {"forward": stored})
    x = features(40, 4, seed=2)
    lstm, how = tf_cpu.keras_lstm(layer, "forward")
    assert ("converter" in how) == cudnn
    h, c = tf_cpu.run_direction(tf, tf_cpu.recording_rnn(lstm), x)
    plain = lstm(tf.constant(x[None]))[0].numpy()
    assert np.max(np.abs(h - plain)) <= 1e-6
    ref = run_reference(Model([layer]), x).layer(0)
    assert np.max(np.abs(c - ref.c)) < ATOL and np.max(np.abs(h - ref.h)) < ATOL


def test_keras_converter_is_what_keras_load_weights_does():
    """tf-cpu's output equals a real tf-keras model of LSTM / Bidirectional layers (go_backwards,
    merge modes) given the CuDNNLSTM arrays through Keras's converter: Keras's own semantics."""
    from tf_keras.src.saving.legacy.hdf5_format import preprocess_weights_for_loading

    from lstm_inspector.backends.common import import_tf

    _, K = import_tf()
    x = features(STEPS, 3, seed=5)
    for merge_mode, go_backwards in (("concat", False), ("ave", True), ("mul", True),
                                     ("sum", False)):
        model = cudnn_model(n_in=3, units=3, layers=2, bidirectional=True,
                            merge_mode=merge_mode, go_backwards=go_backwards, seed=11)
        keras_layers = []
        for layer in model.chain:
            bi = K.layers.Bidirectional(
                K.layers.LSTM(layer.units, return_sequences=True, go_backwards=go_backwards,
                              recurrent_activation="sigmoid"), merge_mode=merge_mode)
            bi.build((1, None, layer.input_size))
            arrays = [a for d in ("forward", "backward") for a in (
                layer.directions[d].kernel, layer.directions[d].recurrent_kernel,
                layer.directions[d].bias)]
            bi.set_weights(preprocess_weights_for_loading(bi, arrays))
            keras_layers.append(bi)
        y = x[None]
        for bi in keras_layers:
            y = bi(y)
        expected = y[0].numpy()
        got = run_backend(model, x, "tf-cpu").output
        np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
        np.testing.assert_allclose(run_reference(model, x).output, expected, atol=ATOL, rtol=0)


def test_hard_sigmoid_keras_lstm_runs_on_tf_cpu_only():
    model = cudnn_model(n_in=3, units=4, layers=2, cudnn=False, recurrent_activation="hard_sigmoid")
    x = features(STEPS, 3, seed=3)
    trace = run_backend(model, x, "tf-cpu")
    ref = run_reference(model, x)
    for quantity in ("h", "c", "a"):
        assert max_error(trace, ref, quantity) < ATOL, quantity
    assert any("as stored" in n for n in trace.meta["notes"])
    if HAS_TORCH:
        with pytest.raises(InspectorError, match="lstm_0.*hard_sigmoid.*tanh/sigmoid"):
            run_backend(model, x, "torch-cpu")
    auto = run_backend(model, x, "auto")  # GPU or not: only tf-cpu computes hard_sigmoid
    assert auto.meta["backend"] == "tf-cpu" and auto.meta["auto"].startswith("auto picked tf-cpu")


def test_convention_keras_cannot_convert_falls_back_with_a_note():
    """A TF 1.x CudnnLSTM checkpoint's canonical tensors (gate order i, c, f, o) have no Keras
    converter: tf-cpu runs the package's canonical weights and says so. Those come from the
    package's own reading, so the check is a real tf-keras LSTM given the arrays with the gate
    blocks put in Keras's order (i, f, c, o) by hand here."""
    from dataclasses import replace

    from lstm_inspector.backends.common import import_tf

    _, K = import_tf()
    H = 4
    base = random_stored(3, H, seed=4)
    reading = Reading("cudnn-rnn-canonical", layout="keras", gate_order="icfo", bias="sum")
    layer = RecurrentLayer("rnn", "CuDNNLSTM", 3, H, {"forward": replace(base, true_reading=reading)})
    model, x = Model([layer]), features(STEPS, 3)
    trace = run_backend(model, x, "tf-cpu")
    assert any("no converter" in n for n in trace.meta["notes"])

    def keras_order(array):  # blocks stored i, c, f, o -> Keras's i, f, c, o
        blocks = dict(zip("icfo", np.split(array, 4, axis=-1)))
        return np.concatenate([blocks[g] for g in "ifco"], axis=-1)

    bias = base.bias[:4 * H] + base.bias[4 * H:]  # bias="sum": both halves
    lstm = K.layers.LSTM(H, return_sequences=True, recurrent_activation="sigmoid")
    lstm.build((1, None, 3))
    lstm.set_weights([keras_order(base.kernel), keras_order(base.recurrent_kernel),
                      keras_order(bias)])
    expected = lstm(x[None])[0].numpy()
    np.testing.assert_allclose(trace.output, expected, atol=ATOL, rtol=0)
    np.testing.assert_allclose(run_reference(model, x).output, expected, atol=ATOL, rtol=0)


def test_tf_cpu_follows_keras_not_the_loaders_reading():
    """8H-bias arrays a loader wrongly reads in the Keras layout: tf-cpu converts them as Keras
    does (CuDNNLSTM), so it disagrees with the reference and the note says why."""
    from dataclasses import replace

    from lstm_inspector.core.weights import READINGS

    stored = replace(random_stored(3, 4, seed=8), true_reading=READINGS["keras"])
    model = Model([RecurrentLayer("lstm", "CuDNNLSTM", 3, 4, {"forward": stored})])
    x = features(STEPS, 3)
    trace = run_backend(model, x, "tf-cpu")
    assert any("this path follows Keras" in n for n in trace.meta["notes"])
    assert max_error(trace, run_reference(model, x), "h") > 1e-3
    true_model = Model([RecurrentLayer("lstm", "CuDNNLSTM", 3, 4,
                                       {"forward": replace(stored, true_reading=READINGS["cudnn"])})])
    assert max_error(trace, run_reference(true_model, x), "h") < ATOL


# ---- tf-gpu pieces that can be checked without a GPU -----------------------------------------
def test_cudnn_layer_holds_the_files_arrays():
    """CuDNNLSTM (and Bidirectional) built by tf-gpu hold the stored arrays exactly; a Keras
    LSTM's arrays reach it through Keras's converter and read back to the same canonical weights."""
    from lstm_inspector.backends import tf_cudnn
    from lstm_inspector.core.weights import from_cudnn_keras

    model = cudnn_model(n_in=3, units=4, bidirectional=True, seed=9)
    layer = model.layers[0]
    notes = []
    bi = tf_cudnn.build_cudnn(layer, ("forward", "backward"), notes)
    got = bi.get_weights()
    for n, direction in enumerate(("forward", "backward")):
        stored = layer.directions[direction]
        for a, b in zip(got[3 * n:3 * n + 3], (stored.kernel, stored.recurrent_kernel, stored.bias)):
            np.testing.assert_array_equal(a, b)
    assert type(bi).__name__ == "Bidirectional" and len(notes) == 2

    keras_layer = cudnn_model(n_in=3, units=4, cudnn=False, seed=9).layers[0]
    single = tf_cudnn.build_cudnn(keras_layer, ("forward",), notes, return_sequences=False,
                                  return_state=True)
    assert type(single).__name__ == "CuDNNLSTM" and single.return_state
    got, want = from_cudnn_keras(*single.get_weights()), keras_layer.weights("forward")
    np.testing.assert_array_equal(got.weight_ih, want.weight_ih)
    np.testing.assert_array_equal(got.weight_hh, want.weight_hh)
    np.testing.assert_allclose(got.bias_ih + got.bias_hh, want.bias_ih + want.bias_hh, atol=1e-7)
    assert any("(LSTM -> CuDNNLSTM)" in n for n in notes)


def test_stepping_loop_measures_c():
    """tf-gpu's stepping loop (one layer call per step from the previous (h, c)), driven here
    by a CPU LSTM layer with return_state, reproduces the reference's c at every step."""
    from lstm_inspector.backends import tf_cpu, tf_cudnn
    from lstm_inspector.backends.common import import_tf

    tf, K = import_tf()
    model = cudnn_model(n_in=3, units=4, seed=12)
    layer = model.layers[0]
    lstm = K.layers.LSTM(4, return_sequences=False, return_state=True)
    lstm.build((1, None, 3))
    lstm.set_weights(tf_cpu.keras_weights(lstm, layer, "forward")[0])
    x = features(50, 3)
    seen = []
    h, c = tf_cudnn.step_states(tf, lstm, x, 4, report=seen.append, chunk=16)
    ref = run_reference(model, x).layer(0)
    assert np.max(np.abs(c - ref.c)) < ATOL and np.max(np.abs(h - ref.h)) < ATOL
    assert seen == [16 / 50, 32 / 50, 48 / 50, 1.0]


# ---- run_backend: names, inputs, readings, progress ------------------------------------------
@pytest.fixture(scope="module")
def small():
    return cudnn_model(n_in=3, units=2, seed=1), features(10, 3)


def test_available_backends_lists_every_name_with_a_reason():
    available = available_backends()
    assert set(REAL_BACKENDS) | set(NUMPY_BACKENDS) <= set(available)
    assert all(isinstance(v, str) for v in available.values())
    assert available["tf-cpu"] == "" and (available["torch-cpu"] == "") == HAS_TORCH
    assert all(available[n] == "" for n in NUMPY_BACKENDS)


def test_available_backends_probes_once_until_refreshed(monkeypatch):
    """The answer is cached: a second call does not probe the libraries again; refresh does."""
    from lstm_inspector import backends

    calls = []
    monkeypatch.setattr(backends, "_cache", {})
    monkeypatch.setattr(backends, "_probe_tf", lambda: calls.append("tf") or ("", "no gpu"))
    monkeypatch.setattr(backends, "_probe_torch", lambda: calls.append("torch") or ("", "x"))
    first = available_backends()
    assert sorted(calls) == ["tf", "torch"] and first["tf-gpu"] == "no gpu"
    available_backends()
    assert len(calls) == 2
    available_backends(refresh=True)
    assert len(calls) == 4


def test_unknown_or_unavailable_backend_says_what_is_available(small):
    model, x = small
    with pytest.raises(InspectorError, match="unknown backend 'cudnn9'.*tf-cpu.*numpy:<reading>.*naive"):
        run_backend(model, x, "cudnn9")
    with pytest.raises(InspectorError, match="unknown reading 'nope'"):
        li.run_backend(model, x, "numpy:nope")
    missing = [n for n in REAL_BACKENDS if available_backends()[n]]
    for name in missing:  # on a CPU machine: tf-gpu and torch-cuda
        with pytest.raises(InspectorError, match=f"backend {name} is not available.*tf-cpu"):
            run_backend(model, x, name)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((10, 4), np.float32), "4 columns but the model's first layer expects 3"),
    (np.zeros((2, 10, 3), np.float32), "shape"),
    (np.zeros((0, 3), np.float32), "no frames"),
    (np.array([[0, 1, 2], [0, np.nan, 1]], np.float32), "NaN/Inf.*frame 1, column 1"),
])
@pytest.mark.parametrize("backend", ["torch-cpu", "tf-cpu", "numpy"])
def test_bad_features_are_refused_in_one_sentence(small, bad, message, backend):
    with pytest.raises(InspectorError, match=message):
        li.run_backend(small[0], bad, backend)


def test_readings_are_numpy_only(small):
    model, x = small
    naive = li.run_backend(model, x, "numpy:naive")  # NumPy paths: the registry runs them
    direct = run_reference(model.with_reading("naive"), x)
    np.testing.assert_array_equal(naive.layer(0).h, direct.layer(0).h)
    assert naive.meta["reading"] == "naive"
    assert np.max(np.abs(naive.layer(0).h - li.run_backend(model, x, "numpy").layer(0).h)) > 1e-3
    assert li.run_backend(model, x, "numpy64").layer(0).h.dtype == np.float64
    for backend in CPU_BACKENDS:
        with pytest.raises(InspectorError, match="file's own weights.*numpy:naive"):
            run_backend(model.with_reading("naive"), x, backend)


def test_progress_reaches_one_and_cancel_stops(small):
    model, x = small
    for backend in CPU_BACKENDS:
        seen = []
        run_backend(model, x, backend, progress=lambda f, text: seen.append((f, text)))
        fractions = [f for f, _ in seen]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0 <= fractions[0]
        assert all(isinstance(text, str) and text for _, text in seen)

        def cancel(fraction, text):
            raise Cancelled()

        with pytest.raises(Cancelled):
            run_backend(model, x, backend, progress=cancel)


@needs_torch
def test_tf32_is_ignored_on_the_cpu_with_a_note(small):
    trace = run_backend(*small, "torch-cpu", tf32=True)
    assert trace.meta["tf32"] == "n/a"
    assert any("TF32" in n for n in trace.meta["notes"])


# ---- files written by tf-keras, and real files from other people ------------------------------
def assert_traces_close(trace, ref, atol=ATOL, rtol=0.0):
    for k, direction, lt in trace.items():
        for quantity in ("h", "c"):
            np.testing.assert_allclose(getattr(lt, quantity), getattr(ref.layer(k, direction), quantity),
                                       atol=atol, rtol=rtol, err_msg=f"{k} {direction} {quantity}")


def test_files_written_by_tf_keras_agree_on_every_cpu_backend(tmp_path):
    """CuDNNLSTM and hard_sigmoid LSTM .h5 files written by tf-keras, loaded by the tool."""
    import lstm_inspector as li
    from model_files import write_cudnn_model, write_keras_lstm_model

    cudnn = li.load_model(write_cudnn_model(tmp_path, input_size=3, units=4, bidirectional=True,
                                            merge_mode="sum", stacked=2).path)
    x = features(STEPS, 3, seed=9)
    ref = run_reference(cudnn, x)
    assert len(ref.layers) == 2
    for backend in CPU_BACKENDS:
        assert_traces_close(run_backend(cudnn, x, backend), ref)
    old = li.load_model(write_keras_lstm_model(tmp_path, input_size=3, units=4, stacked=2,
                                               recurrent_activation="hard_sigmoid").path)
    assert_traces_close(run_backend(old, x, "tf-cpu"), run_reference(old, x))


def test_real_trained_model_on_real_audio(realdata):
    """poreplex's trained LSTM(48) x 2 (saved by TF 1.x Keras 2.2.4-tf) on 2000 samples of real
    speech: both CPU backends agree with the reference (|c| reaches ~50, hence a relative term)."""
    import wave

    import lstm_inspector as li

    model = li.load_model(realdata / "models" / "poreplex-scaler-r3-keras224tf-lstm.hdf5")
    with wave.open(str(realdata / "audio" / "kaldi-test.wav")) as wav:
        samples = np.frombuffer(wav.readframes(2000), "<i2").astype(np.float32)
    x = (3 * samples / np.abs(samples).max())[:, None]  # (2000, 1)
    ref = run_reference(model, x)
    assert len(ref.layers) == 2 and np.abs(ref.layer(0).c).max() > 10
    for backend in CPU_BACKENDS:
        assert_traces_close(run_backend(model, x, backend), ref, rtol=1e-5)


def test_real_lstm_variants_relu_linear_hard_sigmoid(realdata):
    """frugally-deep's Keras 2.2.5 test model: LSTM / Bidirectional layers with relu, linear and
    hard_sigmoid recurrent activations, each run alone on tf-cpu; torch runs the sigmoid ones
    and refuses the others by name."""
    import lstm_inspector as li

    model = li.load_model(realdata / "models" / "frugally-deep-lstm-variants-keras225.h5")
    seen = set()
    for k, layer in enumerate(model.layers):
        sub = model.sub_model(k)
        x = features(30, layer.input_size, seed=k)
        ref = run_reference(sub, x)
        assert_traces_close(run_backend(sub, x, "tf-cpu"), ref, rtol=1e-4)
        seen.add(layer.recurrent_activation)
        if not HAS_TORCH:
            continue
        if layer.recurrent_activation == "sigmoid":
            assert_traces_close(run_backend(sub, x, "torch-cpu"), ref, rtol=1e-4)
        else:
            with pytest.raises(InspectorError, match=f"'{layer.name}'.*{layer.recurrent_activation}"):
                run_backend(sub, x, "torch-cpu")
    assert {"relu", "hard_sigmoid", "linear", "sigmoid"} <= seen
