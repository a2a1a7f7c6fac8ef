"""The ``lstm-inspector`` command.

    lstm-inspector                         open the GUI on the bundled demo
    lstm-inspector MODEL FEATURES          open the GUI on these files
    lstm-inspector [MODEL FEATURES] --screenshot out.png   render once, write the PNG, exit
    lstm-inspector info MODEL              list the recurrent layers and their conventions
    lstm-inspector compare MODEL FEATURES  path A (default the reference) vs path B (default
                                           auto); exit 0 agree, 1 diverge
    lstm-inspector diagnose MODEL FEATURES --b PATH
                                           which convention your port got wrong, and the fix
    lstm-inspector backends                which backends can run here
    lstm-inspector sweep MODEL SOURCE      every utterance of an ark/scp, folder or list, worst first
    lstm-inspector export MODEL --to {numpy,onnx,keras-lstm,tflite} OUT [FEATURES]
                                           write a port, verified step by step (exit 1: refused)

Paths (--a PATH, --b PATH): numpy (the reference), numpy64, numpy:<reading>, auto, tf-gpu,
torch-cuda, tf-cpu, torch-cpu, impl:FILE.py[:NAME] (runs your code), outputs:FILE, onnx:FILE,
tflite:FILE; --backend, --impl, --outputs, --onnx, --tflite are short forms of --b.

Exit codes: 0 success / agreement, 1 divergence (``compare``), 2 bad input (one line on stderr,
no traceback), 3 internal error (set ``LSTM_INSPECTOR_DEBUG=1`` for the traceback).
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

from ..errors import InspectorError
from . import backends, compare, diagnose, export, info, sweep, window

SUBCOMMANDS = ("info", "compare", "diagnose", "backends", "gui", "sweep", "export")
COMMANDS = {"info": info.cmd_info, "compare": compare.cmd_compare,
            "backends": backends.cmd_backends, "gui": window.cmd_gui, "sweep": sweep.cmd_sweep,
            "export": export.cmd_export, "diagnose": diagnose.cmd_diagnose}


def build_parser(prog="lstm-inspector") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.replace("``", ""),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"lstm-inspector {__version__}")
    sub = parser.add_subparsers(dest="command")
    for module in (info, compare, export, diagnose, backends, sweep, window):
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv = ["gui"] + argv
    parser = build_parser()
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
