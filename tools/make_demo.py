"""Make the bundled demo in ``resources/``: a spoken-digit CuDNNLSTM model and utterances to inspect.

``lstm-inspector`` with no arguments opens on these files, so they must be real: a small speech
model trained on real audio features, stored as a GPU user would have it (a CuDNNLSTM HDF5 file),
and utterances the model gets right. This script is a development tool, not part of the package
and not run in CI; its outputs are committed. Run it from the repository root::

    python tools/make_demo.py            # about 4-5 minutes on 2 CPU cores

It needs ``espeak-ng`` on the PATH (Debian: ``apt-get install espeak-ng``) and the project's
venv (NumPy, h5py, tensorflow + tf-keras). Everything is seeded: a rerun on the same machine with
the same espeak-ng writes the same corpus and the same model.

Steps (each a function below):

1. ``synthesise_corpus``: the words "zero".."nine" spoken by espeak-ng in many voices (accent x
   voice variant), speeds and pitches; each resampled from 22050 Hz to 16 kHz with a windowed-sinc
   interpolator in NumPy, trimmed, placed at a random offset in a 1.2 s window of low white noise,
   given a random gain, and written as 16-bit mono wav.
2. ``corpus_features``: the app's own wav pipeline, ``lstm_inspector.io.features.read_wav`` and
   ``wav_features(..., feature="mfcc")`` with its default parameters, so that a user opening a wav
   in the app sees exactly the input the model was trained on.
3. ``train``: Keras ``LSTM(recurrent_activation="sigmoid")`` x 2 -> ``Dense(10, softmax)`` on the
   last step, trained on CPU on standardised features; some voices are held out.
4. ``fold_standardisation``: the standardisation ``(x - mu) / sigma`` is folded into the first
   layer's kernel and bias, so the shipped model reads raw MFCCs and has no preprocessing layer.
5. ``to_cudnn``: the same architecture with ``CuDNNLSTM`` layers gets the weights through Keras's
   own converter (``load_weights`` from an LSTM h5), and the bias is split into the two halves a
   CuDNNLSTM trained on a GPU has; saved with ``model.save`` (full HDF5 model). Checked by loading
   it back into a CPU LSTM model (Keras converts back) and comparing predictions.
6. ``make_demo_utterances``: two held-out-voice words as wav, npy and HTK files; asserted to be
   classified right.
7. ``make_forum_demo``: ``CuDNNLSTM(2)`` on 1-wide input whose true output and whose naive
   ``x @ kernel + h @ recurrent_kernel`` port reproduce the forum thread's numbers (equal at step
   0, different after); weights and inputs from ``fit_forum``, stored in ``FORUM_FIT``.
8. ``write_readme``, ``write_demo_json``: ``resources/README.md`` and ``resources/demo.json``
   with the numbers of this run.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RESOURCES = REPO / "resources"
DEFAULT_CORPUS = REPO / "build" / "demo_corpus"

LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ACCENTS = ["en-gb", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-us-nyc", "en-029"]
VARIANTS = ["", "+f2", "+f3", "+m2", "+m3", "+m7", "+klatt", "+f4"]
HELD_OUT_ACCENTS = {"en-us-nyc"}     # New York City English: an accent never heard in training
HELD_OUT_VARIANTS = {"+f4"}          # a voice variant never heard in training
TAKES_PER_VOICE = 4                  # random (speed, pitch) draws per word and voice
SPEED_RANGE = (120, 210)             # espeak-ng -s, words per minute
PITCH_RANGE = (25, 75)               # espeak-ng -p, 0..99

ESPEAK_RATE = 22050
RATE = 16000
WINDOW_S = 1.2                       # every utterance is a 1.2 s wav
MARGIN_S = 0.05                      # at least this much noise before and after the word
SNR_DB = (25.0, 40.0)                # white noise level under the speech
PEAK = (0.2, 0.9)                    # peak amplitude, fraction of int16 full scale

UNITS = 48
EPOCHS = 40
BATCH = 64
LEARNING_RATE = 3e-3
DROPOUT = 0.2                        # training only (identity at inference)
SEED = 20240607

DEMO_VOICE = "en-us-nyc+f4"          # held out in both accent and variant
DEMO_TAKES = {"seven": (160, 50), "three": (160, 50)}   # word -> (speed, pitch)
DEMO_SEED = 7

MODEL_NAME = "demo_digits_cudnnlstm.h5"
FORUM_MODEL_NAME = "forum_cudnnlstm_in1_h2.h5"
FORUM_INPUT_NAME = "forum_input.npy"
DEMO_ARK_NAME = "demo_utterances.ark"   # the demo's utterances as one Kaldi ark (sweep's input)
DEMO_STATES_NAME = "demo_states.npz"    # an initial state for the demo model (--initial-state)


# ----------------------------------------------------------------------------- audio

def espeak(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """Synthesise ``word`` with espeak-ng; return int16 samples at 22050 Hz (espeak's own rate)."""
    cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word]
    data = subprocess.run(cmd, check=True, capture_output=True).stdout
    # espeak-ng --stdout writes a wav whose size fields are 0x7fffffff (a stream): read the
    # fmt chunk with ``wave`` and take every byte after the "data" tag as samples.
    with wave.open(io.BytesIO(data[:44])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (ESPEAK_RATE, 1, 2), cmd
    start = data.index(b"data") + 8
    payload = data[start:]
    return np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2").copy()


def resample(x: np.ndarray, rate_in: int, rate_out: int, half_width: int = 32) -> np.ndarray:
    """Band-limited resampling by windowed-sinc interpolation (plain NumPy, polyphase).

    Output sample ``n`` sits at input position ``t_n = n * rate_in / rate_out`` and is

        y[n] = sum_k x[k] * h(t_n - k),   h(d) = 2 f_c sinc(2 f_c d) * w(d),

    with the cut-off ``f_c = 0.45 * rate_out / rate_in`` cycles per input sample (90 % of the
    output Nyquist frequency, so nothing aliases) and a Hann window ``w(d) = (1 + cos(pi d / W)) / 2``
    over ``|d| < W = half_width`` input samples. Samples outside ``x`` count as zero. With
    ``rate_out / rate_in = up / down`` in lowest terms the fractional part of ``t_n`` repeats
    every ``up`` outputs, so the filter is tabulated once per phase ``n mod up``.
    """
    from math import gcd

    x = np.asarray(x, dtype=np.float64)
    up, down = rate_out // gcd(rate_in, rate_out), rate_in // gcd(rate_in, rate_out)
    n_out = len(x) * up // down
    n = np.arange(n_out)
    base = n * down // up                                       # (n_out,) floor(t_n)
    taps = np.arange(-half_width + 1, half_width + 1)           # (2W,)
    frac = (np.arange(up) * down % up) / up                     # (up,) t_n - floor(t_n) per phase
    d = frac[:, None] - taps                                    # (up, 2W) distances t_n - k
    fc = 0.45 * rate_out / rate_in
    table = 2 * fc * np.sinc(2 * fc * d) * 0.5 * (1 + np.cos(np.pi * np.clip(d / half_width, -1, 1)))
    padded = np.concatenate([np.zeros(half_width), x, np.zeros(half_width + 1)])
    index = base[:, None] + taps + half_width                   # (n_out, 2W) into padded
    return (padded[index] * table[n % up]).sum(axis=1)          # (n_out,)


def place_in_window(speech: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Trim ``speech`` (float, 16 kHz) to the word, put it at a random offset in a 1.2 s window
    of white noise at a random SNR, scale to a random peak; return int16 samples."""
    loud = np.flatnonzero(np.abs(speech) > 0.02 * np.abs(speech).max())
    first = max(loud[0] - int(0.02 * RATE), 0)
    last = min(loud[-1] + int(0.05 * RATE), len(speech))
    word = speech[first:last]
    n = int(WINDOW_S * RATE)
    margin = int(MARGIN_S * RATE)
    if len(word) > n - 2 * margin:
        raise ValueError(f"word of {len(word) / RATE:.2f} s does not fit a {WINDOW_S} s window")
    offset = int(rng.integers(margin, n - margin - len(word) + 1))
    rms = np.sqrt(np.mean(word ** 2))
    snr = rng.uniform(*SNR_DB)
    signal = rng.normal(0.0, rms * 10 ** (-snr / 20), n)
    signal[offset:offset + len(word)] += word
    signal *= rng.uniform(*PEAK) * 32767 / np.abs(signal).max()
    return np.round(signal).astype(np.int16)


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    """16-bit mono PCM wav."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())


def make_utterance(word: str, voice: str, speed: int, pitch: int,
                   rng: np.random.Generator) -> np.ndarray:
    """One corpus item: espeak-ng -> 16 kHz -> trimmed, noisy, 1.2 s, int16."""
    raw = espeak(word, voice, speed, pitch).astype(np.float64) / 32768.0
    return place_in_window(resample(raw, ESPEAK_RATE, RATE), rng)


def voices() -> list[str]:
    return [accent + variant for accent in ACCENTS for variant in VARIANTS]


def is_held_out(voice: str) -> bool:
    accent, _, variant = voice.partition("+")
    return accent in HELD_OUT_ACCENTS or ("+" + variant) in HELD_OUT_VARIANTS


def synthesise_corpus(corpus: Path) -> list[dict]:
    """Write the corpus wavs under ``corpus``; return one record per utterance (also saved as
    ``corpus/index.json``). Reuses an existing corpus made with the same settings."""
    index_path = corpus / "index.json"
    settings = {"labels": LABELS, "accents": ACCENTS, "variants": VARIANTS,
                "takes": TAKES_PER_VOICE, "speed": SPEED_RANGE, "pitch": PITCH_RANGE,
                "window": WINDOW_S, "snr": SNR_DB, "peak": PEAK, "seed": SEED}
    if index_path.exists():
        saved = json.loads(index_path.read_text())
        if saved["settings"] == json.loads(json.dumps(settings)):
            return saved["items"]
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    items = []
    for voice in voices():
        for label, word in enumerate(LABELS):
            for take in range(TAKES_PER_VOICE):
                speed = int(rng.integers(SPEED_RANGE[0], SPEED_RANGE[1] + 1))
                pitch = int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1))
                name = f"{voice.replace('+', '_')}_{word}_{take}.wav"
                write_wav(corpus / name, make_utterance(word, voice, speed, pitch, rng))
                items.append({"file": name, "word": word, "label": label, "voice": voice,
                              "speed": speed, "pitch": pitch, "held_out": is_held_out(voice)})
    index_path.write_text(json.dumps({"settings": settings, "items": items}, indent=0))
    return items


# ----------------------------------------------------------------------------- features

def features_of(path: Path) -> np.ndarray:
    """The app's own wav pipeline with its default MFCC parameters: (T, 13) float32."""
    from lstm_inspector.io.features import read_wav, wav_features

    signal, rate = read_wav(path)
    return np.asarray(wav_features(signal, rate, feature="mfcc"), dtype=np.float32)


def corpus_features(corpus: Path, items: list[dict]) -> np.ndarray:
    """Features of every corpus wav, stacked: (N, T, 13) float32 (all wavs last 1.2 s)."""
    cache = corpus / "features.npy"
    stamp = corpus / "features.stamp"
    source = _features_source_stamp()
    if cache.exists() and stamp.exists() and stamp.read_text() == source:
        feats = np.load(cache)
        if len(feats) == len(items):
            return feats
    feats = np.stack([features_of(corpus / item["file"]) for item in items])  # (N, T, 13)
    np.save(cache, feats)
    stamp.write_text(source)
    return feats


def _features_source_stamp() -> str:
    """A hash of the app's wav pipeline source: cached features are reused only if it is unchanged."""
    import hashlib

    digest = hashlib.sha256()
    for name in ("audio.py", "features.py"):
        digest.update((REPO / "lstm_inspector" / "io" / name).read_bytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- models

def build(layer: str, units: int, width: int, n_classes: int, dropout: float = 0.0):
    """``layer(units, return_sequences=True) -> layer(units) -> Dense(n_classes, softmax)``.

    ``layer`` is ``"LSTM"`` (Keras, runs on CPU; ``recurrent_activation="sigmoid"`` is what
    CuDNNLSTM computes) or ``"CuDNNLSTM"`` (GPU only; built, never run here). Layer names are
    the same in both so that weights load by name as well as by order. ``dropout`` > 0 adds
    Dropout after each LSTM for training; it is identity at inference, so the shipped model
    leaves it out (and loads the same weights: Dropout has none).
    """
    import tensorflow as tf
    import tf_keras

    def recurrent(name, return_sequences):
        if layer == "CuDNNLSTM":   # tf_keras.layers does not export it; this is the public name
            return tf.compat.v1.keras.layers.CuDNNLSTM(units, return_sequences=return_sequences,
                                                       name=name)
        return tf_keras.layers.LSTM(units, recurrent_activation="sigmoid",
                                    return_sequences=return_sequences, name=name)

    inputs = tf_keras.Input(shape=(None, width), name="mfcc")
    h = recurrent("lstm_1", True)(inputs)
    if dropout:
        h = tf_keras.layers.Dropout(dropout, name="dropout_1")(h)
    h = recurrent("lstm_2", False)(h)
    if dropout:
        h = tf_keras.layers.Dropout(dropout, name="dropout_2")(h)
    outputs = tf_keras.layers.Dense(n_classes, activation="softmax", name="digit")(h)
    return tf_keras.Model(inputs, outputs, name="digits_" + layer.lower())


def train(x_train, y_train, x_held, y_held, log=print):
    """Train the CPU LSTM model on standardised features; return (model, mu, sigma, history)."""
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    mu = x_train.reshape(-1, x_train.shape[-1]).mean(axis=0)      # (13,)
    sigma = x_train.reshape(-1, x_train.shape[-1]).std(axis=0)    # (13,)
    model = build("LSTM", UNITS, x_train.shape[-1], len(LABELS), dropout=DROPOUT)
    steps = EPOCHS * -(-len(x_train) // BATCH)
    schedule = tf_keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps, alpha=0.03)
    model.compile(optimizer=tf_keras.optimizers.Adam(schedule, clipnorm=1.0),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit((x_train - mu) / sigma, y_train, batch_size=BATCH, epochs=EPOCHS,
                        validation_data=((x_held - mu) / sigma, y_held), shuffle=True, verbose=0,
                        callbacks=[tf_keras.callbacks.LambdaCallback(
                            on_epoch_end=lambda e, logs: log(
                                f"  epoch {e + 1:2d}: loss {logs['loss']:.3f} acc {logs['accuracy']:.3f}"
                                f" held-out acc {logs['val_accuracy']:.3f}"))])
    return model, mu, sigma, history.history


def fold_standardisation(model, mu: np.ndarray, sigma: np.ndarray) -> None:
    """Fold ``x' = (x - mu) / sigma`` into the first LSTM layer, in place.

    The first layer computes ``z = x' @ K + b`` (Keras layout, K (13, 4H)), so with

        K_raw = K / sigma[:, None],   b_raw = b - (mu / sigma) @ K

    it computes the same ``z`` from raw features ``x``: the shipped model reads the features the
    app computes from a wav, with no preprocessing layer in front.
    """
    layer = model.get_layer("lstm_1")
    kernel, recurrent_kernel, bias = layer.get_weights()
    kernel64 = kernel.astype(np.float64)
    new_kernel = kernel64 / sigma[:, None]                            # (13, 4H)
    new_bias = bias - (mu / sigma) @ kernel64                          # (4H,)
    layer.set_weights([new_kernel.astype(np.float32), recurrent_kernel,
                       new_bias.astype(np.float32)])


def split_bias_like_cudnn(model) -> None:
    """Give every CuDNNLSTM layer the bias halves it would have after training on a GPU.

    Keras's converter splits an LSTM bias ``b`` as ``b_W = b_R = b / 2``. A CuDNNLSTM trained
    from its own initialisation (zeros, plus 1 on the recurrent forget block with
    ``unit_forget_bias``) gets identical gradients on both halves, so ``b_R - b_W`` stays the
    initial ``u = [0, 1, 0, 0]`` pattern. Here ``b_W = (b - u) / 2``, ``b_R = (b + u) / 2``: the
    sum cuDNN uses is unchanged, and a tool that reads only one half gets a wrong answer.
    """
    for layer in model.layers:
        if type(layer).__name__ != "CuDNNLSTM":
            continue
        kernel, recurrent_kernel, bias = layer.get_weights()
        units = recurrent_kernel.shape[0]
        total = bias[:4 * units].astype(np.float64) + bias[4 * units:]     # (4H,)
        u = np.zeros(4 * units)
        u[units:2 * units] = 1.0
        layer.set_weights([kernel, recurrent_kernel,
                           np.concatenate([(total - u) / 2, (total + u) / 2]).astype(np.float32)])


def to_cudnn(lstm_model, path: Path, workdir: Path):
    """Save the CuDNNLSTM twin of ``lstm_model`` (full HDF5 model) at ``path`` and return it."""
    weights_path = workdir / "lstm_weights.h5"
    lstm_model.save_weights(str(weights_path))
    cudnn = build("CuDNNLSTM", UNITS, lstm_model.input_shape[-1], len(LABELS))
    cudnn.load_weights(str(weights_path))     # Keras's converter: LSTM -> CuDNNLSTM layout
    split_bias_like_cudnn(cudnn)
    cudnn.save(str(path))
    return cudnn


def reload_on_cpu(path: Path, width: int):
    """A CPU LSTM model with the weights of the CuDNNLSTM file ``path`` (Keras converts them)."""
    model = build("LSTM", UNITS, width, len(LABELS))
    model.load_weights(str(path))
    return model


# ----------------------------------------------------------------------------- NumPy checks

def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def cudnn_gates(kernel, recurrent_kernel, bias):
    """The matrices cuDNN multiplies for a stored CuDNNLSTM layer (docs/cudnn-lstm-facts.md, 2).

    ``W_g = kernel[:, gH:(g+1)H].reshape(H, in)`` (a C-order reinterpretation, not a transpose),
    ``R_g = recurrent_kernel[:, gH:(g+1)H]`` used as ``R_g @ h``, ``b_g = b_Wg + b_Rg``;
    returned stacked in gate order i, f, c, o: W (4H, in), R (4H, H), b (4H,), all float64.
    """
    n_in, four_h = kernel.shape
    units = four_h // 4
    w = np.concatenate([kernel[:, g * units:(g + 1) * units].reshape(units, n_in)
                        for g in range(4)]).astype(np.float64)            # (4H, in)
    r = np.concatenate([recurrent_kernel[:, g * units:(g + 1) * units]
                        for g in range(4)]).astype(np.float64)            # (4H, H)
    b = bias[:4 * units].astype(np.float64) + bias[4 * units:]             # (4H,)
    return w, r, b


def lstm_step(z, c_prev):
    """``i, f, o = sigmoid(z_i, z_f, z_o); c~ = tanh(z_c); c = f c_prev + i c~; h = o tanh(c)``."""
    units = z.shape[-1] // 4
    i, f, g, o = (z[..., k * units:(k + 1) * units] for k in range(4))
    c = sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def cudnn_forward(kernel, recurrent_kernel, bias, x):
    """What CuDNNLSTM computes on ``x`` (T, in): h (T, H), c (T, H), float64."""
    w, r, b = cudnn_gates(kernel, recurrent_kernel, bias)
    units = r.shape[1]
    h, c = np.zeros(units), np.zeros(units)
    hs, cs = [], []
    for x_t in np.asarray(x, dtype=np.float64):
        h, c = lstm_step(w @ x_t + r @ h + b, c)       # z (4H,)
        hs.append(h)
        cs.append(c)
    return np.array(hs), np.array(cs)


def naive_forward(kernel, recurrent_kernel, bias, x, teacher=None):
    """The forum's port: ``z = x_t @ kernel + h @ recurrent_kernel + b_W + b_R`` (T, H).

    With ``teacher = (h, c)`` (T, H) arrays of the true run, step t starts from the true state at
    t - 1, as the forum poster did (the local error of one step); otherwise it runs on its own.
    """
    units = recurrent_kernel.shape[0]
    b = bias[:4 * units].astype(np.float64) + bias[4 * units:]
    h, c = np.zeros(units), np.zeros(units)
    hs = []
    for t, x_t in enumerate(np.asarray(x, dtype=np.float64)):
        if teacher is not None and t > 0:
            h, c = teacher[0][t - 1], teacher[1][t - 1]
        h, c = lstm_step(x_t @ kernel + h @ recurrent_kernel + b, c)
        hs.append(h)
    return np.array(hs)


def read_h5_layers(path: Path) -> tuple[dict, dict]:
    """(model_config dict, {layer name: [arrays in weight_names order]}) of a full-model h5."""
    import h5py

    def text(value):
        return value.decode() if isinstance(value, bytes) else str(value)

    with h5py.File(path, "r") as f:
        config = json.loads(text(f.attrs["model_config"]))
        group = f["model_weights"]
        arrays = {}
        for name in (text(n) for n in group.attrs["layer_names"]):
            names = [text(n) for n in group[name].attrs["weight_names"]]
            arrays[name] = [group[name][n][()] for n in names]
    return config, arrays


def numpy_predict(path: Path, x: np.ndarray) -> np.ndarray:
    """Class probabilities of the demo CuDNNLSTM file on features ``x`` (T, 13), in NumPy."""
    _, arrays = read_h5_layers(path)
    h1, _ = cudnn_forward(*arrays["lstm_1"], x)                 # (T, H)
    h2, _ = cudnn_forward(*arrays["lstm_2"], h1)                # (T, H)
    kernel, bias = arrays["digit"]
    logits = h2[-1] @ kernel + bias                            # (10,)
    e = np.exp(logits - logits.max())
    return e / e.sum()


# ----------------------------------------------------------------------------- HTK

def write_htk(path: Path, features: np.ndarray, frame_shift: float = 0.01, parm_kind: int = 6) -> None:
    """An HTK parameter file: big-endian header (nSamples int32, sampPeriod int32 in 100 ns,
    sampSize int16 = 4 d, parmKind int16; 6 = MFCC) then big-endian float32 frames (T, d)."""
    import struct

    features = np.asarray(features, dtype=np.float32)
    header = struct.pack(">iihh", features.shape[0], int(round(frame_shift * 1e7)),
                         4 * features.shape[1], parm_kind)
    Path(path).write_bytes(header + features.astype(">f4").tobytes())


# ----------------------------------------------------------------------------- the demo

def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probabilities, axis=-1) == labels))


def make_demo_utterances(out: Path, cpu_model, log=print) -> list[dict]:
    """Write ``demo_<word>.wav/.npy/.htk`` for the words of DEMO_TAKES in DEMO_VOICE (held out),
    and assert that the shipped model (through Keras and through NumPy) names them right."""
    shipped = []
    for word, (speed, pitch) in DEMO_TAKES.items():
        label = LABELS.index(word)
        rng = np.random.default_rng(DEMO_SEED + label)
        wav = out / f"demo_{word}.wav"
        write_wav(wav, make_utterance(word, DEMO_VOICE, speed, pitch, rng))
        feats = features_of(wav)                                       # (T, 13)
        np.save(out / f"demo_{word}.npy", feats)
        write_htk(out / f"demo_{word}.htk", feats)
        p_keras = cpu_model.predict(feats[None], verbose=0)[0]         # (10,)
        p_numpy = numpy_predict(out / MODEL_NAME, feats)
        log(f"  demo_{word}: T={len(feats)}, Keras says '{LABELS[p_keras.argmax()]}' "
            f"(p={p_keras.max():.3f}), NumPy cuDNN layout says '{LABELS[p_numpy.argmax()]}', "
            f"max |diff| {np.abs(p_keras - p_numpy).max():.1e}")
        assert p_keras.argmax() == label and p_numpy.argmax() == label, word
        shipped.append({"word": word, "label": label, "voice": DEMO_VOICE, "speed": speed,
                        "pitch": pitch, "frames": int(len(feats)),
                        "probability": float(p_keras[label])})
    return shipped


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help="where the synthesised wavs go (reused when the settings match)")
    parser.add_argument("--out", type=Path, default=RESOURCES, help="output folder")
    parser.add_argument("--extras-only", action="store_true",
                        help=f"only rewrite {DEMO_ARK_NAME} and {DEMO_STATES_NAME} from the shipped "
                             f"npy files (seconds; no espeak-ng, no training)")
    parser.add_argument("--fit-forum", action="store_true",
                        help="only redo the least-squares fit behind FORUM_FIT and print it (~15 min)")
    args = parser.parse_args(argv)
    if args.fit_forum:
        fit_forum()
        return 0
    if args.extras_only:
        make_demo_extras(args.out)
        return 0
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not on the PATH (Debian: apt-get install espeak-ng)")
    start = time.time()
    log = lambda text: print(f"[{time.time() - start:6.1f} s] {text}", flush=True)  # noqa: E731
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = args.corpus / "work"

    log(f"synthesising the corpus in {args.corpus}")
    items = synthesise_corpus(args.corpus)
    workdir.mkdir(parents=True, exist_ok=True)
    espeak_version = subprocess.run(["espeak-ng", "--version"], capture_output=True,
                                    text=True).stdout.split("Data at")[0].strip()   # "eSpeak NG ...: 1.51"
    log(f"computing features of {len(items)} wavs with lstm_inspector.io.features.wav_features")
    feats = corpus_features(args.corpus, items)                                 # (N, T, 13)
    labels = np.array([item["label"] for item in items])
    held = np.array([is_held_out(item["voice"]) for item in items])
    strict = np.array([item["voice"] == DEMO_VOICE for item in items])
    corpus_seconds = time.time() - start
    log(f"features {feats.shape}; {int((~held).sum())} training, {int(held.sum())} held-out utterances")

    import tensorflow as tf
    import tf_keras

    tf.config.threading.set_intra_op_parallelism_threads(2)
    log(f"training 2 x LSTM({UNITS}) -> Dense(10) for {EPOCHS} epochs (tf-keras {tf_keras.__version__})")
    model, mu, sigma, history = train(feats[~held], labels[~held], feats[held], labels[held], log)
    p_trained = model.predict((feats[held] - mu) / sigma, verbose=0)
    fold_standardisation(model, mu, sigma)
    p_folded = model.predict(feats[held], verbose=0)
    fold_diff = float(np.abs(p_folded - p_trained).max())
    log(f"folded the standardisation into lstm_1: max |p diff| {fold_diff:.1e}")

    model_path = args.out / MODEL_NAME
    to_cudnn(model, model_path, workdir)
    cpu = reload_on_cpu(model_path, feats.shape[-1])
    p_all = cpu.predict(feats, verbose=0)                                       # (N, 10)
    conversion_diff = float(np.abs(p_all[held] - p_folded).max())
    log(f"saved {model_path.name} ({model_path.stat().st_size} bytes); reloaded into a CPU LSTM "
        f"through Keras's converter: max |p diff| on the held-out set {conversion_diff:.1e}")
    check = np.flatnonzero(held)[:: max(1, int(held.sum()) // 40)]
    numpy_diff = max(float(np.abs(numpy_predict(model_path, feats[k]) - p_all[k]).max())
                     for k in check)
    log(f"NumPy with the cuDNN layout on {len(check)} held-out utterances: max |p diff| {numpy_diff:.1e}")
    numbers = {
        "utterances": len(items), "train": int((~held).sum()), "held_out": int(held.sum()),
        "frames": int(feats.shape[1]), "train_accuracy": accuracy(p_all[~held], labels[~held]),
        "held_out_accuracy": accuracy(p_all[held], labels[held]),
        "unseen_voice_accuracy": accuracy(p_all[strict], labels[strict]),
        "unseen_voice_utterances": int(strict.sum()),
        "per_word_held_out": {w: accuracy(p_all[held & (labels == k)], labels[held & (labels == k)])
                              for k, w in enumerate(LABELS)},
        "fold_diff": fold_diff, "conversion_diff": conversion_diff, "numpy_diff": numpy_diff,
        "final_loss": float(history["loss"][-1]), "espeak": espeak_version,
        "tensorflow": tf.__version__, "tf_keras": tf_keras.__version__,
        "model_bytes": model_path.stat().st_size,
    }
    log(f"accuracy: train {numbers['train_accuracy']:.3f}, held-out {numbers['held_out_accuracy']:.3f}, "
        f"voice {DEMO_VOICE} (unseen accent and variant) {numbers['unseen_voice_accuracy']:.3f}")

    log("demo utterances")
    shipped = make_demo_utterances(args.out, cpu, log)
    log("the demo's ark and initial state")
    make_demo_extras(args.out, log)
    log("forum demo")
    forum = make_forum_demo(args.out, log)
    numbers["seconds"] = round(time.time() - start)
    numbers["corpus_seconds"] = round(corpus_seconds)
    write_demo_json(args.out, shipped)
    write_readme(args.out, numbers, shipped, forum)
    log(f"wrote {args.out / 'README.md'} and {args.out / 'demo.json'}")
    return 0


# ----------------------------------------------------------------------------- the forum demo

def forum_storage(w: np.ndarray, r: np.ndarray, b: np.ndarray):
    """CuDNNLSTM ``kernel, recurrent_kernel, bias`` storing the canonical gates ``w`` (4, H, in),
    ``r`` (4, H, H), ``b`` (4, H): the inverse of :func:`cudnn_gates`, with the bias split
    ``b_W = (b - u) / 2``, ``b_R = (b + u) / 2`` as in :func:`split_bias_like_cudnn`."""
    _, units, n_in = w.shape
    kernel = np.concatenate([w[g].reshape(n_in, units) for g in range(4)], axis=1)   # (in, 4H)
    recurrent_kernel = np.concatenate([r[g] for g in range(4)], axis=1)              # (H, 4H)
    total = b.reshape(-1)                                                              # (4H,)
    u = np.zeros(4 * units)
    u[units:2 * units] = 1.0
    bias = np.concatenate([(total - u) / 2, (total + u) / 2])                          # (8H,)
    return [a.astype(np.float32) for a in (kernel, recurrent_kernel, bias)]


def make_forum_demo(out: Path, log=print) -> dict:
    """``forum_cudnnlstm_in1_h2.h5`` and ``forum_input.npy``: the thread's 2-unit case, rebuilt.

    The weights and the 10 inputs are :data:`FORUM_FIT`, found by least squares so that the true
    CuDNNLSTM output reproduces the thread's ``net.run`` numbers and the thread's port (``x @ kernel
    + h @ recurrent_kernel``, started at each step from the true state, as the poster did)
    reproduces its ``NewLSTM`` numbers (see :func:`fit_forum`). Checked here in NumPy (cuDNN
    layout vs the naive port) and against Keras's converter on CPU.
    """
    import tensorflow as tf
    import tf_keras

    x = np.asarray(FORUM_FIT["x"], dtype=np.float32).reshape(10, 1)                   # (T, 1)
    weights = forum_storage(np.asarray(FORUM_FIT["w"]).reshape(4, 2, 1),
                            np.asarray(FORUM_FIT["r"]).reshape(4, 2, 2),
                            np.asarray(FORUM_FIT["b"]).reshape(4, 2))
    inputs = tf_keras.Input(shape=(None, 1), name="input")
    outputs = tf.compat.v1.keras.layers.CuDNNLSTM(2, return_sequences=True, name="cu_dnnlstm")(inputs)
    model = tf_keras.Model(inputs, outputs, name="forum")
    model.get_layer("cu_dnnlstm").set_weights(weights)
    path = out / FORUM_MODEL_NAME
    model.save(str(path))
    np.save(out / FORUM_INPUT_NAME, x)

    _, arrays = read_h5_layers(path)
    stored = arrays["cu_dnnlstm"]
    h, c = cudnn_forward(*stored, x)                                                    # (T, 2)
    naive = naive_forward(*stored, x)                                                   # (T, 2)
    local = naive_forward(*stored, x, teacher=(h, c))                                   # (T, 2)
    cpu_in = tf_keras.Input(shape=(None, 1))
    cpu = tf_keras.Model(cpu_in, tf_keras.layers.LSTM(2, recurrent_activation="sigmoid",
                                                      return_sequences=True, name="cu_dnnlstm")(cpu_in))
    cpu.load_weights(str(path))                      # Keras's converter, CuDNNLSTM -> LSTM
    keras_h = cpu.predict(x[None], verbose=0)[0]
    result = {
        "h": h, "naive": naive, "local": local,
        "naive_error": np.abs(naive - h).max(axis=1), "local_error": np.abs(local - h).max(axis=1),
        "keras_diff": float(np.abs(keras_h - h).max()),
        "thread_error": float(np.abs(h - FORUM_THREAD_OUTPUT).max()),
        "thread_local_error": float(np.abs(local - FORUM_THREAD_NEWLSTM).max()),
    }
    log(f"  {path.name}: Keras LSTM via the converter vs NumPy cuDNN layout: max |diff| "
        f"{result['keras_diff']:.1e}; vs the thread's net.run {result['thread_error']:.1e}, "
        f"thread's NewLSTM {result['thread_local_error']:.1e}")
    log("  naive port error per step: " + " ".join(f"{e:.1e}" for e in result["naive_error"]))
    assert result["keras_diff"] < 1e-6
    assert result["naive_error"][0] < 1e-6, "the naive port must agree at step 0"
    assert result["naive_error"][1:].min() > 1e-5 and result["naive_error"][1:].max() > 1e-2
    return result


FORUM_THREAD_OUTPUT = np.array([   # the thread's "output with net.run" for n_coeffs_output = 2
    [-1.6811120e-05, -7.6083797e-01], [-5.3793984e-04, -9.5489222e-01],
    [-4.9301507e-03, -9.7488159e-01], [-2.7245175e-02, -9.5495248e-01],
    [-1.0828623e-01, -9.0503311e-01], [-2.8274482e-01, -8.2405442e-01],
    [-4.7703674e-01, -7.3043454e-01], [-6.2741107e-01, -6.1664152e-01],
    [-7.3953187e-01, -4.4329706e-01], [-8.0043334e-01, -1.7720392e-01]])
FORUM_THREAD_NEWLSTM = np.array([  # the thread's "Output with NewLSTM" (the poster's port)
    [-1.68111220e-05, -7.60837996e-01], [-4.95224298e-04, -9.54892126e-01],
    [-4.78779000e-03, -9.74876460e-01], [-2.71903900e-02, -9.54837960e-01],
    [-1.08744370e-01, -9.03712130e-01], [-2.95377810e-01, -8.15018760e-01],
    [-5.24513420e-01, -6.97653310e-01], [-6.94376940e-01, -5.44626470e-01],
    [-7.97122320e-01, -3.12578280e-01], [-8.50200440e-01, -8.37702400e-02]])


# Found by fit_forum (``--fit-forum``): max |residual| 1.8e-7 against the thread's printed numbers.
# The inputs came out as a ramp from -2.8 to 2.4. Gates in order i, f, c, o; w = W_g[:, 0] (4, 2),
# r = R_g (4, 2, 2) as cuDNN uses it (R_g @ h), b = b_Wg + b_Rg (4, 2).
FORUM_FIT = {
    "x": [-2.78687786852, -2.24182957384, -1.748755583882, -1.277502685498, -0.800756795342,
        -0.304112918819, 0.216483925445, 0.755207045289, 1.383557187408, 2.375006652845],
    "w": [[1.898120216376, -0.920202238273], [-1.524163736289, -0.412771846121],
        [-0.090833502627, 0.683907528068], [2.282605880733, -1.940404529489]],
    "r": [[[-4.036044991528, -0.724850531278], [-0.155433317909, 3.902261738362]],
        [[-7.909342497746, 6.13616802381], [0.39376456051, -1.428618800095]],
        [[-1.392159968483, 2.473261479207], [-1.503325318399, -2.590749329237]],
        [[1.307635287057, -0.831786419959], [-1.395103359527, 2.699748489368]]],
    "b": [[0.958507229322, 3.97358714676], [-1.424653452987, 1.80875380898],
        [-2.136954897134, -3.526026611364], [-0.238002368928, 3.247950159742]],
}


def _forum_unpack(p: np.ndarray):
    """Parameter vector (42,) -> x (10,), w (4, 2) = W_g[:, 0], r (4, 2, 2) = R_g, b (4, 2)."""
    return p[:10], p[10:18].reshape(4, 2), p[18:34].reshape(4, 2, 2), p[34:42].reshape(4, 2)


def _forum_residuals(p: np.ndarray) -> np.ndarray:
    """True outputs minus the thread's net.run, and the poster's port (from the true state at
    t - 1, i.e. ``R_g.T`` where cuDNN uses ``R_g``) minus the thread's NewLSTM, steps 1..9: (38,)."""
    x, w, r, b = _forum_unpack(p)
    h, c = np.zeros(2), np.zeros(2)
    out, port = [], []
    for t in range(10):
        z_true = (w * x[t] + np.einsum("gij,j->gi", r, h) + b).reshape(-1)      # (8,)
        z_port = (w * x[t] + np.einsum("gji,j->gi", r, h) + b).reshape(-1)      # (8,)
        port.append(lstm_step(z_port, c)[0])
        h, c = lstm_step(z_true, c)
        out.append(h)
    return np.concatenate([(np.array(out) - FORUM_THREAD_OUTPUT).ravel(),
                           (np.array(port) - FORUM_THREAD_NEWLSTM)[1:].ravel()])


def fit_forum(starts: int = 4096, steps: int = 6000, log=print) -> dict:
    """Find inputs and weights that reproduce the thread's numbers (``--fit-forum``; ~15 min).

    42 unknowns (10 inputs, W_g (2, 1), R_g (2, 2), b_g (2,) for 4 gates) against 38 numbers (20
    outputs, 18 port outputs: step 0 of the port equals the output). Adam from ``starts`` random
    points at once (torch, float64, seed 0), then Levenberg-Marquardt (scipy, MINPACK) from the best,
    with a 1e-7 ridge so the system is not under-determined. Prints the result as FORUM_FIT.
    """
    import torch
    from scipy.optimize import least_squares

    torch.manual_seed(0)
    target = torch.tensor(FORUM_THREAD_OUTPUT)
    port_target = torch.tensor(FORUM_THREAD_NEWLSTM)
    p = (2 * torch.randn(starts, 42, dtype=torch.float64)).requires_grad_()
    optimiser = torch.optim.Adam([p], lr=0.05)

    def loss(p):
        x, w = p[:, :10], p[:, 10:18].reshape(-1, 4, 2)
        r, b = p[:, 18:34].reshape(-1, 4, 2, 2), p[:, 34:42].reshape(-1, 4, 2)
        h = torch.zeros(len(p), 2, dtype=p.dtype)
        c = torch.zeros_like(h)
        total = 0
        for t in range(10):
            for rr, is_port in ((r.transpose(-1, -2), True), (r, False)):
                z = w * x[:, t, None, None] + torch.einsum("bgij,bj->bgi", rr, h) + b   # (B, 4, 2)
                c_new = torch.sigmoid(z[:, 1]) * c + torch.sigmoid(z[:, 0]) * torch.tanh(z[:, 2])
                h_new = torch.sigmoid(z[:, 3]) * torch.tanh(c_new)
                if is_port:
                    total = total + ((h_new - port_target[t]) ** 2).sum(-1) * (t > 0)
                else:
                    total = total + ((h_new - target[t]) ** 2).sum(-1)
                    h, c = h_new, c_new
        return total

    for step in range(steps):
        optimiser.zero_grad()
        value = loss(p)
        value.sum().backward()
        optimiser.step()
        if step == steps // 2:
            optimiser.param_groups[0]["lr"] = 0.005
        if step % 500 == 0:
            log(f"  Adam step {step}: best sum of squares {value.min().item():.2e}")
    start = p[value.argmin()].detach().numpy()
    fit = least_squares(lambda q: np.concatenate([_forum_residuals(q), 1e-7 * q]), start,
                        method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=200000)
    x, w, r, b = _forum_unpack(fit.x)
    log(f"  max |residual| {np.abs(_forum_residuals(fit.x)).max():.1e}")
    result = {"x": x.tolist(), "w": w.tolist(), "r": r.tolist(), "b": b.tolist()}
    print("FORUM_FIT = " + json.dumps(result))
    return result


# ----------------------------------------------------------------------------- descriptions

def make_demo_extras(out: Path, log=print) -> dict:
    """From the shipped ``demo_<word>.npy`` files alone (no espeak-ng, no training):

    - ``DEMO_ARK_NAME``: every demo utterance as one Kaldi ark (binary float matrices, keys
      ``demo_<word>``, written by kaldiio), a corpus ``sweep`` runs as shipped;
    - ``DEMO_STATES_NAME``: ``h0, c0, h0_1, c0_1``, the state of both LSTMs after the last frame of
      "three" (the NumPy reference), to start "seven" from as a stream would
      (``--initial-state``, ``li.load_initial_state``).

    ``python tools/make_demo.py --extras-only`` rewrites just these two files."""
    import kaldiio

    from lstm_inspector.core.reference import run_reference
    from lstm_inspector.io.models import load_model

    words = [w for w in DEMO_TAKES if (out / f"demo_{w}.npy").is_file()]
    with kaldiio.WriteHelper(f"ark:{out / DEMO_ARK_NAME}") as writer:
        for word in words:
            writer(f"demo_{word}", np.load(out / f"demo_{word}.npy").astype(np.float32))
    model = load_model(str(out / MODEL_NAME))
    trace = run_reference(model, np.load(out / "demo_three.npy"))
    states = {}
    for k in range(len(model.chain)):
        suffix = "" if k == 0 else f"_{k}"
        states[f"h0{suffix}"] = trace.layer(k, "forward").h[-1]
        states[f"c0{suffix}"] = trace.layer(k, "forward").c[-1]
    np.savez(out / DEMO_STATES_NAME, **states)
    log(f"  {DEMO_ARK_NAME}: {', '.join(f'demo_{w}' for w in words)}; {DEMO_STATES_NAME}: "
        f"{', '.join(states)} after 'three'")
    return {"words": words, "states": list(states)}


def write_demo_json(out: Path, shipped: list[dict]) -> None:
    """``demo.json``: what the app opens when started with no arguments (paths relative to it)."""
    first = shipped[0]["word"]
    demo = {
        "model": MODEL_NAME,
        "features": f"demo_{first}.wav",
        "feature": "mfcc",
        "features_npy": f"demo_{first}.npy",
        "labels": LABELS,
        "word": first,
        "frame_shift": 0.01,
        "sample_rate": RATE,   # the wavs the model was trained on (a wav at another rate: a note)
        "utterances": [{"word": s["word"], "wav": f"demo_{s['word']}.wav",
                        "npy": f"demo_{s['word']}.npy", "htk": f"demo_{s['word']}.htk"}
                       for s in shipped],
        "forum": {"model": FORUM_MODEL_NAME, "features": FORUM_INPUT_NAME},
    }
    (out / "demo.json").write_text(json.dumps(demo, indent=2) + "\n")


def write_readme(out: Path, n: dict, shipped: list[dict], forum: dict) -> None:
    """``resources/README.md``: how every file here was made, with this run's numbers."""
    per_word = ", ".join(f"{w} {a:.2f}" for w, a in n["per_word_held_out"].items())
    demo_rows = "\n".join(
        f"| `demo_{s['word']}.wav` / `.npy` / `.htk` | \"{s['word']}\" (label {s['label']}), voice "
        f"`{s['voice']}`, speed {s['speed']}, pitch {s['pitch']}; {s['frames']} frames; the model's "
        f"p({s['word']}) = {s['probability']:.3f} |" for s in shipped)
    steps = " | ".join(str(t) for t in range(len(forum["h"])))
    naive = " | ".join(f"{e:.1e}" for e in forum["naive_error"])
    local = " | ".join(f"{e:.1e}" for e in forum["local_error"])
    text = f"""# Bundled demo files

Made by `python tools/make_demo.py` (from the repository root, with the project's venv and
`espeak-ng` on the PATH; this run took {n['seconds']} s on 2 CPU cores, {n['corpus_seconds']} s of it to synthesise the
corpus and compute its features, which a rerun reuses from `build/demo_corpus/`). The script is
seeded; it writes every file below, this README and `demo.json`. `tests/test_demo.py` checks the files.

| file | what it is |
|---|---|
| `{MODEL_NAME}` | spoken-digit classifier, full Keras HDF5 model (`model.save`) with two `CuDNNLSTM` layers, {n['model_bytes']} bytes |
{demo_rows}
| `{DEMO_ARK_NAME}` | the demo utterances above as one Kaldi ark (keys `demo_seven`, `demo_three`; their npy features, written by kaldiio): a test set `lstm-inspector sweep` runs as shipped |
| `{DEMO_STATES_NAME}` | `h0`, `c0`, `h0_1`, `c0_1`: the state of both LSTMs after the last frame of "three" (NumPy reference), an initial state to start "seven" from (`--initial-state`) |
| `{FORUM_MODEL_NAME}` | the forum thread's 2-unit case: `CuDNNLSTM(2, return_sequences=True)` on 1-wide input |
| `{FORUM_INPUT_NAME}` | its 10 inputs, float32 (10, 1) |
| `demo.json` | what the app opens by default: model, features, labels, word, frame shift |

## Labels (output order of the `digit` layer)

`{', '.join(f'{k}: {w}' for k, w in enumerate(LABELS))}`

## Corpus

The ten words "zero" ... "nine", synthesised by espeak-ng ({n['espeak']}) in {len(ACCENTS) * len(VARIANTS)} voices:
accents `{'`, `'.join(ACCENTS)}` x voice variants `{'`, `'.join(v or '(none)' for v in VARIANTS)}`,
{TAKES_PER_VOICE} takes per word and voice with a random speed in {SPEED_RANGE[0]}..{SPEED_RANGE[1]} words/min
(`-s`) and pitch in {PITCH_RANGE[0]}..{PITCH_RANGE[1]} (`-p`): {n['utterances']} utterances. Each is resampled
from espeak-ng's 22050 Hz to 16 kHz in NumPy (windowed-sinc interpolation, Hann window of 64 taps,
cut-off 7.2 kHz; `resample` in the script), trimmed to the word, put at a random offset in a
{WINDOW_S} s window of white noise {SNR_DB[0]:.0f}..{SNR_DB[1]:.0f} dB below the speech, scaled to a random peak
of {PEAK[0]}..{PEAK[1]} of full scale and stored as 16-bit mono wav (the corpus itself is not kept in the repository;
the script writes it to `build/demo_corpus/`).

Held out from training: every voice with accent `{'`, `'.join(sorted(HELD_OUT_ACCENTS))}` or variant
`{'`, `'.join(sorted(HELD_OUT_VARIANTS))}` ({n['held_out']} utterances; {n['train']} for training).

## Features

Exactly the app's wav pipeline, `lstm_inspector.io.features.read_wav` then
`wav_features(signal, rate, feature="mfcc")` with its default parameters: 13 MFCCs (c0 first) from
26 mel bands, 25 ms Hamming frames every 10 ms, pre-emphasis 0.97, lifter 22; {n['frames']} frames per
{WINDOW_S} s utterance. No normalisation outside the model: opening a wav here in the app gives the model
exactly the input it was trained on.

## Model

`Input (None, 13) -> CuDNNLSTM({UNITS}, return_sequences=True) "lstm_1" -> CuDNNLSTM({UNITS}) "lstm_2" ->
Dense(10, softmax) "digit"` (the word is read at the last step).

- Trained on CPU (TensorFlow {n['tensorflow']}, tf-keras {n['tf_keras']}) as the same architecture with
  `tf_keras.layers.LSTM(units, recurrent_activation="sigmoid")`, on standardised features
  `(x - mu) / sigma` (per coefficient, training set), with Dropout({DROPOUT}) after each LSTM
  (identity at inference, so the shipped file leaves it out), Adam (lr {LEARNING_RATE}, cosine decay,
  clipnorm 1), batch {BATCH}, {EPOCHS} epochs, seed {SEED} (`tf_keras.utils.set_random_seed`,
  deterministic ops). Final training loss {n['final_loss']:.3f}.
- The standardisation is then folded into `lstm_1` (`K <- K / sigma`, `b <- b - (mu / sigma) K`), so the
  file reads raw MFCCs; max |probability change| {n['fold_diff']:.1e}.
- Stored as a GPU user has it: the `CuDNNLSTM` twin got the weights through Keras's own converter
  (`load_weights` from the LSTM's h5: per gate the kernel is re-laid out to cuDNN's order and the
  recurrent kernel transposed), then each bias was split into the halves a CuDNNLSTM trained on a GPU
  has: `b_W = (b - u) / 2`, `b_R = (b + u) / 2` with `u` = 1 on the forget block (both halves get the
  same gradients, so they keep differing by the `unit_forget_bias` initialisation). cuDNN adds the
  halves, so the model is unchanged; a port that reads one half only is wrong.
- Conversion check: the h5's weights loaded back into a CPU `LSTM` model (Keras converts back) give
  max |probability difference| {n['conversion_diff']:.1e} on the held-out set; an independent NumPy forward pass
  with the cuDNN layout (`W_g = kernel_block.reshape(H, in)`, `R_g @ h`, both bias halves) on
  40 held-out utterances: {n['numpy_diff']:.1e}.

Accuracy (argmax of the shipped model, through Keras's converter on CPU):

| set | utterances | accuracy |
|---|---|---|
| training | {n['train']} | {n['train_accuracy']:.3f} |
| held out (unseen accent or variant) | {n['held_out']} | {n['held_out_accuracy']:.3f} |
| voice `{DEMO_VOICE}` (unseen accent and variant) | {n['unseen_voice_utterances']} | {n['unseen_voice_accuracy']:.3f} |

Held-out accuracy per word: {per_word}.

An accent far from all the others is harder: a trial run holding out Caribbean English (`en-029`)
instead of `en-us-nyc` (same settings otherwise) reached 0.915 on its held-out set, and only 0.48 on
"two" in that accent.

## Demo utterances

Spoken in voice `{DEMO_VOICE}`, which was never heard in training (neither its accent nor its variant),
made like the corpus. `.npy` is float32 (T, 13), the features `wav_features` computes from the `.wav`;
`.htk` holds the same frames as an HTK parameter file (big-endian header: nSamples, sampPeriod
100000 (10 ms), sampSize 52, parmKind 6 = MFCC; then big-endian float32 frames). The script asserts
that the model names both words right, through Keras on CPU and through NumPy.

## Forum demo

`{FORUM_MODEL_NAME}` and `{FORUM_INPUT_NAME}` rebuild the 2-unit case of the forum thread
(`../shared/seed/forum-thread.md` beside the project): weights and 10 inputs found by least squares
(`fit_forum` in the script) so that the true CuDNNLSTM output reproduces the thread's `net.run`
numbers (max |difference| {forum['thread_error']:.1e}) and the poster's port `x @ kernel + h @ recurrent_kernel`,
started at each step from the true state as the poster did, reproduces the thread's `NewLSTM` numbers
(max |difference| {forum['thread_local_error']:.1e}). With input width 1 the kernel reshape is a no-op;
with H = 2 the recurrent matrices are transposed, so step 0 (h = 0) agrees and every later step differs.
A Keras `LSTM` loaded from this file through Keras's converter agrees with the NumPy cuDNN-layout pass
to {forum['keras_diff']:.1e}.

Max |h error| of the naive port per step:

| step | {steps} |
|---{'|---' * len(forum['h'])}|
| run on its own | {naive} |
| from the true state (as in the thread) | {local} |
"""
    (out / "README.md").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
