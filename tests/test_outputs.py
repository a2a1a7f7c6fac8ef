"""Outputs of a port written elsewhere (npy, npz, csv) read as a path and diagnosed; and the
user's function on stacked and bidirectional tf-keras CuDNNLSTM files, layer by layer."""
from pathlib import Path

import numpy as np
import pytest

import lstm_inspector as li
from lstm_inspector.core.reference import run_reference
from lstm_inspector.core.weights import Reading
from lstm_inspector.errors import InspectorError
from model_files import write_cudnn_model

IMPLS = Path(__file__).resolve().parent / "impls"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("outputs")
    single = li.load_model(write_cudnn_model(folder, input_size=3, units=4, seed=7).path)
    stacked_bi = li.load_model(write_cudnn_model(folder, input_size=3, units=4, seed=8,
                                                 bidirectional=True, stacked=2).path)
    x = np.random.default_rng(3).standard_normal((30, 3)).astype(np.float32)
    return folder, single, stacked_bi, x


def test_npy_of_h_from_a_c_port_is_diagnosed_with_h_alone(files, tmp_path):
    _, model, _, x = files
    port = run_reference(model.with_reading(Reading("p", bias="input")), x)   # the "C port"
    np.save(tmp_path / "h.npy", port.layer(0).h)
    trace = li.load_outputs(model, x, tmp_path / "h.npy")
    assert trace.layer(0).how("h") == "measured" and trace.layer(0).how("c") == "derived"
    result = li.diagnose(model, x, trace)
    (finding,) = result.findings
    assert not finding.c_known and finding.best.hypothesis.faults == (("bias", "input"),)
    assert finding.rerun_error is None                  # no function to re-run: a C port


def test_npz_and_csv_names(files, tmp_path):
    _, model, _, x = files
    true = run_reference(model, x).layer(0)
    np.savez(tmp_path / "port.npz", **{"layer0/forward/h": true.h, "layer0/forward/c": true.c})
    trace = li.load_outputs(model, x, tmp_path / "port.npz")
    assert trace.layer(0).how("c") == "measured"
    assert li.diagnose(model, x, trace).agree
    np.savetxt(tmp_path / "port.csv", np.hstack([true.h, true.c]), delimiter=",",
               header=",".join([f"h{j}" for j in range(4)] + [f"c{j}" for j in range(4)]))
    assert li.diagnose(model, x, li.load_outputs(model, x, tmp_path / "port.csv")).agree


def test_bad_outputs_are_sentences(files, tmp_path):
    _, model, _, x = files
    np.save(tmp_path / "wide.npy", np.zeros((30, 5)))
    with pytest.raises(InspectorError, match=r"shape \(30, 5\); expected \(frames, 4\)"):
        li.load_outputs(model, x, tmp_path / "wide.npy")
    np.save(tmp_path / "short.npy", np.zeros((29, 4)))
    with pytest.raises(InspectorError, match=r"shape \(29, 4\); expected \(30, 4\)"):
        li.load_outputs(model, x, tmp_path / "short.npy")
    np.savez(tmp_path / "names.npz", hidden=np.zeros((30, 4)))
    with pytest.raises(InspectorError, match="array named 'hidden'"):
        li.load_outputs(model, x, tmp_path / "names.npz")
    np.savez(tmp_path / "empty.npz")  # was an internal error (the largest layer of nothing)
    with pytest.raises(InspectorError, match="holds no arrays"):
        li.load_outputs(model, x, tmp_path / "empty.npz")
    bad = np.zeros((30, 4))
    bad[7, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(InspectorError, match="NaN/Inf in h, first at step 7"):
        li.load_outputs(model, x, tmp_path / "nan.npy")


def test_function_runs_on_every_direction_of_every_layer(files):
    """Stacked bidirectional file: the correct function agrees everywhere (backward runs on
    the reversed input, each layer on the reference's input to it); a planted bug is named in
    every layer and direction."""
    _, _, model, x = files
    good = li.run_impl(model, x, f"{IMPLS / 'planted.py'}:correct")
    assert sorted(good.run_keys()) == [(0, "backward"), (0, "forward"), (1, "backward"), (1, "forward")]
    assert li.diagnose(model, x, good).agree
    bad = li.run_impl(model, x, f"{IMPLS / 'planted.py'}:wrong_gate_order", layer=1)
    assert bad.run_keys() == [(1, "forward"), (1, "backward")]
    result = li.diagnose(model, x, bad)
    assert [(f.layer, f.direction) for f in result.findings] == [(1, "forward"), (1, "backward")]
    assert all(f.best.hypothesis.faults == (("order", "iofc"),) and f.rerun_ok
               for f in result.findings)


def test_bidirectional_npz_per_direction(files, tmp_path):
    _, _, model, x = files
    true = run_reference(model, x)
    arrays = {f"layer{k}/{d}/h": true.layer(k, d).h for k in (0, 1) for d in ("forward", "backward")}
    x1 = true.layers[0]["forward"].h, true.layers[0]["backward"].h    # concat merge
    port1 = run_reference(model.sub_model(1).with_reading("hard_sigmoid"), np.hstack(x1))
    arrays["layer1/backward/h"] = port1.layer(0, "backward").h        # a wrong layer 1 backward
    np.savez(tmp_path / "bi.npz", **arrays)
    result = li.diagnose(model, x, li.load_outputs(model, x, tmp_path / "bi.npz"))
    wrong = [f for f in result.findings if not f.agrees]
    # layer 1 was fed the port's own layer-0 output (the file holds both directions of it)
    assert [(f.layer, f.direction) for f in wrong] == [(1, "backward")]
    assert wrong[0].best.hypothesis.faults == (("rec_act", "hard_sigmoid"),)


def test_one_direction_of_a_bidirectional_layer(files, tmp_path):
    _, _, model, x = files
    true = run_reference(model, x)
    np.savez(tmp_path / "fwd.npz", **{"layer0/forward/h": true.layer(0, "forward").h})
    trace = li.load_outputs(model, x, tmp_path / "fwd.npz")
    assert trace.run_keys() == [(0, "forward")]
    result = li.diagnose(model, x, trace)
    assert result.agree and [(f.layer, f.direction) for f in result.findings] == [(0, "forward")]
