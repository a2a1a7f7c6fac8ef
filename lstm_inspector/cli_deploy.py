"""Deployment commands of the CLI: ``export``, exported files as paths, streaming checks.

    lstm-inspector export MODEL --to {numpy,onnx,keras-lstm,tflite} OUT [FEATURES]
    lstm-inspector compare MODEL FEATURES --onnx FILE | --tflite FILE
    lstm-inspector compare MODEL FEATURES --chunk N [--backend numpy|torch-cpu|--onnx F|--tflite F]

Exit codes as everywhere: 0 the file / stream agrees, 1 it does not (an export is then kept as
``OUT.rejected`` beside its report), 2 bad input.
"""
from __future__ import annotations

from .errors import InspectorError


def add_export_parser(sub, add_model_options, add_feature_options):
    p = sub.add_parser("export", help="write a verified port (numpy, onnx, keras-lstm, tflite)")
    p.add_argument("model")
    p.add_argument("--to", required=True, choices=("numpy", "onnx", "keras-lstm", "tflite"),
                   dest="to", help="numpy: one .py file + .npz; onnx: ONNX LSTM ops; keras-lstm: "
                                   "Keras .h5 with plain LSTM layers; tflite: those through "
                                   "TFLiteConverter")
    p.add_argument("out", help="output file (.py, .onnx, .h5 or .tflite)")
    p.add_argument("features", nargs="?", help="features to check the export on (default: "
                                               "50 frames of seeded random input)")
    p.add_argument("--atol", type=float, default=1e-5, help="agreement tolerance (default 1e-5)")
    p.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance (default 1e-4)")
    add_model_options(p)
    add_feature_options(p)
    return p


def add_exported_options(p):
    """``--onnx FILE``, ``--tflite FILE``: an exported file as path B."""
    p.add_argument("--onnx", metavar="FILE", help="path B: this ONNX file run by ONNX Runtime")
    p.add_argument("--tflite", metavar="FILE",
                   help="path B: this TensorFlow Lite file run by tf.lite.Interpreter")


def add_path_options(p):
    """:func:`add_exported_options`, ``--chunk N`` and ``--chunk-bug``."""
    add_exported_options(p)
    p.add_argument("--chunk", type=int, metavar="N", default=None,
                   help="streaming check: run path B in chunks of N frames carrying (h, c) "
                        "and compare with its one-call run")
    p.add_argument("--chunk-bug", choices=("reset", "swap"), default=None,
                   help="plant a streaming bug (state reset at each chunk, or h and c swapped "
                        "when carried) to see the check name it")


def backend_from(args) -> str:
    """The backend string for ``run_backend``: ``--onnx`` / ``--tflite`` win over ``--backend``."""
    files = [(flag, getattr(args, flag, None)) for flag in ("onnx", "tflite")]
    given = [(flag, value) for flag, value in files if value]
    if len(given) > 1:
        raise InspectorError("give either --onnx or --tflite, not both")
    if given:
        flag, value = given[0]
        return f"{flag}:{value}"
    return args.backend


def cmd_export(args, load_model_for, load_x) -> int:
    """``export``: write, run back, compare; exit 0 accepted, 1 rejected."""
    from .export import export_model

    model = load_model_for(args)
    x = load_x(args, model) if args.features else None
    result = export_model(model, args.to, args.out, x=x, atol=args.atol, rtol=args.rtol)
    print(result.summary)
    if result.accepted:
        print("written: " + ", ".join(str(p) for p in result.files))
        return 0
    return 1


def cmd_stream(args, model, x) -> int:
    """``compare --chunk N``: path B chunked vs its own one-call run."""
    from .backends.streaming import stream_check

    report = stream_check(model, x, backend_from(args), args.chunk, bug=args.chunk_bug,
                          atol=args.atol, rtol=args.rtol)
    print(report.text())
    return 0 if report.agree else 1
