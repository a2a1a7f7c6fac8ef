"""What every export refuses before writing, in one sentence each."""
from __future__ import annotations

from ..errors import InspectorError


def refuse_bidirectional_go_backwards(model, format_name: str) -> None:
    """A Bidirectional wrapped around a go_backwards layer is not written (its directions swap
    roles, which the writers do not express)."""
    for layer in model.chain:
        if layer.bidirectional and layer.go_backwards:
            raise InspectorError(f"layer '{layer.name}' is a Bidirectional over a go_backwards "
                                 f"layer, which the {format_name} export does not write")


def refuse_projection(model, format_name: str) -> None:
    """nn.LSTM's ``proj_size`` (``h = W_hr (o * tanh(c))``) has no place in the written formats
    (ONNX's and Keras's LSTM have no projection; the NumPy port file writes the plain cell)."""
    for layer in model.chain:
        if layer.proj_size:
            raise InspectorError(f"layer '{layer.name}' is an nn.LSTM with proj_size="
                                 f"{layer.proj_size} (h = W_hr (o * tanh(c))), which the "
                                 f"{format_name} export does not write")


def refuse_activations(model, known, format_name: str) -> None:
    """Every chain layer's activations must be among ``known``, and a backward layer's the same
    as its forward layer's (the writers write one pair per layer)."""
    for layer in model.chain:
        pairs = {(s.activation, s.recurrent_activation) for s in layer.directions.values()}
        if len(pairs) > 1:
            raise InspectorError(f"layer '{layer.name}' has a backward layer with its own "
                                 f"activations, which the {format_name} export does not write")
        for name in (layer.recurrent_activation, layer.activation):
            if name not in known:
                raise InspectorError(f"layer '{layer.name}' uses activation {name}, which the "
                                     f"{format_name} export cannot express")
