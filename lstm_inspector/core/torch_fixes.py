"""The fix for a diagnosed fault of a port written against nn.LSTM's own arrays.

A PyTorch checkpoint's port reads ``weight_ih (4H, in)``, ``weight_hh (4H, H)``, ``bias_ih``,
``bias_hh`` (gate blocks i, f, g, o; ``z = W_ih x + b_ih + W_hh h + b_hh``). The detective
(``core.detective``) searches the same faults on the CuDNNLSTM form the tool keeps (an exact
reshuffle with the same gate blocks and bias halves), so each fault has a torch spelling:

=====================  ==========================================  ===============================
fault                  what the port does                          the lines (on nn.LSTM's arrays)
=====================  ==========================================  ===============================
gate order             reads the blocks as e.g. i, f, o, g          rows reordered in all four
bias input / recurrent adds bias_ih (or bias_hh) only               that one set to their sum
recurrent as stored    ``h @ W_hh_g``: a gate block not transposed  each (H, H) block transposed
kernel as stored       ``x @ W_ih_g`` (square blocks only)          each block transposed
forget bias +1         adds 1 to f's bias                           1 taken off bias_ih's f rows
=====================  ==========================================  ===============================

Code faults (gate activation, c/h swapped, a step late) are worded as ``core.fixes`` words them.
The lines are run on the arrays (``exec`` of these generated lines only, never user code), the
result converted back to the stored form, read the port's way and run over the whole input: the
fix is checked, as ``core.fixes.make_fix`` checks its own.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .detective import Hypothesis
from .fixes import ARRAY_DIMS, Fix, _fix_rank, make_fix
from .reference import run_direction_from
from .weights import READINGS, from_torch, read_stored

TORCH_GATES = {"i": "i", "f": "f", "c": "g", "o": "o"}   # the tool's c~ is torch's g
NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _order_fix(value: str, true_order: str):
    port = ", ".join(TORCH_GATES[g] for g in value)
    idx = tuple(true_order.index(g) for g in value)
    return (f"your port takes the gate blocks of weight_ih, weight_hh, bias_ih and bias_hh in the "
            f"order {port}; nn.LSTM stores them as i, f, g, o: reorder their rows (or read the "
            f"blocks as i, f, g, o)"), [
        f"perm = np.concatenate([np.arange(k * H, (k + 1) * H) for k in {idx}])",
        "weight_ih, weight_hh = weight_ih[perm], weight_hh[perm]",
        "bias_ih, bias_hh = bias_ih[perm], bias_hh[perm]"]


def _bias_fix(value: str):
    mine, other = ("bias_ih", "bias_hh") if value.startswith("input") else ("bias_hh", "bias_ih")
    if value.endswith("twice"):
        return (f"your port adds {mine} twice and never {other}; nn.LSTM adds bias_ih + bias_hh "
                f"once each"), [f"{mine} = (bias_ih + bias_hh) / 2"]
    return (f"your port adds {mine} only and forgets {other}; nn.LSTM adds both "
            f"(W_ih x + bias_ih + W_hh h + bias_hh): add {other} too"), [
        f"{mine} = bias_ih + bias_hh   # or add {other} in the port"]


def _layout_fix(dim: str):
    name, v = ("weight_hh", "h") if dim == "recurrent" else ("weight_ih", "x")
    sub = "hg" if dim == "recurrent" else "ig"
    return (f"your port computes {v} @ W_{sub} with each gate block of {name} as stored; nn.LSTM "
            f"computes W_{sub} @ {v} ({v} @ W_{sub}.T): transpose each (H, H) block"), [
        f"{name} = np.concatenate([blk.T for blk in np.split({name}, 4)])"]


def _forget_fix(value: float, port_order: str):
    j = port_order.index("f")
    return (f"your port adds {value:g} to the forget gate's bias, which nn.LSTM does not: drop "
            f"the + {value:g}"), [f"bias_ih = bias_ih.copy(); bias_ih[{j} * H:{j + 1} * H] -= "
                                  f"{value!r}"]


def torch_fix(stored, hyp: Hypothesis, x_proc, subject: str = "your port") -> Fix:
    """:func:`core.fixes.make_fix` worded and written on nn.LSTM's arrays (module docstring)."""
    true = stored.true_reading.resolve(READINGS["cudnn"])
    H = stored.recurrent_kernel.shape[1] // 4
    faults = dict(hyp.faults)
    port_order = faults.get("order", true.gate_order)
    if (faults.get("kernel", true.kernel_layout) not in ("cudnn", "keras")
            or faults.get("recurrent", true.recurrent_layout) not in ("cudnn", "keras")
            or ("kernel" in faults and stored.kernel.shape[0] != H)):
        return make_fix(stored, hyp, x_proc, subject)   # a reshape: the stored form's words
    sentences, array_lines = [], [f"H = {H}   # hidden size"]
    for dim in sorted(faults, key=_fix_rank):
        if dim not in ARRAY_DIMS:
            continue
        value = faults[dim]
        sentence, lines = (_order_fix(value, true.gate_order) if dim == "order" else
                           _bias_fix(value) if dim == "bias" else
                           _forget_fix(value, port_order) if dim == "forget" else
                           _layout_fix(dim))
        sentences.append(subject + sentence[len("your port"):])
        array_lines += lines
    code = make_fix(stored, Hypothesis(tuple((d, v) for d, v in hyp.faults
                                             if d not in ARRAY_DIMS)), x_proc, subject)
    code_sentences = [code.sentence.rstrip(".")] if code.sentence else []
    code_lines = list(code.lines)
    projection = getattr(stored, "projection", None)
    w = read_stored(stored.kernel, stored.recurrent_kernel, stored.bias, true,
                    projection=projection)
    namespace = {"np": np, **dict(zip(NAMES, (np.array(a) for a in w.to_torch())))}
    exec("\n".join(array_lines), namespace)   # noqa: S102 -- our own generated lines, checked
    fixed = from_torch(*(namespace[n] for n in NAMES), weight_hr=projection).to_cudnn_keras()
    fixed = tuple(np.asarray(a, stored.kernel.dtype) for a in fixed)
    port_reading = replace(hyp.reading(true), recurrent_activation=stored.recurrent_activation)
    x64 = np.asarray(x_proc, np.float64)
    h_fixed = run_direction_from(read_stored(*fixed, port_reading, stored.activation,
                                             stored.recurrent_activation, projection),
                                 x64, dtype=np.float64).h
    h_true = run_direction_from(stored.read(), x64, dtype=np.float64).h
    sentence = "; and ".join(sentences + code_sentences)
    sentence = sentence[0].upper() + sentence[1:] + "." if sentence else ""
    lines = tuple((array_lines if len(array_lines) > 1 else []) + code_lines)
    return Fix(sentence, lines, not code_lines, float(np.abs(h_fixed - h_true).max()), fixed)
