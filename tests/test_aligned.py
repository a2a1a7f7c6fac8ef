"""The step's operands start on a cache line (core/aligned.py), and that changes no number.

R^T is read whole at every step; OpenBLAS's AVX-512 kernel loads it 64 bytes at a time, and an
R^T 16 bytes off a line (where NumPy's allocator puts it) costs a third more per product at H 128.
"""
import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core import aligned
from lstm_inspector.core.recurrence import _Weights, run_direction


def _off_line(array, floats: int):
    """A copy of ``array`` whose data starts ``floats`` elements past a cache line."""
    raw = aligned.empty((array.size + floats,), array.dtype)
    out = raw[floats:].reshape(array.shape)
    out[...] = array
    return out


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (128, 512), (0, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_empty_starts_on_a_cache_line(shape, dtype):
    a = aligned.empty(shape, dtype)
    assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
    assert a.ctypes.data % aligned.LINE == 0 or a.size == 0


def test_columns_are_separate_aligned_arrays_of_their_widths():
    z, a, c, h = aligned.columns(7, (12, 12, 3, 3), np.float32)
    assert [x.shape for x in (z, a, c, h)] == [(7, 12), (7, 12), (7, 3), (7, 3)]
    for x in (z, a, c, h):
        assert x.ctypes.data % aligned.LINE == 0 and x.flags.c_contiguous and x.flags.writeable
    for i, x in enumerate((z, a, c, h)):
        x[...] = i
    assert [int(x.min()) for x in (z, a, c, h)] == [0, 1, 2, 3]
    assert [int(x.max()) for x in (z, a, c, h)] == [0, 1, 2, 3]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("units", [1, 3, 16, 37, 100, 128, 129, 256])
def test_the_product_with_r_is_the_same_bits_wherever_r_starts(units, dtype):
    rng = np.random.default_rng(units)
    R_T = rng.standard_normal((units, 4 * units)).astype(dtype)
    h = rng.standard_normal(units).astype(dtype)
    want = np.dot(h, aligned.copy(R_T))
    for floats in (1, 2, 3, 4, 8):
        assert np.dot(h, _off_line(R_T, floats)).tobytes() == want.tobytes(), floats


def test_the_loop_steps_with_r_and_writes_a_trace_on_cache_lines():
    model = cudnn_model(5, 24, seed=3)
    w = model.layers[0].weights()
    assert _Weights.of(w, np.float32).R_T.ctypes.data % aligned.LINE == 0
    lt = run_direction(w, features(50, 5, seed=1), False, np.float32, gates=True)
    for q in "zach":
        assert getattr(lt, q).ctypes.data % aligned.LINE == 0, q
