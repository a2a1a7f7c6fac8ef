"""``torch-cpu`` on many utterances: one ``nn.LSTM`` call per layer direction per length.

Utterances of the same length T go through each layer direction as one (B, T, in) batch, from
zero states, on the kernel the single run takes (oneDNN's, torch's CPU default). Equal lengths
mean nothing is padded, so no padding can enter a state, and oneDNN computes each batch row as
it computes that utterance alone (``tests/test_sweep_batch.py`` checks it, bit for bit, row by
row). Each utterance's trace is then built by ``torch_lstm.run`` itself, handed the calls made
here: the same c derivation, gates, checks and meta as one by one. Where an input differs from
the one batched (it never should), that call simply runs again.

Not batched (run one by one, as ``torch_lstm.run``): a model under a mask (its layers run on
the kept steps, whose number differs per utterance).
"""
from __future__ import annotations

import numpy as np

from ..core.reference import layer_output, model_mask


def run_batch(model, xs: list, tf32=None) -> list:
    """``[torch_lstm.run(model, x, "cpu", tf32) for x in xs]`` (each ``x`` checked, float32),
    the same traces, equal lengths run together."""
    from .torch_lstm import run, supports

    # a refused model (its reading, its activations) says so from run itself, one by one
    if (model.reading is not None or supports(model)
            or any(layer.cell != "lstm" or layer.proj_size for layer in model.chain)
            or any(model_mask(model, x) is not None for x in xs)):
        return [run(model, x, device="cpu", tf32=tf32) for x in xs]
    done = batched_calls(model, xs)
    return [run(model, x, device="cpu", tf32=tf32, done=calls) for x, calls in zip(xs, done)]


def batched_calls(model, xs: list) -> list:
    """Per utterance ``{(layer name, direction): (x_proc, h, (h_last, c_last))}``: every layer
    direction's one call, made for each length's utterances at once (processing order)."""
    import torch

    from .torch_lstm import _module, _state

    done = [{} for _ in xs]
    layer_ins = [np.ascontiguousarray(x, dtype=np.float32) for x in xs]
    by_length = {}
    for j, x in enumerate(layer_ins):
        by_length.setdefault(len(x), []).append(j)
    saved = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = True  # the one-call road's kernel (torch_lstm.run)
    try:
        chain = model.chain
        for k, layer in enumerate(chain):
            outputs = [{} for _ in xs]
            for direction in layer.directions:
                single = _module(torch, layer, (direction,), torch.device("cpu"))
                reverse = layer.processing_reversed(direction)
                zero = (np.zeros(layer.units, np.float32),) * 2
                for js in by_length.values():
                    x_proc = np.stack([layer_ins[j][::-1] if reverse else layer_ins[j]
                                       for j in js])                            # (B, T, in)
                    h0, c0 = _state(torch, [zero], "cpu")                        # (1, 1, H)
                    state = (h0.expand(1, len(js), -1).contiguous(),
                             c0.expand(1, len(js), -1).contiguous())
                    with torch.no_grad():
                        out, (h, c) = single(torch.from_numpy(x_proc), state)
                    out, h, c = out.numpy(), h[0].numpy(), c[0].numpy()
                    for b, j in enumerate(js):
                        done[j][(layer.name, direction)] = (x_proc[b], out[b], (h[b], c[b]))
                        outputs[j][direction] = _States(out[b][::-1] if reverse else out[b])
            if k + 1 < len(chain):
                layer_ins = [np.ascontiguousarray(layer_output(layer, outputs[j]), np.float32)
                             for j in range(len(xs))]
    finally:
        torch.backends.mkldnn.enabled = saved
    return done


class _States:
    """Just the ``h`` (input time) that ``layer_output`` reads."""

    def __init__(self, h):
        self.h = h


__all__ = ["run_batch", "batched_calls"]
