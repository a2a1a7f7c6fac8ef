"""Feature-file loaders: npy/npz/csv/HTK/Kaldi/wav written here or by other people, values checked.

Real files come from ../shared/realdata (see its README): HTK 3.4 HCopy output for Kaldi's test
wav, Kaldi arks from the AMI corpus, a Fortran-order npy, two wavs and a broken wav header.
"""
import os
import pickle
import struct
import wave

import numpy as np
import pytest

import lstm_inspector
from lstm_inspector.errors import InspectorError
from lstm_inspector.io import audio
from lstm_inspector.io.features import Features, check_features, load_features, read_wav, wav_features

# HTK parmKind codes, spelled out from the HTK Book (not imported from the reader under test)
MFCC, FBANK, USER, WAVEFORM, DISCRETE = 6, 7, 9, 0, 10
_E, _D, _A, _C, _K, _0 = 0o100, 0o400, 0o1000, 0o2000, 0o10000, 0o20000


def write_htk(path, data, kind, period=100000, order=">", crc=False):
    """An HTK file per the HTK Book 5.10.1; ``kind & _C`` writes HTK's int16 compression."""
    data = np.asarray(data, dtype=np.float32)
    frames, width = data.shape
    if crc:
        kind |= _K
    if kind & _C:
        top, bottom = data.max(axis=0), data.min(axis=0)
        scale = (2 * 32767 / (top - bottom)).astype(np.float32)  # A
        bias = ((top + bottom) * 32767 / (top - bottom)).astype(np.float32)  # B
        packed = np.round(data * scale - bias).astype(order + "i2")
        body = scale.astype(order + "f4").tobytes() + bias.astype(order + "f4").tobytes() + packed.tobytes()
        header = struct.pack(order + "iihH", frames + 4, period, 2 * width, kind)
    else:
        body = data.astype(order + "f4").tobytes()
        header = struct.pack(order + "iihH", frames, period, 4 * width, kind)
    path.write_bytes(header + body + (b"\x12\x34" if crc else b""))
    return path


def read_htk_by_hand(path):
    """A direct struct parse of an uncompressed big-endian HTK file: (header tuple, (T, d) data)."""
    raw = path.read_bytes()
    n, period, size, kind = struct.unpack(">iihh", raw[:12])
    return (n, period, size, kind), np.frombuffer(raw[12:12 + n * size], ">f4").reshape(n, size // 4)


def write_wav(path, samples, rate, width=2, channels=1):
    """A PCM wav through Python's wave module; ``samples`` (N,) or (N, channels) in [-1, 1]."""
    samples = np.asarray(samples, dtype=np.float64).reshape(len(samples), channels)
    if width == 1:
        ints = np.clip(np.round(samples * 128 + 128), 0, 255).astype(np.uint8)
    else:
        full = float(1 << (8 * width - 1))
        ints = np.clip(np.round(samples * full), -full, full - 1).astype(np.int64)
        if width == 3:
            little = ints.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
            ints = little
        else:
            ints = ints.astype("<i" + str(width))
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(width)
        handle.setframerate(rate)
        handle.writeframes(np.ascontiguousarray(ints).tobytes())
    return path


def refused(path_or_call, *words, **options):
    """Assert an InspectorError of one sentence holding every word; return the message."""
    with pytest.raises(InspectorError) as info:
        path_or_call() if callable(path_or_call) else load_features(path_or_call, **options)
    message = str(info.value)
    assert message.count(". ") == 0 and "\n" not in message, message
    for word in words:
        assert word in message, message
    return message


# ------------------------------------------------------------------------------------------ npy
@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
def test_npy_any_float_dtype_and_order_comes_back_as_c_float32(tmp_path, dtype, order):
    values = np.random.default_rng(1).normal(size=(17, 5)).astype(dtype)
    path = tmp_path / "x.npy"
    np.save(path, np.asarray(values, order=order))
    loaded = load_features(path)
    assert isinstance(loaded, Features) and loaded.kind == "npy"
    assert loaded.data.dtype == np.float32 and loaded.data.flags.c_contiguous
    assert (loaded.steps, loaded.width) == (17, 5) and loaded.frame_shift is None
    np.testing.assert_array_equal(loaded.data, values.astype(np.float32))
    assert any("converted from" in n for n in loaded.notes) == (dtype != np.float32)
    assert any("Fortran" in n for n in loaded.notes) == (order == "F")


def test_npy_batch_axis_one_dimension_and_integers(tmp_path):
    values = np.arange(24, dtype=np.float32).reshape(1, 8, 3)
    np.save(tmp_path / "b1.npy", values)
    loaded = load_features(tmp_path / "b1.npy")
    np.testing.assert_array_equal(loaded.data, values[0])
    assert any("batch axis" in n for n in loaded.notes)

    batch = np.arange(60, dtype=np.float32).reshape(3, 5, 4)
    np.save(tmp_path / "b3.npy", batch)
    refused(tmp_path / "b3.npy", "b3.npy", "3 sequences", "key")
    picked = load_features(tmp_path / "b3.npy", key=2)
    np.testing.assert_array_equal(picked.data, batch[2])
    assert picked.key == "2"
    refused(tmp_path / "b3.npy", "from 0 to 2", key=7)

    np.save(tmp_path / "one.npy", np.linspace(0, 1, 9))
    column = load_features(tmp_path / "one.npy")
    assert column.data.shape == (9, 1)
    np.testing.assert_allclose(column.data[:, 0], np.linspace(0, 1, 9), rtol=1e-7)
    assert any("1-D" in n for n in column.notes)

    np.save(tmp_path / "ints.npy", np.arange(6, dtype=np.int16).reshape(3, 2))
    assert load_features(tmp_path / "ints.npy").data.tolist() == [[0, 1], [2, 3], [4, 5]]

    np.save(tmp_path / "two.npy", np.zeros((4, 2), np.float32))
    refused(tmp_path / "two.npy", "key", key="x")
    np.save(tmp_path / "four.npy", np.zeros((2, 2, 2, 2), np.float32))
    refused(tmp_path / "four.npy", "four.npy", "(T, d)")


def test_realdata_fortran_order_npy_matches_numpy(realdata):
    path = realdata / "features" / "node-red-mfcc-fortran-order.npy"
    expected = np.load(path, allow_pickle=False)
    assert expected.dtype == np.float64 and expected.flags.f_contiguous and expected.shape == (51, 15)
    loaded = load_features(path)
    assert loaded.data.flags.c_contiguous and loaded.meta["fortran_order"] is True
    np.testing.assert_array_equal(loaded.data, expected.astype(np.float32))
    assert any("Fortran" in n for n in loaded.notes) and any("float64" in n for n in loaded.notes)


def test_pickled_and_corrupt_npy_are_refused(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    refused(tmp_path / "objects.npy", "objects.npy", "Python objects", "never unpickles")

    np.save(tmp_path / "good.npy", np.ones((50, 8), np.float32))
    raw = (tmp_path / "good.npy").read_bytes()
    (tmp_path / "short.npy").write_bytes(raw[:-100])
    refused(tmp_path / "short.npy", "short.npy", "truncated", "(50, 8)", "1500 bytes")
    (tmp_path / "header.npy").write_bytes(raw[:10] + b"garbage!" * 8 + raw[80:])
    refused(tmp_path / "header.npy", "header.npy")
    (tmp_path / "text.npy").write_text("1 2 3\n")
    refused(tmp_path / "text.npy", "text.npy", "NUMPY")


def test_npy_format_versions(tmp_path):
    values = np.arange(12.0).reshape(4, 3)
    for version in ((1, 0), (2, 0), (3, 0)):
        with open(tmp_path / "v.npy", "wb") as handle:
            np.lib.format.write_array(handle, values, version=version)
        np.testing.assert_array_equal(load_features(tmp_path / "v.npy").data, values)
    raw = (tmp_path / "v.npy").read_bytes()
    (tmp_path / "future.npy").write_bytes(raw[:6] + b"\x09\x00" + raw[8:])
    refused(tmp_path / "future.npy", "future.npy", "version 9.0")


# ------------------------------------------------------------------------------------------ npz
def test_npz_picks_arrays_by_key(tmp_path):
    a, b = np.ones((3, 2), np.float32), np.arange(8, dtype=np.float64).reshape(4, 2)
    np.savez(tmp_path / "many.npz", alpha=a, beta=b)
    message = refused(tmp_path / "many.npz", "many.npz", "'alpha'", "'beta'", "key")
    assert "2 arrays" in message
    loaded = load_features(tmp_path / "many.npz", key="beta")
    np.testing.assert_array_equal(loaded.data, b.astype(np.float32))
    assert (loaded.kind, loaded.key, loaded.meta["arrays"]) == ("npz", "beta", ["alpha", "beta"])
    refused(tmp_path / "many.npz", "gamma", "'alpha'", key="gamma")

    np.savez_compressed(tmp_path / "one.npz", feats=b)
    only = load_features(tmp_path / "one.npz")
    assert only.key == "feats"
    np.testing.assert_array_equal(only.data, b.astype(np.float32))

    np.savez(tmp_path / "pickled.npz", x=np.array([object()], dtype=object))
    refused(tmp_path / "pickled.npz", "Python objects", "never unpickles")
    np.savez(tmp_path / "empty.npz")
    refused(tmp_path / "empty.npz", "no arrays")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    refused(tmp_path / "broken.npz", "broken.npz")


# ------------------------------------------------------------------------------------ csv / txt
@pytest.mark.parametrize("name, text, header", [
    ("plain.csv", "0.5,1,2\n3,4,-5e-1\n", False),
    ("head.csv", "c0,c1,c2\n0.5,1,2\n3,4,-5e-1\n", True),
    ("spaces.txt", "# MFCC dump\n0.5  1 2\n\n3\t4   -5e-1\n", False),
    ("semi.csv", "a;b;c\n0,5;1;2\n3;4;-0,5\n", True),
    ("tabs.tsv", "0.5\t1\t2\n3\t4\t-0.5\n", False),
    ("noext", "0.5 1 2\n3 4 -0.5\n", False),
])
def test_text_tables(tmp_path, name, text, header):
    path = tmp_path / name
    path.write_text(text)
    loaded = load_features(path)
    np.testing.assert_array_equal(loaded.data, np.array([[0.5, 1, 2], [3, 4, -0.5]], np.float32))
    assert any("header" in n for n in loaded.notes) == header


def test_bad_text_tables(tmp_path):
    (tmp_path / "ragged.csv").write_text("1,2,3\n4,5\n")
    refused(tmp_path / "ragged.csv", "ragged.csv", "2 values", "first has 3")
    (tmp_path / "word.csv").write_text("1,2\n3,oops\n")
    refused(tmp_path / "word.csv", "word.csv", "line 2", "oops")
    (tmp_path / "comments.txt").write_text("# nothing\n\n")
    refused(tmp_path / "comments.txt", "comments.txt", "no numbers")
    (tmp_path / "header-only.csv").write_text("a,b\n")
    refused(tmp_path / "header-only.csv", "no numbers")


# ------------------------------------------------------------------------------------------ HTK
@pytest.mark.parametrize("order", [">", "<"])
@pytest.mark.parametrize("kind, name", [(MFCC | _E | _D | _A, "MFCC_E_D_A"), (FBANK, "FBANK"),
                                        (USER | _0, "USER_0")])
def test_htk_written_here_reads_back(tmp_path, kind, name, order):
    values = np.random.default_rng(2).normal(size=(11, 6)).astype(np.float32) * 10
    path = write_htk(tmp_path / "utt.feat", values, kind, period=80000, order=order)
    loaded = load_features(path)
    np.testing.assert_array_equal(loaded.data, values)
    assert loaded.kind == f"htk {name}" and loaded.meta["parm_kind"] == kind
    assert loaded.frame_shift == pytest.approx(0.008) and loaded.meta["samp_size"] == 24
    assert any("little-endian" in n for n in loaded.notes) == (order == "<")


def test_htk_compressed_follows_the_formula_and_crc_is_skipped(tmp_path):
    values = np.random.default_rng(3).uniform(-30, 30, size=(40, 5)).astype(np.float32)
    path = write_htk(tmp_path / "comp.mfc", values, MFCC | _C | _0, crc=True)
    loaded = load_features(path)
    assert loaded.kind == "htk MFCC_C_K_0" and loaded.steps == 40 and loaded.width == 5
    raw = path.read_bytes()
    scale = np.frombuffer(raw, ">f4", 5, 12)
    bias = np.frombuffer(raw, ">f4", 5, 32)
    packed = np.frombuffer(raw, ">i2", 200, 52).reshape(40, 5)
    np.testing.assert_allclose(loaded.data, (packed + bias) / scale, rtol=1e-6)
    np.testing.assert_allclose(loaded.data, values, atol=float(np.max(1 / scale)))  # one int16 step
    assert loaded.meta["compressed"] and loaded.meta["crc"]


def test_realdata_htk_files_match_a_direct_parse(realdata):
    cases = {"kaldi-test.wav.fea_htk.1": ("MFCC_D_A_0", 39), "kaldi-test.wav.fea_htk.5": ("MFCC_E_D_A", 39),
             "kaldi-test.wav.fbank_htk.1": ("FBANK", 23)}
    for name, (kind, width) in cases.items():
        path = realdata / "features" / name
        header, expected = read_htk_by_hand(path)
        loaded = load_features(path)
        assert header[:3] == (142, 100000, 4 * width)
        assert loaded.kind == f"htk {kind}" and loaded.data.shape == (142, width)
        assert loaded.frame_shift == pytest.approx(0.01) and loaded.meta["byte_order"] == "big"
        np.testing.assert_array_equal(loaded.data, expected)
    # _D_A columns really are deltas of the statics: HTK's regression over +-2 frames, in the middle
    mfcc = load_features(realdata / "features" / "kaldi-test.wav.fea_htk.1").data
    statics, deltas = mfcc[:, :13], mfcc[:, 13:26]
    weights = np.array([-2, -1, 0, 1, 2]) / 10.0
    regression = sum(w * statics[2 + k:len(statics) - 2 + k] for k, w in zip(range(-2, 3), weights))
    np.testing.assert_allclose(deltas[2:-2], regression, atol=1e-4)


def test_truncated_and_odd_htk_files(tmp_path, realdata):
    raw = (realdata / "features" / "kaldi-test.wav.fea_htk.1").read_bytes()
    for name in ("cut.htk", "cut.fea_htk.1", "cut.bin"):
        (tmp_path / name).write_bytes(raw[:5000])
        refused(tmp_path / name, name, "truncated", "142 frames", "5000 bytes")
    (tmp_path / "longer.htk").write_bytes(raw + b"\x00" * 8)
    assert any("8 bytes" in n for n in load_features(tmp_path / "longer.htk").notes)
    write_htk(tmp_path / "vq.htk", np.zeros((3, 2)), DISCRETE)
    refused(tmp_path / "vq.htk", "vq.htk", "DISCRETE")
    (tmp_path / "nonsense.htk").write_bytes(b"\xff" * 40)
    refused(tmp_path / "nonsense.htk", "nonsense.htk", "HTK")


def test_htk_waveform_becomes_features_like_a_wav(tmp_path):
    rate = 8000
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(4000) / rate)
    ints = np.round(tone * 32768).astype(">i2")
    header = struct.pack(">iihH", len(ints), 10 ** 7 // rate, 2, WAVEFORM)
    (tmp_path / "tone.wave").write_bytes(header + ints.tobytes())
    loaded = load_features(tmp_path / "tone.wave", num_ceps=10)
    expected = wav_features(ints.astype(np.float64) / 32768, rate, num_ceps=10)
    np.testing.assert_array_equal(loaded.data, expected)
    assert loaded.kind == "wav mfcc" and loaded.frame_shift == 0.01


# ---------------------------------------------------------------------------------------- Kaldi
def _ark_offsets(path):
    """(utterance, byte offset) pairs, found with kaldiio's own token reader."""
    from kaldiio.matio import read_kaldi, read_token

    offsets = []
    with open(path, "rb") as handle:
        while (token := read_token(handle)) is not None:
            offsets.append((token, handle.tell()))
            read_kaldi(handle)
    return offsets


def test_realdata_kaldi_arks_plain_and_compressed(realdata):
    import kaldiio

    plain_path = realdata / "features" / "ami-mfcc13.ark"
    packed_path = realdata / "features" / "ami-mfcc13-compressed.ark"
    reference = dict(kaldiio.load_ark(str(plain_path)))
    assert len(reference) == 10
    first = load_features(plain_path)
    assert first.kind == "kaldi-ark" and first.key == next(iter(reference))
    assert any("first of its 10 utterances" in n for n in first.notes)
    for name, matrix in reference.items():
        plain = load_features(plain_path, key=name)
        packed = load_features(packed_path, key=name)
        np.testing.assert_array_equal(plain.data, matrix)
        assert packed.data.shape == matrix.shape == (matrix.shape[0], 13)
        assert packed.meta["kaldi_type"].startswith("CM") and any("quantised" in n for n in packed.notes)
        # Kaldi's CM format: per column, 8-bit codes over 3 pieces between the 0/25/75/100th
        # percentiles; no piece is coarser than (column range) / 63.
        spread = matrix.max(axis=0) - matrix.min(axis=0)
        error = np.abs(packed.data - matrix)
        assert np.all(error <= spread / 63 + 1e-5)
        assert 0 < error.max() and np.corrcoef(packed.data.ravel(), matrix.ravel())[0, 1] > 0.999
    refused(plain_path, "no utterance", "'nope'", key="nope")


def test_kaldi_scp_and_offsets(tmp_path, realdata):
    ark = realdata / "features" / "ami-mfcc13.ark"
    offsets = _ark_offsets(ark)
    relative = os.path.relpath(ark, tmp_path)
    lines = [f"{name} {ark}:{offset}" if i % 2 else f"{name} {relative}:{offset}"
             for i, (name, offset) in enumerate(offsets)]
    (tmp_path / "feats.scp").write_text("\n".join(lines) + "\n")
    import kaldiio

    reference = dict(kaldiio.load_ark(str(ark)))
    for name, _ in offsets[:4]:
        loaded = load_features(tmp_path / "feats.scp", key=name)
        assert loaded.kind == "kaldi-scp" and loaded.key == name
        np.testing.assert_array_equal(loaded.data, reference[name])
    assert any("10 utterances" in n for n in load_features(tmp_path / "feats.scp").notes)

    name, offset = offsets[5]
    direct = load_features(f"{ark}:{offset}")
    np.testing.assert_array_equal(direct.data, reference[name])
    ranged = load_features(f"{ark}:{offset}[2:6,0:3]")
    np.testing.assert_array_equal(ranged.data, reference[name][2:7, 0:4])

    (tmp_path / "missing.scp").write_text("u1 /nowhere/feats.ark:12\n")
    refused(tmp_path / "missing.scp", "'u1'", "does not exist")
    (tmp_path / "bad.scp").write_text("lonely\n")
    refused(tmp_path / "bad.scp", "bad.scp", "line 1")


def test_kaldi_text_ark_and_corruption(tmp_path):
    (tmp_path / "text.ark").write_text("utt1  [\n 1 2 3\n 4 5 6 ]\nutt2  [\n 7 8 9 ]\n")
    loaded = load_features(tmp_path / "text.ark", key="utt2")
    np.testing.assert_array_equal(loaded.data, [[7, 8, 9]])
    assert loaded.meta["utterances"] == ["utt1", "utt2"]

    import kaldiio

    kaldiio.save_ark(str(tmp_path / "two.ark"), {"a": np.ones((20, 4), np.float32),
                                                 "b": np.zeros((30, 4), np.float32)})
    raw = (tmp_path / "two.ark").read_bytes()
    (tmp_path / "cut.ark").write_bytes(raw[:-60])
    refused(tmp_path / "cut.ark", "cut.ark", "'b'", "truncated")


def test_kaldi_wav_entries_become_features(tmp_path):
    import kaldiio

    samples = np.round(np.sin(np.arange(8000) * 0.3) * 8000).astype(np.int16)
    kaldiio.save_ark(str(tmp_path / "wav.ark"), {"u1": (8000, samples), "u2": (8000, samples[:4000])},
                     scp=str(tmp_path / "wav.scp"))
    second = load_features(tmp_path / "wav.ark", key="u2", num_ceps=12)
    assert second.kind == "wav mfcc" and second.key == "u2" and second.frame_shift == 0.01
    np.testing.assert_array_equal(second.data, wav_features(samples[:4000] / 32768.0, 8000, num_ceps=12))
    first = load_features(tmp_path / "wav.scp")
    assert first.key == "u1" and first.data.shape == (98, 13)
    assert any("first of its 2 utterances" in n for n in first.notes)


class _Tripwire:
    """Unpickling this creates a file: proof that a loader unpickled something."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_kaldi_never_runs_pipes_or_unpickles(tmp_path):
    flag = tmp_path / "ran"
    (tmp_path / "pipe.scp").write_text(f"u1 touch {flag} |\n")
    refused(tmp_path / "pipe.scp", "'u1'", "shell pipe", "never runs commands")
    (tmp_path / "pickle.ark").write_bytes(b"u1 PKL" + pickle.dumps(_Tripwire(flag)))
    refused(tmp_path / "pickle.ark", "'u1'", "pickled", "never unpickles")
    assert not flag.exists()


# ------------------------------------------------------------------------------------------ wav
def test_realdata_wavs_frame_count_and_finite(realdata):
    for name, rate, samples in (("kaldi-test.wav", 16000, 23001), ("psf-english.wav", 8000, 34122)):
        path = realdata / "audio" / name
        with wave.open(str(path)) as handle:
            reference = np.frombuffer(handle.readframes(handle.getnframes()), "<i2") / 32768.0
        signal, got_rate = read_wav(path)
        assert got_rate == rate and signal.dtype == np.float64 and len(signal) == samples
        np.testing.assert_array_equal(signal, reference)
        loaded = load_features(path)
        frames = 1 + (samples - round(0.025 * rate)) // round(0.010 * rate)
        assert loaded.data.shape == (frames, 13) and np.isfinite(loaded.data).all()
        assert loaded.kind == "wav mfcc" and loaded.frame_shift == 0.01 and loaded.key is None
        assert loaded.meta["n_fft"] == (512 if rate == 16000 else 256)
        logmel = load_features(path, feature="logmel")
        assert logmel.data.shape == (frames, 40) and logmel.kind == "wav logmel"
    assert frames == 425


def test_wav_mfcc_and_fbank_agree_with_htk_hcopy(realdata):
    """hcopy1.conf: no pre-emphasis, power spectrum, Hamming, 23 channels to 8 kHz, 12 ceps + c0,
    lifter 22. HTK works on raw int16 values, so its log energies are ours + 2 ln 32768, and its
    c0 uses sqrt(2/M) where the orthonormal DCT uses sqrt(1/M)."""
    signal, rate = read_wav(realdata / "audio" / "kaldi-test.wav")
    htk_mfcc = load_features(realdata / "features" / "kaldi-test.wav.fea_htk.1").data
    ours = wav_features(signal, rate, "mfcc", num_mels=23, num_ceps=13, preemphasis=0.0,
                        remove_dc=False, lifter=22)
    assert ours.shape == (142, 13)
    np.testing.assert_allclose(ours[:, 1:], htk_mfcc[:, :12], atol=2e-3, rtol=1e-4)
    offset = 2 * np.log(32768.0)
    c0 = np.sqrt(2.0) * (ours[:, 0] + np.sqrt(23.0) * offset)
    np.testing.assert_allclose(c0, htk_mfcc[:, 12], rtol=1e-5)

    htk_fbank = load_features(realdata / "features" / "kaldi-test.wav.fbank_htk.1").data
    logmel = wav_features(signal, rate, "logmel", num_mels=23, preemphasis=0.0, remove_dc=False)
    np.testing.assert_allclose(logmel + offset, htk_fbank, atol=1e-3)


def test_broken_wav_header_is_refused(realdata):
    path = realdata / "audio" / "kaldiio-incorrect_header.wav"
    refused(path, "kaldiio-incorrect_header.wav", "too short", "header claims")


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_read_wav_pcm_widths_and_channels(tmp_path, width):
    rate = 11025
    t = np.arange(2000) / rate
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 300 * t), -0.25 * np.ones_like(t)], axis=1)
    path = write_wav(tmp_path / "s.wav", stereo, rate, width=width, channels=2)
    signal, got = read_wav(path)
    step = 1.0 / (1 << (8 * width - 1))
    assert got == rate and signal.shape == (2000,)
    np.testing.assert_allclose(signal, stereo.mean(axis=1), atol=step)
    loaded = load_features(path)
    assert any("averaged its 2 channels" in n for n in loaded.notes)
    assert loaded.meta["bits_per_sample"] == 8 * width


def test_read_wav_float_and_extensible(tmp_path):
    scipy_io = pytest.importorskip("scipy.io.wavfile")
    values = np.sin(np.linspace(0, 20, 1600)).astype(np.float32) * 0.8
    scipy_io.write(tmp_path / "float.wav", 16000, values)
    signal, rate = read_wav(tmp_path / "float.wav")
    assert rate == 16000
    np.testing.assert_array_equal(signal, values.astype(np.float64))
    # WAVE_FORMAT_EXTENSIBLE with a PCM sub-format, 16-bit mono, plus a LIST chunk to skip
    ints = np.round(values * 32767).astype("<i2")
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 1, 8000, 16000, 2, 16, 22, 16, 4) + \
        struct.pack("<H", 1) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", 3) + b"abc\x00"
    chunks += b"data" + struct.pack("<I", ints.nbytes) + ints.tobytes()
    (tmp_path / "ext.wav").write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
    signal, rate = read_wav(tmp_path / "ext.wav")
    assert rate == 8000
    np.testing.assert_array_equal(signal, ints / 32768.0)


def test_bad_wavs(tmp_path):
    (tmp_path / "fake.wav").write_bytes(b"not a wave file at all")
    refused(tmp_path / "fake.wav", "fake.wav", "RIFF")
    header = b"RIFF" + struct.pack("<I", 36) + b"WAVE"
    alaw = struct.pack("<HHIIHH", 6, 1, 8000, 8000, 1, 8)
    (tmp_path / "alaw.wav").write_bytes(header + b"fmt " + struct.pack("<I", 16) + alaw +
                                        b"data" + struct.pack("<I", 4) + b"\x01\x02\x03\x04")
    refused(tmp_path / "alaw.wav", "alaw.wav", "A-law", "convert")
    (tmp_path / "nodata.wav").write_bytes(header + b"fmt " + struct.pack("<I", 16) +
                                          struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16))
    refused(tmp_path / "nodata.wav", "nodata.wav", "'data'")
    write_wav(tmp_path / "short.wav", np.zeros(100), 16000)
    refused(tmp_path / "short.wav", "short.wav", "100 samples", "too short")
    write_wav(tmp_path / "ok.wav", np.zeros(1000), 16000)
    refused(tmp_path / "ok.wav", "ok.wav", "key", key="a")
    refused(lambda: load_features(tmp_path / "ok.wav", feature="spectrogram"), "mfcc or logmel")
    refused(lambda: load_features(tmp_path / "ok.wav", num_cepstra=3), "num_cepstra", "num_ceps")


# ----------------------------------------------------------------------------- the wav pipeline
def test_framing_and_determinism():
    signal = np.random.default_rng(4).normal(size=16000 + 123) * 0.1
    for rate, length, shift in ((16000, 0.025, 0.010), (8000, 0.032, 0.016)):
        feats = wav_features(signal, rate, frame_length=length, frame_shift=shift)
        size, step = round(length * rate), round(shift * rate)
        assert len(feats) == 1 + (len(signal) - size) // step == audio.frame_count(len(signal), rate, length, shift)
        assert feats.dtype == np.float32 and feats.flags.c_contiguous
        np.testing.assert_array_equal(feats, wav_features(signal.copy(), rate, frame_length=length,
                                                          frame_shift=shift))
    assert audio.frame_count(399, 16000) == 0 and audio.frame_count(400, 16000) == 1


def test_one_frame_recomputed_step_by_step():
    """Pre-emphasis per frame (y0 = (1 - a) x0), DC removal, Hamming, 512-point power spectrum, mel."""
    rate, a = 16000, 0.97
    frame = np.random.default_rng(6).normal(size=400) * 0.2 + 0.05  # exactly one 25 ms frame
    centred = frame - frame.mean()
    emphasised = np.concatenate([[(1 - a) * centred[0]], centred[1:] - a * centred[:-1]])
    windowed = emphasised * (0.54 - 0.46 * np.cos(2 * np.pi * np.arange(400) / 399))
    power = np.abs(np.fft.rfft(windowed, 512)) ** 2
    expected = np.log(audio.mel_filterbank(40, 512, rate) @ power)
    got = wav_features(frame, rate, "logmel", preemphasis=a)
    assert got.shape == (1, 40)
    np.testing.assert_allclose(got[0], expected, rtol=1e-5)
    plain = wav_features(frame, rate, "logmel", preemphasis=0.0, remove_dc=False)
    raw_power = np.abs(np.fft.rfft(frame * np.hamming(400), 512)) ** 2
    np.testing.assert_allclose(plain[0], np.log(audio.mel_filterbank(40, 512, rate) @ raw_power), rtol=1e-5)


def test_dct_is_orthonormal_and_matches_scipy():
    basis = audio.dct_matrix(26, 26)
    np.testing.assert_allclose(basis @ basis.T, np.eye(26), atol=1e-12)
    scipy_fft = pytest.importorskip("scipy.fft")
    logs = np.random.default_rng(5).normal(size=(7, 26))
    np.testing.assert_allclose(logs @ audio.dct_matrix(13, 26).T,
                               scipy_fft.dct(logs, type=2, norm="ortho", axis=1)[:, :13], atol=1e-12)
    assert audio.lifter_weights(13, 22)[0] == 1.0
    np.testing.assert_allclose(audio.lifter_weights(13, 22)[11], 1 + 11 * np.sin(np.pi / 2))
    np.testing.assert_array_equal(audio.lifter_weights(5, 0), np.ones(5))


def test_mel_filterbank_partitions_unity_between_first_and_last_centre():
    rate, n_fft, mels = 16000, 512, 26
    bank = audio.mel_filterbank(mels, n_fft, rate)
    assert bank.shape == (mels, n_fft // 2 + 1) and bank.min() >= 0 and bank.max() <= 1
    edges = np.linspace(0, audio.hz_to_mel(rate / 2), mels + 2)
    bins = audio.hz_to_mel(np.arange(n_fft // 2 + 1) * rate / n_fft)
    inside = (bins >= edges[1]) & (bins <= edges[-2])
    np.testing.assert_allclose(bank[:, inside].sum(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(audio.mel_to_hz(audio.hz_to_mel([0, 700, 4000])), [0, 700, 4000])
    assert audio.hz_to_mel(700) == pytest.approx(1127 * np.log(2))


def test_pure_tone_energy_lands_in_the_right_mel_band():
    rate = 16000
    centres = audio.mel_to_hz(np.linspace(0, audio.hz_to_mel(rate / 2), 42)[1:-1])  # 40 bands
    spacing = np.max(np.diff(centres))
    bands = []
    for frequency in (440.0, 1500.0, 5000.0):
        tone = 0.5 * np.sin(2 * np.pi * frequency * np.arange(rate) / rate)
        logmel = wav_features(tone, rate, "logmel")
        loudest = np.argmax(logmel, axis=1)
        assert np.all(loudest == loudest[0]) and abs(centres[loudest[0]] - frequency) <= spacing
        # the MFCC carries the same picture: the orthonormal DCT inverts exactly (no lifter)
        ceps = wav_features(tone, rate, "mfcc", num_mels=40, num_ceps=40, lifter=0)
        restored = ceps.astype(np.float64) @ audio.dct_matrix(40, 40)
        np.testing.assert_allclose(restored, logmel, atol=1e-3)
        bands.append(loudest[0])
    assert bands[0] < bands[1] < bands[2]


def test_wav_feature_parameters_are_checked():
    signal = np.zeros(4000)
    refused(lambda: wav_features(signal, 16000, "mfcc", num_ceps=40), "num_ceps=40")
    refused(lambda: wav_features(signal, 16000, "logmel", lifter=22), "lifter")
    refused(lambda: wav_features(signal, 16000, high_freq=9000), "9000")
    refused(lambda: wav_features(signal, 16000, n_fft=128), "n_fft=128")
    refused(lambda: wav_features(signal, 16000, window="kaiser"), "kaiser")
    refused(lambda: wav_features(np.zeros((10, 2)), 16000), "1-D")
    refused(lambda: wav_features(np.zeros(100), 16000), "100 samples", "too short")
    silence = wav_features(signal, 16000, "logmel")
    assert np.all(silence == np.float32(np.log(np.finfo(np.float64).eps)))


# ---------------------------------------------------------------------------- general refusals
def test_missing_empty_folder_unknown(tmp_path):
    refused(tmp_path / "absent.npy", "absent.npy", "does not exist")
    (tmp_path / "empty.csv").write_bytes(b"")
    refused(tmp_path / "empty.csv", "empty.csv", "empty")
    refused(tmp_path, "folder")
    (tmp_path / "blob.xyz").write_bytes(bytes(range(256)) * 4)
    refused(tmp_path / "blob.xyz", "blob.xyz", "recognises")
    np.save(tmp_path / "x.npy", np.ones((3, 2), np.float32))
    refused(lambda: load_features(tmp_path / "x.npy", num_ceps=13), "x.npy", "num_ceps")


def test_nan_is_loaded_but_check_features_refuses_it(tmp_path):
    values = np.ones((6, 4), np.float32)
    values[3, 2], values[4, 0], values[5, 1] = np.nan, np.inf, np.nan
    np.save(tmp_path / "holes.npy", values)
    loaded = load_features(tmp_path / "holes.npy")  # loading keeps them, with a note
    assert np.isnan(loaded.data[3, 2]) and any("3 NaN or infinite" in n for n in loaded.notes)
    message = refused(lambda: check_features(loaded, input_size=4), "holes.npy", "2 NaN", "1 infinite",
                      "frame 3, column 2")
    assert "counting from 0" in message
    refused(lambda: check_features(values), "the feature array", "frame 3")


def test_check_features_shape_width_and_empty():
    check_features(np.zeros((5, 40), np.float32), input_size=40)  # fine: no exception
    message = refused(lambda: check_features(np.zeros((5, 13)), input_size=40))
    assert message == "the feature array has 13 columns but the model's first layer expects 40 inputs"
    refused(lambda: check_features(np.zeros((0, 13))), "no frames")
    refused(lambda: check_features(np.zeros((4, 0))), "0 values")
    refused(lambda: check_features(np.zeros((2, 3, 4))), "(2, 3, 4)", "(T, d)")
    feats = Features(np.zeros((3, 1), np.float32), None, "/x/forum.csv", None, "csv")
    refused(lambda: check_features(feats, input_size=2), "forum.csv", "1 column but", "2 inputs")


def test_public_api_wrapper_reaches_the_loader(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    assert lstm_inspector.load_features(tmp_path / "x.npy").data.shape == (3, 2)
