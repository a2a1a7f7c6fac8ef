"""GRU layers on the real libraries (``backends/gru_backends.py``): tf-keras's GRU on the CPU and
torch's nn.GRU, each one call per direction, checked against Keras's own output of the file's
model and torch's forward, and through ``compare`` and the CLI."""
import json
import subprocess
import sys

import numpy as np
import pytest

from lstm_inspector import compare, load_model, run_backend, run_reference
from lstm_inspector.errors import InspectorError

import model_files as mf

X = np.random.default_rng(11).standard_normal((33, 3)).astype(np.float32)
ATOL = 2e-6


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gru-backends")
    np.save(folder / "x.npy", X)
    return folder


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("backend", ["tf-cpu", "torch-cpu"])
@pytest.mark.parametrize("options", [dict(reset_after=True, bidirectional=True),
                                     dict(reset_after=False, stacked=2),
                                     dict(reset_after=True, go_backwards=True,
                                          recurrent_activation="hard_sigmoid")],
                         ids=["reset-after-bi", "reset-before-stacked", "backwards-hard"])
def test_backend_matches_keras_own_output(folder, backend, options):
    name = "-".join(f"{k}{v}" for k, v in options.items()) + ".h5"
    written = mf.write_gru_stack(folder, name, **options)
    model = load_model(written.path)
    truth = mf.recurrent_output(written.model, X)
    refusal = (not options["reset_after"]) or options.get("recurrent_activation") == "hard_sigmoid"
    if backend == "torch-cpu" and refusal:
        with pytest.raises(InspectorError, match="reset_after|tanh/sigmoid"):
            run_backend(model, X, backend)
        return
    trace = run_backend(model, X, backend)
    np.testing.assert_allclose(trace.output, truth, atol=ATOL, rtol=0)
    lt = trace.layer(0)
    assert lt.cell == "gru" and lt.how("h") == "measured" and lt.how("n") == "derived"
    report = compare(run_reference(model, X), trace, model=model)
    assert report.agree, report.verdict
    assert report.quantities(0, "forward") == ("r", "z", "n", "Rh", "h")


@pytest.mark.parametrize("backend", ["tf-cpu", "torch-cpu"])
def test_cudnn_gru_compare_agrees_cli(folder, backend):
    written = mf.write_gru_stack(folder, "cudnn-bi.h5", cudnn=True, bidirectional=True)
    twin = mf.keras_gru_twin(written, bidirectional=True)
    trace = run_backend(load_model(written.path), X, backend)
    np.testing.assert_allclose(trace.output, mf.recurrent_output(twin, X), atol=ATOL, rtol=0)
    code, out, err = run_cli("compare", written.path, folder / "x.npy", "--backend", backend)
    assert code == 0, out + err
    assert "agrees" in out and "first divergence: none" in out
    header = next(line for line in out.splitlines() if line.strip().startswith("layer"))
    assert header.split() == ["layer", "r", "z", "n", "Rh", "h"]
    code, out, err = run_cli("info", written.path, "--json")
    assert code == 0 and json.loads(out)["layers"][0]["cell"] == "gru"


def test_tf_gpu_refuses_gru_by_name(folder):
    from lstm_inspector.backends.tf_cudnn import supports

    written = mf.write_gru_stack(folder, "cudnn.h5", cudnn=True)
    assert "is a GRU" in supports(load_model(written.path))


@pytest.mark.torch
def test_torch_gru_checkpoint_compare_agrees_with_both_backends(tmp_path):
    import torch

    torch.manual_seed(5)
    gru = torch.nn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    torch.save(gru.state_dict(), tmp_path / "gru.pt")
    model = load_model(tmp_path / "gru.pt")
    with torch.no_grad():
        truth = gru(torch.from_numpy(X)[None])[0][0].numpy()
    reference = run_reference(model, X)
    for backend in ("torch-cpu", "tf-cpu"):   # tf-cpu: the canonical weights into Keras's GRU
        trace = run_backend(model, X, backend)
        np.testing.assert_allclose(trace.output, truth, atol=ATOL, rtol=0)
        assert compare(reference, trace, model=model).agree


def test_sweep_runs_a_gru_model_over_a_folder(folder):
    written = mf.write_gru_stack(folder, "sweep.h5", cudnn=True, bidirectional=True)
    utterances = folder / "set"
    utterances.mkdir()
    rng = np.random.default_rng(4)
    for k in range(3):
        np.save(utterances / f"u{k}.npy", rng.standard_normal((20 + 5 * k, 3)).astype(np.float32))
    code, out, err = run_cli("sweep", written.path, utterances, "--backend", "tf-cpu")
    assert code == 0, out + err
    assert "3 utterances: 3 agree" in out
    code, out, err = run_cli("sweep", written.path, utterances, "--backend", "numpy:reset-before")
    assert code == 1 and "3 structural" in out, out + err


def test_what_is_not_built_for_grus_is_refused_by_name(folder):
    """Exports, streaming and exported-file paths run LSTM layers only: one sentence each."""
    from lstm_inspector.core.streaming import check_streamable
    from lstm_inspector.export import export_model

    model = load_model(mf.write_gru_stack(folder, "refusals.h5", cudnn=True).path)
    for attempt in (lambda: export_model(model, "onnx", folder / "m.onnx"),
                    lambda: check_streamable(model, 4, 40)):
        with pytest.raises(InspectorError, match="is a GRU"):
            attempt()
    code, out, err = run_cli("compare", model.source, folder / "x.npy", "--b",
                             f"onnx:{folder / 'x.npy'}")
    assert code == 2 and "is a GRU" in err, out + err


@pytest.mark.parametrize("backend", ["tf-cpu", "torch-cpu"])
def test_masking_and_an_h0_only_initial_state(folder, backend):
    """A Masking layer before a GRU runs under Keras's mask on every path (checked against
    Keras's own output); an initial-state file may give a GRU's h0 without c0."""
    from lstm_inspector.io.initial_state import load_initial_state

    K = mf.keras()
    keras_model = K.Sequential([K.layers.InputLayer(input_shape=(None, 3)), K.layers.Masking(0.0),
                                K.layers.GRU(4, return_sequences=True), K.layers.Dense(2)])
    written = mf.save(keras_model, folder, f"masked-{backend}.h5")
    x = X[:20].copy()
    x[5], x[15:] = 0.0, 0.0
    model = load_model(written.path)
    truth = mf.recurrent_output(keras_model, x)
    trace = run_backend(model, x, backend)
    np.testing.assert_allclose(trace.output, truth, atol=ATOL, rtol=0)
    np.testing.assert_allclose(run_reference(model, x).output, truth, atol=ATOL, rtol=0)
    np.savez(folder / "h0.npz", h0=np.full(4, 0.3, np.float32))
    state = load_initial_state(folder / "h0.npz", model)
    reference = run_reference(model, x, initial_state=state)
    assert np.abs(reference.output - run_reference(model, x).output).max() > 1e-3
    assert compare(reference, run_backend(model, x, backend, initial_state=state),
                   model=model).agree


@pytest.mark.torch
@pytest.mark.parametrize("steps", [1, 2, 33])
def test_torch_gru_reads_one_reversed_row_and_read_only_rows(folder, steps, recwarn):
    """A backward direction's single row is a negative-stride view that NumPy calls contiguous:
    nn.GRU is handed a copy (``common.torch_input``, as nn.LSTM), not the view torch refuses."""
    pytest.importorskip("torch")
    model = load_model(str(mf.write_gru_stack(folder, "bi-rows.h5", bidirectional=True).path))
    x = X[:steps].copy()
    x.setflags(write=False)
    b = run_backend(model, x, "torch-cpu")
    a = run_reference(model, x)
    assert not [w for w in recwarn if "writ" in str(w.message) or "stride" in str(w.message)]
    for d in ("forward", "backward"):
        np.testing.assert_allclose(b.layer(0, d).h, a.layer(0, d).h, atol=ATOL)
