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
from pathlib import Path

import numpy as np

from ..errors import InspectorError
from .named_arrays import read_named_arrays

_NAME = re.compile(r"^(h0|c0)(?:_(\d+))?(?:_(forward|backward))?$")


def load_initial_state(path, model) -> dict:
    """``{(layer index, direction): (h0, c0)}`` read from ``path`` and checked against ``model``.

    Raises InspectorError (one sentence) for a missing or unreadable file, an unknown array
    name, a lone h0 without c0 (or the reverse), or a shape that is not the layer's (H,).
    A GRU layer's state is h alone: its h0 may come without c0.
    """
    from ..core.reference import check_initial_state

    path = Path(path)
    if not path.is_file():
        raise InspectorError(f"initial-state file {path} does not exist")
    found: dict = {}
    names = "h0, c0, h0_<layer>, c0_<layer>, h0_<layer>_backward, c0_<layer>_backward"
    for match, array in read_named_arrays(path, _NAME, "initial-state file", names):
        which, layer, direction = match.groups()
        key = (int(layer or 0), direction or "forward")
        found.setdefault(key, {})[which] = array
    states = {}
    chain = model.chain
    for (k, direction), pair in sorted(found.items()):
        if set(pair) == {"h0"} and k < len(chain) and chain[k].cell == "gru":
            pair["c0"] = np.zeros_like(np.asarray(pair["h0"]))   # a GRU's state is h alone
        if set(pair) != {"h0", "c0"}:
            lone = next(iter(pair))
            raise InspectorError(f"initial-state file {path} gives {lone} for layer {k} "
                                 f"{direction} but not {'c0' if lone == 'h0' else 'h0'}")
        states[(k, direction)] = (pair["h0"], pair["c0"])
    return check_initial_state(model, states)
