"""User options that change how a loaded model is read, shared by every model loader.

``load_model(path, kind=..., recurrent_activation=..., activation=..., merge_mode=...,
layers=[...])``: ``kind`` ("CuDNNLSTM" or "LSTM") sets how the stored arrays are read
(CuDNNLSTM also fixes tanh / sigmoid, as cuDNN does); the activations replace the layer's;
``merge_mode`` ("concat", "sum", "mul", "ave" or "none") replaces a bidirectional layer's;
``go_backwards`` (True/False) replaces each layer's, or names the layers that ran go_backwards
(``"lstm_2"``, ``"lstm_1,lstm_2"`` or a list: the others did not); ``layers`` limits all of
it to the named layers. A value of None means "not given".
"""
from __future__ import annotations

from dataclasses import replace

from ..core import activations
from ..core.model import MERGE_MODES
from ..core.weights import READINGS
from ..errors import InspectorError

OVERRIDE_KEYS = ("kind", "recurrent_activation", "activation", "merge_mode", "go_backwards",
                 "layers")
KINDS = {"cudnnlstm": "CuDNNLSTM", "cudnn": "CuDNNLSTM", "lstm": "LSTM"}


def check_overrides(overrides: dict, what: str = "a model") -> dict:
    """The given options (None values dropped), validated and normalised.

    Layer names in ``layers`` are checked against the model later, in :func:`apply_overrides`.
    """
    unknown = sorted(set(overrides) - set(OVERRIDE_KEYS))
    if unknown:
        raise InspectorError(f"unknown option(s) {', '.join(unknown)} for {what} "
                             f"(known: {', '.join(OVERRIDE_KEYS)})")
    options = {k: v for k, v in overrides.items() if v is not None}
    if "kind" in options:
        kind = KINDS.get(str(options["kind"]).lower())
        if kind is None:
            raise InspectorError(f"kind '{options['kind']}' is not 'CuDNNLSTM' or 'LSTM'")
        options["kind"] = kind
    for name in ("activation", "recurrent_activation"):
        if name in options:
            activations.check(options[name])
    if "merge_mode" in options:
        merge = str(options["merge_mode"]).lower()
        merge = None if merge == "none" else merge
        if merge not in MERGE_MODES:
            raise InspectorError(
                f"merge mode '{options['merge_mode']}' is not concat, sum, mul, ave or none")
        options["merge_mode"] = merge
    if "go_backwards" in options:
        value = options["go_backwards"]
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            value = value.lower() in ("true", "1", "yes")
        elif isinstance(value, str):  # layer names: those layers ran go_backwards, not others
            value = tuple(n.strip() for n in value.split(",") if n.strip())
        elif isinstance(value, (list, tuple)):
            value = tuple(str(n) for n in value)
        options["go_backwards"] = value if isinstance(value, tuple) else bool(value)
    if "layers" in options:
        names = options["layers"]
        options["layers"] = [names] if isinstance(names, str) else [str(n) for n in names]
    return options


def apply_overrides(layers: list, overrides: dict, notes: list, what: str = "the model") -> list:
    """``layers`` with the options applied to every runnable layer (or those named), plus a note."""
    options = check_overrides(overrides, what)
    names = options.pop("layers", [])
    backwards = options.get("go_backwards")
    missing = [n for n in list(names) + list(backwards if isinstance(backwards, tuple) else ())
               if n not in {layer.name for layer in layers}]
    if missing:
        raise InspectorError(f"{what} has no recurrent layer named {', '.join(missing)} "
                             f"(layers: {', '.join(layer.name for layer in layers)})")
    if not options:
        return list(layers)
    kind = options.get("kind")
    out, touched = [], []
    for layer in layers:
        if (names and layer.name not in names) or not layer.runnable:
            out.append(layer)
            continue
        directions = {}
        lstm_kind = kind if layer.cell == "lstm" else None   # --kind names LSTM kinds only
        for direction, stored in layer.directions.items():
            if lstm_kind:
                stored = replace(stored, true_reading=READINGS[
                    "cudnn" if kind == "CuDNNLSTM" else "keras"])
                if kind == "CuDNNLSTM":
                    stored = replace(stored, activation="tanh", recurrent_activation="sigmoid")
            stored = replace(stored, activation=options.get("activation", stored.activation),
                             recurrent_activation=options.get("recurrent_activation",
                                                              stored.recurrent_activation))
            directions[direction] = stored
        changes = dict(directions=directions, kind=lstm_kind or layer.kind)
        if "merge_mode" in options and layer.bidirectional:
            changes["merge_mode"] = options["merge_mode"]
        if isinstance(backwards, tuple):  # --go-backwards lstm_2: the named layers only
            changes["go_backwards"] = layer.name in backwards
        elif "go_backwards" in options:
            changes["go_backwards"] = backwards
        out.append(replace(layer, **changes))
        touched.append(layer.name)
    shown = ", ".join(f"{k}={v}" for k, v in options.items())
    notes.append(f"options {shown} applied to {', '.join(touched) or 'no layer'}")
    return out


def remaining_assumptions(assumptions, overrides: dict) -> list:
    """The phrases of ``[(option, phrase)]`` whose option the user did not give."""
    given = {k for k, v in overrides.items() if v is not None}
    if "kind" in given:  # CuDNNLSTM fixes tanh / sigmoid: nothing left to assume about them
        if str(overrides["kind"]).lower().startswith("cudnn"):
            given |= {"activation", "recurrent_activation"}
    return [phrase for option, phrase in assumptions if option is None or option not in given]


#: What the loader assumes about a weights-only file: (the load option that states it
#: instead, the assumption in words). An option given by the user drops its assumption.
def weights_only_assumptions(lstm: bool, hard_sigmoid_era: bool, bidirectional: list,
                             gru: bool = False) -> list:
    """``[(option, phrase)]`` for a weights-only file (see ``Model.assumptions``)."""
    out = [("kind", "each layer's kind from its bias (8H: CuDNNLSTM, 4H: LSTM; --kind)"),
           (None, "each layer feeds the next, returning sequences, with no Masking"),
           ("go_backwards", "no layer runs go_backwards (--go-backwards, or "
                            "--go-backwards=NAME,... for some layers)"),
           (None, "the layers compute in float32, as the file cannot record a mixed_float16 "
                  "policy (--dtype mixed_float16 computes as such a model would)")]
    if lstm:
        out.append(("activation", "LSTM activation tanh (--activation)"))
        out.append(("recurrent_activation", "LSTM recurrent activation sigmoid"
                    + (", though this Keras defaulted to hard_sigmoid" if hard_sigmoid_era
                       else "") + " (--recurrent-activation)"))
    if gru:
        out.append((None, "each GRU's convention from its bias (6H: CuDNNGRU; (2, 3H): GRU "
                          "with reset_after=True; 3H: GRU with reset_after=False)"))
        out.append(("recurrent_activation", "GRU activation tanh and recurrent activation "
                    "sigmoid (--activation, --recurrent-activation)"))
    if bidirectional:
        out.append(("merge_mode", f"merge mode concat for {', '.join(bidirectional)} "
                                  f"(--merge-mode)"))
    return out
