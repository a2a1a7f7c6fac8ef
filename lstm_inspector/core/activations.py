"""Activation functions by their Keras names, as Keras 2 / tf-keras define them.

``hard_sigmoid`` is Keras 2's ``clip(0.2 * x + 0.5, 0, 1)`` (the default recurrent activation of
Keras <= 2.2 and TF 1.x ``LSTM``), not Keras 3's ``relu6(x + 3) / 6``: old files mean the former.

Each function takes an array and returns a new array of the same dtype. The reference's fast
loop (``recurrence.py``, tanh/sigmoid layers) does not call these: it computes the four gates in
place, sigmoid as ``1 / (1 + exp(-z))``.
"""
from __future__ import annotations

import numpy as np

from ..errors import InspectorError


def sigmoid(x):
    """sigmoid(x) = 1 / (1 + exp(-x)), computed here as 0.5 * tanh(0.5 x) + 0.5 (no overflow);
    the fast loop's in-place 1 / (1 + exp(-x)) differs from it by rounding only."""
    return np.tanh(x * x.dtype.type(0.5)) * x.dtype.type(0.5) + x.dtype.type(0.5)


def hard_sigmoid(x):
    """Keras 2: clip(0.2 x + 0.5, 0, 1)."""
    t = x.dtype.type
    return np.clip(x * t(0.2) + t(0.5), t(0.0), t(1.0))


def hard_sigmoid_keras3(x):
    """Keras 3: relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1)."""
    t = x.dtype.type
    return np.clip(x / t(6.0) + t(0.5), t(0.0), t(1.0))


def relu(x):
    return np.maximum(x, x.dtype.type(0.0))


def linear(x):
    return x.copy()


def softsign(x):
    return x / (np.abs(x) + x.dtype.type(1.0))


def softplus(x):
    return np.logaddexp(x, x.dtype.type(0.0)).astype(x.dtype)


def elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(x.dtype)


def selu(x):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return (scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))).astype(x.dtype)


def exponential(x):
    return np.exp(x)


def swish(x):
    return x * sigmoid(x)


ACTIVATIONS = {
    "sigmoid": sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "hard_sigmoid_keras3": hard_sigmoid_keras3,
    "tanh": np.tanh,
    "relu": relu,
    "linear": linear,
    "softsign": softsign,
    "softplus": softplus,
    "elu": elu,
    "selu": selu,
    "exponential": exponential,
    "swish": swish,
    "silu": swish,
}


def get(name: str):
    """The activation called ``name`` (a Keras name), or an InspectorError naming the known ones."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise InspectorError(
            f"activation '{name}' is not one the tool can reimplement "
            f"(known: {', '.join(sorted(ACTIVATIONS))})"
        ) from None


def check(name: str) -> str:
    """Return ``name`` if it is a known activation, else raise InspectorError."""
    get(name)
    return name
