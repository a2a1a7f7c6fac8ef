"""Wav files in, speech features out, in NumPy only (deterministic: no dither, no randomness).

Two public entry points, also used by the demo trainer to make its training features:

* :func:`read_wav` -- a RIFF/WAVE file as a mono float64 signal in [-1, 1] and its sample rate.
* :func:`wav_features` -- MFCC or log-mel features of such a signal, (T, d) float32.

The pipeline follows HTK and Kaldi (``snip_edges``), and with ``preemphasis=0, remove_dc=False,
num_mels=23`` it reproduces HTK 3.4 HCopy's MFCC and FBANK output (tests check this on a real file):

1. Framing: frames of ``L = round(frame_length * sr)`` samples every ``S = round(frame_shift * sr)``
   samples; ``T = 1 + floor((N - L) / S)`` frames for N >= L samples; the last partial frame is dropped.
2. Per frame: subtract the frame's mean (``remove_dc``), then pre-emphasis
   ``y[n] = x[n] - a x[n-1]`` with ``y[0] = (1 - a) x[0]`` (per frame, as Kaldi and HTK do).
3. Window (symmetric Hamming ``0.54 - 0.46 cos(2 pi n / (L - 1))`` by default), zero-pad to
   ``n_fft`` (next power of two >= L) and take the power spectrum ``P_k = |X_k|^2``, k = 0..n_fft/2.
4. Mel filterbank: ``M`` triangles equally spaced on the mel scale ``mel(f) = 1127 ln(1 + f / 700)``
   between ``low_freq`` and ``high_freq``, evaluated at the bin frequencies ``k sr / n_fft``;
   ``E_m = sum_k W_mk P_k`` and ``log E_m`` (floored at ``log_floor``).
5. MFCC only: orthonormal DCT-II ``c_i = sqrt((2 - [i = 0]) / M) sum_m log E_m cos(pi i (m + 1/2) / M)``,
   i = 0..num_ceps-1 (c0 kept as the first column), then the lifter ``1 + (Q / 2) sin(pi i / Q)``.

Signals are scaled to [-1, 1], so log energies sit ``2 ln 32768 ~= 20.79`` below HTK's (which uses
raw int16 values); only c0 and log-mel values feel that offset.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import InspectorError

MFCC_DEFAULTS = dict(frame_length=0.025, frame_shift=0.010, preemphasis=0.97, window="hamming",
                     n_fft=None, num_mels=26, num_ceps=13, low_freq=0.0, high_freq=None,
                     lifter=22.0, remove_dc=True, log_floor=float(np.finfo(np.float64).eps))
LOGMEL_DEFAULTS = {**{k: v for k, v in MFCC_DEFAULTS.items() if k not in ("num_ceps", "lifter")},
                   "num_mels": 40}
FEATURE_DEFAULTS = {"mfcc": MFCC_DEFAULTS, "logmel": LOGMEL_DEFAULTS}

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


class WavRead(NamedTuple):
    """A decoded wav file: mono signal, rate, notes for the user, header facts."""

    signal: np.ndarray  # (N,) float64
    sample_rate: int
    notes: tuple
    meta: dict


# ----------------------------------------------------------------------------------------- reading
def read_wav(path) -> tuple[np.ndarray, int]:
    """Read a PCM or IEEE-float wav file as a mono signal.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    signal : np.ndarray
        (N,) float64; integer PCM is scaled to [-1, 1) (8-bit: ``(x - 128) / 128``, 16/24/32-bit:
        ``x / 2**(bits - 1)``); several channels are averaged.
    sample_rate : int
        Samples per second.

    Raises
    ------
    InspectorError
        Not a RIFF/WAVE file, missing ``fmt``/``data`` chunk, compressed or unsupported encoding.
    """
    result = read_wav_full(path)
    return result.signal, result.sample_rate


def read_wav_full(path) -> WavRead:
    """Like :func:`read_wav`, plus notes (averaged channels, header inconsistencies) and meta."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InspectorError(f"cannot read the wav file {path}: {exc.strerror or exc}") from None
    return parse_wav(raw, path.name)


def parse_wav(raw: bytes, name: str = "the wav data") -> WavRead:
    """Decode RIFF/WAVE bytes (a small chunk walker: lenient about sizes that streams leave wrong)."""
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        what = "an RF64 wav (over 4 GB), which the tool does not read" if raw[:4] == b"RF64" else \
            "a big-endian RIFX wav, which the tool does not read" if raw[:4] == b"RIFX" else \
            "not a RIFF/WAVE file"
        raise InspectorError(f"{name} is {what}; convert it to a 16-bit PCM wav")
    notes, fmt, data = [], None, None
    riff_size = struct.unpack("<I", raw[4:8])[0]
    if riff_size + 8 != len(raw):
        notes.append(f"its RIFF header claims {riff_size + 8} bytes but the file has {len(raw)}")
    pos = 12
    while pos + 8 <= len(raw):
        chunk_id, size = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        body = raw[pos + 8:pos + 8 + size]
        if chunk_id == b"fmt ":
            fmt = body
        elif chunk_id == b"data":
            data = body
            if len(body) < size:
                notes.append(f"its data chunk claims {size} bytes but only {len(body)} follow; "
                             "read those")
            break
        pos += 8 + size + (size & 1)  # chunks are padded to even sizes
    if fmt is None or len(fmt) < 16:
        raise InspectorError(f"{name} has no valid 'fmt ' chunk, so its sample format is unknown")
    if data is None:
        raise InspectorError(f"{name} has no 'data' chunk: it holds no audio")
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]  # the sub-format GUID starts with the format tag
    width = bits // 8
    if channels == 0 or rate == 0 or bits == 0 or bits % 8:
        raise InspectorError(f"{name} has a broken 'fmt ' chunk ({channels} channels, {rate} Hz, "
                             f"{bits} bits per sample)")
    if tag in (_PCM, _FLOAT) and block_align != channels * width:
        raise InspectorError(f"{name} has a broken 'fmt ' chunk: {channels} channel(s) of "
                             f"{bits}-bit samples take {channels * width} bytes per frame, but "
                             f"its block align says {block_align}")
    if tag == _PCM and width in (1, 2, 3, 4):
        samples = _decode_pcm(data, width)
    elif tag == _FLOAT and width in (4, 8):
        samples = np.frombuffer(data[:len(data) // width * width], "<f" + str(width)).astype(np.float64)
    else:
        kind = {6: "A-law", 7: "mu-law", 2: "ADPCM", 0x55: "MP3"}.get(tag, f"format {tag:#x}")
        raise InspectorError(f"{name} is {kind} with {bits}-bit samples; the tool reads 8/16/24/32-bit "
                             "PCM and 32/64-bit float wavs, so convert it (sox in.wav -e signed -b 16 out.wav)")
    n_frames = len(samples) // channels
    if n_frames * channels != len(samples):
        notes.append("dropped a partial sample frame at the end of the data chunk")
    frames = samples[:n_frames * channels].reshape(n_frames, channels)  # (N, channels)
    if channels > 1:
        notes.append(f"averaged its {channels} channels to one")
    signal = frames.mean(axis=1) if channels > 1 else frames[:, 0].copy()  # (N,)
    meta = dict(sample_rate=int(rate), channels=int(channels), bits_per_sample=int(bits),
                encoding="float" if tag == _FLOAT else "pcm", num_samples=int(n_frames))
    return WavRead(signal, int(rate), tuple(notes), meta)


def _decode_pcm(data: bytes, width: int) -> np.ndarray:
    """Integer PCM bytes -> float64 in [-1, 1): 8-bit is unsigned, wider is signed little-endian."""
    data = data[:len(data) // width * width]
    if width == 1:
        return (np.frombuffer(data, np.uint8).astype(np.float64) - 128.0) / 128.0
    if width == 3:  # 24-bit: sign-extend three bytes into an int32
        b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        return ints.astype(np.float64) / float(1 << 23)
    return np.frombuffer(data, "<i" + str(width)).astype(np.float64) / float(1 << (8 * width - 1))


# ---------------------------------------------------------------------------------- the pipeline
def hz_to_mel(hz):
    """HTK/Kaldi mel scale: ``1127 ln(1 + f / 700)``."""
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * np.expm1(np.asarray(mel, dtype=np.float64) / 1127.0)


def frame_count(num_samples: int, sample_rate: float, frame_length: float = 0.025,
                frame_shift: float = 0.010) -> int:
    """Frames :func:`wav_features` makes: ``1 + floor((N - L) / S)``, or 0 when N < L."""
    length, shift = int(round(frame_length * sample_rate)), int(round(frame_shift * sample_rate))
    return 0 if num_samples < length else 1 + (num_samples - length) // shift


def mel_filterbank(num_mels: int, n_fft: int, sample_rate: float, low_freq: float = 0.0,
                   high_freq: float | None = None) -> np.ndarray:
    """Triangular mel filters, (num_mels, n_fft // 2 + 1) float64.

    Filter m rises linearly in mel from ``p_m`` to ``p_{m+1}`` and falls to ``p_{m+2}``, where
    ``p = linspace(mel(low_freq), mel(high_freq), num_mels + 2)``; adjacent filters therefore sum
    to 1 for every bin between the first and the last centre.
    """
    high_freq = sample_rate / 2.0 if high_freq is None else high_freq
    edges = np.linspace(hz_to_mel(low_freq), hz_to_mel(high_freq), num_mels + 2)  # (M + 2,)
    bins = hz_to_mel(np.arange(n_fft // 2 + 1) * sample_rate / n_fft)  # (K,)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (M, 1) each
    rising = (bins[None, :] - left) / (centre - left)  # (M, K)
    falling = (right - bins[None, :]) / (right - centre)  # (M, K)
    return np.maximum(0.0, np.minimum(rising, falling))


def dct_matrix(num_ceps: int, num_mels: int) -> np.ndarray:
    """Orthonormal DCT-II rows, (num_ceps, num_mels): ``D @ D.T = I`` when num_ceps == num_mels."""
    i = np.arange(num_ceps)[:, None]  # (C, 1)
    m = np.arange(num_mels)[None, :]  # (1, M)
    basis = np.sqrt(2.0 / num_mels) * np.cos(np.pi * i * (m + 0.5) / num_mels)  # (C, M)
    basis[0] = np.sqrt(1.0 / num_mels)
    return basis


def lifter_weights(num_ceps: int, lifter: float) -> np.ndarray:
    """Sinusoidal cepstral lifter ``1 + (Q / 2) sin(pi i / Q)``; all ones when Q == 0."""
    i = np.arange(num_ceps)
    return np.ones(num_ceps) if not lifter else 1.0 + 0.5 * lifter * np.sin(np.pi * i / lifter)


def window_function(name: str, length: int) -> np.ndarray:
    """Symmetric analysis window: hamming, hann (hanning), povey (hann ** 0.85), rectangular."""
    n = np.arange(length)
    denom = max(length - 1, 1)
    if name == "hamming":
        return 0.54 - 0.46 * np.cos(2 * np.pi * n / denom)
    if name in ("hann", "hanning"):
        return 0.5 - 0.5 * np.cos(2 * np.pi * n / denom)
    if name == "povey":
        return (0.5 - 0.5 * np.cos(2 * np.pi * n / denom)) ** 0.85
    if name in ("rectangular", "none"):
        return np.ones(length)
    raise InspectorError(f"unknown window '{name}'; use hamming, hann, povey or rectangular")


def wav_features(signal, sample_rate, feature: str = "mfcc", **params) -> np.ndarray:
    """MFCC or log-mel features of a mono signal (see the module docstring for the equations).

    Parameters
    ----------
    signal : array_like
        (N,) samples, scaled as :func:`read_wav` returns them.
    sample_rate : float
        Samples per second.
    feature : {"mfcc", "logmel"}
    **params
        frame_length=0.025 s, frame_shift=0.010 s, preemphasis=0.97, window="hamming",
        n_fft=None (next power of two >= the frame length in samples), num_mels=26 (mfcc) / 40
        (logmel), num_ceps=13 (mfcc; c0 first), low_freq=0.0, high_freq=None (sample_rate / 2),
        lifter=22.0 (mfcc; 0 turns it off), remove_dc=True, log_floor=2.2e-16 (float64 eps).

    Returns
    -------
    np.ndarray
        (T, num_ceps) or (T, num_mels) float32, C-contiguous, with
        ``T = 1 + floor((N - L) / S)`` (:func:`frame_count`).

    Raises
    ------
    InspectorError
        Unknown feature or parameter, impossible parameter values, a signal shorter than a frame.
    """
    if feature not in FEATURE_DEFAULTS:
        raise InspectorError(f"unknown feature '{feature}'; choose mfcc or logmel")
    unknown = sorted(set(params) - set(FEATURE_DEFAULTS[feature]))
    if unknown:
        raise InspectorError(f"{feature} features take no option {', '.join(unknown)}; they take "
                             f"{', '.join(FEATURE_DEFAULTS[feature])}")
    p = {**FEATURE_DEFAULTS[feature], **params}
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise InspectorError(f"wav_features needs a 1-D mono signal, not an array of shape {x.shape}")
    if not sample_rate or sample_rate <= 0:
        raise InspectorError(f"the sample rate must be positive, not {sample_rate}")
    length = int(round(p["frame_length"] * sample_rate))
    shift = int(round(p["frame_shift"] * sample_rate))
    n_fft = p["n_fft"] or 1 << max(length - 1, 0).bit_length()
    high = sample_rate / 2.0 if p["high_freq"] is None else float(p["high_freq"])
    _check_params(p, length, shift, n_fft, high, sample_rate)
    if len(x) < length:
        raise InspectorError(
            f"the audio holds {len(x)} samples ({1000.0 * len(x) / sample_rate:.2f} ms at "
            f"{sample_rate:g} Hz), too short for one {1000 * p['frame_length']:g} ms frame of "
            f"{length} samples")
    count = 1 + (len(x) - length) // shift
    frames = np.lib.stride_tricks.sliding_window_view(x, length)[::shift][:count].copy()  # (T, L)
    if p["remove_dc"]:
        frames -= frames.mean(axis=1, keepdims=True)
    a = float(p["preemphasis"])
    if a:
        emphasised = np.empty_like(frames)
        emphasised[:, 1:] = frames[:, 1:] - a * frames[:, :-1]  # y[n] = x[n] - a x[n-1]
        emphasised[:, 0] = (1.0 - a) * frames[:, 0]  # y[0] = x[0] - a x[0]
        frames = emphasised
    frames *= window_function(p["window"], length)  # (T, L)
    power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2  # (T, n_fft/2 + 1)
    filters = mel_filterbank(p["num_mels"], n_fft, sample_rate, p["low_freq"], high)  # (M, K)
    log_mel = np.log(np.maximum(power @ filters.T, p["log_floor"]))  # (T, M)
    if feature == "logmel":
        return np.ascontiguousarray(log_mel, dtype=np.float32)
    ceps = log_mel @ dct_matrix(p["num_ceps"], p["num_mels"]).T  # (T, C)
    ceps *= lifter_weights(p["num_ceps"], p["lifter"])  # (T, C)
    return np.ascontiguousarray(ceps, dtype=np.float32)


def _check_params(p, length, shift, n_fft, high, sample_rate):
    """One sentence for the first impossible parameter value."""
    problems = [
        (length < 1, f"frame_length={p['frame_length']} s is under one sample at {sample_rate:g} Hz"),
        (shift < 1, f"frame_shift={p['frame_shift']} s is under one sample at {sample_rate:g} Hz"),
        (n_fft < length, f"n_fft={n_fft} is shorter than the frame ({length} samples)"),
        (int(p["num_mels"]) < 1, f"num_mels={p['num_mels']} must be at least 1"),
        ("num_ceps" in p and not 1 <= int(p.get("num_ceps", 1)) <= int(p["num_mels"]),
         f"num_ceps={p.get('num_ceps')} must lie between 1 and num_mels={p['num_mels']}"),
        (not 0 <= p["low_freq"] < high <= sample_rate / 2.0,
         f"the mel range {p['low_freq']}-{high} Hz must lie within 0-{sample_rate / 2:g} Hz "
         "and be increasing"),
        (not p["log_floor"] > 0, f"log_floor={p['log_floor']} must be positive"),
    ]
    for bad, sentence in problems:
        if bad:
            raise InspectorError(sentence)
