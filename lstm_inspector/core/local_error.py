"""b's local errors: its steps recomputed in float64 from its own states (teacher forcing).

Per layer direction and quantity q that b measured, input-time step t::

    local[t] = max_j |F(b)[t, j] - b[t, j]|       scale[t] = max_j |F(b)[t, j]| + 1

F is b's step t recomputed in float64 under the model from b's own previous state and input
(``reference.teacher_forced_layer``, one product per fixed block of rows): what step t alone
got wrong, not error carried from earlier steps. The same recomputation under every wrong
reading of the stored weights (:func:`reading_worst`) names a convention that fits b exactly.
``analysis`` runs :class:`Teacher` in its one pass, or :func:`local_errors` as a pass of its own.
"""
from __future__ import annotations

import numpy as np

from ..errors import InspectorError
from .trace import Trace

CHUNK = 4096            # steps read at once (a few MB per quantity)
READING_WINDOW = 4096   # steps searched for a wrong reading, from the first locally wrong one


def chunks(steps: int, chunk: int):
    """``(lo, hi)`` of consecutive blocks of ``chunk`` steps covering ``0:steps``."""
    for lo in range(0, steps, chunk):
        yield lo, min(lo + chunk, steps)


def reversed_direction(model, layer: int, direction: str) -> bool:
    """Whether this direction ran from the last frame to the first."""
    if model is not None and layer < len(model.chain):
        return model.chain[layer].processing_reversed(direction)
    return direction == "backward"


class Teacher:
    """b's local errors of layer ``k``'s ``dirs``, accumulated chunk by chunk over input-time
    ``rows`` (see :func:`local_errors`): per direction and quantity b measured (a derived
    value is computed by these very equations and carries no information)."""

    def __init__(self, model, b: Trace, k: int, dirs, rows):
        from .reference import layer_weights

        self.model, self.b, self.k, self.rows = model, b, k, rows
        self.dirs = [d for d in dirs if d in model.chain[k].directions]
        self.wanted = [(d, q) for d in self.dirs for q in b.layer(k, d).quantities
                       if b.layer(k, d).how(q) != "derived"]
        n = rows[1] - rows[0]
        self.arrays = {dq: (np.zeros(n), np.zeros(n)) for dq in self.wanted}
        wanted = {q for _, q in self.wanted}
        # the arrays to assemble: the gates' z and a, c, h (a gate reads a, and needs z held)
        self.names = ("za" if wanted - {"c", "h"} else "") + "".join(
            q for q in "ch" if q in wanted)
        dirs = sorted({d for d, _ in self.wanted}, key=self.dirs.index)
        self.weights = layer_weights(model, k, np.float64, dirs) if dirs else None

    def chunk(self, lo: int, hi: int) -> None:
        """Rows ``lo:hi`` (input time, within ``rows``)."""
        if not self.wanted:
            return
        from .reference import teacher_forced_layer

        b, k = self.b, self.k
        # a port fed each layer its own input (the reference's) says so in layer_inputs
        layer_in = getattr(b, "layer_inputs", {}).get(k)
        forced = teacher_forced_layer(self.model, k, b, "float64", layer_in, rows=(lo, hi),
                                      directions=list(self.weights), weights=self.weights,
                                      names=self.names)
        at = slice(lo - self.rows[0], hi - self.rows[0])
        for (d, q), (local, scale) in self.arrays.items():
            f = forced[d].quantity(q)                                 # (rows, H) float64
            err = np.subtract(f, b.layer(k, d).rows(q, lo, hi), dtype=np.float64)
            local[at] = np.abs(err, out=err).max(axis=1)
            scale[at] = np.abs(f).max(axis=1) + 1.0

    def result(self) -> dict:
        return {(self.k, d, q): v for (d, q), v in self.arrays.items()}


def local_errors(model, b: Trace, keys, layers, chunk=CHUNK, rows=None, progress=None) -> dict:
    """``{(k, d, q): (local (T,), scale (T,))}``: b's steps recomputed in float64 from b's own
    previous states under ``model`` (teacher forcing, chunk by chunk); local = max over units of
    |recomputed - b|. ``rows=(lo, hi)`` limits it to those input-time steps. Quantities b only
    derived (with these very equations) carry no information and are left out.
    ``progress(fraction, text)`` is called between chunks."""
    from . import side_by_side

    lo_all, hi_all = (0, b.steps) if rows is None else rows
    out = {}
    for n, k in enumerate(layers):
        dirs = [d for d in model.chain[k].directions if (k, d) in keys]

        def run(dirs, tick, k=k):
            teacher = Teacher(model, b, k, dirs, (lo_all, hi_all))
            for lo, hi in chunks(hi_all - lo_all, chunk):
                teacher.chunk(lo + lo_all, hi + lo_all)
                if tick is not None:
                    tick(hi)
            return teacher.result()

        tick = None if progress is None else (
            lambda done, n=n: progress((n + done / (hi_all - lo_all)) / len(layers),
                                       "local errors per step"))
        if len(dirs) == 2 and side_by_side.second_core():
            # each direction on its own core (its own products, the same values)
            for part in side_by_side.run_both(lambda d, t: run((d,), t), dirs, tick).values():
                out.update(part)
        else:
            out.update(run(dirs, tick))
    return out


def reading_worst(model, b: Trace, keys, layer: int, step: int, chunk=CHUNK) -> dict:
    """``{reading name: worst local error}`` of b's ``layer`` under every wrong reading.

    A reading that b really used fits every step exactly, so the search reads only
    ``READING_WINDOW`` steps of each direction, from ``step`` (the first locally wrong one) on in
    processing order (the last ``READING_WINDOW`` when fewer remain).
    Readings that are the file's own for this layer, or cannot be applied, are left out.
    """
    from .weights import READINGS

    T = b.steps
    worst = {}
    true_layer = model.chain[layer]
    from .weights import ARITHMETIC_READINGS

    names = READINGS
    if true_layer.cell == "gru":   # a GRU's own wrong readings (core.gru_weights)
        from .gru_weights import GRU_READINGS as names
    for name in (n for n in names if n not in ("cudnn", "keras", "torch") + ARITHMETIC_READINGS):
        try:
            read = model.with_reading(name)
        except InspectorError:
            continue
        if all(read.chain[layer].weights(d).equals(true_layer.weights(d))
               for d in true_layer.directions):
            continue  # this reading is the file's own for this layer
        errs = {}
        for d in true_layer.directions:
            if (layer, d) not in keys:
                continue
            if T <= READING_WINDOW:
                rows = (0, T)
            elif reversed_direction(model, layer, d):  # processing order runs down input time
                hi = max(step + 1, READING_WINDOW)
                rows = (hi - READING_WINDOW, hi)
            else:
                lo = min(step, T - READING_WINDOW)
                rows = (lo, lo + READING_WINDOW)
            try:
                errs.update(local_errors(read, b, [(layer, d)], [layer], chunk, rows))
            except InspectorError:
                errs = {}
                break
        if errs:
            worst[name] = max(float(e.max()) for e, _ in errs.values())
    return worst
