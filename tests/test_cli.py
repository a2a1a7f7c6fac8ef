"""The lstm-inspector command as a user runs it: exit codes, one-line errors, real files."""
import json
import subprocess
import sys

import numpy as np
import pytest

import model_files


def run_cli(*args, timeout=240):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    written = model_files.write_cudnn_model(folder, input_size=3, units=4, stacked=2, seed=3)
    x = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
    np.save(folder / "x.npy", x)
    np.save(folder / "x_wrong.npy", x[:, :2])
    x_nan = x.copy()
    x_nan[7, 1] = np.nan
    np.save(folder / "x_nan.npy", x_nan)
    (folder / "garbage.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    (folder / "notes.txt").write_text("not a model\n")
    K = model_files.keras()
    simple = model_files.save(K.Sequential([K.layers.InputLayer(input_shape=(None, 3)),
                                            K.layers.SimpleRNN(4, return_sequences=True)]),
                              folder, "simple.h5")
    return {"model": written.path, "folder": folder, "simple": simple.path}


def test_info_lists_layers_and_conventions(files):
    code, out, err = run_cli("info", files["model"])
    assert code == 0, err
    assert "CuDNNLSTM in=3 units=4" in out and "CuDNNLSTM in=4 units=4" in out
    assert "cuDNN layout, 8H bias" in out and "runnable chain" in out
    code, out, _ = run_cli("info", files["model"], "--json")
    data = json.loads(out)
    assert [l["kind"] for l in data["layers"]] == ["CuDNNLSTM", "CuDNNLSTM"]
    assert data["layers"][0]["recurrent_activation"] == "sigmoid"


def test_compare_agrees_with_tensorflow_cpu_exit_0(files):
    code, out, err = run_cli("compare", files["model"], files["folder"] / "x.npy", "--backend", "tf-cpu")
    assert code == 0, out + err
    assert "agrees" in out and "first divergence: none" in out
    assert err.strip() == ""


def test_compare_naive_reading_diverges_exit_1_json(files):
    code, out, err = run_cli("compare", files["model"], files["folder"] / "x.npy",
                             "--backend", "numpy:naive", "--json")
    assert code == 1, err
    report = json.loads(out)
    assert report["agree"] is False and report["kind"] == "structural"
    assert report["fits_reading"] == "naive"
    assert report["first"]["layer"] == 0


def test_local_errors_on_agreement_only_when_asked(files):
    """B's local errors explain a parting; an agreement computes them with --local-errors always."""
    runs = {}
    for extra in ((), ("--local-errors", "always")):
        code, out, err = run_cli("compare", files["model"], files["folder"] / "x.npy",
                                 "--backend", "numpy64", "--no-oracle", "--json", *extra)
        assert code == 0, err
        runs[extra] = json.loads(out)
    lazy, eager = runs[()], runs[("--local-errors", "always")]
    assert lazy["agree"] and lazy["local_error_max"] is None
    assert eager["agree"] and 0 <= eager["local_error_max"] < 1e-6
    assert lazy["verdict"] == eager["verdict"]


def test_the_oracle_on_agreement_only_when_asked(files):
    """The float64 oracle runs where the paths part; --oracle always runs it for an agreement."""
    runs = {}
    for extra in ((), ("--oracle", "always")):
        code, out, err = run_cli("compare", files["model"], files["folder"] / "x.npy",
                                 "--backend", "numpy64", "--json", *extra)
        assert code == 0, err
        runs[extra] = json.loads(out)
    lazy, eager = runs[()], runs[("--oracle", "always")]
    assert lazy["agree"] and lazy["closer_to_exact"] is None
    assert eager["agree"] and eager["closer_to_exact"] == "b"   # numpy64 is the float64 run
    assert lazy["verdict"] == eager["verdict"]


@pytest.mark.parametrize("args,sentence", [
    (("info", "{folder}/garbage.h5"), "garbage.h5"),
    (("info", "{folder}/notes.txt"), "notes.txt"),
    (("info", "{folder}/missing.h5"), "missing.h5"),
    (("compare", "{model}", "{folder}/x_wrong.npy"), "2 columns"),
    (("compare", "{model}", "{folder}/x_nan.npy"), "frame 7, column 1"),
    (("compare", "{model}", "{folder}/x.npy", "--backend", "nonsense"), "nonsense"),
    (("compare", "{simple}", "{folder}/x.npy"), "SimpleRNN"),
])
def test_bad_input_exit_2_one_line_no_traceback(files, args, sentence):
    args = [a.format(folder=files["folder"], model=files["model"], simple=files["simple"]) for a in args]
    code, out, err = run_cli(*args)
    assert code == 2, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert sentence in lines[0] and "Traceback" not in err
