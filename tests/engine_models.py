"""Small models built in code (fixed seeds) for engine tests: no file, no TensorFlow."""
import numpy as np

from lstm_inspector.core.model import Model, RecurrentLayer
from lstm_inspector.core.weights import READINGS, StoredLSTM


def random_stored(n_in, units, seed, cudnn=True, scale=0.5, recurrent_activation="sigmoid"):
    """Stored arrays as CuDNNLSTM (8H bias) or Keras LSTM (4H bias) would hold them."""
    rng = np.random.default_rng(seed)
    kernel = rng.uniform(-scale, scale, (n_in, 4 * units)).astype(np.float32)
    recurrent = rng.uniform(-scale, scale, (units, 4 * units)).astype(np.float32)
    bias = rng.uniform(-0.1, 0.1, ((8 if cudnn else 4) * units,)).astype(np.float32)
    reading = READINGS["cudnn" if cudnn else "keras"]
    return StoredLSTM(kernel, recurrent, bias, true_reading=reading,
                      recurrent_activation=recurrent_activation)


def cudnn_model(n_in=3, units=4, layers=1, bidirectional=False, merge_mode="concat",
                go_backwards=False, seed=0, cudnn=True, recurrent_activation="sigmoid"):
    """A stack of (Bidirectional) LSTM layers with random weights."""
    built, width = [], n_in
    for k in range(layers):
        dirs = {"forward": random_stored(width, units, seed + 10 * k, cudnn,
                                         recurrent_activation=recurrent_activation)}
        if bidirectional:
            dirs["backward"] = random_stored(width, units, seed + 10 * k + 5, cudnn,
                                             recurrent_activation=recurrent_activation)
        layer = RecurrentLayer(f"lstm_{k}", "CuDNNLSTM" if cudnn else "LSTM", width, units, dirs,
                               merge_mode=merge_mode if bidirectional else None,
                               go_backwards=go_backwards)
        built.append(layer)
        width = layer.output_size
    return Model(built, source="<test model>", file_format="in-memory")


def features(steps, width, seed=1):
    return np.random.default_rng(seed).standard_normal((steps, width)).astype(np.float32)


def forum_model(seed=3):
    """The forum's shape: a CuDNNLSTM with input width 1 and H = 2."""
    return cudnn_model(n_in=1, units=2, seed=seed, merge_mode=None)
