"""An HDF5 file is read without leaving it: what points elsewhere is refused before it is followed.

HDF5 lets a file name objects that live elsewhere: an *external link* opens another file (a
model could point its kernel at ``/etc/passwd``), a *soft link* is a path resolved later (it may
point at itself, or nowhere), a dataset's *external storage* or a *virtual dataset* reads its
values from other files. :func:`refuse_outside_objects` walks every link of the file without
following any (``Group.get(name, getlink=True)``) and refuses these with one sentence naming
the file, so no later read can make h5py open another file. Hard links (the ordinary kind) are
followed; the walk visits each object once and stops at :data:`MAX_OBJECTS` and
:data:`MAX_DEPTH` (a file whose hard links form a loop cannot make it run forever).
"""
from __future__ import annotations

from ..errors import InspectorError

MAX_OBJECTS = 100_000
MAX_DEPTH = 64


def refuse_outside_objects(f, source) -> None:
    """Raise :class:`InspectorError` if the open file ``f`` has a soft, external or user-defined
    link, a dataset stored in other files, or more objects or nesting than a model has."""
    import h5py

    seen: set = set()

    def refuse(where: str, what: str):
        raise InspectorError(f"{source} is refused: its object '{where}' {what}; a model file "
                             f"must hold its own data, so the tool follows no link out of it")

    def walk(group, prefix: str, depth: int):
        if depth > MAX_DEPTH:
            raise InspectorError(f"{source} nests its groups over {MAX_DEPTH} deep ('{prefix}'), "
                                 f"which no model file does; it is damaged or hostile")
        for name in list(group.keys()):
            where = f"{prefix}/{name}"
            try:
                link = group.get(name, getlink=True)
            except (TypeError, ValueError, KeyError, RuntimeError, OSError):
                refuse(where, "is a link of a kind the tool does not follow")
            if isinstance(link, h5py.ExternalLink):
                refuse(where, f"is an external link to '{link.path}' in {link.filename}")
            if isinstance(link, h5py.SoftLink):
                refuse(where, f"is a soft link to '{link.path}'")
            if not isinstance(link, h5py.HardLink):
                refuse(where, "is a link of a kind the tool does not follow")
            item = group[name]
            info = h5py.h5o.get_info(item.id)
            key = (info.fileno, info.addr)
            if key in seen:
                continue
            seen.add(key)
            if len(seen) > MAX_OBJECTS:
                raise InspectorError(f"{source} holds over {MAX_OBJECTS} objects, which no model "
                                     f"file does; it is damaged or hostile")
            if isinstance(item, h5py.Dataset):
                if item.is_virtual:
                    refuse(where, "is a virtual dataset (its values live in other files)")
                if item.external:
                    refuse(where, f"stores its values in the external file "
                                  f"'{item.external[0][0]}'")
            elif isinstance(item, h5py.Group):
                walk(item, where, depth + 1)

    walk(f, "", 0)


# ---- global heaps, checked before the HDF5 library reads them ---------------------------------
SIGNATURE = b"\x89HDF\r\n\x1a\n"
MIN_COLLECTION = 4096  # HDF5 never writes a global heap collection smaller


def refuse_looping_heaps(data, source) -> None:
    """Refuse a file whose global heap (where variable-length strings live: Keras attributes)
    has an object of size 0 or one that runs past its collection.

    The HDF5 library walks a collection's objects by their sizes and never advances past a
    free-space object of size 0: a damaged size field makes it loop forever inside C, where
    no Python timeout reaches. ``data`` is the file's bytes (or an mmap of them). A collection
    is recognised by ``GCOL``, version 1, three zero bytes and a size of at least 4096 within
    the file, so weight values that happen to spell ``GCOL`` are not mistaken for one."""
    lengths = _size_of_lengths(data)
    if lengths is None:
        return
    header = 8 + lengths  # signature, version, reserved, collection size
    at = data.find(b"GCOL")
    while at >= 0:
        if data[at + 4:at + 8] == b"\x01\x00\x00\x00":
            size = int.from_bytes(data[at + 8:at + 8 + lengths], "little")
            if MIN_COLLECTION <= size <= len(data) - at:
                _walk_collection(data, at, size, header, lengths, source)
        at = data.find(b"GCOL", at + 4)


def _size_of_lengths(data):
    for base in (0, 512, 1024, 2048):
        if data[base:base + 8] == SIGNATURE:
            version = data[base + 8]
            lengths = data[base + 14] if version in (0, 1) else data[base + 10]
            return lengths if lengths in (2, 4, 8) else None
    return None


def _walk_collection(data, at, size, header, lengths, source) -> None:
    end, p = at + size, at + header
    while p < end:
        if p + header > end:  # too small for an object header: free space
            return
        index = int.from_bytes(data[p:p + 2], "little")
        length = int.from_bytes(data[p + 8:p + 8 + lengths], "little")
        need = header + (length + 7) // 8 * 8 if index else length
        if need == 0 or p + need > end:
            raise InspectorError(f"{source} is a damaged HDF5 file: its global heap at byte {at} "
                                 f"holds an object of {length} bytes at byte {p}, which does not "
                                 f"fit it (reading it would never finish)")
        p += need
