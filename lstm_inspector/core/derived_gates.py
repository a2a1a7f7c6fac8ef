"""A library path's gates, derived from its own measured states (cuDNN never exposes them).

A backend gives h (and c, measured or derived); its gates are the NumPy equations
teacher-forced by the trace itself, ``z_t = W x_t + R h_{t-1} + b`` and ``a_t`` their
activations (:func:`~.reference.teacher_forced_layer` in float32), marked ``derived``. A long
trace does not hold them: :class:`_DerivedGates` recomputes any window from the same fixed
blocks of rows, so the values are those a held run would have, bit for bit. Where a short run
derived c from h (``recurrence.cell_states_between``), the gates that derivation computed are
already in the trace (the same equations, ``z_t = (x_t W^T + b) + h_{t-1} R^T``): kept, not
computed a second time.
"""
from __future__ import annotations

import numpy as np

from .model import Model
from .recurrence import fixed_blocks, keep_gates
from .reference import TEACHER_BLOCK, layer_weights, teacher_forced_layer
from .trace import Trace


def derive_gates(model: Model, trace: Trace, gates: bool | None = None,
                 derived: frozenset = frozenset()) -> Trace:
    """Fill a backend trace's z and a from its own measured (h, c): the NumPy equations,
    teacher-forced by the trace itself. Marks them ``derived``; returns the same trace.

    ``gates``: compute and hold them now (True), or let the trace recompute any window when
    asked (False; the same products on the same blocks, so the same values); None: hold them unless
    they would take more than ``recurrence.KEEP_GATES_BYTES`` per direction. ``derived``:
    ``{(layer, direction)}`` already holding the gates of their c's derivation (kept as they are).
    """
    half = trace.meta.get("dtype") == "mixed_float16"  # gates as that path computes them
    for k in range(min(len(model.chain), len(trace.layers))):
        dirs = trace.layers[k]
        T, H = trace.steps, model.chain[k].units
        hold = keep_gates(T, H, np.float32) if gates is None else bool(gates)
        hold = hold or half  # the float16 step is not recomputed by windows: hold its gates
        todo = [d for d in dirs if half or (k, d) not in derived]
        forced = teacher_forced_layer(model, k, trace, np.float32, half=half, names="za",
                                      directions=todo) if hold and todo else {}
        for direction, lt in dirs.items():
            if direction in todo and hold:
                lt.z, lt.a = forced[direction].z, forced[direction].a
            elif direction in todo:
                lt.z = lt.a = None
                lt.gate_source = _DerivedGates(model, k, direction, trace)
            lt.provenance.update(dict.fromkeys(("z",) + lt.gates, "derived"))
    return trace


class _DerivedGates:
    """Rows ``lo:hi`` of a direction's derived gates: teacher forcing by the trace itself."""

    def __init__(self, model, index, direction, trace):
        self.model, self.index, self.direction, self.trace = model, index, direction, trace
        self._weights = None  # prepared on the first call, reused by every later window
        self._blocks = None  # (lo, hi, z, a): the teacher-forced blocks computed last

    def __call__(self, lo, hi):
        """Rows ``lo:hi``, from the whole ``TEACHER_BLOCK`` blocks that hold them (computed
        anyway; kept, so a cursor walking through a block computes it once)."""
        kept = self._blocks
        if kept is None or not (kept[0] <= lo and hi <= kept[1]):
            blocks = list(fixed_blocks(lo, hi, self.trace.steps, TEACHER_BLOCK)) or [(lo, hi)]
            b_lo, b_hi = blocks[0][0], blocks[-1][1]
            if self._weights is None:
                self._weights = layer_weights(self.model, self.index, np.float32, (self.direction,))
            lt = teacher_forced_layer(self.model, self.index, self.trace, np.float32,
                                      rows=(b_lo, b_hi), directions=(self.direction,),
                                      weights=self._weights, names="za")
            kept = self._blocks = (b_lo, b_hi, lt[self.direction].z, lt[self.direction].a)
        start = kept[0]
        return kept[2][lo - start:hi - start], kept[3][lo - start:hi - start]
