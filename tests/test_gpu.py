"""GPU backends (torch-cuda, tf-gpu) against the NumPy reference, TF32 off and on.

Skipped cleanly without a GPU. Run with ``pytest -m gpu -s tests/test_gpu.py`` to see the
numbers (each test prints one ``[gpu]`` line for the notes). With TF32 off, cuDNN in float32
should agree with the float32 reference to ~1e-6; with TF32 on the error is recorded, not
bounded (whether it reaches the RNN kernel at all is one of the things measured).
"""
import os
import sys

import numpy as np
import pytest

from engine_models import features, random_stored
from lstm_inspector.backends import available_backends, run_backend
from lstm_inspector.core.model import Model, RecurrentLayer
from lstm_inspector.core.reference import run_reference

pytestmark = pytest.mark.gpu

STEPS = 1000
IN, UNITS = 40, 128
AGREE = 1e-5  # float32 cuDNN vs float32 NumPy with TF32 off


def no_nvidia_device() -> bool:
    """True where a Linux machine shows no NVIDIA (or WSL GPU) device node: skip without
    importing TensorFlow and torch (seconds)."""
    return sys.platform.startswith("linux") and not any(
        os.path.exists(p) for p in ("/dev/nvidiactl", "/proc/driver/nvidia/version", "/dev/dxg"))


def needs(name):
    if no_nvidia_device():
        pytest.skip("no NVIDIA GPU device on this machine")
    reason = available_backends()[name]
    if reason:
        pytest.skip(f"{name} is not available here: {reason}")


@pytest.fixture(scope="module")
def torch_cuda():
    needs("torch-cuda")


@pytest.fixture(scope="module")
def tf_gpu():
    needs("tf-gpu")


def bidirectional_stack(n_in, units, layers=2, merge_mode="concat", go_backwards=False,
                        cudnn=True, seed=0):
    """A stack of Bidirectional LSTM layers, weights at the scale training leaves them
    (uniform(+-1/sqrt(H))), so gates are not saturated and rounding differences stay visible."""
    built, width = [], n_in
    for k in range(layers):
        dirs = {d: random_stored(width, units, seed + 10 * k + n, cudnn, scale=1 / np.sqrt(units))
                for n, d in enumerate(("forward", "backward"))}
        layer = RecurrentLayer(f"bi_{k}", "CuDNNLSTM" if cudnn else "LSTM", width, units, dirs,
                               merge_mode=merge_mode, go_backwards=go_backwards)
        built.append(layer)
        width = layer.output_size
    return Model(built, source="<gpu test model>", file_format="in-memory")


@pytest.fixture(scope="module")
def problem():
    """(model, x, float32 reference, float64 reference): 2 x Bidirectional(128), in 40, T 1000."""
    model = bidirectional_stack(IN, UNITS)
    x = features(STEPS, IN, seed=4)
    return model, x, run_reference(model, x), run_reference(model, x, dtype="float64")


def errors(trace, ref):
    """{'h': max |h - ref.h|, 'c': ...} over every layer and direction (float64 arithmetic)."""
    out = {}
    for quantity in ("h", "c"):
        out[quantity] = max(
            float(np.max(np.abs(getattr(lt, quantity).astype(np.float64)
                                - getattr(ref.layer(k, d), quantity)))) for k, d, lt in trace.items())
    return out


def report(name, trace, ref32, ref64):
    e32, e64 = errors(trace, ref32), errors(trace, ref64)
    m = trace.meta
    print(f"\n[gpu] {name}: device={m['device']} versions={m['versions']} tf32={m['tf32']} "
          f"{m.get('tf32_flags', '')} | vs NumPy float32: max|h|={e32['h']:.3g} "
          f"max|c|={e32['c']:.3g} | vs float64: max|h|={e64['h']:.3g} max|c|={e64['c']:.3g} "
          f"| stepped-h vs one-call h: {m.get('stepped_h_max_abs_diff')}")
    return e32


def check_trace(trace, tf32):
    assert trace.meta["tf32"] is tf32
    for _, _, lt in trace.items():
        assert lt.h.shape == (STEPS, UNITS) and lt.how("c") == "stepped"
        assert np.isfinite(lt.h).all() and np.isfinite(lt.c).all() and np.isfinite(lt.a).all()


def test_torch_cuda_tf32_off_matches_reference(torch_cuda, problem):
    model, x, ref32, ref64 = problem
    trace = run_backend(model, x, "torch-cuda", tf32=False)
    check_trace(trace, False)
    assert trace.meta["tf32_flags"]["cudnn.allow_tf32"] is False
    assert trace.meta["versions"]["cudnn"] not in ("", "None")
    e = report("torch-cuda TF32 off", trace, ref32, ref64)
    assert e["h"] < AGREE and e["c"] < AGREE


def test_torch_cuda_tf32_on_is_recorded(torch_cuda, problem):
    import torch

    model, x, ref32, ref64 = problem
    before = torch.backends.cudnn.allow_tf32
    trace = run_backend(model, x, "torch-cuda", tf32=True)
    check_trace(trace, True)
    report("torch-cuda TF32 on", trace, ref32, ref64)
    assert torch.backends.cudnn.allow_tf32 == before  # restored


def test_tf_gpu_tf32_off_matches_reference(tf_gpu, problem):
    model, x, ref32, ref64 = problem
    trace = run_backend(model, x, "tf-gpu", tf32=False)
    check_trace(trace, False)
    e = report("tf-gpu (CuDNNLSTM) TF32 off", trace, ref32, ref64)
    assert e["h"] < AGREE and e["c"] < AGREE


def test_tf_gpu_tf32_on_is_recorded_and_restored(tf_gpu, problem):
    import tensorflow as tf

    model, x, ref32, ref64 = problem
    before = tf.config.experimental.tensor_float_32_execution_enabled()
    trace = run_backend(model, x, "tf-gpu", tf32=True)
    check_trace(trace, True)
    report("tf-gpu (CuDNNLSTM) TF32 on", trace, ref32, ref64)
    assert tf.config.experimental.tensor_float_32_execution_enabled() == before


def test_tf_gpu_and_torch_cuda_agree(tf_gpu, torch_cuda, problem):
    model, x, _, _ = problem
    a = run_backend(model, x, "tf-gpu", tf32=False)
    b = run_backend(model, x, "torch-cuda", tf32=False)
    e = errors(a, b)
    print(f"\n[gpu] tf-gpu vs torch-cuda (TF32 off): max|h|={e['h']:.3g} max|c|={e['c']:.3g}")
    assert e["h"] < AGREE and e["c"] < AGREE


@pytest.mark.parametrize("cudnn, go_backwards, merge_mode", [
    (True, True, "ave"), (False, False, "sum"), (True, False, "mul")])
def test_tf_gpu_directions_and_keras_lstm_weights(tf_gpu, cudnn, go_backwards, merge_mode):
    """go_backwards, merge modes, and a Keras LSTM's arrays through Keras's LSTM -> CuDNNLSTM
    converter, on the real CuDNNLSTM."""
    model = bidirectional_stack(3, 4, merge_mode=merge_mode, go_backwards=go_backwards,
                                cudnn=cudnn, seed=5)
    x = features(60, 3, seed=6)
    trace = run_backend(model, x, "tf-gpu", tf32=False)
    ref = run_reference(model, x)
    e = errors(trace, ref)
    print(f"\n[gpu] tf-gpu small ({'CuDNNLSTM' if cudnn else 'LSTM'} arrays, go_backwards="
          f"{go_backwards}, merge={merge_mode}): max|h|={e['h']:.3g} max|c|={e['c']:.3g}")
    assert e["h"] < AGREE and e["c"] < AGREE
    np.testing.assert_allclose(trace.output, ref.output, atol=AGREE, rtol=0)
