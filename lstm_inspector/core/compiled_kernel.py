"""The compiled step loop (numba): see ``compiled_loop.py`` for what it calls and why.

It only moves pointers and calls: ``cblas_sgemv`` (``cblas_dgemv`` in float64) and NumPy's
strided inner loops of that dtype, reached by address (arguments, not constants, so numba can
cache the compiled loop on disk). ``size`` is the element size in bytes: 4 (float32) or 8.
Imported only by ``compiled_loop`` (it imports numba).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# CBLAS enums (cblas.h) and the index of each elementwise loop in compiled_loop.UFUNCS
ROW_MAJOR, TRANS = 101, 112
ADD, MULTIPLY, NEGATIVE, EXP, RECIPROCAL, TANH = range(6)
F64 = 8  # bytes: the element size that calls dgemv (any other, 4, calls sgemv)


@intrinsic
def _strided_loop(typingctx, address, context, data, dimensions, strides, auxdata):
    """``int loop(context, char **data, npy_intp *dimensions, npy_intp *strides, auxdata)``
    at ``address``: a NumPy strided inner loop (PyArrayMethod_StridedLoop)."""
    sig = types.int32(types.int64, types.int64, types.int64, types.int64, types.int64,
                      types.int64)

    def codegen(context_, builder, signature, args):
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(ir.IntType(32), [i64] * 5)
        return builder.call(builder.inttoptr(args[0], fnty.as_pointer()), args[1:])
    return sig, codegen


def _gemv_codegen(real):
    """``cblas_?gemv(RowMajor, Trans, m, n, 1, a, lda, x, 1, 0, y, 1)``'s call, alpha and beta
    of type ``real`` (64-bit integers: NumPy's OpenBLAS is built with them)."""
    def codegen(context_, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i64, i64, real, i64, i64, i64, i64,
                                               real, i64, i64])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        _, m_, n_, a_, lda_, x_, y_ = args
        one, zero = ir.Constant(i64, 1), ir.Constant(real, 0.0)
        builder.call(fn, [ir.Constant(i32, ROW_MAJOR), ir.Constant(i32, TRANS), m_, n_,
                          ir.Constant(real, 1.0), a_, lda_, x_, one, zero, y_, one])
        return context_.get_dummy_value()
    return codegen


_GEMV_SIG = types.void(types.int64, types.int64, types.int64, types.int64, types.int64,
                       types.int64, types.int64)


@intrinsic
def _sgemv(typingctx, address, m, n, a, lda, x, y):
    """``cblas_sgemv(RowMajor, Trans, m, n, 1.0f, a, lda, x, 1, 0.0f, y, 1)`` at ``address``,
    as ``np.dot(x, a, y)`` calls it for float32."""
    return _GEMV_SIG, _gemv_codegen(ir.FloatType())


@intrinsic
def _dgemv(typingctx, address, m, n, a, lda, x, y):
    """``cblas_dgemv(...)``: the same call in float64."""
    return _GEMV_SIG, _gemv_codegen(ir.DoubleType())


@njit(cache=True, nogil=True)
def _gates(z, a, hp, H, pR, rec, pones, gemv, loops, contexts, auxdata, data, dims, pd, pn, ps,
           size):
    """z += h_{t-1} R^T; a = the gates of z (``recurrence._Weights.step_gates``'s calls)."""
    G = 4 * H
    rec[:] = 0                                          # np.dot zeroes its output,
    if size == F64:                                     # rec = h_{t-1} R^T
        _dgemv(gemv, H, G, pR, G, hp, rec.ctypes.data)
    else:
        _sgemv(gemv, H, G, pR, G, hp, rec.ctypes.data)
    dims[0] = G
    data[0], data[1], data[2] = z, rec.ctypes.data, z   # z += rec
    _strided_loop(loops[ADD], contexts[ADD], pd, pn, ps, auxdata[ADD])
    data[0], data[1] = z, a                             # a = -z
    _strided_loop(loops[NEGATIVE], contexts[NEGATIVE], pd, pn, ps, auxdata[NEGATIVE])
    data[0], data[1] = a, a                             # a = exp(a)
    _strided_loop(loops[EXP], contexts[EXP], pd, pn, ps, auxdata[EXP])
    data[0], data[1], data[2] = a, pones, a             # a += 1
    _strided_loop(loops[ADD], contexts[ADD], pd, pn, ps, auxdata[ADD])
    data[0], data[1] = a, a                             # a = 1 / a
    _strided_loop(loops[RECIPROCAL], contexts[RECIPROCAL], pd, pn, ps, auxdata[RECIPROCAL])
    dims[0] = H
    data[0], data[1] = z + 2 * H * size, a + 2 * H * size  # c~ = tanh(z_c)
    _strided_loop(loops[TANH], contexts[TANH], pd, pn, ps, auxdata[TANH])


@njit(cache=True, nogil=True)
def step_loop(Z, A, z_off, C, c_off, Hs, start, stop, step, prev, kept, h0, c0, R_T, rec, tmp,
              ones, gemv, loops, contexts, auxdata):
    """The steps ``range(start, stop, step)`` of one direction (``compiled_loop.run_steps``)."""
    H = C.shape[1]
    G = 4 * H
    size = C.itemsize
    data = np.empty(3, np.int64)          # char *data[3]: the operands of one call
    dims = np.empty(1, np.int64)          # npy_intp dimensions[1]
    strides = np.full(3, size, np.int64)  # contiguous
    pd, pn, ps = data.ctypes.data, dims.ctypes.data, strides.ctypes.data
    z0, a0, cb, hb = Z.ctypes.data, A.ctypes.data, C.ctypes.data, Hs.ctypes.data
    ptmp, pones, pR = tmp.ctypes.data, ones.ctypes.data, R_T.ctypes.data
    masked = kept.shape[0] > 0

    for t in range(start, stop, step):
        hp = h0.ctypes.data if prev < 0 else hb + prev * H * size
        cp = c0.ctypes.data if prev < 0 else cb + (prev - c_off) * H * size
        z = z0 + (t - z_off) * G * size
        a = a0 + (t - z_off) * G * size
        i, f, g, o = a, a + H * size, a + 2 * H * size, a + 3 * H * size
        ct, ht = cb + (t - c_off) * H * size, hb + t * H * size

        _gates(z, a, hp, H, pR, rec, pones, gemv, loops, contexts, auxdata, data, dims, pd, pn,
               ps, size)
        data[0], data[1], data[2] = f, cp, ct               # c_t = f * c_{t-1}
        _strided_loop(loops[MULTIPLY], contexts[MULTIPLY], pd, pn, ps, auxdata[MULTIPLY])
        data[0], data[1], data[2] = i, g, ptmp              # tmp = i * c~
        _strided_loop(loops[MULTIPLY], contexts[MULTIPLY], pd, pn, ps, auxdata[MULTIPLY])
        data[0], data[1], data[2] = ct, ptmp, ct            # c_t += tmp
        _strided_loop(loops[ADD], contexts[ADD], pd, pn, ps, auxdata[ADD])
        data[0], data[1] = ct, ht                           # h_t = tanh(c_t)
        _strided_loop(loops[TANH], contexts[TANH], pd, pn, ps, auxdata[TANH])
        data[0], data[1], data[2] = ht, o, ht               # h_t *= o
        _strided_loop(loops[MULTIPLY], contexts[MULTIPLY], pd, pn, ps, auxdata[MULTIPLY])

        if masked and not kept[t]:                          # masked: state carried
            if prev < 0:
                C[t - c_off, :] = c0
                Hs[t, :] = h0
            else:
                C[t - c_off, :] = C[prev - c_off, :]
                Hs[t, :] = Hs[prev, :]
        prev = t


@njit(cache=True, nogil=True)
def gates_loop(Z, A, lo, hi, Hs, back, h0, R_T, rec, ones, gemv, loops, contexts, auxdata):
    """The gates of steps ``lo:hi`` (rows of Z, A; Z holds their input part) from the stored
    h: step t reads h[t - 1] (h[t + 1] when ``back``), or ``h0`` past the ends."""
    T, H = Hs.shape
    size = Hs.itemsize
    data = np.empty(3, np.int64)
    dims = np.empty(1, np.int64)
    strides = np.full(3, size, np.int64)
    pd, pn, ps = data.ctypes.data, dims.ctypes.data, strides.ctypes.data
    z0, a0, hb = Z.ctypes.data, A.ctypes.data, Hs.ctypes.data
    pones, pR = ones.ctypes.data, R_T.ctypes.data
    for t in range(lo, hi):
        prev = t + 1 if back else t - 1
        hp = hb + prev * H * size if 0 <= prev < T else h0.ctypes.data
        z = z0 + (t - lo) * 4 * H * size
        a = a0 + (t - lo) * 4 * H * size
        _gates(z, a, hp, H, pR, rec, pones, gemv, loops, contexts, auxdata, data, dims, pd, pn,
               ps, size)
