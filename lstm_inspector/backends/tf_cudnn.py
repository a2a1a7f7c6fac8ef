"""``tf-gpu``: the real ``CuDNNLSTM`` layer (``tf.compat.v1.keras.layers.CuDNNLSTM``) on a GPU.

The layer is built with the file's stored arrays through ``set_weights`` (a Keras ``LSTM``
layer's arrays go through Keras's own converter first), one layer per direction (what
``Bidirectional`` runs: the backward one on the reversed input), and called once on the whole
sequence with ``return_state=True``: the *one-call road* (``common.one_call_direction``), as
``model.predict`` runs it, TF32 included. h is measured at every step; cuDNN returns c for the
last step only, so c and the gates are derived from the measured h, and the returned c checks
the derivation. Where cuDNN refuses the length, the call runs in chunks, state carried.

``stepped=True`` (the *stepped road*): the same layer is called once per step with
``initial_state=[h_{t-1}, c_{t-1}]`` from the previous call -> ``"stepped"`` for both (one
trajectory; a one-step call does not take cuDNN's tensor-core path, so it does not see TF32:
the one-call h is kept as a finding, its gap to the stepped h in the notes). The loop runs
inside one ``tf.function`` (a graph ``while`` loop, one CudnnRNN op per step), in chunks so
progress can be reported and cancelled.

TF32: ``tf.config.experimental.enable_tensor_float_32_execution(flag)`` for the run when ``tf32``
is True/False (restored after); the state in force is reported in ``trace.meta["tf32"]``.
The CudnnRNN ops have GPU kernels only, so this backend needs a GPU TensorFlow can see.
"""
from __future__ import annotations

import numpy as np

from ..errors import InspectorError
from .common import (STEPPED, base_meta, cudnn_activation_problem, float32, import_tf,
                     one_call_direction, quiet_retracing, record_one_call, record_one_call_gap,
                     refuse_reading, run_chain, stepped_direction, steps_in_input_time,
                     tf_versions)
from .tf_cpu import keras_weights, length_refused

NAME = "tf-gpu"
STEP_CHUNK = 512  # steps per graph call while stepping (progress / cancel granularity)


def supports(model) -> str:
    grus = [layer.name for layer in model.chain if layer.cell == "gru"]
    if grus:   # the CuDNNGRU road on a GPU is not built: torch-cuda runs nn.GRU on cuDNN
        return (f"layer '{grus[0]}' is a GRU, and tf-gpu runs CuDNNLSTM layers only (torch-cuda "
                f"runs GRUs on cuDNN)")
    return cudnn_activation_problem(model, "CuDNNLSTM")


def gpu_problem() -> str:
    """"" when TensorFlow sees a GPU, else why not (never raises)."""
    try:
        tf, _ = import_tf()
        if not tf.config.list_physical_devices("GPU"):
            return no_gpu_sentence(tf.sysconfig.get_build_info())
    except InspectorError as exc:
        return str(exc)
    except Exception as exc:  # a broken CUDA install must not crash a listing
        return f"TensorFlow could not list GPUs ({type(exc).__name__}: {exc})"
    return ""


def no_gpu_sentence(build: dict) -> str:
    """Why TensorFlow lists no GPU, from ``tf.sysconfig.get_build_info()``: no CUDA in the
    build, or a CUDA build that found no driver / no CUDA libraries."""
    if not build.get("is_cuda_build"):
        return ("this TensorFlow is built without CUDA (on Linux: "
                "pip install 'tensorflow[and-cuda]')")
    return (f"TensorFlow (built for CUDA {build.get('cuda_version', '?')}, cuDNN "
            f"{build.get('cudnn_version', '?')}) sees no GPU: no NVIDIA GPU or driver (nvidia-smi), "
            f"or the CUDA libraries of pip install 'tensorflow[and-cuda]' are missing")


def cudnn_lstm_class():
    """``tf.compat.v1.keras.layers.CuDNNLSTM`` (the tf-keras class)."""
    tf, tf_keras = import_tf()
    cls = getattr(getattr(tf.compat.v1.keras, "layers", None), "CuDNNLSTM", None)
    if cls is None:  # TensorFlow was imported before TF_USE_LEGACY_KERAS=1 was set
        from tf_keras.src.layers.rnn.cudnn_lstm import CuDNNLSTM as cls
    return cls


def build_cudnn(layer, directions, notes, return_sequences=True, return_state=False):
    """A built CuDNNLSTM (``Bidirectional(..., merge_mode=None)`` for two directions) with the
    file's weights; appends how the weights were made to ``notes``."""
    tf, tf_keras = import_tf()
    cell = cudnn_lstm_class()(layer.units, return_sequences=return_sequences,
                              return_state=return_state)
    if len(directions) == 2:
        keras_layer = tf_keras.layers.Bidirectional(cell, merge_mode=None)
        keras_layer.build((1, None, layer.input_size))
        parts = (keras_layer.forward_layer, keras_layer.backward_layer)
    else:
        keras_layer = cell
        keras_layer.build((1, None, layer.input_size))
        parts = (keras_layer,)
    weights = []
    for part, direction in zip(parts, directions):
        arrays, how = keras_weights(part, layer, direction)
        weights += arrays
        if how not in notes:
            notes.append(how)
    keras_layer.set_weights(weights)
    return keras_layer


def step_states(tf, step_layer, x_proc: np.ndarray, units: int, report=None,
                chunk: int = STEP_CHUNK, start=None):
    """Call ``step_layer`` (``return_state=True``) once per step from the previous (h, c).

    Parameters
    ----------
    step_layer : a built Keras recurrent layer returning ``[output, h, c]``.
    x_proc : (T, in) in processing order.
    report : callable(fraction) between chunks (may raise ``errors.Cancelled``).
    start : ``(h0, c0)`` (H,) to start from; None: zeros.

    Returns h, c (T, H) in processing order.
    """
    T, n_in = x_proc.shape
    spec = [tf.TensorSpec((None, 1, 1, n_in), tf.float32),
            tf.TensorSpec((1, units), tf.float32), tf.TensorSpec((1, units), tf.float32)]

    @tf.function(input_signature=spec)
    def steps(xs, h, c):  # xs (n, batch 1, time 1, in); h, c (1, H)
        n = tf.shape(xs)[0]
        hs = tf.TensorArray(tf.float32, size=n)
        cs = tf.TensorArray(tf.float32, size=n)
        for t in tf.range(n):
            _, h, c = step_layer(xs[t], initial_state=[h, c])
            hs = hs.write(t, h[0])
            cs = cs.write(t, c[0])
        return hs.stack(), cs.stack(), h, c

    xs = tf.constant(float32(x_proc).reshape(T, 1, 1, n_in))
    h0, c0 = start if start is not None else (np.zeros(units), np.zeros(units))
    h = tf.constant(float32(h0).reshape(1, units))
    c = tf.constant(float32(c0).reshape(1, units))
    h_out, c_out = [], []
    for start in range(0, T, chunk):
        with quiet_retracing(tf):
            hs, cs, h, c = steps(xs[start:start + chunk], h, c)
        h_out.append(hs.numpy())
        c_out.append(cs.numpy())
        if report is not None:
            report(min(start + chunk, T) / T)
    return np.concatenate(h_out), np.concatenate(c_out)


def _one_call(tf, layer, direction, notes):
    """``run_call`` for ``common.one_call_direction``: a CuDNNLSTM holding ``direction``'s
    weights (``return_state=True``) on a chunk in processing order, from a state."""
    H = layer.units
    cell = build_cudnn(layer, (direction,), notes, return_sequences=True, return_state=True)

    def run_call(x_rows, state, lo, hi, _out):
        out, h, c = cell(tf.constant(float32(x_rows)[None]),
                         initial_state=[tf.constant(float32(s).reshape(1, H)) for s in state])
        return out[0].numpy(), (h[0].numpy(), c[0].numpy()), None
    return run_call


def run(model, x: np.ndarray, tf32=None, progress=None, initial_state=None, stepped=False):
    """Run ``model.chain`` on x (T, in) float32 with CuDNNLSTM on TensorFlow's first GPU;
    ``stepped``: the stepped road instead of the one-call road (module docstring)."""
    refuse_reading(model)
    problem = supports(model)
    if problem:
        raise InspectorError(f"{problem}; run it with backend tf-cpu or numpy")
    problem = gpu_problem()
    if problem:
        raise InspectorError(f"backend tf-gpu needs a GPU: {problem}")
    tf, tf_keras = import_tf()
    gpu = tf.config.list_physical_devices("GPU")[0]
    saved_tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
    try:
        if tf32 is not None:
            tf.config.experimental.enable_tensor_float_32_execution(bool(tf32))
        tf32_now = bool(tf.config.experimental.tensor_float_32_execution_enabled())
        try:
            device = tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        except Exception:  # details are informative only
            device = gpu.name
        versions = tf_versions(tf, tf_keras)
        build = tf.sysconfig.get_build_info()
        versions["cudnn"] = f"{build.get('cudnn_version', '?')} (TensorFlow build)"
        versions["cuda"] = f"{build.get('cuda_version', '?')} (TensorFlow build)"
        meta = base_meta(NAME, device, tf32_now, versions)
        meta["tf32_source"] = "given" if tf32 is not None else "TensorFlow's default"
        notes = meta["notes"]
        label = f"CuDNNLSTM (cuDNN on {device}, TF32 {'on' if tf32_now else 'off'})"
        stepped_gap, checks, lengths = [], [], {}

        def run_layer(layer, layer_in, part, start, keep):
            H = layer.units
            states = {}
            with tf.device("/GPU:0"):
                for n, direction in enumerate(layer.directions):
                    if part is not None:
                        part(n / len(layer.directions),
                             f"{label}: layer {layer.name} {direction}, one call")
                    h, c, how = one_call_direction(
                        layer, layer_in, direction, start[direction],
                        _one_call(tf, layer, direction, notes), length_refused(tf), lengths,
                        checks)
                    if not stepped:
                        states[direction] = (h, c, how)
                        continue
                    stepper = build_cudnn(layer, (direction,), notes, return_sequences=False,
                                          return_state=True)
                    states[direction] = stepped_direction(
                        layer, layer_in, direction, n, h,
                        lambda x_proc, report, stepper=stepper, d=direction: step_states(
                            tf, stepper, x_proc, H, report, start=start[d]),
                        part, label, stepped_gap)
            return states

        trace = run_chain(model, x, run_layer, meta, label, progress, initial_state)
        if stepped:
            steps_in_input_time(stepped_gap, trace.mask)
            record_one_call_gap(meta, stepped_gap, "cuDNN")
            meta["road"] = STEPPED
        else:
            record_one_call(meta, checks, lengths, "cuDNN (CuDNNLSTM)")
        return trace
    finally:
        if tf32 is not None:
            tf.config.experimental.enable_tensor_float_32_execution(saved_tf32)
