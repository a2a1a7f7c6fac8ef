"""Importing TensorFlow once, quietly, with the Keras 2 API selected.

``TF_USE_LEGACY_KERAS=1`` must be set before TensorFlow is imported for
``tf.compat.v1.keras.layers.CuDNNLSTM`` to exist (TF >= 2.16 ships Keras 3). TensorFlow's C++
start-up writes absl and CUDA probe lines straight to file descriptor 2, whatever
``TF_CPP_MIN_LOG_LEVEL`` says; they would bury the one-sentence errors this tool promises, so
the import and the first device probe run with fd 2 pointed at /dev/null.
"""
from __future__ import annotations

import contextlib
import os
import sys

from ..errors import InspectorError


@contextlib.contextmanager
def quiet_native_stderr():
    """Send native writes to fd 2 to /dev/null inside the block (Python's sys.stderr is kept)."""
    if os.environ.get("LSTM_INSPECTOR_DEBUG"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_PROBED = False


def import_tensorflow(purpose: str = "this backend"):
    """The ``tensorflow`` module (and the first GPU probe) without start-up noise."""
    global _PROBED
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with quiet_native_stderr():
            import tensorflow as tf
            if not _PROBED:
                _PROBED = True
                try:
                    tf.config.list_physical_devices("GPU")
                except Exception:  # a broken driver must not stop a CPU run
                    pass
    except ImportError as exc:
        raise InspectorError(
            f"TensorFlow is needed for {purpose} but could not be imported ({exc}); "
            "install it with 'pip install tensorflow tf-keras'") from None
    return tf
