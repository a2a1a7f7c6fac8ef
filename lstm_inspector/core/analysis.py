"""The numbers behind a comparison, computed once, chunk by chunk, into frozen values.

Two traces ``a`` (the reference side) and ``b`` of one model on one input are read in chunks of
``CHUNK`` steps, so memory beyond the traces themselves stays O(T) (per-step summaries), never
O(T x H) per quantity. Per layer, direction and quantity q (``i f c~ o c h``), step t:

    step_error[t] = max_j |a[t, j] - b[t, j]|                     (float64)
    out[t]        = any_j not (|a - b| <= atol + rtol |a|)         (numpy.isclose's rule; NaN is out)
    local[t]      = max_j |F(b)[t, j] - b[t, j]|                   (F: b's step t recomputed in
                    float64 from b's own previous state and input: teacher forcing)

Each layer direction is read in one pass: per chunk the differences of every quantity
(compiled in one loop where numba runs: ``compiled_differences``, NumPy's values) and b's local
errors, so the windows a long trace recomputes (gates, derived c) are computed once.
``local`` is what step t alone got wrong; a structural bug shows a large local error at a definite
step, reduced precision a small one everywhere. :func:`measure` computes everything that does not
depend on the tolerance (a :class:`Measures`); :func:`threshold` applies a tolerance to it and the
traces (per-step ``out`` masks and the first divergence) without recomputing either trace. The
wrong readings' search (:func:`reading_worst`) and the float64 oracle (:func:`oracle_measures`)
run only where they are needed. Maxima do not depend on the chunking and the teacher-forced
products always run on the same fixed blocks of rows (``reference.teacher_forced_layer``), so
the values equal a whole-input pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InspectorError
from .local_error import (CHUNK, READING_WINDOW, Teacher, chunks,  # noqa: F401  (public here)
                          local_errors, reading_worst, reversed_direction)
from . import read_ahead
from .progress import sub_progress
from .trace import CELL_QUANTITIES, QUANTITIES, Trace

ORACLE_MAX_STEPS = 100_000  # beyond this the float64 oracle (a whole second run) is skipped
#: Causal rank within a step (a GRU's r, z, n, Rh, then h: h ranks last in both cells)
CAUSAL = {q: k for k, q in enumerate(CELL_QUANTITIES["gru"])}
CAUSAL.update({q: k for k, q in enumerate(QUANTITIES)})


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of float32 values between a and b (0 when equal, +0 and -0 alike), as int64.

    The float32 bit patterns, read as int32 i, are mapped onto one monotonic integer line:
    ``m = i`` for i >= 0, ``m = -(i & 0x7FFFFFFF)`` (minus the magnitude) for i < 0, computed
    without a branch as ``m = (i ^ (s & 0x7FFFFFFF)) - s`` with ``s = i >> 31`` (0 or -1);
    then ``|m_a - m_b|`` in int64 (it can reach 2^32)."""
    ma = _monotonic(np.asarray(a, np.float32))
    mb = _monotonic(np.asarray(b, np.float32))
    d = np.subtract(ma, mb, dtype=np.int64)
    return np.abs(d)


def _monotonic(x: np.ndarray) -> np.ndarray:
    """float32 -> int32 on a monotonic line (see :func:`ulp_distance`)."""
    i = x.view(np.int32)
    s = i >> 31
    m = s & 0x7FFFFFFF
    m ^= i
    m -= s
    return m


def earliest(rows: np.ndarray, steps: int, reverse: bool) -> tuple:
    """(position in processing order, input-time step) of the earliest of sorted ``rows``."""
    if reverse:
        return steps - 1 - int(rows[-1]), int(rows[-1])
    return int(rows[0]), int(rows[0])


@dataclass(frozen=True, eq=False)
class QuantityMeasure:
    """Tolerance-independent summary of one quantity of one layer direction.

    ``step_error`` (T,) max |a - b| per step; ``max_rel`` / ``max_ulp`` the largest relative and
    float32-ULP differences; ``local`` / ``local_scale`` (T,) b's local error and the scale it is
    read against (max |F(b)| + 1), None without a model or when b's value is derived.
    """

    step_error: np.ndarray
    max_rel: float
    max_ulp: int
    local: np.ndarray | None = None
    local_scale: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Measures:
    """Everything about two traces that no tolerance changes (see the module docstring)."""

    keys: tuple
    quantities: dict                      # (layer, direction, q) -> QuantityMeasure
    closer_to_exact: str | None = None    # "a", "b" or None (tie / not computed)
    reading_worst: dict = field(default_factory=dict)  # noqa: F811  {layer: {reading: worst}}
    notes: tuple = ()
    masks: tuple | None = None  # ((atol, rtol), {(k, d, q): (T,) bool}) made in the same pass
    exact_error: dict | None = None  # {"a": max |h - float64 h|, "b": ...} (the oracle's run)
    local_done: bool = True  # False: b's local errors were left for when they are needed
    oracle_left: bool = False  # True: the float64 oracle was left for when a verdict needs it

    def get(self, layer, direction, quantity) -> QuantityMeasure:
        return self.quantities[(layer, direction, quantity)]

    def local_errors(self) -> dict:
        """``{(k, d, q): (local (T,), scale (T,))}`` for every quantity that has one."""
        return {key: (m.local, m.local_scale) for key, m in self.quantities.items()
                if m.local is not None}

    def with_local(self, model, b: Trace, progress=None, streamed=None,
                   a: Trace | None = None) -> "Measures":
        """These measures with b's local errors (:func:`local_errors`, a pass of its own over
        b) where :func:`measure` left them out; the same values the one pass makes. With
        ``streamed`` (``core.streamed``) and the reference ``a`` it ran beside, the directions
        whose local errors it started computing are completed there instead."""
        if self.local_done or model is None:
            return self
        local, rest = {}, []
        for k, d in self.keys:
            part = None if streamed is None or a is None else streamed.local(k, d, a.layer(k, d))
            if part is None:
                rest.append((k, d))
            else:
                local.update(part)
        if rest:
            layers = sorted({k for k, _ in rest})
            local.update(local_errors(model, b, tuple(rest), layers, progress=progress))
        quantities = {key: replace(m, local=local[key][0], local_scale=local[key][1])
                      if key in local else m for key, m in self.quantities.items()}
        return replace(self, quantities=quantities, local_done=True)

    def with_oracle(self, model, a: Trace, b: Trace, progress=None) -> "Measures":
        """These measures with the float64 oracle (:func:`oracle_measures`) where
        :func:`measure` left it for later (``oracle="needed"``); the values it makes there."""
        if not self.oracle_left:
            return self
        closer, exact, notes = oracle_measures(model, a, b, self.keys, progress)
        return replace(self, closer_to_exact=closer, exact_error=exact,
                       notes=self.notes + notes, oracle_left=False)


def shared_keys(a: Trace, b: Trace) -> tuple:
    """(layer, direction) pairs both traces ran; an InspectorError when they cannot be compared."""
    if a.x.shape != b.x.shape or not np.array_equal(a.x, b.x):
        raise InspectorError("the two traces were not run on the same features")
    n = min(len(a.layers), len(b.layers))
    keys = tuple((k, d) for k in range(n) for d in a.layers[k] if d in b.layers[k])
    if not keys:
        raise InspectorError("the two traces share no layer to compare")
    return keys


def _differences(a: Trace, b: Trace, keys, chunk, progress, tolerance=None,
                 model=None, streamed=None) -> tuple:
    """``({(k, d, q): (step_error, max_rel, max_ulp)}, masks, local)``, read chunk by chunk
    (gates a trace does not hold are recomputed one chunk at a time). With
    ``tolerance=(atol, rtol)`` the same pass also makes the per-step out-of-tolerance masks (see
    :func:`threshold`), else masks is None. With ``model``, b's local errors too
    (:func:`local_errors`' values, ``{(k, d, q): (local, scale)}``), chunk by chunk in the same
    pass: the windows of b that a long trace recomputes (its derived c) are computed once.
    ``streamed`` (``core.streamed.StreamedDifferences``): the directions taken while the
    reference ran are not read again."""
    out, masks = {}, ({} if tolerance is not None else None)
    local = {}
    if streamed is not None:
        left = []
        for k, d in keys:
            taken = streamed.take(k, d, a.layer(k, d), tolerance, model is not None)
            if taken is None:
                left.append((k, d))
                continue
            out.update(taken[0])
            if masks is not None:
                masks.update(taken[1])
            local.update(taken[2] or {})
        keys = left
    # a's rows (recomputed where a long trace holds neither gates nor c) a chunk ahead, on the
    # other core, while this thread reads b's and takes the differences
    ahead = {(k, d): read_ahead.worth_a_thread(a.layer(k, d), b.layer(k, d)) for k, d in keys}
    with read_ahead.overlapping(any(ahead.values())) as executor:
        for n, (k, d) in enumerate(keys):
            la, lb = a.layer(k, d), b.layer(k, d)
            T, quantities = la.steps, la.quantities
            step = {q: np.empty(T) for q in quantities}
            rel, ulp = dict.fromkeys(quantities, 0.0), dict.fromkeys(quantities, 0)
            teacher = Teacher(model, b, k, (d,), (0, T)) if model is not None else None
            spans = list(chunks(T, chunk))
            rows_a = read_ahead.ChunkRows(la, quantities, spans,
                                          executor if ahead[(k, d)] else None)
            for i, (lo, hi) in enumerate(spans):
                chunk_a = rows_a.get(i)
                for q in quantities:
                    mask = None if masks is None else masks.setdefault((k, d, q),
                                                                       np.empty(T, bool))
                    r, u = rows_differences(chunk_a[q], lb.rows(q, lo, hi), step[q][lo:hi],
                                            None if mask is None else mask[lo:hi], tolerance)
                    rel[q], ulp[q] = max(rel[q], r), max(ulp[q], u)
                if teacher is not None:
                    teacher.chunk(lo, hi)
                if progress is not None:
                    progress((n + hi / T) / len(keys), "comparing: errors per step")
            out.update({(k, d, q): (step[q], rel[q], ulp[q]) for q in quantities})
            if teacher is not None:
                local.update(teacher.result())
    return out, masks, local


def rows_differences(ra: np.ndarray, rb: np.ndarray, step: np.ndarray, out,
                     tolerance) -> tuple:
    """Rows of one quantity: ``step`` (rows,) gets max |a - b| per row, ``out`` (rows,)
    (None: not wanted) whether any unit is out of ``tolerance``; returns ``(max_rel,
    max_ulp)``. Compiled in one pass (``compiled_differences``, the same values) where numba
    runs and both sides are float32, else NumPy."""
    kernel = compiled_kernel()
    if kernel is not None and ra.dtype == rb.dtype == np.float32:
        atol, rtol = tolerance if out is not None else (0.0, 0.0)
        # a gate's rows are a strided view of z or a: copied, the loop runs on vectors (3x)
        ra, rb = np.ascontiguousarray(ra), np.ascontiguousarray(rb)
        r, u = kernel(ra, rb, ra.view(np.int32), rb.view(np.int32), float(atol), float(rtol),
                      step, np.empty(0, bool) if out is None else out)
        return float(r), int(u)
    return _numpy_chunk(ra, rb, step, out, tolerance)


def _numpy_chunk(ra: np.ndarray, rb: np.ndarray, step: np.ndarray, out, tolerance) -> tuple:
    """:func:`rows_differences` in NumPy (the values the compiled pass must equal): ``|a - b|``
    and ``|a|`` in float64 (both sides widened exactly before subtracting), the relative error
    ``|a - b| / max(|a|, 1e-30)`` (NaN when a NaN is there)."""
    err = np.subtract(ra, rb, dtype=np.float64)
    np.abs(err, out=err)
    size = np.abs(ra, dtype=np.float64)
    step[:] = err.max(axis=1)
    if out is not None:
        out[:] = _out_rows(err, size, *tolerance)
    rel = np.maximum(size, 1e-30)
    np.divide(err, rel, out=rel)
    return float(rel.max()), int(ulp_distance(ra, rb).max())


_kernel: list = []   # [chunk_differences or None], decided once (:func:`compiled_kernel`)


def compiled_kernel():
    """``compiled_differences.chunk_differences``, or None: the NumPy engine asked for, numba
    missing, or the kernel failing its first run (``compiled_loop.checked_kernel``)."""
    from . import compiled_loop

    return compiled_loop.checked_kernel(_kernel, _checked_differences)


def _checked_differences():
    """The compiled differences if a few rows of every kind of float give NumPy's values."""
    from .compiled_differences import chunk_differences

    a = np.array([[0.0, -0.0, 1e-45, 3.0], [1.5, -2.0, 1e30, 7.0]], np.float32)
    b = np.array([[-0.0, 1e-45, 0.0, 3.0001], [1.5, -2.5, -1e30, 7.0]], np.float32)
    step, out = np.empty(2), np.empty(2, bool)
    got = chunk_differences(a, b, a.view(np.int32), b.view(np.int32), 1e-5, 1e-4, step, out)
    want_step, want_out = np.empty(2), np.empty(2, bool)
    want = _numpy_chunk(a, b, want_step, want_out, (1e-5, 1e-4))
    ok = (step.tobytes() == want_step.tobytes() and np.array_equal(out, want_out)
          and (float(got[0]), int(got[1])) == want)
    return chunk_differences if ok else None


def _out_rows(err: np.ndarray, size: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    """(rows,) bool: any unit with ``not |a - b| <= atol + rtol |a|`` (NaN counts as out)."""
    return (~(err <= atol + rtol * size)).any(axis=1)


def measure(a: Trace, b: Trace, model=None, oracle=True, chunk=CHUNK, progress=None,
            tolerance=None, local: bool = True, streamed=None) -> Measures:
    """The tolerance-independent analysis of ``b`` against ``a``; see the module docstring.

    ``oracle``: True or ``"always"`` runs the float64 oracle now (with a model), False or
    ``"never"`` never, ``"needed"`` leaves it for :meth:`Measures.with_oracle`
    (``Measures.oracle_left``): a second whole run of the model, read only by a verdict where
    the paths part.

    ``progress(fraction, text)`` is called between chunks (it may raise ``errors.Cancelled``);
    it is not kept. ``tolerance=(atol, rtol)``: also make that tolerance's per-step masks in
    the same pass (``Measures.masks``), which :func:`threshold` then reuses. ``local=False``
    leaves b's local errors out (``Measures.local_done`` False) for :meth:`Measures.with_local`
    to add when a verdict needs them: they are most of the analysis's arithmetic (float64
    products of every step), and paths that agree have nothing for them to explain.
    ``streamed``: a ``core.streamed.StreamedDifferences`` that took the differences of some
    directions while the reference ran (the same values); those are not read again.
    """
    keys = shared_keys(a, b)
    # the differences and b's teacher-forced local errors, one pass over each direction
    diffs, masks, local = _differences(a, b, keys, chunk, sub_progress(progress, 0.0, 0.8),
                                       tolerance, model if local else None, streamed)
    quantities = {key: QuantityMeasure(step, rel, ulp, *local.get(key, (None, None)))
                  for key, (step, rel, ulp) in diffs.items()}
    closer, notes, exact = None, (), None
    if oracle in (True, "always") and model is not None:
        closer, exact, notes = oracle_measures(model, a, b, keys, progress)
    if progress is not None:
        progress(1.0, "analysis done")
    return Measures(keys, quantities, closer, {}, notes,
                    None if masks is None else (tuple(map(float, tolerance)), masks), exact,
                    local_done=local or model is None,
                    oracle_left=oracle == "needed" and model is not None)


def oracle_measures(model, a: Trace, b: Trace, keys, progress=None) -> tuple:
    """``(closer, exact_error, notes)``: :func:`exact_distances` against a float64 run, or
    ``(None, None, ())`` where ``a`` is float64 itself, or a note past ``ORACLE_MAX_STEPS``."""
    if a.meta.get("dtype") == "float64":
        return None, None, ()
    if a.steps > ORACLE_MAX_STEPS:
        return None, None, (f"the float64 oracle (which side is closer to exact arithmetic) was "
                            f"skipped: {a.steps} steps is over {ORACLE_MAX_STEPS}",)
    if progress is not None:
        progress(0.8, "float64 oracle")
    return (*exact_distances(model, a, b, keys), ())


def closer_to_exact(model, a: Trace, b: Trace, keys) -> str | None:
    """'a', 'b' or None (a tie): whose h is closer (mean |h - exact|) to a float64 run."""
    return exact_distances(model, a, b, keys)[0]


def exact_distances(model, a: Trace, b: Trace, keys) -> tuple:
    """``(closer, {"a": max |h - exact|, "b": ...})`` against a float64 run of the same model:
    closer is 'a', 'b' or None (a tie in mean |h - exact|)."""
    from .reference import run_reference

    exact = run_reference(model, a.x, dtype="float64", gates=False,  # only h is read
                          initial_state=a.initial_state)
    err, worst = {"a": 0.0, "b": 0.0}, {"a": 0.0, "b": 0.0}
    for k, d in keys:
        ex = exact.layer(k, d).h
        for side, trace in (("a", a), ("b", b)):
            h, total = trace.layer(k, d).h, 0.0
            for lo, hi in chunks(len(ex), CHUNK):   # float64 temporaries of a chunk, not (T, H)
                gap = np.abs(h[lo:hi] - ex[lo:hi])
                total += float(gap.sum())
                worst[side] = max(worst[side], float(gap.max()))
            err[side] += total / ex.size            # the mean |h - exact| of the direction
    tie = abs(err["a"] - err["b"]) <= 1e-3 * max(err.values(), default=0.0)
    return (None if tie else min(err, key=err.get)), worst


@dataclass(frozen=True, eq=False)
class Threshold:
    """What one tolerance makes of the measures: per-step out-of-tolerance masks (T,) bool per
    (layer, direction, quantity), the earliest out-of-tolerance value of each layer direction
    (``first_by_key``) and of the whole comparison (``first``; None: agree). A divergence is
    ``(layer, direction, quantity, step, unit, a value, b value)``."""

    atol: float
    rtol: float
    out_steps: dict
    first_by_key: dict
    first: tuple | None


def _value_at(a: Trace, b: Trace, k, d, q, t, atol, rtol) -> tuple:
    """The divergence at step t: the unit with the largest out-of-tolerance difference."""
    va = a.layer(k, d).rows(q, t, t + 1)[0].astype(np.float64)
    vb = b.layer(k, d).rows(q, t, t + 1)[0].astype(np.float64)
    err = np.abs(va - vb)
    out = ~(err <= atol + rtol * np.abs(va))
    unit = int(np.argmax(np.where(out, err, 0.0)))
    return (k, d, q, int(t), unit, float(va[unit]), float(vb[unit]))


def masked_alike(a: Trace, b: Trace):
    """(T,) bool: steps both paths masked (the same mask), or None when either ran without one
    or their masks differ (then every step counts: a path ignoring the mask differs there)."""
    if a.mask is None or b.mask is None or not np.array_equal(a.mask, b.mask):
        return None
    return ~np.asarray(a.mask)


def threshold(a: Trace, b: Trace, keys, atol: float, rtol: float, model=None,
              chunk=CHUNK, masks: dict | None = None) -> Threshold:
    """Apply ``|a - b| <= atol + rtol |a|`` to the traces, chunk by chunk (nothing recomputed).

    The first divergence is the earliest out-of-tolerance value, lowest layer first (an error in a
    layer feeds every layer above it), then earliest step in the direction's processing order, then
    causal order within a step (gates, then c, then h). ``masks`` already made for this
    tolerance (``measure(tolerance=...)``) are used instead of reading the traces again.
    """
    out_steps, ranked = {}, {}
    discarded = masked_alike(a, b)
    for k, d in keys:
        la, lb = a.layer(k, d), b.layer(k, d)
        quantities = la.quantities
        if masks is None:
            mine = {q: np.empty(la.steps, bool) for q in quantities}
            for lo, hi in chunks(la.steps, chunk):
                for q in quantities:
                    ca = la.rows(q, lo, hi).astype(np.float64)
                    err = np.abs(ca - lb.rows(q, lo, hi).astype(np.float64))
                    mine[q][lo:hi] = _out_rows(err, np.abs(ca), atol, rtol)
        else:
            mine = {q: masks[(k, d, q)] for q in quantities}
        best = None  # (processing position, causal rank, quantity, step)
        for q in quantities:
            if discarded is not None and q in la.gates:
                mine[q] = mine[q] & ~discarded  # a masked step's gates are thrown away (masking.py)
            out_steps[(k, d, q)] = mine[q]
            rows = np.flatnonzero(mine[q])
            if rows.size:
                pos, t = earliest(rows, a.steps, reversed_direction(model, k, d))
                if best is None or (pos, CAUSAL[q]) < best[:2]:
                    best = (pos, CAUSAL[q], q, t)
        if best is not None:
            ranked[(k, d)] = best
    first_by_key = {(k, d): _value_at(a, b, k, d, q, t, atol, rtol)
                    for (k, d), (_, _, q, t) in ranked.items()}
    first = None
    if ranked:
        k, d = min(ranked, key=lambda key: (key[0],) + ranked[key][:2])
        first = first_by_key[(k, d)]
    return Threshold(float(atol), float(rtol), out_steps, first_by_key, first)


def first_local(local: dict, atol: float, model, steps: int):
    """(step, layer, direction, quantity) where local error first exceeds ``atol``, or None."""
    best = None
    for (k, d, q), (e, _) in local.items():
        rows = np.flatnonzero(e > atol)
        if rows.size:
            pos, t = earliest(rows, steps, reversed_direction(model, k, d))
            cand = (k, pos, CAUSAL[q], t, d, q)
            if best is None or cand[:3] < best[:3]:
                best = cand
    return None if best is None else (best[3], best[0], best[4], best[5])


def growth(step_error: np.ndarray, reverse: bool) -> float | None:
    """Steps over which a difference grows tenfold, or None when it does not grow.

    In processing order, with ``base`` the largest difference in the first tenth of steps and
    ``top`` the largest overall: the steps from first exceeding ``10 base`` to first exceeding
    ``top / 10``, divided by the decades between them. None when ``top < 100 base`` (no
    amplification) or the difference jumps there in one step (a change, not growth).
    """
    e = step_error[::-1] if reverse else step_error
    tenth = max(1, len(e) // 10)
    base = max(float(e[:tenth].max()), float(np.finfo(np.float32).tiny))
    top = float(e.max())
    if not np.isfinite(top) or top < 100 * base:
        return None
    lo = int(np.argmax(e >= 10 * base))
    hi = int(np.argmax(e >= top / 10))
    if hi <= lo:
        return None
    return (hi - lo) / float(np.log10(top / 100 / base))


