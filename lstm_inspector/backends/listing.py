"""What ``lstm-inspector backends`` prints: every path, whether it can run here, and why not.

Names are padded to the longest one so the readings line up. The real backends come first
(truest first, the order ``auto`` tries), then the NumPy paths, each reading with what it
computes, so a user can tell ``numpy:naive`` from ``numpy:onnx-order`` without the README.
"""
from __future__ import annotations

from ..core.weights import READINGS
from . import NUMPY_BACKENDS, REAL_BACKENDS, available_backends

#: What each real backend runs (the README's GPU setup section names the same things).
REAL_DESCRIPTIONS = {
    "tf-gpu": "runs the real CuDNNLSTM layer: TensorFlow on cuDNN, NVIDIA GPU",
    "torch-cuda": "runs torch.nn.LSTM on cuDNN: a CUDA build of PyTorch, NVIDIA GPU",
    "tf-cpu": "runs TensorFlow's LSTM, weights through Keras's own CuDNNLSTM converter",
    "torch-cpu": "runs torch.nn.LSTM on the CPU",
}
NUMPY_DESCRIPTIONS = {
    "numpy": "the instrumented NumPy reference, float32 (path A)",
    "numpy64": "the same reference in float64 (exact-arithmetic oracle)",
}
#: The two true readings (of CuDNNLSTM and of Keras LSTM arrays); the others are ports' mistakes.
TRUE_READINGS = {"cudnn": "as CuDNNLSTM does", "keras": "as Keras LSTM does"}


def reading_description(name: str) -> str:
    """One phrase: how the NumPy path reads the stored weights under reading ``name``."""
    what = READINGS[name].describe()
    if READINGS[name].matmul:   # arithmetic, not a reading of the arrays
        return f"reads the weights as the file does, with {what}"
    if name in TRUE_READINGS:
        return f"reads the weights {TRUE_READINGS[name]}: {what}"
    return f"reads the weights with {what}"


def backends_table(available: dict | None = None) -> str:
    """The listing, one line per path: ``name  available|unavailable: reason  (what it runs)``."""
    available = available_backends() if available is None else available
    names = list(REAL_BACKENDS) + list(NUMPY_BACKENDS)
    width = max(len(n) for n in names)
    lines = ["real backends, truest first (--backend auto takes the first available one):"]
    for name in REAL_BACKENDS:
        reason = available.get(name, "")
        state = "available" if not reason else f"unavailable: {reason}"
        lines.append(f"  {name:<{width}}  {state}")
        lines.append(f"  {'':<{width}}  {REAL_DESCRIPTIONS[name]}")
    lines.append("NumPy paths, always available (a reading puts what a port computes beside "
                 "the file's own):")
    for name in NUMPY_BACKENDS:
        what = NUMPY_DESCRIPTIONS.get(name) or reading_description(name.split(":", 1)[1])
        lines.append(f"  {name:<{width}}  {what}")
    return "\n".join(lines)


__all__ = ["backends_table", "reading_description"]
