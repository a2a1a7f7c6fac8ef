"""safetensors files read with json and NumPy alone (no safetensors package, no code run).

The format (https://github.com/huggingface/safetensors)::

    bytes 0..8      N, the header's length, unsigned 64-bit little-endian
    bytes 8..8+N    a JSON object: {name: {"dtype": "F32", "shape": [4H, in],
                    "data_offsets": [begin, end]}, ..., "__metadata__": {...} (optional)}
    bytes 8+N..     the buffer; a tensor is buffer[begin:end], row-major, little-endian

Every entry is checked before anything is read: offsets inside the buffer, ``end - begin`` equal
to ``prod(shape) * itemsize``, and the buffer as long as the file says.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from ..errors import InspectorError

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
          "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}
MAX_HEADER = 100 * 2 ** 20  # the reference implementation refuses larger headers too


def looks_like_safetensors(path: Path, head: bytes, size: int) -> bool:
    """Whether ``head`` (the file's first 9 bytes or more) starts a safetensors file."""
    if len(head) < 9:
        return False
    length = struct.unpack("<Q", head[:8])[0]
    return 2 <= length <= min(MAX_HEADER, size - 8) and head[8:9] == b"{"


def read_header(path) -> dict:
    """``{name: (dtype, shape, begin, end)}`` with offsets from the file's start, all checked."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            raw = handle.read(8)
            length = struct.unpack("<Q", raw)[0] if len(raw) == 8 else -1
            if not 2 <= length <= min(MAX_HEADER, size - 8):
                raise InspectorError(f"{path.name} is not a safetensors file (its first 8 bytes "
                                     f"give a header length of {length}, the file has {size})")
            header = json.loads(handle.read(length).decode("utf-8"))
    except OSError as exc:
        raise InspectorError(f"safetensors file {path} cannot be read "
                             f"({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InspectorError(f"{path.name} has a damaged safetensors header ({exc})") from None
    if not isinstance(header, dict):
        raise InspectorError(f"{path.name}'s safetensors header is not a JSON object")
    start, buffer = 8 + length, size - 8 - length
    entries = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        entries[name] = _checked(path.name, name, entry, start, buffer)
    return entries


def _checked(file: str, name: str, entry, start: int, buffer: int) -> tuple:
    try:
        dtype, shape = entry["dtype"], [int(d) for d in entry["shape"]]
        begin, end = (int(v) for v in entry["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise InspectorError(f"{file}: tensor '{name}' lacks dtype, shape or data_offsets "
                             f"in the safetensors header") from None
    if dtype not in DTYPES:
        raise InspectorError(f"{file}: tensor '{name}' has dtype {dtype}, which the tool does "
                             f"not read (known: {', '.join(DTYPES)})")
    itemsize = 2 if dtype == "BF16" else np.dtype(DTYPES[dtype]).itemsize
    want = int(np.prod(shape, dtype=np.int64)) * itemsize
    if any(d < 0 for d in shape) or not 0 <= begin <= end <= buffer or end - begin != want:
        raise InspectorError(f"{file}: tensor '{name}' ({dtype} {tuple(shape)}, bytes "
                             f"{begin}..{end}) does not fit the file's {buffer}-byte buffer or "
                             f"its own shape; the file is damaged or truncated")
    return dtype, tuple(shape), start + begin, start + end


def read_tensor(path, entry: tuple) -> np.ndarray:
    """One tensor of :func:`read_header`'s ``entry`` as a NumPy array (BF16 becomes float32)."""
    dtype, shape, begin, end = entry
    with open(path, "rb") as handle:
        handle.seek(begin)
        raw = handle.read(end - begin)
    array = np.frombuffer(raw, DTYPES[dtype]).reshape(shape)
    if dtype == "BF16":  # bfloat16 is the top half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array.astype(array.dtype.newbyteorder("="))


def write(path, arrays: dict, metadata: dict | None = None) -> None:
    """Write ``arrays`` ({name: ndarray}) as a safetensors file (tests, and users without the
    package)."""
    names = {np.dtype(v): k for k, v in DTYPES.items() if k != "BF16"}
    header, chunks, offset = {}, [], 0
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        little = array.astype(array.dtype.newbyteorder("<"))
        data = little.tobytes()
        header[name] = {"dtype": names[array.dtype.newbyteorder("=")], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))
