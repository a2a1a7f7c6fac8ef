"""The fix for a diagnosed convention fault: one sentence in the port's terms, NumPy lines, a check.

For every fault the detective can name (``core.detective``) this module says what the port
computes, what the file's layer computes, and how to make them agree:

* *array faults* (gate order, kernel or recurrent layout, bias halves, forget bias +1) are fixed
  by rewriting the stored arrays before handing them to the unchanged port; the lines do that.
* *code faults* (gate activation, c/h swapped, off-by-one step) need a change in the port's
  code; the lines show the corrected statement.

:func:`make_fix` runs the lines it prints (``exec`` of the generated NumPy code in a namespace
holding only ``np`` and the arrays, never user code), reads the rewritten arrays the way the
port does with the code faults corrected, runs that reading over the whole input and reports
its largest difference from the file's own reading: the fix is checked, not asserted.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .detective import Hypothesis
from .reference import run_direction_from
from .weights import CANONICAL_ORDER, READINGS, read_stored

GATE_NAMES = {"i": "input", "f": "forget", "c": "candidate c~", "o": "output"}
ARRAY_DIMS = ("order", "kernel", "recurrent", "bias", "forget")
FORMULAS = {"sigmoid": "1 / (1 + exp(-z))", "hard_sigmoid": "Keras 2's clip(0.2 z + 0.5, 0, 1)",
            "hard_sigmoid_keras3": "Keras 3's clip(z / 6 + 0.5, 0, 1)"}
CODE = {"sigmoid": "1.0 / (1.0 + np.exp(-z))", "hard_sigmoid": "np.clip(0.2 * z + 0.5, 0.0, 1.0)",
        "hard_sigmoid_keras3": "np.clip(z / 6.0 + 0.5, 0.0, 1.0)"}


@dataclass(frozen=True)
class Fix:
    """What to change, as a sentence and as NumPy lines, and how well the change was checked.

    arrays_only : every fault is fixed by the array lines alone (the port's code stays as is),
        so the port itself can be re-run on ``fixed_arrays`` to confirm.
    check_error : max |h| difference between the fixed reading, run over the whole input, and
        the file's own reading (float64).
    """

    sentence: str
    lines: tuple
    arrays_only: bool
    check_error: float
    fixed_arrays: tuple


def _gate_expr(layout: str, rows: str, cols: str) -> str:
    """The matrix (H, n) the layout multiplies, as an expression of ``blk`` (n, H)."""
    square = rows == cols   # a square block read row-major is the block itself
    return {"cudnn": "blk" if square else f"blk.reshape({rows}, {cols})", "keras": "blk.T",
            "block": "blk"}[layout]


def _inverse_expr(layout: str, matrix: str, rows: str, cols: str) -> str:
    """A block (n, H) that ``layout`` reads as the matrix ``matrix`` (H, n)."""
    if layout == "keras":
        return "blk" if matrix == "blk.T" else f"{matrix}.T"
    if layout == "cudnn":
        return matrix if rows == cols else f"{matrix}.reshape({cols}, {rows})"
    return matrix  # block


PORT_WORDS = {
    ("kernel", "keras"): "computes x @ kernel",
    ("kernel", "cudnn"): "reads each gate block of kernel as block.reshape(H, in)",
    ("kernel", "whole"): "reshapes the whole kernel to (4H, in)",
    ("kernel", "block"): "computes x @ block.T for each gate block of kernel",
    ("recurrent", "keras"): "computes h @ recurrent_kernel",
    ("recurrent", "cudnn"): "computes R_g @ h with each gate block R_g of recurrent_kernel",
    ("recurrent", "whole"): "reshapes the whole recurrent_kernel to (4H, H)",
}
TRUE_WORDS = {
    ("kernel", "cudnn"): "cuDNN computes W_g @ x with W_g = block.reshape(H, in) per gate",
    ("kernel", "keras"): "the layer computes x @ kernel",
    ("recurrent", "cudnn"): "cuDNN computes R_g @ h per gate",
    ("recurrent", "keras"): "the layer computes h @ recurrent_kernel",
}


def _layout_fix(dim, port, truth, H, n_in):
    name = "kernel" if dim == "kernel" else "recurrent_kernel"
    n = "n_in" if dim == "kernel" else "H"
    matrix = _gate_expr(truth, "H", n)
    if port == "whole":
        expr = f"np.concatenate([{matrix} for blk in np.split({name}, 4, axis=1)]).reshape({n}, 4 * H)"
        clause = f"rebuild {name} as below"
    else:
        block = _inverse_expr(port, matrix, "H", n)
        expr = f"np.concatenate([{block} for blk in np.split({name}, 4, axis=1)], axis=1)"
        clause = (f"transpose each gate block of {name}" if block == "blk.T"
                  else f"replace each gate block of {name} by {block.replace('blk', 'block')}")
    sentence = (f"your port {PORT_WORDS[(dim, port)]}; {TRUE_WORDS.get((dim, truth), truth)}: "
                f"{clause}")
    return sentence, [f"{name} = {expr}"]


def _fault_fix(dim, value, hyp, true, H, n_in, eights):
    """``(sentence, lines)`` for one fault."""
    port_order = hyp.get("order", true.gate_order)
    if dim == "order":
        idx = tuple(true.gate_order.index(g) for g in value)
        names = ", ".join(GATE_NAMES[g] for g in value)
        lines = [f"perm = np.concatenate([np.arange(k * H, (k + 1) * H) for k in {idx}])",
                 "kernel, recurrent_kernel = kernel[:, perm], recurrent_kernel[:, perm]",
                 "bias = np.concatenate([bias[:4 * H][perm], bias[4 * H:][perm]])" if eights
                 else "bias = bias[perm]"]
        return (f"your port takes the gate blocks in the order {value} ({names}); the model file "
                f"stores them as {true.gate_order}: reorder the blocks of kernel, "
                f"recurrent_kernel and bias"), lines
    if dim in ("kernel", "recurrent"):
        return _layout_fix(dim, value, getattr(true, f"{dim}_layout"), H, n_in)
    if dim == "bias":
        half, other = ("input", "bias[:4 * H]") if value.startswith("input") else ("recurrent", "bias[4 * H:]")
        total = "bias[:4 * H] + bias[4 * H:]"
        new = f"({total}) / 2" if value.endswith("twice") else total
        line = (f"bias = np.concatenate([{new}, bias[4 * H:]])" if half == "input"
                else f"bias = np.concatenate([bias[:4 * H], {new}])")
        what = (f"adds the {half} half {other} twice" if value.endswith("twice")
                else f"adds only the {half} half {other}")
        return (f"your port {what}; cuDNN adds both halves: use bias[:4H] + bias[4H:]"), [line]
    if dim == "forget":
        j = port_order.index("f")
        bias_reading = hyp.get("bias", true.bias)
        start = j * H + (4 * H if eights and bias_reading.startswith("recurrent") else 0)
        amount = value / 2 if bias_reading.endswith("twice") else value
        return (f"your port adds {value:g} to the forget gate's bias (Keras's unit_forget_bias), "
                f"but the stored bias already holds it: drop the + {value:g}"), [
            f"bias = bias.copy(); bias[{start}:{start + H}] -= {amount!r}   "
            f"# cancels the + {value:g} on the forget gate"]
    if dim == "rec_act":
        truth = hyp.truth_rec_act
        return (f"your port uses {value} ({FORMULAS.get(value, value)}) for i, f and o; the layer "
                f"uses {truth} ({FORMULAS.get(truth, truth)}): use {truth}"), [
            "def recurrent_activation(z):   # for the i, f and o gates",
            f"    return {CODE.get(truth, truth + '(z)')}"]
    if dim == "proj":
        return ("your port projects the cell state (h = W_hr c); nn.LSTM projects the output "
                "o * tanh(c): h = W_hr (o * tanh(c))"), [
            "h = weight_hr @ (o * np.tanh(c))   # not weight_hr @ c"]
    if dim == "swap":
        return ("your port's h is the cell state c and its c is h: return (h, c), in that "
                "order"), ["return h, c   # not (c, h)"]
    if value < 0:
        return ("your port's output at step t is the state of step t-1 (recorded before the "
                "update): record h after computing step t"), [
            "h = h[1:]   # your h[t] is h[t-1]; keep h after the update of step t"]
    return ("your port's output at step t is the state of step t+1 (it reads x[t + 1]): feed "
            "x[t] at step t"), ["x_t = x[t]   # not x[t + 1]"]


class _HypView:
    """A hypothesis plus the truth's gate activation, for the sentences."""

    def __init__(self, hyp, truth_rec_act):
        self._hyp, self.truth_rec_act = hyp, truth_rec_act

    def get(self, dim, default=None):
        return self._hyp.get(dim, default)


def make_fix(stored, hyp: Hypothesis, x_proc, subject: str = "your port") -> Fix:
    """The fix for ``hyp`` on one direction (``stored`` arrays, ``x_proc`` processing-order
    input), with its lines run and the result checked (see the module docstring).
    ``subject`` names what got it wrong in the sentence ("this file" for an exported model)."""
    true = stored.true_reading.resolve(READINGS["cudnn"])
    H, n_in = stored.recurrent_kernel.shape[1] // 4, stored.kernel.shape[0]
    eights = stored.bias.shape[0] == 8 * H
    view = _HypView(hyp, stored.recurrent_activation)
    sentences, array_lines, code_lines = [], [f"H, n_in = {H}, {n_in}   # units, input width"], []
    for dim in sorted(dict(hyp.faults), key=_fix_rank):
        sentence, lines = _fault_fix(dim, hyp.get(dim), view, true, H, n_in, eights)
        if sentence.startswith("your port"):
            sentence = subject + sentence[len("your port"):]
        sentences.append(sentence)
        (array_lines if dim in ARRAY_DIMS else code_lines).extend(lines)
    arrays_only = not code_lines
    namespace = {"np": np, "kernel": np.array(stored.kernel), "bias": np.array(stored.bias),
                 "recurrent_kernel": np.array(stored.recurrent_kernel)}
    exec("\n".join(array_lines), namespace)   # noqa: S102 -- our own generated lines, checked
    fixed = tuple(np.asarray(namespace[k], stored.kernel.dtype)
                  for k in ("kernel", "recurrent_kernel", "bias"))
    port_reading = replace(hyp.reading(true), recurrent_activation=stored.recurrent_activation)
    w_fixed = read_stored(*fixed, port_reading, stored.activation, stored.recurrent_activation,
                          getattr(stored, "projection", None))
    w_true = stored.read()
    x64 = np.asarray(x_proc, np.float64)
    h_fixed = run_direction_from(w_fixed, x64, dtype=np.float64).h
    h_true = run_direction_from(w_true, x64, dtype=np.float64).h
    sentence = "; and ".join(sentences)
    if sentence:
        sentence = sentence[0].upper() + sentence[1:] + "."
    lines = tuple(array_lines + code_lines) if len(array_lines) > 1 else tuple(code_lines)
    return Fix(sentence, lines, arrays_only, float(np.abs(h_fixed - h_true).max()), fixed)


def _fix_rank(dim: str) -> int:
    """Order in which fixes are applied: reorder first, then rewrite blocks, then the rest."""
    return ("order", "kernel", "recurrent", "bias", "forget", "rec_act", "proj", "swap",
            "shift").index(dim)


__all__ = ["Fix", "make_fix", "CANONICAL_ORDER"]
