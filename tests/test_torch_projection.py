"""``nn.LSTM(proj_size=P)`` checkpoints end to end, checked against torch's own forward pass.

    c_t = f_t c_{t-1} + i_t c~_t          (H wide)
    h_t = W_hr (o_t * tanh(c_t))           (P wide; weight_hh is (4H, P), the next layer reads D * P)

Real modules with random weights (biases far from zero), saved with ``torch.save`` and as
safetensors; the reference, the torch-cpu backend (one call per direction, c derived from h),
compare, sweep and the window each run them; backends and exports that have no projection
refuse them with one sentence.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_inspector import load_model, run_reference
from lstm_inspector.core.weights import READINGS, StoredLSTM, from_torch
from lstm_inspector.errors import InspectorError
from lstm_inspector.io import safetensors_file

pytestmark = pytest.mark.torch

CONFIGS = {  # name: (input width, H, P, layers, bidirectional)
    "one-layer": (3, 5, 2, 1, False),
    "stacked-bidirectional": (4, 6, 3, 2, True),
}


def projected_lstm(config, seed=0):
    import torch

    n_in, units, proj, depth, bidirectional = CONFIGS[config]
    torch.manual_seed(seed)
    module = torch.nn.LSTM(n_in, units, num_layers=depth, bidirectional=bidirectional,
                           proj_size=proj)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn_like(p) * (0.8 if "bias" in name else 0.5))
    return module


def torch_forward(module, x, state=None):
    """torch's own output (T, D*P) and final (h_n, c_n) on the CPU (its native kernel)."""
    import torch

    saved, torch.backends.mkldnn.enabled = torch.backends.mkldnn.enabled, False  # no warning
    try:
        with torch.no_grad():
            y, (h_n, c_n) = module(torch.from_numpy(x)[:, None], state)
    finally:
        torch.backends.mkldnn.enabled = saved
    return y[:, 0].numpy(), h_n[:, 0].numpy(), c_n[:, 0].numpy()


def save(module, folder, form):
    import torch

    path = folder / f"proj.{form}"
    if form == "pt":
        torch.save(module.state_dict(), path)
    else:
        safetensors_file.write(path, {k: v.detach().numpy().copy()
                                      for k, v in module.state_dict().items()})
    return path


def features(folder, width, steps=40, seed=4, name="x.npy"):
    x = np.random.default_rng(seed).standard_normal((steps, width)).astype(np.float32)
    np.save(folder / name, x)
    return x, folder / name


def run_cli(*args, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("form", ["pt", "safetensors"])
def test_reference_agrees_with_torch_forward(tmp_path, config, form):
    n_in, units, proj, depth, bidirectional = CONFIGS[config]
    module = projected_lstm(config)
    model = load_model(save(module, tmp_path, form))
    assert [(l.input_size, l.units, l.proj_size) for l in model.chain] == [
        (n_in if k == 0 else proj * (1 + bidirectional), units, proj) for k in range(depth)]
    assert "proj_size=" + str(proj) in model.describe()
    x, _ = features(tmp_path, n_in)
    expected, h_n, c_n = torch_forward(module, x)
    for dtype, atol in (("float32", 2e-6), ("float64", 2e-6)):
        trace = run_reference(model, x, dtype=dtype)
        assert trace.output.shape == expected.shape == (len(x), proj * (1 + bidirectional))
        np.testing.assert_allclose(trace.output, expected, atol=atol, rtol=0)
    # the last step of every direction: h (P) and c (H) as torch returns them
    for k in range(depth):
        for n, direction in enumerate(("forward", "backward")[:1 + bidirectional]):
            lt = trace.layer(k, direction)
            last = 0 if direction == "backward" else -1
            assert lt.h.shape == (len(x), proj) and lt.c.shape == (len(x), units)
            np.testing.assert_allclose(lt.h[last], h_n[k * (1 + bidirectional) + n], atol=2e-6)
            np.testing.assert_allclose(lt.c[last], c_n[k * (1 + bidirectional) + n], atol=2e-6)


def test_torch_backend_runs_the_projection_in_one_call(tmp_path):
    from lstm_inspector.backends import run_backend

    module = projected_lstm("stacked-bidirectional")
    model = load_model(save(module, tmp_path, "pt"))
    x, _ = features(tmp_path, 4, steps=60)
    expected, _, _ = torch_forward(module, x)
    ref = run_reference(model, x)
    trace = run_backend(model, x, "torch-cpu")
    assert trace.meta["road"] == "one-call"
    np.testing.assert_allclose(trace.output, expected, atol=1e-6, rtol=0)
    assert trace.meta["derivation_max_abs"] < 1e-5   # the derived c lands on torch's last c
    for k, direction, lt in trace.items():
        mine = ref.layer(k, direction)
        assert lt.how("c") == "derived" and lt.how("h") == "measured"
        for q in ("c", "h", "i", "f", "c~", "o"):
            np.testing.assert_allclose(lt.quantity(q), mine.quantity(q), atol=2e-6, rtol=0)
    stepped = run_backend(model, x, "torch-cpu", stepped=True)
    np.testing.assert_allclose(stepped.layer(1, "backward").c, ref.layer(1, "backward").c,
                               atol=2e-6)


def test_initial_state_is_p_wide_for_h_and_h_wide_for_c(tmp_path):
    import torch

    from lstm_inspector.backends import run_backend

    module = projected_lstm("one-layer")
    model = load_model(save(module, tmp_path, "pt"))
    x, _ = features(tmp_path, 3)
    rng = np.random.default_rng(7)
    h0, c0 = rng.standard_normal(2).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    expected, _, _ = torch_forward(module, x, (torch.from_numpy(h0)[None, None],
                                               torch.from_numpy(c0)[None, None]))
    state = {(0, "forward"): (h0, c0)}
    np.testing.assert_allclose(run_reference(model, x, initial_state=state).output, expected,
                               atol=2e-6)
    np.testing.assert_allclose(run_backend(model, x, "torch-cpu", initial_state=state).output,
                               expected, atol=2e-6)
    with pytest.raises(InspectorError, match=r"expected \(2,\) and \(5,\)"):
        run_reference(model, x, initial_state={(0, "forward"): (c0, c0)})


def test_recomputed_gates_and_teacher_forced_steps_follow_the_projection(tmp_path):
    from lstm_inspector.core.reference import teacher_forced_layer

    model = load_model(save(projected_lstm("stacked-bidirectional"), tmp_path, "pt"))
    x, _ = features(tmp_path, 4, steps=50)
    held, recomputed = run_reference(model, x, gates=True), run_reference(model, x, gates=False)
    for k, direction, lt in held.items():
        other = recomputed.layer(k, direction)
        assert not other.holds_gates
        assert np.array_equal(other.a, lt.a) and np.array_equal(other.h, lt.h)
        # every step recomputed from the trace's own previous (h, c): the same h and c
        forced = teacher_forced_layer(model, k, held, "float32")[direction]
        np.testing.assert_allclose(forced.h, lt.h, atol=1e-6, rtol=0)
        np.testing.assert_allclose(forced.c, lt.c, atol=1e-6, rtol=0)


def test_stored_arrays_keep_the_projection_under_every_reading():
    rng = np.random.default_rng(1)
    H, P, n_in = 5, 2, 3
    w = from_torch(rng.standard_normal((4 * H, n_in)), rng.standard_normal((4 * H, P)),
                   rng.standard_normal(4 * H), rng.standard_normal(4 * H),
                   weight_hr=rng.standard_normal((P, H)))
    kernel, recurrent, bias = w.to_cudnn_keras()
    assert recurrent.shape == (P, 4 * H)
    stored = StoredLSTM(kernel, recurrent, bias, READINGS["cudnn"], projection=w.weight_hr)
    assert stored.read().equals(w)
    for name in ("onnx-order", "input-bias-only", "naive"):
        wrong = stored.read(name)
        assert wrong.proj_size == P and wrong.weight_hh.shape == (4 * H, P)
        assert not wrong.equals(w)
    with pytest.raises(InspectorError, match="weight_hh has shape"):
        from_torch(np.zeros((4 * H, n_in)), np.zeros((4 * H, H)), weight_hr=np.zeros((P, H)))
    with pytest.raises(InspectorError, match="ONNX's LSTM has no output projection"):
        w.to_onnx()


def test_compare_and_sweep_on_the_cli_say_agree(tmp_path):
    module = projected_lstm("stacked-bidirectional")
    path = save(module, tmp_path, "pt")
    _, feats = features(tmp_path, 4)
    code, out, err = run_cli("info", path, "--json")
    assert code == 0 and [l["proj_size"] for l in json.loads(out)["layers"]] == [3, 3]
    code, out, err = run_cli("compare", path, feats, "--backend", "torch-cpu", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["agree"] and report["kind"] == "agree"
    folder = tmp_path / "utterances"
    folder.mkdir()
    for k in range(3):
        features(folder, 4, steps=20 + 9 * k, seed=k, name=f"u{k}.npy")
    code, out, err = run_cli("sweep", path, folder, "--backend", "torch-cpu")
    assert code == 0, err
    assert "3 utterances: 3 agree" in out


@pytest.mark.parametrize("args, words", [
    (("compare", "--backend", "tf-cpu"), "proj_size=3 (h = W_hr (o * tanh(c))), which Keras's "
                                         "LSTM cannot compute"),
    (("export", "--to", "onnx", "OUT.onnx"), "which the onnx export does not write"),
    (("compare", "--dtype", "mixed_float16"), "does not compute nn.LSTM's proj_size"),
    (("diagnose", "--impl", "IMPL"), "forward takes no weight_hr, but this nn.LSTM has proj_size"),
])
def test_what_has_no_projection_refuses_it_in_one_sentence(tmp_path, args, words):
    path = save(projected_lstm("stacked-bidirectional"), tmp_path, "safetensors")
    _, feats = features(tmp_path, 4)
    command, *rest = args
    rest = [str(tmp_path / a) if a.startswith("OUT") else
            str(Path(__file__).parent / "impls" / "torch_correct.py") if a == "IMPL" else a
            for a in rest]
    extra = [feats] if command in ("compare", "diagnose") else []
    code, out, err = run_cli(command, path, *extra, *rest)
    assert code == 2, err
    assert words in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_diverging_projected_path_is_diagnosed(tmp_path):
    """The detective runs the projected step (h = W_hr (o tanh c)) for its hypotheses: the
    ONNX gate order i, o, f, c~ read into this nn.LSTM(proj_size=3) is named."""
    path = save(projected_lstm("stacked-bidirectional"), tmp_path, "safetensors")
    _, feats = features(tmp_path, 4)
    code, out, err = run_cli("diagnose", path, feats, "--backend", "numpy:onnx-order", "--json")
    assert code == 1, err
    findings = json.loads(out)["findings"]
    assert len(findings) == 4 and all(f["match"]["faults"] == "order=iofc" for f in findings)
