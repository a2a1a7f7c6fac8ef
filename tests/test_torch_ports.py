"""NumPy ports of a PyTorch ``nn.LSTM`` checkpoint, written the way people write them, diagnosed
on their own arrays (``weight_ih, weight_hh, bias_ih, bias_hh``): the detective names the
convention each got wrong, the fix is worded and written on those arrays, checked, and the
port re-run on the fixed arrays agrees with torch's model.

    nn.LSTM: z = W_ih x + b_ih + W_hh h + b_hh, gate blocks i, f, g, o

The ports are in tests/impls/torch_*.py: ``bias_hh`` forgotten, gates read i, f, o, g, each
(H, H) block of ``weight_hh`` multiplied as ``h @ W_hg`` (not transposed); and a correct one.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_inspector import diagnose, load_model, run_impl

pytestmark = pytest.mark.torch
IMPLS = Path(__file__).parent / "impls"


@pytest.fixture(scope="module")
def torch_model(tmp_path_factory):
    """A saved nn.LSTM(5, 6, 2 layers, bidirectional) state dict and features for it."""
    import torch

    folder = tmp_path_factory.mktemp("torch_port")
    torch.manual_seed(0)
    module = torch.nn.LSTM(5, 6, num_layers=2, bidirectional=True)
    with torch.no_grad():   # biases of both halves far from zero: a lost half shows
        for name, p in module.named_parameters():
            p.copy_(torch.randn_like(p) * (0.8 if "bias" in name else 0.5))
    torch.save(module.state_dict(), folder / "lstm.pt")
    x = np.random.default_rng(4).standard_normal((40, 5)).astype(np.float32)
    np.save(folder / "x.npy", x)
    return folder / "lstm.pt", folder / "x.npy", x


PORTS = {  # file:function -> (fault the detective names, words of the fix, a line of the fix)
    "torch_forgot_bias_hh.py:forward": (
        "bias=input", "adds bias_ih only and forgets bias_hh", "bias_ih = bias_ih + bias_hh"),
    "torch_gates_ifog.py:lstm_step": (
        "order=ifoc", "in the order i, f, o, g; nn.LSTM stores them as i, f, g, o",
        "weight_ih, weight_hh = weight_ih[perm], weight_hh[perm]"),
    "torch_hh_not_transposed.py:forward": (
        "recurrent=keras", "computes h @ W_hg with each gate block of weight_hh as stored",
        "weight_hh = np.concatenate([blk.T for blk in np.split(weight_hh, 4)])"),
}


@pytest.mark.parametrize("port", list(PORTS))
def test_each_torch_port_is_diagnosed_with_its_convention_and_fix(torch_model, port):
    path, _, x = torch_model
    fault, words, line = PORTS[port]
    model = load_model(path)
    trace = run_impl(model, x, str(IMPLS / port))
    found = diagnose(model, x, trace)
    assert not found.agree and len(found.findings) == 4   # 2 layers x 2 directions
    for finding in found.findings:
        assert finding.kind == "convention", finding.text()
        assert finding.best.hypothesis.key() == fault
        assert words in finding.fix.sentence and line in "\n".join(finding.fix.lines)
        assert "kernel" not in finding.fix.sentence      # nn.LSTM's names, not Keras's
        assert finding.fix.check_error < 1e-6
        assert finding.rerun_ok, finding.text()           # the port itself, on the fixed arrays


def test_a_correct_torch_port_agrees(torch_model):
    path, _, x = torch_model
    model = load_model(path)
    found = diagnose(model, x, run_impl(model, x, str(IMPLS / "torch_correct.py")))
    assert found.agree and all(f.kind == "agrees" for f in found.findings)


def test_the_cli_names_the_convention_against_torch_cpu(torch_model):
    path, feats, _ = torch_model
    port = IMPLS / "torch_forgot_bias_hh.py"
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", "compare", str(path), str(feats),
                           "--a", f"impl:{port}:forward", "--b", "torch-cpu"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr   # the paths diverge
    assert "computes exactly what the 'input-bias-only' reading" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", "diagnose", str(path), str(feats),
                           "--b", f"impl:{port}:forward", "--json"],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    first = report["findings"][0]
    assert first["match"]["faults"] == "bias=input"
    assert "add bias_hh too" in first["fix"]["sentence"]


@pytest.fixture(scope="module")
def torch_gru(tmp_path_factory):
    """A saved nn.GRU(5, 6, 2 layers, bidirectional) state dict and features for it."""
    import torch

    folder = tmp_path_factory.mktemp("torch_gru_port")
    torch.manual_seed(1)
    module = torch.nn.GRU(5, 6, num_layers=2, bidirectional=True)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn_like(p) * (0.8 if "bias" in name else 0.5))
    torch.save(module.state_dict(), folder / "gru.pt")
    x = np.random.default_rng(5).standard_normal((40, 5)).astype(np.float32)
    return load_model(folder / "gru.pt"), x


def test_a_torch_gru_port_gets_nn_grus_arrays_and_its_gate_order_is_named(torch_gru):
    """nn.GRU: r, z, n blocks of weight_ih (3H, in) / weight_hh (3H, H); the port reads z, r, n."""
    model, x = torch_gru
    found = diagnose(model, x, run_impl(model, x, str(IMPLS / "torch_gru_zrn.py:forward")))
    assert not found.agree and len(found.findings) == 4   # 2 layers x 2 directions
    for finding in found.findings:
        assert finding.kind == "convention", finding.text()
        assert "gate blocks read in order z, r, n" in finding.text()
        assert finding.fix.check_error < 1e-6
        assert finding.rerun_ok, finding.text()           # the port itself, on the fixed arrays
    found = diagnose(model, x, run_impl(model, x, str(IMPLS / "torch_gru_correct.py:forward")))
    assert found.agree and all(f.kind == "agrees" for f in found.findings)
