"""The differences taken while the reference runs (``core.streamed``) are the pass over the traces.

Where B runs first, the reference hands each loop block to the analysis as it steps, so a long
reference's gates are never recomputed (issue 21: half of an hour's analysis). Every value of
the measures must be the one the pass over the whole traces makes, bit for bit; nothing of a
streamed direction may be read again; whatever did not stream is read as before. Blocks are
planted small (``recurrence.BLOCK``, ``cells.EVERY``, ``KEEP_GATES_BYTES``) so a few hundred
steps cross many block edges, as an hour crosses 88.
"""
import json

import numpy as np
import pytest

from engine_models import cudnn_model, features
from hostile_files import DEMO_MODEL, DEMO_NPY
from lstm_inspector import cli
from lstm_inspector.core import analysis, cells, compiled_loop, recurrence, side_by_side
from lstm_inspector.core.compare import compare
from lstm_inspector.core.reference import run_reference
from lstm_inspector.core.streamed import StreamedDifferences
from lstm_inspector.errors import Cancelled
from lstm_inspector.paths.pair import run_pair
from lstm_inspector.paths.registry import kind_of, run_path

TOLERANCE = (1e-5, 1e-4)
ENGINES = ["numpy", pytest.param("compiled", marks=pytest.mark.skipif(
    compiled_loop.why_not() is not None, reason="the compiled step loop is not available here"))]


@pytest.fixture
def small_blocks(monkeypatch):
    """Loop and derivation blocks of 40 steps, c kept every 32, no trace holds its gates."""
    monkeypatch.setattr(recurrence, "BLOCK", 40)
    monkeypatch.setattr(cells, "EVERY", 32)
    monkeypatch.setattr(recurrence, "KEEP_GATES_BYTES", 0)


@pytest.fixture(params=ENGINES)
def engine(request, monkeypatch):
    """Both step engines; the compiled one steps a bidirectional layer's directions side by
    side (each direction's blocks then taken in its own thread)."""
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    compiled_loop.use_engine(request.param)
    if request.param == "compiled":
        monkeypatch.setattr(side_by_side, "worth_it",
                            lambda layer, compiled: len(layer.directions) == 2 and compiled)
    yield request.param
    compiled_loop.use_engine(None)


def stack(steps=300):
    """2 x Bidirectional(CuDNNLSTM(6)), input 5."""
    return cudnn_model(n_in=5, units=6, layers=2, bidirectional=True, seed=4), features(steps, 5)


def recomputed_windows(monkeypatch) -> list:
    """The windows of a reference's gates recomputed (``recurrence.StepGates``) from now on."""
    seen = []
    real = recurrence.StepGates.__call__
    monkeypatch.setattr(recurrence.StepGates, "__call__",
                        lambda self, lo, hi: seen.append((lo, hi)) or real(self, lo, hi))
    return seen


def assert_same_measures(want, got):
    assert want.quantities.keys() == got.quantities.keys()
    for key, w in want.quantities.items():
        g = got.quantities[key]
        assert g.step_error.tobytes() == w.step_error.tobytes(), key
        assert (g.max_rel, g.max_ulp) == (w.max_rel, w.max_ulp), key
        for name in ("local", "local_scale"):
            wv, gv = getattr(w, name), getattr(g, name)
            assert (wv is None) == (gv is None), (key, name)
            if wv is not None:
                assert gv.tobytes() == wv.tobytes(), (key, name)
    assert want.masks[0] == got.masks[0]
    for key, mask in want.masks[1].items():
        assert np.array_equal(got.masks[1][key], mask), key


@pytest.mark.parametrize("other", ["numpy:naive", "numpy64"])
@pytest.mark.parametrize("local", [False, True])
@pytest.mark.parametrize("pipelined", [False, True])
def test_streamed_differences_are_the_pass_over_the_traces(other, local, pipelined, engine,
                                                           small_blocks, monkeypatch):
    """A structural bug (the naive reading) and a float64 path; with and without b's local
    errors; blocks analysed in the loop's thread or handed to a worker per direction (the
    loop's buffers then ring): the same measures, the reference's own values unchanged, no
    gate recomputed."""
    model, x = stack()
    b = run_path(other, model, x)
    a = run_reference(model, x)
    want = analysis.measure(a, b, model=model, oracle=False, tolerance=TOLERANCE, local=local)
    streamed = StreamedDifferences(b, TOLERANCE, model if local else None, pipelined)
    a2 = run_reference(model, x, on_block=streamed.observe)
    for k, d in want.keys:
        assert a2.layer(k, d).h.tobytes() == a.layer(k, d).h.tobytes()
    recomputed = recomputed_windows(monkeypatch)
    got = analysis.measure(a2, b, model=model, oracle=False, tolerance=TOLERANCE, local=local,
                           streamed=streamed)
    assert recomputed == []
    assert_same_measures(want, got)


@pytest.mark.torch
def test_a_torch_trace_streams_too(engine, small_blocks, monkeypatch):
    """torch-cpu's derived c and gates (a long one-call trace): the same report."""
    pytest.importorskip("torch")
    model, x = stack()
    b = run_path("torch-cpu", model, x)
    want = compare(run_reference(model, x), b, model=model)
    streamed = StreamedDifferences(b, TOLERANCE)
    a = run_reference(model, x, on_block=streamed.observe)
    recomputed = recomputed_windows(monkeypatch)
    got = compare(a, b, model=model, streamed=streamed)
    assert recomputed == [] and got.agree
    assert got.verdict == want.verdict
    assert_same_measures(want.measures, got.measures)


def test_what_did_not_stream_is_read_as_before(small_blocks, monkeypatch):
    """Another tolerance, another reference run, a run that holds its gates: read again, the
    same values."""
    model, x = stack()
    b = run_path("numpy:naive", model, x)
    streamed = StreamedDifferences(b, TOLERANCE)
    a = run_reference(model, x, on_block=streamed.observe)
    other_run = run_reference(model, x)
    assert streamed.take(0, "forward", a.layer(0, "forward"), TOLERANCE, False) is not None
    assert streamed.take(0, "forward", a.layer(0, "forward"), (1e-3, 0.0), False) is None
    assert streamed.take(0, "forward", other_run.layer(0, "forward"), TOLERANCE, False) is None
    assert streamed.take(0, "forward", a.layer(0, "forward"), TOLERANCE, True) is None
    want = compare(other_run, b, atol=1e-3, rtol=0.0, model=model)
    assert_same_measures(want.measures, compare(a, b, atol=1e-3, rtol=0.0, model=model,
                                                streamed=streamed).measures)
    monkeypatch.setattr(recurrence, "KEEP_GATES_BYTES", 512 * 2 ** 20)
    held = StreamedDifferences(b, TOLERANCE)
    a_held = run_reference(model, x, on_block=held.observe)
    assert a_held.layer(1, "backward").holds_gates
    assert held.take(1, "backward", a_held.layer(1, "backward"), TOLERANCE, False) is None
    assert_same_measures(compare(a_held, b, model=model).measures,
                         compare(a_held, b, model=model, streamed=held).measures)


def test_a_pair_runs_b_first_unless_b_reads_the_reference(small_blocks):
    """``run_pair``: a library or reading path first and the reference streamed; your
    implementation and a port's outputs are fed the reference, so it runs first for them."""
    model, x = stack(120)
    pair = run_pair("numpy", "numpy:naive", model, x)
    assert pair.a_is_reference and pair.streamed is not None
    assert pair.streamed.take(1, "backward", pair.a.layer(1, "backward"), TOLERANCE,
                              False) is not None
    assert run_pair("numpy:naive", "numpy", model, x).streamed is None
    import lstm_inspector as li

    api = li.run_pair("numpy", "numpy:naive", model, x, tolerance=(1e-3, 0.0))
    report = li.compare(api.a, api.b, atol=1e-3, rtol=0.0, model=model, streamed=api.streamed)
    assert api.streamed.take(0, "forward", api.a.layer(0, "forward"), (1e-3, 0.0),
                             False) is not None
    assert report.verdict == li.compare(pair.a, pair.b, atol=1e-3, rtol=0.0,
                                        model=model).verdict
    assert kind_of("impl:port.py:forward").reads_reference
    assert kind_of("outputs:h.npy").reads_reference
    assert not kind_of("torch-cpu").reads_reference


def test_the_cli_compare_streams_and_says_the_same(small_blocks, monkeypatch, capsys):
    """``lstm-inspector compare --json`` on the demo: the same JSON whether the reference
    streamed its differences or the analysis read both traces afterwards."""
    args = ["compare", str(DEMO_MODEL), str(DEMO_NPY), "--backend", "numpy:naive", "--json"]
    taken = []
    real_take = StreamedDifferences.take
    monkeypatch.setattr(StreamedDifferences, "take",
                        lambda self, *a: taken.append(real_take(self, *a)) or taken[-1])
    assert cli.main(args) == 1
    streamed = json.loads(capsys.readouterr().out)
    assert len(taken) == 2 and all(t is not None for t in taken)   # two layers, one direction
    monkeypatch.setattr(StreamedDifferences, "take", lambda self, *a: None)
    assert cli.main(args) == 1
    assert json.loads(capsys.readouterr().out) == streamed


def test_the_window_streams_too(small_blocks, monkeypatch):
    """The window's computation (``gui.pipeline.compute``, b's local errors always): every
    direction streamed, the measures of the run that reads both traces afterwards."""
    from lstm_inspector.gui import pipeline

    model, x = stack()
    taken = []
    real_take = StreamedDifferences.take
    monkeypatch.setattr(StreamedDifferences, "take",
                        lambda self, *a: taken.append(real_take(self, *a)) or taken[-1])
    streamed = pipeline.compute(model, x, backend="numpy:naive")
    assert len(taken) == 4 and all(t is not None for t in taken)
    read_after = pipeline.compute(model, x, backend="numpy:naive",
                                  trace_a=run_reference(model, x))
    assert len(taken) == 4    # a reference already run: nothing streamed
    assert streamed.report.verdict == read_after.report.verdict
    assert_same_measures(read_after.report.measures, streamed.report.measures)


def test_a_pipelined_direction_hands_its_blocks_to_a_worker(small_blocks, monkeypatch):
    """One direction a layer (a machine with a core to spare for each): the blocks are
    analysed in a worker thread while the loop steps on, at most two behind; a worker's error
    reaches the caller; the worker ends with the direction."""
    import threading

    model = cudnn_model(n_in=5, units=6, layers=2, seed=4)
    x = features(300, 5)
    b = run_path("numpy:naive", model, x)
    threads = set()
    real = analysis.rows_differences
    monkeypatch.setattr(analysis, "rows_differences",
                        lambda *a: threads.add(threading.current_thread().name) or real(*a))
    streamed = StreamedDifferences(b, TOLERANCE)
    assert streamed.pipelined is None
    monkeypatch.setattr("lstm_inspector.core.streamed.worth_a_worker", lambda directions: True)
    a = run_reference(model, x, on_block=streamed.observe)
    assert threads and all(name.startswith("lstm-inspector-streamed") for name in threads)
    want = compare(run_reference(model, x), b, model=model)
    assert_same_measures(want.measures, compare(a, b, model=model, streamed=streamed).measures)
    assert not [t for t in threading.enumerate() if t.name.startswith("lstm-inspector-streamed")]

    def broken(*args):
        raise RuntimeError("planted")

    monkeypatch.setattr(analysis, "rows_differences", broken)
    failing = StreamedDifferences(b, TOLERANCE)
    with pytest.raises(RuntimeError, match="planted"):
        with failing.running():
            run_reference(model, x, on_block=failing.observe)
    assert not [t for t in threading.enumerate() if t.name.startswith("lstm-inspector-streamed")]
    monkeypatch.setattr(analysis, "rows_differences", real)

    def cancel(fraction, text):
        if fraction > 0.3:
            raise Cancelled()

    cancelled = StreamedDifferences(b, TOLERANCE)
    with pytest.raises(Cancelled):
        with cancelled.running():
            run_reference(model, x, on_block=cancelled.observe, progress=cancel)
    assert not [t for t in threading.enumerate() if t.name.startswith("lstm-inspector-streamed")]


def test_local_errors_start_where_the_paths_part(engine, small_blocks, monkeypatch):
    """``local="needed"`` (compare's default): b's local errors are computed beside the
    differences from the first block out of tolerance on, the blocks before when the verdict
    asks, and no whole pass over b is made for a direction so started; the same report."""
    model, x = stack()
    b = run_reference(model, x)
    b.layer(0, "forward").h[200:] += np.float32(1e-3)   # b parts from step 200 on
    want = compare(run_reference(model, x), b, model=model)
    assert want.first is not None and want.first.step == 200
    streamed = StreamedDifferences(b, TOLERANCE, model, local="needed")
    with streamed.running():
        a = run_reference(model, x, on_block=streamed.observe)
    forward = streamed.directions[(0, "forward")]
    assert forward.teacher is not None and forward.untaught   # started at the parting block
    assert all(hi <= 200 + recurrence.BLOCK for lo, hi in forward.untaught)
    passes = []
    real = analysis.local_errors
    monkeypatch.setattr(analysis, "local_errors",
                        lambda model, b, keys, *args, **kw: passes.append(keys)
                        or real(model, b, keys, *args, **kw))
    got = compare(a, b, model=model, streamed=streamed)
    assert all((0, "forward") not in keys for keys in passes)
    assert got.verdict == want.verdict
    assert_same_measures(want.measures, got.measures)
