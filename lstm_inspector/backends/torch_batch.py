"""``torch-cpu`` on many utterances: a layer direction steps the whole batch at once.

The utterances of a batch go through each layer direction together, in *processing order*
(a backward direction's inputs already reversed), sorted longest first, on the kernel the
single run takes (oneDNN's, torch's CPU default), from zero states. Lengths differ, and
padding must never enter a state or hide the state an utterance ends in, so the batch is
packed by hand: with lengths ``T_0 >= T_1 >= ... >= T_{n-1}``, the steps ``T_{k} .. T_{k-1} - 1``
(those only the ``k`` longest still take) are one call on those ``k`` rows, from the ``(h, c)``
the previous call returned for them::

    call k:  out[0:k, lo:hi], (h, c)[0:k] = nn.LSTM(x[0:k, lo:hi], (h, c)[0:k])
             lo = T_k (0 for the shortest), hi = T_{k-1}: one call per distinct length

So an utterance's steps are exactly its own (no padded step is ever computed for it) and its
``(h_last, c_last)`` is the state the call ending at its length returned: what the single call
returns. That the numbers are the single call's, bit for bit, rests on two facts about oneDNN
on the CPU, both checked row by row by ``tests/test_sweep_batch.py``: a batch row is computed
as that sequence alone (batch-invariance), and a sequence split into consecutive calls with
the state carried gives one call's h (``torch_lstm.CPU_CALL_BYTES`` rests on it too).

Each utterance's trace is then built by ``torch_lstm.run`` itself, handed the calls made here:
the same c derivation, gates, checks and meta as one by one. Where an input differs from the
one batched (it never should), that call simply runs again.

Not batched (run one by one, as ``torch_lstm.run``): a model under a mask (its layers run on
the kept steps, whose number differs per utterance), and an utterance longer than one call of
the single run (``torch_lstm.call_steps``: that run splits it its own way), nor more utterances
than that one call's memory holds, padded to the longest (:func:`within_a_call`).
"""
from __future__ import annotations

import numpy as np

from ..core.reference import layer_output, model_mask


def run_batch(model, xs: list, tf32=None) -> list:
    """``[torch_lstm.run(model, x, "cpu", tf32) for x in xs]`` (each ``x`` checked, float32),
    the same traces, the batch's calls made together (module docstring)."""
    from .torch_lstm import call_steps, run, supports

    # a refused model (its reading, its activations) says so from run itself, one by one
    if (model.reading is not None or supports(model)
            or any(layer.cell != "lstm" or layer.proj_size for layer in model.chain)
            or any(model_mask(model, x) is not None for x in xs)):
        return [run(model, x, device="cpu", tf32=tf32) for x in xs]
    together = within_a_call(xs, min(call_steps(layer) for layer in model.chain))
    done = [{} for _ in xs]
    for j, calls in zip(together, batched_calls(model, [xs[j] for j in together])):
        done[j] = calls
    return [run(model, x, device="cpu", tf32=tf32, done=calls) for x, calls in zip(xs, done)]


def within_a_call(xs: list, steps: int) -> list:
    """Indices of the utterances batched: the shortest first while the batch, padded to its
    longest, holds at most ``steps`` steps (``torch_lstm.call_steps``: the memory one call of
    the single run may take); the others run alone, as one by one."""
    chosen = []
    for j in sorted(range(len(xs)), key=lambda j: len(xs[j])):
        if len(xs[j]) and (len(chosen) + 1) * len(xs[j]) <= steps:
            chosen.append(j)
    return sorted(chosen)


def batched_calls(model, xs: list) -> list:
    """Per utterance ``{(layer name, direction): (x_proc, h, (h_last, c_last))}``: every layer
    direction's calls, made for the whole batch at once (module docstring)."""
    import torch

    from .torch_lstm import _module

    if not xs:
        return []
    done = [{} for _ in xs]
    layer_ins = [np.ascontiguousarray(x, dtype=np.float32) for x in xs]
    order = sorted(range(len(xs)), key=lambda j: -len(xs[j]))      # longest first (stable)
    saved = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = True  # the one-call road's kernel (torch_lstm.run)
    try:
        chain = model.chain
        for k, layer in enumerate(chain):
            outputs = [{} for _ in xs]
            for direction in layer.directions:
                single = _module(torch, layer, (direction,), torch.device("cpu"))
                reverse = layer.processing_reversed(direction)
                x_procs = [layer_ins[j][::-1] if reverse else layer_ins[j] for j in order]
                out, last = packed_by_hand(torch, single, x_procs)
                for slot, j in enumerate(order):
                    T = len(x_procs[slot])
                    h = out[slot, :T]
                    done[j][(layer.name, direction)] = (x_procs[slot], h, last[slot])
                    outputs[j][direction] = _States(h[::-1] if reverse else h)
            if k + 1 < len(chain):
                layer_ins = [np.ascontiguousarray(layer_output(layer, outputs[j]), np.float32)
                             for j in range(len(xs))]
    finally:
        torch.backends.mkldnn.enabled = saved
    return done


def packed_by_hand(torch, lstm, x_procs: list) -> tuple:
    """``lstm`` (one direction) on ``x_procs`` (T_j, in), sorted longest first, from zeros:
    ``out`` (n, T_0, H) (row j valid up to T_j) and each row's ``(h_last, c_last)`` (H,), one
    call per distinct length on the rows still running (module docstring)."""
    n, H = len(x_procs), lstm.hidden_size
    lengths = [len(x) for x in x_procs]
    padded = np.zeros((n, lengths[0], x_procs[0].shape[1]), np.float32)
    for slot, x in enumerate(x_procs):
        padded[slot, :len(x)] = x
    out = np.empty((n, lengths[0], H), np.float32)
    last = [None] * n
    h = torch.zeros((1, n, H))
    c = torch.zeros((1, n, H))
    lo = 0
    with torch.no_grad():
        for k in range(n, 0, -1):                    # rows 0:k run steps lo:hi
            hi = lengths[k - 1]
            if hi > lo:
                x = torch.from_numpy(np.ascontiguousarray(padded[:k, lo:hi]))
                y, (h, c) = lstm(x, (h[:, :k].contiguous(), c[:, :k].contiguous()))
                out[:k, lo:hi] = y.numpy()
                lo = hi
            last[k - 1] = (h[0, k - 1].numpy().copy(), c[0, k - 1].numpy().copy())
    return out, last


class _States:
    """Just the ``h`` (input time) that ``layer_output`` reads."""

    def __init__(self, h):
        self.h = h


__all__ = ["run_batch", "batched_calls", "packed_by_hand", "within_a_call"]
