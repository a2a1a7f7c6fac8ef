"""``lstm-inspector info MODEL [--json]``: the recurrent layers, their cell kind (``cell=lstm`` or
``cell=gru``) and their conventions."""
from __future__ import annotations

import json

from ..errors import InspectorError
from . import options


def add_parser(sub):
    p = sub.add_parser("info", help="list a model's recurrent layers")
    p.add_argument("model")
    p.add_argument("--json", action="store_true", help="print JSON")
    options.add_model_options(p)
    return p


def cmd_info(args) -> int:
    from .. import load_model

    model = load_model(args.model, **options.model_overrides(args))
    if args.json:
        print(json.dumps({
            "source": model.source, "format": model.file_format,
            "keras_version": model.keras_version, "notes": list(model.notes),
            "mask_value": model.mask_value, "assumptions": list(model.assumptions),
            "sequence_length": model.sequence_length,
            "not_computed": list(model.unfaithful(features_given=False)),
            "front": None if model.front is None else model.front.describe(),
            "features_width": _features_width(model),
            "chain": [layer.name for layer in model.chain] if _has_chain(model) else [],
            "layers": [{
                "name": l.name, "kind": l.kind, "cell": l.cell, "bidirectional": l.bidirectional,
                "merge_mode": l.merge_mode, "input_size": l.input_size, "units": l.units,
                "activation": l.activation, "recurrent_activation": l.recurrent_activation,
                "convention": l.convention, "go_backwards": l.go_backwards,
                "return_sequences": l.return_sequences, "unsupported": l.unsupported,
                "use_bias": l.use_bias, "stateful": l.stateful, "dtype_policy": l.dtype_policy,
                "initial_state_from": list(l.initial_state_from), "proj_size": l.proj_size,
            } for l in model.layers],
        }, indent=2))
        return 0
    print(model.describe())
    if _has_chain(model):
        names = ", ".join(layer.name for layer in model.chain)
        print(f"runnable chain: {names} (input width {model.input_size})")
        if model.front is not None and model.front.runs and model.features_are != "lstm-input":
            from ..core.front import features_width

            width = features_width(model)
            print(f"features: the model's input (width {width if width else 'not recorded'}); "
                  f"the front runs on them first (--features-are lstm-input: width "
                  f"{model.input_size}, the front skipped)")
    else:
        print("runnable chain: none (no layer of this model can be run)")
    return 0


def _features_width(model):
    from ..core.front import features_width

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
