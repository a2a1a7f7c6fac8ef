"""Long inputs are analysed chunk by chunk, with exactly the values of a whole-input pass."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core import analysis, reference
from lstm_inspector.core.compare import compare
from lstm_inspector.core.reference import run_reference
from lstm_inspector.core.trace import QUANTITIES


def _measures_equal(m1, m2):
    assert m1.keys == m2.keys
    for key, q1 in m1.quantities.items():
        q2 = m2.quantities[key]
        assert np.array_equal(q1.step_error, q2.step_error), key
        assert (q1.max_rel, q1.max_ulp) == (q2.max_rel, q2.max_ulp), key
        for name in ("local", "local_scale"):
            v1, v2 = getattr(q1, name), getattr(q2, name)
            assert (v1 is None) == (v2 is None) and (v1 is None or np.array_equal(v1, v2)), (key, name)


@pytest.mark.parametrize("reading", ["hard_sigmoid", "naive"])
def test_chunked_analysis_equals_the_whole_input_pass_exactly(reading):
    model = cudnn_model(3, 6, layers=2, bidirectional=True, seed=8)
    x = features(700, 3, seed=3)
    a, b = run_reference(model, x), run_reference(model.with_reading(reading), x)
    whole = analysis.measure(a, b, model=model, chunk=10 ** 9)
    for chunk in (1, 64, 97):
        _measures_equal(analysis.measure(a, b, model=model, chunk=chunk), whole)
        t1 = analysis.threshold(a, b, whole.keys, 1e-5, 1e-4, model, chunk=chunk)
        t2 = analysis.threshold(a, b, whole.keys, 1e-5, 1e-4, model, chunk=10 ** 9)
        assert t1.first == t2.first and t1.first_by_key == t2.first_by_key
        assert all(np.array_equal(t1.out_steps[k], t2.out_steps[k]) for k in t2.out_steps)
    layer, step = 0, compare(a, b, model=model).local["first"][0]
    assert (analysis.reading_worst(model, b, whole.keys, layer, step, chunk=50)
            == analysis.reading_worst(model, b, whole.keys, layer, step, chunk=10 ** 9))


@pytest.mark.slow
def test_a_100000_frame_input_goes_through_the_chunked_path(monkeypatch):
    """100,000 frames, read in chunks of 8192 steps: the per-step summaries cover every step,
    and each chunk's values are those of the rows computed alone."""
    model = cudnn_model(2, 3, bidirectional=True, seed=1)
    x = features(100_000, 2, seed=5)
    a = run_reference(model, x, gates=False)   # c and h only: gates recomputed per chunk
    b = run_reference(model.with_reading("hard_sigmoid"), x, gates=False)
    assert not a.layer(0, "forward").holds_gates
    chunks = []
    real = reference.teacher_forced_layer

    def spy(*args, rows=None, **kwargs):
        chunks.append(rows)
        return real(*args, rows=rows, **kwargs)

    monkeypatch.setattr(reference, "teacher_forced_layer", spy)
    report = compare(a, b, model=model, oracle=False)
    assert chunks and max(hi - lo for lo, hi in chunks) <= analysis.CHUNK
    assert report.kind == "structural" and "'hard_sigmoid'" in report.verdict
    for k, d in report.keys():
        for q in QUANTITIES:
            assert report.step_error(k, d, q).shape == (100_000,)
    lo, hi = 50_000, 50_300   # any window equals the whole pass there
    np.testing.assert_array_equal(report.step_error(0, "backward", "h")[lo:hi],
                                  np.abs(a.layer(0, "backward").h[lo:hi].astype(np.float64)
                                         - b.layer(0, "backward").h[lo:hi]).max(axis=1))


@pytest.mark.parametrize("recurrent_activation", ["sigmoid", "hard_sigmoid"])
def test_traces_without_gates_recompute_them_bit_for_bit(recurrent_activation):
    """A long trace keeps c and h; any window of its gates is recomputed with the loop's own
    operations, so it equals the gates a trace holding them recorded, and so does the analysis."""
    model = cudnn_model(4, 5, layers=2, bidirectional=True, seed=6, cudnn=False,
                        recurrent_activation=recurrent_activation)
    x = features(3000, 4, seed=9)
    for dtype in ("float32", "float64"):
        held, lean = (run_reference(model, x, dtype=dtype, gates=g) for g in (True, False))
        assert np.array_equal(lean.output, held.output)
        for k, d, lt in held.items():
            other = lean.layer(k, d)
            assert not other.holds_gates
            for lo, hi in ((0, 1), (0, 3000), (1234, 2345), (2999, 3000)):
                z, a = other.gate_rows(lo, hi)
                assert np.array_equal(z, lt.z[lo:hi]) and np.array_equal(a, lt.a[lo:hi]), (k, d, lo)
    a_held = run_reference(model, x)
    b_held = run_reference(model.with_reading("naive"), x)
    _measures_equal(analysis.measure(run_reference(model, x, gates=False),
                                     run_reference(model.with_reading("naive"), x, gates=False),
                                     model=model, chunk=500),
                    analysis.measure(a_held, b_held, model=model))


def test_backend_traces_recompute_their_derived_gates_exactly():
    from lstm_inspector.core.derived_gates import derive_gates

    model = cudnn_model(3, 4, layers=2, bidirectional=True, seed=2)
    x = features(2000, 3, seed=4)
    held = derive_gates(model, run_reference(model.with_reading("naive"), x), gates=True)
    lean = derive_gates(model, run_reference(model.with_reading("naive"), x), gates=False)
    for k, d, lt in held.items():
        assert lean.layer(k, d).how("i") == "derived" and not lean.layer(k, d).holds_gates
        z, a = lean.layer(k, d).gate_rows(700, 1900)
        assert np.array_equal(z, lt.z[700:1900]) and np.array_equal(a, lt.a[700:1900])


@pytest.fixture
def checkpointed(monkeypatch):
    """torch's LSTM refuses more than 100 steps in one call (cuDNN's own error, planted): the
    one-call road runs in chunks, each from the state the previous one returned."""
    from test_one_call_road import plant_torch_limit

    return plant_torch_limit(monkeypatch, 100)


@pytest.mark.torch
def test_long_torch_input_runs_in_chunks_h_measured_c_derived_between_checkpoints(checkpointed):
    from lstm_inspector.backends import run_backend

    model = cudnn_model(3, 8, layers=2, bidirectional=True, seed=4)
    x = features(300, 3, seed=2)
    trace = run_backend(model, x, backend="torch-cpu")
    ref = run_reference(model, x)
    for k, d, lt in trace.items():
        assert (lt.how("h"), lt.how("c"), lt.how("i")) == ("measured", "derived", "derived")
        assert np.abs(lt.h - ref.layer(k, d).h).max() < 1e-5
        assert np.abs(lt.c - ref.layer(k, d).c).max() < 1e-5
    checks = trace.meta["derivation_checks"]
    assert len(checks) == 4 and all(c["calls"] == 4 and c["max_abs"] < 1e-5 for c in checks)
    assert any("chunks of 75 steps" in n for n in trace.meta["notes"])
    report = compare(ref, trace, model=model, local="always")
    assert report.agree and report.local_step_error(0, "forward", "c") is None  # derived: no information
    assert report.local_step_error(1, "backward", "h").max() < 1e-5


@pytest.mark.torch
def test_chaotic_model_through_the_checkpointed_road_is_still_precision(checkpointed):
    from lstm_inspector.backends import run_backend
    from test_chaotic import chaotic_model

    model, x = chaotic_model()
    report = compare(run_reference(model, x), run_backend(model, x, backend="torch-cpu"), model=model)
    assert report.kind == "precision" and "amplify" in report.verdict, report.verdict


def test_row_reader_and_overview_read_what_the_arrays_hold():
    from lstm_inspector.core.windows import RowReader, overview

    model = cudnn_model(3, 5, seed=3)
    x = features(5000, 3, seed=1)
    held, lean = run_reference(model, x), run_reference(model, x, gates=False)
    reader = RowReader(lambda lo, hi: lean.layer(0).rows("f", lo, hi), 5000, 5)
    for t in list(range(40, 90)) + [4999, 0, 1234, 17]:   # walking, then jumping
        assert np.array_equal(reader[t], held.layer(0).gate("f")[t])
    picture = overview(lambda lo, hi: lean.layer(0).rows("i", lo, hi), 5000, columns=700)
    width = -(-5000 // 700)
    assert picture.shape == (-(-5000 // width), 5)
    np.testing.assert_allclose(picture[3], held.layer(0).gate("i")[3 * width:4 * width].mean(axis=0),
                               rtol=1e-6)


#: OpenBLAS kernels to emulate other CPUs with (``OPENBLAS_CORETYPE``), each with the CPU flags
#: it needs here. Haswell's and Zen's sgemm give a row other last bits in a 64-row product than
#: in a 3000-row one (what an AMD EPYC runs); SkylakeX's and Sandybridge's do not.
CORETYPES = {"Haswell": ("avx2", "fma"), "Zen": ("avx2", "fma"), "Sandybridge": ("avx",),
             "SkylakeX": ("avx512f", "avx512bw", "avx512vl", "avx512dq")}


def _cpu_flags() -> set:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((l for l in text.splitlines() if l.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def _coretypes() -> list:
    """The kernels this CPU can run; only the one set here if the environment sets one (some
    machines set OPENBLAS_CORETYPE because other kernels compute wrongly or crash on them)."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return [os.environ["OPENBLAS_CORETYPE"]]
    flags = _cpu_flags()
    return [name for name, needs in CORETYPES.items() if flags.issuperset(needs)]


def recompute_mismatches(steps=2500, block=1000) -> list:
    """Every window of recomputed gates that differs from the gates held (run in a child under
    each OpenBLAS kernel). ``recurrence.BLOCK = block`` so windows cross the loop's blocks
    (aligned at 0 forwards, at T backwards); the teacher-forced windows cross its blocks too."""
    from lstm_inspector.core import recurrence
    from lstm_inspector.core.derived_gates import derive_gates
    from lstm_inspector.core.reference import TEACHER_BLOCK

    recurrence.BLOCK = block
    bad = []
    windows = ((0, 1), (0, steps), (block - 3, block + 5), (1234, 2345), (steps - 1, steps),
               (TEACHER_BLOCK - 1, 3 * TEACHER_BLOCK + 7), (777, 778))
    for rec in ("sigmoid", "hard_sigmoid"):
        model = cudnn_model(4, 5, layers=2, bidirectional=True, seed=6, cudnn=False,
                            recurrent_activation=rec)
        x = features(steps, 4, seed=9)
        for dtype in ("float32", "float64"):
            held, lean = (run_reference(model, x, dtype=dtype, gates=g) for g in (True, False))
            for k, d, lt in held.items():
                for lo, hi in windows:
                    z, a = lean.layer(k, d).gate_source(lo, hi)
                    if not (np.array_equal(z, lt.z[lo:hi]) and np.array_equal(a, lt.a[lo:hi])):
                        bad.append(f"reference {rec} {dtype} layer {k} {d} rows {lo}:{hi}")
        naive = run_reference(model.with_reading("naive"), x)
        held = derive_gates(model, naive, gates=True)
        lean = derive_gates(model, run_reference(model.with_reading("naive"), x), gates=False)
        for k, d, lt in held.items():
            for lo, hi in windows:
                z, a = lean.layer(k, d).gate_source(lo, hi)
                if not (np.array_equal(z, lt.z[lo:hi]) and np.array_equal(a, lt.a[lo:hi])):
                    bad.append(f"derived {rec} layer {k} {d} rows {lo}:{hi}")
    return bad


@pytest.mark.slow
@pytest.mark.parametrize("coretype", _coretypes())
def test_recomputed_gates_equal_the_held_ones_under_every_openblas_kernel(coretype):
    """The AMD EPYC of issue 20 recomputed 0.12910828 where the loop had 0.12910827: its BLAS
    kernel rounds a row by the product's shape. Recomputation repeats the loop's very calls, so
    under every kernel this CPU can run, every window equals the gates held, bit for bit."""
    tests = str(Path(__file__).resolve().parent)
    env = dict(os.environ, OPENBLAS_CORETYPE=coretype,
               PYTHONPATH=os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]))
    code = ("import json, test_long_input as t; "
            "print(json.dumps(t.recompute_mismatches()))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bad = __import__("json").loads(proc.stdout.strip().splitlines()[-1])
    assert bad == [], f"{coretype}: {len(bad)} windows differ, e.g. {bad[:5]}"
