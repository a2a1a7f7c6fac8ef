"""The GRU detective: which GRU convention makes a diverging path compute exactly what it computes.

Every hypothesis is a way of reading a GRU's stored arrays wrong, at most two at once:

===============  ================================================================================
dimension        values tried (the file's own value is "no fault")
===============  ================================================================================
``order``        the 6 orders of the three gate blocks (Keras and CuDNNGRU store z, r, h; cuDNN
                 and PyTorch compute r, z, n: reading one as the other is ``rzn``)
``layout``       both kernels per gate as cuDNN reads them (``block.reshape(H, in)``, ``R_g @ h``)
                 or as Keras does (``x @ kernel``, ``h @ recurrent_kernel``)
``recurrent``    the recurrent kernel transposed (``h @ R`` where the file means ``R @ h``)
``bias``         the input half only, or the recurrent half only
``reset_after``  the reset gate applied after ``R_n h`` (CuDNNGRU, nn.GRU) or before (classic)
``rec_act``      sigmoid, or Keras 2's hard_sigmoid
===============  ================================================================================

A GRU's state is h alone, so every hypothesis is scored **teacher-forced** with no recursion
left: each step is computed from the path's own previous h (``core.gru``), and a hypothesis that
is the path's convention reproduces every step to rounding::

    h_t(θ) = GRU step of θ's weights on (x_t, h^path_{t-1});   error(θ) = max_t,j |h_t(θ) - h^path_t|

It *fits* when every value is within ``FIT_ATOL + FIT_RTOL |h|`` (float32 paths against float64
hypotheses). Fitting hypotheses rank first, fewer faults first, then by error; hypotheses that
change nothing for this layer (a transposed recurrent kernel when H = 1) are not tried.
:func:`make_gru_fix` says how to fix the best one and checks that the fix works.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .detective import FIT_ATOL, FIT_RTOL, Candidate
from .gru import GRUStepWeights, run_gru_direction
from .gru_weights import GRUReading, StoredGRU, read_gru

GRU_DIMENSIONS = ("order", "layout", "recurrent", "bias", "reset_after", "rec_act")
MAX_STEPS = 2048   # steps scored (from the first)


@dataclass(frozen=True)
class GRUHypothesis:
    """A set of GRU faults ``((dimension, value), ...)`` in :data:`GRU_DIMENSIONS` order."""

    faults: tuple = ()

    def get(self, dim: str, default=None):
        return dict(self.faults).get(dim, default)

    @property
    def n_faults(self) -> int:
        return len(self.faults)

    def reading(self, true: GRUReading) -> GRUReading:
        """The path's reading of the stored arrays, resolved against the file's."""
        f = dict(self.faults)
        return GRUReading("port", layout=f.get("layout"), gate_order=f.get("order"),
                          bias=f.get("bias"), reset_after=f.get("reset_after"),
                          recurrent_transposed=bool(f.get("recurrent")),
                          recurrent_activation=f.get("rec_act")).resolve(true)

    def describe(self) -> str:
        return " + ".join(gru_fault_words(d, v) for d, v in self.faults) or \
            "the file's own convention"

    def key(self) -> str:
        return "+".join(f"{d}={v}" for d, v in self.faults) or "truth"


def gru_fault_words(dim: str, value) -> str:
    """One GRU fault in words."""
    if dim == "order":
        return f"gate blocks read in order {', '.join(value)}"
    if dim == "layout":
        return ("kernels read as stored (x @ kernel, h @ recurrent_kernel)" if value == "keras"
                else "kernels read per gate as cuDNN does (block.reshape(H, in), R_g @ h)")
    if dim == "recurrent":
        return "recurrent kernel transposed"
    if dim == "bias":
        return f"{value} bias half only"
    if dim == "reset_after":
        return ("reset gate applied after R_n h (reset_after=True)" if value
                else "reset gate applied before R_n (reset_after=False)")
    return f"{value} gates"


class GRUDetective:
    """One GRU layer direction's search (module docstring).

    stored : the direction's arrays as stored, with the file's true reading.
    x, h : (T, in) and (T, H) the direction's input and the path's h, in processing order.
    """

    def __init__(self, stored: StoredGRU, x, h):
        self.stored = stored
        self.true = stored.true_reading.resolve(stored.true_reading)
        steps = min(len(h), MAX_STEPS)
        self.x = np.asarray(x, np.float64)[:steps]
        self.h = np.asarray(h, np.float64)[:steps]
        self.h_prev = np.vstack([np.zeros((1, self.h.shape[1])), self.h[:-1]])

    def hypotheses(self) -> list:
        """Every hypothesis of at most two faults whose values differ from the file's own."""
        t, H = self.true, self.stored.recurrent_kernel.shape[0]
        options = {
            "order": ["".join(p) for p in itertools.permutations("rzn") if "".join(p) != t.gate_order],
            "layout": [v for v in ("cudnn", "keras") if v != t.layout],
            "recurrent": [True] if H > 1 else [],
            "bias": ([v for v in ("input", "recurrent")]
                     if self.stored.bias is not None and np.ndim(self.stored.bias) and
                     np.size(self.stored.bias) == 6 * H else []),
            "reset_after": [not t.reset_after],
            "rec_act": [v for v in ("sigmoid", "hard_sigmoid")
                        if v != (t.recurrent_activation or self.stored.recurrent_activation)],
        }
        out = [GRUHypothesis()]
        singles = [(d, v) for d in GRU_DIMENSIONS for v in options[d]]
        out += [GRUHypothesis((f,)) for f in singles]
        out += [GRUHypothesis((a, b)) for a, b in itertools.combinations(singles, 2) if a[0] != b[0]]
        return out

    def error(self, hypothesis: GRUHypothesis) -> float:
        """max |h(θ) - h^path| teacher-forced over the scored steps (NaN counts as inf)."""
        w = self.weights(hypothesis)
        sw = GRUStepWeights(w, np.float64)
        _, _, h = sw.steps(sw.input_part(self.x), self.h_prev)
        err = np.abs(h - self.h)
        if not np.isfinite(err).all():
            return float("inf")
        bound = FIT_ATOL + FIT_RTOL * np.abs(self.h)
        return float(err.max()) if (err <= bound).all() else -float(err.max()) - 1.0

    def weights(self, hypothesis: GRUHypothesis):
        s = self.stored
        return read_gru(s.kernel, s.recurrent_kernel, s.bias, hypothesis.reading(self.true),
                        s.activation, s.recurrent_activation).astype(np.float64)

    def search(self) -> list:
        """Candidates ranked: fitting first, fewer faults first, then by error."""
        scored = []
        for hyp in self.hypotheses():
            value = self.error(hyp)
            fits = value >= 0
            error = value if fits else -value - 1.0
            scored.append(Candidate(hyp, error, fits, len(self.h)))
        return sorted(scored, key=lambda c: (not c.fits, c.hypothesis.n_faults if c.fits else 0,
                                             c.error))


# ---- the fix --------------------------------------------------------------------------------
ARRAY_DIMS = ("order", "layout", "recurrent")


def make_gru_fix(stored: StoredGRU, hypothesis: GRUHypothesis, x_proc, subject: str = "your port"):
    """The :class:`~lstm_inspector.core.fixes.Fix` of a GRU hypothesis: array faults (gate order,
    layouts) by rewriting the stored arrays for the unchanged port, code faults (a bias half,
    reset_after, the gate activation) by a corrected statement; checked by running the
    fixed reading over the whole input against the file's own."""
    from .fixes import Fix

    true = stored.true_reading.resolve(stored.true_reading)
    port = hypothesis.reading(true)
    H = stored.recurrent_kernel.shape[0]
    w_true = stored.read().astype(np.float64)
    lines, words, code = [], [], []
    faults = dict(hypothesis.faults)
    arrays_only = all(d in ARRAY_DIMS for d in faults)
    # arrays the port, reading them its way, turns into the file's canonical weights
    kernel, recurrent, bias = stored.kernel, stored.recurrent_kernel, stored.bias
    if any(d in ARRAY_DIMS for d in faults):
        words.append(f"{subject} reads the arrays as {_reading_words(port)}, the file means "
                     f"{_reading_words(true)}")
        lines += _array_lines(true, port, H)
        # the lines printed are the lines checked: run on copies of the stored arrays (our
        # generated NumPy, in a namespace holding only np and the arrays; never user code)
        space = {"np": np, "kernel": np.array(kernel), "recurrent_kernel": np.array(recurrent),
                 "bias": None if bias is None else np.array(bias)}
        exec("\n".join(lines), space)  # noqa: S102
        kernel, recurrent, bias = space["kernel"], space["recurrent_kernel"], space["bias"]
    if "bias" in faults:
        kept = faults["bias"]
        words.append(f"{subject} adds the {kept} bias half only; the layer adds both: b_W to "
                     f"W x and b_R to R h, with b_Rn inside r * (R_n h + b_Rn) when reset_after")
        code.append("b_W, b_R = bias.reshape(2, 3 * H)   # input half, recurrent half: use both")
    if "reset_after" in faults:
        if true.reset_after:
            words.append(f"{subject} applies r before R_n; the layer computes n = tanh(W_n x + "
                         f"b_Wn + r * (R_n h + b_Rn)) (reset_after=True)")
            code.append("n = np.tanh(xn + r * (h_prev @ R_n + b_Rn))")
        else:
            words.append(f"{subject} applies r after R_n; the layer computes n = tanh(W_n x + "
                         f"b_n + (r * h) @ R_n) (reset_after=False)")
            code.append("n = np.tanh(xn + (r * h_prev) @ R_n)")
    if "rec_act" in faults:
        want = true.recurrent_activation or stored.recurrent_activation
        words.append(f"{subject} computes the r and z gates with {faults['rec_act']}; the layer "
                     f"with {want}")
        code.append({"sigmoid": "r, z = 1 / (1 + np.exp(-zr)), 1 / (1 + np.exp(-zz))",
                     "hard_sigmoid": "r, z = np.clip(0.2 * zr + 0.5, 0, 1), "
                                     "np.clip(0.2 * zz + 0.5, 0, 1)"}.get(want, f"r, z = {want}(...)"))
    fixed = GRUReading("fixed", layout=port.layout, gate_order=port.gate_order,
                       recurrent_transposed=port.recurrent_transposed, bias=true.bias,
                       reset_after=true.reset_after,
                       recurrent_activation=true.recurrent_activation).resolve(true)
    w_fixed = read_gru(kernel, recurrent, bias, fixed, stored.activation,
                       stored.recurrent_activation).astype(np.float64)
    x64 = np.asarray(x_proc, np.float64)
    h_true = run_gru_direction(w_true, x64, False, np.float64).h
    h_fixed = run_gru_direction(w_fixed, x64, False, np.float64).h
    sentence = "; ".join(words) + ". " + ("Rewrite the arrays before calling it:" if arrays_only
                                          else "Change its code:")
    return Fix(sentence, tuple(lines + code), arrays_only,
               float(np.abs(h_fixed - h_true).max()), (kernel, recurrent, bias))


def _reading_words(r: GRUReading) -> str:
    layout = "x @ kernel, h @ recurrent_kernel" if r.layout == "keras" else \
        "cuDNN's per-gate blocks (block.reshape(H, in), R_g @ h)"
    transposed = ", the recurrent kernel transposed" if r.recurrent_transposed else ""
    return f"{layout}{transposed}, gate blocks {', '.join(r.gate_order)}"


def _array_lines(true: GRUReading, port: GRUReading, H: int) -> list:
    """NumPy lines that rewrite the file's ``kernel`` / ``recurrent_kernel`` for the port."""
    lines = ["H = recurrent_kernel.shape[0]; n_in = kernel.shape[0]",
             "def blocks(a): return [a[:, k * H:(k + 1) * H] for k in range(3)]"]
    to_matrix = {"cudnn": ("blk.reshape(H, n_in)", "blk"), "keras": ("blk.T", "blk.T")}
    from_matrix = {"cudnn": ("m.reshape(n_in, H)", "m"), "keras": ("m.T", "m.T")}
    wk, wr = to_matrix[true.layout]
    lines.append(f"W = {{g: {wk} for g, blk in zip('{true.gate_order}', blocks(kernel))}}")
    lines.append(f"R = {{g: {wr} for g, blk in zip('{true.gate_order}', blocks(recurrent_kernel))}}")
    if port.recurrent_transposed != true.recurrent_transposed:
        lines.append("R = {g: m.T for g, m in R.items()}")
    fk, fr = from_matrix[port.layout]
    lines.append(f"kernel = np.hstack([(lambda m: {fk})(W[g]) for g in '{port.gate_order}'])")
    lines.append(f"recurrent_kernel = np.hstack([(lambda m: {fr})(R[g]) for g in "
                 f"'{port.gate_order}'])")
    if port.gate_order != true.gate_order:   # every bias half's blocks in the port's order too
        lines.append(f"halves = np.reshape(bias, (-1, 3 * H)); b = {{g: halves[:, k * H:(k + 1) "
                     f"* H] for k, g in enumerate('{true.gate_order}')}}")
        lines.append(f"bias = np.hstack([b[g] for g in '{port.gate_order}'])"
                     f".reshape(np.shape(bias))")
    return lines
