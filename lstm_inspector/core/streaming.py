"""Streaming with carried state: a path run in chunks of N frames against its own one-call run.

A streaming deployment calls the LSTM on chunks of frames and carries each layer's final
``(h, c)`` into the next call. With the carry right, the chunked run equals the one-call run to
float32 noise at every step: chunk j starts where chunk j-1 ended,

    (h, c)_{start of chunk j} = (h, c)_{last step of chunk j-1}

A path is given as ``run_stack(x_chunk (n, in), state) -> (outputs, state)``: the whole chain
of the path run on n frames from ``state`` (per layer ``(h (H,), c (H,))``), returning each
layer's output at every frame ``[(n, H_k)]`` and the state after the last frame. A path that
runs one layer at a time is made into one with :func:`stack_of_layers`. Backward directions
read the future and cannot be streamed; such models are refused with a sentence.

Where the chunked run parts from the one-call run, the first step tells the story: at a chunk
boundary, the carry is wrong; inside a chunk, the path computes differently on short calls. At a
boundary the carry mistakes people make are replayed *with the path itself* from the state a
correct carry would pass: the state reset to zeros, h and c swapped, only h carried, only c
carried (in every layer). The one that reproduces the chunked run is named in the verdict.

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
        if layer.cell == "gru":
            raise InspectorError(f"layer '{layer.name}' is a GRU; streaming runs LSTM layers only "
                                 f"(compare runs GRUs on the whole sequence)")
        if layer.bidirectional or layer.go_backwards:
            raise InspectorError(
                f"layer '{layer.name}' reads the sequence backwards; a backward direction needs "
                f"the future frames and cannot be streamed chunk by chunk")
    if chunk >= steps:
        raise InspectorError(f"--chunk {chunk} is not shorter than the {steps} frames: there would "
                             f"be one chunk only")


def zero_state(model) -> list:
    """Per chain layer ``(h, c)`` of zeros: where every stream starts."""
    return [(np.zeros(layer.out_units, np.float32), np.zeros(layer.units, np.float32))
            for layer in model.chain]


def stack_of_layers(model, run_chunk):
    """``run_stack`` from ``run_chunk(k, layer, x (n, in), h0, c0) -> (hs (n, H), h, c)``."""

    def run_stack(x, state):
        outputs, new_state = [], []
        for k, layer in enumerate(model.chain):
            x, h, c = run_chunk(k, layer, x, *state[k])
            outputs.append(x)
            new_state.append((h, c))
        return outputs, new_state

    return run_stack


def run_chunked(model, x, chunk: int, run_stack, carry: str = "state") -> list:
    """Run ``model.chain`` on ``x`` (T, in) in chunks of ``chunk`` frames, carrying the state
    (or not, as ``carry`` plants); returns per layer the outputs (T, H_k)."""
    if carry not in CARRIES:
        raise InspectorError(f"unknown carry '{carry}' (known: {', '.join(CARRIES)})")
    x = np.asarray(x, np.float32)
    state, parts = zero_state(model), []
    for start in range(0, x.shape[0], chunk):
        if start and carry == "reset":
            state = zero_state(model)
        elif start and carry == "swap":
            state = [(c, h) for h, c in state]
        outputs, state = run_stack(x[start:start + chunk], state)
        parts.append(outputs)
    return [np.concatenate([p[k] for p in parts]) for k in range(len(model.chain))]


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


def analyse(model, x, chunk: int, run_stack, label: str, carry: str = "state", atol=1e-5,
            rtol=1e-4) -> StreamReport:
    """Run the path one call and chunked, compare per step and per boundary, name the mistake."""
    x = np.asarray(x, np.float32)
    T = x.shape[0]
    check_streamable(model, chunk, T)
    one = run_chunked(model, x, T, run_stack)
    chunked = run_chunked(model, x, chunk, run_stack, carry)
    errors, parted = [], []
    for h1, hc in zip(one, chunked):
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
        report.mistake, report.mistake_errors = _replay(model, x, chunked, step, chunk, run_stack,
                                                        atol, rtol)
    return report


def _replay(model, x, chunked, step, chunk, run_stack, atol, rtol):
    """Which carry mistake, replayed by the path from the right state, gives the chunked run."""
    _, right = run_stack(x[:step], zero_state(model))  # the state a correct carry passes
    window = x[step:step + chunk]
    targets = [hs[step:step + chunk] for hs in chunked]
    errors = {}
    for name, mistake in MISTAKES.items():
        state = [tuple(np.asarray(a, np.float32) for a in mistake(h, c)) for h, c in right]
        outputs, _ = run_stack(window, state)
        errors[name] = max(float(np.abs(o - t).max()) for o, t in zip(outputs, targets))
    best = min(errors, key=errors.get)
    scale = max(float(np.abs(t).max()) for t in targets)
    return (best if errors[best] <= atol + rtol * scale else ""), errors
