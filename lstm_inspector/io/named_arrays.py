"""The arrays of a user's ``.npz`` by name (initial states, a port's outputs), read with NumPy only.

Every name must be one the reader knows: a misspelt name is an error, never an array silently
left out. Nothing in the file is executed (``allow_pickle=False``).
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from ..errors import InspectorError


def read_named_arrays(path, pattern: re.Pattern, what: str, expected: str) -> list:
    """``[(match, array)]``: each array of the ``.npz`` at ``path`` with its name matched by ``pattern``.

    Parameters
    ----------
    path : the ``.npz`` file.
    pattern : compiled regular expression every array name must match (its groups say where the
        array belongs).
    what : the file's role in a sentence, e.g. ``"initial-state file"``.
    expected : the names the reader knows, in words, e.g. ``"h0, c0, h0_<layer>..."``.

    Raises InspectorError (one sentence) for a file that is not a readable ``.npz``, one with no
    arrays, an array name ``pattern`` does not match, or values that are not numbers.
    """
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):
            raise InspectorError(f"{what} {path.name} is one array; expected an .npz holding "
                                 f"{expected}")
        with data:
            arrays = {name: np.asarray(data[name]) for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InspectorError(f"{what} {path.name} is not a readable .npz ({exc})") from None
    if not arrays:
        raise InspectorError(f"{what} {path.name} holds no arrays; expected {expected}")
    found = []
    for name, array in arrays.items():
        match = pattern.match(name)
        if match is None:
            raise InspectorError(f"{what} {path.name} holds an array named '{name}'; expected "
                                 f"{expected}")
        if not np.issubdtype(array.dtype, np.number):
            raise InspectorError(f"'{name}' in {path.name} holds {array.dtype} values, not numbers")
        found.append((match, array))
    return found
