"""Chunk runners for the streaming check (``core.streaming``), one per path that takes a state.

``numpy`` (the reference, ``core.reference.run_direction_from``), ``torch-cpu`` (``nn.LSTM``
called with ``(h0, c0)``) and ``onnx`` (a FILE: (each LSTM node of the file with
``initial_h`` / ``initial_c``, ``onnx_rt.NodeRunner``)) run one layer at a time:
``run_chunk(k, layer, x_chunk (n, in), h0, c0) -> (hs (n, H), h (H,), c (H,))``.
``tflite`` (a FILE) runs the whole file per chunk, as a phone does: its LSTM ops keep (h, c) in
variable tensors; the runner writes the carried state into them before each ``invoke`` (a
resize of the input, e.g. for a shorter last chunk, re-allocates and loses them otherwise) and
reads them back after it. ``paths.streaming.stream_check`` picks the runner of a path.
"""
from __future__ import annotations

import numpy as np

from ..core.reference import run_direction_from
from ..errors import InspectorError


def numpy_runner(model):
    weights = [layer.weights("forward") for layer in model.chain]

    def run_chunk(k, layer, x, h0, c0):
        lt = run_direction_from(weights[k], x, h0, c0)
        return lt.h, lt.h[-1], lt.c[-1]

    return run_chunk, "NumPy reference"


def torch_runner(model):
    import torch

    from .torch_lstm import _module

    modules = [_module(torch, layer, ("forward",), torch.device("cpu")) for layer in model.chain]

    def run_chunk(k, layer, x, h0, c0):
        with torch.no_grad():
            state = (torch.from_numpy(np.array(h0, np.float32)).view(1, 1, -1),
                     torch.from_numpy(np.array(c0, np.float32)).view(1, 1, -1))
            out, (h, c) = modules[k](torch.from_numpy(np.ascontiguousarray(x, np.float32))[None],
                                     state)
        return out[0].numpy(), h.view(-1).numpy(), c.view(-1).numpy()

    saved = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False  # torch's native CPU kernel, as the torch-cpu backend

    def restore():
        torch.backends.mkldnn.enabled = saved

    return run_chunk, "PyTorch nn.LSTM (CPU)", restore


def onnx_runner(model, path):
    from pathlib import Path

    from .onnx_rt import runners

    nodes = runners(model, path)

    def run_chunk(k, layer, x, h0, c0):
        hs, h, c = nodes[k].run(np.asarray(x, np.float32)[None], h0[None], c0[None])
        return hs[0], h[0], c[0]

    return run_chunk, f"ONNX Runtime ({Path(path).name})"


def tflite_runner(model, path):
    """``run_stack`` of a TFLite file: one invoke per chunk, the state set and read per op."""
    from pathlib import Path

    from .tflite_rt import STATE_INPUTS, _match_ops, interpreter

    it = interpreter(path)
    inp = it.get_input_details()[0]["index"]
    it.resize_tensor_input(inp, [1, 1, model.input_size])
    it.allocate_tensors()
    ops = _match_ops(it, model)
    ops = [ops[(k, "forward")] for k in range(len(model.chain))]

    def run_stack(x, state):
        it.resize_tensor_input(inp, [1, x.shape[0], x.shape[1]])
        it.allocate_tensors()
        for op, (h, c) in zip(ops, state):
            it.set_tensor(op["inputs"][STATE_INPUTS[0]], np.asarray(h, np.float32)[None])
            it.set_tensor(op["inputs"][STATE_INPUTS[1]], np.asarray(c, np.float32)[None])
        it.set_tensor(inp, np.ascontiguousarray(x, np.float32)[None])
        it.invoke()
        outputs = [it.get_tensor(op["outputs"][0])[0].copy() for op in ops]
        state = [tuple(it.get_tensor(op["inputs"][i]).reshape(-1).copy() for i in STATE_INPUTS)
                 for op in ops]
        return outputs, state

    return run_stack, f"TFLite interpreter ({Path(path).name})"


def runner(model, kind: str, file=None) -> tuple:
    """``(run_chunk, run_stack, label, restore)`` of runner ``kind`` (``"numpy"``,
    ``"torch-cpu"``, ``"onnx"`` or ``"tflite"`` with its ``file``): one of run_chunk (layer by
    layer) and run_stack (the whole file per chunk) is None; restore (or None) undoes what the
    runner set up. Which path streams with which runner is the registry's (``paths.streaming``)."""
    if kind == "numpy":
        run_chunk, label = numpy_runner(model)
        return run_chunk, None, label, None
    if kind == "torch-cpu":
        from . import _reason

        if _reason("torch-cpu"):
            raise InspectorError(f"backend torch-cpu is not available ({_reason('torch-cpu')})")
        run_chunk, label, restore = torch_runner(model)
        return run_chunk, None, label, restore
    if kind == "onnx":
        run_chunk, label = onnx_runner(model, file)
        return run_chunk, None, label, None
    run_stack, label = tflite_runner(model, file)
    return None, run_stack, label, None
