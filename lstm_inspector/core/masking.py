"""Keras's mask semantics for a recurrent layer, in NumPy.

A ``Masking(mask_value)`` layer before the LSTMs marks step t as *kept* when any feature of
x_t differs from the mask value (and zeroes the masked frames)::

    keep_t = any_j(x_tj != mask_value)            (T,) bool, True = the step runs
    x'_t   = x_t * keep_t

The mask travels up the chain unchanged. At a masked step Keras still evaluates the cell but
throws the result away: the state is carried, ``(h_t, c_t) = (h_{t-1}, c_{t-1})``. The output
sequence it returns (``return_sequences=True``), in processing order, is

    y_t = h_t                      at a kept step
    y_t = y_{t-1}   (y_{-1} = 0)   at a masked step, or 0 when ``zero_output_for_mask``

(``Bidirectional`` sets ``zero_output_for_mask`` on both halves when it returns sequences).
Dropping the masked steps and running the layer on the rest computes exactly the same states,
which is how a library without masks (cuDNN, ``nn.LSTM`` with holes in the mask) runs it:
:func:`kept_rows` and :func:`gathered` put the states back at input time.
"""
from __future__ import annotations

import numpy as np


def input_mask(x: np.ndarray, mask_value) -> np.ndarray:
    """(T,) bool, True where frame t has a feature other than ``mask_value`` (Keras's rule)."""
    return np.any(np.asarray(x) != np.asarray(mask_value, dtype=np.asarray(x).dtype), axis=1)


def masked_input(x: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``x`` with the masked frames zeroed, as ``Masking`` returns it."""
    return x * keep[:, None].astype(x.dtype)


def holes(keep: np.ndarray) -> bool:
    """True when a masked step comes before a kept one (not plain right padding)."""
    kept = np.flatnonzero(keep)
    return bool(kept.size) and kept[-1] + 1 != kept.size


def describe(keep: np.ndarray) -> str:
    """``'30 of 100 steps masked (steps 70-99)'`` style summary."""
    masked = np.flatnonzero(~keep)
    if not masked.size:
        return f"no step of {keep.size} is masked"
    runs, start = [], masked[0]
    for a, b in zip(masked[:-1], masked[1:]):
        if b != a + 1:
            runs.append((start, a))
            start = b
    runs.append((start, masked[-1]))
    shown = ", ".join(f"{s}" if s == e else f"{s}-{e}" for s, e in runs[:4])
    more = f" and {len(runs) - 4} more runs" if len(runs) > 4 else ""
    return f"{masked.size} of {keep.size} steps masked (steps {shown}{more})"


def carried_steps(keep: np.ndarray, reverse: bool, zero: bool = False) -> np.ndarray:
    """(T,) int: for each input-time step, the kept step (input time) whose state it holds:
    itself when kept, else the last kept step processed before it, or -1 (the initial state).
    ``zero``: -1 at every masked step (:func:`output_sources`' rule for the output sequence)."""
    keep = np.asarray(keep, bool)
    keep_proc = keep[::-1] if reverse else keep
    last = output_sources(keep_proc, zero)                        # processing order
    T = keep.size
    steps = np.where(last < 0, -1, T - 1 - last) if reverse else last
    return np.ascontiguousarray(steps[::-1]) if reverse else steps


def kept_rows(keep: np.ndarray, reverse: bool) -> np.ndarray:
    """(T,) int: :func:`carried_steps` as rows of the kept steps' arrays (``x[keep]``'s), -1
    for the initial state: ``state[t] = kept_state[kept_rows[t]]``."""
    steps = carried_steps(keep, reverse)
    rank = np.cumsum(keep) - 1
    return np.where(steps < 0, -1, rank[np.maximum(steps, 0)])


def gathered(rows: np.ndarray, index: np.ndarray, start) -> np.ndarray:
    """``rows[index]``, with ``start`` where index is -1 (a state before any kept step)."""
    if not len(rows):   # no kept step: every step holds the initial state
        return np.tile(np.asarray(start, rows.dtype), (len(index), 1))
    out = rows[np.maximum(index, 0)]
    out[index < 0] = start
    return out


def output_sources(keep_proc: np.ndarray, zero: bool) -> np.ndarray:
    """(T,) int: the processing-order step whose ``y`` :func:`masked_output` returns at each
    step, or -1 where it returns zeros: ``t`` at a kept step; at a masked one the last kept
    step before it (-1 when none), or -1 with ``zero``. Any rows of the output are then
    ``y[sources[lo:hi]]`` (zeros at -1), without the steps before ``lo``."""
    keep_proc = np.asarray(keep_proc, bool)
    steps = np.arange(keep_proc.size)
    if zero:
        return np.where(keep_proc, steps, -1)
    return np.maximum.accumulate(np.where(keep_proc, steps, -1)) if keep_proc.size else steps


def masked_output(y_proc: np.ndarray, keep_proc: np.ndarray, zero: bool) -> np.ndarray:
    """A direction's output sequence in processing order as Keras returns it (see above)."""
    if keep_proc.all():
        return y_proc
    y = y_proc.copy()
    prev = np.zeros(y.shape[1], y.dtype)
    for t in range(y.shape[0]):
        if keep_proc[t]:
            prev = y[t]
        else:
            y[t] = 0 if zero else prev
    return y
