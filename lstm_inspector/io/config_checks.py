"""A Keras model config checked before it is used: JSON size and depth, and the type of each
field the loader reads (a damaged or hostile file gets a sentence, not a TypeError).

:func:`parse_config` refuses JSON over :data:`MAX_JSON_BYTES` or nested deeper than
:data:`MAX_JSON_DEPTH` before ``json.loads`` runs (a scan of bracket depth outside strings, so
``[[[[...`` 100,000 deep cannot exhaust Python's recursion), and JSON that is not an object.
:func:`check_entry` checks one layer entry: an object with a ``class_name`` string, a ``config``
object (or list: Keras 2.0 Sequential), wrapped layers and cells that are entries themselves,
and numbers, flags and activations of the types Keras writes. Messages do not name the file:
the loader adds it (``errors.naming``).
"""
from __future__ import annotations

import json
import re

import numpy as np

from ..errors import InspectorError

MAX_JSON_BYTES = 64 * 2 ** 20
MAX_JSON_DEPTH = 200
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
#: config fields and the Python types Keras writes for them
FLAGS = ("return_sequences", "go_backwards", "stateful", "use_bias", "zero_output_for_mask",
         "return_state", "time_major", "unroll")
WRAPPED = ("layer", "cell", "backward_layer")


def json_depth(text: str) -> int:
    """How deep ``[`` and ``{`` nest in the JSON ``text``, brackets inside strings not counted."""
    bare = _STRING.sub('""', text).encode("utf-8", "replace")
    codes = np.frombuffer(bare, np.uint8)
    steps = (np.isin(codes, (91, 123)).astype(np.int64) - np.isin(codes, (93, 125)))
    return int(np.cumsum(steps).max(initial=0))


def parse_config(text: str, what: str = "model config") -> dict:
    """The JSON object in ``text``; InspectorError for too big, too deep, invalid or not an
    object."""
    if len(text) > MAX_JSON_BYTES:
        raise InspectorError(f"its {what} is {len(text) / 2 ** 20:.0f} MB of JSON, over the "
                             f"{MAX_JSON_BYTES // 2 ** 20} MB a model config can take")
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise InspectorError(f"its {what} nests JSON {depth} levels deep, over the "
                             f"{MAX_JSON_DEPTH} a model config can take")
    try:
        config = json.loads(text)
    except (ValueError, RecursionError):
        raise InspectorError(f"its {what} is not valid JSON") from None
    if not isinstance(config, dict):
        raise InspectorError(f"its {what} is {kind(config)}, not a JSON object describing a "
                             f"model")
    return config


def kind(value) -> str:
    """``"null"``, ``"a list"``, ``"the number 42"``... : a JSON value in a few words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the flag {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else \
        type(value).__name__


def check_entry(entry, where: str = "a layer entry") -> dict:
    """``entry`` when it is a layer entry of the types Keras writes; else InspectorError."""
    if not isinstance(entry, dict):
        raise InspectorError(f"{where} of the model config is {kind(entry)}, not a layer object")
    class_name = entry.get("class_name", "")
    if not isinstance(class_name, str):
        raise InspectorError(f"{where} of the model config has class_name {kind(class_name)}, "
                             f"not a class name")
    config = entry.get("config")
    name = entry.get("name")
    label = f"layer '{name}'" if isinstance(name, str) else f"a {class_name or 'layer'}"
    if name is not None and not isinstance(name, str):
        raise InspectorError(f"{label} of the model config has name {kind(name)}, not a string")
    if isinstance(config, dict):
        check_layer_config(config, label)
    elif config is not None and not isinstance(config, list):
        raise InspectorError(f"{label} of the model config has config {kind(config)}, not an "
                             f"object")
    return entry


def check_layer_config(config: dict, label: str) -> None:
    """The fields of one layer's ``config`` that the loader reads, type by type."""
    name = config.get("name")
    if name is not None and not isinstance(name, str):
        raise InspectorError(f"{label} has name {kind(name)}, not a string")
    for key in WRAPPED:
        if config.get(key) is not None:
            check_entry(config[key], f"the '{key}' field of {label}")
    cells = config.get("cells")
    if cells is not None:
        if not isinstance(cells, list):
            raise InspectorError(f"{label} lists its cells as {kind(cells)}, not a list")
        for cell in cells:
            check_entry(cell, f"a cell of {label}")
    units = config.get("units")
    if units is not None and (not _integer(units) or units < 1):
        raise InspectorError(f"{label} has units {kind(units)}, not a positive whole number")
    mask = config.get("mask_value")
    if "mask_value" in config and not _real(mask):
        raise InspectorError(f"{label} has mask_value {kind(mask)}, not a number")
    merge = config.get("merge_mode")
    if merge is not None and not isinstance(merge, str):
        raise InspectorError(f"{label} has merge_mode {kind(merge)}, not a name")
    for key in FLAGS:
        if config.get(key) is not None and not isinstance(config[key], (bool, int)):
            raise InspectorError(f"{label} has {key} {kind(config[key])}, not true or false")
    for key in ("activation", "recurrent_activation"):
        value = config.get(key)
        if value is not None and not isinstance(value, (str, dict)):
            raise InspectorError(f"{label} has {key} {kind(value)}, not an activation name")


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
