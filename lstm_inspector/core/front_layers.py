"""The front's layers, computed in NumPy as Keras computes them at inference.

``y`` is one sample without the batch axis: (T, d) for a sequence of vectors, (T, F, C) for a
spectrogram-like image (channels last), (T,) for token ids. ``keep`` is Keras's mask, (T,) bool
or None. Each layer maps ``(y, keep) -> (y, keep)``::

    dense        y = act(y @ kernel + bias)                    (last axis; TimeDistributed too)
    activation   y = act(y)                                    (softmax over the last axis)
    conv1d       y_t = act(b + sum_k x_{t*s + k*d - p} @ W_k)  (x zero-padded by p: valid 0,
                 causal d(K-1) on the left, same: half of what makes ceil(T/s) outputs)
    conv2d       the same over (time, frequency), W (kh, kw, C_in, C_out)
    batch_norm   y = (y - moving_mean) / sqrt(moving_variance + eps) * gamma + beta
    layer_norm   y = (y - mean) / sqrt(var + eps) * gamma + beta   (mean, var over ``axes``)
    reshape      y.reshape(target_shape)       (Keras's, the time axis included, -1 allowed)
    permute      y.transpose(dims)             (Keras's 1-based dims, the batch axis left out)
    embedding    y = table[ids]; keep = ids != 0 with mask_zero
    masking      keep = any(y != v, last axis); y = y * keep
    zero_pad1d   y padded with zeros on the time axis
    max_pool / avg_pool   windows over the first 1 or 2 axes (avg: the mean of the real,
                 not padded, values under ``same`` padding, as TensorFlow does)
    identity     y                                             (Dropout and the like)

The mask: Masking and Embedding(mask_zero) make one; the layers tf-keras marks
``supports_masking`` pass it on; the others (convolution, reshape, pooling...) drop it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InspectorError
from . import activations

KINDS = ("dense", "activation", "conv1d", "conv2d", "batch_norm", "layer_norm", "reshape",
         "permute", "embedding", "masking", "zero_pad1d", "max_pool", "avg_pool", "identity")
#: Kinds that pass Keras's mask on (tf-keras ``supports_masking``).
PASS_MASK = frozenset({"dense", "activation", "batch_norm", "layer_norm", "identity",
                       "embedding", "masking"})


def activate(name: str, y: np.ndarray) -> np.ndarray:
    if name == "softmax":
        e = np.exp(y - y.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return activations.get(name)(y)


def padding_for(length: int, window: int, stride: int, dilation: int, mode: str) -> tuple:
    """``(left, right)`` zero padding of one axis, as TensorFlow pads ``mode``."""
    span = dilation * (window - 1) + 1
    if mode == "valid":
        return 0, 0
    if mode == "causal":
        return span - 1, 0
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + span - length, 0)
    return total // 2, total - total // 2


def _windows(y: np.ndarray, axes: int, window, stride, dilation, mode: str, fill=0.0):
    """``(padded y, per-axis (count, stride, dilation, window))`` for the first ``axes`` axes."""
    pads, shape = [], []
    for a in range(axes):
        left, right = padding_for(y.shape[a], window[a], stride[a], dilation[a], mode)
        pads.append((left, right))
        span = dilation[a] * (window[a] - 1) + 1
        count = (y.shape[a] + left + right - span) // stride[a] + 1
        if count <= 0:
            raise InspectorError(f"the features are too short for a window of {window[a]} "
                                 f"(padding {mode}): {y.shape[a]} frames")
        shape.append(count)
    pads += [(0, 0)] * (y.ndim - axes)
    return np.pad(y, pads, constant_values=fill), shape


def _taps(padded, shape, window, stride, dilation):
    """Yield ``(kernel index, view)``: the input each kernel tap reads, for every output."""
    for index in np.ndindex(*window):
        sl = tuple(slice(i * d, i * d + s * (n - 1) + 1, s)
                   for i, d, s, n in zip(index, dilation, stride, shape))
        yield index, padded[sl]


@dataclass(frozen=True, eq=False)
class FrontLayer:
    """One layer before the first LSTM: its name in the file, what it computes, its arrays."""

    name: str
    kind: str
    class_name: str = ""
    activation: str = "linear"
    arrays: dict = field(default_factory=dict, repr=False)
    options: dict = field(default_factory=dict)

    def apply(self, y: np.ndarray, keep):
        """``(y, keep)`` after this layer (see the module's table)."""
        if self.kind == "embedding":
            return self._embed(y)
        if self.kind == "masking":
            mask = np.any(y != self.options["mask_value"], axis=-1)
            return y * mask[..., None], mask
        return self._compute(y), (keep if self.kind in PASS_MASK else None)

    def _compute(self, y):
        kind, a, o = self.kind, self.arrays, self.options
        if kind == "dense":
            z = y @ a["kernel"]
            return activate(self.activation, z + a["bias"] if "bias" in a else z)
        if kind == "activation":
            return activate(self.activation, y)
        if kind in ("conv1d", "conv2d"):
            return self._conv(y, 1 if kind == "conv1d" else 2)
        if kind == "batch_norm":
            axis = o["axis"] % y.ndim
            shape = [1] * y.ndim
            shape[axis] = -1
            inv = 1.0 / np.sqrt(a["moving_variance"] + o["epsilon"])
            if "gamma" in a:
                inv = inv * a["gamma"]
            out = (y - a["moving_mean"].reshape(shape)) * inv.reshape(shape)
            return out + a["beta"].reshape(shape) if "beta" in a else out
        if kind == "layer_norm":
            axes = tuple(ax % y.ndim for ax in o["axes"])
            if 0 in axes:
                raise InspectorError(f"layer '{self.name}' (LayerNormalization) normalises over "
                                     f"the time axis, which the tool does not run")
            mean = y.mean(axis=axes, keepdims=True)
            var = ((y - mean) ** 2).mean(axis=axes, keepdims=True)
            out = (y - mean) / np.sqrt(var + o["epsilon"])
            shape = [y.shape[ax] if ax in axes else 1 for ax in range(y.ndim)]
            if "gamma" in a:
                out = out * a["gamma"].reshape(shape)
            return out + a["beta"].reshape(shape) if "beta" in a else out
        if kind == "reshape":
            try:
                return y.reshape(tuple(o["target_shape"]))  # Keras's includes the time axis
            except ValueError:
                raise InspectorError(
                    f"layer '{self.name}' (Reshape) cannot reshape {y.shape[1:]} per frame to "
                    f"{tuple(o['target_shape'])}") from None
        if kind == "permute":
            return np.transpose(y, [d - 1 for d in o["dims"]])
        if kind == "zero_pad1d":
            left, right = o["padding"]
            return np.pad(y, [(left, right)] + [(0, 0)] * (y.ndim - 1))
        if kind in ("max_pool", "avg_pool"):
            return self._pool(y)
        return y  # identity

    def _conv(self, y, axes: int):
        o, kernel = self.options, self.arrays["kernel"]
        if y.ndim != axes + 1:
            raise InspectorError(f"layer '{self.name}' ({self.class_name}) expects "
                                 f"{axes + 1}-D frames-first input, got shape {y.shape}")
        window = kernel.shape[:axes]
        padded, shape = _windows(y, axes, window, o["strides"], o["dilation"], o["padding"])
        out = np.zeros(tuple(shape) + (kernel.shape[-1],), np.float64)
        for index, view in _taps(padded, shape, window, o["strides"], o["dilation"]):
            out += view @ kernel[index]
        if "bias" in self.arrays:
            out += self.arrays["bias"]
        return activate(self.activation, out)

    def _pool(self, y):
        o = self.options
        axes = len(o["pool_size"])
        window, strides = o["pool_size"], o["strides"]
        ones = (1,) * axes
        if self.kind == "max_pool":
            padded, shape = _windows(y, axes, window, strides, ones, o["padding"], -np.inf)
            return np.max([v for _, v in _taps(padded, shape, window, strides, ones)], axis=0)
        padded, shape = _windows(y, axes, window, strides, ones, o["padding"])
        count, _ = _windows(np.ones(y.shape[:axes] + (1,) * (y.ndim - axes)), axes, window,
                            strides, ones, o["padding"])
        total = np.sum([v for _, v in _taps(padded, shape, window, strides, ones)], axis=0)
        real = np.sum([v for _, v in _taps(count, shape, window, strides, ones)], axis=0)
        return total / real

    def _embed(self, y):
        table = self.arrays["embeddings"]
        ids = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
        if ids.ndim != 1:
            raise InspectorError(f"layer '{self.name}' (Embedding) reads one token id per frame; "
                                 f"the features have shape {y.shape}")
        if not np.all(np.mod(ids, 1) == 0) or ids.min() < 0 or ids.max() >= table.shape[0]:
            raise InspectorError(f"layer '{self.name}' (Embedding) reads token ids 0 to "
                                 f"{table.shape[0] - 1}; the features hold other values")
        ids = ids.astype(np.int64)
        return table[ids].astype(np.float64), (ids != 0 if self.options.get("mask_zero")
                                               else None)

    def describe(self) -> str:
        extra = f", {self.activation}" if self.kind in ("dense", "activation", "conv1d",
                                                        "conv2d") else ""
        return f"{self.class_name or self.kind}{extra} '{self.name}'"


__all__ = ["FrontLayer", "KINDS", "PASS_MASK", "padding_for", "activate"]
