"""``lstm-inspector sweep MODEL SOURCE``: every utterance of a test set, worst first.

Progress (with an estimate of the time left) goes to stderr through ``rich.progress`` when
stderr is a terminal; the table, or ``--json``, goes to stdout. Ctrl-C stops the workers and
prints what was done (exit 130). Paths A and B as everywhere (``--a``, ``--b`` and the short
forms); ``--outputs DIR`` (``--b outputs:DIR``) is a folder of one outputs file per utterance.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import InspectorError
from . import options

EXIT_INTERRUPTED = 130


def add_parser(sub):
    """The ``sweep`` subcommand on an argparse subparsers object."""
    p = sub.add_parser("sweep", help="compare every utterance of a test set (ark/scp, folder, list)")
    p.add_argument("model")
    p.add_argument("source", help="Kaldi ark or scp, a folder of feature files, or a list file")
    options.add_path_options(p)
    p.add_argument("--jobs", type=int, default=1,
                   help="local worker processes (each loads TensorFlow/torch once; default 1)")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="utterances each path runs together (default 16): the NumPy reference "
                        "steps them at once, torch-cpu steps them packed by length; the rows are "
                        "those of one by one, bit for bit; memory grows with N")
    p.add_argument("--no-batch", dest="batch", action="store_const", const=1,
                   help="run the utterances one by one (--batch 1)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask distributed cluster, e.g. tcp://host:8786 (extra [cluster])")
    options.add_tolerance_options(p)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="precision of the NumPy reference (default float32, as cuDNN)")
    p.add_argument("--tf32", choices=("on", "off"), default=None)
    p.add_argument("--feature", choices=("mfcc", "logmel"), default="mfcc",
                   help="features computed from wav files (default mfcc)")
    p.add_argument("--layer", type=int, default=None, help="run only recurrent layer N")
    p.add_argument("--json", action="store_true", help="print the rows and summary as JSON")
    p.add_argument("--report", metavar="FILE.html", help="also write an HTML report")
    for action in p._actions:  # a sweep reads one outputs file per utterance from a folder
        if action.dest == "outputs":
            action.metavar = "DIR"
            action.help = ("short for --b outputs:DIR: a folder of your port's outputs, one file "
                           "per utterance: UTTERANCE.npy (.npz, .csv, as compare --outputs "
                           "reads them)")
    options.add_model_options(p)
    return p


def settings_from(args, overrides: dict):
    """The sweep's settings: both paths with their files made absolute (workers may run in
    another folder), the model's options, the tolerance."""
    from ..core.compare import DEFAULT_ATOL, DEFAULT_RTOL
    from ..paths.registry import argument, kind_of, resolved
    from ..sweep.work import SweepSettings

    specs = options.path_specs(args)
    for spec in specs:
        kind = kind_of(spec)
        if kind.name == "outputs" and not Path(argument(kind, spec)).is_dir():
            raise InspectorError(f"--outputs for a sweep is a folder holding one outputs file per "
                                 f"utterance (NAME.npy, .npz or .csv); {argument(kind, spec)} "
                                 f"is not a folder")
    spec_a, spec_b = (resolved(spec) for spec in specs)
    return SweepSettings(
        model=str(Path(args.model).resolve()) if Path(args.model).exists() else args.model,
        backend=spec_b, path_a=spec_a, form=args.form, timeout=args.timeout,
        atol=DEFAULT_ATOL if args.atol is None else args.atol,
        rtol=DEFAULT_RTOL if args.rtol is None else args.rtol,
        dtype=args.dtype, tf32=None if args.tf32 is None else args.tf32 == "on",
        overrides=tuple(sorted(overrides.items())), feature=args.feature, layer=args.layer)


def _progress_bar():
    """A rich progress bar on stderr (None when stderr is not a terminal)."""
    if not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    progress = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                        TextColumn("left"), TimeRemainingColumn(),
                        console=Console(stderr=True), transient=True)
    return progress, progress.add_task("sweep", total=None, status="starting")


def cmd_sweep(args) -> int:
    """The CLI command: run, print table or JSON, write the HTML report; exit 0/1/2/130."""
    from ..sweep.command import run_sweep
    from ..sweep.summary import exit_code, format_table

    if args.jobs < 1:
        raise InspectorError(f"--jobs must be at least 1 (got {args.jobs})")
    if args.batch is not None and args.batch < 1:
        raise InspectorError(f"--batch must be at least 1 (got {args.batch})")
    settings = settings_from(args, options.model_overrides(args))
    progress, task = _progress_bar()
    diverged = [0]

    def on_row(done, total, row):
        diverged[0] += row is not None and row["kind"] in ("precision", "structural")
        if progress is not None:
            status = "loading" if row is None else f"{diverged[0]} diverge  {row['name'][-24:]}"
            progress.update(task, completed=done, total=total, status=status)

    if progress is not None:
        progress.start()
    try:
        result = run_sweep(settings, args.source, jobs=args.jobs, scheduler=args.scheduler,
                           batch=args.batch, on_row=on_row)
    finally:
        if progress is not None:
            progress.stop()
    if args.report:
        from ..sweep.html import sweep_html

        try:
            Path(args.report).write_text(sweep_html(result), encoding="utf-8")
        except OSError as exc:
            raise InspectorError(f"cannot write {args.report}: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        header = {"model": args.model, "source": args.source, "backend": settings.path_b,
                  "atol": settings.atol, "rtol": settings.rtol}
        print(format_table(result["rows"], header, total=result["summary"]["utterances"]))
    if result["stopped"]:
        print(f"lstm-inspector: stopped by Ctrl-C after {result['summary']['done']} of "
              f"{result['summary']['utterances']} utterances", file=sys.stderr)
        return EXIT_INTERRUPTED
    return exit_code(result["rows"])
