"""Diagnose a path: does it agree with the file's own forward pass, and if not, which convention
did it get wrong, how to fix it, and does the fix work?

``diagnose(model, x, trace)`` compares ``trace`` (the user's function from ``run_impl``, the
outputs of a port from ``load_outputs``, or any backend's trace) with the float32 NumPy
reference, then, for every layer direction that diverges, runs the detective
(``core.detective``): the ranked conventions that reproduce the path, the best one's fix in
the port's terms with NumPy lines (``core.fixes``, checked by running the fixed reading), and,
when the path is the user's function and the fix only rewrites arrays, the user's function
re-run on the fixed arrays against the reference. When nothing fits, the finding points at the
first step where the path's own step leaves the file's equations (step, unit, values).

The result, :class:`Diagnosis`, is a value: ``.agree``, ``.exit_code`` (0 agree, 1 diverge),
``.findings`` (one :class:`LayerFinding` per layer direction), ``.text`` and ``.to_dict()``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.analysis import reversed_direction
from ..core.compare import compare
from ..core.detective import FIT_ATOL, FIT_RTOL, Detective
from ..core.fixes import make_fix
from ..core.torch_fixes import torch_fix
from ..core.port_trace import PortTrace, to_input_time
from ..core.reference import layer_output, run_reference
from ..errors import verb

SHOWN = 5   # candidates listed after the best
WORDS = {"port": {"your": "your", "yours": "yours", "port": "your port"},
         "path": {"your": "its", "yours": "this path", "port": "this path"},
         "file": {"your": "its", "yours": "this file", "port": "this file"}}
#: Largest local difference from the file's own equations still read as arithmetic (h and c
#: are O(1); a convention fault moves them by 1e-2 or more, see tests/test_detective.py).
PRECISION_LIMIT = 5e-3


@dataclass
class LayerFinding:
    """The diagnosis of one layer direction.

    agrees : the path is within tolerance of the reference here (nothing else is filled then).
    first : where it first leaves tolerance: ``{"step", "quantity", "unit", "reference", "path"}``.
    ranking : :class:`~lstm_inspector.core.detective.Candidate` list, best first.
    best : the best candidate if it fits, else None.
    fix : its :class:`~lstm_inspector.core.fixes.Fix` (None when nothing fits).
    rerun_error : the user's function re-run on the fixed arrays, max |h - reference h| (None
        when not re-run).
    local_step : first step where the path's own step leaves the file's equations, when
        nothing fits: ``{"step", "unit", "path", "equations"}``.
    teacher_local : a step-form function's per-step max |h - reference h| when each step starts
        from the reference's state (None for other paths).
    precision : when no convention fault is found but every step of the path follows the
        file's own equations to within ``PRECISION_LIMIT``: that largest local difference (the
        divergence is then arithmetic: accumulated rounding, float16, an approximate tanh).
    tf32 : with ``precision``, the hypothesis "consistent with TF32 matmuls"
        (``core.tf32.step_effect``): ``{"path", "tf32", "float32", "consistent"}``, the path's
        local error against what TF32 rounding of ``x @ W`` does to the same steps.
    """

    layer: int
    layer_name: str
    direction: str
    agrees: bool
    c_known: bool = False
    first: dict | None = None
    ranking: list = field(default_factory=list)
    best: object = None
    fix: object = None
    rerun_error: float | None = None
    local_step: dict | None = None
    teacher_local: np.ndarray | None = None
    precision: float | None = None
    tf32: dict | None = None
    tolerance: tuple = (0.0, 0.0)
    whose: str = "port"   # "port": the user's function or outputs; "path": a backend
    steps: int = 0        # T
    cell: str = "lstm"    # "gru": GRU conventions (core.gru_detective), h is the whole state

    @property
    def kind(self) -> str:
        """``agrees``, ``convention`` (a fault found, with its fix), ``arithmetic`` (every step
        follows the file's equations closely) or ``unexplained``."""
        if self.agrees:
            return "agrees"
        if self.best is not None:
            return "convention"
        return "arithmetic" if self.precision is not None else "unexplained"

    @property
    def where(self) -> str:
        text = f"layer {self.layer} ({self.layer_name})"
        return text if self.direction == "forward" else f"{text} {self.direction}"

    def text(self) -> str:
        w = WORDS[self.whose]
        lines = []
        if self.agrees:
            return f"{self.where}: agrees with the reference"
        f = self.first
        lines.append(f"{self.where}: diverges from step {f['step']} ({f['quantity']}[{f['unit']}]: "
                     f"reference {f['reference']:.7g}, {w['yours']} {f['path']:.7g})")
        if self.teacher_local is not None:
            atol = self.tolerance[0]
            bad = np.flatnonzero(self.teacher_local > atol)
            if bad.size:
                lines.append(f"  started from the reference's state at every step, your step "
                             f"{bad[0]} alone is off by {self.teacher_local[bad[0]]:.2g} "
                             f"(worst step {int(np.argmax(self.teacher_local))}: "
                             f"{self.teacher_local.max():.2g})")
        evidence = "h and c" if self.c_known else \
            "h (a GRU's whole state)" if self.cell == "gru" else "h (c carried by each hypothesis)"
        if self.best is not None:
            b = self.best
            span = ("every step" if b.steps >= self.steps - 1
                    else f"each of the first {b.steps} steps")
            lines.append(f"  best match: {b.hypothesis.describe()}: reproduces {span} of "
                         f"{w['your']} {evidence} to {b.error:.2g}")
            if self.whose == "file":
                lines.append(f"  the converter that wrote this file got this wrong: "
                             f"{b.hypothesis.describe()}")
            lines.append(f"  fix: {self.fix.sentence}")
            lines += ["      " + line for line in self.fix.lines]
            lines.append(f"  checked: the fixed reading, run over the whole input, equals the "
                         f"file's to {self.fix.check_error:.2g}")
            if self.rerun_error is not None:
                verdict = "agrees" if self.rerun_ok else "still differs"
                lines.append(f"  your function re-run on the fixed arrays {verdict} with the "
                             f"reference (max |h difference| {self.rerun_error:.2g})")
        elif self.precision is not None:
            lines.append(f"  no convention fault: every step of {w['port']} follows the "
                         f"file's own equations to {self.precision:.2g} (from {w['your']} "
                         f"previous state); the "
                         f"divergence is arithmetic (accumulated rounding, reduced precision, an "
                         f"approximate exp or tanh), not a convention")
            if self.tf32 and self.tf32["consistent"]:
                t = self.tf32
                lines.append(f"  consistent with TF32 matmuls: each step is off by up to "
                             f"{t['path']:.2g}, the size TF32 rounding of x @ W gives these "
                             f"steps ({t['tf32']:.2g}; float32 alone {t['float32']:.1g}); on a "
                             f"GPU, --tf32 off should make it agree (a hypothesis of size, "
                             f"not an equality)")
        else:
            lines.append(f"  no convention (one or two faults) reproduces {w['port']}; the "
                         f"closest are listed below")
            if self.local_step:
                s = self.local_step
                gate = {"c": "c (through i, f or c~)", "h": "h"}.get(s["gate"], f"the {s['gate']} gate")
                lines.append(f"  {w['your']} own step {s['step']} first leaves the file's "
                             f"equations (from {w['your']} previous state) in {gate} of unit "
                             f"{s['unit']}: "
                             f"h[{s['unit']}] = {s['path']:.7g}, the equations give "
                             f"{s['equations']:.7g}")
        others = [c for c in self.ranking if c is not self.best][:SHOWN]
        if others:
            lines.append(f"  other candidates (max error against {w['port']}):")
            lines += [f"    {c.error:9.2g}  {c.hypothesis.describe()}" for c in others]
        return "\n".join(lines)

    @property
    def rerun_ok(self) -> bool:
        return self.rerun_error is not None and self.rerun_error <= self.tolerance[0] * 10

    def to_dict(self) -> dict:
        out = {"layer": self.layer, "layer_name": self.layer_name, "direction": self.direction,
               "agrees": self.agrees, "kind": self.kind, "c_known": self.c_known, "first": self.first,
               "match": None, "fix": None, "rerun_error": self.rerun_error,
               "local_step": self.local_step, "precision": self.precision,
               "tf32": self.tf32,
               "candidates": [{"faults": c.hypothesis.key(), "describe": c.hypothesis.describe(),
                               "error": c.error, "fits": c.fits} for c in self.ranking[:SHOWN + 1]]}
        if self.best is not None:
            out["match"] = {"faults": self.best.hypothesis.key(),
                            "describe": self.best.hypothesis.describe(),
                            "error": self.best.error,
                            "faults_in_words": self.best.hypothesis.describe().split(" + ")}
            out["fix"] = {"sentence": self.fix.sentence, "lines": list(self.fix.lines),
                          "arrays_only": self.fix.arrays_only, "check_error": self.fix.check_error}
        if self.teacher_local is not None:
            out["teacher_forced_local_max"] = float(self.teacher_local.max())
        return out


@dataclass
class Diagnosis:
    """The whole diagnosis: the compare report and one finding per layer direction."""

    label: str
    findings: list
    report: object

    @property
    def agree(self) -> bool:
        return all(f.agrees for f in self.findings)

    @property
    def exit_code(self) -> int:
        return 0 if self.agree else 1

    @property
    def marked_step(self):
        """``(layer, direction, step)`` to mark in a divergence view: the first divergence of
        the first finding that diverges (by input time), or None when everything agrees."""
        for f in self.findings:
            if not f.agrees:
                return f.layer, f.direction, f.first["step"]
        return None

    @property
    def text(self) -> str:
        head = (f"{self.label} {verb(self.label, 'agrees')} with the reference" if self.agree
                else f"{self.label} {verb(self.label, 'diverges')} from the reference")
        head += f" (atol={self.report.atol:g}, rtol={self.report.rtol:g})"
        return "\n".join([head] + [f.text() for f in self.findings])

    def to_dict(self) -> dict:
        marked = self.marked_step
        return {"label": self.label, "agree": self.agree, "atol": self.report.atol,
                "rtol": self.report.rtol,
                "marked_step": None if marked is None else dict(zip(("layer", "direction", "step"), marked)),
                "findings": [f.to_dict() for f in self.findings]}


def _first_out(report, k, d, measured) -> dict:
    """The earliest (processing order) out-of-tolerance measured quantity of (k, d)."""
    best = None
    reverse = reversed_direction(report.model, k, d)
    quantities = report.quantities(k, d)   # the cell kind's, in causal order
    for rank, q in enumerate(q for q in quantities if q in measured):
        rows = np.flatnonzero(report.out_steps(k, d, q))
        if not rows.size:
            continue
        t = int(rows[-1] if reverse else rows[0])
        pos = (report.a.steps - 1 - t) if reverse else t
        if best is None or (pos, rank) < best[0]:
            unit = int(np.argmax(report.error(k, d, q)[t]))
            a, b = report.a.layer(k, d).quantity(q), report.b.layer(k, d).quantity(q)
            best = ((pos, rank), {"step": t, "quantity": q, "unit": unit,
                                  "reference": float(a[t, unit]), "path": float(b[t, unit])})
    return None if best is None else best[1]


def _layer_input(model, trace, reference, k):
    inputs = getattr(trace, "layer_inputs", {}) or {}
    if k in inputs:
        return inputs[k]
    if k == 0:
        return reference.x
    below = trace.layers[k - 1] if k - 1 < len(trace.layers) else {}
    return layer_output(model.chain[k - 1], (below if below else reference.layers[k - 1]))


def diagnose(model, x, trace, layer=None, atol=None, rtol=None, reference=None, rerun=True,
             progress=None, timeout=None, report=None):
    """Diagnose ``trace`` against the file's own forward pass.

    Parameters
    ----------
    model : Model
    x : array (T, in), the model's input features (as given to ``run_impl``).
    trace : Trace
        A path to diagnose: ``run_impl``'s, ``load_outputs``'s, or any backend's.
    layer : int, optional
        Only this chain layer (default: every layer the trace holds).
    atol, rtol : tolerance of the agreement test (defaults of ``compare``).
    reference : Trace, optional; the float32 NumPy reference (computed when not given).
    rerun : re-run the user's function on the fixed arrays when the fix rewrites arrays only.
    progress : callable(fraction, text), optional; raising from it cancels.
    timeout : seconds for re-running the user's function (default ``user_impl.DEFAULT_TIMEOUT``).
    report : the ``compare(reference, trace, model=model)`` report when one is at hand (the
        window has it); it is not computed again, and its tolerance is used.

    Returns
    -------
    Diagnosis
    """
    from .user_impl import DEFAULT_TIMEOUT, run_impl_arrays

    if report is not None:
        reference = report.a
    elif reference is None:
        reference = run_reference(model, x)
    if report is None:
        report = compare(reference, trace, atol=atol, rtol=rtol, model=model, oracle=False)
    keys = [(k, d) for k, d in report.keys() if layer is None or k == int(layer)]
    findings, reruns = [], []
    for n, (k, d) in enumerate(keys):
        if progress is not None:
            progress(n / max(len(keys), 1), f"diagnosing layer {k} {d}")
        lt = trace.layer(k, d)
        measured = [q for q in lt.quantities if lt.how(q) != "derived"]
        finding = LayerFinding(k, reference.layer_names[k], d, agrees=True,
                               c_known=lt.cell == "lstm" and lt.how("c") != "derived",
                               tolerance=(report.atol, report.rtol),
                               whose=_whose(trace),
                               steps=lt.steps, cell=lt.cell)
        tf = getattr(trace, "teacher_forced", {}).get((k, d))
        if tf is not None:
            finding.teacher_local = np.abs(tf["h"] - reference.layer(k, d).h).max(axis=1)
        finding.first = _first_out(report, k, d, measured)
        if finding.first is not None:
            finding.agrees = False
            _investigate(finding, model, trace, reference, k, d, lt)
            if finding.fix is not None and finding.fix.arrays_only and rerun \
                    and getattr(trace, "impl", None) is not None:
                reruns.append(finding)
        findings.append(finding)
    if reruns:
        _rerun(trace, model, reference, reruns, run_impl_arrays,
               timeout or DEFAULT_TIMEOUT, progress)
    if progress is not None:
        progress(1.0, "diagnosis done")
    return Diagnosis(trace.label or "the path", findings, report)


def _whose(trace) -> str:
    """Whose path it is, for the wording: "port" (the user's function or outputs), "file" (an
    exported ONNX / TFLite / NumPy file, ``backends.exported``) or "path" (a backend)."""
    if isinstance(trace, PortTrace):
        return "port"
    return "file" if trace.meta.get("file") else "path"


def _investigate(finding, model, trace, reference, k, d, lt):
    layer = model.chain[k]
    reverse = reversed_direction(model, k, d)
    x_proc = to_input_time(np.asarray(_layer_input(model, trace, reference, k)), reverse)
    h_proc = to_input_time(lt.h, reverse)
    c_proc = to_input_time(lt.c, reverse) if finding.c_known else None
    stored = layer.directions[d]
    if layer.cell == "gru":   # core.gru_detective: GRU conventions, teacher-forced on h alone
        finding._x_proc, finding._reverse = x_proc, reverse
        _investigate_gru(finding, stored, x_proc, h_proc)
        return
    detective = Detective(stored, x_proc, h_proc, c_proc)
    finding.ranking = detective.search()
    top = finding.ranking[0]
    if top.fits and top.hypothesis.n_faults:
        finding.best = top
        from .user_impl import TORCH_FORMATS

        fix = torch_fix if model.file_format in TORCH_FORMATS else make_fix   # its arrays' words
        finding.fix = fix(stored, top.hypothesis, x_proc, subject=WORDS[finding.whose]["port"])
        finding._x_proc, finding._reverse = x_proc, reverse
        return
    truth = next(c for c in finding.ranking if not c.hypothesis.n_faults)
    if truth is top and truth.error <= PRECISION_LIMIT:
        finding.precision = truth.error
        finding.tf32 = None if layer.proj_size else _tf32_hypothesis(  # step_effect: no W_hr
            layer, d, trace, k, x_proc, h_proc, reverse)
        return
    rows, h_pred, c_pred, gates = detective.step_prediction()
    target = h_proc[rows]
    bad = ~(np.abs(h_pred - target) <= FIT_ATOL + FIT_RTOL * np.abs(target))   # NaN is bad
    hit = np.flatnonzero(bad.any(axis=1))
    if hit.size:
        r = int(hit[0])
        unit = int(np.argmax(np.nan_to_num(np.abs(h_pred[r] - target[r]), nan=np.inf)))
        t_proc = int(rows[r])
        step = (len(h_proc) - 1 - t_proc) if reverse else t_proc
        finding.local_step = {"step": step, "unit": unit, "path": float(target[r, unit]),
                              "equations": float(h_pred[r, unit]),
                              "gate": _first_gate(lt, step, unit, gates[r], c_pred[r], c_proc, t_proc)}


def _investigate_gru(finding, stored, x_proc, h_proc) -> None:
    """A GRU direction: the ranked GRU conventions, the best one's fix, or arithmetic."""
    from ..core.gru_detective import GRUDetective, make_gru_fix

    finding.ranking = GRUDetective(stored, x_proc, h_proc).search()
    top = finding.ranking[0]
    if top.fits and top.hypothesis.n_faults:
        finding.best = top
        finding.fix = make_gru_fix(stored, top.hypothesis, x_proc,
                                   subject=WORDS[finding.whose]["port"])
        return
    truth = next(c for c in finding.ranking if not c.hypothesis.n_faults)
    if truth is top and truth.error <= PRECISION_LIMIT:
        finding.precision = truth.error


def _tf32_hypothesis(layer, d, trace, k, x_proc, h_proc, reverse) -> dict:
    """``core.tf32.step_effect`` on the path's own steps (its c: measured, stepped or derived)."""
    from ..core.tf32 import step_effect

    h0 = c0 = None
    if trace.initial_state:
        h0, c0 = trace.start_state(k, d, layer.units, np.float64)
    c_proc = to_input_time(trace.layer(k, d).c, reverse)
    return step_effect(layer.weights(d), x_proc, h_proc, c_proc, h0, c0)


GATE_ORDER = ("i", "f", "c~", "o")


def _first_gate(lt, step, unit, gates, c_pred, c_proc, t_proc) -> str:
    """Which quantity of step ``step`` leaves the equations first: a gate the path measured
    (``i f c~ o``), else ``c`` (through i, f or c~) or ``o`` when the path's c is known."""
    for k, name in enumerate(GATE_ORDER):
        if lt.how(name) == "measured":
            mine = float(lt.gate(name)[step, unit])
            if not abs(mine - gates[k, unit]) <= FIT_ATOL + FIT_RTOL * abs(mine):
                return name
    if c_proc is None:
        return "h"
    mine = float(c_proc[t_proc, unit])
    return "c" if not abs(mine - c_pred[unit]) <= FIT_ATOL + FIT_RTOL * abs(mine) else "o"


def _rerun(trace, model, reference, findings, run_impl_arrays, timeout, progress):
    """The user's function on each finding's fixed arrays, against the reference's h."""
    from .user_impl import impl_arrays

    jobs = []
    for f in findings:
        stored = model.chain[f.layer].directions[f.direction]
        jobs.append({**impl_arrays(model, stored, f.fix.fixed_arrays),
                     "x": np.ascontiguousarray(f._x_proc, np.float32)})
    reply = run_impl_arrays(trace.impl, jobs, timeout, progress)
    for f, result in zip(findings, reply["results"]):
        h = result["sequence"]["h"] if "sequence" in result else result["free"][0]
        ref_h = to_input_time(reference.layer(f.layer, f.direction).h, f._reverse)
        f.rerun_error = float(np.abs(h - ref_h).max())
