"""TF32 without a GPU: the rounding, the ``numpy:tf32`` reading, and the verdict that names it.

The rounding is checked against an independent one written here (``frexp``: the significand
scaled to 11 bits and rounded half to even by ``np.round``), on values that include exact ties;
truncating instead of rounding must fail these tests (the data are checked to tell them apart).
"""
import numpy as np
import pytest

from engine_models import features, random_stored
from lstm_inspector.core.compare import compare
from lstm_inspector.core.model import Model, RecurrentLayer
from lstm_inspector.core.reference import run_reference
from lstm_inspector.core.tf32 import round_tf32, tf32_matmul


def hand_tf32(a, rounding=np.round):
    """TF32 by hand: ``a = m 2^e`` with 0.5 <= |m| < 1; keep 11 significant bits of m
    (the implicit one and 10 stored), rounded half to even (``np.round``) or by ``rounding``."""
    m, e = np.frexp(np.asarray(a, np.float64))
    return np.ldexp(rounding(m * 2.0 ** 11), e - 11).astype(np.float32)


def values(n=20000, seed=0):
    """Random float32 of many magnitudes and both signs, plus exact ties (13 dropped bits
    1000000000000b) with an even and an odd last kept bit."""
    rng = np.random.default_rng(seed)
    v = (rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 6, n)).astype(np.float32)
    bits = rng.integers(0x3F000000, 0x40800000, 200, dtype=np.uint32)
    ties = ((bits & np.uint32(0xFFFFE000)) | np.uint32(0x1000)).view(np.float32)
    return np.concatenate([v, ties, -ties, [0.0, 1.0, -2.5, 65504.0]]).astype(np.float32)


def test_rounding_equals_the_hand_rounding_and_is_not_truncation():
    v = values()
    assert np.array_equal(round_tf32(v), hand_tf32(v))
    assert not np.array_equal(hand_tf32(v, np.trunc), hand_tf32(v))  # the data tell them apart
    bits = round_tf32(v).view(np.uint32)
    assert not (bits & np.uint32(0x1FFF)).any()                       # 10 mantissa bits left
    assert np.isnan(round_tf32(np.float32(np.nan))) and round_tf32(np.float32(np.inf)) == np.inf


def test_product_equals_the_hand_rounded_product():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 40)).astype(np.float32)
    W = (rng.uniform(-1, 1, (40, 512)) / np.sqrt(40)).astype(np.float32)
    hand = hand_tf32(x) @ hand_tf32(W)
    assert hand.dtype == np.float32
    np.testing.assert_array_equal(tf32_matmul(x, W), hand)
    assert np.abs(tf32_matmul(x, W) - x @ W).max() > 1e-4      # TF32 really changes the product


def model_like_the_gpu(n_in=40, units=128, seed=0):
    """One CuDNNLSTM(units) with weights U(+-1/sqrt(H)), as the GPU measurements used."""
    stored = random_stored(n_in, units, seed, True, scale=1 / np.sqrt(units))
    return Model([RecurrentLayer("lstm", "CuDNNLSTM", n_in, units, {"forward": stored})],
                 source="<tf32 test>", file_format="in-memory")


@pytest.fixture(scope="module")
def tf32_runs():
    from lstm_inspector import run_backend

    model, x = model_like_the_gpu(), features(600, 40, seed=4)
    return model, x, run_reference(model, x), {r: run_backend(model, x, f"numpy:{r}")
                                               for r in ("tf32", "tf32-xh")}


def test_the_reading_rounds_the_inputs_of_x_at_w(tf32_runs):
    model, x, ref, runs = tf32_runs
    w = model.chain[0].weights("forward")
    bias = (w.bias_ih + w.bias_hh).astype(np.float32)
    z0 = hand_tf32(x[:1]) @ hand_tf32(w.weight_ih.T) + bias         # h_{-1} = 0: x @ W alone
    trace = runs["tf32"]
    np.testing.assert_allclose(trace.layer(0).z[0], z0[0], rtol=1e-6, atol=1e-6)
    assert np.abs(ref.layer(0).z[0] - z0[0]).max() > 1e-5            # not the exact product
    # step 1: x @ W rounded, h @ R exact ("tf32"); both rounded ("tf32-xh")
    h0 = trace.layer(0).h[0]
    z1 = hand_tf32(x[1:2]) @ hand_tf32(w.weight_ih.T) + h0 @ w.weight_hh.T.astype(np.float32)
    np.testing.assert_allclose(trace.layer(0).z[1], (z1 + bias)[0], rtol=1e-6, atol=1e-6)
    xh = runs["tf32-xh"]
    h0 = xh.layer(0).h[0]
    z1 = hand_tf32(x[1:2]) @ hand_tf32(w.weight_ih.T) + hand_tf32(h0) @ hand_tf32(w.weight_hh.T)
    np.testing.assert_allclose(xh.layer(0).z[1], (z1 + bias)[0], rtol=1e-6, atol=1e-6)
    assert trace.meta["tf32"] == "emulated (x @ W)" and trace.meta["reading"] == "tf32"


def test_the_verdict_names_tf32_its_size_and_how_to_confirm(tf32_runs):
    model, x, ref, runs = tf32_runs
    report = compare(ref, runs["tf32"], model=model)
    assert report.kind == "precision" and report.closer_to_exact == "a"
    assert report.verdict.startswith("Precision drift from TF32, not a bug")
    size = report.measures.exact_error["b"]
    assert 2e-5 < size < 2e-3 and f"h up to {size:.2g}" in report.verdict
    # the same trace as a GPU backend's one call with TF32 on: --tf32 off is the way to confirm
    runs["tf32"].meta.update(backend="torch-cuda", tf32=True)
    try:
        gpu = compare(ref, runs["tf32"], model=model)
        assert "TF32" in gpu.verdict and "--tf32 off" in gpu.verdict, gpu.verdict
        runs["tf32"].meta["tf32"] = False           # a run that says TF32 was off: not named
        off = compare(ref, runs["tf32"], model=model)
        assert "TF32" not in off.verdict and off.kind == "precision"
    finally:
        runs["tf32"].meta.update(backend="numpy:tf32", tf32="emulated (x @ W)")
    # exact float32 products (TF32 off): the same comparison agrees
    from lstm_inspector import run_backend
    assert compare(ref, run_backend(model, x, "numpy"), model=model).agree


def test_the_tf32_readings_are_listed_and_never_taken_for_a_wrong_reading(tf32_runs):
    from lstm_inspector.backends import NUMPY_BACKENDS
    from lstm_inspector.backends.listing import backends_table
    from lstm_inspector.paths.registry import builtin_paths

    assert {"numpy:tf32", "numpy:tf32-xh"} <= set(NUMPY_BACKENDS)
    assert {"numpy:tf32", "numpy:tf32-xh"} <= {p.key for p in builtin_paths()}
    assert "TF32" in backends_table()
    model, x, ref, runs = tf32_runs
    report = compare(ref, runs["tf32-xh"], model=model)
    assert report.local["fits"] is None and "tf32" not in report.measures.reading_worst.get(0, {})


# ---- the detective's hypothesis: "consistent with TF32 matmuls" ------------------------------
def test_the_detective_says_consistent_with_tf32_for_a_tf32_path(tf32_runs):
    from lstm_inspector.paths.diagnosis import diagnose

    model, x, ref, runs = tf32_runs
    for reading in ("tf32", "tf32-xh"):
        finding = diagnose(model, x, runs[reading], reference=ref).findings[0]
        assert finding.kind == "arithmetic" and finding.tf32["consistent"], finding.tf32
        assert "consistent with TF32 matmuls" in finding.text()
        assert finding.to_dict()["tf32"]["consistent"] is True


def test_the_tf32_hypothesis_stays_silent_on_agreement_float32_drift_and_structure(tf32_runs):
    from lstm_inspector import run_backend
    from lstm_inspector.core.tf32 import step_effect
    from lstm_inspector.paths.diagnosis import diagnose
    from test_chaotic import chaotic_model

    model, x, ref, _ = tf32_runs
    w = model.chain[0].weights("forward")
    own = step_effect(w, x, ref.layer(0).h, ref.layer(0).c)    # float32's own rounding only
    assert not own["consistent"] and own["path"] < 1e-6 < own["tf32"]
    agree = diagnose(model, x, run_backend(model, x, "numpy"), reference=ref)
    assert agree.agree and agree.findings[0].tf32 is None
    naive = diagnose(model, x, run_backend(model, x, "numpy:naive"), reference=ref).findings[0]
    assert naive.kind == "convention" and naive.tf32 is None
    assert "TF32" not in naive.text()
    # chaotic dynamics amplify float64-vs-float32 rounding: arithmetic, but not TF32's size
    chaos, xc = chaotic_model()
    drift = diagnose(chaos, xc, run_backend(chaos, xc, "numpy64"))
    arithmetic = [f for f in drift.findings if f.kind == "arithmetic"]
    assert arithmetic and all(not f.tf32["consistent"] for f in arithmetic)
    assert "TF32" not in drift.text
