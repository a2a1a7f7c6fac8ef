"""The reference's step loop compiled (numba), calling the very machine code NumPy's loop calls.

The NumPy loop (:func:`recurrence.run_direction`) spends most of a small step in Python: a
dozen NumPy calls, each a few hundred nanoseconds of dispatch around a few nanoseconds of work.
This engine runs the same steps in one compiled loop, and keeps the reference's numbers bit for
bit *by construction*: it computes nothing itself. Each step makes the calls NumPy makes, in the
same order, on the same buffers, with the same arguments::

    rec  = 0;  cblas_sgemv(RowMajor, Trans, H, 4H, 1, R^T, 4H, h_{t-1}, 1, 0, rec, 1)
                                     # np.dot(h_prev, R_T, rec): numpy zeroes rec, then this call
    z   += rec                       # np.add's float32 inner loop (4H)
    a    = -z;  a = exp(a);  a += 1;  a = 1 / a      # sigma on all four blocks (4H each)
    a_c  = tanh(z_c)                 # c~ over its block (H)
    c_t  = f * c_{t-1};  tmp = i * c~;  c_t += tmp   # (H each)
    h_t  = tanh(c_t);  h_t *= o

* the product is OpenBLAS's ``cblas_sgemv`` (``cblas_dgemv`` in float64), the symbol NumPy's
  own ``np.dot`` calls for a vector times a C-contiguous matrix (``cblasfuncs.c``:
  ``gemv(..., CblasRowMajor, CblasTrans, ...)`` after zeroing the output), found in the
  OpenBLAS library NumPy loads;
* the elementwise calls are NumPy's strided inner loops of the dtype, obtained from NumPy itself
  (``ufunc._resolve_dtypes_and_context`` and ``ufunc._get_strided_loop`` with the contiguous
  strides a 1-d array call uses): the SIMD loop NumPy dispatches to on this CPU.

So every value is what the NumPy loop writes, on any CPU and BLAS kernel. Float32 and float64
(the oracle of ``compare``, the ``numpy64`` path) only, the fast activations only (tanh,
sigmoid), products without TF32 rounding, H >= 2 (a 1-unit h is a scalar to ``np.dot``):
anything else runs the NumPy loop. The engine is chosen by
:func:`engine`: ``LSTM_INSPECTOR_ENGINE`` = ``auto`` (default: compiled when numba imports and
the self-check passes), ``numpy`` or ``compiled``; :func:`use_engine` sets it from Python.
numba is an optional extra (``pip install lstm-inspector[fast]``).
"""
from __future__ import annotations

import ctypes
import itertools
import os

import numpy as np

from ..errors import InspectorError

ENV = "LSTM_INSPECTOR_ENGINE"
ENGINES = ("auto", "numpy", "compiled")
_chosen: str | None = None     # use_engine's setting (None: the environment's)
_loaded = None                 # _Compiled, or the reason it could not be loaded (str)

#: the elementwise calls of a step: name -> (ufunc, operands), in _Compiled.loops' order
UFUNCS = (("add", np.add, 3), ("multiply", np.multiply, 3), ("negative", np.negative, 2),
          ("exp", np.exp, 2), ("reciprocal", np.reciprocal, 2), ("tanh", np.tanh, 2))


def use_engine(name: str | None) -> None:
    """Run the step loop with ``name`` (one of ``ENGINES``) from now on; None: the environment's."""
    if name is not None and name not in ENGINES:
        raise InspectorError(f"engine {name!r} is not one of {', '.join(ENGINES)}")
    global _chosen
    _chosen = name


def requested() -> str:
    """The engine asked for: :func:`use_engine`'s, else ``$LSTM_INSPECTOR_ENGINE``, else auto."""
    name = _chosen or os.environ.get(ENV, "auto").strip().lower() or "auto"
    if name not in ENGINES:
        raise InspectorError(f"{ENV}={name!r} is not one of {', '.join(ENGINES)}")
    return name


def engine(name: str | None = None) -> str:
    """``"compiled"`` or ``"numpy"``: the engine ``name`` (None: :func:`requested`) runs with.
    ``compiled`` where it cannot run is an error; ``auto`` falls back to NumPy silently."""
    name = name or requested()
    if name not in ENGINES:
        raise InspectorError(f"engine {name!r} is not one of {', '.join(ENGINES)}")
    if name == "numpy":
        return "numpy"
    loaded = _load()
    if isinstance(loaded, str):
        if name == "compiled":
            raise InspectorError(f"the compiled engine cannot run: {loaded} "
                                 "(pip install lstm-inspector[fast] installs numba)")
        return "numpy"
    return "compiled"


def why_not() -> str | None:
    """Why the compiled engine cannot run here (None when it can)."""
    loaded = _load()
    return loaded if isinstance(loaded, str) else None


def checked_kernel(cache: list, load):
    """A compiled kernel decided once per process into ``cache`` (a module's empty list):
    ``load()`` imports it (numba) and checks it against its NumPy twin, returning the kernel or
    None; None too when the NumPy engine is asked for (:func:`requested`) or ``load`` raises
    (numba missing or broken). The NumPy path runs wherever this is None."""
    if requested() == "numpy":
        return None
    if not cache:
        try:
            kernel = load()
        except Exception:   # numba missing or broken: the NumPy path
            kernel = None
        cache.append(kernel)
    return cache[0]


#: the dtypes the compiled loop runs (float64: the oracle and ``numpy64``, with cblas_dgemv)
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def handles(units: int, dtype, fast: bool, round_h: bool) -> bool:
    """Whether the compiled loop covers a direction like this (else the NumPy loop runs it)."""
    return fast and not round_h and units >= 2 and np.dtype(dtype) in DTYPES


def run_steps(Z, A, z_off: int, C, Hs, start: int, stop: int, step: int, prev: int, kept,
              h0, c0, R_T, scratch, c_off: int = 0) -> None:
    """Steps ``t = start, start + step, ... (< stop or > stop)`` of a direction, compiled.

    ``Z, A`` (rows, 4H): z holds the input part ``x W^T + b`` of rows ``t - z_off``; the step
    adds the recurrent part and writes the gates into A. ``Hs`` (T, H): the whole direction's
    h; ``C`` c of rows ``t - c_off`` (the whole direction's, or a block's); ``prev`` the
    previous processed step (-1: ``h0, c0``). ``kept`` (T,) bool, False = masked (state
    carried), or an empty array. ``scratch`` from :func:`scratch`.
    """
    lib = _load()
    lib.loop(Z, A, z_off, C, c_off, Hs, start, stop, step, prev, kept, h0, c0, R_T, *scratch,
             *lib.calls[C.dtype])


def run_gates(Z, A, lo: int, hi: int, Hs, reverse: bool, h0, R_T) -> None:
    """The gates of steps ``lo:hi`` from a direction's stored h, compiled (``StepGates``).

    ``Z, A`` (hi - lo, 4H): z holds the input part of those steps; each step adds the product
    of the h before it (``Hs[t - 1]``, ``Hs[t + 1]`` when ``reverse``, ``h0`` past the ends)
    and writes its gates into A: the loop's own calls, as the loop made them."""
    lib = _load()
    rec, _, ones = scratch(Hs.shape[1], Hs.dtype)
    lib.gates(Z, A, lo, hi, Hs, reverse, h0, R_T, rec, ones, *lib.calls[Hs.dtype])


def scratch(units: int, dtype) -> tuple:
    """The step's buffers ``rec`` (4H), ``tmp`` (H), ``ones`` (4H), as the NumPy loop holds them."""
    return (np.empty(4 * units, dtype), np.empty(units, dtype), np.ones(4 * units, dtype))


def _load():
    global _loaded
    if _loaded is None:
        try:
            _loaded = _Compiled()
        except Exception as exc:  # numba missing or NumPy's internals not as expected
            _loaded = f"{type(exc).__name__}: {exc}".split("\n")[0]
        else:   # loaded first: the self-check runs it through run_steps
            _loaded = _self_check() or _loaded
    return _loaded


class _CallInfo(ctypes.Structure):
    """NumPy's ``ufunc_call_info`` capsule (``numpy_1.24_ufunc_call_info``, see
    ``ufunc._get_strided_loop``'s documentation)."""
    _fields_ = [("strided_loop", ctypes.c_void_p), ("context", ctypes.c_void_p),
                ("auxdata", ctypes.c_void_p), ("requires_pyapi", ctypes.c_ubyte),
                ("no_floatingpoint_errors", ctypes.c_ubyte)]


def _openblas_gemv(letter: str) -> int:
    """The address of the ``cblas_sgemv`` (``letter`` s) or ``cblas_dgemv`` (d) NumPy's own
    BLAS exports (the library NumPy loaded)."""
    from .blas_threads import bundled_libraries

    config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    if config.get("name") != "scipy-openblas":
        raise RuntimeError(f"NumPy's BLAS is {config.get('name')!r}, not its bundled OpenBLAS")
    for lib in bundled_libraries():
        for symbol in (f"scipy_cblas_{letter}gemv64_", f"scipy_cblas_{letter}gemv"):
            if hasattr(lib, symbol):
                return ctypes.cast(getattr(lib, symbol), ctypes.c_void_p).value
    raise RuntimeError(f"NumPy's bundled OpenBLAS (numpy.libs) has no cblas_{letter}gemv")


class _Compiled:
    """The loaded engine: the compiled loop and, per dtype, the addresses it calls (kept alive
    here): ``calls[dtype] = (gemv, loops, contexts, auxdata)``."""

    def __init__(self):
        from . import compiled_kernel   # imports numba

        self.capsules, self.calls = [], {}
        for dtype, letter in zip(DTYPES, "sd"):
            self.calls[dtype] = (_openblas_gemv(letter), *self._loops(dtype))
        self.loop, self.gates = compiled_kernel.step_loop, compiled_kernel.gates_loop

    def _loops(self, dt: np.dtype) -> tuple:
        """(loops, contexts, auxdata) int64 arrays: NumPy's strided inner loop of each of
        ``UFUNCS`` for contiguous ``dt`` operands, in that order."""
        getptr = ctypes.pythonapi.PyCapsule_GetPointer
        getptr.restype, getptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        loops, contexts, auxdata = [], [], []
        for _, ufunc, operands in UFUNCS:
            dtypes, capsule = ufunc._resolve_dtypes_and_context((dt,) * operands)
            if dtypes != (dt,) * operands:
                raise RuntimeError(f"np.{ufunc.__name__} resolves {dt} to {dtypes}")
            ufunc._get_strided_loop(capsule, fixed_strides=(dt.itemsize,) * operands)
            info = _CallInfo.from_address(getptr(capsule, b"numpy_1.24_ufunc_call_info"))
            if not info.strided_loop or info.requires_pyapi:
                raise RuntimeError(f"np.{ufunc.__name__} has no plain {dt} loop")
            self.capsules.append(capsule)   # owns the context and auxdata
            loops.append(info.strided_loop)
            contexts.append(info.context or 0)
            auxdata.append(info.auxdata or 0)
        return tuple(np.array(v, np.uint64).view(np.int64) for v in (loops, contexts, auxdata))


def _numpy_steps(z, a, c, h, R_T, kept):
    """The NumPy loop's calls (``recurrence.run_direction``'s fast step), forwards from zeros."""
    T, H = c.shape
    h_prev, c_prev = np.zeros(H, c.dtype), np.zeros(H, c.dtype)
    rec, tmp, ones = scratch(H, c.dtype)
    with np.errstate(over="ignore"):
        for t in range(T):
            np.dot(h_prev, R_T, rec)
            np.add(z[t], rec, z[t])
            np.negative(z[t], a[t])
            np.exp(a[t], a[t])
            np.add(a[t], ones, a[t])
            np.reciprocal(a[t], a[t])
            np.tanh(z[t, 2 * H:3 * H], a[t, 2 * H:3 * H])
            i, f, g, o = a[t].reshape(4, H)
            np.multiply(f, c_prev, c[t])
            np.multiply(i, g, tmp)
            np.add(c[t], tmp, c[t])
            np.tanh(c[t], h[t])
            np.multiply(h[t], o, h[t])
            if not kept[t]:
                c[t], h[t] = c_prev, h_prev
            h_prev, c_prev = h[t], c[t]


def _self_check() -> str | None:
    """A few steps both ways on small directions; a difference in any bit disables the engine."""
    rng = np.random.default_rng(0)
    try:
        for (units, steps), dtype in itertools.product(((3, 9), (40, 12)), DTYPES):
            R_T = rng.normal(0, 2, (units, 4 * units)).astype(dtype)
            z_in = rng.normal(0, 6, (steps, 4 * units)).astype(dtype)
            kept = rng.random(steps) > 0.3
            runs = []
            for compiled in (False, True):
                z, a = z_in.copy(), np.empty_like(z_in)
                c, h = np.empty((2, steps, units), dtype)
                if compiled:
                    zeros = np.zeros(units, dtype)
                    with np.errstate(over="ignore"):
                        run_steps(z, a, 0, c, h, 0, steps, 1, -1, kept, zeros, zeros, R_T,
                                  scratch(units, dtype))
                else:
                    _numpy_steps(z, a, c, h, R_T, kept)
                runs.append((z, a, c, h))
            for name, x, y in zip("zach", *runs):
                if x.tobytes() != y.tobytes():
                    return (f"its {name} differs from the NumPy loop's (self-check, H={units}, "
                            f"{dtype})")
    except Exception as exc:   # pragma: no cover - a broken build of numba or NumPy
        return f"its self-check failed: {type(exc).__name__}: {exc}".split("\n")[0]
    return None
