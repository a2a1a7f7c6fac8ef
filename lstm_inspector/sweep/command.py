"""``lstm-inspector sweep MODEL SOURCE``: every utterance of a test set, worst first.

Progress (with an estimate of the time left) goes to stderr through ``rich.progress`` when
stderr is a terminal; the table, or ``--json``, goes to stdout. Ctrl-C stops the workers and
prints what was done (exit 130).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..cli_port import add_port_options
from ..errors import InspectorError
from .work import SweepSettings

EXIT_INTERRUPTED = 130


def add_parser(sub, add_model_options, add_tolerance_options):
    """The ``sweep`` subcommand on an argparse subparsers object."""
    from ..cli_deploy import add_exported_options

    p = sub.add_parser("sweep", help="compare every utterance of a test set (ark/scp, folder, list)")
    p.add_argument("model")
    p.add_argument("source", help="Kaldi ark or scp, a folder of feature files, or a list file")
    p.add_argument("--backend", default="auto",
                   help="auto, tf-gpu, torch-cuda, tf-cpu, torch-cpu, numpy64, numpy:<reading>")
    add_exported_options(p)
    p.add_argument("--jobs", type=int, default=1,
                   help="local worker processes (each loads TensorFlow/torch once; default 1)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask distributed cluster, e.g. tcp://host:8786 (extra [cluster])")
    add_tolerance_options(p)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="precision of the NumPy reference (default float32, as cuDNN)")
    p.add_argument("--tf32", choices=("on", "off"), default=None)
    p.add_argument("--feature", choices=("mfcc", "logmel"), default="mfcc",
                   help="features computed from wav files (default mfcc)")
    p.add_argument("--layer", type=int, default=None, help="run only recurrent layer N")
    p.add_argument("--json", action="store_true", help="print the rows and summary as JSON")
    p.add_argument("--report", metavar="FILE.html", help="also write an HTML report")
    add_port_options(p, required=False)
    for action in p._actions:  # a sweep reads one outputs file per utterance from a folder
        if action.dest == "outputs":
            action.metavar = "DIR"
            action.help = ("a folder of your port's outputs, one file per utterance: "
                           "UTTERANCE.npy (.npz, .csv, as compare --outputs reads them)")
    add_model_options(p)
    return p


def settings_from(args, overrides: dict) -> SweepSettings:
    from ..core.compare import DEFAULT_ATOL, DEFAULT_RTOL

    backend = _backend(args)
    if (args.impl or args.outputs) and backend != "auto":
        raise InspectorError("path B is either --backend, --onnx, --tflite, --impl or --outputs; "
                             "give one of them")
    if args.outputs and not Path(args.outputs).is_dir():
        raise InspectorError(f"--outputs for a sweep is a folder holding one outputs file per "
                             f"utterance (NAME.npy, .npz or .csv); {args.outputs} is not a folder")
    absolute = (lambda p: None if p is None else str(Path(p).resolve()))
    return SweepSettings(
        model=str(Path(args.model).resolve()) if Path(args.model).exists() else args.model,
        impl=args.impl and (absolute(args.impl.split(":")[0]) + args.impl[len(args.impl.split(":")[0]):]),
        outputs=absolute(args.outputs), form=args.form, timeout=args.timeout,
        backend=backend,
        atol=DEFAULT_ATOL if args.atol is None else args.atol,
        rtol=DEFAULT_RTOL if args.rtol is None else args.rtol,
        dtype=args.dtype, tf32=None if args.tf32 is None else args.tf32 == "on",
        overrides=tuple(sorted(overrides.items())), feature=args.feature, layer=args.layer)


def _backend(args) -> str:
    """``--backend``, or ``onnx:FILE`` / ``tflite:FILE`` with the file made absolute (workers may
    run in another folder)."""
    from ..cli_deploy import backend_from

    backend = (backend_from(args) or "auto").strip()
    kind, sep, file = backend.partition(":")
    if sep and kind in ("onnx", "tflite"):
        if not Path(file).is_file():
            raise InspectorError(f"{file} does not exist")
        return f"{kind}:{Path(file).resolve()}"
    return backend


def check_backend_name(backend: str) -> None:
    """Refuse a misspelt backend before any work starts (its availability is the workers' call)."""
    from ..backends import EXPORTED_PREFIXES, NUMPY_BACKENDS, REAL_BACKENDS

    if backend.startswith(EXPORTED_PREFIXES):
        return
    if backend not in ("auto",) + REAL_BACKENDS + NUMPY_BACKENDS:
        raise InspectorError(f"unknown backend '{backend}' (known: auto, {', '.join(REAL_BACKENDS)}, "
                             "numpy, numpy64, numpy:<reading>)")


def run_sweep(settings: SweepSettings, source, jobs=1, scheduler=None, on_row=None) -> dict:
    """Sweep ``source`` and return the result object (what ``--json`` prints).

    Parameters
    ----------
    settings : SweepSettings
    source : str or Path
        Kaldi ark/scp, folder, list file (see ``io.corpus``).
    jobs, scheduler : see ``sweep.run.iter_rows``.
    on_row : callable(done, total, row), optional
        Called once the utterances are listed (``row`` None), then as each row arrives.

    Returns
    -------
    dict with ``model``, ``source``, ``backend``, ``atol``, ``rtol``, ``rows`` (corpus order),
    ``summary`` and ``stopped`` (True when interrupted; the rows are those done).
    """
    from ..io.corpus import list_utterances
    from .run import iter_rows
    from .summary import summarize
    from .work import open_model, prepare

    check_backend_name(settings.backend)
    rows, stopped, utterances, stream = {}, False, [], None
    try:  # Ctrl-C at any moment, even while the model loads, ends with what was done
        utterances = list_utterances(source)
        if jobs == 1 and scheduler is None:
            prepare(settings)  # a bad model or unavailable backend is bad input: say it once
        else:
            open_model(settings)
        if on_row is not None:
            on_row(0, len(utterances), None)  # the total is known: the progress bar can say it
        stream = iter_rows(utterances, settings, jobs=jobs, scheduler=scheduler)
        for index, row in stream:
            rows[index] = row
            if on_row is not None:
                on_row(len(rows), len(utterances), row)
    except KeyboardInterrupt:
        stopped = True
    finally:
        if stream is not None:
            stream.close()
    ordered = [rows[k] for k in sorted(rows)]
    return {"model": settings.model, "source": str(Path(source).resolve()), "backend": settings.path_b,
            "atol": settings.atol, "rtol": settings.rtol, "dtype": settings.dtype,
            "jobs": jobs, "scheduler": scheduler, "stopped": stopped, "rows": ordered,
            "summary": summarize(ordered, total=len(utterances))}


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


def cmd_sweep(args, overrides: dict) -> int:
    """The CLI command: run, print table or JSON, write the HTML report; exit 0/1/2/130."""
    from .summary import exit_code, format_table

    if args.jobs < 1:
        raise InspectorError(f"--jobs must be at least 1 (got {args.jobs})")
    settings = settings_from(args, overrides)
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
                           on_row=on_row)
    finally:
        if progress is not None:
            progress.stop()
    if args.report:
        from .html import sweep_html

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
