"""Hostile and damaged files made from the shipped ones in resources/ (issue 24's mutant kinds).

Each builder takes a folder and returns the path of one mutant. ``MODEL_MUTANTS`` are model
files (run with a good feature file), ``FEATURE_MUTANTS`` feature files (run with the demo
model). Every one of them must be answered with one sentence naming the file (InspectorError,
CLI exit 2); ``ACCEPTED_MODEL_MUTANTS`` load, with a note.
"""
from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESOURCES = REPO / "resources"
DEMO_MODEL = RESOURCES / "demo_digits_cudnnlstm.h5"
DEMO_NPY = RESOURCES / "demo_seven.npy"
DEMO_HTK = RESOURCES / "demo_seven.htk"
DEMO_WAV = RESOURCES / "demo_seven.wav"
KERNEL = "model_weights/lstm_1/lstm_1/kernel:0"
BIAS = "model_weights/lstm_1/lstm_1/bias:0"


# ---- helpers ----------------------------------------------------------------------------------
def _copy(source: Path, folder: Path, name: str) -> Path:
    target = Path(folder) / name
    shutil.copyfile(source, target)
    return target


def _edit_h5(folder, name, edit) -> Path:
    """The demo model copied to ``name``, then ``edit(h5py.File)`` applied in place."""
    import h5py

    path = _copy(DEMO_MODEL, folder, name)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _set_config_text(text: str):
    def edit(f):
        f.attrs["model_config"] = text
    return edit


def _edit_config(change):
    """Edit the demo model's JSON config with ``change(config dict)``."""
    def edit(f):
        config = json.loads(f.attrs["model_config"])
        change(config)
        f.attrs["model_config"] = json.dumps(config)
    return edit


def _layer(config, name):
    return next(entry for entry in config["config"]["layers"] if entry["name"] == name)


def _replace_dataset(path, make):
    def edit(f):
        old = f[path][()]
        del f[path]
        make(f, path, old)
    return edit


def _new_values(values):
    return _replace_dataset(KERNEL, lambda f, path, old: f.create_dataset(path, data=values(old)))


def demo_config() -> dict:
    import h5py

    with h5py.File(DEMO_MODEL, "r") as f:
        return json.loads(f.attrs["model_config"])


# ---- npy --------------------------------------------------------------------------------------
def _npy_header_edit(folder, name, change) -> Path:
    raw = bytearray(DEMO_NPY.read_bytes())
    (Path(folder) / name).write_bytes(bytes(change(raw)))
    return Path(folder) / name


def npy_no_closing_brace(folder):
    return _npy_header_edit(folder, "no_brace.npy",
                            lambda raw: raw.replace(b", }", b",  ", 1))


def npy_header_length_1(folder):
    def change(raw):
        raw[8:10] = struct.pack("<H", 1)
        return raw
    return _npy_header_edit(folder, "header_len_1.npy", change)


def npy_shape_bool(folder):
    return _npy_header_edit(folder, "shape_bool.npy",
                            lambda raw: raw.replace(b"(118, 13), ", b"(118, True),", 1))


# ---- Kaldi ------------------------------------------------------------------------------------
def write_ark(folder, name="feats.ark", key="utt1") -> Path:
    """A real binary Kaldi ark (kaldiio's writer) holding the demo features under ``key``."""
    from kaldiio import save_ark

    path = Path(folder) / name
    save_ark(str(path), {key: np.load(DEMO_NPY)})
    return path


def scp_huge_offset(folder):
    write_ark(folder)
    path = Path(folder) / "huge_offset.scp"
    path.write_text(f"utt1 {Path(folder) / 'feats.ark'}:99999999999999999999999\n")
    return path


def scp_long_path(folder):
    path = Path(folder) / "long_path.scp"
    path.write_text("utt1 " + "a" * 100_000 + ".ark:0\n")
    return path


def ark_key_with_newline(folder):
    """An ark whose one utterance id holds a newline and whose matrix is cut short."""
    path = write_ark(folder, "newline_key.ark", key="first")
    raw = path.read_bytes()
    path.write_bytes((b"fir\nst" + raw[len(b"first"):])[:200])
    return path


# ---- wav --------------------------------------------------------------------------------------
def _wav_fmt_edit(folder, name, **fields) -> Path:
    raw = bytearray(DEMO_WAV.read_bytes())
    offsets = dict(channels=(22, "<H"), rate=(24, "<I"), byte_rate=(28, "<I"),
                   block_align=(32, "<H"), bits=(34, "<H"))
    for field_name, value in fields.items():
        offset, fmt = offsets[field_name]
        raw[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    (Path(folder) / name).write_bytes(bytes(raw))
    return Path(folder) / name


def wav_1_hz(folder):
    return _wav_fmt_edit(folder, "one_hertz.wav", rate=1, byte_rate=2)


def wav_24_bits_block_2(folder):
    return _wav_fmt_edit(folder, "bits24_block2.wav", bits=24)


def wav_32_bits_block_2(folder):
    return _wav_fmt_edit(folder, "bits32_block2.wav", bits=32)


# ---- HDF5 model -------------------------------------------------------------------------------
def _config_text(name, text):
    return lambda folder: _edit_h5(folder, f"{name}.h5", _set_config_text(text))


def config_integer_attribute(folder):
    def edit(f):
        f.attrs["model_config"] = np.int64(42)
    return _edit_h5(folder, "config_int_attr.h5", edit)


def config_layers_5(folder):
    return _edit_h5(folder, "layers_5.h5", _edit_config(
        lambda c: c["config"].__setitem__("layers", 5)))


def config_deep(folder):
    depth = 100_000
    return _edit_h5(folder, "deep.h5", _set_config_text("[" * depth + "]" * depth))


def units_list(folder):
    return _edit_h5(folder, "units_list.h5", _edit_config(
        lambda c: _layer(c, "lstm_1")["config"].__setitem__("units", [48])))


def class_name(value, name):
    return lambda folder: _edit_h5(folder, name, _edit_config(
        lambda c: _layer(c, "lstm_1").__setitem__("class_name", value)))


def bidirectional_layer_string(folder):
    def change(config):
        entry = _layer(config, "lstm_1")
        entry["config"] = {"name": "lstm_1", "layer": "LSTM", "merge_mode": "concat"}
        entry["class_name"] = "Bidirectional"
    return _edit_h5(folder, "bidi_string.h5", _edit_config(change))


def masking_value_x(folder):
    def change(config):
        layers = config["config"]["layers"]
        layers.insert(1, {"class_name": "Masking", "name": "masking",
                          "config": {"name": "masking", "mask_value": "x"},
                          "inbound_nodes": [[["mfcc", 0, 0, {}]]]})
        _layer(config, "lstm_1")["inbound_nodes"] = [[["masking", 0, 0, {}]]]
    return _edit_h5(folder, "masking_x.h5", _edit_config(change))


def external_link(folder):
    import h5py

    return _edit_h5(folder, "external_link.h5", _replace_dataset(
        KERNEL, lambda f, path, old: f.__setitem__(path, h5py.ExternalLink("/etc/passwd", "/x"))))


def soft_link_to_itself(folder):
    import h5py

    return _edit_h5(folder, "self_link.h5", _replace_dataset(
        KERNEL, lambda f, path, old: f.__setitem__(path, h5py.SoftLink("/" + path))))


def dangling_soft_link(folder):
    import h5py

    return _edit_h5(folder, "dangling_link.h5", _replace_dataset(
        KERNEL, lambda f, path, old: f.__setitem__(path, h5py.SoftLink("/nowhere/at/all"))))


def keras_version_not_utf8(folder):
    def edit(f):
        f.attrs["keras_version"] = np.bytes_(b"\xff\xfe2.\x80")
    return _edit_h5(folder, "version_bytes.h5", edit)


def nan_kernel(folder):
    def values(old):
        old = old.copy()
        old[0, 0] = np.nan
        return old
    return _edit_h5(folder, "nan_kernel.h5", _new_values(values))


def inf_kernel(folder):
    return _edit_h5(folder, "inf_kernel.h5", _new_values(lambda old: np.full_like(old, np.inf)))


def bias_383(folder):
    return _edit_h5(folder, "bias_383.h5", _replace_dataset(
        BIAS, lambda f, path, old: f.create_dataset(path, data=old[:383])))


def no_layers(folder):
    return _edit_h5(folder, "no_layers.h5", _set_config_text(
        json.dumps({"class_name": "Functional", "config": {"name": "m"}})))


def int_kernel(dtype):
    def build(folder):
        return _edit_h5(folder, f"kernel_{np.dtype(dtype).name}.h5",
                        _new_values(lambda old: np.round(old * 4).astype(dtype)))
    return build


def byte_flips(offsets, name):
    """The demo model with the bytes at ``offsets`` inverted (HDF5 structure, not data)."""
    def build(folder):
        raw = bytearray(DEMO_MODEL.read_bytes())
        for offset in offsets:
            raw[offset] ^= 0xFF
        path = Path(folder) / name
        path.write_bytes(bytes(raw))
        return path
    return build


def global_heap_size_0(folder):
    """The forum model (its attributes are variable-length strings, kept in a global heap)
    with the heap's first object turned into free space of size 0: the HDF5 library's walk
    over the heap would never advance (found by the fuzz test; it hung the tool)."""
    raw = bytearray((RESOURCES / "forum_cudnnlstm_in1_h2.h5").read_bytes())
    first = raw.find(b"GCOL") + 16  # signature, version, 3 reserved, 8-byte collection size
    raw[first:first + 2] = b"\0\0"  # object index 0: free space
    raw[first + 8:first + 16] = bytes(8)  # of size 0
    path = Path(folder) / "heap_size_0.h5"
    path.write_bytes(bytes(raw))
    return path


MODEL_MUTANTS = {
    "config null": _config_text("config_null", "null"),
    "config []": _config_text("config_list", "[]"),
    "config 42": _config_text("config_42", "42"),
    "config string": _config_text("config_string", '"a string"'),
    "config NaN": _config_text("config_nan", "NaN"),
    "config integer attribute": config_integer_attribute,
    "config.layers = 5": config_layers_5,
    "config nested 100,000 deep": config_deep,
    "units = [48]": units_list,
    "class_name null": class_name(None, "class_null.h5"),
    "class_name 5": class_name(5, "class_5.h5"),
    "Bidirectional layer = 'LSTM'": bidirectional_layer_string,
    "Masking mask_value 'x'": masking_value_x,
    "external link to /etc/passwd": external_link,
    "soft link to itself": soft_link_to_itself,
    "dangling soft link": dangling_soft_link,
    "keras_version not UTF-8": keras_version_not_utf8,
    "NaN in a kernel": nan_kernel,
    "all-Inf kernel": inf_kernel,
    "bias of 383 values": bias_383,
    "config lists no layers": no_layers,
    "global heap object of size 0": global_heap_size_0,
}

FEATURE_MUTANTS = {
    "npy header without '}'": npy_no_closing_brace,
    "npy header length 1": npy_header_length_1,
    "npy shape (118, True)": npy_shape_bool,
    "scp offset 99999999999999999999999": scp_huge_offset,
    "scp path of 100 kB": scp_long_path,
    "ark key with a newline": ark_key_with_newline,
    "wav at 1 Hz": wav_1_hz,
    "wav 24 bits, block align 2": wav_24_bits_block_2,
    "wav 32 bits, block align 2": wav_32_bits_block_2,
}

ACCEPTED_MODEL_MUTANTS = {
    "int32 kernel": int_kernel(np.int32),
    "int8 kernel": int_kernel(np.int8),
}


def one_line_naming(message: str, path) -> bool:
    """True when ``message`` is one line that names ``path`` (its base name at least)."""
    return "\n" not in message and "\r" not in message and Path(path).name in message


def safe_id(name: str) -> str:
    return re.sub(r"\W+", "_", name).strip("_")
