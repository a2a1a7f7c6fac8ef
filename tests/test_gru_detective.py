"""GRU conventions diagnosed (``core.gru_detective``): each wrong reading of a real CuDNNGRU or
Keras GRU file is named with its fix (checked by running it), and a naive NumPy port of a
CuDNNGRU, written the way the forum's author wrote NewLSTM, gets the layout fix."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_inspector import load_model, run_reference
from lstm_inspector.paths.diagnosis import diagnose

import model_files as mf

IMPLS = Path(__file__).resolve().parent / "impls"
X = np.random.default_rng(21).standard_normal((30, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gru-detective")
    np.save(folder / "x.npy", X)
    return {"folder": folder,
            "cudnn": mf.write_gru_stack(folder, "cudnn.h5", cudnn=True).path,
            "keras": mf.write_gru_stack(folder, "keras.h5", reset_after=True).path}


@pytest.mark.parametrize("kind,reading,fault", [
    ("cudnn", "naive", "layout=keras"),
    ("cudnn", "rzn-order", "order=rzn"),
    ("cudnn", "reset-before", "reset_after=False"),
    ("cudnn", "input-bias-only", "bias=input"),
    ("cudnn", "recurrent-bias-only", "bias=recurrent"),
    ("cudnn", "recurrent-transposed", "recurrent=True"),
    ("keras", "rzn-order", "order=rzn"),
    ("keras", "reset-before", "reset_after=False"),
    ("keras", "hard_sigmoid", "rec_act=hard_sigmoid"),
    ("keras", "recurrent-bias-only", "bias=recurrent"),
])
def test_each_wrong_reading_is_named_with_a_checked_fix(files, kind, reading, fault):
    model = load_model(files[kind])
    path = run_reference(model.with_reading(reading), X)
    result = diagnose(model, X, path)
    (finding,) = result.findings
    assert result.exit_code == 1 and finding.kind == "convention", result.text
    assert finding.best.hypothesis.key() == fault
    assert finding.fix.check_error < 1e-6
    assert "h (a GRU's whole state)" in finding.text()


def test_the_file_own_reading_and_a_library_agree(files):
    model = load_model(files["cudnn"])
    assert diagnose(model, X, run_reference(model, X, dtype="float64")).agree


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_naive_port_of_a_cudnn_gru_gets_the_layout_fix(files):
    port = f"{IMPLS / 'forum_newgru.py'}:NewGRU"
    code, out, err = run_cli("diagnose", files["cudnn"], files["folder"] / "x.npy",
                             "--impl", port)
    assert code == 1, out + err
    assert "best match: kernels read as stored (x @ kernel, h @ recurrent_kernel)" in out
    assert "W = {g: blk.reshape(H, n_in) for g, blk in zip('zrn', blocks(kernel))}" in out
    assert "re-run on the fixed arrays agrees with the reference" in out
    code, out, err = run_cli("diagnose", files["cudnn"], files["folder"] / "x.npy",
                             "--impl", port, "--json")
    (finding,) = json.loads(out)["findings"]
    assert finding["match"]["faults"] == "layout=keras" and finding["fix"]["arrays_only"]


@pytest.mark.parametrize("reading", ["rzn-order", "reset-before", "recurrent-transposed"])
def test_compare_names_the_gru_reading_a_path_computes(files, reading):
    from lstm_inspector import compare

    model = load_model(files["cudnn"])
    report = compare(run_reference(model, X), run_reference(model.with_reading(reading), X),
                     model=model)
    assert not report.agree and report.to_dict()["fits_reading"] == reading
    assert f"the '{reading}' reading" in report.verdict


def test_a_gru_step_function_is_told_to_take_the_sequence_form(files, tmp_path):
    port = tmp_path / "gru_step.py"
    port.write_text("def step(x, h_prev, kernel, recurrent_kernel, bias):\n    return h_prev\n")
    code, out, err = run_cli("diagnose", files["cudnn"], files["folder"] / "x.npy",
                             "--impl", port, "--form", "step")
    assert code == 2 and "sequence form only" in err, out + err
