"""A test set as a list of utterances: a Kaldi ark or scp, a folder of feature files, a list file.

Listing reads as little as it can: an scp is parsed line by line, a folder walked, a list file
read; only an ark is walked object by object (Kaldi arks have no index) to learn where each
utterance starts. Each utterance gets an *address*, one string that
:func:`~lstm_inspector.io.features.load_features` opens on its own:

=====================  ==============================================================
source                 address of one utterance
=====================  ==============================================================
``feats.ark``          ``/abs/feats.ark:1234`` (byte offset of the utterance's matrix)
``feats.scp``          the scp line's rxfilename, made absolute: ``/abs/raw.ark:88[0:99]``
folder                 each feature file in it (recursively, sorted), arks/scps expanded
list file              each line: a feature file or ``file.ark:offset``, relative paths
                       from the working folder, then from the list's folder
=====================  ==============================================================

So a worker (another process, another machine sharing the files) reads only its utterance, and
the user can reopen any row with ``lstm-inspector MODEL ADDRESS``. An utterance that cannot even
be addressed (a pipe in an scp, a missing file in a list, a corrupt ark entry) is listed with its
``problem`` sentence, to become an error row rather than the end of the sweep.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from ..errors import InspectorError
from . import kaldi

#: Feature files a folder sweep picks up (Kaldi arks and scps are expanded to their utterances).
FOLDER_SUFFIXES = {".npy", ".npz", ".csv", ".txt", ".tsv", ".htk", ".mfc", ".mfcc", ".fbank",
                   ".fbk", ".plp", ".fea", ".wav", ".ark", ".scp"}
LIST_SUFFIXES = {".list", ".lst", ".flist", ".txt"}


class Utterance(NamedTuple):
    """One utterance of a test set."""

    name: str      # utterance id, or the file's path relative to the swept folder / list
    address: str   # what load_features opens alone
    problem: str | None = None  # why it cannot be read at all (becomes an error row)


def list_utterances(source) -> list:
    """Every utterance of ``source``, in the source's own order.

    Parameters
    ----------
    source : str or Path
        A Kaldi ark (binary or text) or scp, a folder, a list file (one feature file per line,
        ``#`` comments allowed), or a single feature file (a test set of one).

    Returns
    -------
    list of Utterance

    Raises
    ------
    InspectorError
        The source does not exist, is empty, or is nothing the tool can sweep.
    """
    path = Path(source)
    if not path.exists():
        raise InspectorError(f"the test set {path} does not exist")
    if path.is_dir():
        return _folder(path)
    kind = _kind(path)
    if kind == "ark":
        return _ark(path)
    if kind == "scp":
        return _scp(path)
    if kind == "list":
        return _list(path)
    return [Utterance(path.name, str(path.resolve()))]


def _kind(path: Path) -> str:
    """``ark``, ``scp``, ``list`` or ``file`` (one feature file), by content then extension."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise InspectorError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not head:
        raise InspectorError(f"the test set {path} is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix == ".ark" or _is_binary_ark(head):
        return "ark"
    if suffix == ".scp":
        return "scp"
    if suffix in LIST_SUFFIXES or suffix == "":
        first = _first_line(head)
        if first is not None and not _numbers(first):
            return "list"
    return "file"


def _is_binary_ark(head: bytes) -> bool:
    token, _, rest = head.partition(b" ")
    return bool(token) and rest.startswith(b"\0B") and b"\n" not in token and b"\0" not in token


def _first_line(head: bytes):
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return None


def _numbers(line: str) -> bool:
    """Whether a line reads as numbers (a csv/txt feature file rather than a list of files)."""
    fields = line.replace(",", " ").replace(";", " ").split()
    try:
        [float(f) for f in fields]
    except ValueError:
        return False
    return True


def _ark(path: Path) -> list:
    """Walk an ark once, keeping each utterance's id and byte offset (no matrix is kept)."""
    from kaldiio.matio import read_token

    found, absolute = [], str(path.resolve())
    with path.open("rb") as handle:
        while True:
            try:
                name = read_token(handle)
            except UnicodeDecodeError:
                name = None
                problem = (f"{path.name} is corrupt after {len(found)} utterances: the next "
                           "utterance id is not text")
            else:
                if name is None:
                    break
                offset = handle.tell()
                try:
                    kaldi.read_object(handle, path.name, name)
                    problem = None
                except InspectorError as exc:
                    problem = str(exc)
            if problem is not None:  # nothing past a corrupt entry can be found: stop here
                found.append(Utterance(name or f"entry {len(found) + 1}", absolute, problem))
                break
            found.append(Utterance(name, f"{absolute}:{offset}"))
    if not found:
        raise InspectorError(f"{path.name} is a Kaldi ark with no utterances")
    return found


def _scp(path: Path) -> list:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InspectorError(f"{path.name} is not a readable text file, so it cannot be a Kaldi "
                             f"scp ({exc})") from None
    found = []
    for name, target in kaldi.scp_entries(path, text):
        try:
            file_path, offset, ranges = kaldi.resolve_target(target, path, name)
        except InspectorError as exc:
            found.append(Utterance(name, target, str(exc)))
            continue
        address = f"{file_path.resolve()}:{offset}" + (f"[{ranges}]" if ranges else "")
        found.append(Utterance(name, address))
    return found


def _expand(path: Path, name: str) -> list:
    """A file found in a folder or list: its utterances when it is an ark or scp, else itself."""
    kind = _kind(path)
    if kind in ("ark", "scp"):
        inner = _ark(path) if kind == "ark" else _scp(path)
        return [u._replace(name=f"{name}/{u.name}") for u in inner]
    return [Utterance(name, str(path.resolve()))]


def _folder(folder: Path) -> list:
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in FOLDER_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise InspectorError(f"the folder {folder} holds no feature file (looked for "
                             f"{', '.join(sorted(FOLDER_SUFFIXES))})")
    found = []
    for file in files:
        name = file.relative_to(folder).as_posix()
        try:
            found.extend(_expand(file, name))
        except InspectorError as exc:
            found.append(Utterance(name, str(file), str(exc)))
    return found


def _list(path: Path) -> list:
    text = path.read_text(encoding="utf-8", errors="replace")
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        target = Path(entry)
        if not target.is_absolute() and not _exists(target):
            target = path.parent / target
        if not _exists(target):
            found.append(Utterance(entry, entry, f"line {number} of {path.name} names {entry}, "
                                                 "which does not exist"))
        elif target.exists():
            try:
                found.extend(_expand(target, entry))
            except InspectorError as exc:
                found.append(Utterance(entry, str(target), str(exc)))
        else:  # file.ark:offset
            found.append(Utterance(entry, str(target.resolve())))
    if not found:
        raise InspectorError(f"the list file {path.name} names no feature file")
    return found


def _exists(target: Path) -> bool:
    """A file, or ``file.ark:offset`` naming one."""
    if target.is_file():
        return True
    match = kaldi.ARK_OFFSET.match(str(target))
    return bool(match) and Path(match["file"]).is_file()
