"""Canonical LSTM weights (cuDNN's and PyTorch's layout) and conversions from every convention.

The canonical form is what cuDNN multiplies, gate order i, f, c~ (written ``c``), o:

    weight_ih (4H, in)   rows [gH:(g+1)H] = W_g
    weight_hh (4H, H)    rows [gH:(g+1)H] = R_g
    bias_ih   (4H,)      b_W,   bias_hh (4H,)  b_R

    z_g = W_g x_t + R_g h_{t-1} + b_Wg + b_Rg

Stored conventions and how they map (README, "The CuDNNLSTM conventions"):

* CuDNNLSTM ``kernel (in, 4H)``, ``recurrent_kernel (H, 4H)``, ``bias (8H,)``: each gate block is
  flattened *as stored* and reread row-major, so ``W_g = kernel[:, gH:(g+1)H].reshape(H, in)``
  (NOT the transpose) and ``R_g = recurrent_kernel[:, gH:(g+1)H]`` (used as ``R_g @ h``).
* Keras ``LSTM``: ``x @ kernel``, so ``W_g = kernel[:, block].T``, ``R_g = recurrent_kernel[:, block].T``,
  one bias (4H,).
* PyTorch ``nn.LSTM``: the canonical arrays themselves. With ``proj_size=P`` it also holds
  ``weight_hr (P, H)`` and ``weight_hh`` is ``(4H, P)``: ``h_t = W_hr (o_t * tanh(c_t))`` is P
  wide while c stays H wide (:attr:`LSTMWeights.weight_hr`; CuDNNLSTM's stored form keeps the
  projection beside its arrays, :attr:`StoredLSTM.projection`).
* ONNX ``LSTM``: gate order i, o, f, c; ``W (4H, in)``, ``R (4H, H)``, ``B (8H,) = [Wb, Rb]``.

A :class:`Reading` names how stored ``kernel / recurrent_kernel / bias`` arrays are interpreted
(layout, gate order, bias halves, activations). The true reading of a CuDNNLSTM file is
``READINGS["cudnn"]``; putting another reading beside it (``"naive"``: ``x @ kernel + h @
recurrent_kernel``, the forum's port) shows what a wrong port computes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InspectorError
from . import activations
from .memo import PerObject
from .tf32 import MATMULS

CANONICAL_ORDER = "ifco"  # i, f, c~ (candidate), o


@dataclass(frozen=True)
class Reading:
    """How stored ``kernel / recurrent_kernel / bias`` arrays are read into canonical weights.

    layout
        ``"cudnn"``: per gate block ``W_g = block.reshape(H, in)`` (what CuDNNLSTM hands cuDNN);
        ``"keras"``: ``W_g = block.T`` (``x @ kernel``, as Keras ``LSTM`` and naive ports do).
    gate_order
        the order of the four gate blocks in the stored arrays, letters from ``i f c o``.
    bias
        for an (8H,) bias: ``"sum"`` (both halves, as cuDNN), ``"input"`` or ``"recurrent"``
        (one half only); a (4H,) bias is always read whole.
    activation, recurrent_activation
        Keras names (``tanh``; ``sigmoid``, ``hard_sigmoid``, ``relu``...). ``None`` keeps the
        layer's own.
    kernel_layout, recurrent_layout
        refine ``layout`` for one of the two matrices: ``"cudnn"``, ``"keras"`` as above, plus
        ``"whole"`` (the whole array reshaped row-major to ``(4H, in)`` / ``(4H, H)``, as if it
        were PyTorch's ``weight_ih``) and, for a square kernel only, ``"block"`` (``W_g = block``
        used as ``W_g @ x``, i.e. ``x @ block.T``). For the recurrent kernel ``"cudnn"`` is
        ``R_g = block``.
    forget_bias
        a constant added to the forget gate's bias (``1.0``: a port that adds Keras's
        ``unit_forget_bias`` initialiser on top of the stored bias).
    matmul
        not a reading of the arrays but of the arithmetic: ``"tf32"`` rounds the inputs of
        ``x @ W`` to TF32 (10 mantissa bits, to nearest) as tensor cores do, ``"tf32-xh"`` those
        of ``h @ R`` too (``core.tf32``); None: exact float32 products.

    Bias readings also include ``"input-twice"`` / ``"recurrent-twice"``: one half added twice
    (``2 b_W`` or ``2 b_R``) instead of ``b_W + b_R``.
    """

    name: str = "cudnn"
    layout: str | None = None
    gate_order: str | None = None
    bias: str | None = None
    activation: str | None = None
    recurrent_activation: str | None = None
    kernel_layout: str | None = None
    recurrent_layout: str | None = None
    forget_bias: float | None = None
    matmul: str | None = None

    def __post_init__(self):
        if self.layout not in (None, "cudnn", "keras"):
            raise InspectorError(f"layout '{self.layout}' is not 'cudnn' or 'keras'")
        if self.kernel_layout not in (None,) + KERNEL_LAYOUTS:
            raise InspectorError(f"kernel layout '{self.kernel_layout}' is not one of "
                                 f"{', '.join(KERNEL_LAYOUTS)}")
        if self.recurrent_layout not in (None,) + RECURRENT_LAYOUTS:
            raise InspectorError(f"recurrent layout '{self.recurrent_layout}' is not one of "
                                 f"{', '.join(RECURRENT_LAYOUTS)}")
        if self.gate_order is not None and sorted(self.gate_order) != sorted(CANONICAL_ORDER):
            raise InspectorError(f"gate order '{self.gate_order}' is not a permutation of 'ifco'")
        if self.bias not in (None,) + BIAS_READINGS:
            raise InspectorError(f"bias reading '{self.bias}' is not one of {', '.join(BIAS_READINGS)}")
        for name in (self.activation, self.recurrent_activation):
            if name is not None:
                activations.check(name)
        if self.matmul not in (None,) + MATMULS:
            raise InspectorError(f"matmul '{self.matmul}' is not one of {', '.join(MATMULS)}")

    def resolve(self, base: "Reading") -> "Reading":
        """This reading with every unset field taken from ``base`` (a file's true reading)."""
        layout = self.layout or base.layout or "cudnn"
        return Reading(
            self.name,
            layout=layout,
            gate_order=self.gate_order or base.gate_order or CANONICAL_ORDER,
            bias=self.bias or base.bias or "sum",
            activation=self.activation or base.activation,
            recurrent_activation=self.recurrent_activation or base.recurrent_activation,
            kernel_layout=(self.kernel_layout or self.layout or base.kernel_layout
                           or base.layout or "cudnn"),
            recurrent_layout=(self.recurrent_layout or self.layout or base.recurrent_layout
                              or base.layout or "cudnn"),
            forget_bias=self.forget_bias if self.forget_bias is not None else base.forget_bias,
            matmul=self.matmul or base.matmul,
        )

    def describe(self) -> str:
        parts = []
        if self.layout:
            parts.append("x @ kernel + h @ recurrent_kernel" if self.layout == "keras"
                         else "cuDNN's per-gate layout")
        if self.gate_order:
            parts.append(f"gates {self.gate_order}")
        for what, value in (("kernel", self.kernel_layout), ("recurrent kernel", self.recurrent_layout)):
            if value and value != self.layout:
                parts.append(f"{what} read {LAYOUT_WORDS[value]}")
        if self.bias and self.bias.endswith("-twice"):
            parts.append(f"{self.bias[:-6]} bias half twice")
        elif self.bias and self.bias != "sum":
            parts.append(f"{self.bias} bias half only")
        if self.forget_bias:
            parts.append(f"forget bias {self.forget_bias:+g}")
        if self.recurrent_activation:
            parts.append(f"recurrent activation {self.recurrent_activation}")
        if self.activation:
            parts.append(f"activation {self.activation}")
        if self.matmul and self.matmul != "exact":
            which = "x @ W" if self.matmul == "tf32" else "x @ W and h @ R"
            parts.append(f"TF32 matrix products on {which} (inputs rounded to 10 mantissa bits, "
                         f"to nearest; float32 accumulation), as tensor cores compute them")
        return ", ".join(parts)


KERNEL_LAYOUTS = ("cudnn", "keras", "whole", "block")
RECURRENT_LAYOUTS = ("cudnn", "keras", "whole")
BIAS_READINGS = ("sum", "input", "recurrent", "input-twice", "recurrent-twice")
LAYOUT_WORDS = {"cudnn": "per gate as cuDNN does (block.reshape(H, n))",
                "keras": "as stored (x @ kernel, h @ recurrent_kernel)",
                "whole": "whole, reshaped to (4H, n)", "block": "per gate block, transposed"}


READINGS = {
    # True readings of the two stored conventions.
    "cudnn": Reading("cudnn", layout="cudnn", gate_order=CANONICAL_ORDER, bias="sum"),
    "keras": Reading("keras", layout="keras", gate_order=CANONICAL_ORDER, bias="sum"),
    # Wrong readings people write; unset fields stay as the file's true reading.
    "naive": Reading("naive", layout="keras"),  # the forum's port: x @ kernel + h @ recurrent_kernel
    "hard_sigmoid": Reading("hard_sigmoid", recurrent_activation="hard_sigmoid"),
    "sigmoid": Reading("sigmoid", recurrent_activation="sigmoid"),
    "input-bias-only": Reading("input-bias-only", bias="input"),
    "recurrent-bias-only": Reading("recurrent-bias-only", bias="recurrent"),
    "onnx-order": Reading("onnx-order", gate_order="iofc"),
    "icfo-order": Reading("icfo-order", gate_order="icfo"),
    # Not a mistake but arithmetic: the file's weights, products as TF32 tensor cores make them.
    "tf32": Reading("tf32", matmul="tf32"),
    "tf32-xh": Reading("tf32-xh", matmul="tf32-xh"),
}
#: Readings that change the arithmetic, not the weights (never a "wrong reading" candidate).
ARITHMETIC_READINGS = tuple(n for n, r in READINGS.items() if r.matmul)


def get_reading(name_or_reading) -> Reading:
    """A :class:`Reading` from its name in :data:`READINGS` (or the reading itself)."""
    if isinstance(name_or_reading, Reading):
        return name_or_reading
    try:
        return READINGS[name_or_reading]
    except KeyError:
        raise InspectorError(
            f"unknown reading '{name_or_reading}' (known: {', '.join(READINGS)})"
        ) from None


#: weights -> {dtype: the weights in that dtype} (``astype`` of LSTM and GRU weights)
CAST = PerObject()


@dataclass(frozen=True, eq=False)
class LSTMWeights:
    """One LSTM direction's weights in cuDNN's canonical layout, plus its activations.

    Shapes: ``weight_ih (4H, in)``, ``weight_hh (4H, H)``, ``bias_ih (4H,)``, ``bias_hh (4H,)``,
    gate blocks in order i, f, c~, o.
    """

    weight_ih: np.ndarray
    weight_hh: np.ndarray
    bias_ih: np.ndarray
    bias_hh: np.ndarray
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    matmul: str = "exact"   # "tf32" / "tf32-xh": products with TF32 inputs (core.tf32)
    #: ``(P, H)``: nn.LSTM's ``proj_size`` projection, ``h_t = W_hr (o_t * act(c_t))``; None: h = m
    weight_hr: np.ndarray | None = None

    def __post_init__(self):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            ndims = (1,) if name.startswith("bias") else (2,)
            object.__setattr__(self, name, _numeric(name, getattr(self, name), ndims))
        w_ih = self.weight_ih
        if w_ih.ndim != 2 or w_ih.shape[0] % 4 or w_ih.shape[0] == 0:
            raise InspectorError(f"weight_ih has shape {w_ih.shape}, expected (4H, in)")
        units = w_ih.shape[0] // 4
        width = units
        if self.weight_hr is not None:
            object.__setattr__(self, "weight_hr", _numeric("weight_hr", self.weight_hr, (2,)))
            width = self.weight_hr.shape[0]
            if self.weight_hr.shape[1] != units or not 0 < width < units:
                raise InspectorError(f"weight_hr has shape {self.weight_hr.shape}, expected "
                                     f"(P, {units}) with 0 < P < {units}")
        expected = {"weight_hh": (4 * units, width), "bias_ih": (4 * units,), "bias_hh": (4 * units,)}
        for name, shape in expected.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise InspectorError(f"{name} has shape {got}, expected {shape} for {units} units")
        activations.check(self.activation)
        activations.check(self.recurrent_activation)

    @property
    def units(self) -> int:
        return self.weight_ih.shape[0] // 4

    @property
    def input_size(self) -> int:
        return self.weight_ih.shape[1]

    @property
    def proj_size(self) -> int | None:
        """P of a projected LSTM (h is P wide), None without projection."""
        return None if self.weight_hr is None else self.weight_hr.shape[0]

    @property
    def out_units(self) -> int:
        """The width of h: P with a projection, else H."""
        return self.proj_size or self.units

    def project(self, m: np.ndarray) -> np.ndarray:
        """``h = m W_hr^T`` for rows ``m = o * act(c)`` (..., H); ``m`` itself without projection."""
        return m if self.weight_hr is None else m @ self.weight_hr.T.astype(m.dtype)

    @property
    def dtype(self):
        return self.weight_ih.dtype

    def gate_rows(self, gate: str) -> slice:
        """Row slice of gate ``gate`` (``i f c o``) in the (4H, ...) arrays."""
        k = CANONICAL_ORDER.index(gate)
        return slice(k * self.units, (k + 1) * self.units)

    def astype(self, dtype) -> "LSTMWeights":
        """These weights in ``dtype``, made once per dtype and shared while these live (a sweep
        asks for them on every utterance, and what is prepared from them is kept on them)."""
        return CAST.get(self, np.dtype(dtype).str, lambda: replace(
            self,
            weight_ih=self.weight_ih.astype(dtype),
            weight_hh=self.weight_hh.astype(dtype),
            bias_ih=self.bias_ih.astype(dtype),
            bias_hh=self.bias_hh.astype(dtype),
            weight_hr=None if self.weight_hr is None else self.weight_hr.astype(dtype),
        ))

    def equals(self, other: "LSTMWeights") -> bool:
        """Exact equality of arrays and activations."""
        return (
            self.activation == other.activation
            and self.recurrent_activation == other.recurrent_activation
            and all(
                np.array_equal(getattr(self, n), getattr(other, n))
                for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            )
            and (self.weight_hr is None) == (other.weight_hr is None)
            and (self.weight_hr is None or np.array_equal(self.weight_hr, other.weight_hr))
        )

    # ---- conversions out -------------------------------------------------------------------
    def to_stored(self, reading: Reading):
        """Inverse of :func:`read_stored`: ``(kernel (in,4H), recurrent_kernel (H,4H), bias (8H,))``."""
        reading = reading.resolve(READINGS["cudnn"])
        H, n_in = self.units, self.input_size
        blocks_k, blocks_r, b_w, b_r = [], [], [], []
        for gate in reading.gate_order:
            rows = self.gate_rows(gate)
            W, R = self.weight_ih[rows], self.weight_hh[rows]  # (H, in), (H, H)
            if reading.layout == "cudnn":
                blocks_k.append(W.reshape(n_in, H))  # exact inverse of block.reshape(H, in)
                blocks_r.append(R.reshape(R.shape[1], H))  # (H, H); (P, H) with a projection
            else:
                blocks_k.append(W.T)
                blocks_r.append(R.T)
            b_w.append(self.bias_ih[rows])
            b_r.append(self.bias_hh[rows])
        kernel = np.ascontiguousarray(np.concatenate(blocks_k, axis=1))
        recurrent = np.ascontiguousarray(np.concatenate(blocks_r, axis=1))
        return kernel, recurrent, np.concatenate(b_w + b_r)

    def to_cudnn_keras(self):
        """CuDNNLSTM's stored ``(kernel (in,4H), recurrent_kernel (H,4H), bias (8H,))``."""
        return self.to_stored(READINGS["cudnn"])

    def refuse_projection(self, what: str) -> None:
        """One sentence when a projected LSTM is asked of ``what`` (Keras, ONNX: no ``W_hr``)."""
        if self.weight_hr is not None:
            raise InspectorError(f"{what} has no output projection (h = W_hr (o * tanh(c))), "
                                 f"so it cannot compute this nn.LSTM(proj_size={self.proj_size})")

    def to_keras_lstm(self):
        """Keras ``LSTM``'s ``(kernel (in,4H), recurrent_kernel (H,4H), bias (4H,))``: biases summed."""
        self.refuse_projection("Keras's LSTM")
        kernel, recurrent, bias = self.to_stored(READINGS["keras"])
        H4 = 4 * self.units
        return kernel, recurrent, bias[:H4] + bias[H4:]

    def to_torch(self):
        """PyTorch ``(weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0)``."""
        return self.weight_ih.copy(), self.weight_hh.copy(), self.bias_ih.copy(), self.bias_hh.copy()

    def to_onnx(self):
        """One direction of ONNX ``LSTM``: ``W (4H,in)``, ``R (4H,H)``, ``B (8H,)``, gates i, o, f, c."""
        self.refuse_projection("ONNX's LSTM")
        rows = [self.gate_rows(g) for g in "iofc"]
        W = np.concatenate([self.weight_ih[r] for r in rows])
        R = np.concatenate([self.weight_hh[r] for r in rows])
        B = np.concatenate([self.bias_ih[r] for r in rows] + [self.bias_hh[r] for r in rows])
        return W, R, B


# ---- conversions in ------------------------------------------------------------------------
def _numeric(name: str, array, ndims) -> np.ndarray:
    """``array`` as an ndarray of real numbers with one of ``ndims`` dimensions, or an InspectorError."""
    array = np.asarray(array)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise InspectorError(f"{name} holds {array.dtype} values, not numbers")
    if array.ndim not in ndims:
        raise InspectorError(f"{name} has shape {array.shape}; expected {' or '.join(f'{d}-D' for d in ndims)}")
    return array


def read_stored(kernel, recurrent_kernel, bias, reading: Reading,
                activation="tanh", recurrent_activation="sigmoid", projection=None) -> LSTMWeights:
    """Canonical weights from stored ``kernel (in,4H)``, ``recurrent_kernel (H,4H)``, ``bias``.

    ``bias`` is (8H,) (CuDNNLSTM: input half then recurrent half) or (4H,) (Keras LSTM, read as
    the input-side bias with a zero recurrent side). The reading's activations, where set,
    override the layer's. ``projection``: nn.LSTM's ``weight_hr (P, H)``, whose h is P wide, so
    that ``recurrent_kernel`` is ``(P, 4H)`` (its gate blocks read as ``(H, P)`` matrices).
    """
    reading = reading.resolve(READINGS["cudnn"])
    kernel = _numeric("kernel", kernel, (2,))
    recurrent_kernel = _numeric("recurrent kernel", recurrent_kernel, (2,))
    bias = _numeric("bias", bias, (1,))
    P = None if projection is None else np.shape(projection)[0]
    if (recurrent_kernel.ndim != 2 or recurrent_kernel.shape[1] % 4
            or recurrent_kernel.shape[0] != (P or recurrent_kernel.shape[1] // 4)):
        raise InspectorError(
            f"recurrent kernel has shape {recurrent_kernel.shape}, expected "
            f"{'(H, 4H)' if P is None else f'({P}, 4H)'} for an LSTM"
        )
    H = recurrent_kernel.shape[1] // 4
    if kernel.ndim != 2 or kernel.shape[1] != 4 * H:
        raise InspectorError(f"kernel has shape {kernel.shape}, expected (input width, {4 * H})")
    n_in = kernel.shape[0]
    if bias.shape not in ((4 * H,), (8 * H,)):
        raise InspectorError(f"bias has shape {bias.shape}, expected ({4 * H},) or ({8 * H},)")
    dtype = np.result_type(kernel.dtype, recurrent_kernel.dtype, bias.dtype, np.float32)
    weight_ih = np.empty((4 * H, n_in), dtype)
    weight_hh = np.empty((4 * H, recurrent_kernel.shape[0]), dtype)
    bias_ih = np.zeros(4 * H, dtype)
    bias_hh = np.zeros(4 * H, dtype)
    two_halves = bias.shape[0] == 8 * H
    if reading.kernel_layout == "block" and n_in != H:
        raise InspectorError(f"the 'block' kernel layout needs a square gate block; this kernel "
                             f"is ({n_in}, {4 * H})")
    for k, gate in enumerate(reading.gate_order):
        src = slice(k * H, (k + 1) * H)
        dst = slice(CANONICAL_ORDER.index(gate) * H, (CANONICAL_ORDER.index(gate) + 1) * H)
        weight_ih[dst] = _gate_matrix(kernel, k, H, reading.kernel_layout)        # (H, in)
        weight_hh[dst] = _gate_matrix(recurrent_kernel, k, H, reading.recurrent_layout)  # (H, H|P)
        if not two_halves:
            bias_ih[dst] = bias[src]
        else:
            b_w, b_r = bias[src], bias[4 * H + k * H: 4 * H + (k + 1) * H]
            if reading.bias in ("sum", "input", "input-twice"):
                bias_ih[dst] = b_w
            if reading.bias in ("sum", "recurrent", "recurrent-twice"):
                bias_hh[dst] = b_r
            if reading.bias == "input-twice":
                bias_hh[dst] = b_w
            if reading.bias == "recurrent-twice":
                bias_ih[dst] = b_r
    if reading.forget_bias:
        bias_ih[CANONICAL_ORDER.index("f") * H:(CANONICAL_ORDER.index("f") + 1) * H] += reading.forget_bias
    return LSTMWeights(
        weight_ih, weight_hh, bias_ih, bias_hh,
        activation=reading.activation or activation,
        recurrent_activation=reading.recurrent_activation or recurrent_activation,
        matmul=reading.matmul or "exact",
        weight_hr=None if projection is None else np.array(projection),
    )


def _gate_matrix(stored: np.ndarray, k: int, H: int, layout: str) -> np.ndarray:
    """Gate block ``k`` of a stored ``(n, 4H)`` array as the ``(H, n)`` matrix ``layout`` multiplies."""
    n = stored.shape[0]
    if layout == "whole":
        return stored.reshape(4 * H, n)[k * H:(k + 1) * H]   # rows of the row-major (4H, n) view
    block = stored[:, k * H:(k + 1) * H]                        # (n, H)
    if layout == "cudnn":
        return block.reshape(H, n)                              # C-order reinterpretation, not .T
    if layout == "block":
        return block                                            # square only: x @ block.T
    return block.T                                              # keras: x @ block


def from_cudnn_keras(kernel, recurrent_kernel, bias) -> LSTMWeights:
    """From CuDNNLSTM's stored arrays (tanh / sigmoid, as cuDNN fixes them)."""
    return read_stored(kernel, recurrent_kernel, bias, READINGS["cudnn"])


def from_keras_lstm(kernel, recurrent_kernel, bias,
                    activation="tanh", recurrent_activation="sigmoid") -> LSTMWeights:
    """From Keras ``LSTM``'s arrays; the (4H,) bias becomes ``bias_ih`` with ``bias_hh = 0``."""
    return read_stored(kernel, recurrent_kernel, bias, READINGS["keras"],
                       activation, recurrent_activation)


def from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None, weight_hr=None) -> LSTMWeights:
    """From PyTorch ``nn.LSTM`` arrays (``bias=False`` layers: pass None; ``weight_hr`` with
    ``proj_size``)."""
    weight_ih = np.array(_numeric("weight_ih", weight_ih, (2,)))
    weight_hh = _numeric("weight_hh", weight_hh, (2,))
    H4 = weight_ih.shape[0]
    zeros = np.zeros(H4, weight_ih.dtype)
    return LSTMWeights(
        weight_ih, np.array(weight_hh),
        zeros.copy() if bias_ih is None else np.array(bias_ih),
        zeros.copy() if bias_hh is None else np.array(bias_hh),
        weight_hr=None if weight_hr is None else np.array(weight_hr),
    )


def from_onnx(W, R, B=None) -> LSTMWeights:
    """From one direction of ONNX ``LSTM`` (``W (4H,in)``, ``R (4H,H)``, ``B (8H,)``, gates i o f c)."""
    W, R = _numeric("W", W, (2, 3)), _numeric("R", R, (2, 3))
    if W.ndim == 3:
        if W.shape[0] != 1:
            raise InspectorError("pass one direction of an ONNX LSTM at a time (W[d], R[d], B[d])")
        W, R = W[0], R[0]
        B = None if B is None else np.asarray(B)[0]
    H = R.shape[-1]
    B = np.zeros(8 * H, W.dtype) if B is None else np.asarray(B)
    onnx_rows = {g: slice(k * H, (k + 1) * H) for k, g in enumerate("iofc")}
    order = [onnx_rows[g] for g in CANONICAL_ORDER]
    return LSTMWeights(
        np.concatenate([W[r] for r in order]),
        np.concatenate([R[r] for r in order]),
        np.concatenate([B[r] for r in order]),
        np.concatenate([B[4 * H:][r] for r in order]),
    )


@dataclass(frozen=True, eq=False)
class StoredLSTM:
    """One direction's arrays exactly as the file stores them, and the reading that is true for them.

    Keeping the stored arrays (not only canonical weights) lets the tool run them under another
    reading (``naive``, ``hard_sigmoid``...) beside the true one.
    """

    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray
    true_reading: Reading = field(default_factory=lambda: READINGS["cudnn"])
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    #: nn.LSTM's ``weight_hr (P, H)`` (``proj_size``), read as it is under every reading; None
    projection: np.ndarray | None = None

    @property
    def proj_size(self) -> int | None:
        return None if self.projection is None else self.projection.shape[0]

    def read(self, reading: Reading | str | None = None) -> LSTMWeights:
        reading = self.true_reading if reading is None else get_reading(reading).resolve(self.true_reading)
        return read_stored(self.kernel, self.recurrent_kernel, self.bias, reading,
                           self.activation, self.recurrent_activation, self.projection)
