"""Feature files in, one (T, d) float32 matrix out: npy, npz, csv/txt, HTK, Kaldi ark/scp, wav.

:func:`load_features` picks the reader by content first (the magic bytes of npy, zip/npz, RIFF wav,
Kaldi binary ark, an exactly-sized HTK header), then by extension, and refuses anything it cannot
read with one sentence naming the file. It never unpickles and never runs a command a file names
(Kaldi ``cmd |`` entries are refused).

Non-finite values are *loaded* (with a note) so that the inspector can show them; the engine and
the CLI call :func:`check_features`, which refuses them, an empty matrix and a width that does not
fit the model, each with one sentence a person can act on.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InspectorError, naming
from . import htk, kaldi
from .audio import parse_wav, read_wav, wav_features  # noqa: F401  (read_wav re-exported)
from .feature_arrays import (TEXT_SUFFIXES, Audio, Loaded, _as_text, _load_npy,  # noqa: F401
                             _load_npz, _load_text, brief)

__all__ = ["Features", "load_features", "check_features", "wav_features", "read_wav"]

HTK_SUFFIXES = {".htk", ".mfc", ".mfcc", ".fbank", ".fbk", ".plp", ".lpc", ".mel", ".user"}
_KALDI_BINARY = re.compile(rb"^[^\s\x00]+ \x00B")
_KALDI_TEXT = re.compile(r"^\s*\S+\s+\[")


@dataclass(frozen=True, eq=False)
class Features:
    """A feature matrix and where it came from.

    Attributes
    ----------
    data : np.ndarray
        (T, d) float32, C-contiguous: T frames (time steps) of d values (the model's input width).
    frame_shift : float or None
        Seconds between frames where the file says so (HTK header, wav extraction), else None.
    source : str
        The path read.
    key : str or None
        The npz array name, Kaldi utterance id or batch index chosen, else None.
    kind : str
        What was read: "npy", "npz", "csv", "htk MFCC_D_A_0", "kaldi-ark", "kaldi-scp", "wav mfcc", ...
    notes : tuple of str
        Sentences for the user about conversions made ("converted from float64 to float32").
    meta : dict
        Format facts: HTK parmkind and sample period, wav parameters, array names, utterance ids.
    """

    data: np.ndarray
    frame_shift: float | None
    source: str
    key: str | None
    kind: str
    notes: tuple = ()
    meta: dict = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """T, the number of frames."""
        return int(self.data.shape[0])

    @property
    def width(self) -> int:
        """d, the values per frame."""
        return int(self.data.shape[1])


# --------------------------------------------------------------------------------------- entry
def load_features(path, *, key=None, feature: str = "mfcc", **wav_options) -> Features:
    """Read a feature file (or a wav file, computing features) as a (T, d) float32 matrix.

    Parameters
    ----------
    path : str or Path
        npy, npz, csv/txt/tsv, HTK (any extension), Kaldi ``.ark`` / ``.scp`` / ``file.ark:offset``,
        or wav.
    key : str or int, optional
        Which array of an npz, which utterance of a Kaldi ark/scp, or which sequence of a 3-D
        (batch, T, d) array. Default: the only one, else (Kaldi) the first, with a note.
    feature : {"mfcc", "logmel"}
        For audio input (wav, HTK WAVEFORM, wav entries of a Kaldi ark): which features to
        compute; see :func:`~lstm_inspector.io.audio.wav_features`.
    **wav_options
        Parameters for ``wav_features`` (``num_ceps=13``, ``frame_shift=0.01``, ...).

    Returns
    -------
    Features
        Non-finite values are kept (and noted); :func:`check_features` refuses them.

    Raises
    ------
    InspectorError
        Missing, empty, corrupt, truncated or unrecognised file; pickled (object) arrays; a key that
        is not there; wav options given for a file that already holds features.
    """
    path = Path(path)
    key = None if key is None else str(key)
    if not path.exists():
        match = kaldi.ARK_OFFSET.match(str(path))
        if not (match and Path(match["file"]).is_file()):
            raise InspectorError(f"the feature file {path} does not exist")
        found = _from_kaldi(kaldi.read_entry(str(path), path), "kaldi-ark", key)  # 'feats.ark:1234'
    elif path.is_dir():
        raise InspectorError(f"{path} is a folder; give the tool one feature file")
    else:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InspectorError(f"cannot read the feature file {path}: {exc.strerror or exc}") from None
        if not raw:
            raise InspectorError(f"the feature file {path} is empty (0 bytes)")
        loader = {"npy": _load_npy, "npz": _load_npz, "text": _load_text, "htk": _load_htk,
                  "kaldi-ark": _load_ark, "kaldi-scp": _load_scp, "wav": _load_wav}[_detect(path, raw)]
        found = loader(path, raw, key)
    if isinstance(found, Audio):
        return _features_from_audio(found, path, feature, wav_options)
    return _finish(found, path, wav_options, feature)


def _detect(path: Path, raw: bytes) -> str:
    """The reader for a file: magic bytes first, then the extension, then an HTK-shaped header."""
    suffix = path.suffix.lower()
    if raw.startswith(b"\x93NUMPY"):
        return "npy"
    if raw.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "npz"
    if raw[:4] in (b"RIFF", b"RF64", b"RIFX") and raw[8:12] == b"WAVE":
        return "wav"
    if _KALDI_BINARY.match(raw[:4096]):
        return "kaldi-ark"
    named = {".npy": "npy", ".npz": "npz", ".wav": "wav"}.get(suffix)
    if named:
        what = {"npy": "a NumPy .npy file (it lacks the \\x93NUMPY header)",
                "npz": "a NumPy .npz file (it is not a zip archive)",
                "wav": "a wav file (it lacks the RIFF/WAVE header)"}[named]
        raise InspectorError(f"{path.name} is not {what}; it may be corrupt or misnamed")
    if htk.sniff_header(raw, len(raw), strict=True):
        return "htk"
    if suffix == ".scp":
        return "kaldi-scp"
    text = _as_text(raw)
    if suffix == ".ark" or (text is not None and _KALDI_TEXT.match(text)):
        return "kaldi-ark"
    if suffix in TEXT_SUFFIXES:
        return "text"
    if suffix in HTK_SUFFIXES or "htk" in path.name.lower():
        return "htk"
    if text is not None:
        return "text"
    if htk.sniff_header(raw, len(raw), strict=False):
        return "htk"  # a plausible HTK header on a short file: read_htk says it is truncated
    raise InspectorError(
        f"{path.name} is not a feature file the tool recognises (npy, npz, csv/txt, HTK, Kaldi "
        "ark/scp or wav); save the features as a (T, d) .npy array")


def _finish(loaded: Loaded, path: Path, wav_options, feature) -> Features:
    """Refuse wav options, shape the array to (T, d) float32 and build the Features record."""
    if wav_options or feature != "mfcc":
        given = sorted(wav_options) + (["feature"] if feature != "mfcc" else [])
        raise InspectorError(f"{path.name} already holds features, so the wav options "
                             f"{', '.join(given)} do not apply")
    notes = list(loaded.notes)
    chosen = loaded.chosen
    if loaded.index is not None and np.ndim(loaded.array) != 3:
        raise InspectorError(f"{path.name} holds one {loaded.kind} matrix, so key={loaded.index!r} "
                             "does not apply; leave the key out")
    data = _as_matrix(loaded.array, path, notes, loaded.index)
    if loaded.index is not None:
        chosen = loaded.index if chosen is None else f"{chosen}[{loaded.index}]"
    bad = int(data.size - np.count_nonzero(np.isfinite(data)))
    if bad:
        notes.append(f"contains {bad} NaN or infinite values (check_features reports where)")
    return Features(data, loaded.frame_shift, str(path), chosen, loaded.kind, tuple(notes),
                    loaded.meta)


def _as_matrix(array, path: Path, notes: list, index) -> np.ndarray:
    """Any numeric array -> (T, d) float32 C-contiguous, noting every conversion."""
    array = np.asarray(array)
    name = path.name
    if array.dtype.hasobject:
        raise InspectorError(f"{name} contains Python objects; the tool never unpickles files")
    if array.dtype.kind == "c":
        raise InspectorError(f"{name} holds complex values ({array.dtype}); give the tool real "
                             "features (e.g. magnitudes)")
    if array.dtype.kind not in "fiub":
        raise InspectorError(f"{name} holds {array.dtype} values, not numbers")
    if array.ndim == 3:
        if index is not None:
            try:
                array = array[int(index)]
            except (ValueError, IndexError):
                raise InspectorError(f"{name} holds {array.shape[0]} sequences, so key={index!r} "
                                     f"must be an index from 0 to {array.shape[0] - 1}") from None
            notes.append(f"took sequence {int(index)} of the batch in the file")
        elif array.shape[0] == 1:
            array = array[0]
            notes.append("dropped the leading batch axis of length 1")
        else:
            raise InspectorError(f"{name} holds a batch of {array.shape[0]} sequences (shape "
                                 f"{array.shape}); pass --key <index> (key= in Python) to "
                                 "choose one")
    elif array.ndim == 1:
        array = array[:, None]  # (T,) -> (T, 1)
        notes.append(f"read a 1-D array of {len(array)} values as {len(array)} frames of 1 feature")
    if array.ndim != 2:
        raise InspectorError(f"{name} holds an array of shape {array.shape}; the tool needs (T, d): "
                             "T frames of d features")
    if array.dtype != np.float32:
        notes.append(f"converted from {array.dtype} to float32")
        with np.errstate(over="ignore"):
            array = array.astype(np.float32)
    return np.ascontiguousarray(array)


# ----------------------------------------------------------------------------------------- HTK
def _load_htk(path, raw, key):
    data, header, notes = htk.read_htk(path, raw)
    meta = dict(parm_kind=header.parm_kind, parm_kind_name=header.kind_name,
                sample_period=header.frame_shift, samp_size=header.samp_size,
                n_samples=header.n_samples, byte_order="big" if header.byte_order == ">" else "little",
                compressed=header.compressed, crc=header.has_crc)
    if header.base_kind == htk.WAVEFORM:
        _no_key_for_audio(path, key)
        return Audio(data, int(round(1.0 / header.frame_shift)), notes, meta)
    return Loaded(data, f"htk {header.kind_name}", notes, meta, header.frame_shift, index=key)


# --------------------------------------------------------------------------------------- audio
def _load_wav(path, raw, key):
    _no_key_for_audio(path, key)
    read = parse_wav(raw, path.name)
    return Audio(read.signal, read.sample_rate, list(read.notes), dict(read.meta))


def _no_key_for_audio(path, key):
    if key is not None:
        raise InspectorError(f"{path.name} is audio, so key={key!r} does not apply; leave it out")


def _features_from_audio(audio: Audio, path, feature, options) -> Features:
    """Run ``wav_features`` on decoded audio, refusing (with the file's name) audio under one frame."""
    from .audio import FEATURE_DEFAULTS

    path = Path(path)
    signal, rate, notes = np.asarray(audio.samples), audio.rate, list(audio.notes)
    if signal.dtype.kind in "iu":  # integer PCM from a Kaldi wav entry: scale to [-1, 1)
        signal = signal.astype(np.float64) / float(1 << (8 * signal.dtype.itemsize - 1))
    if signal.ndim == 2:  # (N, channels) -> (N,)
        notes.append(f"averaged its {signal.shape[1]} channels to one")
        signal = signal.mean(axis=1)
    settings = {**FEATURE_DEFAULTS.get(feature, {}), **options}
    length = int(round(settings.get("frame_length", 0.025) * rate))
    if feature in FEATURE_DEFAULTS and len(signal) < max(length, 1):
        header = next((f"; {n}" for n in notes if "header claims" in n), "")
        plural = "" if len(signal) == 1 else "s"
        raise InspectorError(
            f"{path.name} holds {len(signal)} sample{plural} per channel at {rate} Hz "
            f"({1000.0 * len(signal) / rate:.2f} ms), too short for one "
            f"{1000 * settings['frame_length']:g} ms frame of {length} samples{header}")
    try:
        data = wav_features(signal, rate, feature, **options)  # (T, d); checks feature, options
    except InspectorError as exc:
        raise naming(exc, path.name) from None
    settings["n_fft"] = settings["n_fft"] or 1 << max(length - 1, 0).bit_length()
    settings["high_freq"] = rate / 2.0 if settings["high_freq"] is None else settings["high_freq"]
    meta = {**audio.meta, "feature": feature, "sample_rate": rate, **settings}
    notes.append(f"computed {data.shape[1]} {feature} features every "
                 f"{1000 * settings['frame_shift']:g} ms from {len(signal) / rate:.2f} s of audio "
                 f"at {rate} Hz")
    return Features(data, float(settings["frame_shift"]), str(path), audio.chosen, f"wav {feature}",
                    tuple(notes), meta)


# --------------------------------------------------------------------------------------- Kaldi
def _load_ark(path, raw, key):
    return _from_kaldi(kaldi.read_ark(path, key), "kaldi-ark")


def _load_scp(path, raw, key):
    text = _as_text(raw)
    if text is None:
        raise InspectorError(f"{path.name} is not a text file, so it cannot be a Kaldi scp")
    return _from_kaldi(kaldi.read_scp(path, text, key), "kaldi-scp")


def _from_kaldi(entry: kaldi.KaldiEntry, kind: str, index=None):
    """A Kaldi matrix as a Loaded record; a wav entry goes on to feature extraction."""
    notes = list(entry.notes)
    meta = dict(utterances=list(entry.utterances), kaldi_type=entry.stored)
    if isinstance(entry.value, tuple):  # (rate, samples): a wav stored in the ark
        return Audio(entry.value[1], int(entry.value[0]), notes, meta, entry.utterance)
    if entry.stored.startswith("CM"):
        notes.append(f"decompressed a Kaldi {entry.stored} compressed matrix (its values are "
                     "quantised)")
    return Loaded(entry.value, kind, notes, meta, chosen=entry.utterance, index=index)


# ------------------------------------------------------------------------------------- checks
def check_features(features, input_size=None) -> None:
    """Refuse features the engine cannot run, with one actionable sentence.

    Checks, in order: a 2-D (T, d) matrix, at least one frame and one column, ``d == input_size``
    (when given), and only finite values (naming the first NaN/Inf by frame and column, counted
    from 0, and how many there are).

    Parameters
    ----------
    features : Features or array_like
    input_size : int, optional
        The model's input width (its first recurrent layer's input size).

    Raises
    ------
    InspectorError
    """
    if isinstance(features, Features):
        data, label = features.data, f"the feature file {Path(features.source).name}"
    else:
        data, label = np.asarray(features), "the feature array"
    if data.ndim != 2:
        raise InspectorError(f"{label} has shape {data.shape} but must be (T, d): T frames of d "
                             "features")
    steps, width = data.shape
    if steps == 0:
        raise InspectorError(f"{label} has no frames (0 time steps), so there is nothing to run")
    if width == 0:
        raise InspectorError(f"{label} has {steps} frames of 0 values, so there is nothing to run")
    if input_size is not None and width != int(input_size):
        raise InspectorError(f"{label} has {width} column{'s' if width != 1 else ''} but the model's "
                             f"first layer expects {int(input_size)} input{'s' if input_size != 1 else ''}")
    if data.dtype.kind not in "fc":
        return
    finite = np.isfinite(data)
    if not finite.all():
        frame, column = np.argwhere(~finite)[0]
        nans = int(np.count_nonzero(np.isnan(data)))
        infs = int(data.size - np.count_nonzero(finite)) - nans
        counts = " and ".join(part for part in (f"{nans} NaN" if nans else "",
                                                f"{infs} infinite" if infs else "") if part)
        raise InspectorError(f"{label} has {counts} value{'s' if nans + infs != 1 else ''}, the first "
                             f"at frame {frame}, column {column} (counting from 0); fix or drop "
                             "those frames")
