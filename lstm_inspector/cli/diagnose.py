"""``lstm-inspector diagnose MODEL FEATURES --b PATH``: which convention a path got wrong.

    lstm-inspector diagnose MODEL FEATURES (--b PATH | --impl FILE.py[:NAME] | --outputs FILE
                                            | --backend B | --onnx FILE | --tflite FILE)
                                           [--layer N] [--json]

The detective examines path B against the reference (``--a`` may only name the reference).
Exits 0 when B agrees with the reference, 1 when it diverges (explained or not), 2 on bad
input, including user code that raises (its own traceback lines follow the sentence), returns
the wrong shape, hangs or crashes.
"""
from __future__ import annotations

import json

from ..errors import InspectorError
from . import options


def add_parser(sub):
    p = sub.add_parser("diagnose", help="which convention your implementation got wrong")
    p.add_argument("model")
    p.add_argument("features")
    options.add_path_options(p)
    p.add_argument("--layer", type=int, default=None,
                   help="only recurrent layer N, fed the reference's input to it (default: all)")
    options.add_tolerance_options(p)
    p.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    p.add_argument("--key", help="array name in an .npz, or utterance id in a Kaldi ark/scp")
    p.add_argument("--feature", choices=("mfcc", "logmel"), default="mfcc",
                   help="features computed from a .wav file (default mfcc)")
    options.add_model_options(p)
    return p


def cmd_diagnose(args) -> int:
    """``diagnose`` on the command's model and features."""
    from ..core.reference import run_reference
    from ..paths.diagnosis import diagnose
    from ..paths.registry import PathSettings, is_reference, run_path

    spec_a, spec_b = options.path_specs(args)
    if not is_reference(spec_a):
        raise InspectorError(f"diagnose examines path B against the reference; --a {spec_a} "
                             f"is not the reference (compare --a {spec_a} --b ... puts any two "
                             f"paths side by side)")
    if not any(getattr(args, k, None) for k in ("path_b",) + tuple(options.SHORT_FORMS)):
        raise InspectorError("diagnose needs the path to examine: --b PATH (or --impl, "
                             "--outputs, --backend, --onnx, --tflite)")
    model, feats, x = options.load(args, layer_alone=False)
    ref = run_reference(model, x)
    trace = run_path(spec_b, model, x, PathSettings(reference=ref, layer=args.layer,
                                                     form=args.form, timeout=args.timeout))
    result = diagnose(model, x, trace, layer=args.layer, atol=args.atol, rtol=args.rtol,
                      reference=ref, timeout=args.timeout)
    if args.json:
        out = result.to_dict()
        out["model"], out["features"] = model.source, feats.source
        out["path"] = {"label": trace.label, "meta": {k: str(v) for k, v in trace.meta.items()}}
        print(json.dumps(out, indent=2))
    else:
        print(f"model:     {model.source}")
        print(f"features:  {feats.source} ({feats.steps} frames x {feats.width})")
        print(f"path:      {trace.label}   [{describe_port(trace)}]")
        print(result.text)
    return result.exit_code


def describe_port(trace) -> str:
    m = trace.meta
    if m.get("backend") != "impl":
        return trace.describe()
    text = f"{m.get('form')} form"
    if m.get("returns"):
        text += f", returns ({m['returns']})"
        if m.get("returns_why"):
            text += f": {m['returns_why']}"
    if m.get("units_passed"):
        text += f", units={m['units_passed']} passed"
    return text
