"""GRU layers on the real libraries: tf-keras's ``GRU`` on the CPU and PyTorch's ``nn.GRU``.

Both run one call per layer direction over the whole sequence (``common.one_call_direction``),
as ``model.predict`` does; h is *measured* at every step, and since a GRU's state is h alone,
its gates (r, z, n, Rh) are *derived* from that h by the NumPy equations (``core.gru``) with no
recursion left.

* ``tf-cpu``: a ``tf_keras.layers.GRU`` with the layer's ``reset_after`` and activations,
  its weights made by Keras's own loader (``preprocess_weights_for_loading``: a CuDNNGRU's
  ``(6H,)`` bias and per-gate cuDNN layout go through Keras's converter to
  ``GRU(reset_after=True)``), never by the tool's reading, so a loader bug cannot hide here.
  Arrays Keras has no converter for (an ``nn.GRU``'s r, z, n order; an ONNX
  ``linear_before_reset=0`` node's two bias halves, which Keras's ``GRU(reset_after=False)``
  holds summed, exactly, since both sit outside the reset product) go in through the tool's
  canonical weights, and a note says so.
* ``torch-cpu`` / ``torch-cuda``: ``nn.GRU`` holding the canonical arrays (gates r, z, n); it
  computes ``reset_after=True`` with tanh / sigmoid only, so a ``reset_after=False`` layer
  is refused with that sentence.
"""
from __future__ import annotations

import numpy as np

from .common import float32, quiet_retracing, torch_input


def cell_words(model, text: str) -> str:
    """``text`` naming the chain's cells: "LSTM" becomes "GRU" for a chain of GRUs only,
    "LSTM/GRU" for a chain of both (labels and notes say what really ran)."""
    cells = {layer.cell for layer in model.chain}
    if "gru" not in cells:
        return text
    return text.replace("LSTM", "GRU" if cells == {"gru"} else "LSTM/GRU")


def torch_gru_problem(model) -> str:
    """A sentence naming the first GRU of the chain ``nn.GRU`` cannot compute, or ""."""
    for layer in model.chain:
        if layer.cell == "gru" and not layer.directions["forward"].reset_after:
            return (f"layer '{layer.name}' is a GRU with reset_after=False (r applied before "
                    f"R_n), but torch's nn.GRU and cuDNN compute reset_after=True only")
    return ""


# ---- TensorFlow ---------------------------------------------------------------------------
def keras_gru(tf_keras, layer, direction: str):
    """A built ``tf_keras.layers.GRU(return_sequences=True, return_state=True)`` holding one
    direction's weights, and the sentence saying how they were made."""
    from tf_keras.src.saving.legacy.hdf5_format import preprocess_weights_for_loading

    stored = layer.directions[direction]
    reading = stored.true_reading
    use_bias = stored.bias is not None
    gru = tf_keras.layers.GRU(layer.units, activation=stored.activation,
                              recurrent_activation=stored.recurrent_activation,
                              reset_after=stored.reset_after, use_bias=use_bias,
                              return_sequences=True, return_state=True)
    gru.build((1, None, layer.input_size))
    where = f"layer '{layer.name}' ({direction})"
    two_halves_classic = (use_bias and not stored.reset_after
                          and stored.bias.size == 6 * layer.units)
    if reading.gate_order in (None, "zrn") and reading.bias in (None, "both") \
            and not reading.recurrent_transposed and not two_halves_classic:
        arrays = [float32(stored.kernel), float32(stored.recurrent_kernel)]
        if use_bias:
            arrays.append(float32(stored.bias))
        weights = preprocess_weights_for_loading(gru, arrays)
        source = "CuDNNGRU" if use_bias and stored.bias.shape == (6 * layer.units,) else "GRU"
        how = "as stored" if source == "GRU" else "through Keras's own converter (CuDNNGRU -> GRU)"
    else:
        kernel, recurrent, bias = layer.weights(direction).to_keras_gru()
        weights = [kernel, recurrent] + ([bias] if use_bias else [])
        how = (f"through the tool's canonical weights (stored as {reading.name}, a convention "
               f"Keras has no converter for)")
    gru.set_weights([float32(w) for w in weights])
    return gru, f"{where}: GRU weights {how}"


def tf_gru_call(tf, gru, keep_proc=None):
    """``run_call`` for ``common.one_call_direction``: ``gru`` in one graph-mode call on a
    chunk from h0 (``keep_proc``: Keras's mask in processing order)."""
    call = tf.function(lambda inputs, kw: gru(inputs, **kw))

    def run_call(x_rows, state, lo, hi, _out):
        kwargs = {"initial_state": [tf.constant(float32(state[0])[None])]}
        if keep_proc is not None:
            kwargs["mask"] = tf.constant(np.asarray(keep_proc[lo:hi], bool)[None])
        with quiet_retracing(tf):
            out, h_last = call(tf.constant(float32(x_rows)[None]), kwargs)
        out = out[0].numpy().astype(np.float32)
        return out, (h_last[0].numpy().astype(np.float32), None), None
    return run_call


# ---- PyTorch ------------------------------------------------------------------------------
def torch_gru(torch, layer, direction: str, device):
    """A one-direction ``nn.GRU`` holding ``direction``'s canonical weights."""
    w = layer.weights(direction)
    module = torch.nn.GRU(layer.input_size, layer.units, batch_first=True).to(device)
    with torch.no_grad():
        for name, array in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), w.to_torch()):
            getattr(module, f"{name}_l0").copy_(torch.from_numpy(float32(array)))
    module.flatten_parameters()
    return module


def torch_gru_call(torch, module, device):
    """``run_call`` for ``common.one_call_direction``: ``module`` (an ``nn.GRU``) on a chunk."""
    def run_call(x_rows, state, lo, hi, _out):
        h0 = torch.from_numpy(float32(state[0])[None, None]).to(device)   # (1, batch 1, H)
        with torch.no_grad():
            out, h = module(torch.from_numpy(torch_input(x_rows)).to(device)[None], h0)
        return out[0].cpu().numpy(), (h[0, 0].cpu().numpy(), None), None
    return run_call
