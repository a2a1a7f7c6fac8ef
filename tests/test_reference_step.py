"""The reference's step loop computes exactly the textbook step, bit for bit, however it is
arranged for speed (one closure, views made once, no per-step error-state switch)."""
import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core.recurrence import run_direction


def textbook(w, x, reverse, dtype):
    """The step as the reference has always written it, one NumPy call per operation."""
    # C-ordered (in, 4H) and (H, 4H), as the reference holds them: the memory order picks the
    # BLAS routine, and with it the last bits
    W_T = np.ascontiguousarray(w.weight_ih.T, dtype=dtype)
    R_T = np.ascontiguousarray(w.weight_hh.T, dtype=dtype)
    b = (w.bias_ih + w.bias_hh).astype(dtype)
    T, H = x.shape[0], w.units
    z_in = np.asarray(x, dtype) @ W_T          # one block: T <= recurrence.BLOCK here
    z_in += b
    h, c = np.zeros(H, dtype), np.zeros(H, dtype)
    out = {k: np.empty((T, n * H), dtype) for k, n in (("z", 4), ("a", 4), ("c", 1), ("h", 1))}
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        z = z_in[t] + np.dot(h, R_T)
        with np.errstate(over="ignore"):
            a = np.reciprocal(np.exp(-z) + 1)             # sigma(z) = 1 / (1 + exp(-z))
        a[2 * H:3 * H] = np.tanh(z[2 * H:3 * H])
        i, f, g, o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
        c = f * c + i * g
        h = o * np.tanh(c)
        for k, v in (("z", z), ("a", a), ("c", c), ("h", h)):
            out[k][t] = v
    return out


@pytest.mark.parametrize("units", [5, 64])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_loop_gives_the_textbook_steps_bits(units, dtype):
    model = cudnn_model(7, units, bidirectional=True, seed=units)
    x = features(300, 7, seed=2)
    for direction, reverse in (("forward", False), ("backward", True)):
        w = model.layers[0].weights(direction).astype(dtype)
        got = run_direction(w, x, reverse, np.dtype(dtype))
        want = textbook(w, x, reverse, np.dtype(dtype))
        for k in "zach":
            assert getattr(got, k).tobytes() == want[k].tobytes(), (direction, k)
