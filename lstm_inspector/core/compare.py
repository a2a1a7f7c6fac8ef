"""Divergence analysis: where two traces of the same model on the same input part, and why.

For every layer, direction, quantity q in (i, f, c~, o, c, h), step t and unit j::

    abs   = |a - b|
    rel   = |a - b| / max(|a|, tiny)
    ulp   = distance in float32 units in the last place (sign-magnitude integer order)
    out   = abs > atol + rtol * |a|          (numpy.isclose's rule, a is the reference side)

Defaults suit float32 through a 1-D recurrence: ``atol = 1e-5``, ``rtol = 1e-4`` (float32's
epsilon is 1.2e-7; a few hundred roundings over a long utterance stay well inside).

The *first divergence* is the earliest out-of-tolerance value, lowest layer first (an error in
a layer feeds every layer above it), then earliest step in the direction's processing order,
then causal order within a step (gates, then c, then h).

Given the model, the report also separates *local* error from *carried* error: it recomputes
b's every step with the NumPy equations from b's own previous state (teacher forcing, one
matrix product per layer), so ``local[t]`` is what step t alone got wrong. Structural bugs
show up as local error at a definite step; precision effects (TF32, accumulation order) show
small local error everywhere that accumulates. The same teacher-forced run under the wrong
readings of ``weights.READINGS`` names the convention a path used when one fits exactly, and a
float64 run says which side is closer to exact arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict
from functools import cached_property

import numpy as np

from ..errors import InspectorError
from .trace import QUANTITIES, Trace

DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-4
#: Largest local error (relative to the value's scale) still read as reduced-precision
#: arithmetic: TF32 keeps 10 mantissa bits (2**-11 = 4.9e-4 per rounding).
PRECISION_LOCAL_RTOL = 5e-3
_CAUSAL = {q: k for k, q in enumerate(QUANTITIES)}


@dataclass(frozen=True)
class Divergence:
    """One value out of tolerance: where it is and both sides' values."""

    layer: int
    layer_name: str
    direction: str
    quantity: str
    step: int
    unit: int
    a: float
    b: float

    @property
    def abs_error(self) -> float:
        return abs(self.a - self.b)

    def describe(self) -> str:
        where = f"layer {self.layer} ({self.layer_name})"
        if self.direction != "forward":
            where += f" {self.direction}"
        return (f"step {self.step}, {where}, {self.quantity}[{self.unit}]: "
                f"{self.a:.9g} vs {self.b:.9g} (|diff| {self.abs_error:.3g})")

    def to_dict(self) -> dict:
        return {**asdict(self), "abs_error": self.abs_error}


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of float32 values between a and b (0 when equal), as int64."""
    ia = np.asarray(a, np.float32).view(np.int32).astype(np.int64)
    ib = np.asarray(b, np.float32).view(np.int32).astype(np.int64)
    # map sign-magnitude to a monotonic integer line
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    return np.abs(ia - ib)


class Report:
    """The comparison of trace ``a`` (the reference side) with trace ``b``.

    Arrays are computed on demand and cached: ``error``, ``step_error``, ``allowed``,
    ``out_of_tolerance``, ``ulp``. ``first``, ``kind`` and ``verdict`` summarise.
    """

    def __init__(self, a: Trace, b: Trace, atol: float, rtol: float, model=None, oracle=True):
        if a.x.shape != b.x.shape or not np.array_equal(a.x, b.x):
            raise InspectorError("the two traces were not run on the same features")
        self.a, self.b = a, b
        self.atol, self.rtol = float(atol), float(rtol)
        self.a_label, self.b_label = a.label or "a", b.label or "b"
        self.model = model
        self._oracle_wanted = oracle and model is not None
        self._cache = {}
        n = min(len(a.layers), len(b.layers))
        self._keys = [(k, d) for k in range(n) for d in a.layers[k] if d in b.layers[k]]
        if not self._keys:
            raise InspectorError("the two traces share no layer to compare")

    # ---- per-quantity arrays -------------------------------------------------------------
    def keys(self) -> list:
        return list(self._keys)

    def _pair(self, layer, direction, quantity):
        return (self.a.layer(layer, direction).quantity(quantity),
                self.b.layer(layer, direction).quantity(quantity))

    def _cached(self, name, layer, direction, quantity, make):
        key = (name, layer, direction, quantity)
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def error(self, layer, direction, quantity) -> np.ndarray:
        """(T, H) float64 ``|a - b|``."""
        def make():
            qa, qb = self._pair(layer, direction, quantity)
            return np.abs(qa.astype(np.float64) - qb.astype(np.float64))
        return self._cached("error", layer, direction, quantity, make)

    def step_error(self, layer, direction, quantity) -> np.ndarray:
        """(T,) the largest ``|a - b|`` over units at each step."""
        return self._cached("step", layer, direction, quantity,
                            lambda: self.error(layer, direction, quantity).max(axis=1))

    def allowed(self, layer, direction, quantity) -> np.ndarray:
        """(T, H) ``atol + rtol * |a|``."""
        qa, _ = self._pair(layer, direction, quantity)
        return self.atol + self.rtol * np.abs(qa.astype(np.float64))

    def out_of_tolerance(self, layer, direction, quantity) -> np.ndarray:
        """(T, H) bool: ``|a - b| > atol + rtol * |a|`` (NaN on either side counts as out)."""
        def make():
            err = self.error(layer, direction, quantity)
            return ~(err <= self.allowed(layer, direction, quantity))
        return self._cached("out", layer, direction, quantity, make)

    def relative_error(self, layer, direction, quantity) -> np.ndarray:
        qa, _ = self._pair(layer, direction, quantity)
        return self.error(layer, direction, quantity) / np.maximum(np.abs(qa), 1e-30)

    def ulp(self, layer, direction, quantity) -> np.ndarray:
        return self._cached("ulp", layer, direction, quantity,
                            lambda: ulp_distance(*self._pair(layer, direction, quantity)))

    def divergent_steps(self, layer=None, direction=None) -> np.ndarray:
        """Sorted steps (input time) where any quantity of the chosen layer(s) is out of tolerance."""
        mask = None
        for k, d in self._keys:
            if (layer is not None and k != layer) or (direction is not None and d != direction):
                continue
            for q in QUANTITIES:
                m = self.out_of_tolerance(k, d, q).any(axis=1)
                mask = m if mask is None else mask | m
        return np.flatnonzero(mask) if mask is not None else np.array([], int)

    # ---- summary --------------------------------------------------------------------------
    def _reversed(self, layer, direction) -> bool:
        """Whether this direction ran from the last frame to the first."""
        if self.model is not None and layer < len(self.model.chain):
            rec = self.model.chain[layer]
            return rec.go_backwards != (direction == "backward")
        return direction == "backward"

    def _earliest(self, layer, direction, rows: np.ndarray):
        """(position in processing order, input-time step) of the earliest of ``rows``."""
        T = self.a.layer(layer, direction).steps
        if self._reversed(layer, direction):
            return T - 1 - int(rows[-1]), int(rows[-1])
        return int(rows[0]), int(rows[0])

    @cached_property
    def first(self) -> Divergence | None:
        """The first divergence (see the module docstring), or None when the traces agree."""
        for layer in sorted({k for k, _ in self._keys}):
            best = None  # (processing position, causal rank, Divergence)
            for k, d in self._keys:
                if k != layer:
                    continue
                for q in QUANTITIES:
                    out = self.out_of_tolerance(k, d, q)
                    rows = np.flatnonzero(out.any(axis=1))
                    if not rows.size:
                        continue
                    pos, t = self._earliest(k, d, rows)
                    unit = int(np.argmax(self.error(k, d, q)[t] * out[t]))
                    qa, qb = self._pair(k, d, q)
                    div = Divergence(k, self.a.layer_names[k], d, q, t, unit,
                                     float(qa[t, unit]), float(qb[t, unit]))
                    cand = (pos, _CAUSAL[q], div)
                    if best is None or cand[:2] < best[:2]:
                        best = cand
            if best is not None:
                return best[2]
        return None

    @property
    def agree(self) -> bool:
        return self.first is None

    def max_error(self) -> float:
        return max(float(self.step_error(k, d, q).max()) for k, d in self._keys for q in QUANTITIES)

    @cached_property
    def local(self) -> dict | None:
        """Teacher-forced analysis (needs the model): local error of b under the true reading
        and under each candidate reading. ``{"true": {(k, d, q): (T,) max |local|}, "fits": name}``."""
        if self.model is None:
            return None
        from .reference import run_reference
        from .weights import READINGS

        def local_errors(model):
            forced = run_reference(model, self.b.x, dtype="float64", teacher=self.b)
            out = {}
            for k, d in self._keys:
                lt_b, lt_f = self.b.layer(k, d), forced.layer(k, d)
                for q in QUANTITIES:
                    if lt_b.how(q) == "derived":
                        continue  # derived from these very equations: no information
                    diff = np.abs(lt_f.quantity(q) - lt_b.quantity(q).astype(np.float64))
                    scale = np.abs(lt_f.quantity(q)).max(axis=1) + 1.0
                    out[(k, d, q)] = (diff.max(axis=1), scale)
            return out

        base = self.model
        result = {"true": local_errors(base), "fits": None, "fit_error": None}
        true_worst = max(float(e.max()) for e, _ in result["true"].values())
        if true_worst > self.atol:
            best = None
            for name, reading in READINGS.items():
                if name in ("cudnn", "keras"):
                    continue
                try:
                    errs = local_errors(base.with_reading(reading))
                except InspectorError:
                    continue
                worst = max(float(e.max()) for e, _ in errs.values())
                if worst <= self.atol and (best is None or worst < best[1]):
                    best = (name, worst)
            if best is not None:
                result["fits"], result["fit_error"] = best
        result["true_worst"] = true_worst
        return result

    @cached_property
    def closer_to_exact(self) -> str | None:
        """'a', 'b' or None (tie / no model): which side is closer to a float64 run."""
        if not self._oracle_wanted or self.a.meta.get("dtype") == "float64":
            return None
        from .reference import run_reference

        exact = run_reference(self.model, self.a.x, dtype="float64")
        err = {"a": 0.0, "b": 0.0}
        for k, d in self._keys:
            ex = exact.layer(k, d).h
            err["a"] += float(np.abs(self.a.layer(k, d).h - ex).mean())
            err["b"] += float(np.abs(self.b.layer(k, d).h - ex).mean())
        if abs(err["a"] - err["b"]) <= 1e-3 * max(err.values(), default=0.0):
            return None
        return min(err, key=err.get)

    def _first_local(self, errors: dict):
        """(step, layer, direction, quantity) where local error first exceeds atol."""
        best = None
        for (k, d, q), (e, _) in errors.items():
            rows = np.flatnonzero(e > self.atol)
            if rows.size:
                pos, t = self._earliest(k, d, rows)
                cand = (k, pos, _CAUSAL[q], t, d, q)
                if best is None or cand[:3] < best[:3]:
                    best = cand
        return None if best is None else (best[3], best[0], best[4], best[5])

    @cached_property
    def kind(self) -> str:
        """``agree``, ``precision`` (drift from arithmetic) or ``structural``."""
        if self.agree:
            return "agree"
        local = self.local
        if local is None:
            # Without the model: a precision effect starts tiny; a structural one does not.
            return "precision" if self.first.abs_error < 1e-3 else "structural"
        if local["fits"] is not None:
            return "structural"
        rel_worst = max(float((e / s).max()) for e, s in local["true"].values())
        return "precision" if rel_worst <= PRECISION_LOCAL_RTOL else "structural"

    @cached_property
    def verdict(self) -> str:
        """One sentence a person can act on."""
        if self.agree:
            return (f"{self.b_label} agrees with {self.a_label} within atol={self.atol:g}, "
                    f"rtol={self.rtol:g} (largest difference {self.max_error():.2g}).")
        first = self.first
        if self.kind == "precision":
            tf32 = self.b.meta.get("tf32") is True or self.a.meta.get("tf32") is True
            why = ("TF32 matrix products" if tf32 else
                   "accumulation order / reduced-precision arithmetic")
            local = self.local
            extra = (f"; every single step agrees to {local['true_worst']:.1g}"
                     if local is not None else "")
            return (f"Precision drift, not a bug: the paths part from {first.describe()}, "
                    f"consistent with {why}{extra}.")
        from .weights import READINGS

        where = first
        if self.local is not None:
            fl = self._first_local(self.local["true"])
            if fl is not None:
                step, k, d, q = fl
                where = Divergence(k, self.a.layer_names[k], d, q, step, 0, 0.0, 0.0)
        layer_txt = f"layer {where.layer} ({where.layer_name})"
        if where.direction != "forward":
            layer_txt += f" {where.direction}"
        gate = "c~" if where.quantity == "c~" else where.quantity
        sentence = f"Structural divergence from step {where.step} in {gate} of {layer_txt}"
        fits = self.local["fits"] if self.local is not None else None
        if fits is not None:
            sentence += (f": {self.b_label} computes exactly what the '{fits}' reading "
                         f"({READINGS[fits].describe()}) of the stored weights computes")
        sentence += "."
        return sentence

    # ---- export ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        per = []
        for k, d in self._keys:
            for q in QUANTITIES:
                err = self.error(k, d, q)
                out = self.out_of_tolerance(k, d, q)
                rows = np.flatnonzero(out.any(axis=1))
                per.append({
                    "layer": k, "layer_name": self.a.layer_names[k], "direction": d, "quantity": q,
                    "a_how": self.a.layer(k, d).how(q), "b_how": self.b.layer(k, d).how(q),
                    "max_abs": float(err.max()),
                    "max_rel": float(self.relative_error(k, d, q).max()),
                    "max_ulp": int(self.ulp(k, d, q).max()),
                    "steps_out": int(rows.size),
                    "first_step_out": int(rows[0]) if rows.size else None,
                })
        local = self.local
        return {
            "a": {"label": self.a_label, "meta": _jsonable(self.a.meta)},
            "b": {"label": self.b_label, "meta": _jsonable(self.b.meta)},
            "atol": self.atol, "rtol": self.rtol, "steps": self.a.steps,
            "agree": self.agree, "kind": self.kind, "verdict": self.verdict,
            "first": None if self.first is None else self.first.to_dict(),
            "local_error_max": None if local is None else local["true_worst"],
            "fits_reading": None if local is None else local["fits"],
            "closer_to_exact": self.closer_to_exact,
            "quantities": per,
        }


def _jsonable(meta: dict) -> dict:
    return {str(k): (v if isinstance(v, (str, int, float, bool, type(None))) else str(v))
            for k, v in meta.items()}


def compare(a: Trace, b: Trace, atol: float | None = None, rtol: float | None = None,
            model=None, oracle: bool = True) -> Report:
    """Compare trace ``b`` against reference-side trace ``a``.

    Parameters
    ----------
    a, b : Trace
        Two runs of the same model on the same features (``a`` is the reference side).
    atol, rtol : float, optional
        Tolerance (defaults ``DEFAULT_ATOL = 1e-5``, ``DEFAULT_RTOL = 1e-4``).
    model : Model, optional
        The model both ran; enables local-vs-carried error, the reading that fits, and the
        float64 oracle (``oracle=False`` skips the latter).
    """
    atol = DEFAULT_ATOL if atol is None else float(atol)
    rtol = DEFAULT_RTOL if rtol is None else float(rtol)
    if atol < 0 or rtol < 0 or not np.isfinite([atol, rtol]).all():
        raise InspectorError(f"tolerances must be finite and non-negative (atol={atol}, rtol={rtol})")
    return Report(a, b, atol, rtol, model=model, oracle=oracle)
