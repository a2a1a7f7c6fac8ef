"""What one execution of a model recorded, per layer and direction, at every timestep.

Arrays are indexed by *input* time (a backward direction's step t is the step that read x_t),
as Keras's ``Bidirectional`` output is. Per layer and direction a :class:`LayerTrace` holds

    z  (T, 4H)  gate pre-activations, blocks i, f, c~, o
    a  (T, 4H)  gate activations, same blocks
    c  (T, H)   cell state after step t
    h  (T, H)   output after step t

and says for each how it was obtained: ``"measured"`` (the path produced it), ``"stepped"``
(measured by re-running the path one step at a time from its own previous state, e.g. cuDNN's c)
or ``"derived"`` (computed by the NumPy equations from the path's own measured states, e.g. any
gate of cuDNN, which cuDNN never exposes).

A GRU direction (``cell="gru"``, ``core.gru``) has no cell state (``c`` is None) and records

    z  (T, 4H)  blocks r, z, n (pre-activations) and Rh, the recurrent part of n on its own
    a  (T, 4H)  blocks r, z, n (after their activations) and Rh again

(Rh = R_n h_{t-1} + b_Rn with reset_after, R_n (r h_{t-1}) + b_Rn without): quantities
``r z n Rh h`` (:data:`CELL_QUANTITIES`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InspectorError
from .weights import CANONICAL_ORDER

QUANTITIES = ("i", "f", "c~", "o", "c", "h")
GATES = ("i", "f", "c~", "o")
GRU_QUANTITIES = ("r", "z", "n", "Rh", "h")
GRU_GATES = ("r", "z", "n", "Rh")
#: Per cell kind: the quantities a direction records (causal order) and its gate blocks.
CELL_QUANTITIES = {"lstm": QUANTITIES, "gru": GRU_QUANTITIES}
CELL_GATES = {"lstm": GATES, "gru": GRU_GATES}
_ALIASES = {"g": "c~", "c_tilde": "c~", "candidate": "c~", "ct": "c~", "cand": "c~"}
_GRU_ALIASES = {"candidate": "n", "h~": "n", "hh": "n", "rh": "Rh"}


def canonical_quantity(name: str, cell: str = "lstm") -> str:
    known = CELL_QUANTITIES[cell]
    name = (_GRU_ALIASES if cell == "gru" else _ALIASES).get(name, name)
    if name not in known:
        raise InspectorError(f"unknown quantity '{name}' (known: {', '.join(known)})")
    return name


def _gate_block(name: str, cell: str = "lstm") -> int:
    if cell == "gru":
        return GRU_GATES.index(name)
    return CANONICAL_ORDER.index("c" if name == "c~" else name)


class LayerTrace:
    """One layer direction's record; see the module docstring for shapes and provenance.

    A long trace need not hold its gates: with ``z = a = None`` and ``gate_source(lo, hi) ->
    (z, a)`` rows ``lo:hi`` are recomputed from the stored states when asked for (one
    teacher-forced product, the values the run itself computed; see ``core.reference``).
    :meth:`rows` reads any window; ``z`` / ``a`` give the whole arrays either way.

    Nor need it hold c: with ``c = None`` and ``cell_source(lo, hi) -> c rows`` (c kept at a few
    checkpoints, ``c_t = f_t c_{t-1} + i_t c~_t`` recomputed from the one before the window, the
    run's own values bit for bit; ``core.recurrence``) an hour of a layer direction holds h
    alone. ``c`` gives the whole array either way (computed, not kept, when not held).
    """

    def __init__(self, z, a, c, h, provenance=None, gate_source=None, cell="lstm",
                 cell_source=None):
        self._z, self._a = z, a
        self._c, self.h = c, h
        self.cell = cell
        self.cell_source = cell_source
        self._cells = None  # (lo, hi, c): the last recomputed window of c
        self.provenance = provenance if provenance is not None else dict.fromkeys(
            ("z",) + CELL_QUANTITIES[cell], "measured")
        self.gate_source = gate_source
        self._window = None  # (lo, hi, z, a): the last recomputed window

    @property
    def quantities(self) -> tuple:
        """The quantities this direction records (``i f c~ o c h``; a GRU's ``r z n Rh h``)."""
        return CELL_QUANTITIES[self.cell]

    @property
    def gates(self) -> tuple:
        return CELL_GATES[self.cell]

    @property
    def holds_gates(self) -> bool:
        return self._z is not None

    def gate_rows(self, lo: int, hi: int) -> tuple:
        """``(z, a)`` rows ``lo:hi`` (4H wide each), stored or recomputed."""
        if self._z is not None:
            return self._z[lo:hi], self._a[lo:hi]
        if self.gate_source is None:
            raise InspectorError("this trace holds no gates and cannot recompute them")
        w = self._window
        if w is None or not (w[0] <= lo and hi <= w[1]):
            z, a = self.gate_source(lo, hi)
            self._window = w = (lo, hi, z, a)
        return w[2][lo - w[0]:hi - w[0]], w[3][lo - w[0]:hi - w[0]]

    @property
    def holds_cells(self) -> bool:
        return self._c is not None

    def cell_rows(self, lo: int, hi: int) -> np.ndarray:
        """c rows ``lo:hi`` (H wide), stored or recomputed (the last window is kept)."""
        if self._c is not None:
            return self._c[lo:hi]
        if self.cell_source is None:
            raise InspectorError("this trace holds no c and cannot recompute it")
        w = self._cells
        if w is None or not (w[0] <= lo and hi <= w[1]):
            self._cells = w = (lo, hi, self.cell_source(lo, hi))
        return w[2][lo - w[0]:hi - w[0]]

    @property
    def c(self) -> np.ndarray:
        """(T, H) c after each step (computed whole when not held: see :meth:`cell_rows`); None
        for a GRU, which has no cell state."""
        if self._c is not None or self.cell_source is None:
            return self._c
        return self.cell_source(0, self.steps)  # not kept: the whole of a long run is large

    @c.setter
    def c(self, value):
        self._c, self._cells = value, None

    @property
    def z(self) -> np.ndarray:
        return self.gate_rows(0, self.steps)[0]

    @z.setter
    def z(self, value):
        self._z, self._window = value, None

    @property
    def a(self) -> np.ndarray:
        return self.gate_rows(0, self.steps)[1]

    @a.setter
    def a(self, value):
        self._a, self._window = value, None

    def rows(self, name: str, lo: int, hi: int) -> np.ndarray:
        """Rows ``lo:hi`` of quantity ``name`` (as :meth:`quantity`), computing only those."""
        if name.startswith("z_"):
            name, pre = canonical_quantity(name[2:], self.cell), True
        else:
            name, pre = canonical_quantity(name, self.cell), False
        if name == "c":
            return self.cell_rows(lo, hi)
        if name == "h":
            return self.h[lo:hi]
        k, H = _gate_block(name, self.cell), self.units
        return self.gate_rows(lo, hi)[0 if pre else 1][:, k * H:(k + 1) * H]

    @property
    def steps(self) -> int:
        return self.h.shape[0]

    @property
    def units(self) -> int:
        """H, the width of the gates and of c (h is narrower under nn.LSTM's proj_size; a GRU
        has no c: its gates are as wide as h)."""
        if self._c is not None:
            return self._c.shape[1]
        return getattr(self.cell_source, "units", None) or self.h.shape[1]

    @property
    def out_units(self) -> int:
        """The width of h: H, or P with an output projection."""
        return self.h.shape[1]

    def gate(self, name: str, pre: bool = False) -> np.ndarray:
        """Gate ``name`` (``i f c~ o``; ``g`` for c~) as a (T, H) view; ``pre=True``: before activation."""
        name = canonical_quantity(name, self.cell)
        if name not in self.gates:
            raise InspectorError(f"'{name}' is not a gate (gates: {', '.join(self.gates)})")
        k, H = _gate_block(name, self.cell), self.units
        return (self.z if pre else self.a)[:, k * H:(k + 1) * H]

    def quantity(self, name: str) -> np.ndarray:
        """Any of ``i f c~ o c h`` as (T, H); ``z_i`` ... for pre-activations."""
        if name.startswith("z_"):
            return self.gate(name[2:], pre=True)
        name = canonical_quantity(name, self.cell)
        return {"c": self.c, "h": self.h}.get(name) if name in ("c", "h") else self.gate(name)

    def how(self, name: str) -> str:
        """``measured``, ``stepped`` or ``derived`` for quantity ``name``."""
        key = "z" if name.startswith("z_") else canonical_quantity(name, self.cell)
        return self.provenance.get(key, "measured")

    @property
    def nbytes(self) -> int:
        """Bytes held (recomputable gates and c not counted)."""
        return sum(arr.nbytes for arr in (self._z, self._a, self._c, self.h) if arr is not None)


@dataclass(eq=False)
class Trace:
    """One execution of a model's runnable chain on one input.

    ``layers[k]`` maps a direction name to its :class:`LayerTrace`; ``layer_names[k]`` is the
    file's layer name; ``x`` is the (T, in) input; ``output`` the last layer's output sequence
    (T, out) as Keras's ``return_sequences=True`` would return it (a go_backwards direction in
    processing order). With ``return_sequences=False`` Keras returns only the step each direction
    computed last: ``output[-1]`` for a plain layer, not for a Bidirectional one.
    ``meta`` records what ran: backend, device, library versions, TF32, dtype, reading.
    ``first_layer`` is the file's number of ``layers[0]`` (``Model.first_layer``): reports say
    ``layer first_layer + k``.
    ``mask``: (T,) bool, True where the step ran, None when the path ran without a mask
    (``core.masking``: at a masked step every layer carries h and c; views can grey it out).
    ``initial_state``: ``{(layer, direction): (h0 (H,), c0 (H,))}`` the path started from;
    None or a missing entry: zeros.
    """

    layers: list
    layer_names: list
    x: np.ndarray
    output: np.ndarray
    label: str = ""
    meta: dict = field(default_factory=dict)
    first_layer: int = 0
    mask: np.ndarray | None = None
    initial_state: dict | None = None

    #: ``() -> (T, out)``: computes ``output`` when the trace does not hold it (a long run's
    #: output is its last layer's h, merged: holding it too would double that memory)
    output_source = None

    def layer_label(self, index: int, direction: str = "forward") -> str:
        """``"layer N (name)"`` (plus the direction when not forward), N as the file numbers it."""
        text = f"layer {self.first_layer + index} ({self.layer_names[index]})"
        return text if direction == "forward" else f"{text} {direction}"

    def start_state(self, index: int, direction: str, units: int, dtype=np.float32,
                    out_units: int | None = None):
        """``(h0, c0)`` of a layer direction: the initial state it ran from (zeros if none;
        h0 ``out_units`` wide when given: a projected LSTM's)."""
        state = (self.initial_state or {}).get((index, direction))
        if state is None:
            return np.zeros(out_units or units, dtype), np.zeros(units, dtype)
        return np.asarray(state[0], dtype), np.asarray(state[1], dtype)

    def layer(self, index: int = 0, direction: str | None = None) -> LayerTrace:
        try:
            dirs = self.layers[index]
        except IndexError:
            raise InspectorError(
                f"layer {index} is not in this trace ({len(self.layers)} layers ran)") from None
        if direction is None:
            direction = "forward"
        try:
            return dirs[direction]
        except KeyError:
            raise InspectorError(f"layer {index} has no {direction} direction") from None

    def directions(self, index: int) -> tuple:
        return tuple(self.layers[index])

    def items(self):
        """Yield ``(layer_index, direction, LayerTrace)`` in order."""
        for k, dirs in enumerate(self.layers):
            for direction, lt in dirs.items():
                yield k, direction, lt

    @property
    def steps(self) -> int:
        return self.x.shape[0]

    @property
    def nbytes(self) -> int:
        return sum(lt.nbytes for _, _, lt in self.items())

    def describe(self) -> str:
        m = self.meta
        parts = [m.get("backend", "?")]
        for key in ("device", "dtype", "tf32", "reading", "road"):
            if m.get(key) not in (None, ""):
                parts.append(f"{key}={m[key]}")
        if m.get("one_call_chunk"):
            parts.append(f"chunks={m['one_call_chunk']}")
        if self.mask is not None:
            parts.append(f"masked={int((~self.mask).sum())}")
        if self.initial_state:
            parts.append("initial_state=given")
        return " ".join(str(p) for p in parts)


def _get_output(trace: Trace):
    held = trace.__dict__.get("_output")
    if held is None and trace.output_source is not None:
        return trace.output_source()
    return held


def _set_output(trace: Trace, value) -> None:
    trace.__dict__["_output"] = value


# ``output`` stays a dataclass field (constructors and subclasses pass it), read through a
# property so that a long trace can compute it on demand instead of holding it.
Trace.output = property(_get_output, _set_output, doc="(T, out) the last layer's output sequence")
Trace.holds_output = property(lambda trace: trace.__dict__.get("_output") is not None,
                              doc="whether ``output`` is held (else computed when read)")
