"""``lstm-inspector export MODEL --to {numpy,onnx,keras-lstm,tflite} OUT [FEATURES]``.

Writes a port, runs it back and compares it step by step: exit 0 when it agrees, 1 when it does
not (the file is then kept as ``OUT.rejected`` beside its report), 2 bad input.
"""
from __future__ import annotations

from . import options


def add_parser(sub):
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
    options.add_model_options(p)
    options.add_feature_options(p)
    return p


def cmd_export(args) -> int:
    """Write, run back, compare; exit 0 accepted, 1 rejected."""
    from .. import load_model
    from ..export import export_model

    model = load_model(args.model, **options.model_overrides(args))
    if args.layer is not None:
        model = model.sub_model(options.layer_index(args, model))
    x = options.load(args)[2] if args.features else None
    result = export_model(model, args.to, args.out, x=x, atol=args.atol, rtol=args.rtol)
    print(result.summary)
    if result.accepted:
        print("written: " + ", ".join(str(p) for p in result.files))
        return 0
    return 1
