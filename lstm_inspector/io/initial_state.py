"""Initial states from an ``.npz``: what a model that feeds its LSTMs ``initial_state`` starts from.

Array names (each ``(H,)`` or ``(1, H)``; layer k counts the runnable chain from 0)::

    h0, c0                          layer 0, forward direction
    h0_<k>, c0_<k>                  layer k, forward direction
    h0_<k>_backward, c0_<k>_backward    layer k, backward direction of a Bidirectional layer

(``h0_<k>_forward`` is accepted for ``h0_<k>``.) A layer direction not named starts from zeros;
every array must be used, so a misspelt name is an error, not a silent zero state.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from ..errors import InspectorError

_NAME = re.compile(r"^(h0|c0)(?:_(\d+))?(?:_(forward|backward))?$")


def load_initial_state(path, model) -> dict:
    """``{(layer index, direction): (h0, c0)}`` read from ``path`` and checked against ``model``.

    Raises InspectorError (one sentence) for a missing or unreadable file, an unknown array
    name, a lone h0 without c0 (or the reverse), or a shape that is not the layer's (H,).
    """
    from ..core.reference import check_initial_state

    path = Path(path)
    if not path.is_file():
        raise InspectorError(f"initial-state file {path} does not exist")
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):
            raise InspectorError(f"initial-state file {path} is one array; expected an .npz "
                                 f"holding h0 and c0")
        with data:
            arrays = {name: np.asarray(data[name]) for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InspectorError(f"initial-state file {path} is not a readable .npz ({exc})") from None
    if not arrays:
        raise InspectorError(f"initial-state file {path} holds no arrays; expected h0 and c0")
    found: dict = {}
    for name, array in arrays.items():
        match = _NAME.match(name)
        if match is None:
            raise InspectorError(
                f"initial-state file {path} has an array '{name}'; expected names h0, c0, "
                f"h0_<layer>, c0_<layer>, h0_<layer>_backward, c0_<layer>_backward")
        which, layer, direction = match.groups()
        key = (int(layer or 0), direction or "forward")
        if not np.issubdtype(array.dtype, np.number):
            raise InspectorError(f"'{name}' in {path} holds {array.dtype} values, not numbers")
        found.setdefault(key, {})[which] = array
    states = {}
    for (k, direction), pair in sorted(found.items()):
        if set(pair) != {"h0", "c0"}:
            lone = next(iter(pair))
            raise InspectorError(f"initial-state file {path} gives {lone} for layer {k} "
                                 f"{direction} but not {'c0' if lone == 'h0' else 'h0'}")
        states[(k, direction)] = (pair["h0"], pair["c0"])
    return check_initial_state(model, states)
