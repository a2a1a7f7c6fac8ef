"""What a feature reader hands back, and the readers of plain arrays: ``.npy``, ``.npz``, text.

:class:`Loaded` is a format reader's raw find (shaped into ``features.Features`` afterwards);
:class:`Audio` is what a reader returns when the file holds samples (features get computed).
"""
from __future__ import annotations

import tokenize
import zipfile
from typing import NamedTuple

import numpy as np

from ..errors import InspectorError
from . import kaldi

TEXT_SUFFIXES = {".csv", ".txt", ".tsv", ".dat"}

class Loaded(NamedTuple):
    """What a format reader found, before it is shaped into :class:`Features`."""

    array: np.ndarray
    kind: str
    notes: list
    meta: dict
    frame_shift: float | None = None
    chosen: str | None = None  # the npz array / utterance picked by key (or by default)
    index: str | None = None  # a key left over to pick a sequence of a (B, T, d) array


class Audio(NamedTuple):
    """What a reader found when the file (or Kaldi entry) holds audio: features get computed."""

    samples: np.ndarray  # (N,) or (N, channels); float in [-1, 1] or integer PCM
    rate: int
    notes: list
    meta: dict
    chosen: str | None = None


def _load_npy(path, raw, key):
    """A .npy file, never unpickled; header and size checked first so errors can say what is wrong."""
    import io

    try:
        handle = io.BytesIO(raw)
        version = np.lib.format.read_magic(handle)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unknown format version {version[0]}.{version[1]}")
        # version 3.0 differs from 2.0 only in allowing UTF-8 field names
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(handle)
        _check_shape(shape)
    except (ValueError, SyntaxError, EOFError, TypeError, OverflowError, MemoryError,
            RecursionError, tokenize.TokenError) as exc:
        raise InspectorError(f"{path.name} has a corrupt .npy header ({brief(exc)})") from None
    if dtype.hasobject:
        raise InspectorError(f"{path.name} contains Python objects; the tool never unpickles files")
    needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = len(raw) - handle.tell()
    if have < needed:
        raise InspectorError(f"{path.name} is truncated: its header promises {dtype} values of shape "
                             f"{tuple(shape)} ({needed} bytes) but only {have} bytes follow")
    try:
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InspectorError(f"{path.name} is a corrupt .npy file ({brief(exc)})") from None
    notes = ["stored in Fortran (column-major) order; reordered to C order"] if fortran else []
    meta = dict(dtype=str(dtype), shape=tuple(shape), fortran_order=bool(fortran))
    return Loaded(array, "npy", notes, meta, index=key)


def _check_shape(shape) -> None:
    """An npy header's shape: a tuple of whole numbers >= 0 (``True`` is not one)."""
    if not isinstance(shape, tuple) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ValueError(f"its shape {shape!r} is not a tuple of sizes")


def _load_npz(path, raw, key):
    try:
        archive = np.load(path, allow_pickle=False)
        names = list(archive.files)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InspectorError(f"{path.name} is not a readable .npz archive ({brief(exc)})") from None
    index = None
    with archive:
        if not names:
            raise InspectorError(f"{path.name} is an .npz archive with no arrays in it")
        if key is not None and key in names:
            name = key
        elif key is not None and len(names) == 1 and key.isdigit():
            name, index = names[0], key  # the key picks a sequence of the only (B, T, d) array
        elif key is not None:
            raise InspectorError(f"{path.name} has no array '{key}'; it holds {kaldi.listing(names)}")
        elif len(names) == 1:
            name = names[0]
        else:
            raise InspectorError(f"{path.name} holds {len(names)} arrays ({kaldi.listing(names)}); pass "
                                 "--key <name> (key= in Python) to choose one")
        try:
            array = archive[name]
        except ValueError as exc:
            if "allow_pickle" in str(exc):
                raise InspectorError(f"array '{name}' in {path.name} contains Python objects; the "
                                     "tool never unpickles files") from None
            raise InspectorError(f"array '{name}' in {path.name} is corrupt ({brief(exc)})") from None
        except (OSError, EOFError, zipfile.BadZipFile, TypeError, SyntaxError, OverflowError,
                MemoryError, RecursionError, tokenize.TokenError) as exc:
            raise InspectorError(f"array '{name}' in {path.name} is corrupt ({brief(exc)})") from None
    return Loaded(array, "npz", [], dict(arrays=names), chosen=name, index=index)


def brief(exc: BaseException) -> str:
    """A library's error message cut to its first clause, to sit inside one sentence of ours."""
    if isinstance(exc, tokenize.TokenError):  # numpy tokenizes the header dict: it never closes
        return "its header dictionary is not closed"
    text = (str(exc) or type(exc).__name__).split(". ")[0].split("\n")[0].rstrip(".")
    return text if len(text) <= 80 else text.split(": ")[0][:80]


def _as_text(raw: bytes) -> str | None:
    """The file as text when it looks like text: decodes (UTF-8, else Latin-1), no control bytes."""
    head = raw[:8192]
    if any(byte < 32 and byte not in (9, 10, 12, 13) or byte == 127 for byte in head):
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        if any(0x80 <= ord(char) < 0xA0 for char in text[:8192]):
            return None
    return text


def _load_text(path, raw, key):
    """Comma, semicolon, tab or whitespace separated numbers; '#' comments; one header row allowed."""
    text = _as_text(raw)
    if text is None:
        raise InspectorError(f"{path.name} is neither text nor a binary format the tool recognises")
    lines = [(n, line.split("#", 1)[0].strip()) for n, line in enumerate(text.splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line]
    if not lines:
        raise InspectorError(f"{path.name} holds no numbers (only blank lines or comments)")
    sample = lines[min(1, len(lines) - 1)][1]  # the second line: the first may be a header
    sep = ";" if ";" in sample else "," if "," in sample else None  # None: any whitespace
    notes, rows, decimal_comma = [], [], False
    for index, (number, line) in enumerate(lines):
        fields = [f.strip() for f in line.split(sep)] if sep else line.split()
        values = _floats(fields)
        if values is None and sep == ";":
            values = _floats([f.replace(",", ".") for f in fields])  # 1,5;2,25 (decimal commas)
            decimal_comma = decimal_comma or values is not None
        if values is not None:
            rows.append(values)
        elif index == 0:
            notes.append(f"skipped the header row '{line[:60]}'")
        else:
            bad = next(f for f in fields if _floats([f.replace(",", ".")]) is None)
            raise InspectorError(f"{path.name} line {number} holds '{bad[:40]}', which is not a number")
    if not rows:
        raise InspectorError(f"{path.name} holds a header row but no numbers")
    first = len(rows[0])
    uneven = next((i for i, row in enumerate(rows) if len(row) != first), None)
    if uneven is not None:
        raise InspectorError(f"{path.name} has rows of different lengths: data row {uneven + 1} has "
                             f"{len(rows[uneven])} values but the first has {first}")
    if decimal_comma:
        notes.append("read commas as decimal points (semicolon-separated file)")
    meta = dict(separator=sep or "whitespace")
    kind = path.suffix.lower().lstrip(".") if path.suffix.lower() in TEXT_SUFFIXES else "text"
    return Loaded(np.array(rows, dtype=np.float64), kind, notes, meta, index=key)


def _floats(fields):
    """The fields as floats, or None if any is not a number."""
    try:
        return [float(f) for f in fields]
    except ValueError:
        return None
