"""Kaldi archives (``.ark``) and script files (``.scp``), read safely through kaldiio's decoders.

kaldiio decodes every Kaldi matrix type (``FM``/``DM`` float and double, ``CM``/``CM2``/``CM3``
compressed, text matrices, vectors, wav entries), but its high-level readers also run shell
pipes (``cmd |``) and unpickle ``PKL`` entries. So this module walks arks and scps itself and hands
kaldiio only the decoding of one object at a known position, after refusing pipes and pickles.

An scp line is ``utterance-id rxfilename``, the rxfilename being ``file.ark:byte-offset``
optionally followed by Kaldi's inclusive ranges ``[first:last]`` or ``[rows,cols]``. Relative
paths are tried from the working folder (Kaldi's rule), then from the scp's own folder.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from ..errors import InspectorError, one_line

ARK_OFFSET = re.compile(r"^(?P<file>.+?):(?P<offset>\d+)(?:\[(?P<range>[^\]]*)\])?$")


class KaldiEntry(NamedTuple):
    """One object read from an ark: the matrix (or ``(rate, samples)`` for wav entries)."""

    utterance: str | None
    value: object  # np.ndarray, or (rate, samples) for a wav entry
    stored: str  # Kaldi type token: FM, DM, CM, CM2, CM3, FV, DV, text, wav, npy
    utterances: tuple  # every utterance id in the ark / scp (empty for a file.ark:offset entry)
    notes: tuple = ()


def read_ark(path: Path, key: str | None = None) -> KaldiEntry:
    """The utterance ``key`` of an ark, else its first (with a note counting the others)."""
    from kaldiio.matio import read_token

    names, chosen = [], None
    with Path(path).open("rb") as handle:
        while True:
            try:
                utterance = read_token(handle)
            except UnicodeDecodeError:
                raise InspectorError(f"{path.name} is a corrupt Kaldi ark: the utterance id after "
                                     f"{len(names)} entries is not text") from None
            if utterance is None:
                break
            value, stored = read_object(handle, path.name, utterance)
            names.append(utterance)
            if chosen is None and (key is None or utterance == key):
                chosen = (utterance, value, stored)
    if not names:
        raise InspectorError(f"{path.name} is a Kaldi ark with no utterances")
    if chosen is None:
        raise InspectorError(f"{path.name} has no utterance '{key}'; it holds {listing(names)}")
    return KaldiEntry(*chosen, tuple(names), _first_note(names, key, chosen[0]))


def read_scp(path: Path, text: str, key: str | None = None) -> KaldiEntry:
    """The utterance ``key`` listed in an scp (whose text is given), else its first."""
    entries = scp_entries(path, text)
    names = [name for name, _ in entries]
    if key is not None and key not in names:
        raise InspectorError(f"{path.name} has no utterance '{key}'; it lists {listing(names)}")
    name, target = entries[names.index(key) if key is not None else 0]
    entry = read_entry(target, path, name)
    return entry._replace(utterances=tuple(names), notes=_first_note(names, key, name) + entry.notes)


def scp_entries(path: Path, text: str) -> list:
    """``[(utterance id, rxfilename), ...]``: the lines of an scp (whose text is given)."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.strip().split(None, 1)
        if len(parts) == 1:
            raise InspectorError(f"{path.name} line {number} has no file after the utterance id "
                                 f"'{parts[0]}'")
        if parts:
            entries.append((parts[0], parts[1].strip()))
    if not entries:
        raise InspectorError(f"{path.name} is an empty Kaldi scp (no utterances)")
    return entries


def read_entry(target: str, base: Path, name: str | None = None) -> KaldiEntry:
    """Read ``file.ark:offset[ranges]`` (or a whole single-object file) without running commands.

    ``name`` is the utterance id when the entry comes from the scp ``base``; None for a
    ``feats.ark:1234`` argument given directly.
    """
    where = base.name if name is None else f"utterance '{name}' of {base.name}"
    file_path, offset, ranges = resolve_target(target, base, name)
    with file_path.open("rb") as handle:
        handle.seek(offset)
        value, stored = read_object(handle, file_path.name, name or f"at offset {offset}")
    if ranges and not isinstance(value, tuple):
        value = value[_ranges(ranges, where)]
    return KaldiEntry(name, value, stored, ())


def resolve_target(target: str, base: Path, name: str | None = None) -> tuple:
    """``(file path, byte offset, ranges text or None)`` of an rxfilename; pipes refused.

    ``name`` is the utterance id when ``target`` comes from the scp ``base`` (a relative file is
    then tried from the working folder, then from the scp's folder); None for a direct argument.
    """
    where = base.name if name is None else f"utterance '{name}' of {base.name}"
    if target.strip().endswith("|") or target.strip().startswith("|"):
        raise InspectorError(f"{where} is a shell pipe ('{target[:60]}'); the tool never runs "
                             "commands from files, so write the features to an ark first")
    match = ARK_OFFSET.match(target)
    file_part, offset, ranges = (match["file"], int(match["offset"]), match["range"]) if match \
        else (target, 0, None)
    shown = file_part if len(file_part) <= 200 else f"{file_part[:60]}... ({len(file_part)} characters)"
    try:
        file_path = Path(file_part)
        if not file_path.is_absolute() and not file_path.exists() and name is not None:
            file_path = base.parent / file_path
        if not file_path.is_file():
            raise InspectorError(f"{where} points to {shown}, which does not exist")
        size = file_path.stat().st_size
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte...
        reason = getattr(exc, "strerror", None) or "not a usable file name"
        raise InspectorError(f"{where} points to {shown}, which cannot be opened "
                             f"({reason})") from None
    if offset >= size:
        raise InspectorError(f"{where} points to byte {offset} of {file_path.name}, which has "
                             f"only {size} bytes")
    return file_path, offset, ranges


def read_object(handle, file_name: str, utterance: str):
    """The Kaldi object at the handle's position and its type token; pickles and FLAC refused."""
    from kaldiio.matio import read_kaldi

    start = handle.tell()
    flag = handle.read(8)
    handle.seek(start)
    label = utterance if utterance.startswith("at offset") else f"'{utterance}'"
    if not flag:
        raise InspectorError(f"{file_name} ends where the object {label} should start; it is truncated")
    if flag.startswith(b"PKL"):
        raise InspectorError(f"the object {label} in {file_name} is a pickled Python object; the "
                             "tool never unpickles files")
    if flag.startswith((b"AUDIO", b"fLaC")):
        raise InspectorError(f"the object {label} in {file_name} is compressed audio; convert it to "
                             "wav or to features first")
    stored = flag[2:].split(b" ")[0].decode("ascii", "replace") if flag.startswith(b"\0B") else \
        "wav" if flag.startswith(b"RIFF") else "npy" if flag.startswith(b"NPY") else "text"
    try:
        return read_kaldi(handle, "<", load_kwargs={"allow_pickle": False}), stored
    except Exception as exc:  # kaldiio signals corruption with assert/ValueError/struct/IndexError
        detail = (str(exc) or type(exc).__name__).split(". ")[0].split("\n")[0].rstrip(".")
        raise InspectorError(f"the object {label} in {file_name} is corrupt or truncated "
                             f"({detail[:80]})") from None


def listing(names, limit: int = 8) -> str:
    """``'a', 'b' and 3 more``: a short list of names for a message."""
    shown = ", ".join(f"'{one_line(n)}'" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _first_note(names, key, chosen) -> tuple:
    if key is None and len(names) > 1:
        return (f"took the first of its {len(names)} utterances ('{one_line(chosen)}'); pass "
                "--key <utterance id> (key= in Python) for another",)
    return ()


def _ranges(text: str, where: str):
    """Kaldi's inclusive row/column ranges, e.g. ``[0:99]`` or ``[0:99,0:12]``."""
    slices = []
    for part in text.split(","):
        bounds = [b.strip() for b in part.split(":")]
        if part.strip() in ("", ":"):
            slices.append(slice(None))
        elif len(bounds) == 2 and all(b.isdigit() for b in bounds):
            slices.append(slice(int(bounds[0]), int(bounds[1]) + 1))
        else:
            raise InspectorError(f"{where} has a range '[{text}]' the tool cannot read; use "
                                 "[first:last] or [first:last,first:last]")
    return tuple(slices)
