"""HDF5 side of Keras files: attributes (``bytes`` or ``str``), versions, and weight sets.

A :class:`WeightSet` is one recurrent cell's ``kernel`` / ``recurrent_kernel`` / ``bias`` datasets,
found in a Keras 2 layer group (listed by ``weight_names``, split as ``weight_names0``... when
long; names may lack ``:0``) or a Keras 3 group (``.../vars/{0,1,2}``); read on demand with h5py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import InspectorError

_CELL_PART = re.compile(r"^(lstm_cell|gru_cell|simple_rnn_cell|cell|vars)(_\d+)?$")


# ---- HDF5 attribute helpers -------------------------------------------------------------------
def text(value) -> str:
    """An attribute value as ``str`` (h5py >= 3 gives ``str``; older files / writers ``bytes``)."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bytes, np.bytes_)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InspectorError(f"an attribute holds bytes that are not UTF-8 text "
                                 f"({bytes(value)[:20]!r})") from None
    return str(value)


def attr_list(group, name: str) -> list:
    """A list attribute, whole (``name``) or chunked (``name0``, ``name1``...), as strings."""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks, k = [], 0
        while f"{name}{k}" in group.attrs:
            chunks.append(group.attrs[f"{name}{k}"])
            k += 1
    out = []
    for raw in chunks:
        for value in np.atleast_1d(raw):
            if isinstance(value, (float, np.floating)):  # Keras writes [] as a float64 array
                continue
            out.append(text(value))
    return out


def version_tuple(version: str) -> tuple:
    match = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", version or "")
    return tuple(int(g or 0) for g in match.groups()) if match else ()


def default_recurrent_activation(version: str) -> str:
    """LSTM's default ``recurrent_activation`` for the Keras that wrote the file.

    Keras <= 2.2 and TF 1.x ``tf.keras`` (``2.1.6-tf``, ``2.2.4-tf``) defaulted to
    hard_sigmoid; Keras 2.3+, tf.keras 2.x and Keras 3 to sigmoid.
    """
    v = version_tuple(version)
    return "hard_sigmoid" if v and v < (2, 3) else "sigmoid"


# ---- weight sets ------------------------------------------------------------------------------
@dataclass
class WeightSet:
    """One recurrent cell's arrays: ``kernel``, ``recurrent_kernel`` and maybe ``bias``.

    ``path`` names the groups that hold it, relative to its layer group (``("bidirectional",
    "forward_lstm")``, ``("forward_layer", "cell", "vars")``); datasets are read on demand.
    """

    path: tuple
    arrays: dict

    def read(self, leaf: str):
        dataset = self.arrays.get(leaf)
        return None if dataset is None else read_dataset(dataset)

    def shape(self, leaf: str):
        dataset = self.arrays.get(leaf)
        return None if dataset is None else tuple(dataset.shape)



#: the largest array the tool reads from a model file (a damaged header may declare terabytes)
MAX_ARRAY_BYTES = 4 * 2 ** 30


def read_dataset(dataset) -> np.ndarray:
    """A dataset's values, refused (one sentence) when it declares more than MAX_ARRAY_BYTES."""
    size = int(np.prod(dataset.shape, dtype=object)) * dataset.dtype.itemsize \
        if dataset.shape is not None else 0
    if size > MAX_ARRAY_BYTES:
        raise InspectorError(f"its dataset '{dataset.name}' declares shape {dataset.shape} "
                             f"({size / 2 ** 30:.3g} GB), more than a model's weights take; the "
                             f"file is damaged")
    return np.asarray(dataset[()])


def legacy_sets(group) -> list:
    """Weight sets of a Keras 2 layer group, in the order of its ``weight_names``."""
    names = attr_list(group, "weight_names")
    if not names:
        group.visititems(lambda n, o: names.append(n) if hasattr(o, "shape") else None)
    by_path: dict = {}
    for name in names:
        dataset = _dataset(group, name)
        if dataset is None:
            continue
        parts = name.split("/")
        leaf = parts[-1].split(":")[0]
        by_path.setdefault(tuple(parts[:-1]), {})[leaf] = dataset
    return [WeightSet(path, arrays) for path, arrays in by_path.items()
            if "kernel" in arrays and "recurrent_kernel" in arrays]


def _dataset(group, name: str):
    for candidate in (name, name.split(":")[0], name + ":0"):
        if candidate in group and hasattr(group[candidate], "shape"):
            return group[candidate]
    return None


def _natural(key: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def vars_sets(group, path=()) -> list:
    """Weight sets of a Keras 3 layout group: ``.../vars/{0,1,2}`` = kernel, recurrent, bias."""
    found = []
    for key in sorted(group.keys(), key=_natural):
        item = group[key]
        if hasattr(item, "shape"):
            continue
        if key == "vars":
            arrays = {leaf: item[str(k)] for k, leaf in enumerate(("kernel", "recurrent_kernel",
                                                                    "bias")) if str(k) in item}
            kernel, recurrent = arrays.get("kernel"), arrays.get("recurrent_kernel")
            if (kernel is not None and recurrent is not None and len(recurrent.shape) >= 2
                    and kernel.shape[-1] == recurrent.shape[-1]):
                found.append(WeightSet(path + (key,), arrays))
        else:
            found.extend(vars_sets(item, path + (key,)))
    return found
