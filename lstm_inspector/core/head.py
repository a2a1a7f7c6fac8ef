"""The model's answer: the layers after the recurrent chain, run in NumPy on each path's output.

A classifier's LSTMs feed a few plain layers (``Dense``, ``Activation``...). Running them on
both paths' chain outputs tells a user whether a divergence changes what the model *says*:
a 1e-3 TF32 drift that leaves "seven" at p = 0.998 does not matter; one that flips it does.

Layers run (``y`` is the chain's output without the batch axis: (T, d) or (d,))::

    dense        y = act(y @ kernel + bias)          (on the last axis: TimeDistributed(Dense) too)
    activation   y = act(y)                          (Activation, or a Softmax layer)
    softmax      y_k = exp(y_k - max y) / sum_j exp(y_j - max y)     (over the last axis)
    identity     y                                   (Dropout and other inference no-ops)
    flatten      y.reshape(-1)
    reshape      y.reshape(target_shape)
    global_mean  y.mean(axis=0)                      (GlobalAveragePooling1D)
    global_max   y.max(axis=0)                       (GlobalMaxPooling1D)

Anything else stops the head: :attr:`Head.stopped_at` names the layer, and the answer is then
the output of what ran, said as such. Loaders (``io``) build the :class:`Head`; this module
only computes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import activations
from .compare import DEFAULT_ATOL, DEFAULT_RTOL
from .reference import LayerInput, layer_output

KINDS = ("dense", "activation", "identity", "flatten", "reshape", "global_mean", "global_max")
#: kinds that compute each step's row from that row alone (softmax too: over the last axis)
ROW_WISE = ("dense", "activation", "identity")
#: steps of a sequence the row-wise layers run on at a time, on these fixed blocks (the same
#: products whatever the length): an hour's (T, 256) output in float64 is 737 MB, its blocks
#: 16 MB
HEAD_ROWS = 8192


def softmax(y: np.ndarray) -> np.ndarray:
    """``exp(y - max y) / sum exp(y - max y)`` over the last axis (no overflow)."""
    e = np.exp(y - y.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def activate(name: str, y: np.ndarray) -> np.ndarray:
    """Keras activation ``name`` applied to ``y`` (softmax over the last axis)."""
    return softmax(y) if name == "softmax" else activations.get(name)(y)


@dataclass(frozen=True, eq=False)
class HeadLayer:
    """One layer after the chain: its name in the file, what it computes, its arrays."""

    name: str
    kind: str
    activation: str = "linear"
    kernel: np.ndarray | None = field(default=None, repr=False)
    bias: np.ndarray | None = field(default=None, repr=False)
    target_shape: tuple = ()
    class_name: str = ""

    def apply(self, y: np.ndarray) -> np.ndarray:
        if self.kind == "dense":
            z = y @ self.kernel  # (..., in) @ (in, units)
            if self.bias is not None:
                z = z + self.bias
            return activate(self.activation, z)
        if self.kind == "activation":
            return activate(self.activation, y)
        if self.kind == "flatten":
            return y.reshape(-1)
        if self.kind == "reshape":
            return y.reshape(self.target_shape)
        if self.kind == "global_mean":
            return y.mean(axis=0)
        if self.kind == "global_max":
            return y.max(axis=0)
        return y  # identity

    def describe(self) -> str:
        if self.kind == "dense":
            return f"{self.class_name or 'Dense'}({self.kernel.shape[1]}, {self.activation}) '{self.name}'"
        if self.kind == "activation":
            return f"{self.class_name or 'Activation'}({self.activation}) '{self.name}'"
        return f"{self.class_name or self.kind} '{self.name}'"


@dataclass(frozen=True, eq=False)
class Head:
    """The plain layers that follow recurrent layer ``after`` up to the model's output.

    ``stopped_at`` is "" when they reach the model's output, else a sentence naming the first
    layer the tool does not run. ``class_names`` name the last layer's outputs when the file
    or the bundled demo says them.
    """

    after: str
    layers: tuple = ()
    stopped_at: str = ""
    class_names: tuple = ()
    reads: tuple = ()  # (direction, "h" | "c"): a returned state (return_state=True), not the output

    @property
    def complete(self) -> bool:
        return not self.stopped_at

    @property
    def probabilities(self) -> bool:
        """Whether the last layer that computes anything ends in a softmax."""
        for layer in reversed(self.layers):
            if layer.kind in ("dense", "activation"):
                return layer.activation == "softmax"
            if layer.kind != "identity":
                return False
        return False

    def apply(self, y: np.ndarray) -> np.ndarray:
        """The head on one chain output ``y`` ((T, d) sequence or (d,) vector), float64."""
        return self.apply_rows(y.__getitem__, len(y)) if np.ndim(y) == 2 else self._run(
            self.layers, y)

    def apply_rows(self, rows_of, steps: int) -> np.ndarray:
        """The head on a (T, d) chain output read by rows (``rows_of(slice)``): its leading
        row-wise layers (``ROW_WISE``) on fixed blocks of ``HEAD_ROWS`` steps, then the rest on
        what they give, so the whole output is never held in float64 (nor at all, when
        ``rows_of`` computes the rows)."""
        n = next((k for k, layer in enumerate(self.layers) if layer.kind not in ROW_WISE),
                 len(self.layers))
        blocks = [self._run(self.layers[:n], rows_of(slice(lo, min(lo + HEAD_ROWS, steps))))
                  for lo in range(0, steps, HEAD_ROWS)] or [self._run(self.layers[:n],
                                                                      rows_of(slice(0, 0)))]
        return self._run(self.layers[n:], blocks[0] if len(blocks) == 1 else
                         np.concatenate(blocks))

    @staticmethod
    def _run(layers, y) -> np.ndarray:
        y = np.asarray(y, np.float64)
        for layer in layers:
            y = layer.apply(y)
        return y

    def describe(self) -> str:
        steps = " -> ".join(layer.describe() for layer in self.layers) or "nothing"
        if self.reads:
            steps = f"the {self.reads[1]} that '{self.after}' returns ({self.reads[0]}) -> {steps}"
        return steps + (f"; {self.stopped_at}" if self.stopped_at else "")


def chain_output(model, trace) -> np.ndarray:
    """What the chain's last layer hands on in Keras: its output sequence (T, out), or, with
    ``return_sequences=False``, the output of the step each direction computed last (out,);
    or, when the head reads a state the layer returns (``return_state=True``: Keras's outputs
    ``[y, h_fwd, c_fwd, h_bwd, c_bwd]``), that direction's h or c after its last processed
    step (H,) (under a mask, the state carried through the masked steps)."""
    last = model.chain[-1]
    head = model.head_for(last.name)
    if head is not None and head.reads:
        direction, which = head.reads
        lt = trace.layer(len(model.chain) - 1, direction)
        states = lt.h if which == "h" else lt.c
        return states[0] if last.processing_reversed(direction) else states[-1]
    if last.return_sequences:
        if not trace.holds_output and trace.output_source is not None:
            # a long trace computes its output from h: rows of it, never the whole
            return LayerInput(last, trace.layers[len(model.chain) - 1], np.float32, trace.mask)
        return trace.output
    k = len(model.chain) - 1
    lasts = {}
    for direction in trace.directions(k):
        lt = trace.layer(k, direction)
        reverse = last.processing_reversed(direction)
        lasts[direction] = _LastStep(lt.h[:1] if reverse else lt.h[-1:])  # (1, H)
    return layer_output(last, lasts)[0]


@dataclass(frozen=True)
class _LastStep:
    h: np.ndarray  # (1, H): one step, so layer_output's reversals leave it as it is


@dataclass(frozen=True)
class Answer:
    """The model's output on both paths, at the last step when the head gives one per step.

    ``a``, ``b`` : the head's output (final step); ``steps_a``, ``steps_b`` : per-step outputs
    (T, k) when the head keeps the time axis, else None. ``atol``, ``rtol`` : the comparison's
    tolerance: outputs that are not classes are the same when ``|b - a| <= atol + rtol |a|``
    everywhere.
    """

    a_label: str
    b_label: str
    a: np.ndarray
    b: np.ndarray
    head: Head
    steps_a: np.ndarray | None = None
    steps_b: np.ndarray | None = None
    names: tuple = field(default=())
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL

    @property
    def classes(self) -> bool:
        """Whether the output reads as scores of classes (argmax is the answer)."""
        return self.a.ndim == 1 and self.a.size > 1 and (
            self.head.probabilities or any(l.kind == "dense" for l in self.head.layers))

    @property
    def same_answer(self) -> bool:
        if self.classes:
            return int(np.argmax(self.a)) == int(np.argmax(self.b))
        return bool(np.all(np.abs(self.b - self.a) <= self.atol + self.rtol * np.abs(self.a)))

    @property
    def largest_difference(self) -> float:
        return float(np.max(np.abs(self.a - self.b))) if self.a.size else 0.0

    @property
    def steps_differing(self) -> int | None:
        """Steps whose argmax differs between the paths (per-step heads only)."""
        if self.steps_a is None or not self.classes:
            return None
        return int(np.count_nonzero(self.steps_a.argmax(-1) != self.steps_b.argmax(-1)))

    def label(self, k: int) -> str:
        return f"'{self.names[k]}'" if k < len(self.names) else f"class {k}"

    def side(self, values: np.ndarray) -> str:
        """One path's answer in words: ``'seven' 0.998`` or ``[0.12, -0.4]``."""
        if self.classes:
            k = int(np.argmax(values))
            return f"{self.label(k)} {values[k]:.3g}"
        shown = ", ".join(f"{v:.4g}" for v in values.reshape(-1)[:4])
        return f"[{shown}{', ...' if values.size > 4 else ''}]"

    def describe(self) -> str:
        """``model output: A 'seven' 0.998, B 'seven' 0.998, same answer (...)``."""
        which = "model output" if self.head.complete else "output before the layers not run"
        if self.steps_a is not None:
            which += " (last step)"
        if self.classes:
            verdict = "same answer" if self.same_answer else "DIFFERENT answer"
        else:
            verdict = ("same output within tolerance" if self.same_answer
                       else "DIFFERENT output beyond tolerance")
        text = (f"{which}: A {self.side(self.a)}, B {self.side(self.b)}, {verdict} "
                f"(largest {'output ' if self.classes else ''}difference "
                f"{self.largest_difference:.2g}")
        differing = self.steps_differing
        if differing:
            text += f"; the answer differs at {differing} of {len(self.steps_a)} steps"
        text += ")"
        if self.head.stopped_at:
            text += f"; {self.head.stopped_at}"
        return text

    def to_dict(self) -> dict:
        out = {"a": self.a.tolist(), "b": self.b.tolist(), "complete": self.head.complete,
               "head": [layer.describe() for layer in self.head.layers],
               "stopped_at": self.head.stopped_at or None, "classes": self.classes,
               "same_answer": self.same_answer, "largest_difference": self.largest_difference,
               "atol": self.atol, "rtol": self.rtol, "per_step": self.steps_a is not None, "steps_differing": self.steps_differing,
               "summary": self.describe()}
        if self.classes:
            for tag, values in (("a", self.a), ("b", self.b)):
                k = int(np.argmax(values))
                out[f"{tag}_class"] = k
                out[f"{tag}_name"] = self.names[k] if k < len(self.names) else None
                out[f"{tag}_score"] = float(values[k])
        return out


def model_answer(model, a, b, atol: float = DEFAULT_ATOL,
                 rtol: float = DEFAULT_RTOL) -> Answer | None:
    """Run the model's head on traces ``a`` and ``b`` (None when no head follows the chain's
    last layer: e.g. a chain cut short, or a file without architecture; or when either trace
    lacks the chain's last layer, as a port's outputs of layer 0 alone).

    Parameters
    ----------
    model : core.model.Model, with ``head_for`` filled by the loader.
    a, b : Trace of the same model's chain (A and B paths).
    atol, rtol : the comparison's tolerance (``report.atol``, ``report.rtol``): outputs that
        are not class scores are "the same" within ``atol + rtol |a|``.
    """
    head = model.head_for(model.chain[-1].name)
    last = len(model.chain) - 1
    if head is None or any(len(t.layers) <= last or not t.layers[last] for t in (a, b)):
        return None  # a path that did not run the chain's last layer (a port's layer 0 only)
    ya, yb = head.apply(chain_output(model, a)), head.apply(chain_output(model, b))
    steps_a = steps_b = None
    if ya.ndim == 2:  # the head kept the time axis: answer at the last step
        steps_a, steps_b, ya, yb = ya, yb, ya[-1], yb[-1]
    names = head.class_names if ya.ndim == 1 and len(head.class_names) == ya.size else ()
    return Answer(a.label or "a", b.label or "b", ya, yb, head, steps_a, steps_b, names,
                  float(atol), float(rtol))
