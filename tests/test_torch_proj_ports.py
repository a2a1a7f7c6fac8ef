"""NumPy ports of a PyTorch ``nn.LSTM(proj_size=P)`` checkpoint, run as ``impl:`` paths on
nn.LSTM's own arrays plus ``weight_hr (P, H)``, and diagnosed: the detective's hypotheses run the
projected step from the port's own P-wide h_{t-1}::

    z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh      (W_hh is (4H, P))
    c_t = f c_{t-1} + i g,   h_t = W_hr (o * tanh(c_t))   (h P wide, c H wide)

The ports are in tests/impls/torch_proj_*.py: ``bias_hh`` forgotten, gates read i, f, o, g (h
returned alone), the projection applied to c (``h = W_hr c``); and a correct one; the step form
(``torch_proj_step_*.py``: h_prev P wide, c_prev H wide) too.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_inspector import diagnose, load_model, run_impl
from lstm_inspector.errors import InspectorError

pytestmark = pytest.mark.torch
IMPLS = Path(__file__).parent / "impls"


@pytest.fixture(scope="module")
def projected(tmp_path_factory):
    """A saved nn.LSTM(5, 6, 2 layers, bidirectional, proj_size=3) state dict and features."""
    import torch

    folder = tmp_path_factory.mktemp("torch_proj_port")
    torch.manual_seed(0)
    module = torch.nn.LSTM(5, 6, num_layers=2, bidirectional=True, proj_size=3)
    with torch.no_grad():   # biases of both halves far from zero: a lost half shows
        for name, p in module.named_parameters():
            p.copy_(torch.randn_like(p) * (0.8 if "bias" in name else 0.5))
    torch.save(module.state_dict(), folder / "lstm_proj.pt")
    x = np.random.default_rng(4).standard_normal((40, 5)).astype(np.float32)
    np.save(folder / "x.npy", x)
    return folder / "lstm_proj.pt", folder / "x.npy", x


PORTS = {  # file:function -> (fault the detective names, words of the fix, arrays-only fix)
    "torch_proj_forgot_bias_hh.py:forward": ("bias=input", "adds bias_ih only and forgets bias_hh",
                                             True),
    "torch_proj_gates_ifog.py:forward": ("order=ifoc", "in the order i, f, o, g; nn.LSTM stores "
                                         "them as i, f, g, o", True),
    "torch_proj_of_c.py:forward": ("proj=c", "projects the cell state (h = W_hr c)", False),
}


@pytest.mark.parametrize("port", list(PORTS))
def test_each_projected_port_is_diagnosed_with_its_convention(projected, port):
    path, _, x = projected
    fault, words, arrays_only = PORTS[port]
    model = load_model(path)
    trace = run_impl(model, x, str(IMPLS / port))
    assert trace.layer(0, "forward").h.shape == (40, 3)        # h is P wide
    found = diagnose(model, x, trace)
    assert not found.agree and len(found.findings) == 4      # 2 layers x 2 directions
    for finding in found.findings:
        assert finding.kind == "convention", finding.text()
        assert finding.best.hypothesis.key() == fault
        assert words in finding.fix.sentence
        assert finding.fix.check_error < 1e-6
        assert finding.fix.arrays_only == arrays_only
        if arrays_only:
            assert finding.rerun_ok, finding.text()          # the port on the fixed arrays


def test_a_correct_projected_port_agrees(projected):
    path, _, x = projected
    model = load_model(path)
    found = diagnose(model, x, run_impl(model, x, str(IMPLS / "torch_proj_correct.py")))
    assert found.agree and all(f.kind == "agrees" for f in found.findings)


def test_a_projected_step_port_runs_teacher_forced_and_is_diagnosed(projected):
    """The step form: h_prev (P,) and c_prev (H,), two widths; a correct step returning
    (cell, out) agrees, one forgetting b_hh is named, each step also run from torch's states."""
    path, _, x = projected
    model = load_model(path)
    trace = run_impl(model, x, str(IMPLS / "torch_proj_step_correct.py"))
    assert trace.meta["form"] == "step"
    assert trace.teacher_forced[(1, "backward")]["h"].shape == (40, 3)   # from torch's states
    found = diagnose(model, x, trace)
    assert found.agree and all(f.kind == "agrees" for f in found.findings)
    port = str(IMPLS / "torch_proj_step_forgot_bias_hh.py:lstm_step")
    found = diagnose(model, x, run_impl(model, x, port))
    assert not found.agree and len(found.findings) == 4
    for finding in found.findings:
        assert finding.best.hypothesis.key() == "bias=input", finding.text()
        assert finding.rerun_ok, finding.text()


def test_a_plain_nn_lstm_function_is_refused_in_one_sentence(projected):
    path, _, x = projected
    with pytest.raises(InspectorError, match="takes no weight_hr, but this nn.LSTM has proj_size"):
        run_impl(load_model(path), x, str(IMPLS / "torch_gates_ifog.py:lstm_step"))


def test_the_cli_compares_and_diagnoses_a_projected_port(projected):
    path, feats, _ = projected
    run = [sys.executable, "-m", "lstm_inspector"]
    good = IMPLS / "torch_proj_correct.py"
    proc = subprocess.run(run + ["compare", str(path), str(feats), "--a", f"impl:{good}:forward",
                                 "--b", "torch-cpu"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "agrees" in proc.stdout, proc.stdout + proc.stderr
    port = IMPLS / "torch_proj_forgot_bias_hh.py"
    proc = subprocess.run(run + ["diagnose", str(path), str(feats), "--b", f"impl:{port}:forward",
                                 "--json"], capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    first = report["findings"][0]
    assert first["match"]["faults"] == "bias=input"
    assert "add bias_hh too" in first["fix"]["sentence"]
