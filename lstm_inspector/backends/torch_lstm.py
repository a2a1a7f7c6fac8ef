"""``torch-cpu`` / ``torch-cuda``: PyTorch ``nn.LSTM``, a second road to the cuDNN kernel.

``nn.LSTM`` holds cuDNN's canonical layout, so the file's weights go in as
``layer.weights(direction).to_torch()`` (``weight_ih (4H, in)``, ``weight_hh (4H, H)``,
``bias_ih``, ``bias_hh``; gate order i, f, g, o). On a GPU it runs the same cuDNN LSTM kernel
as CuDNNLSTM. cuDNN (and torch's CPU kernel) return c for the last step only, so h and c at
every step are measured by *stepping*: one call per step, each starting from the (h, c) the
previous call returned -> provenance ``"stepped"`` for both (one trajectory: h and c must
belong together). The one-call h is compared with the stepped h and their gap goes into the
notes and ``meta["one_call_gap"]`` (see ``common.stepped_direction``).

cuDNN and ``nn.LSTM`` compute only ``sigmoid`` gates and ``tanh`` cell activations; a layer
with anything else (``hard_sigmoid``, ``relu``) is refused with its name.
"""
from __future__ import annotations

import numpy as np

from ..errors import InspectorError
from .common import (STEP_EVERY_STEP_MAX, base_meta, checkpoint_note, checkpointed_direction,
                     cudnn_activation_problem, float32, record_one_call_gap, refuse_reading,
                     run_chain, stepped_direction, steps_in_input_time)

NAMES = {"cpu": "torch-cpu", "cuda": "torch-cuda"}
STEP_REPORT_EVERY = 256  # steps between progress calls while stepping


def supports(model) -> str:
    """"" when every chain layer is a tanh/sigmoid LSTM, else the sentence saying which is not."""
    return cudnn_activation_problem(model, "torch's nn.LSTM")


def _set_direction(lstm, suffix: str, weights, torch) -> None:
    """Copy canonical weights into ``nn.LSTM`` parameters ``*_l0{suffix}`` (in place)."""
    for name, array in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights.to_torch()):
        getattr(lstm, f"{name}_l0{suffix}").copy_(torch.from_numpy(float32(array)))


def _module(torch, layer, directions, device):
    """An ``nn.LSTM`` (bidirectional when two directions are given) holding ``directions``."""
    lstm = torch.nn.LSTM(layer.input_size, layer.units, batch_first=True,
                         bidirectional=len(directions) == 2).to(device)
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
    xs = torch.from_numpy(float32(x_proc)).to(device).view(T, 1, 1, -1)  # (T, batch 1, time 1, in)
    hs = torch.empty((T, H), device=device)
    cs = torch.empty((T, H), device=device)
    h, c = _state(torch, [start or (np.zeros(H), np.zeros(H))], device)  # (dirs 1, batch 1, H)
    for t in range(T):
        _, (h, c) = lstm(xs[t], (h, c))
        hs[t] = h[0, 0]
        cs[t] = c[0, 0]
        if report is not None and t % STEP_REPORT_EVERY == 0:
            report(t / T)
    return hs.cpu().numpy(), cs.cpu().numpy()


def _checkpointed_layer(torch, layer, layer_in, dev, part, label, checks) -> dict:
    """A long layer: each direction in chunks (``common.checkpointed_direction``).

    On the CPU the chunks run on oneDNN's LSTM kernel (torch's default): it builds its kernel on
    every call (2.5 ms), which one call per step cannot afford but a chunk of 1024 steps can, and
    it then runs 15x faster than torch's native kernel here (0.4 s against 6 s for 20,000 steps
    at H = 128). ``run`` restores the setting."""
    if dev.type == "cpu":
        torch.backends.mkldnn.enabled = True
    states = {}
    directions = tuple(layer.directions)
    for n, direction in enumerate(directions):
        if part is not None:
            part(n / len(directions), f"{label}: layer {layer.name} {direction}, in chunks")
        single = _module(torch, layer, (direction,), dev)

        def run_chunk(x_chunk, state, single=single):
            with torch.no_grad():
                out, (h, c) = single(torch.from_numpy(x_chunk).to(dev)[None], state)
            return out[0].cpu().numpy(), (h[0, 0].cpu().numpy(), c[0, 0].cpu().numpy()), (h, c)

        states[direction] = checkpointed_direction(layer, layer_in, direction, run_chunk, checks)
    return states


def _tf32_flags(torch) -> dict:
    flags = {"cudnn.allow_tf32": bool(torch.backends.cudnn.allow_tf32),
             "cuda.matmul.allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32)}
    rnn = getattr(torch.backends.cudnn, "rnn", None)
    if rnn is not None and hasattr(rnn, "fp32_precision"):
        flags["cudnn.rnn.fp32_precision"] = str(rnn.fp32_precision)
    return flags


def run(model, x: np.ndarray, device: str = "cpu", tf32=None, progress=None,
        initial_state=None):
    """Run ``model.chain`` on x (T, in) float32 with ``nn.LSTM`` on ``device`` ("cpu" or "cuda").

    ``tf32`` (cuda only): True / False sets ``torch.backends.cudnn.allow_tf32`` and
    ``torch.backends.cuda.matmul.allow_tf32`` for the run (restored after); None keeps
    torch's defaults. The state in force is reported in ``trace.meta``.
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
            label = (f"PyTorch nn.LSTM (cuDNN on {meta['device']}, "
                     f"TF32 {'on' if meta['tf32'] else 'off'})")
        else:
            # oneDNN's LSTM builds its kernel on every call: 2.5 ms a step at H=128 against
            # 0.2 ms for torch's own CPU kernel. Both the one call and the stepping use the
            # latter (they still differ in the last bits: the one call's input GEMM).
            torch.backends.mkldnn.enabled = False
            meta = base_meta(NAMES[device], "CPU", "n/a", versions)
            meta["notes"].append("ran torch's native CPU LSTM kernel (oneDNN off) for the one call "
                                 "and the stepping")
            if tf32 is not None:
                meta["notes"].append("TF32 applies to GPU backends only; ignored on the CPU")
            label = "PyTorch nn.LSTM (CPU)"
        stepped_gap, checks = [], []

        def run_layer(layer, layer_in, part, start, keep):
            H, directions = layer.units, tuple(layer.directions)
            if layer_in.shape[0] > STEP_EVERY_STEP_MAX:
                if any(np.any(h0) or np.any(c0) for h0, c0 in start.values()):
                    raise InspectorError(
                        f"torch-cpu runs inputs longer than {STEP_EVERY_STEP_MAX} steps in chunks "
                        f"from zero states only; with --initial-state use backend tf-cpu or numpy")
                return _checkpointed_layer(torch, layer, layer_in, dev, part, label, checks)
            with torch.no_grad():
                if part is not None:
                    part(0.0, f"{label}: layer {layer.name}, all steps at once")
                lstm = _module(torch, layer, directions, dev)
                x_fed = float32(layer_in[::-1] if layer.go_backwards else layer_in)  # (T, in)
                out, _ = lstm(torch.from_numpy(x_fed).to(dev)[None],
                              _state(torch, [start[d] for d in directions], dev))  # (1, T, dirs*H)
                out = out[0].cpu().numpy()
                if layer.go_backwards:  # fed time -> input time
                    out = out[::-1]
                states = {}
                for n, direction in enumerate(directions):
                    h = out[:, n * H:(n + 1) * H]
                    single = _module(torch, layer, (direction,), dev)
                    states[direction] = stepped_direction(
                        layer, layer_in, direction, n, h,
                        lambda x_proc, report, single=single, d=direction: _step(
                            torch, single, x_proc, dev, report, start[d]),
                        part, label, stepped_gap)
            return states

        trace = run_chain(model, x, run_layer, meta, label, progress, initial_state)
        steps_in_input_time(stepped_gap, trace.mask)
        if stepped_gap:
            record_one_call_gap(meta, stepped_gap, "nn.LSTM")
        if checks:
            meta["checkpoint_checks"] = checks
            kernel = "nn.LSTM (oneDNN's kernel)" if device == "cpu" else "nn.LSTM"
            if device == "cpu" and not stepped_gap:  # no layer took the native road
                meta["notes"] = [n for n in meta["notes"] if "native CPU LSTM kernel" not in n]
            meta["notes"].append(checkpoint_note(checks, kernel))
        return trace
    finally:
        if device == "cuda":
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
        torch.backends.mkldnn.enabled = saved_onednn
