"""A trace from what a port gave back: its own h, maybe its c and gates, the rest derived.

A port (the user's Python function, or the outputs a C port wrote) measures h and, when it
returns them, c and the gates. What it does not return is filled in with the file's true
equations *from the port's own states* (teacher-forced by the port itself), and labelled
``derived``, so that every quantity of the trace belongs to one trajectory:

    z_t = W x_t + R h_{t-1} + b_W + b_R     with h_{t-1} the port's own h   (derived gates)
    c_t = f_t * c_{t-1} + i_t * c~_t        c_{-1} = 0, the gates above     (derived c)

A derived c is what the true cell would hold if it had produced the port's outputs; it is
never evidence about the port (the detective ignores it).

Every array here is in *processing order* unless a name says otherwise: a backward direction
processes input time T-1 first; :func:`to_input_time` turns a processing-order array around.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InspectorError
from .trace import LayerTrace, Trace
from .weights import CANONICAL_ORDER, LSTMWeights

GATE_KEYS = {"i": "i", "f": "f", "o": "o", "g": "c", "c~": "c", "c_tilde": "c", "cand": "c",
             "candidate": "c"}


@dataclass(eq=False)
class PortTrace(Trace):
    """A :class:`Trace` of a port (the user's function, or outputs it wrote), plus what it ran on.

    layer_inputs : ``{k: (T, in)}`` the input each run layer was fed, by input time (for a
        function: the reference's input to that layer; for an outputs file: the port's own
        output of the layer below when the file has it, else the reference's). Layers not run
        hold an empty dict in ``layers``.
    teacher_forced : ``{(k, direction): {"h", "c"}}`` (T, H) by input time: a step-form
        function run step by step from the reference's (h, c) at t-1 (its local error).
    impl : the ``ImplSpec`` that ran (None for an outputs file); ``source`` the outputs file.
    """

    layer_inputs: dict = field(default_factory=dict)
    teacher_forced: dict = field(default_factory=dict)
    impl: object = None
    source: str = ""

    def run_keys(self) -> list:
        """``[(layer, direction)]`` of what the port ran."""
        return [(k, d) for k, dirs in enumerate(self.layers) for d in dirs]


def to_input_time(array: np.ndarray, reverse: bool) -> np.ndarray:
    """A processing-order (T, ...) array indexed by input time (reversed for a backward run)."""
    return array[::-1] if reverse else array


def previous(states: np.ndarray) -> np.ndarray:
    """(T, H) the state before each step in processing order: zeros, then ``states[:-1]``."""
    prev = np.zeros_like(states)
    prev[1:] = states[:-1]
    return prev


def gates_from_states(w: LSTMWeights, x_proc: np.ndarray, h_proc: np.ndarray):
    """``(z (T, 4H), a (T, 4H))`` of the true equations from the port's h (processing order):
    ``reference.teacher_step`` from the port's previous h (its c_prev plays no part in z, a)."""
    from .reference import teacher_step

    c_zero = np.zeros((h_proc.shape[0], w.units), h_proc.dtype)   # H wide (h is P wide if projected)
    step = teacher_step(w, x_proc, previous(h_proc), c_zero, np.float64)
    return step.z, step.a


def cell_from_gates(a: np.ndarray, H: int) -> np.ndarray:
    """(T, H) c_t = f_t c_{t-1} + i_t c~_t from gate activations (T, 4H), c_{-1} = 0."""
    i, f, g = (a[:, CANONICAL_ORDER.index(k) * H:(CANONICAL_ORDER.index(k) + 1) * H] for k in "ifc")
    ig = i * g
    c = np.empty_like(ig)
    prev = np.zeros(H, a.dtype)
    for t in range(a.shape[0]):   # an elementwise recurrence: (H,) per step
        prev = c[t] = f[t] * prev + ig[t]
    return c


def port_layer_trace(w: LSTMWeights, x_proc, h_proc, c_proc=None, gates=None,
                     reverse: bool = False, dtype=np.float32) -> LayerTrace:
    """One direction's :class:`LayerTrace` (input-time order) from a port's own states.

    Parameters
    ----------
    w : the file's true weights of this direction (used only for what is derived).
    x_proc : (T, in) the direction's input in processing order.
    h_proc : (T, H) the port's h in processing order (measured).
    c_proc : (T, H) the port's c, or None (then derived, see the module docstring).
    gates : dict of (T, H) activations the port returned (``i f o`` and ``g``/``c~``), or None.
    reverse : whether this direction processes the input backwards.
    """
    h_proc = np.asarray(h_proc, dtype)
    T, H = h_proc.shape[0], w.units   # h is P wide under nn.LSTM's projection, c and gates H
    w64 = w.astype(np.float64)
    if getattr(w, "reset_after", None) is not None:   # a GRU (core.gru): h is its whole state
        return _gru_port_trace(w64, x_proc, h_proc, reverse, dtype)
    z, a = gates_from_states(w64, np.asarray(x_proc, np.float64), h_proc.astype(np.float64))
    prov = {"z": "derived", "i": "derived", "f": "derived", "c~": "derived", "o": "derived",
            "h": "measured", "c": "measured"}
    if c_proc is None:
        c_proc = cell_from_gates(a, H)
        prov["c"] = "derived"
    for key, value in (gates or {}).items():
        block = CANONICAL_ORDER.index(GATE_KEYS[key])
        a[:, block * H:(block + 1) * H] = np.asarray(value, np.float64).reshape(T, H)
        prov["c~" if GATE_KEYS[key] == "c" else key] = "measured"
    return LayerTrace(z=to_input_time(z.astype(dtype), reverse),
                      a=to_input_time(a.astype(dtype), reverse),
                      c=to_input_time(np.asarray(c_proc, dtype), reverse),
                      h=to_input_time(h_proc, reverse), provenance=prov)


def check_states(name: str, array, T: int, H: int, what: str) -> np.ndarray:
    """``array`` as a finite (T, H) float array, or an InspectorError naming ``what`` gave it."""
    arr = np.asarray(array)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating)
                                   or np.issubdtype(arr.dtype, np.integer)):
        raise InspectorError(f"{what} gave {name} as {type(array).__name__} of {arr.dtype}, "
                             f"not numbers")
    squeezed = arr.reshape([n for n in arr.shape if n != 1] or [1]) if arr.size == T * H else arr
    if squeezed.size != T * H or squeezed.ndim > 2 or (squeezed.ndim == 2 and squeezed.shape != (T, H)):
        raise InspectorError(f"{what} gave {name} of shape {arr.shape}; expected ({T}, {H}) "
                             f"(steps, units)")
    return squeezed.reshape(T, H)


def _gru_port_trace(w64, x_proc, h_proc, reverse: bool, dtype) -> LayerTrace:
    """A GRU port's direction: its h measured, r, z, n, Rh derived from its own previous h."""
    from .gru import GRUStepWeights, gru_teacher_step

    step = gru_teacher_step(GRUStepWeights(w64, np.float64), np.asarray(x_proc, np.float64),
                            previous(h_proc.astype(np.float64)))
    flip = (lambda a: a[::-1]) if reverse else (lambda a: a)
    lt = LayerTrace(z=flip(step.z).astype(dtype), a=flip(step.a).astype(dtype), c=None,
                    h=np.ascontiguousarray(flip(h_proc)), cell="gru")
    lt.provenance.update(dict.fromkeys(("z",) + lt.gates, "derived"))
    return lt
