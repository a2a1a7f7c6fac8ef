"""c from known gates, compiled (core.compiled_cells): the NumPy loop's bits, every one.

``cells.cell_loop`` runs the three float32 operations per step of the reference's loop
(``c = f * c_prev; tmp = i * c~; c += tmp``), compiled where numba runs. The recomputed c of a
long trace (``StepCells``, ``DerivedCells``) and a library path's derived c
(``cell_states_between``) go through it, so both engines must write the same bits: random and
extreme gates, masks, both orders, a reversed view as output, float32 and float64, restarts.
Skipped without numba (the ``fast`` extra; CI installs it with ``test``)."""
import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core import cells, compiled_loop
from lstm_inspector.core.recurrence import cell_states_between, run_direction

pytest.importorskip("numba", reason="numba (pip install lstm-inspector[fast]) is not installed")


@pytest.fixture
def both_engines(monkeypatch):
    """``run(fn)`` -> (NumPy engine's result, compiled engine's result)."""
    monkeypatch.delenv(compiled_loop.ENV, raising=False)
    assert cells._compiled() is not None, "the compiled cell loop failed its self-check"

    def run(fn):
        compiled_loop.use_engine("numpy")
        try:
            want = fn()
        finally:
            compiled_loop.use_engine(None)
        return want, fn()
    return run


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_cell_loop_writes_the_numpy_loops_bits(both_engines, dtype, reverse, masked):
    rng = np.random.default_rng(7)
    n, H = 300, 37
    a = rng.uniform(-1.2, 1.2, (n, 4 * H)).astype(dtype)
    a[::17] = rng.choice([0.0, 1.0, -0.0, 1e-38, 3e38], (len(a[::17]), 4 * H))  # edges, subnormals
    c_prev = rng.normal(0, 5, H).astype(dtype)
    kept = (rng.random(n) > 0.2) if masked else None

    def run():
        c = np.full((n, H), np.nan, dtype)
        view = c[::-1]                      # a reversed view, as a backward derivation writes
        cells.cell_loop(a, view, c_prev, 10, n - 5, reverse, kept)
        return c
    with np.errstate(over="ignore", invalid="ignore"):
        want, got = both_engines(run)
    assert got.tobytes() == want.tobytes()


def test_derived_c_with_restarts_is_the_same_on_both_engines(both_engines):
    model = cudnn_model(4, 24, seed=3)
    w = model.layers[0].weights("forward")
    x = features(900, 4, seed=5)
    run = run_direction(w, x, False, np.float32, gates=True)
    h = run.h + np.float32(1e-4)            # a path's own h: c derived from it drifts
    checkpoints = {299: run.c[299] * 0.5, 650: run.c[650], 899: run.c[899]}

    def derive():
        return cell_states_between(w, x, h, checkpoints)
    (want, want_gap), (got, got_gap) = both_engines(derive)
    assert got.tobytes() == want.tobytes() and got_gap == want_gap and got_gap > 0
    assert got[299].tobytes() == checkpoints[299].tobytes()   # restarted at the checkpoint


def test_a_long_traces_recomputed_c_is_the_held_c(monkeypatch):
    """StepCells recomputes a long trace's c windows through the compiled loop: the held run's."""
    monkeypatch.delenv(compiled_loop.ENV, raising=False)
    monkeypatch.setattr(cells, "EVERY", 64)
    model = cudnn_model(3, 16, bidirectional=True, seed=9)
    x = features(500, 3, seed=2)
    for direction, reverse in (("forward", False), ("backward", True)):
        w = model.layers[0].weights(direction)
        held = run_direction(w, x, reverse, np.float32, gates=True)
        long = run_direction(w, x, reverse, np.float32, gates=False)
        assert not long.holds_cells          # c kept at block edges only
        assert long.cell_rows(0, 500).tobytes() == held.c.tobytes()
        assert long.cell_rows(130, 260).tobytes() == held.c[130:260].tobytes()
