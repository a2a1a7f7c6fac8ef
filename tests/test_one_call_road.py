"""The one-call road: h from one library call over the sequence (as the model runs it), c and
the gates derived from that h, chunks only where the library refuses a length.

A GPU is not needed: torch-cpu and tf-cpu take the same road (``common.one_call_direction``),
and a length limit is *planted* by making the library's own call raise the error cuDNN raises
(``CUDNN_STATUS_NOT_SUPPORTED``) or TensorFlow's ``ResourceExhaustedError`` above N steps.
"""
import json

import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core.compare import compare
from lstm_inspector.core.reference import run_reference

LIMIT = 100   # the planted length limit (steps)
STEPS = 300


@pytest.fixture(scope="module")
def small():
    model = cudnn_model(3, 8, layers=2, bidirectional=True, seed=4)
    return model, features(STEPS, 3, seed=2)


def plant_torch_limit(monkeypatch, limit=LIMIT):
    """``nn.LSTM`` refuses inputs longer than ``limit`` steps with cuDNN's own error text.
    Returns the list of lengths it was called with."""
    torch = pytest.importorskip("torch")
    forward = torch.nn.LSTM.forward
    lengths = []

    def limited(self, x, hx=None):
        lengths.append(int(x.shape[1]))
        if x.shape[1] > limit:
            raise RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED")
        return forward(self, x, hx)

    monkeypatch.setattr(torch.nn.LSTM, "forward", limited)
    return lengths


@pytest.fixture
def torch_limit(monkeypatch):
    return plant_torch_limit(monkeypatch)


def test_torch_cpu_takes_the_one_call_road_h_measured_c_derived(small):
    pytest.importorskip("torch")
    from lstm_inspector.backends import run_backend

    model, x = small
    trace = run_backend(model, x, "torch-cpu")
    assert trace.meta["road"] == "one-call" and trace.meta["one_call_chunk"] is None
    assert "road=one-call" in trace.describe()
    for k, d, lt in trace.items():
        assert (lt.how("h"), lt.how("c"), lt.how("i"), lt.how("o")) == (
            "measured", "derived", "derived", "derived")
    checks = trace.meta["derivation_checks"]
    assert len(checks) == 4 and all(c["calls"] == 1 for c in checks)
    # the c each call returned checks the derivation: float32 rounding apart
    assert all(0 <= c["max_abs"] < 1e-6 for c in checks)
    assert any("in one call over the whole sequence" in n and "derived" in n
               for n in trace.meta["notes"])
    report = compare(run_reference(model, x), trace, model=model)
    assert report.agree, report.verdict
    assert json.loads(json.dumps(report.to_dict()))["b"]["meta"]["road"] == "one-call"


def test_one_call_derivation_equals_the_stepped_road(small):
    pytest.importorskip("torch")
    from lstm_inspector.backends import run_backend

    model, x = small
    one, stepped = run_backend(model, x, "torch-cpu"), run_backend(model, x, "torch-cpu",
                                                                   stepped=True)
    assert stepped.meta["road"] == "stepped" and "road=stepped" in stepped.describe()
    for k, d, lt in stepped.items():
        assert lt.how("h") == lt.how("c") == "stepped"
        other = one.layer(k, d)
        assert np.abs(other.h - lt.h).max() < 1e-5
        assert np.abs(other.c - lt.c).max() < 1e-5      # derived c = measured (stepped) c
        assert np.abs(other.a - lt.a).max() < 1e-5      # and so the gates


def test_tf_cpu_one_call_measures_c_itself(small):
    from lstm_inspector.backends import run_backend

    model, x = small
    trace = run_backend(model, x, "tf-cpu", stepped=True)
    assert trace.meta["road"] == "one-call"
    assert all(c["max_abs"] is None and c["calls"] == 1 for c in trace.meta["derivation_checks"])
    for _, _, lt in trace.items():
        assert (lt.how("h"), lt.how("c")) == ("measured", "measured")
    assert any("c too (the same call)" in n for n in trace.meta["notes"])
    assert any("was not stepped" in n for n in trace.meta["notes"])


def test_a_refused_length_runs_in_chunks_with_the_state_carried(small, torch_limit):
    from lstm_inspector.backends import run_backend

    model, x = small
    trace = run_backend(model, x, "torch-cpu")
    # 300 refused, 150 refused, 75 taken: every later call is 75 steps or fewer
    assert trace.meta["one_call_chunk"] == 75 and trace.meta["length_refused"] == [300, 150]
    assert max(n for n in torch_limit[3:]) <= 75
    assert all(c["calls"] == 4 and c["max_abs"] < 1e-6 for c in trace.meta["derivation_checks"])
    note = next(n for n in trace.meta["notes"] if "refused" in n)
    assert "refused 300 steps in one call (cuDNN error: CUDNN_STATUS_NOT_SUPPORTED)" in note
    assert "chunks of 75 steps" in note and "the state is carried" in note
    assert "chunks=75" in trace.describe()
    ref = run_reference(model, x)
    for k, d, lt in trace.items():
        assert (lt.how("h"), lt.how("c")) == ("measured", "derived")
        assert np.abs(lt.h - ref.layer(k, d).h).max() < 1e-5
        assert np.abs(lt.c - ref.layer(k, d).c).max() < 1e-5


@pytest.mark.torch
def test_chunked_equals_unchunked(small, monkeypatch):
    from lstm_inspector.backends import run_backend

    model, x = small
    whole = run_backend(model, x, "torch-cpu")
    plant_torch_limit(monkeypatch)
    chunked = run_backend(model, x, "torch-cpu")
    assert chunked.meta["one_call_chunk"] == 75 and whole.meta["one_call_chunk"] is None
    for k, d, lt in whole.items():
        assert np.abs(chunked.layer(k, d).h - lt.h).max() < 1e-6
        assert np.abs(chunked.layer(k, d).c - lt.c).max() < 1e-6


def test_another_library_error_is_not_taken_for_a_length_limit(small, monkeypatch):
    torch = pytest.importorskip("torch")
    from lstm_inspector.backends import run_backend

    def broken(self, x, hx=None):
        raise RuntimeError("something else went wrong")

    monkeypatch.setattr(torch.nn.LSTM, "forward", broken)
    with pytest.raises(RuntimeError, match="something else"):
        run_backend(small[0], small[1], "torch-cpu")


def test_tf_cpu_takes_the_same_road_when_tensorflow_refuses(small, monkeypatch):
    from lstm_inspector.backends import run_backend, tf_cpu
    from lstm_inspector.backends.common import import_tf

    tf, _ = import_tf()
    plain = tf_cpu.run_direction

    def limited(tf_, rnn, x_proc, *args):
        if len(x_proc) > LIMIT:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating the sequence")
        return plain(tf_, rnn, x_proc, *args)

    model, x = small
    whole = run_backend(model, x, "tf-cpu")
    monkeypatch.setattr(tf_cpu, "run_direction", limited)
    chunked = run_backend(model, x, "tf-cpu")
    assert chunked.meta["one_call_chunk"] == 75
    assert any("TensorFlow's CPU LSTM refused 300 steps" in n for n in chunked.meta["notes"])
    for k, d, lt in whole.items():
        assert np.abs(chunked.layer(k, d).h - lt.h).max() < 1e-6
        assert np.abs(chunked.layer(k, d).c - lt.c).max() < 1e-6


def test_initial_state_goes_into_the_call_and_the_derivation(small):
    pytest.importorskip("torch")
    from lstm_inspector.backends import run_backend

    model, x = small
    rng = np.random.default_rng(3)
    start = {(k, d): (rng.uniform(-.5, .5, 8), rng.uniform(-1, 1, 8))
             for k in range(2) for d in ("forward", "backward")}
    ref = run_reference(model, x, initial_state=start)
    trace = run_backend(model, x, "torch-cpu", initial_state=start)
    for k, d, lt in trace.items():
        assert np.abs(lt.h - ref.layer(k, d).h).max() < 1e-5
        assert np.abs(lt.c - ref.layer(k, d).c).max() < 1e-5
    assert all(c["max_abs"] < 1e-6 for c in trace.meta["derivation_checks"])


def test_the_header_and_json_say_which_road_ran():
    pytest.importorskip("torch")
    from test_cli import run_cli
    from pathlib import Path

    res = Path(__file__).resolve().parent.parent / "resources"
    model, feats = res / "demo_digits_cudnnlstm.h5", res / "demo_seven.npy"
    code, out, err = run_cli("compare", model, feats, "--backend", "torch-cpu")
    assert code == 0, out + err
    assert "road=one-call" in out and "in one call over the whole sequence" in out
    code, out, err = run_cli("compare", model, feats, "--backend", "torch-cpu", "--stepped",
                             "--json")
    assert code == 0, out + err
    assert json.loads(out)["b"]["meta"]["road"] == "stepped"


@pytest.mark.torch
@pytest.mark.parametrize("steps", [1, 2, 50])
def test_torch_reads_read_only_and_reversed_rows_without_a_warning(steps, recwarn):
    """torch's run_call copies only the pieces its library refuses (a backward direction's
    reversed rows, an ark's read-only mapping; one reversed row counts as contiguous) and
    writes h straight into the trace's rows (common.one_call_direction)."""
    pytest.importorskip("torch")
    from lstm_inspector import run_backend

    model = cudnn_model(4, 6, layers=2, bidirectional=True, seed=9)
    x = features(steps, 4, seed=3)
    x.setflags(write=False)
    b = run_backend(model, x, "torch-cpu")
    a = run_reference(model, x)
    assert not [w for w in recwarn if "writ" in str(w.message) or "stride" in str(w.message)]
    for k in range(2):
        for d in ("forward", "backward"):
            np.testing.assert_allclose(b.layers[k][d].h, a.layers[k][d].h, atol=1e-6)
