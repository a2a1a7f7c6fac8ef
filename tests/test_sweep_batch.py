"""The batched sweep (issue 21): every path that runs a batch gives the rows of one by one.

The NumPy reference steps a batch with one stacked vector-matrix product per step
(``core.batched``), torch-cpu one call per distinct length on the utterances still running
(``backends.torch_batch``); the rows
must be those of ``--no-batch`` in every field but the time, and the traces bit for bit those
of the single runs. Models are real tf-keras files (``model_files``), corpora real Kaldi arks.
"""
import json
import subprocess
import sys

import numpy as np
import pytest

import model_files
from lstm_inspector import load_model, run_backend
from lstm_inspector.core.batched import run_reference_batch
from lstm_inspector.core.reference import run_reference
from lstm_inspector.sweep.command import run_sweep
from lstm_inspector.sweep.work import VOLATILE_FIELDS, SweepSettings

#: A mix of lengths: equal ones (7, 45), the shortest (1), and in between, unsorted.
LENGTHS = (7, 1, 45, 7, 30, 2, 45, 7, 12, 1, 64)


def stable(rows):
    return [{k: v for k, v in r.items() if k not in VOLATILE_FIELDS} for r in rows]


def same_trace(a, b) -> bool:
    """Every array of two traces equal bit for bit (NaN where NaN), labels and meta too."""
    if a.label != b.label or a.meta != b.meta or not np.array_equal(a.output, b.output):
        return False
    for la, lb in zip(a.layers, b.layers, strict=True):
        for d in la:
            for q in "zach":
                if not np.array_equal(getattr(la[d], q), getattr(lb[d], q), equal_nan=True):
                    return False
    return True


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """2 x Bidirectional(CuDNNLSTM(128)) on 40 features + Dense: the sweep's realistic model."""
    folder = tmp_path_factory.mktemp("batch")
    return model_files.write_cudnn_model(folder, input_size=40, units=128, bidirectional=True,
                                         stacked=2, seed=3).path


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """2 x Bidirectional(CuDNNLSTM(6)) on 13 features + Dense: quick sweeps."""
    folder = tmp_path_factory.mktemp("batch_small")
    return model_files.write_cudnn_model(folder, input_size=13, units=6, bidirectional=True,
                                         stacked=2, seed=4).path


def features(width, lengths=LENGTHS, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, width)).astype(np.float32) for n in lengths]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("units", [1, 5, 33, 128, 512])
def test_a_stacked_product_is_the_single_steps_product(dtype, units):
    """The fact the batch rests on: ``(k, 1, H) @ (H, 4H)`` gives each row what the single
    step's ``np.dot(h, R_T, out)`` gives it, on this machine's BLAS, h rows strided as the
    batch stores them."""
    rng = np.random.default_rng(units)
    R_T = np.ascontiguousarray(rng.standard_normal((4 * units, units)).T, dtype=dtype)
    held = rng.standard_normal((9, 3, units)).astype(dtype)   # (slots, steps, H)
    for k in (1, 2, 9):
        h = held[:k, 1]                                       # every slot's step 1: strided rows
        stacked = np.empty((k, 1, 4 * units), dtype)
        np.matmul(h[:, None, :], R_T, stacked)
        for j in range(k):
            alone = np.empty(4 * units, dtype)
            np.dot(np.ascontiguousarray(h[j]), R_T, alone)
            assert np.array_equal(stacked[j, 0], alone), (k, j)


@pytest.fixture(params=["numpy", "auto"])
def engine(request):
    """The step engine (``compiled_loop``): ``numpy`` steps a float32 batch together, ``auto``
    (compiled where numba runs) runs it one by one compiled (``core.batched``)."""
    from lstm_inspector.core import compiled_loop

    compiled_loop.use_engine(request.param)
    yield request.param
    compiled_loop.use_engine(None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_batched_reference_is_the_single_run_bit_for_bit(stack, dtype, engine):
    from lstm_inspector.core.batched import compiled_everywhere
    from lstm_inspector.core.compiled_loop import why_not

    model = load_model(stack)
    xs = features(40)
    assert compiled_everywhere(model, dtype) == (
        dtype == "float32" and engine == "auto" and why_not() is None)
    batched = run_reference_batch(model, xs, dtype)
    for x, trace in zip(xs, batched, strict=True):
        assert same_trace(run_reference(model, x, dtype), trace)


def test_the_batched_reference_under_a_mask_and_go_backwards(tmp_path, engine):
    """A Masking layer (masked steps carry the state, per utterance) and a go_backwards layer."""
    K = model_files.keras()
    keras_model = K.Sequential([K.layers.Input((None, 6)), K.layers.Masking(0.0),
                                K.layers.Bidirectional(K.layers.LSTM(5, return_sequences=True)),
                                K.layers.LSTM(4, return_sequences=True, go_backwards=True)])
    model = load_model(model_files.save(keras_model, tmp_path, "masked.h5", seed=2).path)
    xs = features(6)
    for x in xs[2:5]:
        x[len(x) // 3:len(x) // 2] = 0.0   # silence in the middle: masked steps
    batched = run_reference_batch(model, xs)
    assert batched[2].mask is not None and not batched[2].mask.all()
    for x, trace in zip(xs, batched, strict=True):
        assert same_trace(run_reference(model, x), trace)


@pytest.mark.torch
def test_torch_cpu_batched_is_the_single_call_bit_for_bit(stack, monkeypatch):
    """Lengths equal and all different, the shortest 1: each trace that of the single run,
    made from the batch's calls (one module per layer direction: no call ran again)."""
    from lstm_inspector.backends import run_backend_batch, torch_lstm

    model = load_model(stack)
    xs = features(40)
    made = []
    module = torch_lstm._module
    monkeypatch.setattr(torch_lstm, "_module", lambda *a: made.append(a) or module(*a))
    batched = run_backend_batch(model, xs, "torch-cpu")
    assert len(made) == sum(len(layer.directions) for layer in model.chain)
    monkeypatch.undo()
    for x, trace in zip(xs, batched, strict=True):
        assert same_trace(run_backend(model, x, backend="torch-cpu"), trace)


def test_a_batch_of_torch_calls_stays_within_one_calls_memory():
    """The shortest first while the padded batch holds at most one call's steps; an empty
    utterance and those beyond run alone."""
    from lstm_inspector.backends.torch_batch import within_a_call

    xs = [np.zeros((n, 2)) for n in (50, 10, 0, 30, 31, 200)]
    assert within_a_call(xs, 100) == [1, 3, 4]             # 10, 30, 31: 3 x 31 <= 100
    assert within_a_call(xs, 1000) == [0, 1, 3, 4, 5]      # 5 x 200 = 1000
    assert within_a_call(xs, 999) == [0, 1, 3, 4]
    assert within_a_call(xs, 5) == []


@pytest.mark.torch
def test_a_call_packed_by_hand_is_each_rows_single_call(stack):
    """oneDNN's facts the batch rests on, asserted directly: every row's h and final (h, c)
    of the calls split at the lengths, shrinking batch, are its single call's bit for bit."""
    import torch

    from lstm_inspector.backends.torch_batch import packed_by_hand
    from lstm_inspector.backends.torch_lstm import _module

    layer = load_model(stack).chain[1]                        # 256 inputs: the second layer
    lengths = sorted((300, 1, 45, 45, 7, 599, 2, 128), reverse=True)
    xs = features(layer.input_size, lengths, seed=9)
    saved = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = True
    try:
        lstm = _module(torch, layer, ("forward",), torch.device("cpu"))
        out, last = packed_by_hand(torch, lstm, xs)
        with torch.no_grad():
            for slot, x in enumerate(xs):
                y, (h, c) = lstm(torch.from_numpy(x)[None])
                assert np.array_equal(out[slot, :len(x)], y[0].numpy()), slot
                assert np.array_equal(last[slot][0], h[0, 0].numpy()), slot
                assert np.array_equal(last[slot][1], c[0, 0].numpy()), slot
    finally:
        torch.backends.mkldnn.enabled = saved


def write_ark(folder, width, lengths=LENGTHS, bad_width_at=None):
    """A real Kaldi ark (kaldiio) of utterances of these lengths (one of another width)."""
    import kaldiio

    path = folder / "corpus.ark"
    with kaldiio.WriteHelper(f"ark:{path}") as writer:
        for k, x in enumerate(features(width, lengths, seed=5)):
            if k == bad_width_at:
                x = np.ones((len(x), width + 1), np.float32)
            writer(f"utt{k:03d}", x)
    return path


@pytest.fixture
def no_fallback(monkeypatch):
    """A batch that fails falls back to one by one (same rows): here that would hide the
    fault, so a fallback fails the test."""
    from lstm_inspector.sweep import batch

    def fail(*args):
        raise AssertionError("the batch fell back to one by one")
    monkeypatch.setattr(batch, "_alone", fail)


@pytest.mark.parametrize("path_b", ["numpy", "numpy64", "torch-cpu"])
def test_rows_batched_are_the_rows_one_by_one(small, tmp_path, path_b, no_fallback):
    corpus = write_ark(tmp_path, 13, bad_width_at=4)
    settings = SweepSettings(model=str(small), backend=path_b, atol=1e-6, rtol=1e-5)
    alone = run_sweep(settings, corpus, batch=1)
    for batch in (4, 64):
        together = run_sweep(settings, corpus, batch=batch)
        assert stable(together["rows"]) == stable(alone["rows"]), batch
        assert ({k: v for k, v in together["summary"].items() if k != "seconds"}
                == {k: v for k, v in alone["summary"].items() if k != "seconds"})
    rows = alone["rows"]
    assert [r["frames"] for r in rows if r["kind"] != "error"] == [
        n for k, n in enumerate(LENGTHS) if k != 4]
    assert rows[4]["kind"] == "error" and "column" in rows[4]["verdict"]
    assert any(r["max_error"] for r in rows if r["kind"] != "error") or path_b == "numpy"


def test_rows_batched_with_a_diverging_reading_and_float64(small, tmp_path, no_fallback):
    """Rows with findings in them (the naive reading diverges everywhere) and the float64
    reference as path A: still those of one by one, first divergence and answer included."""
    corpus = write_ark(tmp_path, 13)
    settings = SweepSettings(model=str(small), backend="numpy:naive", dtype="float64")
    alone, together = (run_sweep(settings, corpus, batch=b) for b in (1, 5))
    assert stable(together["rows"]) == stable(alone["rows"])
    assert all(r["kind"] == "structural" and r["first"] for r in alone["rows"])


def test_cli_batch_options(small, tmp_path):
    corpus = write_ark(tmp_path, 13, lengths=(3, 3, 8))
    runs = {}
    for args in (["--no-batch"], ["--batch", "2"], []):
        proc = subprocess.run([sys.executable, "-m", "lstm_inspector", "sweep", str(small),
                               str(corpus), "--b", "numpy64", "--json", *args],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode in (0, 1), proc.stderr
        result = json.loads(proc.stdout)
        runs[tuple(args)] = result
    assert [r["batch"] for r in runs.values()] == [1, 2, 16]
    assert len({json.dumps(stable(r["rows"])) for r in runs.values()}) == 1
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", "sweep", str(small),
                           str(corpus), "--batch", "0"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "--batch must be at least 1" in proc.stderr
