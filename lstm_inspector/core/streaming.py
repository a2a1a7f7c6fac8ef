"""Streaming with carried state: a path run in chunks of N frames against its own one-call run.

A streaming deployment calls the LSTM on chunks of frames and carries each layer's final
``(h, c)`` into the next call. With the carry right, the chunked run equals the one-call run to
float32 noise at every step: chunk j starts where chunk j-1 ended,

    (h, c)_{start of chunk j} = (h, c)_{last step of chunk j-1}

A path is given as ``run_chunk(k, layer, x_chunk (n, in), h0 (H,), c0 (H,)) -> (hs (n, H), h, c)``:
layer k of the path run on n frames from (h0, c0), returning its output at every frame and
its final state. Chunks go through the chain layer by layer (for forward-running layers this is
exactly chunk-by-chunk streaming through the whole stack). Backward directions read the
future and cannot be streamed; such models are refused with a sentence.

Where the chunked run parts from the one-call run, the first step tells the story: at a chunk
boundary, the carry is wrong; inside a chunk, the path computes differently on short calls. At a
boundary the carry mistakes people make are replayed *with the path itself* from the state a
correct carry would pass: the state reset to zeros, h and c swapped, only h carried, only c
carried. The one that reproduces the chunked run is named in the verdict.

``carry`` plants a bug in the carry (``"reset"``: zeros at each chunk; ``"swap"``: ``(c, h)``
carried) so the check can be seen naming it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InspectorError

CARRIES = ("state", "reset", "swap")
# name -> the state a mistaken carry passes, from the right one (h, c)
MISTAKES = {
    "the state is reset to zeros at each chunk": lambda h, c: (0 * h, 0 * c),
    "h and c are swapped when carried": lambda h, c: (c, h),
    "only h is carried (c restarts from zeros)": lambda h, c: (h, 0 * c),
    "only c is carried (h restarts from zeros)": lambda h, c: (0 * h, c),
}


def check_streamable(model, chunk: int, steps: int) -> None:
    """An InspectorError sentence unless ``model.chain`` can be streamed in chunks of ``chunk``."""
    if chunk is None or chunk < 1:
        raise InspectorError(f"--chunk must be a positive number of frames, not {chunk}")
    for layer in model.chain:
        if layer.bidirectional or layer.go_backwards:
            raise InspectorError(
                f"layer '{layer.name}' reads the sequence backwards; a backward direction needs "
                f"the future frames and cannot be streamed chunk by chunk")
    if chunk >= steps:
        raise InspectorError(f"--chunk {chunk} is not shorter than the {steps} frames: there would "
                             f"be one chunk only")


def run_chunked(model, x, chunk: int, run_chunk, carry: str = "state") -> list:
    """Run ``model.chain`` on ``x`` (T, in) in chunks of ``chunk`` frames.

    Returns, per layer, ``(hs (T, H), inputs (T, in_k))``: the chunked outputs and the input the
    layer was fed (the chunked output of the layer below).
    """
    if carry not in CARRIES:
        raise InspectorError(f"unknown carry '{carry}' (known: {', '.join(CARRIES)})")
    layer_in = np.asarray(x, np.float32)
    out = []
    for k, layer in enumerate(model.chain):
        H = layer.units
        h, c = np.zeros(H, np.float32), np.zeros(H, np.float32)
        hs = np.empty((layer_in.shape[0], H), np.float32)
        for start in range(0, layer_in.shape[0], chunk):
            if start and carry == "reset":
                h, c = np.zeros(H, np.float32), np.zeros(H, np.float32)
            elif start and carry == "swap":
                h, c = c, h
            hs[start:start + chunk], h, c = run_chunk(k, layer, layer_in[start:start + chunk], h, c)
        out.append((hs, layer_in))
        layer_in = hs
    return out


@dataclass
class StreamReport:
    """The chunked run of a path against its one-call run.

    ``step_error[k]`` (T,): max over units of |h_chunked - h_one_call| of layer k;
    ``boundaries``: per chunk j > 0, ``{"chunk", "step", "layer", "at_boundary", "in_chunk"}``
    (the error at the chunk's first frame and its largest inside the chunk, worst layer);
    ``first``: ``(step, layer)`` where they first part, or None; ``mistake``: the carry mistake
    that reproduces the chunked run, or "".
    """

    label: str
    chunk: int
    steps: int
    layer_names: list
    step_error: list
    boundaries: list
    atol: float
    rtol: float
    first: tuple | None = None
    mistake: str = ""
    mistake_errors: dict = field(default_factory=dict)

    @property
    def agree(self) -> bool:
        return self.first is None

    @property
    def max_error(self) -> float:
        return max(float(e.max()) for e in self.step_error)

    @property
    def verdict(self) -> str:
        n_chunks = -(-self.steps // self.chunk)
        if self.agree:
            return (f"{self.label} in {n_chunks} chunks of {self.chunk} frames equals its one-call "
                    f"run at every step (largest |difference| {self.max_error:.2g}): (h, c) is "
                    f"carried correctly.")
        step, k = self.first
        where = f"step {step} (layer {k} '{self.layer_names[k]}')"
        if step % self.chunk:
            return (f"{self.label} in chunks of {self.chunk} parts from its one-call run at {where}, "
                    f"inside chunk {step // self.chunk}, not at a boundary: the carry is not the "
                    f"cause; the path computes differently when called on short chunks.")
        head = (f"{self.label} in chunks of {self.chunk} parts from its one-call run at {where}, "
                f"the first frame of chunk {step // self.chunk}: the state carried across the "
                f"boundary is wrong")
        if self.mistake:
            return head + f"; replaying the chunk shows {self.mistake}."
        return head + "; none of the usual carry mistakes (reset, swap, h or c only) reproduces it."

    def text(self) -> str:
        lines = [f"streaming check: {self.label}, {self.steps} frames in chunks of {self.chunk}",
                 f"tolerance: atol={self.atol:g} rtol={self.rtol:g}",
                 "chunk  first step  layer   |diff| at boundary  max |diff| in chunk"]
        for b in self.boundaries:
            lines.append(f"{b['chunk']:>5}  {b['step']:>10}  {b['layer']:>5}  "
                         f"{b['at_boundary']:>18.3g}  {b['in_chunk']:>19.3g}")
        for name, err in self.mistake_errors.items():
            lines.append(f"replayed, if {name}: |diff| {err:.3g}")
        lines.append(f"verdict: {self.verdict}")
        return "\n".join(lines)


def analyse(model, x, chunk: int, run_chunk, label: str, carry: str = "state", atol=1e-5,
            rtol=1e-4) -> StreamReport:
    """Run the path one call and chunked, compare per step and per boundary, name the mistake."""
    x = np.asarray(x, np.float32)
    T = x.shape[0]
    check_streamable(model, chunk, T)
    one = run_chunked(model, x, T, run_chunk)
    chunked = run_chunked(model, x, chunk, run_chunk, carry)
    errors, parted = [], []
    for (h1, _), (hc, _) in zip(one, chunked):
        diff = np.abs(hc - h1)  # (T, H)
        errors.append(diff.max(axis=1))
        parted.append(np.flatnonzero((diff > atol + rtol * np.abs(h1)).any(axis=1)))
    boundaries = []
    for start in range(chunk, T, chunk):
        stop = min(start + chunk, T)
        k = int(np.argmax([e[start:stop].max() for e in errors]))
        boundaries.append({"chunk": start // chunk, "step": start, "layer": k,
                           "at_boundary": float(errors[k][start]),
                           "in_chunk": float(errors[k][start:stop].max())})
    report = StreamReport(label, chunk, T, [layer.name for layer in model.chain], errors,
                          boundaries, atol, rtol)
    candidates = [(int(p[0]), k) for k, p in enumerate(parted) if p.size]
    if not candidates:
        return report
    report.first = min(candidates)
    step, k = report.first
    if step % chunk == 0:
        report.mistake, report.mistake_errors = _replay(model.chain[k], k, chunked[k], step, chunk,
                                                        run_chunk, atol, rtol)
    return report


def _replay(layer, k, chunked_layer, step, chunk, run_chunk, atol, rtol):
    """Which carry mistake, replayed by the path from the right state, gives the chunked run."""
    hs, layer_in = chunked_layer
    H = layer.units
    zeros = np.zeros(H, np.float32)
    _, h, c = run_chunk(k, layer, layer_in[:step], zeros, zeros.copy())  # the right carry
    window = layer_in[step:step + chunk]
    target = hs[step:step + chunk]
    errors = {}
    for name, mistake in MISTAKES.items():
        h0, c0 = mistake(h, c)
        replay, _, _ = run_chunk(k, layer, window, np.asarray(h0, np.float32),
                                 np.asarray(c0, np.float32))
        errors[name] = float(np.abs(replay - target).max())
    best = min(errors, key=errors.get)
    ok = errors[best] <= atol + rtol * float(np.abs(target).max())
    return (best if ok else ""), errors
