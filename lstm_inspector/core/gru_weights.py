"""Canonical GRU weights (cuDNN's and PyTorch's layout) and how stored GRU arrays are read.

The canonical form is what cuDNN and ``torch.nn.GRU`` multiply, gate order r, z, n::

    weight_ih (3H, in)   rows [gH:(g+1)H] = W_g      g = r, z, n
    weight_hh (3H, H)    rows [gH:(g+1)H] = R_g
    bias_ih   (3H,)  b_W,   bias_hh (3H,)  b_R

    r_t  = sigma(W_r x_t + b_Wr + R_r h_{t-1} + b_Rr)
    z_t  = sigma(W_z x_t + b_Wz + R_z h_{t-1} + b_Rz)
    reset_after=True  (CuDNNGRU, nn.GRU, Keras GRU's default in TF 2):
        Rh_t = R_n h_{t-1} + b_Rn                   n_t = act(W_n x_t + b_Wn + r_t * Rh_t)
    reset_after=False (classic GRU, Keras <= 2.2 and TF 1.x GRU's default):
        Rh_t = R_n (r_t * h_{t-1}) + b_Rn           n_t = act(W_n x_t + b_Wn + Rh_t)
    h_t  = z_t * h_{t-1} + (1 - z_t) * n_t

(PyTorch writes the last line ``(1 - z) * n + z * h``: the same.) ``sigma`` is the recurrent
activation (sigmoid; Keras allows others), ``act`` the activation (tanh).

Stored conventions:

* Keras ``GRU``: ``kernel (in, 3H)`` and ``recurrent_kernel (H, 3H)`` in gate order **z, r, h**,
  used as ``x @ kernel`` (so ``W_g = block.T``); bias ``(2, 3H)`` (input row, recurrent row)
  with ``reset_after=True``, ``(3H,)`` (input side only) with ``reset_after=False``.
* ``CuDNNGRU``: the same arrays and gate order z, r, h, bias ``(6H,)`` (input half, recurrent
  half), but each gate block is handed to cuDNN flattened *as stored* (like CuDNNLSTM's,
  ``tf_keras`` ``cudnn_gru.py``): ``W_g = block.reshape(H, in)`` and ``R_g = block`` (used as
  ``R_g @ h``). It computes ``GRU(reset_after=True)``; Keras's converter
  (``hdf5_format._convert_rnn_weights``) reads it exactly so.
* PyTorch ``nn.GRU``: the canonical arrays, gate order r, z, n, reset_after.

A :class:`GRUReading` names how stored arrays are interpreted; :data:`GRU_READINGS` holds the
true readings of the stored conventions and the wrong ones ports make (gate order rzn read as
zrh, reset_after the other way, one bias half dropped, the recurrent kernel transposed).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InspectorError
from . import activations
from .weights import CAST

GRU_ORDER = "rzn"        # canonical (cuDNN, PyTorch): reset, update, candidate
KERAS_GRU_ORDER = "zrn"  # Keras's stored block order z, r, h (h: the candidate, here n)
GRU_BIAS_READINGS = ("both", "input", "recurrent")
GRU_LAYOUTS = ("cudnn", "keras")


@dataclass(frozen=True)
class GRUReading:
    """How stored GRU ``kernel / recurrent_kernel / bias`` arrays are read (unset: the file's).

    layout : ``"cudnn"`` (``W_g = block.reshape(H, in)``, ``R_g = block``: CuDNNGRU) or
        ``"keras"`` (``x @ kernel``, ``h @ recurrent_kernel``: Keras ``GRU``).
    gate_order : the stored blocks' order, letters of ``r z n`` (Keras and CuDNNGRU: ``zrn``).
    bias : ``"both"`` halves, or one half only (``"input"`` / ``"recurrent"``).
    reset_after : where the reset gate acts (module docstring).
    recurrent_transposed : every ``R_g`` transposed after reading (a port that multiplies
        ``h @ block`` where the file means ``block @ h``, or the reverse).
    activation, recurrent_activation : Keras names overriding the layer's.
    """

    name: str = "cudnn"
    layout: str | None = None
    gate_order: str | None = None
    bias: str | None = None
    reset_after: bool | None = None
    recurrent_transposed: bool = False
    activation: str | None = None
    recurrent_activation: str | None = None

    def __post_init__(self):
        if self.layout not in (None,) + GRU_LAYOUTS:
            raise InspectorError(f"GRU layout '{self.layout}' is not 'cudnn' or 'keras'")
        if self.gate_order is not None and sorted(self.gate_order) != sorted(GRU_ORDER):
            raise InspectorError(f"GRU gate order '{self.gate_order}' is not a permutation "
                                 f"of 'rzn'")
        if self.bias not in (None,) + GRU_BIAS_READINGS:
            raise InspectorError(f"GRU bias reading '{self.bias}' is not one of "
                                 f"{', '.join(GRU_BIAS_READINGS)}")
        for name in (self.activation, self.recurrent_activation):
            if name is not None:
                activations.check(name)

    def resolve(self, base: "GRUReading") -> "GRUReading":
        """This reading with every unset field taken from ``base`` (a file's true reading)."""
        return GRUReading(
            self.name, layout=self.layout or base.layout or "cudnn",
            gate_order=self.gate_order or base.gate_order or KERAS_GRU_ORDER,
            bias=self.bias or base.bias or "both",
            reset_after=self.reset_after if self.reset_after is not None
            else (True if base.reset_after is None else base.reset_after),
            recurrent_transposed=self.recurrent_transposed != base.recurrent_transposed,
            activation=self.activation or base.activation,
            recurrent_activation=self.recurrent_activation or base.recurrent_activation)

    def describe(self) -> str:
        parts = []
        if self.layout:
            parts.append("x @ kernel + h @ recurrent_kernel" if self.layout == "keras"
                         else "cuDNN's per-gate layout")
        if self.gate_order:
            parts.append(f"gate blocks read as {', '.join(self.gate_order)}")
        if self.reset_after is not None:
            parts.append("reset gate after R h (reset_after=True)" if self.reset_after
                         else "reset gate before R (reset_after=False)")
        if self.bias and self.bias != "both":
            parts.append(f"{self.bias} bias half only")
        if self.recurrent_transposed:
            parts.append("recurrent kernel transposed")
        if self.recurrent_activation:
            parts.append(f"recurrent activation {self.recurrent_activation}")
        if self.activation:
            parts.append(f"activation {self.activation}")
        return ", ".join(parts)


GRU_READINGS = {
    # True readings of the stored conventions.
    "cudnn": GRUReading("cudnn", layout="cudnn", gate_order=KERAS_GRU_ORDER, bias="both",
                        reset_after=True),
    "keras": GRUReading("keras", layout="keras", gate_order=KERAS_GRU_ORDER, bias="both"),
    # nn.GRU's arrays stored as kernel = weight_ih.T, recurrent_kernel = weight_hh.T,
    # bias = [bias_ih, bias_hh] (io.torch_checkpoint)
    "torch": GRUReading("torch", layout="keras", gate_order=GRU_ORDER, bias="both",
                        reset_after=True),
    # Wrong readings people write; unset fields stay as the file's true reading.
    "naive": GRUReading("naive", layout="keras"),   # x @ kernel + h @ recurrent_kernel
    "rzn-order": GRUReading("rzn-order", gate_order=GRU_ORDER),  # Keras's z, r, h read as r, z, n
    "reset-before": GRUReading("reset-before", reset_after=False),
    "reset-after": GRUReading("reset-after", reset_after=True),
    "input-bias-only": GRUReading("input-bias-only", bias="input"),
    "recurrent-bias-only": GRUReading("recurrent-bias-only", bias="recurrent"),
    "recurrent-transposed": GRUReading("recurrent-transposed", recurrent_transposed=True),
    "hard_sigmoid": GRUReading("hard_sigmoid", recurrent_activation="hard_sigmoid"),
    "sigmoid": GRUReading("sigmoid", recurrent_activation="sigmoid"),
}


def get_gru_reading(name_or_reading) -> GRUReading:
    """A :class:`GRUReading` from its name in :data:`GRU_READINGS` (or the reading itself)."""
    if isinstance(name_or_reading, GRUReading):
        return name_or_reading
    try:
        return GRU_READINGS[name_or_reading]
    except (KeyError, TypeError):
        raise InspectorError(f"unknown GRU reading '{getattr(name_or_reading, 'name', name_or_reading)}' "
                             f"(known: {', '.join(GRU_READINGS)})") from None


@dataclass(frozen=True, eq=False)
class GRUWeights:
    """One GRU direction's weights in the canonical layout (module docstring), plus where the
    reset gate acts and the activations. Shapes ``weight_ih (3H, in)``, ``weight_hh (3H, H)``,
    ``bias_ih (3H,)``, ``bias_hh (3H,)``, blocks r, z, n."""

    weight_ih: np.ndarray
    weight_hh: np.ndarray
    bias_ih: np.ndarray
    bias_hh: np.ndarray
    reset_after: bool = True
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    matmul: str = "exact"   # kept for the LSTM weights' interface; GRU products are exact

    def __post_init__(self):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            array = np.asarray(getattr(self, name))
            if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
                raise InspectorError(f"GRU {name} holds {array.dtype} values, not numbers")
            object.__setattr__(self, name, array)
        w_ih = self.weight_ih
        if w_ih.ndim != 2 or w_ih.shape[0] % 3 or w_ih.shape[0] == 0:
            raise InspectorError(f"GRU weight_ih has shape {w_ih.shape}, expected (3H, in)")
        H = w_ih.shape[0] // 3
        for name, shape in {"weight_hh": (3 * H, H), "bias_ih": (3 * H,),
                            "bias_hh": (3 * H,)}.items():
            if np.shape(getattr(self, name)) != shape:
                raise InspectorError(f"GRU {name} has shape {np.shape(getattr(self, name))}, "
                                     f"expected {shape} for {H} units")
        activations.check(self.activation)
        activations.check(self.recurrent_activation)

    @property
    def units(self) -> int:
        return self.weight_ih.shape[0] // 3

    @property
    def input_size(self) -> int:
        return self.weight_ih.shape[1]

    @property
    def dtype(self):
        return self.weight_ih.dtype

    def gate_rows(self, gate: str) -> slice:
        """Row slice of gate ``gate`` (``r z n``) in the (3H, ...) arrays."""
        k = GRU_ORDER.index(gate)
        return slice(k * self.units, (k + 1) * self.units)

    def astype(self, dtype) -> "GRUWeights":
        """These weights in ``dtype``, made once per dtype and shared (``weights.CAST``)."""
        return CAST.get(self, np.dtype(dtype).str, lambda: replace(
            self, **{n: getattr(self, n).astype(dtype)
                     for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}))

    def equals(self, other) -> bool:
        """Exact equality of arrays, reset_after and activations."""
        return (isinstance(other, GRUWeights) and self.reset_after == other.reset_after
                and self.activation == other.activation
                and self.recurrent_activation == other.recurrent_activation
                and all(np.array_equal(getattr(self, n), getattr(other, n))
                        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))

    def to_torch(self):
        """PyTorch ``nn.GRU``'s ``(weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0)``
        (nn.GRU computes reset_after only)."""
        return tuple(getattr(self, n).copy() for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def to_keras_gru(self):
        """Keras ``GRU``'s ``(kernel (in, 3H), recurrent_kernel (H, 3H), bias)``, blocks z, r, h:
        bias ``(2, 3H)`` with reset_after, else ``(3H,)`` (the two halves summed)."""
        rows = [self.gate_rows(g) for g in KERAS_GRU_ORDER]
        kernel = np.concatenate([self.weight_ih[r].T for r in rows], axis=1)
        recurrent = np.concatenate([self.weight_hh[r].T for r in rows], axis=1)
        b_w = np.concatenate([self.bias_ih[r] for r in rows])
        b_r = np.concatenate([self.bias_hh[r] for r in rows])
        bias = np.stack([b_w, b_r]) if self.reset_after else b_w + b_r
        return np.ascontiguousarray(kernel), np.ascontiguousarray(recurrent), bias


def read_gru(kernel, recurrent_kernel, bias, reading: GRUReading, activation="tanh",
             recurrent_activation="sigmoid") -> GRUWeights:
    """Canonical weights from stored ``kernel (in, 3H)``, ``recurrent_kernel (H, 3H)`` and a bias
    of shape ``(3H,)``, ``(2, 3H)`` or ``(6H,)`` (None: no bias), under ``reading`` (resolved
    against CuDNNGRU's). A ``(3H,)`` bias is the input side (``b_R = 0``)."""
    reading = reading.resolve(GRU_READINGS["cudnn"])
    kernel, recurrent_kernel = np.asarray(kernel), np.asarray(recurrent_kernel)
    if recurrent_kernel.ndim != 2 or recurrent_kernel.shape[1] != 3 * recurrent_kernel.shape[0]:
        raise InspectorError(f"recurrent kernel has shape {recurrent_kernel.shape}, expected "
                             f"(H, 3H) for a GRU")
    H = recurrent_kernel.shape[0]
    if kernel.ndim != 2 or kernel.shape[1] != 3 * H:
        raise InspectorError(f"kernel has shape {kernel.shape}, expected (input width, {3 * H})")
    n_in = kernel.shape[0]
    dtype = np.result_type(kernel.dtype, recurrent_kernel.dtype, np.float32)
    bias = np.zeros(3 * H, dtype) if bias is None else np.asarray(bias)
    if bias.shape == (3 * H,):
        b_w, b_r = bias, np.zeros(3 * H, dtype)
    elif bias.shape in ((2, 3 * H), (6 * H,)):
        b_w, b_r = bias.reshape(2, 3 * H)
    else:
        raise InspectorError(f"bias has shape {bias.shape}, expected ({3 * H},), (2, {3 * H}) "
                             f"or ({6 * H},) for a GRU of {H} units")
    if reading.bias == "input":
        b_r = np.zeros_like(b_r)
    elif reading.bias == "recurrent":
        b_w = np.zeros_like(b_w)
    w_ih, w_hh = np.empty((3 * H, n_in), dtype), np.empty((3 * H, H), dtype)
    b_ih, b_hh = np.empty(3 * H, dtype), np.empty(3 * H, dtype)
    for k, gate in enumerate(reading.gate_order):
        src = slice(k * H, (k + 1) * H)
        dst = slice(GRU_ORDER.index(gate) * H, (GRU_ORDER.index(gate) + 1) * H)
        block_k, block_r = kernel[:, src], recurrent_kernel[:, src]        # (in, H), (H, H)
        if reading.layout == "cudnn":
            W, R = block_k.reshape(H, n_in), block_r        # C-order reinterpretation, not .T
        else:
            W, R = block_k.T, block_r.T                      # x @ block, h @ block
        w_ih[dst], w_hh[dst] = W, (R.T if reading.recurrent_transposed else R)
        b_ih[dst], b_hh[dst] = b_w[src], b_r[src]
    return GRUWeights(w_ih, w_hh, b_ih, b_hh, reset_after=bool(reading.reset_after),
                      activation=reading.activation or activation,
                      recurrent_activation=reading.recurrent_activation or recurrent_activation)


def from_torch_gru(weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> GRUWeights:
    """From PyTorch ``nn.GRU`` arrays (``bias=False``: pass None)."""
    weight_ih = np.array(weight_ih)
    zeros = np.zeros(weight_ih.shape[0], weight_ih.dtype)
    return GRUWeights(weight_ih, np.array(weight_hh),
                      zeros.copy() if bias_ih is None else np.array(bias_ih),
                      zeros.copy() if bias_hh is None else np.array(bias_hh), reset_after=True)


@dataclass(frozen=True, eq=False)
class StoredGRU:
    """One GRU direction's arrays exactly as the file stores them, and their true reading.

    ``cell = "gru"`` tells the rest of the tool which equations these arrays feed."""

    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray | None
    true_reading: GRUReading = field(default_factory=lambda: GRU_READINGS["cudnn"])
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    cell = "gru"
    proj_size = None   # a GRU has no output projection (nn.LSTM's proj_size)

    @property
    def reset_after(self) -> bool:
        return bool(self.true_reading.resolve(GRU_READINGS["cudnn"]).reset_after)

    def read(self, reading=None) -> GRUWeights:
        reading = self.true_reading if reading is None else \
            get_gru_reading(reading).resolve(self.true_reading)
        return read_gru(self.kernel, self.recurrent_kernel, self.bias, reading,
                        self.activation, self.recurrent_activation)
