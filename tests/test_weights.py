"""Property tests of ``core/weights.py``: every conversion round-trips exactly, the CuDNNLSTM
reading agrees with tf-keras's own converter and with PyTorch, and wrong shapes are refused
with a sentence.

Shapes are drawn by Hypothesis over input width and units from 1 (the forum's case, where the
layout trap is invisible) up, ``in != H`` included, in float32 and float64.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lstm_inspector.core.weights import (
    CANONICAL_ORDER, READINGS, LSTMWeights, Reading, StoredLSTM, from_cudnn_keras,
    from_keras_lstm, from_onnx, from_torch, get_reading, read_stored,
)
from lstm_inspector.errors import InspectorError

DTYPES = (np.float32, np.float64)
sizes = st.integers(1, 6)
dtypes = st.sampled_from(DTYPES)
seeds = st.integers(0, 2**32 - 1)
PROPERTY = settings(max_examples=60, deadline=None)


def _cudnn_arrays(rng, n_in, units, dtype, bias_halves=2):
    """Random stored ``kernel (in,4H)``, ``recurrent_kernel (H,4H)``, ``bias (8H,)`` or (4H,)."""
    return (rng.normal(size=(n_in, 4 * units)).astype(dtype),
            rng.normal(size=(units, 4 * units)).astype(dtype),
            rng.normal(size=(4 * bias_halves * units,)).astype(dtype))


def _canonical(rng, n_in, units, dtype):
    return LSTMWeights(*(rng.normal(size=s).astype(dtype) for s in
                         ((4 * units, n_in), (4 * units, units), (4 * units,), (4 * units,))))


def _same(a, b):
    """Bit-for-bit equality (keeps -0.0 apart from 0.0) and the same dtype and shape."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ---- exact round trips -------------------------------------------------------------------
@PROPERTY
@given(sizes, sizes, dtypes, seeds)
def test_cudnn_stored_canonical_stored(n_in, units, dtype, seed):
    stored = _cudnn_arrays(np.random.default_rng(seed), n_in, units, dtype)
    weights = from_cudnn_keras(*stored)
    assert weights.dtype == dtype and (weights.input_size, weights.units) == (n_in, units)
    assert all(_same(a, b) for a, b in zip(weights.to_cudnn_keras(), stored))


@PROPERTY
@given(sizes, sizes, dtypes, seeds)
def test_canonical_cudnn_canonical(n_in, units, dtype, seed):
    weights = _canonical(np.random.default_rng(seed), n_in, units, dtype)
    assert from_cudnn_keras(*weights.to_cudnn_keras()).equals(weights)


@PROPERTY
@given(st.data(), sizes, sizes, st.sampled_from([32, 64]))
def test_cudnn_round_trip_keeps_every_bit(data, n_in, units, width):
    """Special values (-0.0, subnormals, inf) survive: conversions only move numbers."""
    floats = st.floats(allow_nan=False, width=width)
    dtype = np.float32 if width == 32 else np.float64
    stored = tuple(data.draw(hnp.arrays(dtype, shape, elements=floats))
                   for shape in ((n_in, 4 * units), (units, 4 * units), (8 * units,)))
    assert all(_same(a, b) for a, b in zip(from_cudnn_keras(*stored).to_cudnn_keras(), stored))


@PROPERTY
@given(sizes, sizes, dtypes, seeds)
def test_keras_lstm_round_trips(n_in, units, dtype, seed):
    rng = np.random.default_rng(seed)
    stored = _cudnn_arrays(rng, n_in, units, dtype, bias_halves=1)
    weights = from_keras_lstm(*stored)
    assert np.array_equal(weights.bias_hh, np.zeros(4 * units))
    assert all(_same(a, b) for a, b in zip(weights.to_keras_lstm(), stored))
    # canonical -> Keras -> canonical keeps the matrices and the bias sum (one bias in Keras)
    canonical = _canonical(rng, n_in, units, dtype)
    back = from_keras_lstm(*canonical.to_keras_lstm())
    assert _same(back.weight_ih, canonical.weight_ih) and _same(back.weight_hh, canonical.weight_hh)
    assert _same(back.bias_ih, canonical.bias_ih + canonical.bias_hh)


@PROPERTY
@given(sizes, sizes, dtypes, seeds)
def test_torch_and_onnx_round_trips(n_in, units, dtype, seed):
    weights = _canonical(np.random.default_rng(seed), n_in, units, dtype)
    torch_arrays = weights.to_torch()
    assert from_torch(*torch_arrays).equals(weights)
    torch_arrays[0][...] = 0  # copies, not views of the weights
    assert not np.array_equal(weights.weight_ih, torch_arrays[0])

    W, R, B = weights.to_onnx()
    assert from_onnx(W, R, B).equals(weights)
    assert from_onnx(W[None], R[None], B[None]).equals(weights)  # ONNX's (dirs, ...) arrays
    H = units  # ONNX gate order i, o, f, c
    assert np.array_equal(W[H:2 * H], weights.weight_ih[weights.gate_rows("o")])
    assert np.array_equal(B[4 * H + 3 * H:], weights.bias_hh[weights.gate_rows("c")])


def test_torch_without_bias_and_onnx_without_b():
    weights = _canonical(np.random.default_rng(0), 3, 2, np.float32)
    no_bias = from_torch(weights.weight_ih, weights.weight_hh)
    assert not no_bias.bias_ih.any() and not no_bias.bias_hh.any()
    W, R, _ = weights.to_onnx()
    assert np.array_equal(from_onnx(W, R).weight_hh, weights.weight_hh)


ALL_READINGS = [Reading("r", layout=layout, gate_order="".join(order), bias=bias)
                for layout in ("cudnn", "keras")
                for order in itertools.permutations(CANONICAL_ORDER)
                for bias in ("sum", "input", "recurrent")]


@PROPERTY
@given(sizes, sizes, dtypes, seeds, st.sampled_from(ALL_READINGS))
def test_every_reading_round_trips(n_in, units, dtype, seed, reading):
    """``read_stored`` inverts ``to_stored`` for any layout x gate order; a one-half bias
    reading keeps that half and zeroes the other."""
    rng = np.random.default_rng(seed)
    weights = _canonical(rng, n_in, units, dtype)
    back = read_stored(*weights.to_stored(reading), reading)
    assert _same(back.weight_ih, weights.weight_ih) and _same(back.weight_hh, weights.weight_hh)
    zeros = np.zeros(4 * units, dtype)
    want_ih = weights.bias_ih if reading.bias in ("sum", "input") else zeros
    want_hh = weights.bias_hh if reading.bias in ("sum", "recurrent") else zeros
    assert _same(back.bias_ih, want_ih) and _same(back.bias_hh, want_hh)
    if reading.bias == "sum":
        stored = _cudnn_arrays(rng, n_in, units, dtype)
        assert all(_same(a, b) for a, b in
                   zip(read_stored(*stored, reading).to_stored(reading), stored))


@pytest.mark.parametrize("name", sorted(READINGS))
def test_named_readings_resolve_and_keep_activations(name):
    rng = np.random.default_rng(1)
    stored = StoredLSTM(*_cudnn_arrays(rng, 3, 2, np.float32))
    weights = stored.read(name)
    reading = get_reading(name).resolve(READINGS["cudnn"])
    assert weights.equals(read_stored(stored.kernel, stored.recurrent_kernel, stored.bias, reading))
    assert weights.recurrent_activation == (reading.recurrent_activation or "sigmoid")
    assert weights.activation == "tanh"
    assert stored.read().equals(from_cudnn_keras(stored.kernel, stored.recurrent_kernel, stored.bias))


# ---- the facts file's claims (docs/cudnn-lstm-facts.md section 2) ------------------------
@PROPERTY
@given(sizes, dtypes, seeds)
def test_input_width_one_hides_the_kernel_reshape(units, dtype, seed):
    stored = _cudnn_arrays(np.random.default_rng(seed), 1, units, dtype)
    true, naive = StoredLSTM(*stored).read(), StoredLSTM(*stored).read("naive")
    assert np.array_equal(true.weight_ih, naive.weight_ih)


@PROPERTY
@given(sizes, dtypes, seeds)
def test_one_unit_hides_every_transpose(n_in, dtype, seed):
    stored = StoredLSTM(*_cudnn_arrays(np.random.default_rng(seed), n_in, 1, dtype))
    assert stored.read().equals(stored.read("naive"))


@PROPERTY
@given(dtypes, seeds)
def test_two_units_width_one_differ_in_weight_hh_only(dtype, seed):
    """The forum's 2-unit model: the naive port differs only in the recurrent matrices."""
    stored = StoredLSTM(*_cudnn_arrays(np.random.default_rng(seed), 1, 2, dtype))
    true, naive = stored.read(), stored.read("naive")
    assert np.array_equal(true.weight_ih, naive.weight_ih)
    assert np.array_equal(true.bias_ih, naive.bias_ih) and np.array_equal(true.bias_hh, naive.bias_hh)
    assert not np.array_equal(true.weight_hh, naive.weight_hh)
    for gate in CANONICAL_ORDER:  # each gate's R is the other's transpose
        rows = true.gate_rows(gate)
        assert np.array_equal(true.weight_hh[rows], naive.weight_hh[rows].T)


@PROPERTY
@given(st.integers(2, 6), st.integers(2, 6), dtypes, seeds)
def test_wider_layers_differ_in_weight_ih_too(n_in, units, dtype, seed):
    stored = StoredLSTM(*_cudnn_arrays(np.random.default_rng(seed), n_in, units, dtype))
    true, naive = stored.read(), stored.read("naive")
    assert not np.array_equal(true.weight_ih, naive.weight_ih)
    assert np.array_equal(np.sort(true.weight_ih, axis=None), np.sort(naive.weight_ih, axis=None))


# ---- tf-keras's own converter and PyTorch ------------------------------------------------
@pytest.fixture(scope="module")
def keras():
    tf = pytest.importorskip("tensorflow")
    tf_keras = pytest.importorskip("tf_keras")
    from tf_keras.src.saving.legacy.hdf5_format import _convert_rnn_weights

    return tf, tf_keras, _convert_rnn_weights


@PROPERTY
@given(sizes, sizes, dtypes, seeds)
def test_cudnn_reading_equals_keras_converter(keras, n_in, units, dtype, seed):
    """``_convert_rnn_weights`` (what ``load_weights`` does from a CuDNNLSTM file into an LSTM)
    gives exactly ``from_cudnn_keras(...).to_keras_lstm()``; and back."""
    tf, tf_keras, convert = keras
    stored = _cudnn_arrays(np.random.default_rng(seed), n_in, units, dtype)
    theirs = convert(tf_keras.layers.LSTM(units), list(stored))
    ours = from_cudnn_keras(*stored).to_keras_lstm()
    assert _same(ours[0], theirs[0]) and _same(ours[1], theirs[1])
    np.testing.assert_array_max_ulp(ours[2], theirs[2], maxulp=1)

    # Keras LSTM -> CuDNNLSTM: Keras splits the bias in halves, we keep it on the input side
    keras_stored = ours
    to_cudnn = convert(tf.compat.v1.keras.layers.CuDNNLSTM(units), list(keras_stored))
    mine = from_keras_lstm(*keras_stored).to_cudnn_keras()
    assert _same(mine[0], to_cudnn[0]) and _same(mine[1], to_cudnn[1])
    back = from_cudnn_keras(*to_cudnn)
    assert _same(back.weight_ih, from_cudnn_keras(*stored).weight_ih)
    np.testing.assert_allclose(back.bias_ih + back.bias_hh, keras_stored[2], rtol=0,
                               atol=4 * np.finfo(dtype).eps * np.abs(keras_stored[2]).max())


def _forward_numpy(weights: LSTMWeights, x):
    """The canonical equations, float64: z = W x + R h + b_W + b_R, gates i f c~ o."""
    H = weights.units
    h, c = np.zeros(H), np.zeros(H)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    out = []
    for x_t in x:
        z = weights.weight_ih @ x_t + weights.weight_hh @ h + weights.bias_ih + weights.bias_hh
        i, f, g, o = sig(z[:H]), sig(z[H:2 * H]), np.tanh(z[2 * H:3 * H]), sig(z[3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.array(out)


@pytest.mark.torch
@pytest.mark.parametrize("n_in, units", [(1, 1), (1, 2), (3, 4), (5, 2)])
def test_cudnn_arrays_run_the_same_in_keras_torch_and_numpy(keras, n_in, units):
    """CuDNNLSTM arrays: Keras LSTM (through Keras's converter) on CPU, PyTorch ``nn.LSTM`` fed
    ``to_torch()``, and the canonical equations all give the same outputs."""
    torch = pytest.importorskip("torch")
    tf, tf_keras, convert = keras
    rng = np.random.default_rng(n_in * 10 + units)
    stored = _cudnn_arrays(rng, n_in, units, np.float32)
    x = rng.normal(size=(7, n_in)).astype(np.float32)
    weights = from_cudnn_keras(*stored)

    layer = tf_keras.layers.LSTM(units, return_sequences=True, recurrent_activation="sigmoid")
    layer.build((None, None, n_in))
    layer.set_weights(convert(layer, list(stored)))
    keras_out = layer(x[None]).numpy()[0]

    lstm = torch.nn.LSTM(n_in, units).double()
    with torch.no_grad():
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                               weights.astype(np.float64).to_torch()):
            getattr(lstm, name).copy_(torch.from_numpy(value))
        torch_out = lstm(torch.from_numpy(x.astype(np.float64))[:, None])[0][:, 0].numpy()

    numpy_out = _forward_numpy(weights.astype(np.float64), x.astype(np.float64))
    np.testing.assert_allclose(torch_out, numpy_out, rtol=0, atol=1e-12)
    np.testing.assert_allclose(keras_out, numpy_out, rtol=0, atol=2e-6)


@pytest.mark.torch
@PROPERTY
@given(sizes, sizes, seeds)
def test_torch_state_dict_round_trip(n_in, units, seed):
    torch = pytest.importorskip("torch")
    weights = _canonical(np.random.default_rng(seed), n_in, units, np.float32)
    lstm = torch.nn.LSTM(n_in, units)
    with torch.no_grad():
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                               weights.to_torch()):
            getattr(lstm, name).copy_(torch.from_numpy(value))
    state = {k: v.numpy() for k, v in lstm.state_dict().items()}
    assert from_torch(state["weight_ih_l0"], state["weight_hh_l0"],
                      state["bias_ih_l0"], state["bias_hh_l0"]).equals(weights)


# ---- wrong shapes are refused with a sentence --------------------------------------------
def _z(*shape):
    return np.zeros(shape, np.float32)


BAD_SHAPES = {
    "recurrent not (H, 4H)": lambda: read_stored(_z(3, 8), _z(2, 6), _z(16), READINGS["cudnn"]),
    "recurrent 1-D": lambda: read_stored(_z(3, 8), _z(8), _z(16), READINGS["cudnn"]),
    "GRU-shaped": lambda: from_cudnn_keras(_z(3, 6), _z(2, 6), _z(12)),
    "kernel width": lambda: read_stored(_z(3, 12), _z(2, 8), _z(16), READINGS["cudnn"]),
    "kernel 3-D": lambda: from_cudnn_keras(_z(3, 8, 1), _z(2, 8), _z(16)),
    "bias 6H": lambda: from_cudnn_keras(_z(3, 8), _z(2, 8), _z(12)),
    "bias 2-D": lambda: from_keras_lstm(_z(3, 8), _z(2, 8), _z(2, 8)),
    "zero units": lambda: from_cudnn_keras(_z(3, 0), _z(0, 0), _z(0)),
    "canonical weight_hh": lambda: LSTMWeights(_z(8, 3), _z(8, 3), _z(8), _z(8)),
    "canonical rows not 4H": lambda: LSTMWeights(_z(6, 3), _z(6, 1), _z(6), _z(6)),
    "canonical bias": lambda: LSTMWeights(_z(8, 3), _z(8, 2), _z(8), _z(4)),
    "torch weight_hh": lambda: from_torch(_z(8, 3), _z(8, 3), _z(8), _z(8)),
    "torch 1-D": lambda: from_torch(_z(8), _z(8, 2)),
    "onnx two directions": lambda: from_onnx(_z(2, 8, 3), _z(2, 8, 2)),
    "onnx R rows": lambda: from_onnx(_z(8, 3), _z(12, 3)),
    "onnx B": lambda: from_onnx(_z(8, 3), _z(8, 2), _z(5)),
    "unknown activation": lambda: LSTMWeights(_z(8, 3), _z(8, 2), _z(8), _z(8), activation="gelu2"),
    "reading layout": lambda: Reading("x", layout="fortran"),
    "reading gate order": lambda: Reading("x", gate_order="iffo"),
    "reading bias": lambda: Reading("x", bias="both"),
    "unknown reading": lambda: get_reading("transposed"),
}


@pytest.mark.parametrize("case", sorted(BAD_SHAPES))
def test_wrong_shapes_raise_inspector_error(case):
    with pytest.raises(InspectorError) as error:
        BAD_SHAPES[case]()
    message = str(error.value)
    assert message and "\n" not in message and len(message) < 300


@PROPERTY
@given(st.lists(st.integers(0, 9), min_size=1, max_size=3),
       st.lists(st.integers(0, 9), min_size=1, max_size=3),
       st.lists(st.integers(0, 20), min_size=1, max_size=2))
def test_random_wrong_shapes_never_leak_other_errors(k_shape, r_shape, b_shape):
    """Any shapes: either a valid LSTM or an InspectorError, never ValueError/IndexError."""
    try:
        weights = from_cudnn_keras(_z(*k_shape), _z(*r_shape), _z(*b_shape))
    except InspectorError:
        return
    H = weights.units
    assert tuple(r_shape) == (H, 4 * H) and tuple(k_shape) == (weights.input_size, 4 * H)


@pytest.mark.parametrize("call", [lambda: from_torch(np.float32(1), _z(4, 1)),
                                  lambda: from_onnx(_z(8, 3), np.float32(0))])
def test_scalar_arrays_raise_inspector_error(call):
    with pytest.raises(InspectorError):
        call()


def test_non_numeric_arrays_are_refused():
    with pytest.raises(InspectorError):
        read_stored(np.zeros((3, 8), str), _z(2, 8), _z(16), READINGS["cudnn"])
