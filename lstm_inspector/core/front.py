"""The front: the plain layers between a model's input and its first LSTM, run in NumPy.

Audio models put layers before the recurrent stack: a projection (``Dense``), a convolution
(``Conv1D``, or ``Conv2D`` + ``Reshape`` in a CRNN), normalisation, an ``Embedding``. The
features a user has are the *model's* input; the LSTM reads the front's output. Running the
front here (the same NumPy for every path) makes the features the model's input, and the
backends then compare the recurrent part on the same LSTM input.

A layer the front cannot run ends it: :attr:`Front.stopped_at` names it, and then, unless the
user says the features are already the LSTM's input (``features_are="lstm-input"``), no path
computes what the file's model computes (:meth:`Front.unfaithful`, ``core.fidelity``).
Loaders (``io``) build the :class:`Front`; this module only computes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import InspectorError

LSTM_INPUT_OPTION = "--features-are lstm-input"


@dataclass(frozen=True, eq=False)
class Front:
    """The layers before the first LSTM, input first.

    layers : :class:`~lstm_inspector.core.front_layers.FrontLayer` objects the tool runs.
    stopped_at : a sentence naming the first layer it cannot run ("" when it runs them all).
    mask_from : the layer whose Keras mask reaches the LSTM ("" when none does).
    ran : True once the features went through it (the model's ``input_mask`` is then set).
    """

    layers: tuple = ()
    stopped_at: str = ""
    mask_from: str = ""
    ran: bool = False
    step_shape: tuple | None = None
    output_shape: tuple = ()

    @property
    def input_width(self) -> int | None:
        """Columns of the features the front reads: the product of the model's per-frame input
        shape (1 for token ids), None when the file does not record it."""
        if self.step_shape is None or any(v is None for v in self.step_shape):
            return None
        return int(np.prod(self.step_shape)) if self.step_shape else 1

    def run(self, x: np.ndarray) -> tuple:
        """``(y, keep)``: the first LSTM's input (T', d) float64 and Keras's mask (or None)
        from the model's input ``x`` (T, d) (reshaped to the model's per-frame shape)."""
        y = np.asarray(x, np.float64)
        if self.step_shape == ():  # token ids, one per frame
            y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
        elif self.step_shape is not None and len(self.step_shape) > 1 and y.ndim == 2:
            if self.input_width != y.shape[1]:
                raise InspectorError(f"the features have {y.shape[1]} columns but the model "
                                     f"reads frames of shape {self.step_shape}")
            y = y.reshape((y.shape[0],) + tuple(self.step_shape))
        keep = None
        for layer in self.layers:
            before = y.shape
            try:
                y, keep = layer.apply(y, keep)
            except (ValueError, IndexError) as exc:  # shapes that do not fit, in one sentence
                raise InspectorError(f"layer '{layer.name}' ({layer.class_name}) before the "
                                     f"first LSTM cannot read frames of shape {before[1:]} "
                                     f"({exc})") from None
        if y.ndim != 2:
            raise InspectorError(f"the layers before the first LSTM give frames of shape "
                                 f"{y.shape[1:]}, not vectors")
        return y, keep

    @property
    def runs(self) -> bool:
        """True when the tool computes every layer of the front."""
        return not self.stopped_at

    def unfaithful(self, features_are: str, features_given: bool = True) -> tuple:
        """What the paths do not compute of the front, as sentences (empty once it ran).
        ``features_given`` False: what the tool cannot compute whatever the features are
        (a model described before any run)."""
        if self.ran:
            return ()
        if features_are == "lstm-input":
            if self.mask_from:
                return (f"the mask that '{self.mask_from}' passes to the first LSTM is computed "
                        f"from the model's input, which the features are not "
                        f"({LSTM_INPUT_OPTION})",)
            return ()
        if self.stopped_at:
            return (f"{self.stopped_at}; the features went straight to the first LSTM (say "
                    f"{LSTM_INPUT_OPTION} if they already are its input)",)
        if not features_given:
            return ()
        return (f"the layers before the first LSTM ({self.names()}) did not run on the "
                f"features",)

    def to_dict(self) -> dict:
        """The JSON fields: the layers (input first), whether they ran on the features, the
        LSTM's input shape they gave, the layer that stopped them, the mask's source."""
        return {"layers": [layer.describe() for layer in self.layers], "ran": self.ran,
                "lstm_input_shape": list(self.output_shape) if self.ran else None,
                "stopped_at": self.stopped_at or None, "mask_from": self.mask_from or None}

    def names(self) -> str:
        return ", ".join(layer.describe() for layer in self.layers) or "none"

    def describe(self) -> str:
        stop = f"; stops: {self.stopped_at}" if self.stopped_at else ""
        ran = f"; ran, giving the LSTM {self.output_shape}" if self.ran else ""
        return f"front (before the first LSTM): {self.names()}{stop}{ran}"


def features_width(model) -> int | None:
    """The width the user's features must have: the front's input width when the front runs on
    them (None: the file does not record it), else the first LSTM's input width."""
    front = model.front
    if front is None or front.ran or not front.runs or model.features_are == "lstm-input":
        return model.input_size
    return front.input_width


def run_front(model, x) -> tuple:
    """``(model, lstm_input)``: the features ``x`` (the model's input) through the front, and
    the model with ``front.ran`` and the front's mask (``input_mask``) set. Unchanged when the
    model has no front, the features are the LSTM's input, the front cannot run, or it ran."""
    front = model.front
    if front is None or front.ran or not front.runs or model.features_are == "lstm-input":
        return model, x
    y, keep = front.run(x)
    y = y.astype(np.float32)  # features are float32, as Keras's own front computes them
    ran = replace(front, ran=True, output_shape=tuple(y.shape))
    return replace(model, front=ran, input_mask=keep), y


__all__ = ["Front", "LSTM_INPUT_OPTION", "run_front", "features_width"]
