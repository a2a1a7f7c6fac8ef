"""A sweep's rows summed up: worst first, counts per verdict, the spread of the largest difference.

"Worst" is the largest difference ``max |a - b|`` (a NaN counts as infinitely bad); rows that
could not run (``kind == "error"``) come after every row that ran. The exit code follows
``compare``'s: 0 when every utterance agrees, 1 when any diverges, 2 when none diverges but some
could not be read (or there was nothing to sweep).
"""
from __future__ import annotations

import math

KINDS = ("agree", "precision", "structural", "error")
KIND_TEXT = {"agree": "agree", "precision": "precision drift", "structural": "structural",
             "error": "error"}
#: Histogram bins of the largest difference: one per decade, from 1e-9 up to 1e1.
DECADES = tuple(range(-9, 2))


def _badness(row) -> float:
    value = row.get("max_error")
    if value is None:
        return -math.inf
    return math.inf if math.isnan(value) else float(value)


def worst_first(rows) -> list:
    """Rows sorted by largest difference, largest first; error rows last, in corpus order."""
    ran = [r for r in rows if r["kind"] != "error"]
    failed = [r for r in rows if r["kind"] == "error"]
    return sorted(ran, key=_badness, reverse=True) + failed


def histogram(rows) -> list:
    """``[(label, count), ...]``: how many utterances' largest difference falls in each decade.

    Bins are ``< 1e-9``, ``[1e-9, 1e-8)``, ... ``[1e0, 1e1)``, ``>= 1e1`` (NaN counts there).
    """
    counts = [0] * (len(DECADES) + 1)
    for row in rows:
        value = _badness(row)
        if value == -math.inf:
            continue
        if value < 10.0 ** DECADES[0]:
            counts[0] += 1
            continue
        exponent = math.floor(math.log10(value)) if math.isfinite(value) else DECADES[-1]
        counts[min(exponent - DECADES[0] + 1, len(DECADES))] += 1
    labels = [f"<1e{DECADES[0]}"] + [f"1e{d}" for d in DECADES[:-1]] + [f">=1e{DECADES[-1]}"]
    return list(zip(labels, counts))


def summarize(rows, total: int | None = None) -> dict:
    """Counts per verdict, the worst utterances and the histogram, as JSON-able data.

    ``total`` is the corpus size when the sweep stopped early (``done < total``).
    """
    counts = {kind: sum(1 for r in rows if r["kind"] == kind) for kind in KINDS}
    ordered = worst_first(rows)
    ran = [r for r in ordered if r["kind"] != "error"]
    return {
        "utterances": len(rows) if total is None else total,
        "done": len(rows),
        "counts": counts,
        "worst": [r["name"] for r in ran[:10]],
        "largest_difference": ran[0]["max_error"] if ran else None,
        "histogram": histogram(rows),
        "answers_changed": sum(1 for r in rows if r.get("answer") and not r["answer"]["same"]),
        "backends": sorted({r["backend"] for r in rows if r.get("backend")}),
        "seconds": round(sum(r["seconds"] or 0.0 for r in rows), 3),
    }


def exit_code(rows) -> int:
    """0 every utterance agrees, 1 any diverges (or agrees on something else than the file's
    model: ``faithful`` false), 2 none diverges but some could not run."""
    kinds = {r["kind"] for r in rows}
    if kinds & {"precision", "structural"} or any(r.get("faithful") is False for r in rows):
        return 1
    if "error" in kinds or not rows:
        return 2
    return 0


def first_text(first) -> str:
    """``step 1, layer 0 i[1]`` (``backward`` named when it is)."""
    if not first:
        return "-"
    direction = "" if first["direction"] == "forward" else f" {first['direction']}"
    return f"step {first['step']}, layer {first['layer']}{direction} {first['quantity']}[{first['unit']}]"


def answer_text(answer) -> str:
    if not answer:
        return "-"
    return answer["a"] if answer.get("same") else f"{answer['a']} -> {answer['b']}"


def number_text(value) -> str:
    return "-" if value is None else f"{value:.2e}"


def format_table(rows, header: dict, total: int | None = None) -> str:
    """The rows, worst first, then the summary, as plain text for the terminal. The last column
    is each utterance's address (``/abs/feats.ark:1234``): ``lstm-inspector MODEL ADDRESS``
    reopens it."""
    ordered = worst_first(rows)
    summary = summarize(rows, total)
    width = min(max([len(r["name"]) for r in rows] + [9]), 48)
    ran = ", ".join(b for b in summary["backends"] if b != header["backend"])
    lines = [f"model:   {header['model']}", f"source:  {header['source']}",
             f"path B:  {header['backend']}{f' (ran as {ran})' if ran else ''}   "
             f"tolerance: atol={header['atol']:g} rtol={header['rtol']:g}",
             "",
             f"{'utterance':<{width}}  {'frames':>6}  {'verdict':<15}  {'largest diff':>12}  "
             f"{'first divergence':<26}  {'answer':<16}  {'time':>6}  address"]
    for r in ordered:
        name = r["name"] if len(r["name"]) <= width else "..." + r["name"][-(width - 3):]
        frames = "-" if r["frames"] is None else str(r["frames"])
        seconds = "-" if r["seconds"] is None else f"{r['seconds']:.2f}s"
        lines.append(f"{name:<{width}}  {frames:>6}  {KIND_TEXT[r['kind']]:<15}  "
                     f"{number_text(r['max_error']):>12}  {first_text(r['first']):<26}  "
                     f"{answer_text(r['answer']):<16}  {seconds:>6}  {r.get('address') or '-'}")
    counts = summary["counts"]
    lines.append("")
    done = summary["done"]
    stopped = f" (stopped after {done} of {summary['utterances']})" if done < summary["utterances"] else ""
    lines.append(f"summary: {done} utterances{stopped}: {counts['agree']} agree, "
                 f"{counts['precision']} precision drift, {counts['structural']} structural, "
                 f"{counts['error']} could not run"
                 + (f"; the model's answer changed on {summary['answers_changed']}"
                    if any(r.get("answer") for r in rows) else ""))
    ran = [r for r in ordered if r["kind"] != "error"]
    if ran:
        lines.append(f"largest difference: {number_text(ran[0]['max_error'])} in {ran[0]['name']}: "
                     f"{ran[0]['verdict']}")
    by_sentence = {}
    for r in ordered:
        if r["kind"] == "error":
            by_sentence.setdefault(r["verdict"], []).append(r["name"])
    for sentence, names in by_sentence.items():  # one line per distinct sentence
        who = names[0] if len(names) == 1 else (
            f"{len(names)} utterances ({', '.join(names[:2])}"
            + (f" and {len(names) - 2} more)" if len(names) > 2 else ")"))
        lines.append(f"could not run {who}: {sentence}")
    return "\n".join(lines)
