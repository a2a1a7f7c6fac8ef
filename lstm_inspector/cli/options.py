"""Option groups shared by the subcommands, and what they turn into (paths, model options,
the loaded model and features).

Paths: ``--a PATH`` and ``--b PATH`` take any spelling of ``paths.registry`` (default: the
reference and ``auto``). The older options are short forms of ``--b``: ``--backend NAME`` = ``--b NAME``, ``--impl F`` =
``--b impl:F``, ``--outputs F`` = ``--b outputs:F``, ``--onnx F`` = ``--b onnx:F``,
``--tflite F`` = ``--b tflite:F``, and the window's ``--reading R`` = ``--b numpy:R``.
"""
from __future__ import annotations

from ..errors import InspectorError

#: option dest -> (path kind, its prefix) the option is short for (None: the value is the path)
SHORT_FORMS = {"backend": None, "impl": ("impl", None), "outputs": ("outputs", None),
               "onnx": ("exported", "onnx:"), "tflite": ("exported", "tflite:"),
               "reading": ("reading", None)}
DEFAULT_A, DEFAULT_B = "numpy", "auto"


def add_path_options(p, short=("backend", "onnx", "tflite", "impl", "outputs"), port=True,
                     a=True):
    """``--a`` / ``--b`` and the short forms of ``--b`` named in ``short``; ``port``: how
    your implementation is called (``--form``, ``--timeout``)."""
    if a:
        p.add_argument("--a", dest="path_a", metavar="PATH", default=None,
                       help="path A (default numpy, the reference): numpy, numpy64, "
                            "numpy:<reading>, auto, tf-gpu, torch-cuda, tf-cpu, torch-cpu, "
                            "impl:FILE.py[:NAME], outputs:FILE, onnx:FILE, tflite:FILE")
    p.add_argument("--b", dest="path_b", metavar="PATH", default=None,
                   help="path B (default auto), spelled as --a")
    helps = {
        "backend": ("--backend", "NAME", "short for --b NAME (auto, tf-gpu, torch-cuda, tf-cpu, "
                                         "torch-cpu, numpy64, numpy:<reading>)"),
        "onnx": ("--onnx", "FILE", "short for --b onnx:FILE (run by ONNX Runtime)"),
        "tflite": ("--tflite", "FILE", "short for --b tflite:FILE (tf.lite.Interpreter)"),
        "impl": ("--impl", "FILE.py[:NAME]", "short for --b impl:FILE.py[:NAME]: your LSTM "
                                             "function (runs your code, in a separate process)"),
        "outputs": ("--outputs", "FILE", "short for --b outputs:FILE: your port's outputs, npy "
                                         "(T, H) of h, or npz/csv with h and c"),
        "reading": ("--reading", "NAME", "short for --b numpy:NAME (e.g. naive)"),
    }
    for dest in short:
        flag, metavar, text = helps[dest]
        p.add_argument(flag, dest=dest, metavar=metavar, default=None, help=text)
    if port:
        p.add_argument("--form", choices=("sequence", "step"), default=None,
                       help="how an impl: path is called (default: told apart by its "
                            "parameter names)")
        p.add_argument("--timeout", type=float, default=None,
                       help="seconds before an impl: path is stopped (default 120)")


def path_specs(args) -> tuple:
    """``(spec_a, spec_b)`` from ``--a``/``--b`` and the short forms (one of them for B)."""
    from ..paths.registry import kind_of, spelling

    given = []
    if getattr(args, "path_b", None):
        given.append(("--b", args.path_b))
    for dest, kind in SHORT_FORMS.items():
        value = getattr(args, dest, None)
        if not value:
            continue
        if kind is None:   # --backend NAME: said as a backend when misspelt
            try:
                kind_of(value)
            except InspectorError as exc:
                raise InspectorError(str(exc).replace("unknown path", "unknown backend",
                                                      1)) from None
            spec = value
        else:
            spec = spelling(*kind[:1], value, kind[1])
        given.append((f"--{dest}", spec))
    if len(given) > 1:
        flags = ", ".join(flag for flag, _ in given)
        raise InspectorError(f"path B is either --b, --backend, --onnx, --tflite, --impl or "
                             f"--outputs ({flags} were given); give one of them")
    spec_b = given[0][1] if given else DEFAULT_B
    return getattr(args, "path_a", None) or DEFAULT_A, spec_b


def add_model_options(p):
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


def model_overrides(args) -> dict:
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


def add_tolerance_options(p):
    """``--atol`` / ``--rtol`` of every command that compares two paths (None: the defaults)."""
    p.add_argument("--atol", type=float, default=None, help="absolute tolerance (default 1e-5)")
    p.add_argument("--rtol", type=float, default=None, help="relative tolerance (default 1e-4)")


def add_run_options(p):
    p.add_argument("--dtype", choices=("float32", "float64", "mixed_float16"), default="float32",
                   help="precision of the NumPy reference (default float32, as cuDNN; "
                        "mixed_float16: float16 compute as Keras's mixed precision policy)")
    p.add_argument("--initial-state", dest="initial_state", metavar="NPZ",
                   help="h0, c0 per layer and direction (names: h0, c0, h0_<k>, "
                        "h0_<k>_backward...; see README) instead of zeros")


def add_stepped_option(p):
    p.add_argument("--stepped", action="store_true",
                   help="backends: call the library once per step from the previous (h, c), so "
                        "c is measured at every step (slow; a one-step call does not see TF32); "
                        "default: one call over the sequence as the model runs, c derived")


def add_feature_options(p):
    p.add_argument("--key", help="array name in an .npz, or utterance id in a Kaldi ark/scp")
    p.add_argument("--feature", choices=("mfcc", "logmel"), default="mfcc",
                   help="features computed from a .wav file (default mfcc)")
    p.add_argument("--layer", type=int, default=None,
                   help="run only recurrent layer N (features must have that layer's input width)")


def tf32(value):
    return None if value is None else value == "on"


def layer_index(args, model) -> int:
    if not 0 <= args.layer < len(model.layers):
        raise InspectorError(f"the model has {len(model.layers)} recurrent layers; "
                             f"--layer {args.layer} is not one of them")
    return args.layer


def initial_state(args, model):
    if not getattr(args, "initial_state", None):
        return None
    from ..io.initial_state import load_initial_state

    return load_initial_state(args.initial_state, model)


def load(args, layer_alone: bool = True):
    """``(model, feats, x)`` from the command's files; ``--layer N`` runs that layer alone on
    features of its width unless ``layer_alone`` is False (``diagnose`` feeds it the reference's
    input to it)."""
    from .. import load_features, load_model
    from ..core.reference import check_input
    from ..io.features import check_features

    model = load_model(args.model, **model_overrides(args))
    options = {"feature": args.feature}
    if args.key:
        options["key"] = args.key
    feats = load_features(args.features, **options)
    from ..io.model_audio import with_sample_rate_note

    feats = with_sample_rate_note(model, feats)  # a wav at another rate than the model's
    alone = layer_alone and args.layer is not None
    if alone:
        model = model.sub_model(layer_index(args, model))
    # with --layer, check_input names the layer the width must match
    from ..core.front import features_width, run_front

    try:
        check_features(feats, input_size=None if alone else features_width(model))
    except InspectorError as exc:
        from ..core.reference import width_hint

        raise InspectorError(f"{exc}{width_hint(model)}") from None
    model, x = run_front(model, feats.data)  # the model's input -> the first LSTM's
    x = check_input(model, x)
    return model, feats, x
