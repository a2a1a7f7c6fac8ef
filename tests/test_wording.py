"""What the tool says: which tolerance bound admitted a difference, layers labelled as the file
numbers them (``--layer N``), notes only about layers that run, plurals, the CLI's own words."""
import json
import subprocess
import sys

import numpy as np
import pytest

import model_files
from engine_models import cudnn_model, features
from lstm_inspector.core.compare import compare
from lstm_inspector.core.reference import check_input, run_reference
from lstm_inspector.errors import InspectorError


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=240)
    return proc.returncode, proc.stdout, proc.stderr


# ---- the agreement sentence says which bound admitted the largest difference ---------------
def test_agreement_within_atol_says_so():
    model = cudnn_model(n_in=3, units=4, seed=2)
    x = features(30, 3)
    ref32, ref64 = run_reference(model, x), run_reference(model, x, dtype="float64")
    verdict = compare(ref64, ref32, model=model, oracle=False).verdict
    assert "every difference is within atol=1e-05 (largest" in verdict, verdict
    assert "rtol" not in verdict  # the relative bound played no part


def test_agreement_above_atol_names_the_relative_bound():
    model = cudnn_model(n_in=3, units=4, seed=2)
    x = features(30, 3)
    ref32, ref64 = run_reference(model, x), run_reference(model, x, dtype="float64")
    report = compare(ref64, ref32, atol=1e-9, rtol=1e-3, model=model, oracle=False)
    assert report.agree
    verdict = report.verdict
    assert "exceeds atol=1e-09 but is admitted by rtol=0.001: atol + rtol x |a| = " in verdict
    largest = float(verdict.split("the largest difference, ")[1].split(" ")[0])
    assert largest == pytest.approx(report.max_error(), rel=0.05)


# ---- --layer N: labelled N, its width named in the error -----------------------------------
@pytest.fixture(scope="module")
def stacked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wording")
    written = model_files.write_cudnn_model(folder, input_size=3, units=4, stacked=2, seed=3)
    rng = np.random.default_rng(0)
    np.save(folder / "x3.npy", rng.standard_normal((20, 3)).astype(np.float32))
    np.save(folder / "x4.npy", rng.standard_normal((20, 4)).astype(np.float32))
    np.save(folder / "x1.npy", rng.standard_normal((20, 1)).astype(np.float32))
    return written.path, folder


def test_compare_layer_n_labels_layer_n(stacked):
    model, folder = stacked
    code, out, err = run_cli("compare", model, folder / "x4.npy", "--layer", "1",
                             "--backend", "numpy:naive")
    assert code == 1, err
    rows = [l for l in out.splitlines() if l.startswith("  1 ")]
    assert rows, out
    assert "layer 1 (" in out and "layer 0 (" not in out
    code, out, err = run_cli("compare", model, folder / "x4.npy", "--layer", "1",
                             "--backend", "numpy:naive", "--json")
    report = json.loads(out)
    assert report["first"]["layer"] == 1
    assert {q["layer"] for q in report["quantities"]} == {1}


def test_compare_layer_n_width_error_names_layer_n(stacked):
    model, folder = stacked
    code, out, err = run_cli("compare", model, folder / "x3.npy", "--layer", "1")
    assert code == 2
    assert "3 columns but layer 1 (" in err and "expects 4 inputs" in err, err
    assert "first layer" not in err


def test_one_column_is_singular():
    model = cudnn_model(n_in=3, units=2)
    with pytest.raises(InspectorError, match="have 1 column but the model's first layer "
                                             "expects 3 inputs"):
        check_input(model, np.zeros((5, 1), np.float32))


# ---- notes: only about layers that run -----------------------------------------------------
@pytest.fixture(scope="module")
def initial_state_model(tmp_path_factory):
    """lstm_a returns its states; lstm_b starts from them (a note the tool must give)."""
    K = model_files.keras()
    folder = tmp_path_factory.mktemp("state")
    x = K.layers.Input((None, 3))
    seq, h, c = K.layers.LSTM(4, return_sequences=True, return_state=True, name="lstm_a")(x)
    y = K.layers.LSTM(4, return_sequences=True, name="lstm_b")(seq, initial_state=[h, c])
    written = model_files.save(K.Model(x, K.layers.Dense(2)(y)), folder, "state.h5")
    np.save(folder / "x.npy", features(12, 3))
    return written.path, folder / "x.npy"


def test_initial_state_note_only_when_that_layer_runs(initial_state_model):
    import lstm_inspector as li

    path, x = initial_state_model
    model = li.load_model(path)
    note = "layer 'lstm_b' takes its initial state from other tensors"
    assert any(note in n for n in model.notes)
    assert [l.name for l in model.chain] == ["lstm_a", "lstm_b"]
    assert any(note in n for n in model.run_notes())
    assert not any(note in n for n in model.sub_model(0).notes)
    code, out, err = run_cli("compare", path, x, "--layer", "0", "--backend", "numpy64")
    assert code == 0, err
    assert note not in out and "layer 0 (lstm_a)" not in err


# ---- the Kaldi note speaks the CLI's language -----------------------------------------------
def test_kaldi_note_names_the_key_option():
    from lstm_inspector.io.kaldi import _first_note

    note = _first_note(["utt1", "utt2"], None, "utt1")[0]
    assert "--key" in note and "key=<" not in note.replace("--key", "")


def test_a_lambda_fed_layer_is_in_the_notes_views_show(tmp_path):
    """``run_notes`` (what the window's verdict area and compare print) says a Lambda the tool
    does not run feeds the first layer."""
    import lstm_inspector as li

    K = model_files.keras()
    x = K.layers.Input((None, 3))
    y = K.layers.LSTM(4, return_sequences=True)(K.layers.Lambda(lambda t: t * 2.0,
                                                                name="scale")(x))
    path = model_files.save(K.Model(x, K.layers.Dense(2)(y)), tmp_path, "lambda_fed.h5").path
    model = li.load_model(path)
    fed = [n for n in model.run_notes() if "is fed by 'scale' (Lambda)" in n]
    assert fed, model.run_notes()
    np.save(tmp_path / "x.npy", features(10, 3))
    code, out, err = run_cli("compare", path, tmp_path / "x.npy", "--backend", "numpy64")
    assert code == 1, err  # the paths agree, but on the Lambda's input, not its output (issue 24)
    assert f"note: {fed[0]}" in out
