"""``tf-cpu``: TensorFlow's own LSTM on the CPU, fed through Keras's own weight converter.

The CudnnRNN ops have GPU kernels only, so on a CPU the honest TensorFlow reference for a
CuDNNLSTM file is what Keras itself does when it loads CuDNNLSTM weights into an ``LSTM``:
``preprocess_weights_for_loading`` -> ``_convert_rnn_weights`` (per gate block
``k.T.reshape(k.shape, order='F')`` for the kernel, ``k.T`` for the recurrent kernel, bias halves
summed). None of the project's own conversions (``core.weights``) is used on this path, so a bug
there cannot hide here. A Keras ``LSTM`` layer's arrays go in as stored, with its own
activations (``hard_sigmoid``, ``relu``...).

Per-step cell states come from TF's own cell math in the same single call: the layer's
``LSTMCell`` is wrapped in a cell whose output is ``concat(h_t, c_t)`` and run with
``tf_keras.layers.RNN(wrapper, return_sequences=True)``, so c is ``"measured"``. Its h equals a
plain Keras ``LSTM`` layer's, bit for bit (``tests/test_backends.py``): this path is the
one-call road (``common.one_call_direction``: one call per layer direction, as
``model.predict`` makes it, chunked only if TensorFlow refused the length) with c measured by
the same call, so nothing is derived and ``stepped`` would add nothing.
"""
from __future__ import annotations

import functools

import numpy as np

from .common import (base_meta, float32, import_tf, one_call_direction, quiet_retracing,
                     record_one_call, refuse_reading, run_chain, tf_versions)
from .gru_backends import cell_words, keras_gru, tf_gru_call

NAME = "tf-cpu"
LABEL = "TensorFlow CPU LSTM (Keras's converter)"


def supports(model) -> str:
    """Every activation TensorFlow knows runs here: always ""."""
    return ""


def keras_weights(target, layer, direction: str):
    """Weights for ``target`` (a built tf-keras ``LSTM`` or ``CuDNNLSTM``) and how they were made.

    Returns ``(list of arrays for target.set_weights, sentence)``. The file's stored arrays go
    through Keras's ``preprocess_weights_for_loading``, which decides the source convention as
    Keras does, from the bias alone (8H: CuDNNLSTM, 4H: LSTM), and converts when it differs from
    the target. The loader's reading is deliberately not consulted (only a note is added where it
    disagrees), so a loader that reads a file wrongly makes this path disagree with the NumPy
    reference instead of agreeing with it. A stored convention Keras has no converter for
    (another gate order or bias reading, e.g. a TF 1.x ``CudnnLSTM`` checkpoint's canonical
    tensors) falls back to the tool's canonical weights, and the sentence says so.
    """
    from tf_keras.src.saving.legacy.hdf5_format import preprocess_weights_for_loading

    stored = layer.directions[direction]
    kernel, recurrent, bias = (float32(a) for a in (stored.kernel, stored.recurrent_kernel,
                                                     stored.bias))
    H = layer.units
    reading = stored.true_reading
    target_kind = type(target).__name__
    where = f"layer '{layer.name}' ({direction})"
    if reading.gate_order not in (None, "ifco") or reading.bias not in (None, "sum") \
            or bias.shape not in ((4 * H,), (8 * H,)):
        canonical = layer.weights(direction)
        arrays = canonical.to_keras_lstm() if target_kind == "LSTM" else canonical.to_cudnn_keras()
        return [float32(a) for a in arrays], (
            f"{where} is stored in a convention Keras has no converter for ({reading.name}); "
            f"its weights went in through the tool's canonical weights")
    source = "CuDNNLSTM" if bias.shape == (8 * H,) else "LSTM"  # Keras's own rule
    weights = preprocess_weights_for_loading(target, [kernel, recurrent, bias])
    how = ("as stored" if source == target_kind
           else f"through Keras's own converter ({source} -> {target_kind})")
    note = f"{where}: weights {how}"
    loader_layout = reading.layout or "cudnn"
    if loader_layout != ("cudnn" if source == "CuDNNLSTM" else "keras"):
        note += (f"; the model reads these arrays in the '{loader_layout}' layout, but Keras treats "
                 f"a {bias.shape[0] // H}H bias as {source}'s, and this path follows Keras")
    return [float32(w) for w in weights], note


@functools.lru_cache(maxsize=1)
def _state_recording_cell_class():
    """A tf-keras cell class wrapping an ``LSTMCell``: output ``concat(h, c)``, same states."""
    tf, tf_keras = import_tf()

    class StateRecordingCell(tf_keras.layers.Layer):
        """Runs ``cell`` unchanged and also emits its new cell state c_t beside h_t."""

        def __init__(self, cell, **kwargs):
            super().__init__(**kwargs)
            self.cell = cell

        @property
        def state_size(self):
            return self.cell.state_size

        @property
        def output_size(self):
            return 2 * self.cell.units

        def build(self, input_shape):
            if not self.cell.built:
                self.cell.build(input_shape)
            self.built = True

        def call(self, inputs, states, training=None):
            h, new_states = self.cell(inputs, states, training=training)  # new_states = [h, c]
            return tf.concat([h, new_states[1]], axis=-1), new_states  # (batch, 2H)

    return StateRecordingCell


def keras_lstm(layer, direction: str, dtype=None):
    """A built ``tf_keras.layers.LSTM(return_sequences=True)`` holding one direction's weights.

    ``dtype``: a Keras dtype policy name (``"mixed_float16"``), None for float32.
    Returns ``(lstm, sentence saying how its weights were made)``.
    """
    tf, tf_keras = import_tf()
    stored = layer.directions[direction]
    lstm = tf_keras.layers.LSTM(layer.units, activation=stored.activation,
                                recurrent_activation=stored.recurrent_activation,
                                return_sequences=True, dtype=dtype)
    lstm.build((1, None, layer.input_size))
    weights, how = keras_weights(lstm, layer, direction)
    lstm.set_weights(weights)
    return lstm, how


def recording_rnn(lstm, dtype=None):
    """``RNN(StateRecordingCell(lstm.cell), return_sequences=True)``, sharing ``lstm``'s weights.

    Called on (1, T, in) it returns (1, T, 2H): h in the first H columns, c in the last H.
    """
    tf, tf_keras = import_tf()
    cell = _state_recording_cell_class()(lstm.cell, dtype=dtype)
    return tf_keras.layers.RNN(cell, return_sequences=True, dtype=dtype)


def run_direction(tf, rnn, x_proc: np.ndarray, h0=None, c0=None, keep_proc=None):
    """h, c (T, H) in processing order from one graph-mode call of the recording RNN.

    ``h0, c0`` (H,): the initial state; ``keep_proc`` (T,) bool: Keras's mask, processing order
    (at a masked step the RNN repeats its previous output: run_chain puts the carried state
    there)."""
    kwargs = {}
    if h0 is not None:
        dtype = rnn.compute_dtype or "float32"
        kwargs["initial_state"] = [tf.constant(np.asarray(h0)[None], dtype),
                                   tf.constant(np.asarray(c0)[None], dtype)]
    if keep_proc is not None:
        kwargs["mask"] = tf.constant(np.asarray(keep_proc, bool)[None])
    call = tf.function(lambda inputs, kw: rnn(inputs, **kw))
    with quiet_retracing(tf):
        hc = call(tf.constant(x_proc[None]), kwargs)[0].numpy().astype(np.float32)  # (T, 2H)
    H = hc.shape[1] // 2
    return hc[:, :H], hc[:, H:]


def policy(model) -> str | None:
    """The chain's mixed-precision policy, which this path follows as Keras does, or None."""
    mixed = {layer.dtype_policy for layer in model.chain if layer.dtype_policy.startswith("mixed")}
    return sorted(mixed)[0] if mixed else None


def length_refused(tf):
    """``refused(exc)`` for TensorFlow: an op error about cuDNN or memory (the one-call road then
    retries on shorter chunks)."""
    def refused(exc) -> bool:
        if isinstance(exc, tf.errors.ResourceExhaustedError):
            return True
        return isinstance(exc, tf.errors.OpError) and "cudnn" in str(exc).lower()
    return refused


def run(model, x: np.ndarray, progress=None, tf32=None, initial_state=None, stepped=False):
    """Run ``model.chain`` on x (T, in) float32 with TensorFlow's CPU LSTM; a Trace (c measured).

    ``stepped`` changes nothing here (the one call measures c at every step); a note says so."""
    refuse_reading(model)
    tf, tf_keras = import_tf()
    meta = base_meta(NAME, "CPU", "n/a", tf_versions(tf, tf_keras))
    notes = meta["notes"]
    label = cell_words(model, LABEL)
    if tf32 is not None:
        notes.append("TF32 applies to GPU backends only; ignored on the CPU")
    if stepped:
        notes.append("tf-cpu's one call returns c at every step already, so it was not stepped")
    dtype = policy(model)
    if dtype:
        meta["dtype"] = dtype
        notes.append(f"{label}: ran under the file's '{dtype}' policy (float16 compute), as "
                     f"Keras does")
    checks, lengths = [], {}

    def run_layer(layer, layer_in, part, start, keep):
        states = {}
        for n, direction in enumerate(layer.directions):
            if part is not None:
                part(n / len(layer.directions), f"{label}: layer {layer.name} {direction}")
            reverse = layer.processing_reversed(direction)
            keep_proc = None if keep is None else (keep[::-1] if reverse else keep)
            if layer.cell == "gru":   # tf_keras GRU, its own converter (gru_backends)
                with tf.device("/CPU:0"):
                    gru, how = keras_gru(tf_keras, layer, direction)
                    states[direction] = one_call_direction(
                        layer, layer_in, direction, start[direction],
                        tf_gru_call(tf, gru, keep_proc), length_refused(tf), lengths, checks)
                notes.append(how)
                continue
            with tf.device("/CPU:0"):
                lstm, how = keras_lstm(layer, direction, dtype)
                rnn = recording_rnn(lstm, dtype)

                def run_call(x_rows, state, lo, hi, _out, rnn=rnn):
                    h, c = run_direction(tf, rnn, float32(x_rows), *state,
                                         None if keep_proc is None else keep_proc[lo:hi])
                    return h, (h[-1], c[-1]), c

                states[direction] = one_call_direction(layer, layer_in, direction,
                                                       start[direction], run_call,
                                                       length_refused(tf), lengths, checks)
            notes.append(how)
        return states

    trace = run_chain(model, x, run_layer, meta, label, progress, initial_state, native_mask=True)
    record_one_call(meta, checks, lengths, cell_words(model, "TensorFlow's CPU LSTM"))
    return trace
