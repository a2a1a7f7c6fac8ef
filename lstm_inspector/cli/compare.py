"""``lstm-inspector compare MODEL FEATURES [--a PATH] [--b PATH]``: two paths side by side.

Exit 0 when the paths agree and computed what the file's model computes, 1 otherwise. A is the
reference unless ``--a`` says otherwise; then the step-by-step check (teacher forcing) that
tells precision from structure examines *both* sides, since either may be the wrong one.
``--chunk N``: the streaming check of path B instead (``paths.streaming``).
"""
from __future__ import annotations

import json

from . import options


def add_parser(sub):
    p = sub.add_parser("compare", help="compare two paths (default: the NumPy reference and "
                                       "a backend)")
    p.add_argument("model")
    p.add_argument("features")
    options.add_path_options(p)
    options.add_tolerance_options(p)
    options.add_run_options(p)
    p.add_argument("--tf32", choices=("on", "off"), default=None,
                   help="TF32 for GPU backends (default: the library's own default)")
    options.add_stepped_option(p)
    p.add_argument("--oracle", choices=("needed", "always", "never"), default="needed",
                   help="when the float64 oracle (a second whole run, which says which path is "
                        "closer to exact arithmetic) runs: where the paths part (default; the "
                        "precision verdict reads it), always, or never")
    p.add_argument("--no-oracle", action="store_const", const="never", dest="oracle",
                   help="the same as --oracle never")
    p.add_argument("--local-errors", choices=("needed", "always"), default="needed",
                   help="when B's local errors (each step recomputed in float64 from B's own "
                        "state) are computed: where the paths part (default; they explain it), "
                        "or always (the JSON's local_error_max then set on agreement too)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    options.add_model_options(p)
    options.add_feature_options(p)
    p.add_argument("--chunk", type=int, metavar="N", default=None,
                   help="streaming check: run path B in chunks of N frames carrying (h, c) "
                        "and compare with its one-call run")
    p.add_argument("--chunk-bug", choices=("reset", "swap"), default=None,
                   help="plant a streaming bug (state reset at each chunk, or h and c swapped "
                        "when carried) to see the check name it")
    return p


def run_paths(args, model, x):
    """The two paths run with the command's settings (``paths.pair.run_pair``: your
    implementation is fed the float32 reference's layer inputs when A is that reference; any
    other B runs first and the reference streams its differences with it)."""
    from ..paths.pair import run_pair
    from ..paths.registry import PathSettings

    spec_a, spec_b = options.path_specs(args)
    settings = PathSettings(dtype=args.dtype, tf32=options.tf32(args.tf32), stepped=args.stepped,
                            initial_state=options.initial_state(args, model),
                            form=getattr(args, "form", None),
                            timeout=getattr(args, "timeout", None))
    return run_pair(spec_a, spec_b, model, x, settings, (args.atol, args.rtol),
                    args.local_errors)


def cmd_compare(args) -> int:
    from ..core.compare import compare, either_side
    from ..core.fidelity import all_notes, faithful

    model, feats, x = options.load(args)
    if args.chunk is not None:
        return cmd_stream(args, model, x)
    pair = run_paths(args, model, x)
    trace_a, trace_b, a_is_reference = pair.a, pair.b, pair.a_is_reference
    report = compare(trace_a, trace_b, atol=args.atol, rtol=args.rtol, model=model,
                     oracle=args.oracle, local=args.local_errors, streamed=pair.streamed)
    decisive = report if a_is_reference else either_side(report)
    if args.json:
        from ..core.head import model_answer

        out = report.to_dict()
        out["model"], out["features"] = model.source, feats.source
        if decisive is not report:
            out["kind"], out["verdict"] = decisive.kind, decisive.verdict
        out["a_is_reference"] = a_is_reference
        answer = model_answer(model, report.a, report.b, report.atol, report.rtol)
        out["model_output"] = None if answer is None else answer.to_dict()
        out["notes"] = all_notes(model, feats.notes, (trace_a, trace_b), report.notes)
        out["front"] = None if model.front is None else model.front.to_dict()
        print(json.dumps(out, indent=2))
    else:
        print(format_report(report, model, feats, decisive, a_is_reference))
    # 0 only when the paths agree AND computed what the file's model computes
    return 0 if report.agree and faithful(report) else 1


def format_report(report, model, feats, decisive=None, a_is_reference=True) -> str:
    """The compare summary as plain text (``decisive``: the report whose verdict is said)."""
    from ..core.fidelity import all_notes
    from ..core.head import model_answer

    decisive = report if decisive is None else decisive
    lines = [
        f"model:     {model.source}",
        f"features:  {feats.source} ({feats.steps} frames x {feats.width})",
        f"a:         {report.a_label}   [{report.a.describe()}]",
        f"b:         {report.b_label}   [{report.b.describe()}]",
        f"tolerance: atol={report.atol:g} rtol={report.rtol:g}",
        "max |a - b| per quantity (* derived on the b side, ~ stepped):",
    ]
    mark = {"derived": "*", "stepped": "~", "measured": " "}
    header = None
    for k, d in report.keys():
        name = f"{report.a.first_layer + k} {report.a.layer_names[k]}"
        name += "" if d == "forward" else f" {d}"
        quantities = report.quantities(k, d)   # a GRU's: r z n Rh h
        if quantities != header:
            header = quantities
            lines.append("  " + f"{'layer':<28}" + "".join(f"{q:>11}" for q in quantities))
        cells = []
        for q in quantities:
            how = report.b.layer(k, d).how(q)
            cells.append(f"{report.step_error(k, d, q).max():>10.2e}{mark.get(how, ' ')}")
        lines.append("  " + f"{name:<28}" + "".join(cells))
    for note in all_notes(model, feats.notes, (report.a, report.b), report.notes):
        lines.append(f"note: {note}")
    if not a_is_reference:
        lines.append(f"note: path A ({report.a_label}) is not the reference: where the paths "
                     f"part, both paths' own steps are checked against the model's equations "
                     f"(teacher forcing) and the verdict names the one that breaks them; the "
                     f"tolerance scales with |a|")
    lines.append("first divergence: " + (report.first.describe() if report.first else "none"))
    if report.closer_to_exact:
        side = report.a_label if report.closer_to_exact == "a" else report.b_label
        lines.append(f"closer to float64: {side}")
    lines.append(f"verdict: {decisive.verdict}")
    answer = model_answer(model, report.a, report.b, report.atol, report.rtol)
    if answer is not None:
        lines.append(answer.describe())
    return "\n".join(lines)


def cmd_stream(args, model, x) -> int:
    """``compare --chunk N``: path B chunked vs its own one-call run."""
    from ..paths.streaming import stream_check

    report = stream_check(model, x, options.path_specs(args)[1], args.chunk, bug=args.chunk_bug, atol=args.atol, rtol=args.rtol)
    print(report.text())
    return 0 if report.agree else 1
