"""A long trace holds h, and c only at block edges: every number is the same, memory scales with
the window read, not with the length (issue 21: an hour of 2 x Bi(128) within 3 GB).

Block sizes are planted small (``cells.EVERY``, ``recurrence.BLOCK``, ``KEEP_GATES_BYTES``) so
that a few thousand steps cross dozens of block edges, as an hour crosses its 88.
"""
import dataclasses
import json
import tracemalloc

import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core import cells, recurrence
from lstm_inspector.core.compare import compare
from lstm_inspector.core.model import Model, RecurrentLayer
from lstm_inspector.core.reference import run_reference
from lstm_inspector.core.weights import READINGS, StoredLSTM

WINDOWS = ((0, 1), (0, 64), (63, 65), (100, 1000), (1999, 2000), (0, 2000), (1500, 1501))


@pytest.fixture
def small_blocks(monkeypatch):
    """c kept every 64 steps, derivation blocks of 96, no trace holds its gates or c."""
    monkeypatch.setattr(cells, "EVERY", 64)
    monkeypatch.setattr(recurrence, "BLOCK", 96)
    monkeypatch.setattr(recurrence, "KEEP_GATES_BYTES", 0)


def chaotic_stack(units=64, width=8, steps=2000, seed=0):
    """2 x Bidirectional(CuDNNLSTM) with weights from N(0, 0.5^2): chaotic, most steps of two
    float32 paths out of tolerance (issue 21's hard case, small)."""
    rng = np.random.default_rng(seed)

    def stored(n_in):
        return StoredLSTM(rng.normal(0, 0.5, (n_in, 4 * units)).astype(np.float32),
                          rng.normal(0, 0.5, (units, 4 * units)).astype(np.float32),
                          rng.normal(0, 0.5, (8 * units,)).astype(np.float32),
                          true_reading=READINGS["cudnn"], recurrent_activation="sigmoid")

    layers, n_in = [], width
    for k in range(2):
        layers.append(RecurrentLayer(f"chaotic_{k}", "CuDNNLSTM", n_in, units,
                                     {"forward": stored(n_in), "backward": stored(n_in)},
                                     merge_mode="concat"))
        n_in = 2 * units
    x = rng.normal(0, 0.5, (steps, width)).astype(np.float32)
    return Model(layers, source="<chaotic stack>", file_format="in-memory"), x


def _held(run, monkeypatch):
    """``run()`` with the default budget: traces that hold every quantity."""
    with monkeypatch.context() as m:
        m.setattr(recurrence, "KEEP_GATES_BYTES", 512 * 2 ** 20)
        return run()


@pytest.mark.parametrize("masked", [False, True])
def test_reference_c_is_recomputed_bit_for_bit_from_its_checkpoints(small_blocks, monkeypatch,
                                                                     masked):
    model = cudnn_model(3, 8, layers=2, bidirectional=True, seed=3)
    x = features(2000, 3, seed=1)
    if masked:   # a masked step carries c: the recomputation carries it too
        model = dataclasses.replace(model, mask_value=0.0)
        x[[5, 64, 65, 300, 1999]] = 0.0
    h0 = {(0, "backward"): (np.full(8, 0.3), np.full(8, -0.7))}
    held = _held(lambda: run_reference(model, x, initial_state=h0), monkeypatch)
    lean = run_reference(model, x, initial_state=h0)
    assert_lean_is_held(held, lean)
    for k, d, lt in held.items():
        assert np.array_equal(lean.layer(k, d).c, lt.c), (k, d)


def assert_lean_is_held(held, lean, gates=()):
    """Every direction of ``lean`` holds h alone (c and gates recomputed); its h, and every
    window of its c (and of ``gates``), are ``held``'s bit for bit."""
    assert lean.nbytes == sum(lt.h.nbytes for _, _, lt in lean.items())  # h alone is held
    for k, d, lt in held.items():
        other = lean.layer(k, d)
        assert lt.holds_cells and not other.holds_cells and not other.holds_gates
        assert np.array_equal(other.h, lt.h), (k, d)
        for lo, hi in WINDOWS:
            for q in ("c",) + tuple(gates):
                assert np.array_equal(other.rows(q, lo, hi), lt.rows(q, lo, hi)), (k, d, q, lo, hi)


@pytest.mark.torch
def test_backend_derived_c_is_recomputed_bit_for_bit_across_restarts(small_blocks, monkeypatch):
    """torch-cpu's derived c, restarted at the c each refused-length chunk returned, is kept at
    block ends only; every window equals the c a run holding it derived."""
    from test_one_call_road import plant_torch_limit

    from lstm_inspector.backends import run_backend

    plant_torch_limit(monkeypatch, 700)   # chunks of 500 steps: restarts inside the blocks
    model, x = chaotic_stack()
    held = _held(lambda: run_backend(model, x, backend="torch-cpu"), monkeypatch)
    lean = run_backend(model, x, backend="torch-cpu")
    assert held.meta["derivation_checks"] == lean.meta["derivation_checks"]
    for k, d, lt in held.items():
        other = lean.layer(k, d)
        assert other.how("c") == "derived" and not other.holds_cells
        assert np.array_equal(other.h, lt.h)
        for lo, hi in WINDOWS:
            assert np.array_equal(other.rows("c", lo, hi), lt.c[lo:hi]), (k, d, lo, hi)


@pytest.mark.torch
def test_torch_cpu_calls_split_at_the_byte_budget_give_one_calls_numbers(monkeypatch):
    """oneDNN's call split into calls of 37 steps, the state carried: the same h bit for bit
    (measured on this CPU), the same derived c, and a note that says so."""
    from lstm_inspector.backends import run_backend, torch_lstm

    model, x = chaotic_stack(units=16, steps=600)
    whole = run_backend(model, x, backend="torch-cpu")
    monkeypatch.setattr(torch_lstm, "CPU_CALL_BYTES", 4 * (2 * 16 + 5 * 16) * 37)
    split = run_backend(model, x, backend="torch-cpu")
    assert split.meta["call_steps"] < 40 and "call_steps" not in whole.meta
    assert any("consecutive calls of at most" in n for n in split.meta["notes"])
    for k, d, lt in whole.items():
        assert np.array_equal(split.layer(k, d).h, lt.h), (k, d)
        assert np.array_equal(split.layer(k, d).c, lt.c), (k, d)


@pytest.mark.torch
def test_chaotic_stack_report_is_the_same_with_c_and_gates_recomputed(small_blocks, monkeypatch):
    """The whole report (every number of ``to_dict``) of the chaotic 2 x Bi stack against
    torch-cpu is the same whether the traces hold c and the gates or recompute them."""
    from lstm_inspector.backends import run_backend

    model, x = chaotic_stack()

    def report():
        ref = run_reference(model, x)
        return compare(ref, run_backend(model, x, backend="torch-cpu"), model=model)

    held, lean = _held(report, monkeypatch), report()
    assert not lean.a.layer(1, "forward").holds_cells
    assert not lean.b.layer(1, "forward").holds_cells
    assert lean.first is not None and lean.kind == "precision"   # chaotic: the paths part
    assert json.dumps(lean.to_dict(), sort_keys=True) == json.dumps(held.to_dict(), sort_keys=True)


def _per_step_bytes(report) -> int:
    """Bytes of the per-step summaries a report stores ((T,) arrays: they grow with T)."""
    arrays = [v for m in report.measures.quantities.values() for v in vars(m).values()]
    arrays += list(report._limits.out_steps.values())
    if report.measures.masks is not None:
        arrays += list(report.measures.masks[1].values())
    return sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))


def _analysis_transient(steps: int) -> tuple:
    """(the comparison's peak allocation less the per-step summaries it stores, bytes the
    traces hold)."""
    model = cudnn_model(3, 32, layers=1, bidirectional=True, seed=2)
    x = features(steps, 3, seed=4)
    a, b = run_reference(model, x), run_reference(model.with_reading("naive"), x)
    tracemalloc.start()
    try:
        report = compare(a, b, model=model)
        json.dumps(report.to_dict())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - _per_step_bytes(report), a.nbytes + b.nbytes


@pytest.mark.slow
def test_the_analysis_reads_windows_its_memory_does_not_grow_with_the_length(monkeypatch):
    """An input twice as long (3 and 6 analysis chunks of 4096 steps): the traces hold twice the
    bytes (h alone), while what the comparison allocates beyond its per-step summaries (windows
    of gates and c, chunks of differences) stays the same: c and the gates are never made
    whole. (Holding c whole, or reading a quantity whole, adds at least 1.5 MB here.)"""
    from lstm_inspector.core import analysis, side_by_side

    monkeypatch.setattr(recurrence, "KEEP_GATES_BYTES", 0)
    monkeypatch.setattr(analysis, "ORACLE_MAX_STEPS", 100)   # the oracle is a whole second run
    # b's local errors one direction after the other: side by side, the peak is wherever the
    # two threads' windows happen to meet (72-79 MB here from run to run, at either length)
    monkeypatch.setattr(side_by_side, "second_core", lambda: False)
    steps = 3 * analysis.CHUNK
    transient1, held1 = _analysis_transient(steps)
    transient2, held2 = _analysis_transient(2 * steps)
    assert held2 == 2 * held1 == 2 * 4 * steps * 32 * 4          # h of 4 directions, float32
    # a whole (T, H) quantity of the short run is 1.5 MB in float32
    assert transient2 < transient1 + 2 ** 19, (transient1, transient2)


@pytest.mark.torch
def test_a_masked_long_backend_run_expands_its_derived_c_as_a_held_one(small_blocks, monkeypatch):
    """Under a mask with holes the layers run on the kept steps only; a long run's derived c is
    made whole there (to put the carried states back at the masked steps): the same c."""
    from lstm_inspector.backends import run_backend

    model = dataclasses.replace(cudnn_model(3, 8, layers=2, bidirectional=True, seed=5),
                                mask_value=0.0)
    x = features(1500, 3, seed=2)
    x[[0, 70, 71, 700, 1499]] = 0.0
    held = _held(lambda: run_backend(model, x, backend="torch-cpu"), monkeypatch)
    lean = run_backend(model, x, backend="torch-cpu")
    assert lean.mask is not None and not lean.mask.all()
    for k, d, lt in held.items():
        assert np.array_equal(lean.layer(k, d).h, lt.h) and np.array_equal(lean.layer(k, d).c, lt.c)


def test_reading_a_backward_direction_window_by_window_computes_each_input_block_once(
        small_blocks, monkeypatch):
    """A backward direction's loop blocks are cut from the end, so each window of input time
    reads two of them, one shared with the next window: each is computed once, not twice."""
    model = cudnn_model(3, 5, bidirectional=True, seed=2)
    x = features(1000, 3, seed=4)     # 1000 = 10 x 96 + 40: windows of 96 straddle two blocks
    lt = run_reference(model, x).layer(0, "backward")
    assert not lt.holds_gates
    held = _held(lambda: run_reference(model, x), monkeypatch).layer(0, "backward")
    made = []
    real = recurrence._Weights.input_part
    monkeypatch.setattr(recurrence._Weights, "input_part",
                        lambda self, rows, out: made.append(len(rows)) or real(self, rows, out))
    for lo in range(0, 1000, 96):
        z, a = lt.gate_rows(lo, min(lo + 96, 1000))
        assert z.tobytes() == held.z[lo:lo + 96].tobytes()
    assert len(made) == 11            # the 11 loop blocks, each once


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_masked_long_run_reads_the_layer_below_by_rows(small_blocks, monkeypatch,
                                                         bidirectional, go_backwards):
    """Under a mask, the second layer of a long run reads the first's output window by window
    (``reference.LayerInput``): the rows of the whole output (masked steps repeating the last
    kept one, or zeros), and the whole is never computed; before, every block of every
    direction computed the whole output (an hour: quadratic)."""
    from lstm_inspector.core import masking
    from lstm_inspector.core.reference import LayerInput, layer_output, teacher_forced_layer

    model = cudnn_model(3, 8, layers=2, bidirectional=bidirectional, seed=3)
    if go_backwards:
        model = dataclasses.replace(model, layers=[dataclasses.replace(
            layer, go_backwards=True) for layer in model.layers])
    model = dataclasses.replace(model, mask_value=0.0)
    x = features(2000, 3, seed=1)
    x[[0, 1, 5, 64, 65, 300, 1998, 1999]] = 0.0
    x[np.random.default_rng(4).random(2000) < 0.1] = 0.0
    held = _held(lambda: run_reference(model, x), monkeypatch)
    whole = []
    real = masking.masked_output
    monkeypatch.setattr(masking, "masked_output", lambda *a: whole.append(1) or real(*a))
    lean = run_reference(model, x)
    # a window of the second layer teacher-forced by the trace (what a library path's derived
    # gates are, window by window) reads its rows of the first layer's output too
    forced = teacher_forced_layer(model, 1, lean, np.float32, rows=(100, 300), names="za")
    assert whole == []
    for k, d, lt in held.items():
        assert np.array_equal(lean.layer(k, d).h, lt.h), (k, d)
    for d, lt in teacher_forced_layer(model, 1, held, np.float32, names="za").items():
        assert np.array_equal(forced[d].z, lt.z[100:300]), d
    layer, keep = model.chain[0], held.mask
    rows = LayerInput(layer, lean.layers[0], np.float32, keep)
    want = layer_output(layer, held.layers[0], keep)
    assert want.shape == rows.shape
    for lo, hi in WINDOWS:
        assert np.array_equal(rows[lo:hi], want[lo:hi]), (lo, hi)


@pytest.mark.torch
def test_a_masked_long_library_trace_holds_h_alone(small_blocks, monkeypatch):
    """torch-cpu under a mask with holes runs the kept steps; put back at input time, a long
    trace keeps h and recomputes any window of its c (the kept steps' derived c, carried through
    the masked ones: ``cells.MaskedCells``) and gates, the held run's numbers bit for bit.
    Before, a masked run held every step's c: an hour of 2 x Bi(128) peaked at 3.12 GB."""
    pytest.importorskip("torch")
    from lstm_inspector.backends import run_backend

    model, x = chaotic_stack(units=16)
    model = dataclasses.replace(model, mask_value=0.0)
    x[[0, 1, 5, 64, 65, 300, 1998, 1999]] = 0.0
    x[np.random.default_rng(4).random(len(x)) < 0.1] = 0.0
    held = _held(lambda: run_backend(model, x, backend="torch-cpu"), monkeypatch)
    assert_lean_is_held(held, run_backend(model, x, backend="torch-cpu"), gates=("f",))


@pytest.mark.parametrize("reverse", [False, True])
def test_states_put_back_at_input_time_carry_through_masked_steps(reverse):
    """``masking.kept_rows`` / ``gathered``: a masked step holds the state of the kept step
    processed before it, the initial state before any (Keras's rule, written as a plain loop)."""
    from lstm_inspector.core import masking

    rng = np.random.default_rng(7)
    for trial in range(50):
        keep = rng.random(int(rng.integers(1, 40))) > 0.5
        keep[0] = bool(trial % 2)
        kept, start = rng.normal(size=(int(keep.sum()), 3)), rng.normal(size=3)
        want, state, rows = np.empty((len(keep), 3)), start, iter(kept[::-1] if reverse else kept)
        for t in (range(len(keep) - 1, -1, -1) if reverse else range(len(keep))):
            state = next(rows) if keep[t] else state
            want[t] = state
        got = masking.gathered(kept, masking.kept_rows(keep, reverse), start)
        assert np.array_equal(got, want), (trial, keep)
