"""An ONNX ``GRU`` operator node as one recurrent layer (``io.onnx_model`` reads the graph).

Inputs ``X, W, R, B, sequence_lens, initial_h``; W ``(D, 3H, in)``, R ``(D, 3H, H)`` and
B ``(D, 6H) = [Wb, Rb]``, gate blocks in ONNX's order **z, r, h** (h: the candidate)::

    z_t = f(W_z x_t + Wb_z + R_z h_{t-1} + Rb_z)
    r_t = f(W_r x_t + Wb_r + R_r h_{t-1} + Rb_r)
    linear_before_reset = 0:  n_t = g(W_h x_t + Wb_h + R_h (r_t * h_{t-1}) + Rb_h)
    linear_before_reset = 1:  n_t = g(W_h x_t + Wb_h + r_t * (R_h h_{t-1} + Rb_h))
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}

which is the canonical GRU (``core.gru_weights``) with ``reset_after = linear_before_reset``
(1: as cuDNN and ``nn.GRU``; 0: the classic GRU, Rb_h outside the product in both). Each
direction is kept as stored under Keras GRU's reading (``kernel = W[d].T``,
``recurrent_kernel = R[d].T``, gates z, r, h, ``x @ kernel``), bias ``(2, 3H)`` = [Wb, Rb]
(Keras GRU(reset_after=True)'s own shape). ``activations`` (f, g per direction: Keras's
``recurrent_activation``, ``activation``), ``direction`` and ``layout`` are read;
``clip`` is refused by name; ``sequence_lens`` and ``initial_h`` as the LSTM nodes'.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..core.gru_weights import GRU_READINGS, StoredGRU
from ..core.model import RecurrentLayer
from ..errors import InspectorError
from . import onnx_glue

DEFAULT_ACTIVATIONS = ("Sigmoid", "Tanh")


def onnx_gru_reading(linear_before_reset: bool):
    """Keras GRU's reading (x @ kernel, gates z, r, h, both bias halves) with ONNX's reset."""
    return replace(GRU_READINGS["keras"], name="onnx", reset_after=bool(linear_before_reset))


def gru_layer(node, name, consts, producers, notes, helpers) -> RecurrentLayer:
    """The layer of GRU ``node``; ``helpers`` is ``io.onnx_model`` (its shared readers)."""
    inputs = list(node.input) + [""] * (6 - len(node.input))
    direction = onnx_glue.attr(node, "direction", "forward")
    D = 2 if direction == "bidirectional" else 1
    for k, what in ((1, "W"), (2, "R"), (3, "B")):
        if inputs[k] and inputs[k] not in consts:
            return helpers._unsupported(node, name, f"its {what} comes from another operator, "
                                                    f"not the file's initializers")
    if not inputs[1]:
        return helpers._unsupported(node, name, "it has no W")
    W, R = np.asarray(consts[inputs[1]]), np.asarray(consts[inputs[2]])
    H = int(onnx_glue.attr(node, "hidden_size", R.shape[-1]))
    if W.ndim != 3 or R.shape != (D, 3 * H, H) or W.shape[:2] != (D, 3 * H):
        raise InspectorError(f"ONNX GRU '{name}': W {W.shape} and R {R.shape} do not fit "
                             f"hidden_size {H} and direction {direction}")
    B = np.asarray(consts[inputs[3]]) if inputs[3] else None
    if B is not None and B.shape != (D, 6 * H):
        raise InspectorError(f"ONNX GRU '{name}': B has shape {B.shape}, expected {(D, 6 * H)}")
    why = _refusal(node)
    acts = helpers.node_activations(node, D, DEFAULT_ACTIVATIONS)   # (f, g) or a sentence
    if isinstance(acts, str):
        why = why or acts
    if why:
        return helpers._unsupported(node, name, why, W.shape[2], H)
    rec_act, act = acts
    reading = onnx_gru_reading(onnx_glue.attr(node, "linear_before_reset", 0))
    dirs = {key: StoredGRU(np.ascontiguousarray(W[d].T), np.ascontiguousarray(R[d].T),
                           None if B is None else B[d].reshape(2, 3 * H), reading,
                           activation=act, recurrent_activation=rec_act)
            for d, key in enumerate(("forward", "backward")[:D])}
    state_from = tuple(inputs[k] for k in (5,)
                       if inputs[k] and not helpers._is_zero(inputs[k], consts, producers))
    if state_from:
        notes.append(f"layer '{name}' starts from the graph's initial_h ({state_from[0]}), "
                     f"not zeros")
    length = helpers._sequence_length(inputs[4], consts, name, notes)
    if isinstance(length, str):
        return helpers._unsupported(node, name, length, W.shape[2], H)
    return RecurrentLayer(name=name, kind="ONNX GRU", input_size=int(W.shape[2]), units=H,
                          directions=dirs, merge_mode="concat" if D == 2 else None,
                          go_backwards=direction == "reverse", use_bias=B is not None,
                          initial_state_from=state_from,
                          zero_output_for_mask=length is not None)


def _refusal(node) -> str:
    clip = onnx_glue.attr(node, "clip")
    if clip is not None:
        return (f"clip={clip:g} (ONNX clips the gates' pre-activations to [-clip, clip]) is not "
                f"computed by the reference")
    if onnx_glue.attr(node, "layout", 0) not in (0, 1):
        return f"layout={onnx_glue.attr(node, 'layout')} is not 0 or 1"
    if onnx_glue.attr(node, "linear_before_reset", 0) not in (0, 1):
        return f"linear_before_reset={onnx_glue.attr(node, 'linear_before_reset')} is not 0 or 1"
    return ""
