"""Seeded mutators for the loaders' fuzz test: bytes (flips, cuts, splices, extreme integer
fields) and, for Keras HDF5 files, the JSON config and the attributes (values swapped for
values of other types). Every mutant is a pure function of ``random.Random(seed)``."""
from __future__ import annotations

import json
import random
import struct

import numpy as np

#: what a hostile field holds in place of the right value
ODD_VALUES = (None, [], {}, 0, -1, 1, 2 ** 63, 1e308, float("nan"), "", "x", "LSTM", True,
              [48], {"class_name": 5}, {"class_name": "LSTM", "config": []}, [[["a", 0]]],
              "../../etc/passwd", "a\nb")
EXTREME_INTS = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


def mutate_bytes(raw: bytes, rng: random.Random, hot: int | None = None) -> tuple:
    """``(mutant, what was done)``; ``hot``: mutate only within the first ``hot`` bytes (the
    headers and structure) half of the time."""
    data = bytearray(raw)
    limit = len(data) if hot is None or rng.random() < 0.5 else min(hot, len(data))
    kind = rng.choice(("flip", "flip", "overwrite", "truncate", "int field", "splice", "zero"))
    at = rng.randrange(max(limit, 1))
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            k = rng.randrange(max(limit, 1))
            data[k] ^= 1 << rng.randrange(8) if rng.random() < 0.7 else 0xFF
        return bytes(data), f"flipped bits near byte {at}"
    if kind == "overwrite":
        size = rng.randint(1, 64)
        data[at:at + size] = bytes(rng.randrange(256) for _ in range(size))
        return bytes(data[:len(raw)]), f"overwrote {size} bytes at {at}"
    if kind == "truncate":
        return bytes(data[:at]), f"truncated to {at} bytes"
    if kind == "int field":
        width, order = rng.choice((2, 4, 8)), rng.choice("<>")
        value = rng.choice(EXTREME_INTS) & ((1 << (8 * width)) - 1)
        data[at:at + width] = struct.pack(order + {2: "H", 4: "I", 8: "Q"}[width], value)
        return bytes(data[:len(raw)]), f"wrote {value} as a {width}-byte int at {at}"
    if kind == "splice":
        start, size = rng.randrange(len(data) or 1), rng.randint(1, 256)
        data[at:at] = data[start:start + size]
        return bytes(data), f"copied {size} bytes from {start} to {at}"
    size = rng.randint(1, 512)
    data[at:at + size] = bytes(len(data[at:at + size]))
    return bytes(data), f"zeroed {size} bytes at {at}"


def _paths(value, prefix=()):
    """Every path (tuple of keys / indexes) into a JSON value."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


def mutate_config(config: dict, rng: random.Random) -> tuple:
    """``(config JSON text, what was done)``: one to three fields swapped for odd values,
    dropped, or a layer entry duplicated."""
    config = json.loads(json.dumps(config))
    done = []
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(config) if p]
        path = rng.choice(paths)
        parent = config
        for key in path[:-1]:
            parent = parent[key]
        action = rng.random()
        if action < 0.75:
            parent[path[-1]] = rng.choice(ODD_VALUES)
            done.append(f"set {'/'.join(map(str, path))} to {parent[path[-1]]!r}")
        elif action < 0.9 and isinstance(parent, dict):
            del parent[path[-1]]
            done.append(f"dropped {'/'.join(map(str, path))}")
        elif isinstance(parent, list):
            parent.insert(path[-1], json.loads(json.dumps(parent[path[-1]])))
            done.append(f"duplicated {'/'.join(map(str, path))}")
    return json.dumps(config), "; ".join(done)


def mutate_h5_fields(path, rng: random.Random) -> str:
    """Edit, in place, the Keras HDF5 file ``path``: its model_config (``mutate_config``), a
    root or layer-group attribute, or a weight dataset's values or dtype. Returns what."""
    import h5py

    with h5py.File(path, "r+") as f:
        choice = rng.random()
        if choice < 0.5 and "model_config" in f.attrs:
            text, done = mutate_config(json.loads(f.attrs["model_config"]), rng)
            f.attrs["model_config"] = text
            return f"model_config: {done}"
        datasets, groups = [], []
        f.visititems(lambda n, o: (datasets if isinstance(o, h5py.Dataset) else groups).append(n))
        if choice < 0.75 and datasets:
            name = rng.choice(datasets)
            old = f[name][()]
            del f[name]
            change = rng.choice(("nan", "int8", "shape", "empty", "string", "scalar"))
            new = {"nan": lambda: np.where(np.arange(old.size).reshape(old.shape) % 7 == 0,
                                           np.nan, old),
                   "int8": lambda: old.astype(np.int8),
                   "shape": lambda: old.reshape(-1)[:max(old.size - 1, 0)],
                   "empty": lambda: np.zeros((0,) * max(old.ndim, 1), old.dtype),
                   "string": lambda: np.array([b"x"] * max(old.size, 1)),
                   "scalar": lambda: np.float32(3.0)}[change]()
            f.create_dataset(name, data=new)
            return f"dataset {name}: {change}"
        holder = f[rng.choice(groups)] if groups and rng.random() < 0.6 else f
        names = list(holder.attrs) or ["weight_names"]
        name = rng.choice(names)
        value = rng.choice((np.int64(5), np.float64(np.nan), b"\xff\xfe", "x",
                            np.array([b"a", b"b"]), np.array([], np.float64), np.array([1, 2])))
        holder.attrs[name] = value
        return f"attribute {holder.name}@{name} = {value!r}"
