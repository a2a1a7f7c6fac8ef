"""Divergence analysis: first divergence, local vs carried error, verdicts, the forum case."""
import json

import numpy as np
import pytest

from engine_models import cudnn_model, features, forum_model
from lstm_inspector.core.compare import compare, ulp_distance
from lstm_inspector.core.reference import run_reference
from lstm_inspector.core.weights import LSTMWeights
from lstm_inspector.errors import InspectorError


def forum_input(steps=10):
    return np.linspace(0.5, 1.0, steps, dtype=np.float32)[:, None]


def test_forum_case_equal_at_step_0_diverging_from_step_1():
    model = forum_model()
    x = forum_input()
    right = run_reference(model, x)
    naive = run_reference(model.with_reading("naive"), x)
    per_step = np.abs(right.layer(0).h - naive.layer(0).h).max(axis=1)
    assert per_step[0] == 0.0
    assert (per_step[1:] > 1e-4).all()
    report = compare(right, naive, model=model)
    assert report.first.step == 1 and report.first.quantity == "i"
    assert report.kind == "structural"
    assert "from step 1" in report.verdict and "'naive'" in report.verdict
    assert report.divergent_steps()[0] == 1


def test_input_width_1_and_h_1_make_the_naive_reading_harmless():
    model = cudnn_model(1, 1, seed=4)
    x = forum_input()
    report = compare(run_reference(model, x), run_reference(model.with_reading("naive"), x), model=model)
    assert report.agree and report.first is None and report.kind == "agree"
    assert "agrees" in report.verdict


def test_hard_sigmoid_port_is_named():
    model = cudnn_model(3, 4, seed=2)
    x = features(30, 3)
    report = compare(run_reference(model, x), run_reference(model.with_reading("hard_sigmoid"), x),
                     model=model)
    assert report.kind == "structural" and report.first.step == 0
    assert "'hard_sigmoid'" in report.verdict


def test_gate_order_port_is_named():
    model = cudnn_model(3, 4, seed=5)
    x = features(30, 3)
    report = compare(run_reference(model, x), run_reference(model.with_reading("onnx-order"), x),
                     model=model)
    assert "'onnx-order'" in report.verdict


def _tf32_round(a):
    """Round float32 values to TF32 (10 explicit mantissa bits), as tensor cores read them."""
    bits = np.asarray(a, np.float32).view(np.uint32)
    return ((bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)


def test_tf32_like_rounding_is_called_precision_drift_not_a_bug():
    model = cudnn_model(20, 16, seed=7)
    x = features(300, 20)
    ref = run_reference(model, x)
    w = model.layers[0].weights()
    rounded = LSTMWeights(_tf32_round(w.weight_ih), _tf32_round(w.weight_hh), w.bias_ih, w.bias_hh)
    from lstm_inspector.core.recurrence import run_direction
    lt = run_direction(rounded, _tf32_round(x), False, np.float32)
    b = run_reference(model, x)
    b.layers[0]["forward"] = lt
    b.label = "TF32-rounded path"
    b.meta["tf32"] = True
    report = compare(ref, b, model=model)
    assert not report.agree
    assert report.kind == "precision", report.verdict
    assert "TF32" in report.verdict
    assert report.closer_to_exact == "a"


def test_float64_oracle_agrees_and_reports_are_json():
    model = cudnn_model(4, 3, layers=2, bidirectional=True)
    x = features(15, 4)
    report = compare(run_reference(model, x), run_reference(model, x, dtype="float64"), model=model)
    assert report.agree
    data = json.loads(json.dumps(report.to_dict()))
    assert data["agree"] is True and data["first"] is None
    assert {q["quantity"] for q in data["quantities"]} == {"i", "f", "c~", "o", "c", "h"}


def test_first_divergence_in_a_backward_direction_is_the_last_frame():
    model = cudnn_model(3, 4, bidirectional=True, seed=8)
    x = features(20, 3)
    a = run_reference(model, x)
    b = run_reference(model, x)
    b.layer(0, "backward").h[:] += 1.0  # wrong everywhere: the first one the direction computed is t = T-1
    report = compare(a, b, model=model)
    assert report.first.direction == "backward" and report.first.step == 19
    assert report.first.quantity == "h"


def test_tolerance_is_respected_and_validated():
    model = cudnn_model(3, 4)
    x = features(10, 3)
    a = run_reference(model, x)
    b = run_reference(model, x)
    b.layer(0).h[5, 2] += 5e-6
    assert compare(a, b, atol=1e-5, rtol=0).agree
    report = compare(a, b, atol=1e-6, rtol=0)
    assert (report.first.step, report.first.unit, report.first.quantity) == (5, 2, "h")
    assert report.step_error(0, "forward", "h")[5] == pytest.approx(5e-6, rel=0.05)
    with pytest.raises(InspectorError, match="tolerances"):
        compare(a, b, atol=-1)


def test_ulp_distance():
    a = np.array([1.0, -1.0, 0.0, 1.0], np.float32)
    b = np.array([np.nextafter(np.float32(1), np.float32(2)), -1.0, -0.0, 2.0], np.float32)
    assert list(ulp_distance(a, b)) == [1, 0, 0, 1 << 23]


def test_traces_on_different_inputs_are_refused():
    model = cudnn_model(3, 4)
    with pytest.raises(InspectorError, match="same features"):
        compare(run_reference(model, features(10, 3, seed=1)), run_reference(model, features(10, 3, seed=2)))


def test_with_tolerance_reuses_the_analysis_and_local_error_is_public():
    model = forum_model()
    x = forum_input(20)
    calls = []
    report = compare(run_reference(model, x), run_reference(model.with_reading("naive"), x),
                     model=model, progress=lambda f, text: calls.append(text))
    assert "'naive'" in report.verdict
    local = report.local_step_error(0, "forward", "h")
    assert local.shape == (20,) and local[0] < 1e-6 and local[1] > 1e-4
    n_calls = len(calls)
    loose = report.with_tolerance(atol=1.0, rtol=0.0)
    assert loose.agree and "agrees" in loose.verdict
    tight = loose.with_tolerance(atol=1e-5)
    assert tight.first.step == 1 and "'naive'" in tight.verdict
    assert len(calls) == n_calls  # nothing recomputed


def test_progress_callback_can_cancel_the_reference():
    from lstm_inspector.errors import Cancelled

    model = cudnn_model(3, 4)
    seen = []

    def progress(fraction, text):
        seen.append(fraction)
        if fraction > 0.4:
            raise Cancelled()

    with pytest.raises(Cancelled):
        run_reference(model, features(2000, 3), progress=progress)
    assert 1 < len(seen) < 8  # called every PROGRESS_EVERY steps, stopped midway
