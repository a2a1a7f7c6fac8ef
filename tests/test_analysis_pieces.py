"""Pieces of the long-input analysis made cheaper: the same values as their plain definitions."""
import numpy as np

from engine_models import cudnn_model, features
from lstm_inspector.core import activations
from lstm_inspector.core.analysis import ulp_distance
from lstm_inspector.core.reference import layer_weights
from lstm_inspector.core.teacher import teacher_step


def ulp_by_definition(a, b):
    """float32 bit patterns on a monotonic line: i for i >= 0, minus the magnitude below."""
    ia = np.asarray(a, np.float32).view(np.int32).astype(np.int64)
    ib = np.asarray(b, np.float32).view(np.int32).astype(np.int64)
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    return np.abs(ia - ib)


def test_ulp_distance_is_its_definition_on_every_kind_of_float():
    rng = np.random.default_rng(0)
    bits = rng.integers(-2 ** 31, 2 ** 31, size=200_000).astype(np.int32)
    near = (bits + rng.integers(-3, 4, size=bits.shape).astype(np.int32)).view(np.float32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3.4e38, -3.4e38, 1, -1],
                       np.float32)
    pairs = [(bits.view(np.float32), near), (bits.view(np.float32), near[::-1]),
             tuple(np.meshgrid(special, special))]
    for a, b in pairs:
        got = ulp_distance(a, b)
        assert got.dtype == np.int64 and np.array_equal(got, ulp_by_definition(a, b))
    assert ulp_distance(np.float32(0.0), np.float32(-0.0)) == 0
    assert ulp_distance(np.float32(-1e-45), np.float32(1e-45)) == 2


def textbook_teacher_step(w, x, h_prev, c_prev, dtype):
    """The teacher-forced step as the reference has always written it, weights converted in
    the call (transposed copies, F-ordered, as ``.T.astype`` makes them)."""
    z = x.astype(dtype) @ w.weight_ih.T.astype(dtype)
    z += h_prev @ w.weight_hh.T.astype(dtype)
    z += (w.bias_ih + w.bias_hh).astype(dtype)
    H, sigmoid, tanh = w.units, activations.get("sigmoid"), activations.get("tanh")
    with np.errstate(over="ignore"):
        a = sigmoid(z)
    a[:, 2 * H:3 * H] = tanh(z[:, 2 * H:3 * H])
    c = a[:, H:2 * H] * c_prev + a[:, :H] * a[:, 2 * H:3 * H]
    return z, a, c, a[:, 3 * H:] * tanh(c)


def test_teacher_forcing_with_prepared_weights_gives_the_textbook_bits():
    model = cudnn_model(40, 64, layers=2, bidirectional=True, seed=5)
    rng = np.random.default_rng(3)
    for dtype in ("float64", "float32"):
        for k in (0, 1):
            prepared = layer_weights(model, k, dtype)
            for d, tw in prepared.items():
                w = model.chain[k].weights(d).astype(dtype)
                x = rng.standard_normal((256, w.input_size)).astype(dtype)
                h, c = (rng.standard_normal((256, 64)).astype(dtype) for _ in range(2))
                got = teacher_step(tw, x, h, c, np.dtype(dtype))
                for name, want in zip("zach", textbook_teacher_step(w, x, h, c, dtype)):
                    assert getattr(got, name).tobytes() == want.tobytes(), (dtype, k, d, name)
