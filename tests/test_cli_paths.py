"""``--a PATH`` / ``--b PATH`` on every command that compares paths; the older options are short
forms of ``--b``, and any two paths compare, the reference among them or not."""
import subprocess
import sys
from pathlib import Path

import pytest

from lstm_inspector import resources_path
from lstm_inspector.cli import build_parser
from lstm_inspector.cli.options import path_specs
from lstm_inspector.errors import InspectorError

DEMO = resources_path() / "demo_digits_cudnnlstm.h5"
SEVEN = resources_path() / "demo_seven.npy"
PLANTED = Path(__file__).resolve().parent / "impls" / "planted.py"

SHORT_FORMS = [
    (["--backend", "tf-cpu"], "tf-cpu"),
    (["--backend", "numpy:naive"], "numpy:naive"),
    (["--impl", "port.py:forward"], "impl:port.py:forward"),
    (["--outputs", "h.npy"], "outputs:h.npy"),
    (["--onnx", "m.onnx"], "onnx:m.onnx"),
    (["--tflite", "m.tflite"], "tflite:m.tflite"),
]


def specs(*argv):
    return path_specs(build_parser().parse_args(list(argv)))


@pytest.mark.parametrize("command", ["compare", "diagnose", "sweep", "gui"])
@pytest.mark.parametrize("short, spelled", SHORT_FORMS)
def test_each_short_form_is_its_b_spelling(command, short, spelled):
    files = ["m.h5", "f.npy"]
    assert specs(command, *files, *short) == specs(command, *files, "--b", spelled) \
        == ("numpy", spelled)


def test_defaults_reading_and_one_path_b_only():
    assert specs("compare", "m.h5", "f.npy") == ("numpy", "auto")
    assert specs("gui", "--reading", "naive") == specs("gui", "--b", "numpy:naive")
    assert specs("compare", "m", "f", "--a", "torch-cpu", "--b", "impl:p.py") == \
        ("torch-cpu", "impl:p.py")
    with pytest.raises(InspectorError, match="give one of them"):
        specs("compare", "m", "f", "--b", "tf-cpu", "--impl", "p.py")
    with pytest.raises(InspectorError, match="unknown backend 'cuda-magic'"):
        specs("sweep", "m", "f", "--backend", "cuda-magic")


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.torch
def test_your_port_against_a_library_with_no_reference():
    code, out, err = run_cli("compare", DEMO, SEVEN, "--a", f"impl:{PLANTED}:correct",
                             "--b", "torch-cpu", "--no-oracle")
    assert code == 0, out + err
    assert "a:         your correct (planted.py)" in out and "b:         PyTorch" in out
    assert "path A (your correct (planted.py)) is not the reference" in out
    # A carries the fault, B is right: the verdict names A's reading, not "precision drift"
    code, out, err = run_cli("compare", DEMO, SEVEN, "--a", f"impl:{PLANTED}:wrong_gate_order",
                             "--b", "torch-cpu", "--no-oracle")
    assert code == 1, out + err
    verdict = next(line for line in out.splitlines() if line.startswith("verdict:"))
    assert "Structural" in verdict and "wrong_gate_order" in verdict and "onnx-order" in verdict


def test_diagnose_takes_b_and_refuses_another_a():
    code, out, err = run_cli("diagnose", DEMO, SEVEN, "--b", "numpy:naive")
    assert code == 1 and "naive" in out, out + err
    code, out, err = run_cli("diagnose", DEMO, SEVEN, "--a", "numpy64", "--b", "numpy:naive")
    assert code == 2 and err.count("\n") == 1 and "not the reference" in err, err
    code, out, err = run_cli("diagnose", DEMO, SEVEN)
    assert code == 2 and "--b PATH" in err, err


def test_sweep_takes_a_and_names_the_wrong_side(tmp_path):
    import json

    import numpy as np

    rng = np.random.default_rng(5)
    for k in range(2):
        np.save(tmp_path / f"u{k}.npy", rng.standard_normal((30, 13)).astype(np.float32))
    code, out, err = run_cli("sweep", DEMO, tmp_path, "--a", f"impl:{PLANTED}:wrong_gate_order",
                             "--b", "numpy64", "--json")
    assert code == 1, out + err
    data = json.loads(out)
    assert data["path_a"] == f"impl:{PLANTED}:wrong_gate_order" and data["backend"] == "numpy64"
    assert all(r["kind"] == "structural" and "wrong_gate_order" in r["verdict"]
               and "onnx-order" in r["verdict"] for r in data["rows"]), data["rows"]
