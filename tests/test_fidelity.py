"""Say only what is true of the file's model (issue 15).

Each test builds a model with tf-keras, saves it, loads the file with the tool, and checks the
tool's reference against what Keras itself computes from that same file on the same features
(``tf_keras.models.load_model`` here, in the test: the tool itself never runs a file's code).
Where the tool cannot compute what the file computes, the verdict must say so instead of "agree".
"""
import json
from dataclasses import replace
import subprocess
import sys

import numpy as np
import pytest

import model_files
from lstm_inspector import load_model
from lstm_inspector import run_backend
from lstm_inspector.core.compare import compare
from lstm_inspector.core.fidelity import all_notes, faithful
from lstm_inspector.core.reference import run_reference

pytestmark = pytest.mark.filterwarnings("ignore")


def run_cli(*args, timeout=240):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def keras_output(path, *inputs):
    """What Keras computes from the file itself: (T, out) per output, batch of one."""
    K = model_files.keras()
    model = K.models.load_model(str(path), compile=False)
    out = model([np.asarray(a, np.float32)[None] for a in inputs] if len(inputs) > 1
                else np.asarray(inputs[0], np.float32)[None])
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(o, np.float32)[0] for o in outs]


def speech_like(steps=100, width=6, padded=30, hole=(40, 45), seed=0):
    """Features whose last ``padded`` frames and a run in the middle are all zero (silence)."""
    x = np.random.default_rng(seed).standard_normal((steps, width)).astype(np.float32)
    x[steps - padded:] = 0.0
    if hole:
        x[hole[0]:hole[1]] = 0.0
    return x


# ---- 1. Masking ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def masked(tmp_path_factory):
    K = model_files.keras()
    folder = tmp_path_factory.mktemp("mask")
    files = {}
    model = K.Sequential([K.layers.Input((None, 6)), K.layers.Masking(0.0),
                          K.layers.LSTM(12, return_sequences=True)])
    files["plain"] = model_files.save(model, folder, "masked.h5", seed=1).path
    model = K.Sequential([K.layers.Input((None, 6)), K.layers.Masking(-1.0),
                          K.layers.Bidirectional(K.layers.LSTM(5, return_sequences=True)),
                          K.layers.LSTM(4, return_sequences=True, go_backwards=True)])
    files["stack"] = model_files.save(model, folder, "masked_stack.h5", seed=2).path
    return files


def test_masked_steps_carry_the_state_as_keras_does(masked):
    x = speech_like()
    model = load_model(masked["plain"])
    assert model.mask_value == 0.0
    ref = run_reference(model, x)
    (expected,) = keras_output(masked["plain"], x)
    assert np.abs(ref.output - expected).max() < 1e-5
    # the masked tail repeats the last kept output; h and c are carried
    assert np.array_equal(ref.layer(0).h[99], ref.layer(0).h[69])
    assert ref.mask is not None and (~ref.mask).sum() == 35
    # without the mask (what the tool computed before) the answer is far off
    unmasked = run_reference(replace(model, mask_value=None), x)
    assert np.abs(unmasked.output - expected).max() > 1e-2


def test_mask_through_a_bidirectional_stack_and_go_backwards(masked):
    x = speech_like(width=6)
    x[x == 0.0] = -1.0  # the mask value of this model
    model = load_model(masked["stack"])
    assert model.mask_value == -1.0 and len(model.chain) == 2
    ref = run_reference(model, x)
    (expected,) = keras_output(masked["stack"], x)
    assert np.abs(ref.output - expected).max() < 1e-5


@pytest.mark.parametrize("backend", ["tf-cpu", "torch-cpu"])
def test_backends_run_the_mask_and_agree(masked, backend):
    x = speech_like()
    model = load_model(masked["plain"])
    ref = run_reference(model, x)
    other = run_backend(model, x, backend=backend)
    report = compare(ref, other, model=model, oracle=False)
    assert report.agree and faithful(report), report.verdict
    assert other.mask is not None
    notes = " ".join(other.meta["notes"])
    assert "mask" in notes
    if backend == "torch-cpu":
        assert "holes" in notes  # the mask has a hole at 40-44: said, not hidden


def test_a_path_without_the_mask_is_not_called_agreement(masked):
    x = speech_like(hole=None)
    model = load_model(masked["plain"])
    ref = run_reference(model, x)
    blind = run_reference(replace(model, mask_value=None), x)
    report = compare(ref, blind, model=model, oracle=False)
    assert not faithful(report)
    assert "without the mask" in report.verdict


# ---- 2. Mixed precision -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    K = model_files.keras()
    folder = tmp_path_factory.mktemp("mixed")
    K.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = K.Sequential([K.layers.Input((None, 5)), K.layers.LSTM(16, return_sequences=True)])
    finally:
        K.mixed_precision.set_global_policy("float32")
    return model_files.save(model, folder, "mixed.h5", seed=4).path


@pytest.mark.torch
def test_mixed_float16_policy_is_read_said_and_followed(mixed):
    x = np.random.default_rng(5).standard_normal((60, 5)).astype(np.float32)
    model = load_model(mixed)
    assert model.layers[0].dtype_policy == "mixed_float16"
    assert any("mixed_float16" in n for n in model.notes)
    (expected,) = keras_output(mixed, x)
    f32 = run_reference(model, x)
    f16 = run_reference(model, x, dtype="mixed_float16")
    err32 = np.abs(f32.output - expected).max()
    err16 = np.abs(f16.output - expected).max()
    assert err32 > 1e-4 and err16 == 0, (err16, err32)  # float16 path: Keras's, bit for bit
    # float32 reference vs float32 torch: they agree, but that is not the file's model
    report = compare(f32, run_backend(model, x, backend="torch-cpu"), model=model, oracle=False)
    assert report.agree and not faithful(report)
    assert "mixed_float16" in report.verdict and "not what the file's model computes" in report.verdict


def test_tf_cpu_follows_the_policy_and_the_drift_is_named(mixed):
    x = np.random.default_rng(5).standard_normal((60, 5)).astype(np.float32)
    model = load_model(mixed)
    other = run_backend(model, x, backend="tf-cpu")
    assert other.meta["dtype"] == "mixed_float16"
    report = compare(run_reference(model, x), other, model=model, oracle=False)
    assert not report.agree and report.kind == "precision"
    assert "float16" in report.verdict
    same = compare(run_reference(model, x, dtype="mixed_float16"), other, model=model,
                   oracle=False)
    assert same.agree and faithful(same) and same.max_error() == 0, same.verdict


# ---- 3. Initial states --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stateful_input(tmp_path_factory):
    K = model_files.keras()
    folder = tmp_path_factory.mktemp("init")
    x_in = K.layers.Input((None, 3))
    h_in, c_in = K.layers.Input((6,), name="h_in"), K.layers.Input((6,), name="c_in")
    y = K.layers.LSTM(6, return_sequences=True)(x_in, initial_state=[h_in, c_in])
    path = model_files.save(K.Model([x_in, h_in, c_in], y), folder, "init.h5", seed=6).path
    rng = np.random.default_rng(7)
    h0, c0 = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    np.savez(folder / "state.npz", h0=h0, c0=c0)
    x = rng.standard_normal((30, 3)).astype(np.float32)
    np.save(folder / "x.npy", x)
    return {"path": path, "h0": h0, "c0": c0, "x": x, "folder": folder}


@pytest.mark.torch
def test_initial_state_reproduces_keras_and_zeros_are_not_agreement(stateful_input):
    f = stateful_input
    model = load_model(f["path"])
    assert model.layers[0].initial_state_from == ("h_in", "c_in")
    (expected,) = keras_output(f["path"], f["x"], f["h0"], f["c0"])
    start = {(0, "forward"): (f["h0"], f["c0"])}
    ref = run_reference(model, f["x"], initial_state=start)
    assert np.abs(ref.output - expected).max() < 1e-5
    for backend in ("tf-cpu", "torch-cpu"):
        other = run_backend(model, f["x"], backend=backend, initial_state=start)
        report = compare(ref, other, model=model, oracle=False)
        assert report.agree and faithful(report), (backend, report.verdict)
    zeros = compare(run_reference(model, f["x"]), run_backend(model, f["x"], backend="torch-cpu"),
                    model=model, oracle=False)
    assert zeros.agree and not faithful(zeros)
    assert "from zeros" in zeros.verdict


def test_cli_initial_state_exit_codes(stateful_input):
    f = stateful_input
    code, out, err = run_cli("compare", f["path"], f["folder"] / "x.npy", "--backend", "numpy64")
    assert code == 1, out + err  # agree, but from zeros: not the file's model
    assert "from zeros" in out
    code, out, err = run_cli("compare", f["path"], f["folder"] / "x.npy", "--backend", "numpy64",
                             "--initial-state", f["folder"] / "state.npz")
    assert code == 0, out + err
    np.savez(f["folder"] / "bad.npz", h0=f["h0"], c0=f["c0"][:3])
    code, out, err = run_cli("compare", f["path"], f["folder"] / "x.npy",
                             "--initial-state", f["folder"] / "bad.npz")
    assert code == 2 and "c0 (3,)" in err and len(err.strip().splitlines()) == 1


# ---- 4. Bidirectional(merge_mode=None) as the last layer ----------------------------------------
@pytest.mark.torch
def test_merge_mode_none_last_layer_runs_both_outputs(tmp_path):
    K = model_files.keras()
    x_in = K.layers.Input((None, 4))
    y = K.layers.Bidirectional(K.layers.LSTM(3, return_sequences=True), merge_mode=None)(x_in)
    path = model_files.save(K.Model(x_in, y), tmp_path, "none.h5", seed=8).path
    x = np.random.default_rng(9).standard_normal((25, 4)).astype(np.float32)
    model = load_model(path)
    ref = run_reference(model, x)
    forward, backward = keras_output(path, x)
    assert np.abs(ref.output[:, :3] - forward).max() < 1e-5
    assert np.abs(ref.output[:, 3:] - backward).max() < 1e-5
    report = compare(ref, run_backend(model, x, backend="torch-cpu"), model=model, oracle=False)
    assert report.agree and faithful(report)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli("info", path)
    assert code == 0 and "two outputs" in out and "runnable chain: bidirectional" in out


# ---- 5. Weights-only guesses --------------------------------------------------------------------
def test_weights_only_go_backwards_is_assumed_aloud_and_can_be_given(tmp_path):
    K = model_files.keras()
    model = K.Sequential([K.layers.Input((None, 3)),
                          K.layers.LSTM(4, return_sequences=True, go_backwards=True,
                                        activation="relu")])
    written = model_files.save(model, tmp_path, "w.weights.h5", weights_only=True, seed=10)
    full = model_files.save(model, tmp_path, "full.h5", seed=10).path
    x = np.random.default_rng(11).standard_normal((20, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (expected,) = keras_output(full, x)
    guessed = load_model(written.path)
    assert any("go_backwards" in a for a in guessed.assumptions)
    assert np.abs(run_reference(guessed, x).output - expected).max() > 1e-2
    told = load_model(written.path, go_backwards=True, activation="relu")
    assert np.abs(run_reference(told, x).output - expected).max() < 1e-5
    assert not any("go_backwards" in a or "activation tanh" in a for a in told.assumptions)
    # the CLI has every option a note recommends, and the verdict says what was assumed
    code, out, err = run_cli("compare", written.path, tmp_path / "x.npy", "--backend", "numpy64")
    assert "Assumed" in out and "--go-backwards" in out
    code, out, err = run_cli("compare", written.path, tmp_path / "x.npy", "--backend", "tf-cpu",
                             "--go-backwards", "--activation", "relu", "--merge-mode", "concat",
                             "--json")
    assert code == 0, out + err
    data = json.loads(out)
    assert data["faithful"] and not any("go_backwards" in a for a in data["assumptions"])


# ---- 6. Notes everywhere, and the small ones ----------------------------------------------------
@pytest.mark.torch
def test_json_and_text_carry_every_note(masked, tmp_path):
    x = speech_like()
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli("compare", masked["plain"], tmp_path / "x.npy", "--backend",
                             "torch-cpu", "--json")
    assert code == 0, out + err
    data = json.loads(out)
    notes = " ".join(data["notes"])
    assert "Masking" in notes and "in one call" in notes  # the model's and the backend's
    assert data["masked_steps"][:2] == [40, 41]
    code, out, err = run_cli("compare", masked["plain"], tmp_path / "x.npy", "--backend",
                             "torch-cpu")
    assert "note: " in out and "in one call" in out and "Masking" in out


def test_small_truths(tmp_path):
    K = model_files.keras()
    model = K.Sequential([K.layers.Input((None, 3)),
                          K.layers.LSTM(4, use_bias=False, stateful=False, return_sequences=True)])
    path = model_files.save(model, tmp_path, "nobias.h5").path
    assert "no bias" in load_model(path).layers[0].convention
    model = K.Sequential([K.layers.Input((None,), batch_size=1), K.layers.Embedding(20, 8),
                          K.layers.LSTM(4, stateful=True, return_sequences=True)])
    path = model_files.save(model, tmp_path, "emb.h5").path
    loaded = load_model(path)
    assert any("stateful" in n for n in loaded.notes)
    np.save(tmp_path / "ids.npy", np.arange(10, dtype=np.float32)[:, None])
    code, out, err = run_cli("compare", path, tmp_path / "ids.npy")
    # token ids are the model's input: the Embedding runs before the LSTM (issue 19)
    assert code == 0 and "Embedding 'embedding'" in out, out + err
    x = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    report = compare(run_reference(loaded, x), run_backend(loaded, x, backend="numpy64"),
                     model=loaded, oracle=False)
    if not report.agree:
        assert "by construction" in report.verdict
    assert all_notes(loaded)
