"""The detective: which convention makes a diverging path compute exactly what it computes.

Given one layer direction of a port (its h, and its c when it returned it), the stored arrays
and the input, every *hypothesis* is a way of getting the conventions wrong, at most two at once:

=============  ==========================================================================
dimension      values tried (the file's own value is "no fault")
=============  ==========================================================================
``order``      the 24 orders of the four gate blocks
``kernel``     input kernel read per gate as cuDNN does (``block.reshape(H, in)``), as
               stored (``x @ kernel``), whole-reshaped to ``(4H, in)``, per gate transposed
               (``x @ block.T``, square blocks only)
``recurrent``  recurrent kernel per gate (``R_g @ h``), as stored (``h @ recurrent_kernel``),
               whole-reshaped
``bias``       both halves, input half only, recurrent half only, one half twice
``rec_act``    sigmoid, hard_sigmoid (Keras 2: ``clip(0.2 z + 0.5, 0, 1)``), Keras 3's
               ``clip(z / 6 + 0.5, 0, 1)``
``forget``     +1 on the forget gate's bias (``unit_forget_bias`` added again)
``proj``       nn.LSTM(proj_size) only: the projection applied to c (``h = W_hr c``)
``swap``       the port's h is really c and its c is h (only when the port returned c)
``shift``      the port's output at step t belongs to step t-1 or t+1
=============  ==========================================================================

**Teacher-forced, so no recurrence over hypotheses.** Each hypothesis is scored by computing
every step from the *port's own* previous state, so a hypothesis that is the port's convention
reproduces the port's every step to rounding, and a step costs one matrix product for all steps
at once. The input and recurrent products depend only on the kernel and recurrent layouts
(a few GEMMs, computed once); a gate order is a permutation of the four gate blocks, a bias
reading an added vector, an activation an elementwise function: so ~500 hypotheses cost a few
GEMMs plus elementwise work. With the port's c known::

    z_t(θ) = W(θ) x_{t+s} + R(θ) h^port_{t-1} + b(θ)          (blocks permuted by θ's order)
    c_t(θ) = f c^port_{t-1} + i c~,   h_t(θ) = o tanh(c_t(θ))
    error(θ) = max_t,j |h_t(θ) - h^port_t|, |c_t(θ) - c^port_t|

**When only h is known** (the outputs of a C port, or a function returning h alone), c is
carried by the hypothesis itself: gates are still teacher-forced from the port's h, and only
the elementwise recurrence ``c_t(θ) = f c_{t-1}(θ) + i c~`` runs over time, batched over
hypotheses. A swap of c and h cannot be tested then.

**Two passes.** All hypotheses are scored on a sample: 48 units spread over the layer, and
steps (the first 16 and 48 more spread over the sequence; with h alone, the first 64 steps);
then the truth, the best few and every one that fits the sample again on every step and unit
(the first ``FULL_MAX`` = 2048 steps of a longer input). A hypothesis *fits* when every
scored value is within ``FIT_ATOL + FIT_RTOL |value|`` of the port's (float32 ports against
float64 hypotheses). Fitting hypotheses rank first, fewer
faults before more (a simpler explanation wins), then by error; hypotheses that change
nothing for this model (e.g. the kernel layout when the input width is 1) are not tried.

**Arithmetic, not a convention.** When the truth ranks first and every step follows the file's
equations closely, the divergence is arithmetic; one more hypothesis is then tried, *consistent
with TF32 matmuls* (``core.tf32.step_effect``, asked by ``paths.diagnosis``): the path's local
error has the size TF32 rounding of ``x @ W`` gives the same steps, well above float32's own.
It is a hypothesis of size, never an equality (cuDNN's TF32 kernels are not reproduced bit for
bit), and it is not tried on agreement or on a convention fault.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from . import activations
from .port_trace import previous
from .weights import (BIAS_READINGS, CANONICAL_ORDER, KERNEL_LAYOUTS, READINGS, RECURRENT_LAYOUTS,
                      Reading, StoredLSTM, read_stored)

DIMENSIONS = ("order", "kernel", "recurrent", "bias", "rec_act", "forget", "proj", "swap", "shift")
GATE_ACTIVATIONS = ("sigmoid", "hard_sigmoid", "hard_sigmoid_keras3")
FIT_ATOL, FIT_RTOL = 1e-4, 1e-3
SAMPLE_HEAD, SAMPLE_SPREAD, PREFIX, SAMPLE_UNITS = 16, 48, 64, 48
REFINE = 8          # hypotheses re-scored on every step and unit
MAX_REFINE = 32     # at most this many sample-fitting ones too
FULL_MAX = 2048     # steps of the "every step" pass (from the start; bounds time, memory)
CHUNK = 48          # hypotheses per batched block (bounds memory)


@dataclass(frozen=True)
class Hypothesis:
    """A set of faults: ``((dimension, value), ...)`` in :data:`DIMENSIONS` order; () is the truth."""

    faults: tuple = ()

    def get(self, dim: str, default=None):
        return dict(self.faults).get(dim, default)

    @property
    def n_faults(self) -> int:
        return len(self.faults)

    def reading(self, true: Reading) -> Reading:
        """The port's reading of the stored arrays (trace-level faults aside), resolved."""
        f = dict(self.faults)
        return Reading("port", gate_order=f.get("order"), kernel_layout=f.get("kernel"),
                       recurrent_layout=f.get("recurrent"), bias=f.get("bias"),
                       recurrent_activation=f.get("rec_act"),
                       forget_bias=f.get("forget")).resolve(true)

    def describe(self) -> str:
        """The faults in words, e.g. ``"recurrent kernel as stored (h @ recurrent_kernel)"``."""
        return " + ".join(fault_words(d, v) for d, v in self.faults) or "the file's own convention"

    def key(self) -> str:
        """A short machine name, e.g. ``"recurrent=keras+rec_act=hard_sigmoid"``."""
        return "+".join(f"{d}={v}" for d, v in self.faults) or "truth"


def fault_words(dim: str, value) -> str:
    """One fault in words."""
    if dim == "order":
        return f"gate order {value}"
    if dim in ("kernel", "recurrent"):
        name = "kernel" if dim == "kernel" else "recurrent kernel"
        words = {"keras": f"as stored ({'x @ kernel' if dim == 'kernel' else 'h @ recurrent_kernel'})",
                 "cudnn": "per gate as cuDNN reads it", "whole": "reshaped whole",
                 "block": "per gate block, transposed"}
        return f"{name} {words[value]}"
    if dim == "bias":
        return (f"{value[:-6]} bias half twice" if value.endswith("twice")
                else f"{value} bias half only")
    if dim == "rec_act":
        return f"{value} gates"
    if dim == "forget":
        return f"forget bias {value:+g}"
    if dim == "proj":
        return "projection of c (h = W_hr c)"
    if dim == "swap":
        return "c and h swapped"
    return "outputs one step late" if value < 0 else "outputs one step early"


@dataclass(frozen=True)
class Candidate:
    """A scored hypothesis: max error against the port, whether it fits, steps scored."""

    hypothesis: Hypothesis
    error: float
    fits: bool
    steps: int


class Detective:
    """One layer direction's search; see the module docstring.

    Parameters
    ----------
    stored : StoredLSTM  the direction's arrays as stored, with the file's true reading.
    x : (T, in)          the direction's input in processing order.
    h : (T, H)           the port's h in processing order ((T, P) for nn.LSTM(proj_size=P)).
    c : (T, H) or None   the port's c (None: not returned by the port; derived c is no evidence).

    With a projection (``stored.projection``, ``W_hr (P, H)``) every hypothesis's step ends in
    ``h_t(θ) = W_hr (o tanh(c_t(θ)))`` from the port's own P-wide h_{t-1}; the projection mixes
    the units, so every unit is scored (no unit sample) and c and h cannot be swapped.
    """

    def __init__(self, stored: StoredLSTM, x, h, c=None):
        self.stored = stored
        self.true = stored.true_reading.resolve(READINGS["cudnn"])
        self.x = np.asarray(x, np.float64)
        self.h = np.asarray(h, np.float64)
        self.c = None if c is None else np.asarray(c, np.float64)
        self.projection = (None if getattr(stored, "projection", None) is None
                           else np.asarray(stored.projection, np.float64))
        self.T, self.H = self.h.shape[0], stored.recurrent_kernel.shape[1] // 4
        self.n_in = self.x.shape[1]
        self.eights = stored.bias.shape[0] == 8 * self.H
        self._matrices = {}
        self._products = {}
        self._universes = {}

    # ---- the hypothesis space ---------------------------------------------------------------
    def truth_values(self) -> dict:
        return {"order": self.true.gate_order, "kernel": self.true.kernel_layout,
                "recurrent": self.true.recurrent_layout, "bias": self.true.bias,
                "rec_act": self.stored.recurrent_activation, "forget": 0.0, "proj": "m",
                "swap": False, "shift": 0}

    def alternatives(self) -> dict:
        """``{dimension: [values that change what this model computes]}``."""
        truth = self.truth_values()
        values = {
            "order": ["".join(p) for p in itertools.permutations(CANONICAL_ORDER)],
            "kernel": [k for k in KERNEL_LAYOUTS if k != "block" or self.n_in == self.H],
            "recurrent": list(RECURRENT_LAYOUTS),
            "bias": list(BIAS_READINGS) if self.eights else [truth["bias"]],
            "rec_act": list(GATE_ACTIVATIONS),
            "forget": [1.0],
            "proj": ["c"] if self.projection is not None else [],
            "swap": [True] if self.c is not None and self.projection is None else [],
            "shift": [-1, 1] if self.T > 2 else [],
        }
        out = {}
        for dim, vals in values.items():
            kept, seen = [], [self._signature(Hypothesis())] if dim in ("order", "kernel",
                                                                        "recurrent", "bias") else []
            for v in vals:
                if v == truth[dim]:
                    continue
                if dim in ("order", "kernel", "recurrent", "bias"):
                    sig = self._signature(Hypothesis(((dim, v),)))
                    if any(_same(sig, s) for s in seen):
                        continue   # computes exactly what another value (or the truth) computes
                    seen.append(sig)
                kept.append(v)
            out[dim] = kept
        return out

    def hypotheses(self, pairs: bool = True) -> list:
        """The truth, every single fault, and (``pairs``) every two faults in two dimensions."""
        alts = self.alternatives()
        singles = [Hypothesis(((d, v),)) for d in DIMENSIONS for v in alts[d]]
        out = [Hypothesis()] + singles
        if pairs:
            for d1, d2 in itertools.combinations(DIMENSIONS, 2):
                out += [Hypothesis(((d1, v1), (d2, v2))) for v1 in alts[d1] for v2 in alts[d2]]
        return out

    def _signature(self, hyp: Hypothesis):
        w = read_stored(self.stored.kernel, self.stored.recurrent_kernel, self.stored.bias,
                        hyp.reading(self.true), projection=self.projection)
        return (w.weight_ih, w.weight_hh, w.bias_ih + w.bias_hh)

    # ---- scoring ---------------------------------------------------------------------------
    def _stored_order(self, kernel: str, recurrent: str, bias: str):
        """``(W (4H, in), R (4H, H), b (4H,))`` with blocks in *stored* order (cached)."""
        key = (kernel, recurrent, bias)
        if key not in self._matrices:
            w = read_stored(self.stored.kernel, self.stored.recurrent_kernel, self.stored.bias,
                            Reading("raw", gate_order=CANONICAL_ORDER, kernel_layout=kernel,
                                    recurrent_layout=recurrent, bias=bias).resolve(self.true),
                            projection=self.projection)
            self._matrices[key] = (w.weight_ih.astype(np.float64), w.weight_hh.astype(np.float64),
                                   (w.bias_ih + w.bias_hh).astype(np.float64))
        return self._matrices[key]

    def _rows(self, shift: int, full: bool) -> np.ndarray:
        """Steps scored for this shift: valid ones (x_{t+shift} exists; t >= 1 for a lag), at
        most ``FULL_MAX`` from the start in the full pass (bounded memory on long inputs)."""
        lo, hi = (1 if shift < 0 else 0), min(self.T - (1 if shift > 0 else 0), FULL_MAX)
        if self.c is None:   # the hypothesis carries c: consecutive steps from the start
            return np.arange(lo, hi if full else min(hi, lo + PREFIX))
        rows = np.arange(lo, hi)
        if full or rows.size <= SAMPLE_HEAD + SAMPLE_SPREAD:
            return rows
        rest = rows[SAMPLE_HEAD:]
        pick = rest[np.linspace(0, rest.size - 1, SAMPLE_SPREAD).round().astype(int)]
        return np.unique(np.concatenate([rows[:SAMPLE_HEAD], pick]))

    def _units(self, full: bool):
        """Units scored: all of them, or a spread sample (each unit's cell is independent of the
        others' once the previous states are the port's, and every fault touches every unit)."""
        if full or self.H <= SAMPLE_UNITS or self.projection is not None:
            return np.arange(self.H)
        return np.unique(np.linspace(0, self.H - 1, SAMPLE_UNITS).round().astype(int))

    def _universe(self, full: bool) -> np.ndarray:
        """Every step a pass reads (scored rows, their neighbours for a shift): products are
        computed for these rows only."""
        if full not in self._universes:
            rows = [self._rows(shift, full) + k for shift in (-1, 0, 1) for k in (-1, 0, 1)]
            universe = np.unique(np.concatenate(rows))
            self._universes[full] = universe[(universe >= 0) & (universe < self.T)]
        return self._universes[full]

    def _product(self, name, layout, source_key, source, units, full, rows):
        """(len(rows), 4 * len(units)) input or recurrent product, for the sampled or all units:
        one GEMM per layout and pass over the pass's steps (cached), then rows picked."""
        key = (name, layout, source_key, full)
        universe = self._universe(full)
        if key not in self._products:
            W = self._stored_order(layout, "cudnn", "sum")[0] if name == "x" else \
                self._stored_order("cudnn", layout, "sum")[1]
            W = W.reshape(4, self.H, -1)[:, units].reshape(4 * len(units), -1)  # stored blocks
            self._products[key] = source[universe] @ W.T
        return self._products[key][np.searchsorted(universe, rows)]

    def score(self, hyps: list, full: bool = False) -> list:
        """:class:`Candidate` for each hypothesis (same order); ``full``: every step and unit,
        else the sample (see the module docstring)."""
        results = [None] * len(hyps)
        groups = {}
        for n, hyp in enumerate(hyps):
            groups.setdefault((hyp.get("shift", 0), hyp.get("swap", False)), []).append(n)
        units = self._units(full)
        for (shift, swap), members in groups.items():
            rows = self._rows(shift, full)
            hs, cs = (self.c, self.h) if swap else (self.h, self.c)
            h_prev = previous(hs)                                                 # (T, H)
            c_prev = None if cs is None else previous(cs)[np.ix_(rows, units)]
            h_cols = units if self.projection is None else np.arange(hs.shape[1])   # P wide
            targets = [hs[np.ix_(rows, h_cols)]] + ([] if cs is None else [cs[np.ix_(rows, units)]])
            for start in range(0, len(members), CHUNK):
                chunk = [hyps[n] for n in members[start:start + CHUNK]]
                z = np.stack([self._pre_activations(h, rows, units, full, shift, swap, h_prev)
                              for h in chunk])                                # (N, n, 4, U)
                err, fits = self._cell_error(chunk, z, c_prev, targets)
                for j, n in enumerate(members[start:start + CHUNK]):
                    results[n] = Candidate(hyps[n], float(err[j]), bool(fits[j]), rows.size)
        return results

    def _pre_activations(self, hyp, rows, units, full, shift, swap, h_prev):
        """(n, 4, U) pre-activations in canonical gate order i, f, c~, o under ``hyp``."""
        kernel = hyp.get("kernel", self.true.kernel_layout)
        recurrent = hyp.get("recurrent", self.true.recurrent_layout)
        bias = hyp.get("bias", self.true.bias)
        xw = self._product("x", kernel, "x", self.x, units, full, rows + shift)
        hr = self._product("h", recurrent, "c" if swap else "h", h_prev, units, full, rows)
        b = self._stored_order(self.true.kernel_layout, self.true.recurrent_layout, bias)[2]
        z = (xw + hr).reshape(len(rows), 4, len(units)) + b.reshape(4, self.H)[:, units]
        order = hyp.get("order", self.true.gate_order)
        z = z[:, [order.index(g) for g in CANONICAL_ORDER]]                     # port's gates
        if hyp.get("forget"):
            z[:, CANONICAL_ORDER.index("f")] += hyp.get("forget")
        return z

    def _predict(self, chunk, z, c_prev):
        """``(h (N, n, U), c (N, n, U), gates (N, n, 4, U))`` of the cell from pre-activations
        ``z`` (N, n, 4, U): c from the port's previous c when known, else carried by each
        hypothesis."""
        act = activations.get(self.stored.activation)
        gates = np.empty_like(z)
        for j, hyp in enumerate(chunk):
            rec = activations.get(hyp.get("rec_act", self.stored.recurrent_activation))
            with np.errstate(over="ignore"):
                gates[j] = rec(z[j])
        cand = CANONICAL_ORDER.index("c")
        gates[:, :, cand] = act(z[:, :, cand])
        i, f, g, o = (gates[:, :, CANONICAL_ORDER.index(k)] for k in CANONICAL_ORDER)
        if c_prev is not None:
            c = f * c_prev + i * g
        else:   # an elementwise recurrence over consecutive rows, batched over hypotheses
            c = np.empty_like(i)
            prev = np.zeros(i.shape[::2])
            for t in range(i.shape[1]):
                prev = c[:, t] = f[:, t] * prev + i[:, t] * g[:, t]
        if self.projection is None:
            return o * act(c), c, gates
        h = np.stack([(c[j] if hyp.get("proj") == "c" else o[j] * act(c[j])) @ self.projection.T
                      for j, hyp in enumerate(chunk)])                  # h = W_hr m: P wide
        return h, c, gates

    def _cell_error(self, chunk, z, c_prev, targets):
        """``(max error (N,), fits (N,))``: h (and the port's c, when known) against the port."""
        h, c, _ = self._predict(chunk, z, c_prev)
        err = np.zeros(len(chunk))
        worst = np.full(len(chunk), -np.inf)
        for pred, target in zip((h, c), targets):
            diff = np.abs(pred - target)
            diff[np.isnan(diff)] = np.inf
            bad = diff - (FIT_ATOL + FIT_RTOL * np.abs(target))
            err = np.maximum(err, diff.reshape(len(chunk), -1).max(axis=1))
            worst = np.maximum(worst, bad.reshape(len(chunk), -1).max(axis=1))
        return err, worst <= 0

    def step_prediction(self, hyp: Hypothesis = Hypothesis()):
        """``(rows, h (n, H), c (n, H), gates (n, 4, H))``: ``hyp``'s prediction of every scored
        step (all of them), teacher-forced from the port's own states (processing order); gates
        in canonical order i, f, c~, o."""
        shift, swap = hyp.get("shift", 0), hyp.get("swap", False)
        rows, units = self._rows(shift, full=True), self._units(True)
        hs, cs = (self.c, self.h) if swap else (self.h, self.c)
        z = self._pre_activations(hyp, rows, units, True, shift, swap, previous(hs))
        c_prev = None if cs is None else previous(cs)[rows]
        h, c, gates = self._predict([hyp], z[None], c_prev)
        return rows, h[0], c[0], gates[0]

    # ---- the search ------------------------------------------------------------------------
    def search(self, pairs: bool = True, refine: int = REFINE) -> list:
        """Every hypothesis ranked (fits first, fewer faults first, then error); the truth,
        those fitting the sample (up to ``MAX_REFINE``) and the best ``refine`` are scored again
        on every step and unit."""
        hyps = self.hypotheses(pairs)
        ranked = sorted(self.score(hyps), key=_rank)
        best = [c.hypothesis for c in ranked[:max(refine, sum(c.fits for c in ranked[:MAX_REFINE]))]]
        if Hypothesis() not in best:
            best.append(Hypothesis())
        full = {c.hypothesis: c for c in self.score(best, full=True)}
        ranked = [full.get(c.hypothesis, c) for c in ranked]
        return sorted(ranked, key=_rank)


def _rank(c: Candidate):
    return (not c.fits, c.hypothesis.n_faults if c.fits else 0, c.error)


def _same(a, b) -> bool:
    return all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))
