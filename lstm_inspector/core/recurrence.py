"""The reference's step loop, and the exact recomputation of any window of its gates.

One direction, canonical weights (see ``reference.py`` for the equations)::

    z_t = (x_t W^T + b_W + b_R) + h_{t-1} R^T      (4H,)
    a_t = sigma(z_t) on i, f, o;  act(z_t) on c~
    c_t = f_t c_{t-1} + i_t c~_t;  h_t = o_t act(c_t)

The input part ``x W^T + b`` is computed for ``BLOCK`` steps at once, the recurrent part one step
at a time (``np.dot(h_{t-1}, R^T)``). Because h and c are stored, the gates of any window
``lo:hi`` can be recomputed afterwards by *the same calls on the same values* (:class:`StepGates`):
the input part of the very block the loop computed (same rows, same shape), then the loop's own
step (:meth:`_Weights.step_gates`). That is bit for bit what the loop computed, on every CPU. No
product here is assumed row-invariant: a BLAS product's value for one row can depend on the
product's shape and on the row's place in it (OpenBLAS picks kernels and blocking by CPU and
size; its Haswell and Zen sgemm kernels give a row other last bits in a 64-row product than in a
3000-row one). A long trace therefore keeps only c and h (H values per step instead of 10 H) and
recomputes the gates of the window a view or the analysis reads.
"""
from __future__ import annotations

import itertools

import numpy as np

from . import activations, aligned, cells, compiled_loop
from .cells import StepCells, checkpoint_steps, derive_block
from .memo import PerObject
from .tf32 import round_tf32, rounded_operands
from .trace import LayerTrace
from .weights import LSTMWeights

FAST = ("tanh", "sigmoid")  # (activation, recurrent_activation) of the unrolled fast loop
BLOCK = 4096                # steps whose input part is computed at once
PROGRESS_EVERY = 256        # steps between progress callbacks (a Cancel is honoured within them)
#: A direction keeps its gates (z and a, 8H values per step) when they take at most this many
#: bytes (float32: 32,768 steps at H = 128, 8,192 at H = 512); longer runs keep c and h and
#: recompute the gates of the window asked for (a cursor move then recomputes its step). A
#: comparison holds two traces of every direction: at 512 MiB a direction (the budget before),
#: 130,000 steps of 2 x Bi(128) held 5.4 GB of gates and peaked at 6.2 GB, more than an hour;
#: at 128 MiB two traces of 2 x Bi hold at most 1 GiB of gates.
KEEP_GATES_BYTES = 128 * 2 ** 20
#: A long run's sets of block buffers (z, a, c) when a callback reads its blocks: the rows
#: handed to ``on_block`` stay untouched while the loop computes the next two blocks
RING = 3



def loop_blocks(steps: int, reverse: bool):
    """The input-time ``(lo, hi)`` blocks whose input part :func:`run_direction` computes at once,
    in processing order: ``BLOCK`` steps each, the last processed one shorter."""
    for start in range(0, steps, BLOCK):
        end = min(start + BLOCK, steps)
        yield (steps - end, steps - start) if reverse else (start, end)


def fixed_blocks(lo: int, hi: int, steps: int, size: int):
    """The aligned blocks ``[k size, (k + 1) size)`` (cut at ``steps``) that cover rows ``lo:hi``.

    Products computed on these blocks only, never on ``lo:hi`` itself, run with the same shapes
    on the same rows whatever window is asked for: every window gets the values of the whole."""
    for start in range(lo - lo % size, hi, size):
        yield start, min(start + size, steps)


def rows_of(x, lo: int, hi: int):
    """Rows ``lo:hi`` of ``x``: an array, a ``LayerInput`` or a callable ``(lo, hi) -> rows``."""
    return x(lo, hi) if callable(x) else x[lo:hi]


def keep_gates(steps: int, units: int, dtype) -> bool:
    """Whether a direction of ``steps`` x ``units`` holds its gates (see ``KEEP_GATES_BYTES``)."""
    return steps * 8 * units * np.dtype(dtype).itemsize <= KEEP_GATES_BYTES


class _Weights:
    """What the loop and the recomputation share: transposed matrices, summed bias, activations.
    :meth:`of` prepares them once per weights and dtype and shares them (nothing writes into them)."""

    @classmethod
    def of(cls, w: LSTMWeights, dtype) -> "_Weights":
        """``_Weights(w, dtype)``, made once and kept while ``w`` lives (a sweep runs the same
        layers on every utterance)."""
        return _PREPARED.get(w, np.dtype(dtype).str, lambda: cls(w, dtype))

    def __init__(self, w: LSTMWeights, dtype):
        self.H = w.units
        self.W_T = np.ascontiguousarray(w.weight_ih.T, dtype=dtype)   # (in, 4H)
        self.R_T = aligned.copy(w.weight_hh.T, dtype)                  # (H, 4H): h @ R_T == R h
        # TF32 products (core.tf32): the weights rounded once, x (and h) rounded as they come
        self.round_x, self.round_h = rounded_operands(w.matmul)
        if self.round_x:
            self.W_T = round_tf32(self.W_T).astype(dtype)
        if self.round_h:
            self.R_T = aligned.copy(round_tf32(self.R_T), dtype)
        self.bias = (w.bias_ih + w.bias_hh).astype(dtype)
        self.fast = (w.activation, w.recurrent_activation) == FAST
        self.act = activations.get(w.activation)
        self.rec_act = activations.get(w.recurrent_activation)
        self.step_gates = self._make_step()

    def input_part(self, x_rows: np.ndarray, out: np.ndarray) -> None:
        """``out = x_rows W^T + b`` (rows, 4H): one product, the shape of ``x_rows``."""
        if self.round_x:
            x_rows = round_tf32(x_rows).astype(self.W_T.dtype)
        np.matmul(x_rows, self.W_T, out=out)
        out += self.bias

    def rec_input(self, h: np.ndarray) -> np.ndarray:
        """``h`` as the recurrent product reads it (rounded to TF32 under ``tf32-xh``)."""
        return round_tf32(h).astype(self.R_T.dtype) if self.round_h else h

    def _make_step(self):
        """The one step both the loop and :class:`StepGates` call, as a closure over the weights
        (a plain function: no attribute look-ups among its few microseconds)::

            step_gates(z, a, z_c, a_c, h_prev, rec)
                rec  = h_prev R^T            (one matrix-vector product into the (4H,) buffer)
                z   += rec                   (z held the input part x W^T + b)
                a    = 1 / (1 + exp(-z))     (sigma on all four blocks, four calls in place)
                a_c  = tanh(z_c)             (c~ over its block: z_c, a_c views of z, a)

        ``1`` is added as a held array of ones (the same sum as the scalar, without converting
        a Python number every step). Other activations, and h rounded to TF32, go through
        :meth:`rec_input` and :meth:`activate`. The caller ignores overflow (exp of a large -z
        is inf, and 1 / inf the exact 0)."""
        R_T, dot, add = self.R_T, np.dot, np.add
        if self.fast and not self.round_h:
            ones = np.ones(R_T.shape[1], R_T.dtype)
            negative, exp, reciprocal, tanh = np.negative, np.exp, np.reciprocal, np.tanh

            def step_gates(z, a, z_c, a_c, h_prev, rec):
                dot(h_prev, R_T, rec)
                add(z, rec, z)
                negative(z, a)
                exp(a, a)
                add(a, ones, a)
                reciprocal(a, a)
                tanh(z_c, a_c)
            return step_gates
        rec_input, activate = self.rec_input, self.activate

        def step_gates(z, a, z_c, a_c, h_prev, rec):
            dot(rec_input(h_prev), R_T, rec)
            add(z, rec, z)
            activate(z, a)
        return step_gates

    def step_views(self, z: np.ndarray, a: np.ndarray):
        """Per-step ``(z_t, a_t, z_c, a_c)`` views of (rows, 4H) arrays, made by C-level
        iteration: what :attr:`step_gates` takes."""
        c = slice(2 * self.H, 3 * self.H)
        return zip(z, a, z[:, c], a[:, c])

    def activate(self, z: np.ndarray, a: np.ndarray) -> None:
        """``a`` = the gates of ``z`` (any leading shape, last axis 4H), elementwise."""
        H = self.H
        with np.errstate(over="ignore"):
            if self.fast:
                # sigma(z) = 1 / (1 + exp(-z)) on all four blocks, then c~ = tanh(z_c) over it
                np.negative(z, a)
                np.exp(a, a)
                np.add(a, 1, a)
                np.reciprocal(a, a)
                np.tanh(z[..., 2 * H:3 * H], a[..., 2 * H:3 * H])
            else:
                a[...] = self.rec_act(z)
                a[..., 2 * H:3 * H] = self.act(z[..., 2 * H:3 * H])


#: LSTMWeights -> {dtype: _Weights} (:meth:`_Weights.of`)
_PREPARED = PerObject()


def steps_compiled(ww: "_Weights", dtype, engine: str | None = None) -> bool:
    """Whether the compiled loop steps a direction of these prepared weights in ``dtype``
    under ``engine`` (None: ``compiled_loop.requested()``): the same calls, the same bits."""
    return (compiled_loop.handles(ww.H, dtype, ww.fast, ww.round_h)
            and compiled_loop.engine(engine) == "compiled")


def run_direction(w: LSTMWeights, x: np.ndarray, reverse: bool, dtype, tick=None,
                  gates: bool | None = None, h0=None, c0=None, mask=None,
                  engine: str | None = None, on_block=None) -> LayerTrace:
    """Step one direction through time, recording c, h (and z, a) into a new LayerTrace.

    ``x`` (T, in) in input time; ``reverse``: run t = T-1 ... 0. ``gates``: keep z and a
    (None: :func:`keep_gates` decides); when not kept the trace recomputes any window of them
    exactly (:class:`StepGates`). ``tick(steps_done)`` is called every ``PROGRESS_EVERY`` steps
    (it may raise Cancelled). ``h0, c0`` (H,): the state before the first processed step
    (default zeros; a stream's carried state). ``mask`` (T,) bool, True = the step runs: a
    masked step still computes its gates (as Keras does) but carries c and h (``masking.py``).
    ``engine``: ``"numpy"``, ``"compiled"`` or ``"auto"`` (None: ``compiled_loop.requested()``);
    both engines write the same bits (``compiled_loop.py`` makes the very calls this loop makes).
    ``on_block(lo, hi, z, a, c, h)``: called by a long run (gates not kept) after each loop
    block with the block's rows (input time ``lo:hi``), so an analysis can read the gates as
    they are computed instead of recomputing them (``core.streamed``). z, a and c are views of
    one of ``RING`` sets of buffers, untouched until the loop computes the block after next:
    a callback may go on reading them in another thread until then.
    """
    T, H = x.shape[0], w.units
    ww = _Weights.of(w, dtype)
    keep = keep_gates(T, H, dtype) if gates is None else bool(gates)
    if keep:   # one block, on a cache line (aligned.py), in huge pages (NumPy advises them)
        Z, A, C, Hs = aligned.columns(T, (4 * H, 4 * H, H, H), dtype)
    else:   # a long run: one block's z, a and c, reused; c kept at the checkpoints only
        Hs = aligned.empty((T, H), dtype)
        ring = [tuple(np.empty((min(BLOCK, T), width), dtype) for width in (4 * H, 4 * H, H))
                for _ in range(1 if on_block is None else RING)]
        checkpoints, edges = {}, set(checkpoint_steps(T, reverse, cells.EVERY))
    h_prev = np.zeros(H, dtype) if h0 is None else np.array(h0, dtype)
    c_prev = np.zeros(H, dtype) if c0 is None else np.array(c0, dtype)
    rec, tmp = np.empty(4 * H, dtype), np.empty(H, dtype)
    if ww.fast:
        act_h = np.tanh
    else:
        def act_h(c, out):
            out[:] = ww.act(c)
    done = 0
    compiled = steps_compiled(ww, dtype, engine)
    if compiled:
        kept_all = np.zeros(0, bool) if mask is None else np.ascontiguousarray(mask, bool)
        buffers = compiled_loop.scratch(H, dtype)
        prev = -1
    for n_block, (lo, hi) in enumerate(loop_blocks(T, reverse)):
        Zb, Ab, Cb = (Z[lo:hi], A[lo:hi], C[lo:hi]) if keep else \
            (buffer[:hi - lo] for buffer in ring[n_block % len(ring)])
        ww.input_part(np.asarray(rows_of(x, lo, hi), dtype), Zb)
        if compiled:   # the same steps, compiled: PROGRESS_EVERY at a time, in processing order
            if not keep and prev >= 0:   # a new block of c: restart from the state before it
                h_prev, prev = Hs[prev], -1
            for first in range(0, hi - lo, PROGRESS_EVERY):
                if tick is not None:
                    tick(done)
                n = min(PROGRESS_EVERY, hi - lo - first)
                start, stop, step = (hi - 1 - first, hi - 1 - first - n, -1) if reverse else \
                    (lo + first, lo + first + n, 1)
                with np.errstate(over="ignore"):
                    compiled_loop.run_steps(Zb, Ab, lo, C if keep else Cb, Hs, start, stop, step,
                                            prev, kept_all, h_prev, c_prev, ww.R_T, buffers,
                                            0 if keep else lo)
                prev = stop - step
                done += n
            if tick is not None:
                tick(done)
        else:
            h_prev, c_prev, done = _numpy_block(ww, Zb, Ab, Cb, Hs[lo:hi], h_prev, c_prev,
                                                reverse, None if mask is None else mask[lo:hi],
                                                tick, done, act_h, rec, tmp)
        if not keep:   # the block's buffers are the next block's: keep its last c, checkpoints
            if on_block is not None:
                on_block(lo, hi, Zb, Ab, Cb, Hs[lo:hi])
            c_prev = (Cb[prev - lo] if compiled else c_prev).copy()
            checkpoints.update((t, Cb[t - lo].copy()) for t in edges if lo <= t < hi)
    if keep:
        return LayerTrace(z=Z, a=A, c=C, h=Hs)
    # a long run keeps h, and c at checkpoints only: any window of the gates and c is recomputed
    # by the loop's own calls on the same values (StepGates, cells.StepCells)
    lt = LayerTrace(z=None, a=None, c=None, h=Hs, gate_source=StepGates(ww, x, Hs, reverse, h0))
    lt.cell_source = StepCells(lt.gate_rows, checkpoints, T, H, dtype, reverse, c0, mask,
                               cells.EVERY)
    return lt


def _numpy_block(ww, Zb, Ab, Cb, Hb, h_prev, c_prev, reverse, mask, tick, done, act_h, rec,
                 tmp):
    """One loop block in NumPy calls (``run_direction``'s loop, rows of the block): returns
    ``(h_prev, c_prev, done)`` after it."""
    H, n = Cb.shape[1], Cb.shape[0]
    add, mul, step_gates = np.add, np.multiply, ww.step_gates
    # Per-step views, made by C-level iteration (cheaper than indexing in the loop).
    # Ab.reshape(n, 4, H)[j] unpacks to the i, f, c~, o views of step j.
    kept = itertools.repeat(True) if mask is None else mask.tolist()
    steps = zip(ww.step_views(Zb, Ab), Ab.reshape(n, 4, H), Cb, Hb, kept)
    steps = reversed(list(steps)) if reverse else iter(steps)
    while True:
        if tick is not None:
            tick(done)
        batch = list(itertools.islice(steps, PROGRESS_EVERY))
        if not batch:
            break
        with np.errstate(over="ignore"):
            for (zt, at, zc, ac), (i, f, g, o), ct, ht, kt in batch:
                step_gates(zt, at, zc, ac, h_prev, rec)        # z_t += R h_{t-1}; a_t
                mul(f, c_prev, ct)                             # f * c_{t-1}
                mul(i, g, tmp)
                add(ct, tmp, ct)                               # + i * c~
                act_h(ct, ht)
                mul(ht, o, ht)                                 # h_t = o * act(c_t)
                if not kt:                                     # masked: state carried
                    ct[:], ht[:] = c_prev, h_prev
                h_prev, c_prev = ht, ct
        done += len(batch)
    return h_prev, c_prev, done


class StepGates:
    """Rows ``lo:hi`` of a direction's z and a, recomputed exactly from its stored h.

    The calls :func:`run_direction` made, on the same values: the input part of each loop block
    that ``lo:hi`` touches (the whole block, as the loop computed it; the last one is kept, so a
    cursor walking through a block computes it once), then :meth:`_Weights.step_gates` step by
    step from the stored h (``h0``, or zeros, before the first step), or the same calls
    compiled (``compiled_loop.run_gates``, on the engine ``compiled_loop.engine()`` picks).
    Equal to what the loop computed, bit for bit, whatever BLAS kernel this CPU runs. ``x`` as
    in :func:`rows_of`.
    """

    def __init__(self, weights: _Weights, x, h: np.ndarray, reverse: bool, h0=None):
        self.w, self.x, self.h, self.reverse = weights, x, h, reverse
        units = h.shape[1]  # H, or P with a projection
        # the state before the first processed step, as the loop starts from it
        self.h0 = np.zeros(units, h.dtype) if h0 is None else np.array(h0, h.dtype)
        # the input parts of the last two loop blocks computed: a backward direction's blocks
        # are cut from the end, so each window of input time reads two of them, one shared
        # with the next window (keeping one block computed that one twice)
        self._blocks = cells.Recent(2)

    def input_block(self, lo: int, hi: int) -> np.ndarray:
        """The input part of the loop block ``lo:hi``, computed as the loop computed it."""
        def compute():
            part = np.empty((hi - lo, 4 * self.w.H), self.h.dtype)
            self.w.input_part(np.asarray(rows_of(self.x, lo, hi), self.h.dtype), part)
            return part
        return self._blocks.get((lo, hi), compute)

    def _compiled(self) -> bool:
        """Whether the compiled engine runs the steps (the same calls: ``compiled_loop.py``)."""
        w = self.w
        return (steps_compiled(w, self.h.dtype)
                and self.h.shape[1] == w.H   # h P wide under a projection: the NumPy calls
                and self.h.flags.c_contiguous)

    def __call__(self, lo: int, hi: int) -> tuple:
        w, h, T = self.w, self.h, self.h.shape[0]
        z = np.empty((hi - lo, 4 * w.H), h.dtype)
        for b_lo, b_hi in sorted(loop_blocks(T, self.reverse)):   # in input time: the block
            if b_lo < hi and lo < b_hi:                            # shared with the next window last
                s, e = max(lo, b_lo), min(hi, b_hi)
                z[s - lo:e - lo] = self.input_block(b_lo, b_hi)[s - b_lo:e - b_lo]
        a = np.empty_like(z)
        if self._compiled():
            with np.errstate(over="ignore"):
                compiled_loop.run_gates(z, a, lo, hi, h, self.reverse, self.h0, w.R_T)
            return z, a
        rec = np.empty(4 * w.H, h.dtype)
        with np.errstate(over="ignore"):
            for t, (zt, at, zc, ac) in zip(range(lo, hi), w.step_views(z, a)):
                prev = t + 1 if self.reverse else t - 1
                w.step_gates(zt, at, zc, ac, h[prev] if 0 <= prev < T else self.h0, rec)
        return z, a


def cell_states_between(w: LSTMWeights, x: np.ndarray, h: np.ndarray, checkpoints: dict,
                        dtype=np.float32, out: np.ndarray | None = None, h0=None, c0=None,
                        ends: dict | None = None, gates: tuple | None = None):
    """c at every step of one direction from its measured h and c at a few steps (processing order).

    ``x`` (T, in) and ``h`` (T, H) in processing order; ``checkpoints`` ``{step: c (H,)}`` the
    c a library returned at those steps. Between them::

        i, f, c~ = gates of  x_t W^T + h_{t-1} R^T + b       (h_{t-1}: the measured one)
        c_t      = f_t c_{t-1} + i_t c~_t                    (from the last checkpoint on)

    so c is *derived* from the path's own h (no recurrence through the library), restarting at
    every measured checkpoint, whose value is kept as measured. ``h0, c0`` (H,): the state
    before the first step (default zeros). Returns ``(c (T, H), gap)``: gap is the largest
    |derived - measured| at a checkpoint, c carried over one chunk. With ``out`` (T, H) given
    (it may be a reversed view), c is written there and only gap returned. With ``ends`` (a
    dict) c is not kept: ``ends`` gets the c of the last step of every ``BLOCK`` (``{step: c}``),
    from which ``cells.DerivedCells`` recomputes any window, and only gap is returned.
    ``gates``: C-contiguous ``(z, a)`` (T, 4H), processing order, that keep the gates the
    derivation computes (c kept only).
    """
    T, H = h.shape[0], w.units   # h is P wide with a projection (nn.LSTM proj_size)
    ww = _Weights.of(w, dtype)
    keep = ends is None
    c = (np.empty((T, H), dtype) if out is None else out) if keep else None
    c_prev = np.zeros(H, dtype) if c0 is None else np.array(c0, dtype)
    gap = 0.0
    for lo in range(0, T, BLOCK):
        hi = min(lo + BLOCK, T)
        rows = c[lo:hi] if keep else np.empty((hi - lo, H), dtype)
        kept = None if gates is None else (gates[0][lo:hi], gates[1][lo:hi])
        c_prev, block_gap = derive_block(ww, x, h, lo, hi, c_prev, checkpoints, rows, h0, kept)
        gap = max(gap, block_gap)
        if not keep:
            ends[hi - 1] = np.array(c_prev)
    return (c, gap) if keep and out is None else gap


def derived_cells(ends: cells.DerivedEnds, w: LSTMWeights, x_proc, h_proc,
                  reverse: bool) -> cells.DerivedCells:
    """The :class:`~.cells.DerivedCells` of what a long one-call run kept (``ends``), for ``w``
    reading ``x_proc(lo, hi)``: the same blocks and products as :func:`cell_states_between`."""
    return cells.DerivedCells(_Weights.of(w, np.float32), x_proc, h_proc, ends.restarts, ends.ends,
                              reverse, BLOCK, ends.h0, ends.c0)
