"""A long GRU run holds h alone: its gates recomputed by window, the loop's bits, memory bounded.

Issue 21 asks for an hour within 3 GB "on any model". A GRU direction held z and a (8H values a
step) whatever its length: an hour of a GRU(128) direction was 1.66 GB, 2 x Bi(128) more than
13 GB over two traces. Now a GRU follows the LSTM's budget (``recurrence.KEEP_GATES_BYTES``):
past it, the trace keeps h and recomputes any window of gates by the loop's own calls
(``core.gru.GRUStepGates``), and a comparison takes its differences while the reference steps
(``core.streamed``). Blocks are planted small so a few hundred steps cross many block edges.
"""
import numpy as np
import pytest

from lstm_inspector.core import analysis, cells, gru, recurrence
from lstm_inspector.core.compare import compare
from lstm_inspector.core.gru_weights import GRU_READINGS, StoredGRU
from lstm_inspector.core.model import Model, RecurrentLayer
from lstm_inspector.core.reference import run_reference
from lstm_inspector.paths.pair import run_pair
from lstm_inspector.paths.registry import run_path

WINDOWS = ((0, 1), (0, 40), (39, 41), (55, 170), (299, 300), (0, 300), (120, 121))
TOLERANCE = (1e-5, 1e-4)


@pytest.fixture
def small_blocks(monkeypatch):
    """Loop blocks of 40 steps, no trace holds its gates."""
    monkeypatch.setattr(recurrence, "BLOCK", 40)
    monkeypatch.setattr(cells, "EVERY", 32)
    monkeypatch.setattr(recurrence, "KEEP_GATES_BYTES", 0)


def stored(rng, n_in, units, reset_after=True, recurrent_activation="sigmoid"):
    """One nn.GRU direction as io.torch_checkpoint stores it (kernel = weight_ih.T ...)."""
    s = 1 / np.sqrt(units)
    reading = GRU_READINGS["torch"] if reset_after else GRU_READINGS["keras"]
    return StoredGRU(rng.uniform(-s, s, (n_in, 3 * units)).astype(np.float32),
                     rng.uniform(-s, s, (units, 3 * units)).astype(np.float32),
                     rng.uniform(-s, s, (6 if reset_after else 3) * units).astype(np.float32),
                     true_reading=reading, recurrent_activation=recurrent_activation)


def gru_stack(units=6, n_in=5, layers=2, seed=4, **options):
    """``layers`` x Bidirectional GRU(units) on ``n_in`` features, in memory."""
    rng = np.random.default_rng(seed)
    built, width = [], n_in
    for k in range(layers):
        built.append(RecurrentLayer(f"gru_{k}", "nn.GRU", width, units,
                                    {d: stored(rng, width, units, **options)
                                     for d in ("forward", "backward")}, merge_mode="concat"))
        width = 2 * units
    return Model(built, source="<gru stack>", file_format="in-memory")


def features(steps=300, width=5, seed=1):
    return np.random.default_rng(seed).normal(0, 1, (steps, width)).astype(np.float32)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("options", [{}, {"reset_after": False},
                                     {"recurrent_activation": "hard_sigmoid"}])
@pytest.mark.parametrize("masked", [False, True])
def test_every_window_of_a_long_direction_is_the_loops_own(reverse, options, masked,
                                                           small_blocks):
    """The long run's h is the held run's; any window of its gates, recomputed from h, is the
    held run's rows bit for bit (both reset conventions, another activation, a mask, both
    orders); the trace holds h alone."""
    model = gru_stack(**options)
    w = model.chain[0].weights("forward")
    x = features()
    mask = (np.random.default_rng(2).random(len(x)) > 0.2) if masked else None
    held = gru.run_gru_direction(w, x, reverse, np.float32, mask=mask, gates=True)
    long = gru.run_gru_direction(w, x, reverse, np.float32, mask=mask, gates=False)
    assert held.holds_gates and not long.holds_gates
    assert long.h.tobytes() == held.h.tobytes()
    assert long.nbytes == long.h.nbytes
    for lo, hi in WINDOWS:
        for got, want in zip(long.gate_rows(lo, hi), held.gate_rows(lo, hi)):
            assert got.tobytes() == want.tobytes(), (lo, hi)
    for q in long.quantities:
        assert long.rows(q, 17, 230).tobytes() == held.rows(q, 17, 230).tobytes(), q


def test_the_budget_decides_as_for_an_lstm(monkeypatch):
    """A GRU holds its gates up to ``KEEP_GATES_BYTES`` a direction, as an LSTM does."""
    model, x = gru_stack(), features(500)
    assert all(lt.holds_gates for _, _, lt in run_reference(model, x).items())
    monkeypatch.setattr(recurrence, "KEEP_GATES_BYTES", 500 * 8 * 6 * 4 - 1)
    trace = run_reference(model, x)
    assert not any(lt.holds_gates for _, _, lt in trace.items())
    assert trace.nbytes == sum(lt.h.nbytes for _, _, lt in trace.items())


@pytest.mark.parametrize("other", ["numpy:naive", "numpy64"])
def test_a_long_gru_comparison_streams_and_says_what_the_held_one_says(other, small_blocks,
                                                                       monkeypatch):
    """A wrong reading and a float64 path against a long 2 x Bi GRU reference: the run_pair
    road streams every direction (no window of the reference's gates recomputed), and the
    report is the one of traces that hold everything."""
    model, x = gru_stack(), features()
    pair = run_pair("numpy", other, model, x, tolerance=TOLERANCE)
    for k, d, la in pair.a.items():
        assert not la.holds_gates
        assert pair.streamed.take(k, d, la, TOLERANCE, False) is not None, (k, d)
    recomputed = []
    real = gru.GRUStepGates.__call__
    monkeypatch.setattr(gru.GRUStepGates, "__call__",
                        lambda self, lo, hi: recomputed.append((lo, hi)) or real(self, lo, hi))
    got = compare(pair.a, pair.b, model=model, streamed=pair.streamed)
    assert recomputed == []
    monkeypatch.setattr(recurrence, "KEEP_GATES_BYTES", 512 * 2 ** 20)
    a, b = run_reference(model, x), run_path(other, model, x)
    assert a.layer(1, "backward").holds_gates
    want = compare(a, b, model=model)
    assert got.verdict == want.verdict and got.kind == want.kind
    for key, m in want.measures.quantities.items():
        g = got.measures.quantities[key]
        assert g.step_error.tobytes() == m.step_error.tobytes(), key
    assert got.to_dict()["first"] == want.to_dict()["first"]


def test_the_measures_read_a_long_gru_by_windows(small_blocks):
    """Without streaming, ``measure`` reads the long GRU's gates window by window: the values of
    the held traces."""
    model, x = gru_stack(), features()
    b = run_path("numpy:naive", model, x)
    got = analysis.measure(run_reference(model, x), b, model=model, oracle=False,
                           tolerance=TOLERANCE, local=True)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(recurrence, "KEEP_GATES_BYTES", 512 * 2 ** 20)
        want = analysis.measure(run_reference(model, x), run_path("numpy:naive", model, x),
                                model=model, oracle=False, tolerance=TOLERANCE, local=True)
    for key, w in want.quantities.items():
        g = got.quantities[key]
        assert g.step_error.tobytes() == w.step_error.tobytes(), key
        assert g.local.tobytes() == w.local.tobytes(), key


@pytest.mark.torch
def test_torch_gru_against_a_long_reference(small_blocks):
    """nn.GRU on the CPU (h measured, gates derived by window) against the long reference."""
    pytest.importorskip("torch")
    model, x = gru_stack(), features()
    pair = run_pair("numpy", "torch-cpu", model, x, tolerance=TOLERANCE)
    report = compare(pair.a, pair.b, model=model, streamed=pair.streamed)
    assert report.agree, report.verdict
    assert not pair.b.layer(1, "backward").holds_gates
