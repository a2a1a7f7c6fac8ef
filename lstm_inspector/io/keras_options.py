"""Every option a Keras recurrent layer's config records: computed, irrelevant, or named.

A config key the tool neither reads nor knows to be irrelevant at inference could change what
the layer computes; rather than agree on its own reading, the loader names it, and the model is
then "not what the file's model computes" (``Model.not_computed``, ``core.fidelity``). The key
sets below are what tf-keras / Keras 2 / Keras 3 write for ``LSTM``, ``CuDNNLSTM``, ``RNN``,
``LSTMCell`` and ``Bidirectional`` (tests/test_front.py enumerates them from tf-keras itself).
"""
from __future__ import annotations

#: Keys the loader reads and computes (or turns into a sentence when the tool does not).
READ = frozenset({
    "name", "units", "activation", "recurrent_activation", "use_bias", "go_backwards",
    "return_sequences", "return_state", "stateful", "time_major", "dtype", "cell",
    "zero_output_for_mask", "layer", "merge_mode", "backward_layer", "cells",
    "reset_after",   # GRU: where the reset gate acts (core.gru)
})
#: Keys that do not change what a loaded layer computes at inference, and why.
IRRELEVANT = {
    "trainable": "training only",
    "kernel_initializer": "the stored weights replace it",
    "recurrent_initializer": "the stored weights replace it",
    "bias_initializer": "the stored weights replace it",
    "unit_forget_bias": "an initialiser: the stored bias replaces it",
    "kernel_regularizer": "training only", "recurrent_regularizer": "training only",
    "bias_regularizer": "training only", "activity_regularizer": "training only",
    "kernel_constraint": "training only", "recurrent_constraint": "training only",
    "bias_constraint": "training only",
    "dropout": "identity at inference", "recurrent_dropout": "identity at inference",
    "implementation": "the same equations, computed in another order",
    "unroll": "the same equations, unrolled",
    "batch_input_shape": "the input shape (the loader reads widths from the weights)",
    "input_shape": "the input shape", "batch_size": "the input shape",
    "input_dim": "the input width (the loader reads it from the weights)",
    "input_length": "the input shape", "seed": "dropout's seed (training only)",
    "module": "where the class lives", "registered_name": "the class's name",
    "build_config": "the input shape",
}


def unknown_options(config: dict) -> list:
    """Keys of ``config`` the tool neither reads nor knows to be irrelevant (set, not None)."""
    return sorted(k for k, v in config.items()
                  if k not in READ and k not in IRRELEVANT and v not in (None, False, 0, {}, []))


def option_sentences(name: str, rnn_config: dict, cell: dict, wrapper: dict) -> list:
    """Sentences naming what layer ``name``'s config asks for that the tool does not compute
    (``wrapper``: a Bidirectional / TimeDistributed config around it, or {})."""
    out = []
    if rnn_config.get("time_major"):
        out.append(f"layer '{name}' is time_major: it reads its input as (time, batch, "
                   f"features), so fed one (1, T, d) sequence Keras runs each of the T frames "
                   f"as its own one-step sequence from zeros; the tool does not reimplement "
                   f"that")
    unknown = sorted(set(unknown_options(rnn_config)) | set(unknown_options(cell))
                     | set(unknown_options(wrapper)))
    if unknown:
        out.append(f"layer '{name}' sets option(s) {', '.join(unknown)}, which the tool does "
                   f"not know")
    return out


#: Backward-layer keys whose difference from the forward layer the tool computes.
BACKWARD_COMPUTED = ("activation", "recurrent_activation", "go_backwards", "name")


def backward_sentences(name: str, forward: dict, backward: dict) -> list:
    """Sentences naming how ``Bidirectional(backward_layer=...)``'s own config differs from the
    forward layer's in a way the tool does not compute (activations it does: see the loader)."""
    out = []
    if bool(backward.get("go_backwards", False)) == bool(forward.get("go_backwards", False)):
        out.append(f"layer '{name}' has a backward layer that reads the input in the same "
                   f"order as its forward layer (go_backwards "
                   f"{bool(backward.get('go_backwards', False))} in both), which the tool does "
                   f"not reimplement")
    differ = sorted(k for k in set(forward) | set(backward)
                    if k not in BACKWARD_COMPUTED and k not in IRRELEVANT
                    and forward.get(k) != backward.get(k))
    if differ:
        out.append(f"layer '{name}' has a backward layer whose {', '.join(differ)} differ from "
                   f"its forward layer's, which the tool does not reimplement")
    return out


__all__ = ["READ", "IRRELEVANT", "unknown_options", "option_sentences", "backward_sentences"]


def tensor_indexes(entry: dict) -> list:
    """Which output tensor of each feeding layer ``entry``'s first call reads, in the order of
    ``keras_config.inbound_names`` (``[name, node, tensor, kwargs]`` in Keras 2,
    ``keras_history = [name, node, tensor]`` in Keras 3); 0 when the file does not say."""
    nodes = entry.get("inbound_nodes") or []
    out: list = []
    if nodes:
        _indexes(nodes[0], out)
    return out


def _indexes(value, out: list) -> None:
    if isinstance(value, dict):
        history = value.get("config", {}).get("keras_history") \
            if value.get("class_name") == "__keras_tensor__" else None
        if history:
            out.append(history[2] if len(history) > 2 and isinstance(history[2], int) else 0)
            return
        for item in value.values():
            _indexes(item, out)
    elif isinstance(value, (list, tuple)):
        if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
            out.append(value[2] if isinstance(value[2], int) else 0)
            if len(value) > 3:
                _indexes(value[3], out)
            return
        for item in value:
            _indexes(item, out)
