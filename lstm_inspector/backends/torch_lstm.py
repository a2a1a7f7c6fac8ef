"""``torch-cpu`` / ``torch-cuda``: PyTorch ``nn.LSTM``, a second road to the cuDNN kernel.

``nn.LSTM`` holds cuDNN's canonical layout, so the file's weights go in as
``layer.weights(direction).to_torch()`` (``weight_ih (4H, in)``, ``weight_hh (4H, H)``,
``bias_ih``, ``bias_hh``; gate order i, f, g, o). On a GPU it runs the same cuDNN LSTM kernel
as CuDNNLSTM. An ``nn.LSTM(proj_size=P)`` checkpoint runs as itself: the module is built with
``proj_size`` and gets ``weight_hr`` too (h is P wide; c, H wide, is derived as for any LSTM:
its gates need only the measured ``h_{t-1}`` and ``x_t``).

Two roads (``trace.meta["road"]``):

* ``one-call`` (the default): each layer direction is one call over the whole sequence, as the
  model runs it (on a GPU with TF32 as the flags say: a one-step call does not take the
  tensor-core path, so only this road sees TF32). h is measured at every step; cuDNN returns c
  for the last step only, so c and the gates are *derived* from the measured h
  (``common.one_call_direction``), and the c the call returned checks the derivation. Where
  cuDNN refuses the length (``CUDNN_STATUS_NOT_SUPPORTED`` beyond 65,535 steps), the call is
  split into chunks, state carried, and a note says so. On the CPU the call runs on oneDNN's
  kernel (torch's default).
* ``stepped`` (``stepped=True``, ``--stepped``): one call per step from the previous (h, c),
  so c is measured at every step -> provenance ``"stepped"`` for both (one trajectory); the
  one-call h is kept as a finding (``meta["one_call_gap"]``, ``common.stepped_direction``).
  On the CPU the stepping runs torch's native kernel (oneDNN builds its kernel on every call).

cuDNN and ``nn.LSTM`` compute only ``sigmoid`` gates and ``tanh`` cell activations; a layer
with anything else (``hard_sigmoid``, ``relu``) is refused with its name.
"""
from __future__ import annotations

import numpy as np

from ..errors import InspectorError
from .common import (STEPPED, base_meta, cudnn_activation_problem, float32, one_call_direction,
                     record_one_call, record_one_call_gap, refuse_reading, run_chain,
                     stepped_direction, steps_in_input_time, torch_input)
from .gru_backends import cell_words, torch_gru, torch_gru_call, torch_gru_problem

NAMES = {"cpu": "torch-cpu", "cuda": "torch-cuda"}
STEP_REPORT_EVERY = 256  # steps between progress calls while stepping
#: Bytes one call of oneDNN's kernel may hold on the CPU: its input, gate workspace and output,
#: about (in + 5H) float32 a step (an hour of 2 x Bi(128) in one call holds 1.1 GB). A longer
#: call runs as consecutive calls, each from the (h, c) the previous returned: the recurrence
#: is the same, and oneDNN's h is bit for bit that of one call (tests/test_long_memory.py
#: checks it on this machine's CPU). On a GPU the call is never split (cuDNN's kernels and
#: TF32 depend on the call).
CPU_CALL_BYTES = 256 * 2 ** 20


def call_steps(layer) -> int:
    """Steps of one oneDNN call on the CPU within ``CPU_CALL_BYTES``."""
    return max(1, CPU_CALL_BYTES // (4 * (layer.input_size + 5 * layer.units)))


def supports(model) -> str:
    """"" when every chain layer is a tanh/sigmoid LSTM (or reset_after GRU: ``nn.GRU``), else
    the sentence saying which is not."""
    return cudnn_activation_problem(model, "torch's nn.LSTM") or torch_gru_problem(model)


def _set_direction(lstm, suffix: str, weights, torch) -> None:
    """Copy canonical weights into ``nn.LSTM`` parameters ``*_l0{suffix}`` (in place)."""
    for name, array in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights.to_torch()):
        getattr(lstm, f"{name}_l0{suffix}").copy_(torch.from_numpy(float32(array)))
    if weights.weight_hr is not None:
        getattr(lstm, f"weight_hr_l0{suffix}").copy_(torch.from_numpy(float32(weights.weight_hr)))


def _module(torch, layer, directions, device):
    """An ``nn.LSTM`` (bidirectional when two directions are given) holding ``directions``."""
    lstm = torch.nn.LSTM(layer.input_size, layer.units, batch_first=True,
                         bidirectional=len(directions) == 2,
                         proj_size=layer.proj_size or 0).to(device)
    with torch.no_grad():
        for direction, suffix in zip(directions, ("", "_reverse")):
            _set_direction(lstm, suffix, layer.weights(direction), torch)
    lstm.flatten_parameters()
    return lstm


def _state(torch, states, device):
    """``(h0, c0)`` for ``nn.LSTM``: each (directions, batch 1, H), from ``[(h0, c0)]``."""
    h = torch.from_numpy(np.stack([float32(h0) for h0, _ in states])[:, None]).to(device)
    c = torch.from_numpy(np.stack([float32(c0) for _, c0 in states])[:, None]).to(device)
    return h, c


def _step(torch, lstm, x_proc: np.ndarray, device, report=None, start=None):
    """Run ``lstm`` one step at a time over ``x_proc`` (T, in) from ``start`` = (h0, c0) (H,):
    h, c (T, H) in processing order."""
    T, H = x_proc.shape[0], lstm.hidden_size
    P = lstm.proj_size or H  # h's width
    xs = torch.from_numpy(float32(x_proc)).to(device).view(T, 1, 1, -1)  # (T, batch 1, time 1, in)
    hs = torch.empty((T, P), device=device)
    cs = torch.empty((T, H), device=device)
    h, c = _state(torch, [start or (np.zeros(P), np.zeros(H))], device)  # (dirs 1, batch 1, H)
    with torch.no_grad():
        for t in range(T):
            _, (h, c) = lstm(xs[t], (h, c))
            hs[t] = h[0, 0]
            cs[t] = c[0, 0]
            if report is not None and t % STEP_REPORT_EVERY == 0:
                report(t / T)
    return hs.cpu().numpy(), cs.cpu().numpy()


def length_refused(exc) -> bool:
    """Whether ``exc`` is torch / cuDNN refusing a call (its length, or memory for it): the
    one-call road then retries on shorter chunks (``common.one_call_direction``)."""
    text = str(exc)
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "CUDNN_STATUS" in text or "cuDNN error" in text or "out of memory" in text.lower()
        or "can't allocate memory" in text
        or isinstance(exc, MemoryError))


def _one_call(torch, single, dev, steps=None, done=None):
    """``run_call`` for ``common.one_call_direction``: ``single()`` (a one-direction
    ``nn.LSTM``, made when first needed) on a chunk from a state; ``steps``: at most that many
    steps a library call, the state carried from one to the next (``CPU_CALL_BYTES``).

    ``done``: ``(x_proc, h, (h_last, c_last))``, this direction's call already made on the
    whole sequence from zeros (in a batch, ``backends.torch_batch``): returned when the chunk
    asked for is exactly that input, else the call runs."""
    def run_call(x_rows, state, lo, hi, out):
        if (done is not None and lo == 0 and hi == len(done[0]) and not np.any(state[0])
                and not np.any(state[1]) and np.array_equal(x_rows, done[0])):
            return done[1], done[2], None
        module = single()
        n = len(x_rows)
        size = min(steps or n, n) or 1
        hc = _state(torch, [state], dev)
        copies = []
        with torch.no_grad():
            for s in range(0, n, size):
                piece = torch.from_numpy(torch_input(x_rows[s:s + size], copies))
                y, hc = module(piece.to(dev)[None], hc)
                out[s:s + size] = y[0].cpu().numpy()   # h: P wide if projected
                del y, piece
        h, c = hc
        return None, (h[0, 0].cpu().numpy(), c[0, 0].cpu().numpy()), None
    return run_call


def _tf32_flags(torch) -> dict:
    flags = {"cudnn.allow_tf32": bool(torch.backends.cudnn.allow_tf32),
             "cuda.matmul.allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32)}
    rnn = getattr(torch.backends.cudnn, "rnn", None)
    if rnn is not None and hasattr(rnn, "fp32_precision"):
        flags["cudnn.rnn.fp32_precision"] = str(rnn.fp32_precision)
    return flags


def run(model, x: np.ndarray, device: str = "cpu", tf32=None, progress=None,
        initial_state=None, stepped: bool = False, done: dict | None = None):
    """Run ``model.chain`` on x (T, in) float32 with ``nn.LSTM`` on ``device`` ("cpu" or "cuda").

    ``tf32`` (cuda only): True / False sets ``torch.backends.cudnn.allow_tf32`` and
    ``torch.backends.cuda.matmul.allow_tf32`` for the run (restored after); None keeps
    torch's defaults. The state in force is reported in ``trace.meta``. ``stepped``: take the
    stepped road (c measured at every step) instead of the one-call road (module docstring).
    ``done``: ``{(layer name, direction): (x_proc, h, (h_last, c_last))}``, calls a batch made
    already (``backends.torch_batch``); one whose input differs from this run's runs again.
    """
    refuse_reading(model)
    problem = supports(model)
    if problem:
        raise InspectorError(f"{problem}; run it with backend tf-cpu or numpy")
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise InspectorError("torch sees no CUDA GPU here; use backend torch-cpu")
    dev = torch.device(device)
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    saved_onednn = torch.backends.mkldnn.enabled
    try:
        versions = {"torch": torch.__version__}
        if device == "cuda":
            if tf32 is not None:
                torch.backends.cudnn.allow_tf32 = bool(tf32)
                torch.backends.cuda.matmul.allow_tf32 = bool(tf32)
            versions["cudnn"] = str(torch.backends.cudnn.version())
            versions["cuda"] = str(torch.version.cuda)
            flags = _tf32_flags(torch)
            meta = base_meta(NAMES[device], torch.cuda.get_device_name(dev),
                             flags["cudnn.allow_tf32"], versions)
            meta["tf32_flags"] = flags
            meta["tf32_source"] = "given" if tf32 is not None else "torch's default"
            label = (f"PyTorch nn.LSTM (cuDNN on {meta['device']}, "
                     f"TF32 {'on' if meta['tf32'] else 'off'})")
            kernel = "cuDNN (nn.LSTM)"
        else:
            meta = base_meta(NAMES[device], "CPU", "n/a", versions)
            if tf32 is not None:
                meta["notes"].append("TF32 applies to GPU backends only; ignored on the CPU")
            label = "PyTorch nn.LSTM (CPU)"
            # one call: oneDNN's kernel (torch's default, what a user's model runs); stepping:
            # torch's native kernel (oneDNN builds its kernel on every call, 2.5 ms a step)
            # oneDNN has no projection: torch runs proj_size on its native kernel (and warns)
            projected = any(layer.proj_size for layer in model.chain)
            torch.backends.mkldnn.enabled = not stepped and not projected
            kernel = ("nn.LSTM (oneDNN's kernel)" if not (stepped or projected) else
                      "nn.LSTM (native kernel)" if not projected else
                      "nn.LSTM (native kernel: oneDNN has no proj_size)")
        label, kernel = cell_words(model, label), cell_words(model, kernel)
        stepped_gap, checks, lengths = [], [], {}

        def run_layer(layer, layer_in, part, start, keep):
            states = {}
            for n, direction in enumerate(layer.directions):
                if part is not None:
                    part(n / len(layer.directions),
                         f"{label}: layer {layer.name} {direction}, one call")
                if layer.cell == "gru":   # nn.GRU: h is its whole state, the one call gives it
                    states[direction] = one_call_direction(
                        layer, layer_in, direction, start[direction],
                        torch_gru_call(torch, torch_gru(torch, layer, direction, dev), dev),
                        length_refused, lengths, checks)
                    continue
                made = []

                def single(layer=layer, direction=direction, made=made):
                    if not made:
                        made.append(_module(torch, layer, (direction,), dev))
                    return made[0]
                steps = call_steps(layer) if device == "cpu" else None
                if steps is not None and steps < len(layer_in):
                    meta["call_steps"] = min(meta.get("call_steps", steps), steps)
                h, c, how = one_call_direction(
                    layer, layer_in, direction, start[direction],
                    _one_call(torch, single, dev, steps,
                              (done or {}).get((layer.name, direction))),
                    length_refused, lengths, checks)
                if not stepped:
                    states[direction] = (h, c, how)
                    continue
                states[direction] = stepped_direction(
                    layer, layer_in, direction, n, h,
                    lambda x_proc, report, single=single, d=direction: _step(
                        torch, single(), x_proc, dev, report, start[d]),
                    part, label, stepped_gap)
            return states

        trace = run_chain(model, x, run_layer, meta, label, progress, initial_state)
        if stepped and not stepped_gap:   # GRUs only: h is the whole state, nothing to step
            meta["notes"].append("a GRU's state is h alone, which the one call measures at every "
                                 "step: it was not stepped")
            record_one_call(meta, checks, lengths, kernel)
        elif stepped:
            steps_in_input_time(stepped_gap, trace.mask)
            record_one_call_gap(meta, stepped_gap, kernel)
            meta["road"] = STEPPED
        else:
            record_one_call(meta, checks, lengths, kernel)
            if meta.get("call_steps"):
                meta["notes"].append(
                    f"{kernel} ran each direction as consecutive calls of at most "
                    f"{meta['call_steps']} steps, each from the (h, c) the previous returned "
                    f"(memory: {CPU_CALL_BYTES // 2 ** 20} MiB a call); the same recurrence, "
                    f"bit for bit one call's h on the CPUs measured")
        return trace
    finally:
        if device == "cuda":
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
        torch.backends.mkldnn.enabled = saved_onednn
