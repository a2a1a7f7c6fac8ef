"""The ``lstm-inspector`` command.

    lstm-inspector                         open the GUI on the bundled demo
    lstm-inspector MODEL FEATURES          open the GUI on these files
    lstm-inspector [MODEL FEATURES] --screenshot out.png   render once, write the PNG, exit
    lstm-inspector info MODEL              list the recurrent layers and their conventions
    lstm-inspector compare MODEL FEATURES  reference vs a backend; exit 0 agree, 1 diverge
    lstm-inspector diagnose MODEL FEATURES (--impl FILE.py[:NAME] | --outputs FILE)
                                           which convention your port got wrong, and the fix
    lstm-inspector backends                which backends can run here
    lstm-inspector sweep MODEL SOURCE      every utterance of an ark/scp, folder or list, worst first
    lstm-inspector export MODEL --to {numpy,onnx,keras-lstm,tflite} OUT [FEATURES]
                                           write a port, verified step by step (exit 1: refused)

Exit codes: 0 success / agreement, 1 divergence (``compare``), 2 bad input (one line on stderr,
no traceback), 3 internal error (set ``LSTM_INSPECTOR_DEBUG=1`` for the traceback).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

from . import cli_deploy, cli_port
from .errors import InspectorError

SUBCOMMANDS = ("info", "compare", "diagnose", "backends", "gui", "sweep", "export")


def _model_overrides(args) -> dict:
    overrides = {}
    for name in ("kind", "recurrent_activation", "activation", "merge_mode", "prefix"):
        value = getattr(args, name, None)
        if value:
            overrides[name] = value
    backwards = getattr(args, "go_backwards", None)
    if backwards:  # True (every layer) or "lstm_2,lstm_3" (those layers)
        overrides["go_backwards"] = backwards
    if getattr(args, "features_are", "model-input") != "model-input":
        overrides["features_are"] = args.features_are
    return overrides


def _add_model_options(p):
    """What a weights-only file or checkpoint does not store (each note names its option)."""
    p.add_argument("--kind", choices=("CuDNNLSTM", "LSTM"),
                   help="treat every LSTM layer of a weights-only file as this kind")
    p.add_argument("--recurrent-activation", dest="recurrent_activation",
                   help="override the recurrent activation (e.g. hard_sigmoid for old Keras files)")
    p.add_argument("--activation", help="override the activation (tanh; e.g. relu)")
    p.add_argument("--merge-mode", dest="merge_mode",
                   choices=("concat", "sum", "mul", "ave", "none"),
                   help="merge mode of bidirectional layers (weights-only files assume concat)")
    p.add_argument("--go-backwards", dest="go_backwards", nargs="?", const=True, default=None,
                   metavar="LAYERS",
                   help="the layers ran go_backwards (weights-only files assume they did not); "
                        "--go-backwards=lstm_2,lstm_3 names the layers that did")
    p.add_argument("--features-are", dest="features_are", choices=("model-input", "lstm-input"),
                   default="model-input",
                   help="what the features are: the model's input (default: the layers before "
                        "the first LSTM run first) or already the first LSTM's input")
    p.add_argument("--prefix", help="the nn.LSTM module of a PyTorch state dict holding several "
                                    "(e.g. encoder.lstm.)")


def _add_tolerance_options(p):
    """``--atol`` / ``--rtol`` of every command that compares two paths (None: the defaults)."""
    p.add_argument("--atol", type=float, default=None, help="absolute tolerance (default 1e-5)")
    p.add_argument("--rtol", type=float, default=None, help="relative tolerance (default 1e-4)")


def _add_run_options(p):
    p.add_argument("--dtype", choices=("float32", "float64", "mixed_float16"), default="float32",
                   help="precision of the NumPy reference (default float32, as cuDNN; "
                        "mixed_float16: float16 compute as Keras's mixed precision policy)")
    p.add_argument("--initial-state", dest="initial_state", metavar="NPZ",
                   help="h0, c0 per layer and direction (names: h0, c0, h0_<k>, "
                        "h0_<k>_backward...; see README) instead of zeros")


def _add_stepped_option(p):
    p.add_argument("--stepped", action="store_true",
                   help="backends: call the library once per step from the previous (h, c), so "
                        "c is measured at every step (slow; a one-step call does not see TF32); "
                        "default: one call over the sequence as the model runs, c derived")


def _add_feature_options(p):
    p.add_argument("--key", help="array name in an .npz, or utterance id in a Kaldi ark/scp")
    p.add_argument("--feature", choices=("mfcc", "logmel"), default="mfcc",
                   help="features computed from a .wav file (default mfcc)")
    p.add_argument("--layer", type=int, default=None,
                   help="run only recurrent layer N (features must have that layer's input width)")


def _build_parser(prog="lstm-inspector") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.replace("``", ""),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"lstm-inspector {__version__}")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("info", help="list a model's recurrent layers")
    p.add_argument("model")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_model_options(p)

    p = sub.add_parser("compare", help="compare the NumPy reference with a backend")
    p.add_argument("model")
    p.add_argument("features")
    p.add_argument("--backend", default="auto",
                   help="auto, tf-gpu, torch-cuda, tf-cpu, torch-cpu, numpy64, numpy:<reading>")
    _add_tolerance_options(p)
    _add_run_options(p)
    p.add_argument("--tf32", choices=("on", "off"), default=None,
                   help="TF32 for GPU backends (default: the library's own default)")
    _add_stepped_option(p)
    p.add_argument("--no-oracle", action="store_true", help="skip the float64 oracle run")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_model_options(p)
    _add_feature_options(p)
    cli_deploy.add_path_options(p)
    cli_port.add_port_options(p, required=False)

    cli_deploy.add_export_parser(sub, _add_model_options, _add_feature_options)
    cli_port.add_diagnose_parser(sub, _add_model_options, _add_tolerance_options)

    sub.add_parser("backends", help="list the backends and whether they can run here")

    from .sweep.command import add_parser as add_sweep_parser
    add_sweep_parser(sub, _add_model_options, _add_tolerance_options)

    p = sub.add_parser("gui", help="open the desktop inspector (the default command)")
    _add_gui_arguments(p)
    return parser


def _add_gui_arguments(p):
    p.add_argument("model", nargs="?")
    p.add_argument("features", nargs="?")
    p.add_argument("--backend", default="auto")
    p.add_argument("--reading", default=None,
                   help="also show the NumPy path under this reading (e.g. naive)")
    p.add_argument("--screenshot", metavar="PNG", help="render offscreen, write PNG, exit")
    _add_tolerance_options(p)
    p.add_argument("--tf32", choices=("on", "off"), default=None)
    _add_stepped_option(p)
    cli_deploy.add_exported_options(p)
    p.add_argument("--chunk", type=int, metavar="N", default=None,
                   help="once both paths ran, the streaming check (Run > Streaming check) in "
                        "chunks of N frames")
    cli_port.add_port_options(p, required=False)
    _add_run_options(p)
    _add_model_options(p)


def _load(args, layer_alone: bool = True):
    """``(model, feats, x)`` from the command's files; ``--layer N`` runs that layer alone on
    features of its width unless ``layer_alone`` is False (``diagnose`` feeds it the reference's
    input to it)."""
    from . import load_features, load_model
    from .core.reference import check_input
    from .io.features import check_features

    model = load_model(args.model, **_model_overrides(args))
    options = {"feature": args.feature}
    if args.key:
        options["key"] = args.key
    feats = load_features(args.features, **options)
    from .io.model_audio import with_sample_rate_note

    feats = with_sample_rate_note(model, feats)  # a wav at another rate than the model's
    alone = layer_alone and args.layer is not None
    if alone:
        model = model.sub_model(_layer_index(args, model))
    # with --layer, check_input names the layer the width must match
    from .core.front import features_width, run_front

    try:
        check_features(feats, input_size=None if alone else features_width(model))
    except InspectorError as exc:
        from .core.reference import width_hint

        raise InspectorError(f"{exc}{width_hint(model)}") from None
    model, x = run_front(model, feats.data)  # the model's input -> the first LSTM's
    x = check_input(model, x)
    return model, feats, x


def _layer_index(args, model) -> int:
    if not 0 <= args.layer < len(model.layers):
        raise InspectorError(f"the model has {len(model.layers)} recurrent layers; "
                             f"--layer {args.layer} is not one of them")
    return args.layer


def _initial_state(args, model):
    if not getattr(args, "initial_state", None):
        return None
    from .io.initial_state import load_initial_state

    return load_initial_state(args.initial_state, model)


def _tf32(value):
    return None if value is None else value == "on"


def cmd_info(args) -> int:
    from . import load_model

    model = load_model(args.model, **_model_overrides(args))
    if args.json:
        print(json.dumps({
            "source": model.source, "format": model.file_format,
            "keras_version": model.keras_version, "notes": list(model.notes),
            "mask_value": model.mask_value, "assumptions": list(model.assumptions),
            "not_computed": list(model.unfaithful(features_given=False)),
            "front": None if model.front is None else model.front.describe(),
            "features_width": _features_width(model),
            "chain": [layer.name for layer in model.chain] if _has_chain(model) else [],
            "layers": [{
                "name": l.name, "kind": l.kind, "bidirectional": l.bidirectional,
                "merge_mode": l.merge_mode, "input_size": l.input_size, "units": l.units,
                "activation": l.activation, "recurrent_activation": l.recurrent_activation,
                "convention": l.convention, "go_backwards": l.go_backwards,
                "return_sequences": l.return_sequences, "unsupported": l.unsupported,
                "use_bias": l.use_bias, "stateful": l.stateful, "dtype_policy": l.dtype_policy,
                "initial_state_from": list(l.initial_state_from),
            } for l in model.layers],
        }, indent=2))
        return 0
    print(model.describe())
    if _has_chain(model):
        names = ", ".join(layer.name for layer in model.chain)
        print(f"runnable chain: {names} (input width {model.input_size})")
        if model.front is not None and model.front.runs and model.features_are != "lstm-input":
            from .core.front import features_width

            width = features_width(model)
            print(f"features: the model's input (width {width if width else 'not recorded'}); "
                  f"the front runs on them first (--features-are lstm-input: width "
                  f"{model.input_size}, the front skipped)")
    else:
        print("runnable chain: none (no layer of this model can be run)")
    return 0


def _features_width(model):
    from .core.front import features_width

    try:
        return features_width(model)
    except InspectorError:
        return None


def _has_chain(model) -> bool:
    try:
        model.chain
    except InspectorError:
        return False
    return True


def cmd_compare(args) -> int:
    from .backends import run_backend
    from .core.compare import compare
    from .core.reference import run_reference

    from .core.fidelity import all_notes, faithful

    model, feats, x = _load(args)
    if args.chunk is not None:
        return cli_deploy.cmd_stream(args, model, x)
    start = _initial_state(args, model)
    ref = run_reference(model, x, dtype=args.dtype, initial_state=start)
    if cli_port.wants_port(args):   # your own implementation as path B
        other = cli_port.port_trace(args, model, x, ref if args.dtype == "float32" else None)
    else:
        other = run_backend(model, x, backend=cli_deploy.backend_from(args), tf32=_tf32(args.tf32),
                            initial_state=start, stepped=args.stepped)
    report = compare(ref, other, atol=args.atol, rtol=args.rtol, model=model,
                     oracle=not args.no_oracle)
    if args.json:
        from .core.head import model_answer

        out = report.to_dict()
        out["model"], out["features"] = model.source, feats.source
        answer = model_answer(model, report.a, report.b, report.atol, report.rtol)
        out["model_output"] = None if answer is None else answer.to_dict()
        out["notes"] = all_notes(model, feats.notes, (ref, other), report.notes)
        out["front"] = None if model.front is None else model.front.to_dict()
        print(json.dumps(out, indent=2))
    else:
        print(format_report(report, model, feats))
    # 0 only when the paths agree AND computed what the file's model computes
    return 0 if report.agree and faithful(report) else 1


def format_report(report, model, feats) -> str:
    """The compare summary as plain text."""
    from .core.trace import QUANTITIES

    lines = [
        f"model:     {model.source}",
        f"features:  {feats.source} ({feats.steps} frames x {feats.width})",
        f"a:         {report.a_label}   [{report.a.describe()}]",
        f"b:         {report.b_label}   [{report.b.describe()}]",
        f"tolerance: atol={report.atol:g} rtol={report.rtol:g}",
        "max |a - b| per quantity (* derived on the b side, ~ stepped):",
        "  " + f"{'layer':<28}" + "".join(f"{q:>11}" for q in QUANTITIES),
    ]
    mark = {"derived": "*", "stepped": "~", "measured": " "}
    for k, d in report.keys():
        name = f"{report.a.first_layer + k} {report.a.layer_names[k]}"
        name += "" if d == "forward" else f" {d}"
        cells = []
        for q in QUANTITIES:
            how = report.b.layer(k, d).how(q)
            cells.append(f"{report.step_error(k, d, q).max():>10.2e}{mark.get(how, ' ')}")
        lines.append("  " + f"{name:<28}" + "".join(cells))
    from .core.fidelity import all_notes

    for note in all_notes(model, feats.notes, (report.a, report.b), report.notes):
        lines.append(f"note: {note}")
    lines.append("first divergence: " + (report.first.describe() if report.first else "none"))
    if report.closer_to_exact:
        side = report.a_label if report.closer_to_exact == "a" else report.b_label
        lines.append(f"closer to float64: {side}")
    lines.append(f"verdict: {report.verdict}")
    from .core.head import model_answer

    answer = model_answer(model, report.a, report.b, report.atol, report.rtol)
    if answer is not None:
        lines.append(answer.describe())
    return "\n".join(lines)


def cmd_backends(args) -> int:
    from .backends.listing import backends_table

    print(backends_table())
    return 0


def cmd_gui(args) -> int:
    if bool(args.model) != bool(args.features):
        raise InspectorError("give both a model file and a feature file, or neither for the demo")
    if args.chunk is not None and args.chunk < 1:
        raise InspectorError(f"--chunk must be at least 1 frame (got {args.chunk})")
    from .gui.app import end_process, run_gui

    return end_process(run_gui(model_path=args.model, features_path=args.features,
                               backend=cli_deploy.backend_from(args),
                               reading=args.reading, screenshot=args.screenshot, atol=args.atol,
                               rtol=args.rtol, dtype=args.dtype, tf32=_tf32(args.tf32),
                               model_options=_model_overrides(args),
                               initial_state=args.initial_state, chunk=args.chunk,
                               stepped=args.stepped, **cli_port.gui_options(args, run_gui)))


def cmd_sweep(args) -> int:
    from .sweep.command import cmd_sweep as _sweep

    return _sweep(args, _model_overrides(args))


def cmd_export(args) -> int:
    def load_model_for(args):
        from . import load_model

        model = load_model(args.model, **_model_overrides(args))
        return model.sub_model(_layer_index(args, model)) if args.layer is not None else model

    def load_x(args, model):
        return _load(args)[2]

    return cli_deploy.cmd_export(args, load_model_for, load_x)


def cmd_diagnose(args) -> int:
    return cli_port.cmd_diagnose(args, *_load(args, layer_alone=False))


COMMANDS = {"info": cmd_info, "compare": cmd_compare, "backends": cmd_backends, "gui": cmd_gui,
            "sweep": cmd_sweep, "export": cmd_export, "diagnose": cmd_diagnose}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv = ["gui"] + argv
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if not os.environ.get("LSTM_INSPECTOR_DEBUG"):
        # Libraries' warnings (TensorFlow, torch, h5py) are not the user's business here: what
        # matters reaches them as notes and one-sentence errors.
        warnings.filterwarnings("ignore")
    try:
        return COMMANDS[args.command](args)
    except InspectorError as exc:
        print(f"lstm-inspector: {exc}", file=sys.stderr)
        if getattr(exc, "user_traceback", ""):   # their code raised: their own lines help them
            print(exc.user_traceback.rstrip(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early
        return 0
    except Exception as exc:  # a bug in the tool: still one line, details on request
        if os.environ.get("LSTM_INSPECTOR_DEBUG"):
            raise
        print(f"lstm-inspector: internal error ({type(exc).__name__}: {exc}); "
              "set LSTM_INSPECTOR_DEBUG=1 for details", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
