"""c of a long run kept at checkpoints only, any window recomputed bit for bit from the one before.

One direction of an hour of audio (360,000 steps, H = 128) is 184 MB of c in float32; the
traces of a comparison hold h and c of every layer direction of two paths. c is the one
recurrence left once h is known::

    c_t = f_t c_{t-1} + i_t c~_t        (gates i, f, c~ of x_t and h_{t-1}: no recurrence)

so a long trace keeps c only at the edges of fixed blocks and recomputes the c of a window from
the block edge before it, with *the same calls on the same values* as the run that made it:

* :class:`StepCells` (the NumPy reference): the loop's gates (``recurrence.StepGates``, exact)
  and the loop's own three calls per step, ``c = f * c_prev; tmp = i * c~; c += tmp`` (a
  masked step carries ``c_prev``). Blocks of ``EVERY`` steps in input time.
* :class:`DerivedCells` (a library path that gives h only): ``recurrence.cell_states_between``'s
  blocks (``BLOCK`` steps in processing order, the same products on the same rows), restarted
  at the c the library returned, as the derivation was.

Elementwise float32 arithmetic is the same on every call, so the values are those of the run.
Both recompute c from the gates through :func:`cell_loop`, compiled where numba runs
(``compiled_cells``: the same float32 operations, without Python's cost per step).
"""
from __future__ import annotations

import numpy as np

EVERY = 4096  # steps between kept c (the analysis reads chunks of this many: one block each)
#: rows of a derived block's gates added and activated at a time (256 x 4H floats at H = 128:
#: 512 KiB, in L2 across the six elementwise passes instead of 8 MiB blocks read from memory)
ROWS_IN_CACHE = 256
#: blocks of c kept after computing them: a window straddling two reads both, and a reversed
#: direction's teacher forcing reads the row past them (the block before, in processing order)
RECENT = 3


class Recent:
    """The last ``size`` blocks computed, by their first row: windows that overlap the
    previous read (teacher forcing reads ``lo + 1:hi + 1``) recompute nothing."""

    def __init__(self, size: int = RECENT):
        self.blocks, self.size = {}, size

    def get(self, key, compute):
        if key not in self.blocks:
            if len(self.blocks) >= self.size:
                self.blocks.pop(next(iter(self.blocks)))
            self.blocks[key] = compute()
        return self.blocks[key]


def aligned_blocks(lo: int, hi: int, steps: int, every: int):
    """The blocks ``[k every, (k + 1) every)`` (cut at ``steps``) that cover rows ``lo:hi``."""
    for start in range(lo - lo % every, hi, every):
        yield start, min(start + every, steps)


def checkpoint_steps(steps: int, reverse: bool, every: int | None = None) -> list:
    """The steps whose c a long run keeps, from which a window restarts: the step processed just
    before each block of ``every`` steps (``k every - 1`` forward, ``k every`` reversed)."""
    every = every or EVERY
    return [e if reverse else e - 1 for e in range(every, steps, every)]


class StepCells:
    """Rows ``lo:hi`` of the reference's c, recomputed from ``checkpoints`` (see the module).

    ``gates(lo, hi) -> (z, a)``: the direction's exact gates (the trace's ``gate_rows``);
    ``c0``: the state before the first processed step (zeros when None); ``mask`` (T,) bool or
    None (a masked step carries c)."""

    def __init__(self, gates, checkpoints: dict, steps: int, units: int, dtype, reverse: bool,
                 c0=None, mask=None, every: int | None = None):
        self.gates, self.checkpoints, self.steps, self.units = gates, checkpoints, steps, units
        self.dtype, self.reverse, self.every = np.dtype(dtype), reverse, every or EVERY
        self.c0 = np.zeros(units, self.dtype) if c0 is None else np.array(c0, self.dtype)
        self.mask = None if mask is None else np.asarray(mask, bool)
        self._recent = Recent()

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        out = np.empty((max(hi - lo, 0), self.units), self.dtype)
        for b_lo, b_hi in aligned_blocks(lo, hi, self.steps, self.every):
            c = self._recent.get(b_lo, lambda: self._block(b_lo, b_hi))
            s, e = max(lo, b_lo), min(hi, b_hi)
            out[s - lo:e - lo] = c[s - b_lo:e - b_lo]
        return out

    def _block(self, lo: int, hi: int) -> np.ndarray:
        """c of one aligned block, the loop's calls from the checkpoint before it."""
        H, n = self.units, hi - lo
        edge = hi if self.reverse else lo - 1
        c_prev = self.checkpoints[edge] if 0 <= edge < self.steps else self.c0
        c = np.empty((n, H), self.dtype)
        kept = None if self.mask is None else self.mask[lo:hi]
        cell_loop(self.gates(lo, hi)[1], c, c_prev, 0, n, self.reverse, kept)
        return c


def cell_loop(a: np.ndarray, c: np.ndarray, c_prev: np.ndarray, lo: int, hi: int,
              reverse: bool, kept=None) -> None:
    """Rows ``lo:hi`` of ``c`` (rows, H) from the gates ``a`` (rows, 4H: i, f, c~, o) and
    ``c_prev`` (H,), the state before the first processed row (``hi - 1`` first when
    ``reverse``)::

        c_t = f_t * c_prev;  tmp = i_t * c~_t;  c_t += tmp      (c_t = c_prev where masked)

    ``kept`` (rows,) bool, False = masked, or None. Compiled where numba runs
    (``compiled_cells``: the same float32 operations, checked against this loop on first use),
    else NumPy's calls, step by step."""
    kernel = _compiled()
    if kernel is not None and a.dtype == c.dtype == c_prev.dtype and a.dtype.kind == "f" \
            and a.dtype.itemsize >= 4:
        start, stop, step = (hi - 1, lo - 1, -1) if reverse else (lo, hi, 1)
        kernel(a, c, c_prev, start, stop, step, np.zeros(0, bool) if kept is None
               else np.ascontiguousarray(kept, bool))
        return
    _numpy_cell_loop(a, c, c_prev, lo, hi, reverse, kept)


def _numpy_cell_loop(a, c, c_prev, lo, hi, reverse, kept) -> None:
    """:func:`cell_loop` in NumPy: the reference loop's three calls per step."""
    H = c.shape[1]
    tmp = np.empty(H, c.dtype)
    kept = None if kept is None else np.asarray(kept, bool).tolist()
    mul, add = np.multiply, np.add
    for j in (range(hi - 1, lo - 1, -1) if reverse else range(lo, hi)):
        ct = c[j]
        mul(a[j, H:2 * H], c_prev, ct)                          # f * c_{t-1}
        mul(a[j, :H], a[j, 2 * H:3 * H], tmp)
        add(ct, tmp, ct)                                        # + i * c~
        if kept is not None and not kept[j]:                    # masked: state carried
            ct[:] = c_prev
        c_prev = ct


_kernel: list = []   # [compiled_cells.cell_rows or None], decided once (:func:`_compiled`)


def _compiled():
    """``compiled_cells.cell_rows``, or None: the NumPy engine asked for, numba missing, or the
    kernel differing from the NumPy loop on its first run (``compiled_loop.checked_kernel``)."""
    from . import compiled_loop

    return compiled_loop.checked_kernel(_kernel, _checked_cell_rows)


def _checked_cell_rows():
    """The compiled cell loop if it writes the NumPy loop's bits on random gates, masked steps,
    both orders, float32 and float64; else None."""
    from .compiled_cells import cell_rows

    rng = np.random.default_rng(0)
    for dtype, reverse in ((np.float32, False), (np.float32, True), (np.float64, False)):
        a = rng.uniform(-1, 1, (9, 12)).astype(dtype)
        kept = rng.random(9) > 0.3
        start = rng.normal(0, 3, 3).astype(dtype)
        want, got = np.empty((2, 9, 3), dtype)
        _numpy_cell_loop(a, want, start, 1, 8, reverse, kept)
        cell_rows(a, got, start, *((7, 0, -1) if reverse else (1, 8, 1)), kept)
        if want[1:8].tobytes() != got[1:8].tobytes():
            return None
    return cell_rows


def derive_block(ww, x, h, lo: int, hi: int, c_prev, checkpoints: dict, out, h0=None,
                 gates=None):
    """One block ``lo:hi`` (processing order) of ``recurrence.cell_states_between``: the gates of
    ``x_t W^T + h_{t-1} R^T + b`` in one product, then ``c_t = f_t c_{t-1} + (i_t c~_t)``,
    restarting at ``checkpoints``. ``out`` (hi - lo, H) gets c; returns ``(c_prev, gap)``, gap
    the largest |derived - measured| at a checkpoint in the block (0 when none). ``gates``:
    C-contiguous ``(z, a)`` (hi - lo, 4H) to keep the gates in (else they are dropped)."""
    H = ww.H   # h is P wide under nn.LSTM's proj_size; the gates and c are H wide
    dtype = out.dtype
    z = np.empty((hi - lo, 4 * H), dtype) if gates is None else gates[0]
    ww.input_part(np.asarray(x[lo:hi], dtype), z)
    h_prev = np.zeros((hi - lo, h.shape[1]), dtype)
    h_prev[1 if lo == 0 else 0:] = h[max(lo - 1, 0):hi - 1]
    if lo == 0 and h0 is not None:
        h_prev[0] = h0
    product = ww.rec_input(h_prev) @ ww.R_T    # one product of the block's shape
    a = np.empty_like(z) if gates is None else gates[1]
    for r in range(0, hi - lo, ROWS_IN_CACHE):   # elementwise: the same values, in cache
        s = slice(r, r + ROWS_IN_CACHE)
        z[s] += product[s]
        ww.activate(z[s], a[s])
    gap = 0.0
    c_prev = np.asarray(c_prev, dtype)
    done = 0
    for j in sorted(t - lo for t in checkpoints if lo <= t < hi):   # restarts, in order
        cell_loop(a, out, c_prev, done, j + 1, False)
        gap = max(gap, float(np.abs(out[j] - checkpoints[lo + j]).max()))
        out[j] = checkpoints[lo + j]
        c_prev, done = out[j], j + 1
    cell_loop(a, out, c_prev, done, hi - lo, False)
    return np.array(out[hi - lo - 1] if hi > lo else c_prev), gap


class DerivedCells:
    """Rows ``lo:hi`` (input time) of a library path's derived c, kept at block ends only, and
    the gates that derivation computes (:meth:`gates`: the trace's derived gates).

    ``ww``: the direction's ``recurrence._Weights`` (float32); ``x_proc(lo, hi)`` the layer's
    input rows in processing order, as the derivation read them; ``h_proc`` (T, H) the measured
    h in processing order; ``restarts`` the c the library returned (``{step: c}``, processing
    order); ``ends`` ``{block end: c}`` (processing order) from the derivation; ``block`` its
    block length. A block's c and gates are computed together and the last ``RECENT`` blocks
    kept, so a chunk reading both computes each block once."""

    def __init__(self, ww, x_proc, h_proc, restarts: dict, ends: dict, reverse: bool, block: int,
                 h0=None, c0=None):
        self.ww, self.x_proc, self.h_proc = ww, x_proc, h_proc
        self.restarts, self.ends, self.reverse, self.block = restarts, ends, reverse, block
        self.h0 = h0
        H = self.units = ww.H   # c's width (h is P wide under nn.LSTM's proj_size)
        self.c0 = np.zeros(H, np.float32) if c0 is None else np.array(c0, np.float32)
        self._recent = Recent()

    def _block(self, lo: int, hi: int) -> tuple:
        """``(c (n, H), (z, a) (n, 4H) each)`` of the processing-order block ``lo:hi``."""
        c = np.empty((hi - lo, self.units), np.float32)
        gates = tuple(np.empty((hi - lo, 4 * self.units), np.float32) for _ in 'za')
        start = self.ends[lo - 1] if lo else self.c0
        derive_block(self.ww, _Rows(self.x_proc), self.h_proc, lo, hi, start, self.restarts, c,
                     self.h0, gates)
        return c, gates

    def _rows(self, lo: int, hi: int, pick, width: int) -> np.ndarray:
        """Input-time rows ``lo:hi`` of ``pick(block)``, a (n, width) array per block; rows
        within one block are a read-only view of it (reversed for a reversed direction), not
        a copy: the analysis reads each block once, as one window."""
        T = self.h_proc.shape[0]
        p_lo, p_hi = (T - hi, T - lo) if self.reverse else (lo, hi)     # processing order
        start = p_lo - p_lo % self.block
        if p_lo < p_hi <= start + self.block:
            end = min(start + self.block, T)
            rows = pick(self._recent.get(start, lambda: self._block(start, end)))
            view = rows[p_lo - start:p_hi - start]
            view = view[::-1] if self.reverse else view[:]
            view.flags.writeable = False
            return view
        out = np.empty((max(p_hi - p_lo, 0), width), np.float32)        # input time
        proc = out[::-1] if self.reverse else out                      # the same, processing order
        for b_lo, b_hi in aligned_blocks(p_lo, p_hi, T, self.block):
            rows = pick(self._recent.get(b_lo, lambda: self._block(b_lo, b_hi)))
            s, e = max(p_lo, b_lo), min(p_hi, b_hi)
            proc[s - p_lo:e - p_lo] = rows[s - b_lo:e - b_lo]
        return out

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        return self._rows(lo, hi, lambda block: block[0], self.units)

    def gates(self, lo: int, hi: int) -> tuple:
        """``(z, a)`` rows ``lo:hi`` (input time) as the derivation computed them: the gates a
        short run's derivation holds (``HeldDerivation``), bit for bit (the same blocks)."""
        wide = 4 * self.units
        return (self._rows(lo, hi, lambda block: block[1][0], wide),
                self._rows(lo, hi, lambda block: block[1][1], wide))


class MaskedCells:
    """Rows ``lo:hi`` (input time) of a masked long run's c: at a masked step the state is
    carried, so each step holds the c of row ``index[t]`` of ``source``'s sequence (the kept
    steps' c, a :class:`DerivedCells`; ``masking.kept_rows``), ``c0`` where -1 (before any kept
    step). A window reads the rows its steps carry and nothing else."""

    def __init__(self, source, index: np.ndarray, c0):
        self.source, self.index, self.units = source, index, source.units
        self.c0 = np.asarray(c0, np.float32)

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        from .masking import gathered

        index = self.index[lo:hi]
        used = index[index >= 0]
        if not used.size:
            return np.tile(self.c0, (max(hi - lo, 0), 1))
        first = int(used.min())
        rows = self.source(first, int(used.max()) + 1)
        return gathered(rows, np.where(index < 0, -1, index - first), self.c0)


class KeptRows:
    """``rows[lo:hi]`` of a masked run's kept steps read from an input-time array:
    ``whole[steps[lo:hi]]`` (``steps`` the kept input steps, in the run's order); ``[::-1]``
    gives the rows reversed. What :func:`derive_block` and :class:`DerivedCells` slice."""

    def __init__(self, whole, steps: np.ndarray):
        self.whole, self.steps = whole, steps
        self.shape = (len(steps),) + tuple(whole.shape[1:])

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, rows: slice):
        if rows == slice(None, None, -1):
            return KeptRows(self.whole, self.steps[::-1])
        return self.whole[self.steps[rows]]

    @staticmethod
    def reading(rows_of, steps: np.ndarray):
        """``(lo, hi) -> rows`` of the kept steps from ``rows_of(lo, hi)``, a function of
        input-time rows (the span the kept rows cover is read, the kept rows picked)."""
        def kept(lo: int, hi: int) -> np.ndarray:
            picked = steps[lo:hi]
            if not picked.size:
                return rows_of(0, 0)
            first = int(picked[0])
            return rows_of(first, int(picked[-1]) + 1)[picked - first]
        return kept


class _Rows:
    """``rows[lo:hi]`` read through ``rows_of(lo, hi)`` (what :func:`derive_block` slices)."""

    def __init__(self, rows_of):
        self.rows_of = rows_of

    def __getitem__(self, rows: slice):
        return self.rows_of(rows.start, rows.stop)


class HeldDerivation:
    """A short run's derived c (T, H) with the gates its derivation computed, z and a (T, 4H),
    all in input time (``backends.common.one_call_direction``): the trace's gates are those,
    computed once (``derived_gates.derive_gates`` leaves them)."""

    def __init__(self, c: np.ndarray, z: np.ndarray, a: np.ndarray):
        self.c, self.z, self.a = c, z, a


class DerivedEnds:
    """What a long one-call run keeps of its derived c (``backends.common.one_call_direction``):
    the c the library returned (``restarts``) and the c at every block end (``ends``), both
    ``{step: c (H,)}`` in processing order, and the state it started from."""

    def __init__(self, restarts: dict, ends: dict, h0=None, c0=None):
        self.restarts, self.ends, self.h0, self.c0 = restarts, ends, h0, c0
