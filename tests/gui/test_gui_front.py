"""The window runs the layers before the first LSTM too (issue 19): a CRNN given its raw
spectrogram agrees with Keras, and the features view shows what the LSTM sees."""
import numpy as np
import pytest

import model_files
from guitools import open_files_window as open_window

pytestmark = pytest.mark.filterwarnings("ignore")


def test_crnn_on_its_raw_spectrogram_in_the_window(qtbot, tmp_path):
    K = model_files.keras()
    inputs = K.layers.Input((None, 12, 1))
    y = K.layers.Conv2D(3, (3, 3), padding="same", activation="relu")(inputs)
    y = K.layers.MaxPooling2D((2, 2))(y)  # halves time: the LSTM sees 15 of the 30 frames
    y = K.layers.Reshape((-1, 18))(y)
    y = K.layers.Bidirectional(K.layers.LSTM(5, return_sequences=True))(y)
    model = K.Model(inputs, K.layers.Dense(3, activation="softmax")(y))
    path = model_files.save(model, tmp_path, "crnn.h5", seed=2).path
    x = np.random.default_rng(3).standard_normal((30, 12)).astype(np.float32)
    np.save(tmp_path / "spec.npy", x)
    expected = np.asarray(K.models.load_model(str(path), compile=False)(x[None, :, :, None]))[0]
    window = open_window(qtbot, path, tmp_path / "spec.npy", backend="tf-cpu")
    report = window.state.report
    assert report.agree and "not on what" not in window.verdict_label.text()
    answer = window.state.answer
    assert np.abs(np.asarray(answer.a, np.float64) - expected[-1]).max() <= 1e-5
    from lstm_inspector.gui.panels.features import FeaturesPanel

    (panel,) = window.findChildren(FeaturesPanel)
    assert panel.showing_front and window.state.steps == 15
    assert panel.front_output().shape == (15, 18)
