"""The analysis in one pass per direction: the same values as its pieces computed apart.

* the compiled differences of a chunk (``core.compiled_differences``) equal NumPy's, on every
  kind of float32 (NaN, infinities, signed zeros, subnormals, values on the tolerance's edge);
* gates computed alone (``teacher_forced_layer(names="za")``: no previous c read) equal the
  gates of the whole teacher-forced step, under a mask and from an initial state;
* ``measure``'s local errors, made in the differences' pass, equal ``local_errors``; a long
  torch trace's derived c is computed once per block in that pass.
"""
from dataclasses import replace

import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core import analysis, cells, recurrence
from lstm_inspector.core.reference import run_reference, teacher_forced_layer


def hostile_pairs(rows=300, units=37, seed=0):
    """(a, b) float32 (rows, units) pairs: random bit patterns and near neighbours, special
    values against each other, values on the default tolerance's edge, a strided column view."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(-2 ** 31, 2 ** 31, size=(rows, units)).astype(np.int32)
    near = (bits + rng.integers(-3, 4, size=bits.shape).astype(np.int32)).view(np.float32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3.4e38, -3.4e38,
                        1, -1, 1e-38], np.float32)
    sa, sb = (g.astype(np.float32) for g in np.meshgrid(special, special))
    a = rng.normal(0, 1, (rows, units)).astype(np.float32)
    edge = (a.astype(np.float64) + (1e-5 + 1e-4 * np.abs(a.astype(np.float64)))).astype(np.float32)
    wide = rng.normal(0, 1, (rows, 4 * units)).astype(np.float32)
    return [(bits.view(np.float32), near), (near, bits.view(np.float32)), (sa, sb), (a, edge),
            (edge, a), (a, a), (wide[:, units:2 * units], wide[:, 2 * units:3 * units])]


def one_chunk(ra, rb, tolerance, compiled, monkeypatch):
    if not compiled:
        monkeypatch.setattr(analysis, "compiled_kernel", lambda: None)
    step, out = np.full(len(ra), -1.0), np.zeros(len(ra), bool)
    with np.errstate(invalid="ignore", over="ignore"):   # inf - inf: NaN, as it should be
        rel, ulp = analysis.rows_differences(ra, rb, step, None if tolerance is None else out,
                                             tolerance)
    monkeypatch.undo()
    return step, out, rel, ulp


@pytest.mark.parametrize("tolerance", [(1e-5, 1e-4), (0.0, 0.0), None])
def test_compiled_differences_equal_numpys_on_every_kind_of_float(monkeypatch, tolerance):
    pytest.importorskip("numba")
    from lstm_inspector.core import compiled_loop

    monkeypatch.delenv(compiled_loop.ENV, raising=False)   # not the NumPy engine, if asked
    assert analysis.compiled_kernel() is not None
    for ra, rb in hostile_pairs():
        got = one_chunk(ra, rb, tolerance, True, monkeypatch)
        want = one_chunk(ra, rb, tolerance, False, monkeypatch)
        numbers = ~np.isnan(want[0])                             # NaN where NumPy has NaN
        assert np.array_equal(np.isnan(got[0]), ~numbers)        # (its payload aside)
        assert got[0][numbers].tobytes() == want[0][numbers].tobytes()
        assert np.array_equal(got[1], want[1])
        assert (np.float64(got[2]).tobytes() == np.float64(want[2]).tobytes()
                or np.isnan(got[2]) and np.isnan(want[2]))
        assert got[3] == want[3] and isinstance(got[3], int)


def test_the_numpy_engine_runs_the_numpy_differences(monkeypatch):
    monkeypatch.setenv("LSTM_INSPECTOR_ENGINE", "numpy")
    assert analysis.compiled_kernel() is None


def bidirectional_pair(steps=900, seed=3):
    model = cudnn_model(3, 6, layers=2, bidirectional=True, seed=8)
    return model, features(steps, 3, seed=seed)


def test_gates_alone_equal_the_gates_of_the_whole_step():
    model, x = bidirectional_pair()
    x[100:140] = 0.0
    masked = replace(model, mask_value=0.0)
    state = {(0, "backward"): (np.full(6, 0.3), np.full(6, -0.7))}
    for m, kwargs in ((model, {}), (masked, {}), (model, {"initial_state": state})):
        teacher = run_reference(m, x, **kwargs)
        for k in range(2):
            for rows in (None, (250, 777)):
                whole = teacher_forced_layer(m, k, teacher, "float32", rows=rows)
                alone = teacher_forced_layer(m, k, teacher, "float32", rows=rows, names="za")
                for d, lt in whole.items():
                    assert alone[d].z.tobytes() == lt.z.tobytes()
                    assert alone[d].a.tobytes() == lt.a.tobytes()
                    assert alone[d].c is None and alone[d].h.shape == (len(lt.h), 0)


def test_measures_local_errors_are_the_whole_teacher_forced_pass():
    """Made chunk by chunk in the differences' pass (and by ``local_errors``): the values of
    one float64 teacher-forced pass over the whole input, ``max_j |F(b) - b|``, ``max_j |F(b)|
    + 1``."""
    model, x = bidirectional_pair()
    a, b = run_reference(model, x), run_reference(model.with_reading("naive"), x)
    measures = analysis.measure(a, b, model=model, chunk=128, oracle=False)
    apart = analysis.local_errors(model, b, measures.keys, [0, 1], chunk=300)
    got = measures.local_errors()
    assert set(got) == set(apart) and len(got) == 24
    for k in range(2):
        for d, forced in teacher_forced_layer(model, k, b, "float64").items():
            for q in forced.quantities:
                f = forced.quantity(q)
                local = np.abs(f - b.layer(k, d).quantity(q).astype(np.float64)).max(axis=1)
                scale = np.abs(f).max(axis=1) + 1.0
                for made in (got, apart):
                    assert made[(k, d, q)][0].tobytes() == local.tobytes(), (k, d, q)
                    assert made[(k, d, q)][1].tobytes() == scale.tobytes(), (k, d, q)


@pytest.mark.torch
def test_a_long_torch_trace_derives_each_block_of_c_once(monkeypatch):
    """The differences and the local errors read b's derived c in the same pass: each block of
    ``recurrence.BLOCK`` steps is derived once per direction, not once per reading."""
    from lstm_inspector.backends import run_backend

    monkeypatch.setattr(recurrence, "KEEP_GATES_BYTES", 10_000)   # the long road at 2,000 steps
    monkeypatch.setattr(recurrence, "BLOCK", 256)
    model, x = bidirectional_pair(2000)
    a, b = run_reference(model, x), run_backend(model, x, backend="torch-cpu")
    assert not b.layer(1, "backward").holds_cells
    derived = []
    real = cells.DerivedCells._block
    monkeypatch.setattr(cells.DerivedCells, "_block",
                        lambda self, lo, hi: derived.append((id(self), lo)) or real(self, lo, hi))
    measures = analysis.measure(a, b, model=model, chunk=256, oracle=False)
    assert len(derived) == len(set(derived)) == 4 * 8   # 4 directions, 8 blocks each
    assert measures.get(1, "backward", "h").local.max() < 1e-5


def test_local_errors_of_two_directions_side_by_side_stop_on_cancel(monkeypatch):
    """b's local errors of a bidirectional layer run one direction per core
    (``side_by_side.run_both``); a Cancel from the progress callback stops both, and the same
    values come out of one direction after the other."""
    import threading

    from lstm_inspector.core import side_by_side
    from lstm_inspector.errors import Cancelled

    model, x = bidirectional_pair()
    b = run_reference(model, x)
    keys = tuple((k, d) for k in range(2) for d in ("forward", "backward"))
    threads = []
    real = side_by_side.run_both
    monkeypatch.setattr(side_by_side, "run_both",
                        lambda *a: threads.append(1) or real(*a))
    monkeypatch.setattr(side_by_side, "second_core", lambda: True)
    both = analysis.local_errors(model, b, keys, [0, 1], chunk=128)
    assert len(threads) == 2   # one per layer
    monkeypatch.setattr(side_by_side, "second_core", lambda: False)
    apart = analysis.local_errors(model, b, keys, [0, 1], chunk=128)
    assert both.keys() == apart.keys() and len(both) == 24
    for key, (local, scale) in apart.items():
        assert both[key][0].tobytes() == local.tobytes(), key
        assert both[key][1].tobytes() == scale.tobytes(), key
    monkeypatch.setattr(side_by_side, "second_core", lambda: True)
    calls = []

    def cancel(fraction, text):
        calls.append(fraction)
        if len(calls) == 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        analysis.local_errors(model, b, keys, [0, 1], chunk=128, progress=cancel)
    assert len(calls) == 2
    assert not [t for t in threading.enumerate() if t.name.startswith("lstm-inspector-direction")]
