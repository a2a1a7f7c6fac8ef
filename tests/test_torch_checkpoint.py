"""PyTorch state dicts as models: real ``nn.LSTM`` modules saved with ``torch.save`` and as
safetensors, loaded by content, checked against torch's own forward pass.

The safetensors file is written by the tool's own writer (the format is 8 bytes of header length,
a JSON header, the raw buffer), and by the ``safetensors`` package where it is installed; the
reader needs neither torch nor that package (checked in a process where both are blocked).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from optional import installed

from lstm_inspector import load_model, run_reference
from lstm_inspector.errors import InspectorError
from lstm_inspector.io import safetensors_file

needs_torch = pytest.mark.torch  # conftest skips it without torch; CI's torch run selects it

CONFIGS = {  # name: (input width, H, layers, bidirectional)
    "one-layer": (3, 4, 1, False),
    "stacked": (2, 6, 2, False),
    "stacked-bidirectional": (5, 3, 2, True),
}


def run_cli(*args, timeout=240):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def _torch_lstm(config, seed=0):
    import torch

    n_in, units, depth, bidirectional = CONFIGS[config]
    torch.manual_seed(seed)
    module = torch.nn.LSTM(n_in, units, num_layers=depth, bidirectional=bidirectional)
    with torch.no_grad():  # biases of both halves far from zero: a lost half shows
        for name, p in module.named_parameters():
            p.copy_(torch.randn_like(p) * (0.8 if "bias" in name else 0.5))
    return module


def _torch_output(module, x):
    import torch

    with torch.no_grad():
        y, _ = module(torch.from_numpy(x)[:, None])  # (T, batch 1, D*H)
    return y[:, 0].numpy()


def _arrays(module, prefix=""):
    return {prefix + k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _one_sentence(message):
    assert message and "\n" not in message.strip() and "Traceback" not in message


@needs_torch
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("form", ["pt", "safetensors"])
def test_reference_agrees_with_torch_forward(tmp_path, config, form):
    import torch

    module = _torch_lstm(config)
    path = tmp_path / f"lstm.{form}"
    if form == "pt":
        torch.save(module.state_dict(), path)
    else:
        safetensors_file.write(path, _arrays(module))
    model = load_model(path)
    n_in, units, depth, bidirectional = CONFIGS[config]
    assert model.file_format == ("pytorch-state-dict" if form == "pt" else "safetensors")
    assert [l.name for l in model.chain] == [f"l{k}" for k in range(depth)]
    assert model.input_size == n_in and all(l.units == units for l in model.layers)
    assert all(l.bidirectional == bidirectional for l in model.layers)
    state = _arrays(module)
    for k, layer in enumerate(model.layers):  # canonical weights are the state dict's arrays
        for direction, suffix in (("forward", ""), ("backward", "_reverse"))[:1 + bidirectional]:
            w = layer.weights(direction)
            np.testing.assert_array_equal(w.weight_ih, state[f"weight_ih_l{k}{suffix}"])
            np.testing.assert_array_equal(w.bias_hh, state[f"bias_hh_l{k}{suffix}"])
    x = np.random.default_rng(1).standard_normal((23, n_in)).astype(np.float32)
    out = run_reference(model, x).output
    np.testing.assert_allclose(out, _torch_output(module, x), atol=1e-5, rtol=0)


@needs_torch
def test_safetensors_package_file_reads_the_same(tmp_path):
    st = pytest.importorskip("safetensors.numpy", reason="the safetensors package is optional")
    module = _torch_lstm("stacked-bidirectional")
    st.save_file(_arrays(module), str(tmp_path / "m.safetensors"))
    x = np.random.default_rng(2).standard_normal((9, 5)).astype(np.float32)
    out = run_reference(load_model(tmp_path / "m.safetensors"), x).output
    np.testing.assert_allclose(out, _torch_output(module, x), atol=1e-5, rtol=0)


@needs_torch
def test_prefix_picks_one_of_several_modules_and_wrappers_unwrap(tmp_path):
    import torch

    encoder, decoder = _torch_lstm("one-layer", 1), _torch_lstm("stacked", 2)
    state = {**{f"encoder.lstm.{k}": v for k, v in encoder.state_dict().items()},
             **{f"decoder.rnn.{k}": v for k, v in decoder.state_dict().items()},
             "head.weight": torch.zeros(2, 6)}
    path = tmp_path / "two.pth"
    torch.save({"epoch": 3, "state_dict": state}, path)
    with pytest.raises(InspectorError) as error:
        load_model(path)
    assert "'decoder.rnn.'" in str(error.value) and "'encoder.lstm.'" in str(error.value)
    assert "--prefix" in str(error.value)
    model = load_model(path, prefix="encoder.lstm")  # the trailing dot may be left out
    assert [l.name for l in model.layers] == ["encoder.lstm.l0"]
    assert any("decoder.rnn." in n for n in model.notes)
    x = np.random.default_rng(3).standard_normal((6, 3)).astype(np.float32)
    np.testing.assert_allclose(run_reference(model, x).output, _torch_output(encoder, x),
                               atol=1e-5, rtol=0)
    torch.save({"model": decoder.state_dict()}, tmp_path / "wrapped.pt")
    assert load_model(tmp_path / "wrapped.pt").layers[1].input_size == 6
    with pytest.raises(InspectorError, match="no recurrent module with prefix 'nope'"):
        load_model(path, prefix="nope")


@needs_torch
def test_pickled_code_is_refused_without_running_it(tmp_path):
    import torch

    planted = tmp_path / "planted"

    class Payload:
        def __reduce__(self):
            return (open, (str(planted), "w"))

    path = tmp_path / "evil.pt"
    torch.save({"weight_ih_l0": torch.zeros(8, 2), "extra": Payload()}, path)
    assert not planted.exists()
    with pytest.raises(InspectorError) as error:
        load_model(path)
    _one_sentence(str(error.value))
    assert "code to unpickle" in str(error.value) and "weights_only" in str(error.value)
    assert not planted.exists()
    code, out, err = run_cli("info", path)
    assert code == 2 and "code to unpickle" in err and not planted.exists()
    _one_sentence(err)
    torch.save(_torch_lstm("one-layer"), tmp_path / "whole_module.pt")  # nn.Module pickled whole
    with pytest.raises(InspectorError, match="state_dict"):
        load_model(tmp_path / "whole_module.pt")


@needs_torch
def test_gru_runs(tmp_path):  # proj_size runs: tests/test_torch_projection.py
    import torch

    torch.save(torch.nn.GRU(3, 4).state_dict(), tmp_path / "gru.pt")
    code, out, err = run_cli("info", tmp_path / "gru.pt")
    assert code == 0 and "nn.GRU" in out and "cell=gru" in out and "not supported" not in out
    assert load_model(tmp_path / "gru.pt").layers[0].units == 4


def _features(folder, width, steps=30):
    path = folder / f"x{width}.npy"
    np.save(path, np.random.default_rng(4).standard_normal((steps, width)).astype(np.float32))
    return path


@needs_torch
@pytest.mark.parametrize("backend", ["torch-cpu", "tf-cpu"])
def test_compare_on_a_torch_checkpoint_agrees(tmp_path, backend):
    import torch

    if backend == "tf-cpu" and not installed("tensorflow"):
        pytest.skip("tensorflow is not installed")
    torch.save(_torch_lstm("stacked-bidirectional").state_dict(), tmp_path / "m.pt")
    code, out, err = run_cli("compare", tmp_path / "m.pt", _features(tmp_path, 5),
                             "--backend", backend, "--no-oracle", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["agree"] and report["kind"] == "agree"


@needs_torch
def test_info_names_the_file_kind(tmp_path):
    import torch

    torch.save(_torch_lstm("stacked").state_dict(), tmp_path / "m.pt")
    code, out, err = run_cli("info", tmp_path / "m.pt")
    assert code == 0, err
    assert "(pytorch-state-dict)" in out and "l1: nn.LSTM in=6 units=6" in out
    code, out, err = run_cli("info", tmp_path / "m.pt", "--json")
    assert json.loads(out)["format"] == "pytorch-state-dict"


def test_safetensors_reads_without_torch_or_the_package(tmp_path):
    rng = np.random.default_rng(5)
    H, n_in = 3, 2
    arrays = {"rnn.weight_ih_l0": rng.standard_normal((4 * H, n_in)).astype(np.float32),
              "rnn.weight_hh_l0": rng.standard_normal((4 * H, H)).astype(np.float32),
              "rnn.bias_ih_l0": rng.standard_normal(4 * H).astype(np.float32),
              "rnn.bias_hh_l0": rng.standard_normal(4 * H).astype(np.float32),
              "out.weight": np.ones((1, H), np.float64)}
    safetensors_file.write(tmp_path / "m.safetensors", arrays, {"format": "pt"})
    code = ("import sys\nfor m in ('torch', 'safetensors'): sys.modules[m] = None\n"
            "from lstm_inspector import load_model\n"
            f"m = load_model({str(tmp_path / 'm.safetensors')!r})\n"
            "print(m.file_format, m.layers[0].name, m.layers[0].units)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["safetensors", "rnn.l0", "3"]
    w = load_model(tmp_path / "m.safetensors").layers[0].weights()
    np.testing.assert_array_equal(w.weight_hh, arrays["rnn.weight_hh_l0"])
    np.testing.assert_array_equal(w.bias_ih, arrays["rnn.bias_ih_l0"])


def test_damaged_safetensors_is_one_sentence(tmp_path):
    rng = np.random.default_rng(6)
    arrays = {"weight_ih_l0": rng.standard_normal((8, 2)).astype(np.float32),
              "weight_hh_l0": rng.standard_normal((8, 2)).astype(np.float32)}
    safetensors_file.write(tmp_path / "m.safetensors", arrays)
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:-8])  # buffer shorter than the header says
    with pytest.raises(InspectorError, match="damaged or truncated") as error:
        load_model(tmp_path / "cut.safetensors")
    _one_sentence(str(error.value))
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    header["weight_hh_l0"]["shape"] = [8, 3]  # a shape that is not its bytes
    text = json.dumps(header).encode()
    (tmp_path / "shape.safetensors").write_bytes(
        len(text).to_bytes(8, "little") + text + data[8 + int.from_bytes(data[:8], "little"):])
    with pytest.raises(InspectorError, match="weight_hh_l0"):
        load_model(tmp_path / "shape.safetensors")
    model = load_model(tmp_path / "m.safetensors")  # no bias: zeros, and said so in describe
    assert not model.layers[0].use_bias and "no bias" in model.layers[0].describe()


def test_state_dict_without_lstm_names_is_one_sentence(tmp_path):
    safetensors_file.write(tmp_path / "dense.safetensors", {"fc.weight": np.ones((2, 2))})
    with pytest.raises(InspectorError, match="no nn.LSTM weights") as error:
        load_model(tmp_path / "dense.safetensors")
    _one_sentence(str(error.value))
    with pytest.raises(InspectorError, match="does not apply"):
        load_model(tmp_path / "dense.safetensors", activation="relu")


@needs_torch
@pytest.mark.skipif(not installed("PyQt5"), reason="PyQt5 is not installed")
def test_the_window_opens_a_torch_checkpoint(tmp_path):
    import torch

    torch.save(_torch_lstm("stacked-bidirectional").state_dict(), tmp_path / "m.pth")
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", str(tmp_path / "m.pth"),
                           str(_features(tmp_path, 5)), "--backend", "torch-cpu",
                           "--screenshot", str(out)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.stat().st_size > 10_000
    from lstm_inspector.gui.pipeline import classify_path

    assert classify_path(tmp_path / "m.pth") == "model"


def test_damaged_torch_and_safetensors_files_are_named(tmp_path):
    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04" + b"\0" * 40)  # a zip's start, nothing more
    with pytest.raises(InspectorError, match="cut.pt is not a torch.save file") as error:
        load_model(tmp_path / "cut.pt")
    _one_sentence(str(error.value))
    (tmp_path / "bad.safetensors").write_bytes((5).to_bytes(8, "little") + b"nojsn")
    with pytest.raises(InspectorError, match="damaged safetensors header"):
        load_model(tmp_path / "bad.safetensors")


@needs_torch
def test_torchscript_archive_is_refused_as_code(tmp_path):
    import torch

    torch.jit.save(torch.jit.script(torch.nn.LSTM(3, 4)), str(tmp_path / "scripted.pt"))
    with pytest.raises(InspectorError, match="TorchScript archive .torch.jit.save.") as error:
        load_model(tmp_path / "scripted.pt")
    _one_sentence(str(error.value))


@needs_torch
def test_a_pt_file_without_torch_says_what_to_install(tmp_path):
    import torch

    torch.save(_torch_lstm("one-layer").state_dict(), tmp_path / "m.pt")
    code = ("import sys\nsys.modules['torch'] = None\n"
            "from lstm_inspector import cli\n"
            f"sys.exit(cli.main(['info', {str(tmp_path / 'm.pt')!r}]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert "needs torch to read (pip install torch)" in out.stderr
    _one_sentence(out.stderr)
