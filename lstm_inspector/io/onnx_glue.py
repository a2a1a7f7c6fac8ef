"""What the shape operators between two ONNX ``LSTM`` nodes do, found by running them on indices.

Exporters put ``Transpose``/``Reshape``/``Squeeze``/``Slice``... between stacked LSTM nodes to
turn ``Y`` (layout 0: ``(T, D, batch, H)``; layout 1: ``(batch, T, D, H)``) into the next node's
``X`` (``(T, batch, in)`` / ``(batch, T, in)``). Instead of reasoning about each operator's
axes, the tool runs the operators with NumPy on four *index tensors* of Y's shape, holding at
every position its time step t, direction d, batch row b and unit h. After the glue, position
``(t, b, f)`` of X says which element of Y it came from, so the link is read off exactly:

    X[t, b, f] = Y[t, f // H, b, f % H]        concat, forward first (Keras's "concat")
    X[t, b, f] = reduce_d Y[t, d, b, f]        ReduceSum / ReduceMean / ReduceProd ("sum", ...)
    X[t, ...]  = Y[T - 1 - t, ...]             the time axis flipped (a Slice with step -1)

Only operators that move elements (and the three reductions over the direction axis) count as
glue; anything else (a MatMul, a Conv) means the next node is not fed by this one alone.
"""
from __future__ import annotations

import numpy as np

GLUE = ("Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Cast", "Slice",
        "Flatten", "ReduceSum", "ReduceMean", "ReduceProd")
MERGES = {"ReduceSum": "sum", "ReduceMean": "ave", "ReduceProd": "mul"}
AXES = ("t", "d", "b", "h")


class NotGlue(Exception):
    """The operators do not map Y onto X as a layer link (the message says why)."""


def constants(graph) -> dict:
    """``{tensor name: ndarray}`` of the graph's initializers and ``Constant`` nodes."""
    from onnx import helper, numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute:
            value = helper.get_attribute_value(node.attribute[0])
            values[node.output[0]] = (numpy_helper.to_array(value) if hasattr(value, "dims")
                                      else np.asarray(value))
    return values


def attr(node, name, default=None):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            value = helper.get_attribute_value(a)
            if isinstance(value, bytes):
                return value.decode()
            if isinstance(value, list) and value and isinstance(value[0], bytes):
                return [v.decode() for v in value]
            return value
    return default


def walk_back(name: str, producers: dict) -> tuple:
    """``(source tensor, glue nodes in data order)``: from ``name`` back through glue operators
    (each fed by its first input) to the first tensor that glue did not make."""
    ops = []
    while name in producers and producers[name].op_type in GLUE:
        node = producers[name]
        ops.append(node)
        name = node.input[0]
    return name, ops[::-1]


def walk_forward(name: str, consumers: dict) -> list:
    """The glue operators that follow ``name`` while each is its tensor's only consumer."""
    ops = []
    while len(consumers.get(name, ())) == 1 and consumers[name][0].op_type in GLUE:
        node = consumers[name][0]
        ops.append(node)
        name = node.output[0]
    return ops


def index_tensors(T: int, D: int, B: int, H: int, layout: int) -> dict:
    """t, d, b, h at every position of an LSTM node's ``Y`` of this size and layout."""
    grids = dict(zip(AXES, np.meshgrid(np.arange(T), np.arange(D), np.arange(B), np.arange(H),
                                      indexing="ij")))
    if layout == 1:  # (T, D, B, H) -> (B, T, D, H)
        grids = {k: np.transpose(v, (2, 0, 1, 3)) for k, v in grids.items()}
    return grids


def run_glue(ops: list, grids: dict, consts: dict) -> tuple:
    """``(index tensors after ops, merge)``; merge is ``"sum"``/``"ave"``/``"mul"`` when a
    reduction over the direction axis happened, else None. Raises NotGlue."""
    merge = None
    for node in ops:
        op = node.op_type
        if op in MERGES:
            grids, merge = _reduce(node, grids, consts), MERGES[op]
            continue
        grids = {k: _apply(node, v, consts) for k, v in grids.items()}
    return grids, merge


def read_link(grids: dict, H: int, layout: int):
    """How X (index tensors after the glue, X's ``layout``) takes Y: ``(time, merge)`` with
    time ``"plain"`` or ``"flipped"`` and merge ``"concat"``, ``"backward-first"`` or
    ``"reduced"``. Raises NotGlue when X is not Y rearranged per step."""
    if grids["t"].ndim != 3:
        raise NotGlue(f"the result has {grids['t'].ndim} dimensions, not 3")
    if layout == 1:
        grids = {k: np.swapaxes(v, 0, 1) for k, v in grids.items()}
    T, B, F = grids["t"].shape
    steps = np.arange(T)[:, None, None]
    if not np.array_equal(grids["b"], np.broadcast_to(np.arange(B)[None, :, None], (T, B, F))):
        raise NotGlue("it mixes batch rows")
    if np.array_equal(grids["t"], np.broadcast_to(steps, (T, B, F))):
        time = "plain"
    elif np.array_equal(grids["t"], np.broadcast_to(T - 1 - steps, (T, B, F))):
        time = "flipped"
    else:
        raise NotGlue("it reorders time steps other than by flipping them")
    f = np.broadcast_to(np.arange(F)[None, None, :], (T, B, F))
    if (grids["d"] < 0).all():
        if F != H or not np.array_equal(grids["h"], f):
            raise NotGlue("it reorders units")
        return time, "reduced"
    if not np.array_equal(grids["h"], f % H):
        raise NotGlue("it reorders units")
    if np.array_equal(grids["d"], f // H):
        return time, "concat"
    if np.array_equal(grids["d"], (F // H - 1) - f // H):
        return time, "backward-first"
    raise NotGlue("it interleaves the directions")


def _int_list(node, index: int, name: str, consts: dict):
    """An operator's integer list given as input ``index`` (newer opsets) or attribute ``name``."""
    if len(node.input) > index and node.input[index]:
        source = node.input[index]
        if source not in consts:
            raise NotGlue(f"{node.op_type} '{node.name or node.output[0]}' takes its {name} from "
                          f"another operator, not a constant")
        return [int(v) for v in np.asarray(consts[source]).reshape(-1)]
    value = attr(node, name)
    return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]


def _apply(node, a: np.ndarray, consts: dict) -> np.ndarray:
    op = node.op_type
    try:
        if op in ("Identity", "Dropout", "Cast"):
            return a
        if op == "Transpose":
            return np.transpose(a, attr(node, "perm", None))
        if op == "Reshape":
            shape = _int_list(node, 1, "shape", consts)
            if not attr(node, "allowzero", 0):
                shape = [a.shape[i] if s == 0 else s for i, s in enumerate(shape)]
            return a.reshape(shape)
        if op == "Flatten":
            axis = attr(node, "axis", 1) % (a.ndim or 1)
            return a.reshape(int(np.prod(a.shape[:axis])), -1)
        if op == "Squeeze":
            axes = _int_list(node, 1, "axes", consts)
            return np.squeeze(a, tuple(axes) if axes is not None else None)
        if op == "Unsqueeze":
            axes = sorted(x % (a.ndim + len(_int_list(node, 1, "axes", consts)))
                          for x in _int_list(node, 1, "axes", consts))
            for x in axes:
                a = np.expand_dims(a, x)
            return a
        if op == "Slice":
            return _slice(node, a, consts)
    except (ValueError, TypeError, IndexError) as exc:
        raise NotGlue(f"{op} '{node.name or node.output[0]}' does not apply ({exc})") from None
    raise NotGlue(f"{op} is not a shape operator")


def _slice(node, a, consts):
    """ONNX Slice: negative starts/ends count from the end, then clamp (``[0, n]`` for a positive
    step, ``[0, n-1]`` / ``[-1, n-1]`` for a negative one)."""
    starts = _int_list(node, 1, "starts", consts)
    ends = _int_list(node, 2, "ends", consts)
    axes = _int_list(node, 3, "axes", consts) or list(range(len(starts)))
    steps = _int_list(node, 4, "steps", consts) or [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis %= a.ndim
        size = a.shape[axis]
        start, end = start + size if start < 0 else start, end + size if end < 0 else end
        if step > 0:
            start, end = min(max(start, 0), size), min(max(end, 0), size)
        else:
            start, end = min(max(start, 0), size - 1), min(max(end, -1), size - 1)
        a = np.take(a, np.arange(start, end, step, dtype=np.int64), axis=axis)
    return a


def _reduce(node, grids: dict, consts: dict) -> dict:
    axes = _int_list(node, 1, "axes", consts)
    d = grids["d"]
    if axes is None or len(axes) != 1:
        raise NotGlue(f"{node.op_type} over {axes or 'every axis'}, not the direction axis alone")
    axis = axes[0] % d.ndim
    others = [grids[k] for k in ("t", "b", "h")]
    if d.shape[axis] < 2 or any(np.ptp(g, axis=axis).any() for g in others) or \
            not np.ptp(d, axis=axis).all():
        raise NotGlue(f"{node.op_type} is not over the direction axis")
    keep = attr(node, "keepdims", 1)
    out = {}
    for k, g in grids.items():
        taken = np.take(g, [0], axis=axis)
        out[k] = taken if keep else np.squeeze(taken, axis)
    out["d"] = np.full_like(out["d"], -1)
    return out
