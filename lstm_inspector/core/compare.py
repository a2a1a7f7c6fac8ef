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
small local error everywhere that accumulates. Paths that agree have nothing for it to
explain, so by default it is computed when they part (``compare(local="always")``: always);
it is most of the analysis's arithmetic. The same teacher-forced run under the wrong
readings of ``weights.READINGS`` names the convention a path used when one fits exactly, and a
float64 run says which side is closer to exact arithmetic (by default also where they part:
``compare(oracle="always")`` runs it for every report).

The report is a frozen value: :func:`compare` computes it eagerly (``core.analysis``, chunk by
chunk, in the caller's thread: a GUI worker), and views, exports and the CLI only read it.
``with_tolerance`` re-thresholds the same traces without recomputing the teacher-forced
analysis. The full (T, H) arrays (``error``, ``out_of_tolerance``, ``ulp``) are read from the
traces when a view asks for them; the per-step summaries are stored.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from ..errors import InspectorError, verb
from . import analysis, fidelity
from .analysis import ulp_distance  # noqa: F401  (public: core.compare.ulp_distance)
from .trace import Trace

DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-4
#: Largest local error (relative to the value's scale) still read as reduced-precision
#: arithmetic: TF32 keeps 10 mantissa bits (2**-11 = 4.9e-4 per rounding).
PRECISION_LOCAL_RTOL = 5e-3
#: When b's local errors are computed (:func:`compare`'s ``local``)
LOCAL_ERRORS = ("needed", "always")
#: when compare runs the float64 oracle: where the paths part, always (also True), never (False)
ORACLES = ("needed", "always", "never")


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
    first_layer: int = 0  # the file's number of trace layer 0 (``Trace.first_layer``)

    @property
    def abs_error(self) -> float:
        return abs(self.a - self.b)

    def describe(self) -> str:
        where = f"layer {self.first_layer + self.layer} ({self.layer_name})"
        if self.direction != "forward":
            where += f" {self.direction}"
        return (f"step {self.step}, {where}, {self.quantity}[{self.unit}]: "
                f"{self.a:.9g} vs {self.b:.9g} (|diff| {self.abs_error:.3g})")

    def to_dict(self) -> dict:
        out = {**asdict(self), "abs_error": self.abs_error}
        out["layer"] = out.pop("first_layer") + self.layer  # as the file numbers it
        return out


class Report:
    """The comparison of trace ``a`` (the reference side) with trace ``b``: a frozen value.

    Built by :func:`compare` (or :meth:`with_tolerance`), which compute everything it says;
    reading it never computes an analysis. Stored: per-step ``step_error``, ``divergent_steps``,
    local error, ``first``, ``kind``, ``verdict``, ``notes``. Read from the traces on demand
    (for views): ``error``, ``allowed``, ``out_of_tolerance``, ``relative_error``, ``ulp``.
    """

    def __init__(self, a: Trace, b: Trace, measures: analysis.Measures,
                 limits: analysis.Threshold, model=None):
        self.a, self.b = a, b
        self.a_label, self.b_label = a.label or "a", b.label or "b"
        self.model = model
        self.measures = measures
        self.atol, self.rtol = limits.atol, limits.rtol
        self._limits = limits
        self._keys = list(measures.keys)
        self._first_by_key = {key: Divergence(k, a.layer_names[k], d, q, t, unit, va, vb,
                                              first_layer=a.first_layer)
                              for key, (k, d, q, t, unit, va, vb) in limits.first_by_key.items()}
        self.first = None if limits.first is None else self._first_by_key[limits.first[:2]]
        local = measures.local_errors() if model is not None and measures.local_done else None
        self.local = None
        if local is not None:
            fl = analysis.first_local(local, self.atol, model, a.steps)
            fits = fit_error = None
            if fl is not None:
                worst = measures.reading_worst.get(fl[1], {})
                candidates = {n: w for n, w in worst.items() if w <= self.atol}
                if candidates:
                    fits = min(candidates, key=candidates.get)
                    fit_error = candidates[fits]
            self.local = {"true": local,
                          "true_worst": max((float(e.max()) for e, _ in local.values()), default=0.0),
                          "fits": fits, "fit_error": fit_error, "first": fl}
        self.kind = self._kind()
        # never a plain "agree" when a path did not compute the file's model (core.fidelity)
        self.verdict = fidelity.qualify(self._verdict(), self)
        self.notes = self._notes()

    # ---- stored per-step summaries --------------------------------------------------------
    def keys(self) -> list:
        return list(self._keys)

    def step_error(self, layer, direction, quantity) -> np.ndarray:
        """(T,) the largest ``|a - b|`` over units at each step."""
        return self.measures.get(layer, direction, quantity).step_error

    def out_steps(self, layer, direction, quantity) -> np.ndarray:
        """(T,) bool: any unit of ``quantity`` out of tolerance at each step."""
        return self._limits.out_steps[(layer, direction, quantity)]

    def divergent_steps(self, layer=None, direction=None) -> np.ndarray:
        """Sorted steps (input time) where any quantity of the chosen layer(s) is out of tolerance."""
        mask = None
        for k, d in self._keys:
            if (layer is not None and k != layer) or (direction is not None and d != direction):
                continue
            for q in self.quantities(k, d):
                m = self.out_steps(k, d, q)
                mask = m if mask is None else mask | m
        return np.flatnonzero(mask) if mask is not None else np.array([], int)

    def first_in(self, layer, direction) -> Divergence | None:
        """The first divergence of one layer direction (same ordering as ``first``), or None."""
        return self._first_by_key.get((layer, direction))

    def local_step_error(self, layer, direction, quantity) -> np.ndarray | None:
        """(T,) local error of b's ``quantity`` per step (None: no model, or b's value is derived)."""
        return self.measures.get(layer, direction, quantity).local

    @property
    def closer_to_exact(self) -> str | None:
        """'a', 'b' or None (tie / no model / not computed): which side is closer to a float64 run."""
        return self.measures.closer_to_exact

    @property
    def agree(self) -> bool:
        return self.first is None

    def _admitted_by(self) -> str:
        """Which bound admits the largest difference: atol alone, or atol + rtol * |a|."""
        err, k, d, q = max((float(self.step_error(k, d, q).max()), k, d, q)
                           for k, d in self._keys for q in self.quantities(k, d))
        if err <= self.atol:
            return f"every difference is within atol={self.atol:g} (largest {err:.2g})"
        t = int(np.argmax(self.step_error(k, d, q)))
        va = self.a.layer(k, d).rows(q, t, t + 1)[0]   # one step: a long trace recomputes it
        row = np.abs(va.astype(np.float64) - self.b.layer(k, d).rows(q, t, t + 1)[0])
        size = abs(float(va[int(np.argmax(row))]))
        return (f"the largest difference, {err:.2g} ({q} at step {t}), exceeds atol={self.atol:g} "
                f"but is admitted by rtol={self.rtol:g}: atol + rtol x |a| = "
                f"{self.atol + self.rtol * size:.2g} at |a| = {size:.3g}")

    def max_error(self) -> float:
        return max(float(self.step_error(k, d, q).max()) for k, d in self._keys
                   for q in self.quantities(k, d))

    def quantities(self, layer, direction) -> tuple:
        """The quantities compared for this layer direction (its cell kind's: ``trace.py``)."""
        return self.a.layer(layer, direction).quantities

    def growth(self) -> float | None:
        """Steps over which the difference in h grows tenfold at the first divergence's layer and
        direction (``analysis.growth``), or None when it does not grow."""
        if self.first is None:
            return None
        k, d = self.first.layer, self.first.direction
        return analysis.growth(self.step_error(k, d, "h"),
                               analysis.reversed_direction(self.model, k, d))

    # ---- (T, H) arrays for views, read from the traces ------------------------------------
    def _pair(self, layer, direction, quantity):
        return (self.a.layer(layer, direction).quantity(quantity),
                self.b.layer(layer, direction).quantity(quantity))

    def error_rows(self, layer, direction, quantity, lo, hi) -> np.ndarray:
        """(hi - lo, H) float64 ``|a - b|`` of steps ``lo:hi`` (only those rows are read)."""
        qa = self.a.layer(layer, direction).rows(quantity, lo, hi)
        qb = self.b.layer(layer, direction).rows(quantity, lo, hi)
        return np.abs(qa.astype(np.float64) - qb.astype(np.float64))

    def out_rows(self, layer, direction, quantity, lo, hi) -> np.ndarray:
        """(hi - lo, H) bool: ``|a - b| > atol + rtol * |a|`` at steps ``lo:hi`` (NaN is out)."""
        qa = self.a.layer(layer, direction).rows(quantity, lo, hi).astype(np.float64)
        return ~(self.error_rows(layer, direction, quantity, lo, hi)
                 <= self.atol + self.rtol * np.abs(qa))

    def error(self, layer, direction, quantity) -> np.ndarray:
        """(T, H) float64 ``|a - b|``."""
        return self.error_rows(layer, direction, quantity, 0, self.a.steps)

    def allowed(self, layer, direction, quantity) -> np.ndarray:
        """(T, H) ``atol + rtol * |a|``."""
        qa, _ = self._pair(layer, direction, quantity)
        return self.atol + self.rtol * np.abs(qa.astype(np.float64))

    def out_of_tolerance(self, layer, direction, quantity) -> np.ndarray:
        """(T, H) bool: ``|a - b| > atol + rtol * |a|`` (NaN on either side counts as out)."""
        return self.out_rows(layer, direction, quantity, 0, self.a.steps)

    def relative_error(self, layer, direction, quantity) -> np.ndarray:
        qa, _ = self._pair(layer, direction, quantity)
        return self.error(layer, direction, quantity) / np.maximum(np.abs(qa), 1e-30)

    def ulp(self, layer, direction, quantity) -> np.ndarray:
        return ulp_distance(*self._pair(layer, direction, quantity))

    # ---- another tolerance ----------------------------------------------------------------
    def with_tolerance(self, atol=None, rtol=None, progress=None) -> "Report":
        """The same comparison under another tolerance: the traces are re-thresholded, the
        teacher-forced analysis is reused (a wrong reading is searched only for a layer not
        searched before). ``progress`` is used during this call only."""
        atol = self.atol if atol is None else atol
        rtol = self.rtol if rtol is None else rtol
        return _analyse(self.a, self.b, atol, rtol, self.model, self.measures, progress)

    # ---- summary --------------------------------------------------------------------------
    def _kind(self) -> str:
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

    def _verdict(self) -> str:
        """One sentence a person can act on."""
        if self.agree:
            return (f"{self.b_label} {verb(self.b_label, 'agrees')} with {self.a_label}: "
                    f"{self._admitted_by()}.")
        first = self.first
        if self.kind == "precision" and self._tf32_side() is not None:
            return self._tf32_verdict(self._tf32_side())
        if self.kind == "precision":
            tf32 = self.b.meta.get("tf32") is True or self.a.meta.get("tf32") is True
            half = "mixed_float16" in (self.a.meta.get("dtype"), self.b.meta.get("dtype"))
            why = ("float16 arithmetic (the mixed_float16 policy)" if half else
                   "TF32 matrix products" if tf32 else
                   "accumulation order / reduced-precision arithmetic")
            local = self.local
            growth = self.growth()
            if local is not None and growth is not None:
                return (f"Precision drift, not a bug: {fidelity.step_agreement(self)} "
                        f"({why}), and the dynamics amplify the "
                        f"differences (about x10 every {growth:.3g} steps), so the paths part "
                        f"from {first.describe()}.")
            extra = f"; {fidelity.step_agreement(self)}" if local is not None else ""
            return (f"Precision drift, not a bug: the paths part from {first.describe()}, "
                    f"consistent with {why}{extra}.")
        from .weights import READINGS

        where = first
        if self.local is not None and self.local["first"] is not None:
            step, k, d, q = self.local["first"]
            where = Divergence(k, self.a.layer_names[k], d, q, step, 0, 0.0, 0.0)
        layer_txt = self.a.layer_label(where.layer, where.direction)
        gate = "c~" if where.quantity == "c~" else where.quantity
        sentence = f"Structural divergence from step {where.step} in {gate} of {layer_txt}"
        fits = self.local["fits"] if self.local is not None else None
        if self.a.layer(where.layer, where.direction).cell == "gru":
            from .gru_weights import GRU_READINGS as READINGS   # noqa: N811 (a GRU's readings)
        if fits is not None and fits not in READINGS:
            fits = None
        if fits is not None and self.b.meta.get("reading") == fits:
            sentence += (f": this is where the '{fits}' reading ({READINGS[fits].describe()}) "
                         f"of the stored weights parts from the file's own")
        elif fits is not None:
            sentence += (f": {self.b_label} computes exactly what the '{fits}' reading "
                         f"({READINGS[fits].describe()}) of the stored weights computes")
        sentence += "."
        return sentence

    def _tf32_side(self) -> str | None:
        """'b' or 'a': the side that ran TF32 products (a GPU backend with TF32 on, or the
        ``tf32`` emulation) and is not the closer one to float64 arithmetic; else None."""
        for side, other in (("b", "a"), ("a", "b")):
            tf32 = getattr(self, side).meta.get("tf32")
            if (tf32 is True or str(tf32).startswith("emulated")) \
                    and self.closer_to_exact != side:
                return side
        return None

    def _tf32_verdict(self, side: str) -> str:
        """The precision verdict when one side's matrix products ran in TF32: TF32 named, its
        measured size (distance from float64 where the oracle ran), and how to confirm it."""
        other = "a" if side == "b" else "b"
        label, other_label = (self.b_label, self.a_label) if side == "b" else (self.a_label,
                                                                               self.b_label)
        exact = self.measures.exact_error
        biggest = max(float(self.step_error(k, d, "h").max()) for k, d in self._keys)
        if exact is not None and self.closer_to_exact == other:
            size = (f" and is farther from float64 arithmetic than {other_label} (h up to "
                    f"{exact[side]:.2g} from it, against {exact[other]:.2g})")
        else:
            size = f" (its h differs from {other_label}'s by up to {biggest:.2g})"
        emulated = str(getattr(self, side).meta.get("tf32")).startswith("emulated")
        confirm = ("this path emulates TF32 on the CPU; run the GPU backend with --tf32 off and "
                   "on to see it there" if emulated else
                   "confirm with --tf32 off, under which the same comparison should agree")
        local = f"; {fidelity.step_agreement(self)}" if self.local is not None else ""
        return (f"Precision drift from TF32, not a bug: {label} ran its matrix products in TF32 "
                f"(10 mantissa bits){size}{local}. The paths part from "
                f"{self.first.describe()}; {confirm}.")

    def _notes(self) -> list:
        """Findings beside the verdict: where a path's one-call run and its stepped run part,
        and what the analysis skipped."""
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
        return notes + list(self.measures.notes)

    # ---- export ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Everything the report says, as JSON-ready values (read, never computed)."""
        per = []
        for k, d in self._keys:
            for q in self.quantities(k, d):
                m = self.measures.get(k, d, q)
                rows = np.flatnonzero(self.out_steps(k, d, q))
                step = m.step_error
                tenth = max(1, len(step) // 10)
                per.append({
                    "layer": self.a.first_layer + k, "layer_name": self.a.layer_names[k],
                    "direction": d, "quantity": q,
                    "a_how": self.a.layer(k, d).how(q), "b_how": self.b.layer(k, d).how(q),
                    "max_abs": float(step.max()),
                    "max_rel": m.max_rel,
                    "max_ulp": m.max_ulp,
                    "steps_out": int(rows.size),
                    "first_step_out": int(rows[0]) if rows.size else None,
                    # error growth: the largest difference in the first and last tenth of steps
                    "max_abs_first_tenth": float(step[:tenth].max()),
                    "max_abs_last_tenth": float(step[-tenth:].max()),
                    "local_max_abs": None if m.local is None else float(m.local.max()),
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
            "notes": list(self.notes),
            "quantities": per,
            **fidelity.summary(self),
        }


def _jsonable(meta: dict) -> dict:
    return {str(k): (v if isinstance(v, (str, int, float, bool, type(None))) else str(v))
            for k, v in meta.items()}


def check_tolerance(atol, rtol) -> tuple:
    atol = DEFAULT_ATOL if atol is None else float(atol)
    rtol = DEFAULT_RTOL if rtol is None else float(rtol)
    if atol < 0 or rtol < 0 or not np.isfinite([atol, rtol]).all():
        raise InspectorError(f"tolerances must be finite and non-negative (atol={atol}, rtol={rtol})")
    return atol, rtol


def _analyse(a, b, atol, rtol, model, measures, progress, streamed=None) -> Report:
    """Threshold ``measures`` at (atol, rtol); search the wrong readings where the verdict needs
    them (the first locally wrong layer, once per layer); build the frozen Report."""
    atol, rtol = check_tolerance(atol, rtol)
    if progress is not None:
        progress(0.0, "comparing: tolerance")
    made = measures.masks
    limits = analysis.threshold(a, b, measures.keys, atol, rtol, model,
                                masks=made[1] if made is not None and made[0] == (atol, rtol) else None)
    if model is not None and limits.first is not None:
        if not measures.local_done:   # the paths part: the verdict reads b's local errors
            measures = measures.with_local(model, b, analysis.sub_progress(progress, 0.0, 0.5),
                                           streamed, a)
        if measures.oracle_left:      # ... and which side is closer to float64 (TF32, precision)
            measures = measures.with_oracle(model, a, b)
        fl = analysis.first_local(measures.local_errors(), atol, model, a.steps)
        if fl is not None and fl[1] not in measures.reading_worst:
            if progress is not None:
                progress(0.5, "trying the wrong readings")
            worst = analysis.reading_worst(model, b, measures.keys, fl[1], fl[0])
            measures = replace(measures, reading_worst={**measures.reading_worst, fl[1]: worst})
    if progress is not None:
        progress(1.0, "comparison done")
    return Report(a, b, measures, limits, model)


def compare(a: Trace, b: Trace, atol: float | None = None, rtol: float | None = None,
            model=None, oracle: str | bool = "needed", progress=None,
            local: str = "needed", streamed=None) -> Report:
    """Compare trace ``b`` against reference-side trace ``a``: the whole analysis, now.

    Parameters
    ----------
    a, b : Trace
        Two runs of the same model on the same features (``a`` is the reference side).
    atol, rtol : float, optional
        Tolerance (defaults ``DEFAULT_ATOL = 1e-5``, ``DEFAULT_RTOL = 1e-4``).
    model : Model, optional
        The model both ran; enables local-vs-carried error, the reading that fits, and the
        float64 oracle.
    oracle : "needed", "always" or "never" (True: always, False: never)
        When the float64 oracle (a second whole run of the model, which says which side is
        closer to exact arithmetic: ``Report.closer_to_exact``) runs: ``"needed"`` only when
        the paths part (the precision and TF32 verdicts read it; a later ``with_tolerance``
        under which they part runs it then), ``"always"`` in every report.
    progress : callable(fraction, text), optional
        Called during the analysis (chunk by chunk); may raise ``errors.Cancelled``. Not kept.
    local : "needed" or "always"
        When b's local errors (its steps recomputed in float64 from its own states, with a
        model) are computed: ``"needed"`` only when the paths part (the verdict reads them; a
        later ``with_tolerance`` under which they part computes them then), ``"always"`` in
        every report (``Report.local`` and the per-step local curves even when they agree).
    streamed : ``core.streamed.StreamedDifferences``, optional
        The differences taken while the reference ``a`` ran against ``b`` (``b`` ran first):
        those directions are not read again (the same values).

    Returns
    -------
    Report, frozen: reading it computes nothing more.
    """
    atol, rtol = check_tolerance(atol, rtol)
    if local not in LOCAL_ERRORS:
        raise InspectorError(f"local={local!r} is not one of {', '.join(LOCAL_ERRORS)}")
    oracle = {True: "always", False: "never"}.get(oracle, oracle)
    if oracle not in ORACLES:
        raise InspectorError(f"oracle={oracle!r} is not one of {', '.join(ORACLES)}")
    measures = analysis.measure(a, b, model=model, oracle=oracle,
                                progress=analysis.sub_progress(progress, 0.0, 0.85),
                                tolerance=(atol, rtol), local=local == "always",
                                streamed=streamed)
    return _analyse(a, b, atol, rtol, model, measures, analysis.sub_progress(progress, 0.85, 1.0),
                    streamed)


def either_side(report: Report) -> Report:
    """The report whose step-by-step check decides the verdict when neither path is the
    reference: ``report`` examines b's steps against the model's equations (teacher forcing);
    either path may be the wrong one, so when ``report`` parts without a structural finding, a's
    steps are examined too (the comparison read from b's side) and a structural finding there
    wins. With the reference as a, ``report`` alone is right (the reference is the equations)."""
    if report.agree or report.kind == "structural" or report.model is None:
        return report
    swapped = compare(report.b, report.a, atol=report.atol, rtol=report.rtol, model=report.model,
                      oracle=False)
    return swapped if swapped.kind == "structural" else report
