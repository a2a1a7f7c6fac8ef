"""Real model files for tests, written by tf-keras (Keras 2 API) into a folder the test gives.

Every writer builds a small model with random (seeded) weights, so biases and recurrent kernels
are far from their initialisers, saves it with ``model.save`` (full model) or ``save_weights``
(weights only), and returns a :class:`Written`: the path plus, per recurrent layer in file
order, its name and ``layer.get_weights()``. CuDNNLSTM layers can be built and saved on a CPU
(they only cannot run there).

TensorFlow is imported on first use (a few seconds), with ``TF_USE_LEGACY_KERAS=1`` so that
``tf.compat.v1.keras.layers.CuDNNLSTM`` exists.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RECURRENT_CLASSES = ("CuDNNLSTM", "LSTM", "CuDNNGRU", "GRU", "SimpleRNN", "RNN", "Bidirectional")


@dataclass
class Written:
    """A written model file and the arrays its recurrent layers held.

    names : recurrent layer names in file order (nested models included).
    weights : for each, ``layer.get_weights()`` (a Bidirectional layer: forward arrays first).
    """

    path: Path
    names: list = field(default_factory=list)
    weights: list = field(default_factory=list)

    def arrays(self, name):
        return self.weights[self.names.index(name)]


def keras():
    """``tf_keras`` (imported lazily, legacy Keras forced)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tf_keras

    return tf_keras


def cudnn_lstm(*args, **kwargs):
    """``tf.compat.v1.keras.layers.CuDNNLSTM`` (only this road reaches it in TF 2.16+)."""
    keras()
    import tensorflow as tf

    return tf.compat.v1.keras.layers.CuDNNLSTM(*args, **kwargs)


def cudnn_gru(*args, **kwargs):
    keras()
    import tensorflow as tf

    return tf.compat.v1.keras.layers.CuDNNGRU(*args, **kwargs)


def _walk(layers):
    for layer in layers:
        if hasattr(layer, "layers") and type(layer).__name__ in ("Sequential", "Functional",
                                                                   "Model"):
            yield from _walk(layer.layers)
        else:
            yield layer


def randomize(model, seed=0, scale=0.5):
    """Give every weight seeded normal values (biases included, so bias bugs show); a
    normalisation's moving variance gets positive ones (0.1 + |normal|)."""
    rng = np.random.default_rng(seed)
    for layer in _walk(model.layers):
        weights = layer.get_weights()
        if weights:
            names = [v.name for v in layer.weights]
            new = [(scale * rng.standard_normal(w.shape)).astype(w.dtype) for w in weights]
            new = [np.abs(w) + w.dtype.type(0.1) if "moving_variance" in name else w
                   for w, name in zip(new, names)]
            layer.set_weights(new)


def save(model, folder, filename, weights_only=False, seed=0) -> Written:
    """Randomize, save and describe ``model``."""
    randomize(model, seed)
    path = Path(folder) / filename
    if weights_only:
        model.save_weights(str(path))
    else:
        model.save(str(path))
    written = Written(path)
    for layer in _walk(model.layers):
        if type(layer).__name__ in RECURRENT_CLASSES:
            written.names.append(layer.name)
            written.weights.append(layer.get_weights())
    return written


def _stack(K, make_layer, input_size, stacked, bidirectional, merge_mode, dropout):
    """Layers of a recurrent stack: make_layer(k) per level, Dropout between levels."""
    layers = []
    for k in range(stacked):
        layer = make_layer(k)
        if bidirectional:
            layer = K.layers.Bidirectional(layer, merge_mode=merge_mode)
        layers.append(layer)
        if dropout and k < stacked - 1:
            layers.append(K.layers.Dropout(0.3))
    return layers


def _assemble(K, layers, input_size, functional=False, nested=False, head=2):
    """Sequential (default), functional, or functional around a nested Sequential."""
    if nested:
        inner = K.Sequential([K.layers.InputLayer(input_shape=(None, input_size))] + layers,
                             name="encoder")
        x = K.layers.Input((None, input_size))
        y = K.layers.Dense(head)(inner(x))
        return K.Model(x, y)
    if functional:
        x = y = K.layers.Input((None, input_size))
        for layer in layers:
            y = layer(y)
        # Bidirectional(merge_mode=None) returns [forward, backward]: those are the outputs
        return K.Model(x, y if isinstance(y, list) else K.layers.Dense(head)(y))
    return K.Sequential([K.layers.InputLayer(input_shape=(None, input_size))] + layers
                        + [K.layers.Dense(head)])


def write_cudnn_model(folder, input_size=3, units=4, bidirectional=False, merge_mode="concat",
                      stacked=1, dropout=True, functional=False, nested=False, seed=0,
                      weights_only=False, filename=None) -> Written:
    """CuDNNLSTM layer(s) (optionally Bidirectional, stacked with Dropout) + Dense(2)."""
    K = keras()
    layers = _stack(K, lambda k: cudnn_lstm(units, return_sequences=True), input_size, stacked,
                    bidirectional, merge_mode, dropout)
    functional = functional or (bidirectional and merge_mode is None)
    model = _assemble(K, layers, input_size, functional, nested)
    name = filename or (f"cudnn-{'bi-' + str(merge_mode) + '-' if bidirectional else ''}"
                        f"x{stacked}{'-fn' if functional else ''}{'-nested' if nested else ''}"
                        f"{'-w' if weights_only else ''}.h5")
    return save(model, folder, name, weights_only, seed)


def write_keras_lstm_model(folder, input_size=3, units=4, recurrent_activation="hard_sigmoid",
                           activation="tanh", use_bias=True, go_backwards=False, stacked=1,
                           bidirectional=False, merge_mode="concat", cell=False,
                           between=None, seed=0, weights_only=False, filename=None) -> Written:
    """Keras ``LSTM`` layer(s), or ``RNN(LSTMCell)`` with ``cell=True``, + Dense(2).

    ``between``: a layer factory ``f(K)`` put between stacked layers instead of Dropout
    (e.g. ``lambda K: K.layers.Dense(4)``).
    """
    K = keras()
    options = dict(activation=activation, recurrent_activation=recurrent_activation,
                   use_bias=use_bias)

    def make(k):
        if cell:
            return K.layers.RNN(K.layers.LSTMCell(units, **options), return_sequences=True,
                                go_backwards=go_backwards)
        return K.layers.LSTM(units, return_sequences=True, go_backwards=go_backwards, **options)

    layers = _stack(K, make, input_size, stacked, bidirectional, merge_mode, between is None)
    if between is not None:
        for k in range(len(layers) - 1, 0, -1):
            layers.insert(k, between(K))
    model = _assemble(K, layers, input_size)
    name = filename or f"lstm-{recurrent_activation}-x{stacked}{'-cell' if cell else ''}.h5"
    return save(model, folder, name, weights_only, seed)


def write_stacked_cells_model(folder, input_size=3, units=(4, 2), seed=0,
                              filename="stacked-cells.h5") -> Written:
    """``RNN(StackedRNNCells([LSTMCell(u) for u in units]))`` + Dense(2)."""
    K = keras()
    cells = [K.layers.LSTMCell(u) for u in units]
    model = _assemble(K, [K.layers.RNN(K.layers.StackedRNNCells(cells), return_sequences=True)],
                      input_size)
    return save(model, folder, filename, False, seed)


def write_gru_model(folder, input_size=3, units=4, cudnn=False, then_lstm=True, seed=0,
                    weights_only=False, filename=None) -> Written:
    """A GRU (or CuDNNGRU) first, then (by default) an LSTM, + Dense(2)."""
    K = keras()
    layers = [cudnn_gru(units, return_sequences=True) if cudnn
              else K.layers.GRU(units, return_sequences=True)]
    if then_lstm:
        layers.append(K.layers.LSTM(units, return_sequences=True))
    model = _assemble(K, layers, input_size)
    name = filename or f"{'cudnn' if cudnn else ''}gru{'-w' if weights_only else ''}.h5"
    return save(model, folder, name, weights_only, seed)


def write_gru_stack(folder, filename, input_size=3, units=4, cudnn=False, reset_after=True,
                    recurrent_activation="sigmoid", bidirectional=False, stacked=1, cell=False,
                    go_backwards=False, weights_only=False, seed=0) -> Written:
    """GRU layer(s) (``CuDNNGRU`` with ``cudnn=True``, ``RNN(GRUCell)`` with ``cell=True``),
    optionally Bidirectional and stacked, + Dense(2). ``filename`` ending ``.keras`` writes
    the Keras v3 zip."""
    K = keras()
    options = dict(reset_after=reset_after, recurrent_activation=recurrent_activation)

    def make(k):
        if cudnn:
            return cudnn_gru(units, return_sequences=True, go_backwards=go_backwards)
        if cell:
            return K.layers.RNN(K.layers.GRUCell(units, **options), return_sequences=True,
                                go_backwards=go_backwards)
        return K.layers.GRU(units, return_sequences=True, go_backwards=go_backwards, **options)

    layers = _stack(K, make, input_size, stacked, bidirectional, "concat", True)
    model = _assemble(K, layers, input_size)
    written = save(model, folder, filename, weights_only, seed)
    written.model = model   # the Keras model itself: its own outputs are the tests' truth
    return written


def keras_gru_twin(written: Written, input_size=3, units=4, bidirectional=False, stacked=1,
                   go_backwards=False):
    """A Keras ``GRU(reset_after=True, recurrent_activation='sigmoid')`` model of the same
    structure as a ``write_gru_stack(cudnn=True)`` file, its weights loaded from that file by
    Keras's own converter (``load_weights``): what the CuDNNGRU computes, run on the CPU."""
    K = keras()

    def make(k):
        return K.layers.GRU(units, return_sequences=True, reset_after=True,
                            recurrent_activation="sigmoid", go_backwards=go_backwards)

    model = _assemble(K, _stack(K, make, input_size, stacked, bidirectional, "concat", True),
                      input_size)
    model.load_weights(str(written.path))
    return model


def recurrent_output(model, x, index=-1):
    """What recurrent layer ``index`` of ``model`` (file order) outputs on one sequence ``x``."""
    K = keras()
    layers = [l for l in _walk(model.layers) if type(l).__name__ in RECURRENT_CLASSES]
    probe = K.Model(model.inputs, layers[index].output)
    return probe.predict(np.asarray(x, np.float32)[None], verbose=0)[0]


def write_lambda_model(folder, marker, input_size=3, units=4, seed=0,
                       filename="lambda.h5") -> Written:
    """LSTM -> Lambda -> Dense: the Lambda writes ``marker`` whenever it runs.

    Building the model runs it once (tf-keras traces it); the caller deletes ``marker`` after
    this returns, and can then tell whether a loader executed the file's code.
    """
    K = keras()
    marker = str(marker)

    def touch(t, path=marker):
        with open(path, "w") as handle:
            handle.write("the Lambda layer ran")
        return t

    x = K.layers.Input((None, input_size))
    y = K.layers.LSTM(units, return_sequences=True)(x)
    y = K.layers.Lambda(touch)(y)
    model = K.Model(x, K.layers.Dense(2)(y))
    return save(model, folder, filename, False, seed)


def write_dense_model(folder, input_size=3, seed=0, filename="dense.h5") -> Written:
    """A model with no recurrent layer."""
    K = keras()
    model = K.Sequential([K.layers.InputLayer(input_shape=(input_size,)), K.layers.Dense(4),
                          K.layers.Dense(2)])
    return save(model, folder, filename, False, seed)
