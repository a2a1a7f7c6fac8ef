"""``lstm-inspector [gui] [MODEL FEATURES] [--a PATH] [--b PATH]``: the desktop inspector
(the default command); ``--screenshot out.png`` renders once offscreen and exits."""
from __future__ import annotations

from ..errors import InspectorError
from . import options


def add_parser(sub):
    p = sub.add_parser("gui", help="open the desktop inspector (the default command)")
    p.add_argument("model", nargs="?")
    p.add_argument("features", nargs="?")
    options.add_path_options(p, short=("backend", "reading", "onnx", "tflite", "impl", "outputs"))
    p.add_argument("--screenshot", metavar="PNG", help="render offscreen, write PNG, exit")
    options.add_tolerance_options(p)
    p.add_argument("--tf32", choices=("on", "off"), default=None)
    options.add_stepped_option(p)
    p.add_argument("--chunk", type=int, metavar="N", default=None,
                   help="once both paths ran, the streaming check (Run > Streaming check) in "
                        "chunks of N frames")
    options.add_run_options(p)
    options.add_model_options(p)
    return p


def cmd_gui(args) -> int:
    if bool(args.model) != bool(args.features):
        raise InspectorError("give both a model file and a feature file, or neither for the demo")
    if args.chunk is not None and args.chunk < 1:
        raise InspectorError(f"--chunk must be at least 1 frame (got {args.chunk})")
    from ..gui.app import end_process, run_gui
    from ..paths.registry import kind_of, resolved

    spec_a, spec_b = options.path_specs(args)
    if any(kind_of(s).group == "yours" for s in (spec_a, spec_b)) and not args.model:
        raise InspectorError("--impl and --outputs need a model file and a feature file")
    # files named by a path are made absolute (the window may open others later)
    spec_a, spec_b = (resolved(s) if kind_of(s).prefixes else s for s in (spec_a, spec_b))
    return end_process(run_gui(model_path=args.model, features_path=args.features,
                               backend=spec_b, path_a=spec_a, screenshot=args.screenshot,
                               atol=args.atol, rtol=args.rtol, dtype=args.dtype,
                               tf32=options.tf32(args.tf32),
                               model_options=options.model_overrides(args),
                               initial_state=args.initial_state, chunk=args.chunk,
                               stepped=args.stepped))
