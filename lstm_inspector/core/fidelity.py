"""Whether a path computed what the file's model computes, and the notes that say what it did.

Two paths can agree with each other and still both compute something else than the model in
the file: started from zeros where the model feeds its LSTM an initial state, computed float32
where the layer's ``mixed_float16`` policy computes float16, ignored a ``Masking`` layer's mask,
or ran a weights-only file under guessed settings; or the file's model computes something the
tool does not (``Model.unfaithful``: a layer before the first LSTM it cannot run, a layer
option it does not reimplement), which no path then computes. The rule the tool keeps: a verdict says
"agree" plainly only when both paths computed what the file's model computes; otherwise it says
what each path did in place of it (*departures*, known to differ from the file) and what the
loader had to guess (*assumptions*, unknown because the file does not store them).

Notes come from three places (the model loader, the feature reader, each path's run); one list,
in that order, without repeats, goes to the text report, the JSON, the HTML report and the
window: :func:`all_notes`.
"""
from __future__ import annotations

import numpy as np

from . import masking


def departures(model, trace) -> list:
    """Sentences naming where ``trace``'s path computed something else than the file's model."""
    if model is None:
        return []
    out = []
    try:
        chain = model.chain
    except Exception:  # a model with no runnable chain has no path to judge
        return []
    given = trace.initial_state or {}
    for k, layer in enumerate(chain):
        if layer.initial_state_from and any((k, d) not in given for d in layer.directions):
            out.append(f"started layer '{layer.name}' from zeros where the model feeds it an "
                       f"initial state ({', '.join(layer.initial_state_from)}); give it with "
                       f"--initial-state")
    policies = sorted({layer.dtype_policy for layer in chain
                       if layer.dtype_policy.startswith("mixed")})
    ran = trace.meta.get("dtype", "")
    for policy in policies:
        if ran != policy:
            out.append(f"computed {ran or 'float32'} where the file's '{policy}' policy computes "
                       f"float16 (--dtype {policy} follows it)")
    length = getattr(model, "sequence_length", None)
    if length is not None and length < trace.steps and trace.mask is None:
        out.append(f"ran every step where the file's sequence_lens ({model.sequence_length}) "
                   f"makes the later ones padding")
    if model.mask_value is not None and trace.mask is None:
        out.append(f"ran without the mask of the Masking layer (mask value "
                   f"{model.mask_value:g})")
    # what the file's model computes that the tool does not (no path computes it)
    out += [f"did not compute what the file does: {n}" for n in model.unfaithful()]
    return out


def assumptions(model) -> list:
    """What the loader assumed because the file does not store it (weights-only, checkpoints)."""
    return list(getattr(model, "assumptions", ()) or ())


def mask_note(trace) -> str:
    """A sentence on the path's mask (how many steps it masked), or ""."""
    if trace is None or trace.mask is None:
        return ""
    return f"the mask: {masking.describe(np.asarray(trace.mask))}"


def all_notes(model=None, feature_notes=(), traces=(), findings=()) -> list:
    """Every note, once: the model's (those about what runs: ``Model.run_notes``), the
    features', each path's (``trace.meta['notes']``, its mask), then the comparison's findings
    (``Report.notes``)."""
    if model is not None and hasattr(model, "run_notes"):
        notes = list(model.run_notes())
    else:
        notes = list(getattr(model, "notes", ()) or ())
    notes += list(feature_notes or ())
    for trace in traces:
        if trace is None:
            continue
        notes += [str(n) for n in trace.meta.get("notes", ()) or ()]
        note = mask_note(trace)
        if note:
            notes.append(note)
    notes += [str(n) for n in findings or ()]
    return list(dict.fromkeys(notes))


def path_departures(report) -> dict:
    """``{"a": [...], "b": [...]}``: each side's departures from the file's model."""
    return {"a": departures(report.model, report.a), "b": departures(report.model, report.b)}


def faithful(report) -> bool:
    """True when neither path departed from the file's model (assumptions aside)."""
    gone = path_departures(report)
    return not gone["a"] and not gone["b"]


def qualify(sentence: str, report) -> str:
    """``sentence`` (the comparison's verdict) followed by what the paths did in place of the
    file's model; an agreement under a departure no longer reads as a plain agreement."""
    gone = path_departures(report)
    both = [d for d in gone["a"] if d in gone["b"]]
    parts = []
    if both:
        parts.append("both paths " + "; ".join(both))
    for side, label in (("a", report.a_label), ("b", report.b_label)):
        own = [d for d in gone[side] if d not in both]
        if own:
            parts.append(f"{label} " + "; ".join(own))
    assumed = assumptions(report.model)
    if parts:
        head = ("They agree with each other, but this is not what the file's model computes: "
                if report.agree else "Besides, not what the file's model computes: ")
        sentence = f"{sentence} {head}{' / '.join(parts)}."
    if assumed:
        sentence = (f"{sentence} Assumed, as the file does not say: {'; '.join(assumed)}.")
    return sentence


def step_agreement(report) -> str:
    """"every single step agrees to X" for the precision verdict, said truly: when path B is
    float64, recomputing its steps in float64 matches them by construction."""
    worst = report.local["true_worst"]
    if report.b.meta.get("dtype") == "float64":
        return (f"{report.b_label} is float64, so recomputing its steps in float64 matches them "
                f"to {worst:.1g} by construction: the drift is {report.a_label}'s own rounding")
    return f"every single step agrees to {worst:.1g}"


def summary(report, feature_notes=()) -> dict:
    """The JSON fields of this module: ``faithful``, ``departures``, ``assumptions``,
    ``all_notes``, ``masked_steps`` (None without a mask)."""
    gone = path_departures(report)
    mask = report.a.mask if report.a.mask is not None else report.b.mask
    return {
        "faithful": not gone["a"] and not gone["b"],
        "departures": gone,
        "assumptions": assumptions(report.model),
        # every note (model, paths, findings); "notes" stays the comparison's own findings
        "all_notes": all_notes(report.model, feature_notes, (report.a, report.b),
                               getattr(report, "notes", ())),
        "masked_steps": None if mask is None else np.flatnonzero(~np.asarray(mask)).tolist(),
    }
