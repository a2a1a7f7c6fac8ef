"""One teacher-forced step for many rows at once: every row from given previous states.

::

    z = x W^T + h_prev R^T + b_W + b_R        (rows, 4H)
    a = sigma(z) on i, f, o;  act(z) on c~
    c = f c_prev + i c~;      h = o act(c)

No recurrence, so the whole block is one matrix product. :class:`TeacherWeights` holds what
every block reuses (transposed matrices in this dtype, TF32-rounded where the path rounds, the
summed bias), so a long input's hundreds of blocks convert the weights once.
"""
from __future__ import annotations

import numpy as np

from . import activations, half_precision
from .tf32 import round_tf32, rounded_operands
from .trace import LayerTrace
from .weights import LSTMWeights


class TeacherWeights:
    """``w`` prepared for :func:`teacher_step` in ``dtype``: the arrays it multiplies by."""

    def __init__(self, w: LSTMWeights, dtype):
        dtype = np.dtype(dtype)
        self.w, self.dtype = w, dtype
        # transposed copies (their memory order, F, picks the BLAS routine: kept as it was)
        self.W_T, self.R_T = w.weight_ih.T.astype(dtype), w.weight_hh.T.astype(dtype)
        # TF32 products (core.tf32): the weights rounded once, x (and h) rounded as they come
        self.round_x, self.round_h = rounded_operands(w.matmul)
        if self.round_x:
            self.W_T = round_tf32(self.W_T).astype(dtype)
        if self.round_h:
            self.R_T = round_tf32(self.R_T).astype(dtype)
        self.bias = (w.bias_ih + w.bias_hh).astype(dtype)
        self.rows = {g: w.gate_rows(g) for g in "ifco"}
        self.rec_act = activations.get(w.recurrent_activation)
        self.act = activations.get(w.activation)
        self.HR_T = None if w.weight_hr is None else w.weight_hr.T.astype(dtype)   # (H, P)


def teacher_step(w, x: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray,
                 dtype, half: bool = False, gates_only: bool = False) -> LayerTrace:
    """Every row's step from the given previous states (the module's equations).

    ``w``: ``LSTMWeights`` or a :class:`TeacherWeights` prepared in ``dtype``. Rows are
    independent in exact arithmetic, but a BLAS product may round a row differently with
    another number of rows: ``reference.teacher_forced_layer`` therefore calls this only on
    fixed blocks of ``TEACHER_BLOCK`` rows.
    ``half``: the step of Keras's ``mixed_float16`` policy instead (``half_precision.HalfWeights``).
    ``gates_only``: z and a alone (c None, h no columns; ``c_prev`` is not read), the same z
    and a.
    """
    if half:
        (w.w if isinstance(w, TeacherWeights) else w).refuse_projection(
            "the mixed_float16 reference")
        hw = half_precision.HalfWeights(w.w if isinstance(w, TeacherWeights) else w)
        z, a, c, h = hw.step(hw.input_part(x), half_precision.half(h_prev),
                             half_precision.half(c_prev))
        return LayerTrace(z=z, a=a, c=c, h=h)
    tw = w if isinstance(w, TeacherWeights) and w.dtype == np.dtype(dtype) else TeacherWeights(w, dtype)
    x = x.astype(dtype, copy=False)
    if tw.round_x:
        x = round_tf32(x).astype(dtype)
    if tw.round_h:
        h_prev = round_tf32(h_prev).astype(dtype)
    z = x @ tw.W_T                                                                   # (rows, 4H)
    z += h_prev @ tw.R_T
    z += tw.bias
    rows = tw.rows
    with np.errstate(over="ignore"):
        a = tw.rec_act(z)
        a[:, rows["c"]] = tw.act(z[:, rows["c"]])
    if gates_only:
        return LayerTrace(z=z, a=a.astype(dtype, copy=False), c=None, h=z[:, :0])
    i, f, g, o = (a[:, rows[k]] for k in "ifco")
    c = f * c_prev + i * g
    h = o * tw.act(c)
    if tw.HR_T is not None:  # nn.LSTM(proj_size): h = W_hr (o * act(c)), P wide
        h = h @ tw.HR_T
    return LayerTrace(z=z, a=a.astype(dtype, copy=False), c=c, h=h)
