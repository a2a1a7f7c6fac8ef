"""The instrumented NumPy reference: equations, layouts, directions, teacher forcing, memory."""
import tracemalloc

import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core import activations
from lstm_inspector.core.reference import run_reference
from lstm_inspector.errors import InspectorError


def plain_lstm(weight_ih, weight_hh, b, x, rec_act=activations.sigmoid, act=np.tanh, reverse=False):
    """The textbook equations in float64, one step at a time, written independently."""
    H = weight_hh.shape[1]
    h, c = np.zeros(H), np.zeros(H)
    hs, cs = np.zeros((len(x), H)), np.zeros((len(x), H))
    order = range(len(x) - 1, -1, -1) if reverse else range(len(x))
    for t in order:
        z = weight_ih @ x[t] + weight_hh @ h + b
        i, f, g, o = rec_act(z[:H]), rec_act(z[H:2 * H]), act(z[2 * H:3 * H]), rec_act(z[3 * H:])
        c = f * c + i * g
        h = o * act(c)
        hs[t], cs[t] = h, c
    return hs, cs


def cudnn_matrices(stored):
    """W_g, R_g exactly as the facts file states cuDNN uses them (independent of weights.py)."""
    k, r, b = (np.asarray(a, np.float64) for a in (stored.kernel, stored.recurrent_kernel, stored.bias))
    H = r.shape[0]
    W = np.vstack([k[:, g * H:(g + 1) * H].reshape(H, -1) for g in range(4)])
    R = np.vstack([r[:, g * H:(g + 1) * H] for g in range(4)])
    return W, R, b[:4 * H] + b[4 * H:]


@pytest.mark.parametrize("n_in,units", [(1, 1), (1, 2), (3, 4), (7, 5), (5, 1)])
def test_reference_follows_the_cudnn_equations(n_in, units):
    model = cudnn_model(n_in, units, seed=n_in * 10 + units)
    x = features(25, n_in)
    trace = run_reference(model, x)
    W, R, b = cudnn_matrices(model.layers[0].directions["forward"])
    hs, cs = plain_lstm(W, R, b, x.astype(np.float64))
    lt = trace.layer(0)
    np.testing.assert_allclose(lt.h, hs, atol=2e-6)
    np.testing.assert_allclose(lt.c, cs, atol=2e-6)
    # gates recorded consistently with c and h
    c_prev = np.vstack([np.zeros(units), lt.c[:-1]])
    np.testing.assert_allclose(lt.c, lt.gate("f") * c_prev + lt.gate("i") * lt.gate("c~"), atol=1e-6)
    np.testing.assert_allclose(lt.h, lt.gate("o") * np.tanh(lt.c), atol=1e-6)
    np.testing.assert_allclose(lt.gate("i"), activations.sigmoid(lt.gate("i", pre=True)), atol=1e-7)
    assert trace.output.shape == (25, units) and lt.h.dtype == np.float32


def test_float64_oracle_is_close_to_float32_and_exact_dtype():
    model = cudnn_model(4, 6, layers=2)
    x = features(40, 4)
    t32, t64 = run_reference(model, x), run_reference(model, x, dtype="float64")
    assert t64.layer(1).h.dtype == np.float64 and t64.meta["dtype"] == "float64"
    err = np.abs(t32.layer(1).h - t64.layer(1).h).max()
    assert 0 < err < 1e-5


def test_hard_sigmoid_keras_lstm():
    model = cudnn_model(3, 4, cudnn=False, recurrent_activation="hard_sigmoid")
    x = features(20, 3)
    stored = model.layers[0].directions["forward"]
    k, r, b = (np.asarray(a, np.float64) for a in (stored.kernel, stored.recurrent_kernel, stored.bias))
    hs, _ = plain_lstm(k.T, r.T, b, x.astype(np.float64),
                       rec_act=lambda z: np.clip(0.2 * z + 0.5, 0, 1))
    np.testing.assert_allclose(run_reference(model, x).layer(0).h, hs, atol=2e-6)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_indexing_and_merge(merge_mode):
    model = cudnn_model(3, 4, layers=2, bidirectional=True, merge_mode=merge_mode)
    x = features(12, 3)
    trace = run_reference(model, x)
    layer0 = model.layers[0]
    for direction, reverse in (("forward", False), ("backward", True)):
        W, R, b = cudnn_matrices(layer0.directions[direction])
        hs, _ = plain_lstm(W, R, b, x.astype(np.float64), reverse=reverse)
        np.testing.assert_allclose(trace.layer(0, direction).h, hs, atol=2e-6)
    fwd, bwd = trace.layer(1, "forward").h, trace.layer(1, "backward").h
    expected = {"concat": np.concatenate([fwd, bwd], 1), "sum": fwd + bwd,
                "mul": fwd * bwd, "ave": (fwd + bwd) / 2}[merge_mode]
    np.testing.assert_allclose(trace.output, expected, atol=1e-7)


def test_go_backwards_output_is_in_processing_order_like_keras():
    model = cudnn_model(2, 3, go_backwards=True)
    x = features(9, 2)
    trace = run_reference(model, x)
    W, R, b = cudnn_matrices(model.layers[0].directions["forward"])
    hs, _ = plain_lstm(W, R, b, x.astype(np.float64), reverse=True)
    np.testing.assert_allclose(trace.layer(0).h, hs, atol=2e-6)  # trace: input time
    np.testing.assert_allclose(trace.output, hs[::-1], atol=2e-6)  # Keras: processing order


def test_teacher_forced_by_itself_reproduces_itself_and_separates_local_error():
    model = cudnn_model(3, 5, layers=2, bidirectional=True)
    x = features(30, 3)
    own = run_reference(model, x, dtype="float64")
    forced = run_reference(model, x, dtype="float64", teacher=own)
    for k, d, lt in own.items():
        np.testing.assert_allclose(forced.layer(k, d).h, lt.h, atol=1e-12)
        np.testing.assert_allclose(forced.layer(k, d).gate("f"), lt.gate("f"), atol=1e-12)
    # a teacher whose state is perturbed at one step: local error appears at that step and the next only
    bent = run_reference(model, x, dtype="float64")
    bent.layer(0).h[10] += 0.1
    bent.layer(0).c[10] += 0.1
    forced = run_reference(model, x, dtype="float64", teacher=bent)
    local = np.abs(forced.layer(0).h - bent.layer(0).h).max(axis=1)
    assert local[11] > 1e-3 and local[10] > 1e-3
    assert local[:10].max() < 1e-12 and local[12:].max() < 1e-12


def test_trace_memory_is_close_to_its_raw_arrays():
    model = cudnn_model(40, 64)
    x = features(2000, 40)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    trace = run_reference(model, x)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    raw = trace.nbytes
    assert raw == 2000 * 64 * 10 * 4
    assert held <= 1.25 * raw, (held, raw)


@pytest.mark.parametrize("bad,sentence", [
    (np.zeros((0, 3), np.float32), "no frames"),
    (np.zeros((5, 4), np.float32), "4 columns but the model's first layer expects 3"),
    (np.zeros((2, 5, 3), np.float32), "shape"),
])
def test_bad_inputs_get_one_sentence(bad, sentence):
    with pytest.raises(InspectorError, match=sentence):
        run_reference(cudnn_model(3, 2), bad)


def test_nan_is_reported_where_it_is():
    x = features(10, 3)
    x[4, 2] = np.nan
    x[7, 0] = np.inf
    with pytest.raises(InspectorError, match="2 NaN/Inf values, the first at frame 4, column 2"):
        run_reference(cudnn_model(3, 2), x)


def test_a_second_run_prepares_no_weights_again(monkeypatch):
    """A sweep runs the same layers on every utterance: the weights cast to the run's dtype and
    prepared for the loop (transposed, aligned) are made once, not per utterance."""
    from engine_models import cudnn_model, features
    from lstm_inspector.core import recurrence
    from lstm_inspector.core.reference import run_reference

    model = cudnn_model(5, 8, layers=2, bidirectional=True, seed=4)
    w = model.layers[0].weights()
    assert w.astype(np.float64) is w.astype(np.float64)
    assert w.astype(np.float64).weight_hh.dtype == np.float64
    run_reference(model, features(20, 5))
    made = []
    real = recurrence._Weights.__init__
    monkeypatch.setattr(recurrence._Weights, "__init__",
                        lambda self, *a: made.append(1) or real(self, *a))
    first = run_reference(model, features(30, 5, seed=2))
    assert made == []
    again = run_reference(model, features(30, 5, seed=2))
    assert all(np.array_equal(first.layers[k][d].h, again.layers[k][d].h)
               for k in range(2) for d in first.layers[k])
