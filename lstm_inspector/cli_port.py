"""Your own implementation on the command line: ``--impl`` / ``--outputs`` and ``diagnose``.

    lstm-inspector diagnose MODEL FEATURES (--impl FILE.py[:NAME] | --outputs FILE | --backend B
                                            | --onnx FILE | --tflite FILE) [--layer N] [--json]
    lstm-inspector compare MODEL FEATURES --impl FILE.py[:NAME]     your function as path B
    lstm-inspector MODEL FEATURES --impl FILE.py                    the same in the window

``diagnose`` exits 0 when the implementation agrees with the reference, 1 when it diverges
(explained or not), 2 on bad input, including user code that raises (its own traceback lines
follow the sentence), returns the wrong shape, hangs or crashes.
"""
from __future__ import annotations

import json

from .errors import InspectorError


def add_port_options(p, required: bool, backend: bool = False):
    """``--impl`` / ``--outputs`` (your own implementation as a path) and how to run it;
    ``backend``: a backend may be the path instead (``diagnose --backend numpy:naive``)."""
    group = p.add_mutually_exclusive_group(required=required)
    if backend:
        group.add_argument("--backend", help="diagnose a backend's path instead (e.g. tf-cpu, "
                                             "numpy:naive)")
        group.add_argument("--onnx", metavar="FILE",
                           help="diagnose this exported ONNX file (run by ONNX Runtime)")
        group.add_argument("--tflite", metavar="FILE",
                           help="diagnose this exported TFLite file (tf.lite.Interpreter)")
    group.add_argument("--impl", metavar="FILE.py[:NAME]",
                       help="your LSTM function (runs your code, in a separate process)")
    group.add_argument("--outputs", metavar="FILE",
                       help="your port's outputs: npy (T, H) of h, or npz/csv with h and c")
    p.add_argument("--form", choices=("sequence", "step"), default=None,
                   help="how --impl is called (default: told apart by its parameter names)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds before --impl is stopped (default 120)")


def add_diagnose_parser(sub, add_model_options, add_tolerance_options):
    p = sub.add_parser("diagnose", help="which convention your implementation got wrong")
    p.add_argument("model")
    p.add_argument("features")
    add_port_options(p, required=True, backend=True)
    p.add_argument("--layer", type=int, default=None,
                   help="only recurrent layer N, fed the reference's input to it (default: all)")
    add_tolerance_options(p)
    p.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    p.add_argument("--key", help="array name in an .npz, or utterance id in a Kaldi ark/scp")
    p.add_argument("--feature", choices=("mfcc", "logmel"), default="mfcc",
                   help="features computed from a .wav file (default mfcc)")
    add_model_options(p)
    return p


def wants_port(args) -> bool:
    return bool(getattr(args, "impl", None) or getattr(args, "outputs", None))


def port_trace(args, model, x, reference, layer=None):
    """The trace of ``--impl`` (run in a separate process) or ``--outputs``."""
    if args.impl:
        from .paths.user_impl import DEFAULT_TIMEOUT, run_impl

        return run_impl(model, x, args.impl, layer=layer, form=args.form, reference=reference,
                        timeout=args.timeout or DEFAULT_TIMEOUT)
    from .io.outputs import load_outputs

    return load_outputs(model, x, args.outputs, layer=layer, reference=reference)


def gui_options(args, run_gui) -> dict:
    """``impl=`` / ``outputs=`` for ``run_gui`` when given (a sentence if it cannot take them)."""
    port = {k: getattr(args, k) for k in ("impl", "outputs") if getattr(args, k, None)}
    if port:
        import inspect

        if not args.model:
            raise InspectorError("--impl and --outputs need a model file and a feature file")
        if not set(port) <= set(inspect.signature(run_gui).parameters):
            raise InspectorError("this window cannot show your implementation yet; use "
                                 "`lstm-inspector diagnose MODEL FEATURES --impl FILE.py`")
    return port


def cmd_diagnose(args, model, feats, x) -> int:
    """``diagnose`` on the loaded ``model``, feature file ``feats`` and its checked ``x``."""
    from .core.reference import run_reference
    from .paths.diagnosis import diagnose

    ref = run_reference(model, x)
    if getattr(args, "backend", None) or args.onnx or args.tflite:
        from .backends import run_backend
        from .cli_deploy import backend_from

        trace = run_backend(model, x, backend=backend_from(args))
    else:
        trace = port_trace(args, model, x, ref, layer=args.layer)
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
