"""Chunk runners for the streaming check (``core.streaming``), one per path that takes a state.

``numpy`` (the reference, ``core.reference.run_direction_from``), ``torch-cpu`` (``nn.LSTM``
called with ``(h0, c0)``) and ``onnx:FILE`` (each LSTM node of the file with
``initial_h`` / ``initial_c``, ``onnx_rt.NodeRunner``) run one layer at a time:
``run_chunk(k, layer, x_chunk (n, in), h0, c0) -> (hs (n, H), h (H,), c (H,))``.
``tflite:FILE`` runs the whole file per chunk, as a phone does: its LSTM ops keep (h, c) in
variable tensors; the runner writes the carried state into them before each ``invoke`` (a
resize of the input, e.g. for a shorter last chunk, re-allocates and loses them otherwise) and
reads them back after it.
"""
from __future__ import annotations

import numpy as np

from ..core.reference import check_input, run_direction_from
from ..errors import InspectorError

STREAMING_PATHS = ("numpy", "torch-cpu", "onnx:FILE", "tflite:FILE")


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


def stream_check(model, x, backend: str = "numpy", chunk: int = 0, bug=None, atol=None, rtol=None):
    """Run path ``backend`` on ``x`` in chunks of ``chunk`` frames and against its one-call run.

    Parameters
    ----------
    model : core.model.Model with forward-running layers only.
    x : (T, in) features.
    backend : ``"numpy"`` (also ``"auto"``), ``"torch-cpu"``, ``"onnx:FILE"`` or ``"tflite:FILE"``.
    bug : None, ``"reset"`` or ``"swap"``: plant that carry mistake (to see it named).

    Returns
    -------
    core.streaming.StreamReport
    """
    from ..core.streaming import analyse, check_streamable, stack_of_layers

    x = check_input(model, x)
    check_streamable(model, chunk, x.shape[0])
    restore = None
    if backend in ("numpy", "auto"):
        run_chunk, label = numpy_runner(model)
    elif backend == "torch-cpu":
        from . import _reason

        if _reason("torch-cpu"):
            raise InspectorError(f"backend torch-cpu is not available ({_reason('torch-cpu')})")
        run_chunk, label, restore = torch_runner(model)
    elif backend.startswith("onnx:"):
        run_chunk, label = onnx_runner(model, backend.split(":", 1)[1])
    elif backend.startswith("tflite:"):
        run_chunk = None
        run_stack, label = tflite_runner(model, backend.split(":", 1)[1])
    else:
        raise InspectorError(f"the streaming check runs on {', '.join(STREAMING_PATHS)}, not "
                             f"'{backend}'")
    try:
        if run_chunk is not None:
            run_stack = stack_of_layers(model, run_chunk)
        return analyse(model, x, chunk, run_stack, label, carry=bug or "state",
                       atol=1e-5 if atol is None else atol, rtol=1e-4 if rtol is None else rtol)
    finally:
        if restore is not None:
            restore()
