"""GRU and CuDNNGRU: real tf-keras files loaded and run by the NumPy reference, checked against
Keras's own output for every convention (``core.gru``, ``core.gru_weights``).

CuDNNGRU cannot run on a CPU; what it computes is Keras's ``GRU(reset_after=True,
recurrent_activation='sigmoid')`` holding the same weights through Keras's own converter
(``model_files.keras_gru_twin``), which is the truth its tests compare with.
"""
import numpy as np
import pytest

from lstm_inspector import load_model, run_reference

import model_files as mf

X = np.random.default_rng(7).standard_normal((17, 3)).astype(np.float32)
ATOL = 2e-6


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("gru")


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("recurrent_activation", ["sigmoid", "hard_sigmoid"])
def test_keras_gru_matches_keras_for_each_convention(folder, reset_after, recurrent_activation):
    written = mf.write_gru_stack(folder, f"gru-{reset_after}-{recurrent_activation}.h5",
                                 reset_after=reset_after,
                                 recurrent_activation=recurrent_activation)
    model = load_model(written.path)
    layer = model.layers[0]
    assert layer.kind == "GRU" and layer.cell == "gru" and layer.runnable
    assert layer.recurrent_activation == recurrent_activation
    assert layer.directions["forward"].reset_after is reset_after
    assert f"reset_after={reset_after}" in model.describe()
    truth = mf.recurrent_output(written.model, X)
    for dtype in ("float32", "float64"):
        trace = run_reference(model, X, dtype=dtype)
        np.testing.assert_allclose(trace.output, truth, atol=ATOL, rtol=0)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("weights_only", [False, True])
def test_cudnn_gru_matches_keras_gru_through_keras_converter(folder, bidirectional, weights_only):
    written = mf.write_gru_stack(folder, f"cudnngru-{bidirectional}-{weights_only}.h5",
                                 cudnn=True, bidirectional=bidirectional,
                                 weights_only=weights_only)
    model = load_model(written.path)
    layer = model.layers[0]
    assert layer.kind == "CuDNNGRU" and layer.cell == "gru"
    assert layer.bidirectional is bidirectional
    assert "cuDNN layout" in layer.convention and "reset_after=True" in layer.convention
    if weights_only:
        assert any("6H: CuDNNGRU" in a for a in model.assumptions)
    twin = mf.keras_gru_twin(written, bidirectional=bidirectional)
    truth = mf.recurrent_output(twin, X)
    trace = run_reference(model, X)
    np.testing.assert_allclose(trace.output, truth, atol=ATOL, rtol=0)


@pytest.mark.parametrize("filename,options", [
    ("stack.h5", dict(bidirectional=True, stacked=2)),
    ("backwards.h5", dict(go_backwards=True, reset_after=False)),
    ("cell.h5", dict(cell=True)),
    ("stack.keras", dict(stacked=2, reset_after=False)),
])
def test_stacked_bidirectional_backwards_cells_and_keras_v3(folder, filename, options):
    written = mf.write_gru_stack(folder, filename, **options)
    model = load_model(written.path)
    assert all(l.cell == "gru" and l.runnable for l in model.layers)
    assert len(model.chain) == options.get("stacked", 1)
    truth = mf.recurrent_output(written.model, X)
    np.testing.assert_allclose(run_reference(model, X).output, truth, atol=ATOL, rtol=0)


def test_trace_records_r_z_candidate_and_its_recurrent_part(folder):
    """The recorded quantities satisfy the GRU equations step by step, per convention."""
    for reset_after in (True, False):
        written = mf.write_gru_stack(folder, f"eq-{reset_after}.h5", reset_after=reset_after)
        model = load_model(written.path)
        lt = run_reference(model, X, dtype="float64").layer(0)
        assert lt.quantities == ("r", "z", "n", "Rh", "h") and lt.c is None
        w = model.layers[0].weights().astype(np.float64)
        H = w.units
        h_prev = np.vstack([np.zeros(H), lt.h[:-1]])
        xp = X @ w.weight_ih.T + w.bias_ih
        r, z, n, rh = (lt.quantity(q) for q in ("r", "z", "n", "Rh"))
        R_n = w.weight_hh[2 * H:]
        b_Rn = w.bias_hh[2 * H:]
        if reset_after:
            np.testing.assert_allclose(rh, h_prev @ R_n.T + b_Rn, atol=1e-12)
            np.testing.assert_allclose(lt.quantity("z_n"), xp[:, 2 * H:] + r * rh, atol=1e-12)
        else:
            np.testing.assert_allclose(rh, (r * h_prev) @ R_n.T + b_Rn, atol=1e-12)
            np.testing.assert_allclose(lt.quantity("z_n"), xp[:, 2 * H:] + rh, atol=1e-12)
        np.testing.assert_allclose(n, np.tanh(lt.quantity("z_n")), atol=1e-12)
        np.testing.assert_allclose(lt.h, z * h_prev + (1 - z) * n, atol=1e-12)
        np.testing.assert_allclose(
            r, 1 / (1 + np.exp(-(xp[:, :H] + h_prev @ w.weight_hh[:H].T + w.bias_hh[:H]))),
            atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("safetensors", [False, True])
def test_torch_gru_state_dict_matches_torch_forward(tmp_path, safetensors):
    import torch

    torch.manual_seed(3)
    gru = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    with torch.no_grad():   # biases far from zero: a lost half shows
        for name, p in gru.named_parameters():
            p.copy_(torch.randn_like(p) * (0.8 if "bias" in name else 0.5))
    if safetensors:
        from lstm_inspector.io import safetensors_file

        path = tmp_path / "gru.safetensors"
        safetensors_file.write(path, {k: v.numpy().copy() for k, v in gru.state_dict().items()})
    else:
        path = tmp_path / "gru.pt"
        torch.save(gru.state_dict(), path)
    model = load_model(path)
    assert [l.kind for l in model.layers] == ["nn.GRU", "nn.GRU"]
    assert all(l.cell == "gru" and l.bidirectional for l in model.layers)
    with torch.no_grad():
        truth = gru(torch.from_numpy(X)[None])[0][0].numpy()
    np.testing.assert_allclose(run_reference(model, X).output, truth, atol=ATOL, rtol=0)
