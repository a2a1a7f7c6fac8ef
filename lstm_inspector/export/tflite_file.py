"""``--to tflite``: the keras-lstm export converted by ``tf.lite.TFLiteConverter``.

The chain is built as tf-keras ``LSTM`` layers (``keras_lstm.build``) and converted from a
concrete function with batch 1 and free length, so each LSTM direction becomes a fused
``UNIDIRECTIONAL_SEQUENCE_LSTM`` op. The converter writes ``cell_clip = 10`` into each of them,
which the Keras model does not do (a trained model's |c| reaches 26 in the bundled demo, 48 in
the real poreplex model): the export sets it to 0, so the file computes what the model does.
The written file is run back by ``backends.tflite_rt``.
Note for deployment: those ops keep (h, c) between ``invoke`` calls (streaming state);
call ``interpreter.reset_all_variables()`` before each new utterance.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import InspectorError
from ..backends.tflite_rt import remove_cell_clip
from .keras_lstm import build, convert


def write(model, out: Path) -> list:
    """Write ``out`` (.tflite); returns the paths written."""
    for layer in model.chain:
        if (layer.activation, layer.recurrent_activation) != ("tanh", "sigmoid"):
            raise InspectorError(
                f"layer '{layer.name}' uses activation={layer.activation}, recurrent_activation="
                f"{layer.recurrent_activation}; TFLiteConverter fuses only tanh/sigmoid LSTMs into "
                f"LSTM ops (others become a generic loop); export --to onnx or numpy instead")
    out = convert(build(model), Path(out))
    remove_cell_clip(out)
    return [out]
