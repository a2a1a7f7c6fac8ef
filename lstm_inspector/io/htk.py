"""HTK parameter files: the format HCopy writes (HTK Book 3.4, section 5.10.1).

Layout::

    header (12 bytes, big-endian unless written with NATURALWRITEORDER on a little-endian machine)
        nSamples   int32   number of frames (for _C files: frames + 4, see below)
        sampPeriod int32   frame period in 100 ns units (100000 = 10 ms)
        sampSize   int16   bytes per frame (4 * d for float data, 2 * d for _C data)
        parmKind   int16   base kind (low 6 bits) | qualifier flags
    data
        plain: nSamples frames of d float32 values
        _C (compressed): vectors A and B (d float32 each, 8 d bytes = 4 "samples"), then
            nSamples - 4 frames of d int16 values x; the features are (x + B) / A
    [_K only] a 2-byte CRC, ignored here

Base kinds: WAVEFORM 0, LPC 1, LPREFC 2, LPCEPSTRA 3, LPDELCEP 4, IREFC 5, MFCC 6, FBANK 7,
MELSPEC 8, USER 9, DISCRETE 10, PLP 11, ANON 12. Qualifier flags (octal): _E 100, _N 200, _D 400,
_A 1000, _C 2000, _Z 4000, _K 10000, _0 20000, _V 40000, _T 100000.

WAVEFORM files hold int16 samples (the caller turns them into features like a wav file), IREFC
holds int16 reflection coefficients scaled by 32767, DISCRETE holds vector-quantiser indices
(refused: they are not features).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InspectorError

BASE_KINDS = ("WAVEFORM", "LPC", "LPREFC", "LPCEPSTRA", "LPDELCEP", "IREFC", "MFCC", "FBANK",
              "MELSPEC", "USER", "DISCRETE", "PLP", "ANON")
QUALIFIERS = (("_E", 0o100), ("_N", 0o200), ("_D", 0o400), ("_A", 0o1000), ("_C", 0o2000),
              ("_Z", 0o4000), ("_K", 0o10000), ("_0", 0o20000), ("_V", 0o40000), ("_T", 0o100000))
WAVEFORM, IREFC, DISCRETE = 0, 5, 10
_C, _K = 0o2000, 0o10000
HEADER_BYTES = 12
_MAX_PERIOD = 10 ** 8  # 10 s per frame: anything longer is not an HTK header


def parm_kind_name(code: int) -> str:
    """The HTK name of a parmKind code, e.g. ``0o21406 -> "MFCC_D_A_0"``."""
    base = code & 0o77
    name = BASE_KINDS[base] if base < len(BASE_KINDS) else f"KIND{base}"
    return name + "".join(flag for flag, bit in QUALIFIERS if code & bit)


@dataclass(frozen=True)
class HTKHeader:
    """The 12-byte header of an HTK file, decoded with ``byte_order`` ('>' or '<')."""

    n_samples: int
    samp_period: int  # 100 ns units
    samp_size: int  # bytes per frame
    parm_kind: int  # unsigned 16-bit code
    byte_order: str

    @property
    def base_kind(self) -> int:
        return self.parm_kind & 0o77

    @property
    def kind_name(self) -> str:
        return parm_kind_name(self.parm_kind)

    @property
    def compressed(self) -> bool:
        return bool(self.parm_kind & _C) and self.base_kind != WAVEFORM

    @property
    def has_crc(self) -> bool:
        return bool(self.parm_kind & _K)

    @property
    def frame_shift(self) -> float:
        """Frame period in seconds (sampPeriod is in 100 ns units)."""
        return self.samp_period * 1e-7

    @property
    def n_frames(self) -> int:
        return self.n_samples - 4 if self.compressed else self.n_samples

    @property
    def width(self) -> int:
        """Values per frame: int16 for WAVEFORM / IREFC / DISCRETE / _C, else float32."""
        return self.samp_size // (2 if self._int16 else 4)

    @property
    def _int16(self) -> bool:
        return self.compressed or self.base_kind in (WAVEFORM, IREFC, DISCRETE)

    @property
    def expected_bytes(self) -> int:
        return HEADER_BYTES + self.n_samples * self.samp_size + (2 if self.has_crc else 0)

    def plausible(self) -> bool:
        """Whether the fields could have been written by HTK (independent of the file size)."""
        if self.base_kind >= len(BASE_KINDS) or not 0 < self.samp_period <= _MAX_PERIOD:
            return False
        if self.samp_size <= 0 or self.samp_size % (2 if self._int16 else 4):
            return False
        return self.n_samples >= (4 if self.compressed else 0)


def parse_header(raw: bytes, byte_order: str = ">") -> HTKHeader:
    """Decode 12 header bytes; parmKind is read unsigned so that _T (bit 15) is kept."""
    n_samples, period, size, kind = struct.unpack(byte_order + "iihH", raw[:HEADER_BYTES])
    return HTKHeader(n_samples, period, size, kind, byte_order)


def sniff_header(head: bytes, file_size: int, strict: bool = True) -> HTKHeader | None:
    """The header if ``head`` looks like an HTK file of ``file_size`` bytes, else None.

    ``strict`` asks for the exact size (header + frames [+ CRC]), as needed to recognise a file by
    content alone; otherwise any structurally plausible header counts (big-endian tried first).
    """
    if len(head) < HEADER_BYTES:
        return None
    for order in (">", "<"):
        header = parse_header(head, order)
        if not header.plausible():
            continue
        if not strict or file_size in (header.expected_bytes, header.expected_bytes + 2):
            return header
    return None


def read_htk(path: Path, raw: bytes | None = None):
    """Read an HTK file.

    Returns
    -------
    data : np.ndarray
        (T, d) float32 features, or (N,) float64 samples in [-1, 1) for a WAVEFORM file.
    header : HTKHeader
    notes : list of str
        Sentences for the user (little-endian header, trailing bytes).

    Raises
    ------
    InspectorError
        Implausible header, truncated data, DISCRETE files.
    """
    raw = Path(path).read_bytes() if raw is None else raw
    name = Path(path).name
    notes = []
    header = sniff_header(raw, len(raw), strict=True) or sniff_header(raw, len(raw), strict=False)
    if header is None:
        raise InspectorError(f"{name} is not an HTK parameter file: its 12-byte header "
                             "(frames, period, bytes per frame, kind) makes no sense in either byte order")
    if header.byte_order == "<":
        notes.append("the HTK header is little-endian (written with NATURALWRITEORDER), not HTK's "
                     "usual big-endian; read it that way")
    if header.base_kind == DISCRETE:
        raise InspectorError(f"{name} is an HTK DISCRETE file holding vector-quantiser indices, not "
                             "features; give the tool the continuous features it was made from")
    frames = header.n_frames
    data_bytes = header.n_samples * header.samp_size
    if len(raw) < HEADER_BYTES + data_bytes:
        have = (len(raw) - HEADER_BYTES) // max(header.samp_size, 1) - (4 if header.compressed else 0)
        raise InspectorError(
            f"{name} is truncated: its HTK header promises {frames} frames of {header.samp_size} "
            f"bytes ({header.expected_bytes} bytes in all) but the file has {len(raw)} bytes, "
            f"enough for {max(have, 0)} frames")
    extra = len(raw) - header.expected_bytes
    if extra > 0:
        notes.append(f"ignored {extra} bytes after the last HTK frame")
    body = raw[HEADER_BYTES:HEADER_BYTES + data_bytes]
    order, d = header.byte_order, header.width
    if header.base_kind == WAVEFORM:
        samples = np.frombuffer(body, order + "i2").astype(np.float64) / 32768.0  # (N,)
        return samples, header, notes
    if header.compressed:
        scale = np.frombuffer(body, order + "f4", count=d, offset=0).astype(np.float32)  # A (d,)
        bias = np.frombuffer(body, order + "f4", count=d, offset=4 * d).astype(np.float32)  # B (d,)
        if not np.all(np.isfinite(scale)) or np.any(scale == 0):
            raise InspectorError(f"{name} is a compressed (_C) HTK file whose scale vector A holds "
                                 "zeros or non-numbers, so its values cannot be recovered")
        packed = np.frombuffer(body, order + "i2", offset=8 * d).reshape(frames, d)  # (T, d)
        data = (packed.astype(np.float32) + bias) / scale  # x = (x_short + B) / A
        notes.append("decompressed HTK _C data as (x + B) / A")
    elif header.base_kind == IREFC:
        data = np.frombuffer(body, order + "i2").reshape(frames, d).astype(np.float32) / 32767.0
    else:
        data = np.frombuffer(body, order + "f4").reshape(frames, d)  # (T, d)
    return np.ascontiguousarray(data, dtype=np.float32), header, notes
