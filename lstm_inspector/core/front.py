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

    @property
    def runs(self) -> bool:
        """True when the tool computes every layer of the front."""
        return not self.stopped_at

    def unfaithful(self, features_are: str) -> tuple:
        """What the paths do not compute of the front, as sentences (empty once it ran)."""
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
        return ("the layers before the first LSTM did not run on the features",)

    def describe(self) -> str:
        names = ", ".join(layer.describe() for layer in self.layers) or "none run"
        stop = f"; stops: {self.stopped_at}" if self.stopped_at else ""
        return f"front (before the first LSTM): {names}{stop}"


__all__ = ["Front", "LSTM_INPUT_OPTION"]
