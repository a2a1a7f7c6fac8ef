"""Exported files as paths through the real CLI: ``diagnose`` and ``sweep`` take ``--onnx FILE``
(ONNX Runtime) like ``compare``; the detective words a file's fault as "this file" and names what
its converter got wrong. Files: a tf-keras CuDNNLSTM model, an ONNX written by
``lstm-inspector export``, and one written by the same writer with a planted gate order."""
import json
from pathlib import Path

import numpy as np
import pytest

from test_cli import run_cli

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import lstm_inspector as li
    import model_files
    from lstm_inspector.export import onnx_file

    folder = tmp_path_factory.mktemp("exported")
    model = model_files.write_cudnn_model(folder, input_size=3, units=4, stacked=2, seed=3).path
    rng = np.random.default_rng(0)
    np.save(folder / "x.npy", rng.standard_normal((40, 3)).astype(np.float32))
    code, out, err = run_cli("export", model, "--to", "onnx", folder / "good.onnx", folder / "x.npy")
    assert code == 0, out + err
    # the converter's mistake planted with the export's own writer: cuDNN's order i,f,c,o
    # written where ONNX wants i,o,f,c
    onnx_file.write(li.load_model(model), folder / "wrong.onnx", gate_order="ifco")
    corpus = folder / "corpus"
    corpus.mkdir()
    for k in range(2):
        np.save(corpus / f"utt{k}.npy", rng.standard_normal((25, 3)).astype(np.float32))
    return {"model": model, "x": folder / "x.npy", "good": folder / "good.onnx",
            "wrong": folder / "wrong.onnx", "corpus": corpus}


def test_diagnose_an_onnx_file_names_the_gate_order_its_converter_got_wrong(files):
    code, out, err = run_cli("diagnose", files["model"], files["x"], "--onnx", files["wrong"])
    assert code == 1, out + err
    assert "path:      ONNX Runtime (wrong.onnx)" in out
    assert "this file" in out and "your port" not in out.lower()
    assert "the converter that wrote this file got this wrong: gate order iofc" in out
    assert "fix: This file takes the gate blocks in the order iofc" in out
    code, out, err = run_cli("diagnose", files["model"], files["x"], "--onnx", files["wrong"],
                             "--json")
    data = json.loads(out)
    assert code == 1 and {f["match"]["faults"] for f in data["findings"]} == {"order=iofc"}


def test_diagnose_a_good_onnx_file_agrees_and_bad_requests_are_one_line(files):
    code, out, err = run_cli("diagnose", files["model"], files["x"], "--onnx", files["good"])
    assert code == 0 and "ONNX Runtime (good.onnx) agrees with the reference" in out, out + err
    code, out, err = run_cli("diagnose", files["model"], files["x"], "--onnx",
                             Path(files["good"]).with_name("missing.onnx"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "does not exist" in err


def test_sweep_runs_an_onnx_file_as_path_b(files):
    code, out, err = run_cli("sweep", files["model"], files["corpus"], "--onnx", files["good"],
                             "--json")
    assert code == 0, out + err
    data = json.loads(out)
    assert data["backend"] == f"onnx:{Path(files['good']).resolve()}"
    assert [r["kind"] for r in data["rows"]] == ["agree", "agree"]
    assert {r["backend"] for r in data["rows"]} == {"onnx"}
    code, out, err = run_cli("sweep", files["model"], files["corpus"], "--onnx", files["wrong"])
    assert code == 1 and "wrong.onnx" in out, out + err
    code, out, err = run_cli("sweep", files["model"], files["corpus"], "--onnx", files["good"],
                             "--impl", "x.py")
    assert code == 2 and err.count("\n") == 1 and "give one of them" in err, err
