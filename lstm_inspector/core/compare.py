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

    def __init__(self, a: Trace, b: Trace, atol: float, rtol: float, model=None, oracle=True,
                 progress=None):
        if a.x.shape != b.x.shape or not np.array_equal(a.x, b.x):
            raise InspectorError("the two traces were not run on the same features")
        self.a, self.b = a, b
        self.atol, self.rtol = float(atol), float(rtol)
        self.a_label, self.b_label = a.label or "a", b.label or "b"
        self.model = model
        self._oracle_wanted = oracle and model is not None
        self._progress_cb = progress
        self._cache = {}      # per-tolerance arrays
        self._shared = {}     # tolerance-independent analysis, shared by with_tolerance()
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

    # ---- local (teacher-forced) analysis: tolerance-independent parts are shared ----------
    def _progress(self, fraction, text):
        if self._progress_cb is not None:
            self._progress_cb(fraction, text)

    def _local_errors(self, model, layers) -> dict:
        """``{(k, d, q): (local (T,), scale (T,))}``: b's steps recomputed in float64 from b's own
        previous states under ``model``; local = max over units of |recomputed - b|."""
        from .reference import teacher_forced_layer

        out = {}
        for k in layers:
            forced = teacher_forced_layer(model, k, self.b, "float64")
            for d, lt_f in forced.items():
                if (k, d) not in self._keys:
                    continue
                lt_b = self.b.layer(k, d)
                for q in QUANTITIES:
                    if lt_b.how(q) == "derived":
                        continue  # derived from these very equations: no information
                    diff = np.abs(lt_f.quantity(q) - lt_b.quantity(q).astype(np.float64))
                    scale = np.abs(lt_f.quantity(q)).max(axis=1) + 1.0
                    out[(k, d, q)] = (diff.max(axis=1), scale)
        return out

    def _reading_worst(self, layer: int) -> dict:
        """``{reading name: worst local error at `layer`}`` for every wrong reading (cached)."""
        from .weights import READINGS

        cache = self._shared.setdefault("reading_worst", {})
        if layer not in cache:
            worst = {}
            true_layer = self.model.chain[layer]
            names = [n for n in READINGS if n not in ("cudnn", "keras")]
            for j, name in enumerate(names):
                self._progress(0.5 + 0.4 * j / len(names), f"trying the '{name}' reading")
                try:
                    model = self.model.with_reading(name)
                    if all(model.chain[layer].weights(d).equals(true_layer.weights(d))
                           for d in true_layer.directions):
                        continue  # this reading is the file's own for this layer
                    errs = self._local_errors(model, [layer])
                except InspectorError:
                    continue
                if errs:
                    worst[name] = max(float(e.max()) for e, _ in errs.values())
            cache[layer] = worst
        return cache[layer]

    @property
    def local(self) -> dict | None:
        """Teacher-forced analysis (needs the model), or None.

        ``{"true": {(k, d, q): (local (T,), scale (T,))}, "true_worst": float,
        "fits": reading name or None, "fit_error": float or None}``: local error of b's measured
        quantities under the file's reading, and the wrong reading (if any) under which b's
        first locally-wrong layer is exact to within atol.
        """
        if self.model is None:
            return None
        if "local_true" not in self._shared:
            self._progress(0.0, "teacher-forced local error")
            layers = sorted({k for k, _ in self._keys})
            self._shared["local_true"] = self._local_errors(self.model, layers)
        true = self._shared["local_true"]
        true_worst = max((float(e.max()) for e, _ in true.values()), default=0.0)
        fits = fit_error = None
        first = self._first_local(true)
        if first is not None:
            candidates = {n: w for n, w in self._reading_worst(first[1]).items() if w <= self.atol}
            if candidates:
                fits = min(candidates, key=candidates.get)
                fit_error = candidates[fits]
        return {"true": true, "true_worst": true_worst, "fits": fits, "fit_error": fit_error}

    def local_step_error(self, layer, direction, quantity) -> np.ndarray | None:
        """(T,) local error of b's ``quantity`` per step (None: no model, or b's value is derived)."""
        local = self.local
        entry = None if local is None else local["true"].get((layer, direction, quantity))
        return None if entry is None else entry[0]

    @property
    def closer_to_exact(self) -> str | None:
        """'a', 'b' or None (tie / no model): which side is closer to a float64 run."""
        if not self._oracle_wanted or self.a.meta.get("dtype") == "float64":
            return None
        if "closer" not in self._shared:
            from .reference import run_reference

            self._progress(0.9, "float64 oracle")
            exact = run_reference(self.model, self.a.x, dtype="float64")
            err = {"a": 0.0, "b": 0.0}
            for k, d in self._keys:
                ex = exact.layer(k, d).h
                err["a"] += float(np.abs(self.a.layer(k, d).h - ex).mean())
                err["b"] += float(np.abs(self.b.layer(k, d).h - ex).mean())
            tie = abs(err["a"] - err["b"]) <= 1e-3 * max(err.values(), default=0.0)
            self._shared["closer"] = None if tie else min(err, key=err.get)
        return self._shared["closer"]

    def with_tolerance(self, atol=None, rtol=None) -> "Report":
        """The same comparison under another tolerance, reusing the expensive analysis."""
        report = Report(self.a, self.b, self.atol if atol is None else atol,
                        self.rtol if rtol is None else rtol, model=self.model,
                        oracle=self._oracle_wanted, progress=self._progress_cb)
        report._shared = self._shared
        return report

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

    def growth(self) -> float | None:
        """Steps over which the difference in h grows tenfold, or None when it does not grow.

        Read on the first divergence's layer and direction, in processing order: with
        ``base`` the largest difference in the first tenth of steps and ``top`` the largest
        overall, the steps from first exceeding ``10 base`` to first exceeding ``top / 10``,
        divided by the decades between them. None when ``top < 100 base`` (no amplification)
        or the difference jumps there in one step (a structural change, not growth).
        """
        if self.first is None:
            return None
        k, d = self.first.layer, self.first.direction
        e = self.step_error(k, d, "h")
        if self._reversed(k, d):
            e = e[::-1]  # processing order
        tenth = max(1, len(e) // 10)
        base = max(float(e[:tenth].max()), float(np.finfo(np.float32).tiny))
        top = float(e.max())
        if not np.isfinite(top) or top < 100 * base:
            return None
        lo = int(np.argmax(e >= 10 * base))
        hi = int(np.argmax(e >= top / 10))
        if hi <= lo:
            return None
        return (hi - lo) / np.log10(top / 100 / base)

    @property
    def notes(self) -> list:
        """Findings beside the verdict: where a path's one-call run and its stepped run part."""
        notes = []
        for label, trace in ((self.a_label, self.a), (self.b_label, self.b)):
            for gap in trace.meta.get("one_call_gap") or ():
                if gap.get("first_step") is None:
                    continue
                where = f"layer {gap['layer']}" + (
                    "" if gap["direction"] == "forward" else f" {gap['direction']}")
                notes.append(
                    f"{label}: its one-call run and its step-by-step run part from step "
                    f"{gap['first_step']} in {where} (up to {gap['max_abs']:.3g} in h); the "
                    f"analysis follows the step-by-step run, whose h and c belong together.")
        return notes

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
            growth = self.growth()
            if local is not None and growth is not None:
                return (f"Precision drift, not a bug: every single step agrees to "
                        f"{local['true_worst']:.1g} ({why}), and the dynamics amplify the "
                        f"differences (about x10 every {growth:.3g} steps), so the paths part "
                        f"from {first.describe()}.")
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
        if fits is not None and self.b.meta.get("reading") == fits:
            sentence += (f": this is where the '{fits}' reading ({READINGS[fits].describe()}) "
                         f"of the stored weights parts from the file's own")
        elif fits is not None:
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
                step = self.step_error(k, d, q)
                tenth = max(1, len(step) // 10)
                local = self.local_step_error(k, d, q)
                per.append({
                    "layer": k, "layer_name": self.a.layer_names[k], "direction": d, "quantity": q,
                    "a_how": self.a.layer(k, d).how(q), "b_how": self.b.layer(k, d).how(q),
                    "max_abs": float(err.max()),
                    "max_rel": float(self.relative_error(k, d, q).max()),
                    "max_ulp": int(self.ulp(k, d, q).max()),
                    "steps_out": int(rows.size),
                    "first_step_out": int(rows[0]) if rows.size else None,
                    # error growth: the largest difference in the first and last tenth of steps
                    "max_abs_first_tenth": float(step[:tenth].max()),
                    "max_abs_last_tenth": float(step[-tenth:].max()),
                    "local_max_abs": None if local is None else float(local.max()),
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
            "steps_per_tenfold_growth": self.growth(),
            "notes": self.notes,
            "quantities": per,
        }


def _jsonable(meta: dict) -> dict:
    return {str(k): (v if isinstance(v, (str, int, float, bool, type(None))) else str(v))
            for k, v in meta.items()}


def compare(a: Trace, b: Trace, atol: float | None = None, rtol: float | None = None,
            model=None, oracle: bool = True, progress=None) -> Report:
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
    progress : callable(fraction, text), optional
        Called during the model-based analysis (it runs lazily, when ``kind``, ``verdict``,
        ``local`` or ``to_dict`` is first asked for); may raise ``errors.Cancelled``.
    """
    atol = DEFAULT_ATOL if atol is None else float(atol)
    rtol = DEFAULT_RTOL if rtol is None else float(rtol)
    if atol < 0 or rtol < 0 or not np.isfinite([atol, rtol]).all():
        raise InspectorError(f"tolerances must be finite and non-negative (atol={atol}, rtol={rtol})")
    return Report(a, b, atol, rtol, model=model, oracle=oracle, progress=progress)
