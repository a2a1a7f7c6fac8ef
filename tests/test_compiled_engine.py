"""The compiled step loop (core.compiled_loop, numba) writes the NumPy loop's bits, every one.

It makes the NumPy loop's very calls (OpenBLAS's cblas_sgemv or cblas_dgemv as np.dot calls it,
NumPy's own float32 or float64 inner loops), so the two engines must agree bit for bit on every
size, dtype, activation,
direction, mask and starting state, and under every OpenBLAS kernel this CPU can run. Skipped
without numba (it is the ``fast`` extra; CI installs it with ``test``)."""
import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core import compiled_loop
from lstm_inspector.core.recurrence import run_direction
from lstm_inspector.core.reference import run_reference
from lstm_inspector.errors import InspectorError

pytest.importorskip("numba", reason="numba (pip install lstm-inspector[fast]) is not installed")


def same_bits(a, b) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def engines_differ(units, n_in, steps, seed, scale=1.0, **kw) -> list:
    """Where the two engines' z, a, c, h differ, both directions, float32 and float64 (the
    oracle's dtype; empty: nowhere)."""
    model = cudnn_model(n_in, units, bidirectional=True, seed=seed)
    x = features(steps, n_in, seed=seed + 1) * np.float32(scale)
    bad = []
    for (direction, reverse), dtype in itertools.product(
            (("forward", False), ("backward", True)), (np.float32, np.float64)):
        w = model.layers[0].weights(direction).astype(dtype)
        want = run_direction(w, x.astype(dtype), reverse, dtype, gates=True, engine="numpy",
                             **kw)
        got = run_direction(w, x.astype(dtype), reverse, dtype, gates=True, engine="compiled",
                            **kw)
        assert got.h.dtype == dtype
        bad += [f"H={units} {direction} {np.dtype(dtype)} {k}" for k in "zach"
                if not same_bits(getattr(got, k), getattr(want, k))]
    return bad


def test_the_compiled_engine_loads_here():
    assert compiled_loop.why_not() is None
    assert compiled_loop.engine("auto") == "compiled"


@pytest.mark.parametrize("units,n_in,steps,seed,scale", [
    (2, 3, 40, 0, 1.0), (5, 7, 300, 1, 3.0), (33, 40, 500, 2, 8.0), (128, 40, 1500, 3, 1.0),
    (257, 20, 300, 4, 20.0), (512, 40, 200, 5, 1.0)])
def test_both_engines_write_the_same_bits(units, n_in, steps, seed, scale):
    """Odd and SIMD-sized H, saturating inputs (exp overflows to inf, sigma to exactly 0)."""
    assert engines_differ(units, n_in, steps, seed, scale) == []


def test_both_engines_agree_with_a_mask_and_a_carried_state():
    rng = np.random.default_rng(7)
    mask = rng.random(900) > 0.25
    mask[:3] = False                      # masked first steps carry h0, c0
    h0, c0 = rng.standard_normal((2, 24)).astype(np.float32)
    assert engines_differ(24, 6, 900, 8, 2.0, mask=mask, h0=h0, c0=c0) == []


def test_both_engines_agree_across_loop_blocks_and_progress_batches(monkeypatch):
    """Steps split over several input blocks (both directions) and several progress batches;
    the progress callback is called as often, with the same counts."""
    from lstm_inspector.core import recurrence

    monkeypatch.setattr(recurrence, "BLOCK", 700)
    assert engines_differ(16, 5, 2000, 9) == []
    w = cudnn_model(5, 16, seed=9).layers[0].weights("forward")
    x = features(2000, 5)
    ticks = {e: [] for e in ("numpy", "compiled")}
    for e, seen in ticks.items():
        run_direction(w, x, True, np.float32, tick=seen.append, engine=e)
    assert ticks["compiled"] == ticks["numpy"]


@pytest.mark.parametrize("engine,dtype", itertools.product(("numpy", "compiled"),
                                                           (np.float32, np.float64)))
def test_a_long_run_keeps_c_at_checkpoints_with_the_held_runs_bits(engine, dtype, monkeypatch):
    """A long run (gates not held) steps its blocks through one reused buffer of z, a and c
    and keeps c at checkpoints only: its h, and every c window recomputed from them, are the
    held run's bits, through masked steps, a carried state and blocks that do not line up with
    the checkpoints (reversed)."""
    from lstm_inspector.core import cells, recurrence

    monkeypatch.setattr(recurrence, "BLOCK", 300)
    monkeypatch.setattr(cells, "EVERY", 128)
    model = cudnn_model(5, 12, bidirectional=True, seed=21)
    x = features(1111, 5, seed=22).astype(dtype)
    rng = np.random.default_rng(23)
    mask = rng.random(1111) > 0.2
    h0, c0 = rng.standard_normal((2, 12)).astype(dtype)
    for direction, reverse in (("forward", False), ("backward", True)):
        w = model.layers[0].weights(direction).astype(dtype)
        kw = dict(h0=h0, c0=c0, mask=mask, engine=engine)
        held = run_direction(w, x, reverse, dtype, gates=True, **kw)
        lean = run_direction(w, x, reverse, dtype, gates=False, **kw)
        assert not lean.holds_gates and same_bits(lean.h, held.h), direction
        assert len(lean.cell_source.checkpoints) == 1110 // 128
        for lo, hi in ((0, 1111), (127, 129), (1000, 1111), (300, 600)):
            assert same_bits(lean.cell_source(lo, hi), held.c[lo:hi]), (direction, lo, hi)


def test_whole_models_trace_the_same_bits_on_both_engines():
    """run_reference on a 2-layer Bidirectional stack, gates held and recomputed (StepGates)."""
    model = cudnn_model(6, 20, layers=2, bidirectional=True, seed=11)
    x = features(1200, 6, seed=12)
    traces = {}
    for name in ("numpy", "compiled"):
        compiled_loop.use_engine(name)
        try:
            traces[name] = (run_reference(model, x), run_reference(model, x, gates=False))
        finally:
            compiled_loop.use_engine(None)
    (held_n, lean_n), (held_c, lean_c) = traces["numpy"], traces["compiled"]
    for k, d, lt in held_n.items():
        other = held_c.layer(k, d)
        assert all(same_bits(getattr(lt, n), getattr(other, n)) for n in "zach"), (k, d)
        z, a = lean_c.layer(k, d).gate_source(100, 1100)
        assert same_bits(z, lt.z[100:1100]) and same_bits(a, lt.a[100:1100]), (k, d)
        assert same_bits(lean_c.layer(k, d).h, lean_n.layer(k, d).h)


@pytest.mark.parametrize("engine", ["numpy", "compiled"])
def test_recomputed_windows_equal_the_held_gates_on_both_engines(engine, monkeypatch):
    """StepGates (a long trace's gates, recomputed from its stored h) on either engine gives
    the loop's gates, at both ends, across loop blocks, with a carried h0."""
    from lstm_inspector.core import recurrence

    monkeypatch.setattr(recurrence, "BLOCK", 500)
    model = cudnn_model(5, 12, bidirectional=True, seed=14)
    x = features(1300, 5, seed=15)
    h0 = np.random.default_rng(16).standard_normal(12).astype(np.float32)
    for direction, reverse in (("forward", False), ("backward", True)):
        w = model.layers[0].weights(direction)
        held = run_direction(w, x, reverse, np.float32, gates=True, h0=h0, engine=engine)
        lean = run_direction(w, x, reverse, np.float32, gates=False, h0=h0, engine=engine)
        compiled_loop.use_engine(engine)
        try:
            for lo, hi in ((0, 1), (0, 1300), (497, 805), (1299, 1300), (640, 641)):
                z, a = lean.gate_source(lo, hi)
                assert same_bits(z, held.z[lo:hi]) and same_bits(a, held.a[lo:hi]), (lo, hi)
        finally:
            compiled_loop.use_engine(None)


def test_other_activations_and_tf32_products_run_the_numpy_loop():
    """What the compiled loop does not cover falls back, and still gives the NumPy loop's bits."""
    model = cudnn_model(4, 6, seed=13, cudnn=False, recurrent_activation="hard_sigmoid")
    w = model.layers[0].weights("forward")
    assert not compiled_loop.handles(6, np.float32, False, False)
    assert not compiled_loop.handles(6, np.float16, True, False)
    assert compiled_loop.handles(6, np.float64, True, False)          # the float64 oracle
    assert not compiled_loop.handles(1, np.float32, True, False)     # np.dot's scalar road
    assert not compiled_loop.handles(6, np.float32, True, True)      # TF32-rounded h
    x = features(50, 4)
    a, b = (run_direction(w, x, False, np.float32, engine=e) for e in ("numpy", "compiled"))
    assert same_bits(a.h, b.h)


def test_the_engine_is_chosen_by_the_environment_or_by_use_engine(monkeypatch):
    monkeypatch.setenv(compiled_loop.ENV, "numpy")
    assert compiled_loop.engine() == "numpy"
    monkeypatch.setenv(compiled_loop.ENV, "compiled")
    assert compiled_loop.engine() == "compiled"
    compiled_loop.use_engine("numpy")
    try:
        assert compiled_loop.engine() == "numpy"
    finally:
        compiled_loop.use_engine(None)
    monkeypatch.setenv(compiled_loop.ENV, "fortran")
    with pytest.raises(InspectorError, match="LSTM_INSPECTOR_ENGINE='fortran' is not one of"):
        compiled_loop.engine()
    with pytest.raises(InspectorError, match="engine 'gpu' is not one of"):
        compiled_loop.use_engine("gpu")


def test_a_compiled_engine_that_cannot_load_falls_back_or_says_why(monkeypatch):
    monkeypatch.setattr(compiled_loop, "_loaded", "ModuleNotFoundError: No module named 'numba'")
    assert compiled_loop.engine("auto") == "numpy"
    with pytest.raises(InspectorError, match="compiled engine cannot run: ModuleNotFoundError"):
        compiled_loop.engine("compiled")
    w = cudnn_model(3, 4).layers[0].weights("forward")
    assert run_direction(w, features(20, 3), False, np.float32).h.shape == (20, 4)


def _coretypes() -> list:
    from test_long_input import _coretypes as coretypes
    return coretypes()


@pytest.mark.slow
@pytest.mark.parametrize("coretype", _coretypes())
def test_both_engines_agree_under_every_openblas_kernel(coretype):
    """Each OpenBLAS kernel rounds the recurrent product its own way; the compiled engine calls
    that very kernel, so it follows it bit for bit (a child process per kernel)."""
    tests = str(Path(__file__).resolve().parent)
    env = dict(os.environ, OPENBLAS_CORETYPE=coretype,
               PYTHONPATH=os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]))
    code = ("import test_compiled_engine as t; bad = t.engines_differ(128, 40, 600, 1) + "
            "t.engines_differ(37, 9, 300, 2, 6.0) + t.engines_differ(512, 40, 60, 3); "
            "print(len(bad), bad[:4])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "0 []", f"{coretype}: {proc.stdout[-500:]}"
