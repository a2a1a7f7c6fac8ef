"""Finding and opening a TensorFlow checkpoint: its prefix, and its variables' shapes and values.

TensorFlow is imported lazily (``tf_runtime``) and only ``tf.train.load_checkpoint`` is used: no
graph is built, nothing in the checkpoint runs.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import InspectorError


def _resolve_prefix(path) -> str:
    """The checkpoint prefix for any of the accepted spellings of ``path``."""
    p = Path(os.fspath(path)).expanduser()
    if p.is_dir():
        return _latest_in_folder(p)
    text = str(p)
    for pattern in (r"\.index$", r"\.data-\d+-of-\d+$", r"\.meta$"):
        stripped = re.sub(pattern, "", text)
        if stripped != text:
            text = stripped
            break
    if Path(text + ".index").is_file() or Path(text).is_file():
        return text
    raise InspectorError(
        f"no TensorFlow checkpoint at {text} (expected {Path(text).name}.index beside "
        f"{Path(text).name}.data-00000-of-00001)"
    )


def _latest_in_folder(folder: Path) -> str:
    tf = _import_tensorflow()

    latest = tf.train.latest_checkpoint(str(folder))
    if latest and Path(latest + ".index").is_file():
        return latest
    indexes = sorted(folder.glob("*.index"))
    if len(indexes) == 1:
        return str(indexes[0])[: -len(".index")]
    if not indexes:
        raise InspectorError(f"folder {folder} holds no TensorFlow checkpoint (no *.index file)")
    raise InspectorError(
        f"folder {folder} holds {len(indexes)} checkpoints and no 'checkpoint' file naming the "
        f"latest; pass one prefix, e.g. {str(indexes[-1])[: -len('.index')]}"
    )


# ---- TensorFlow reader -------------------------------------------------------------------
def _import_tensorflow():
    """TensorFlow through io's runtime (the one place in io that imports it, quietly)."""
    from .tf_runtime import import_tensorflow

    return import_tensorflow("reading a TF checkpoint")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def _open_reader(prefix: str):
    tf = _import_tensorflow()

    try:
        return tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError, OSError, RuntimeError, IndexError, TypeError) as error:
        raise InspectorError(
            f"{prefix} is not a readable TensorFlow checkpoint ({_first_line(error)})"
        ) from None


def _shape_map(reader, prefix: str) -> dict:
    try:
        return {name: tuple(int(d) for d in shape) for name, shape in reader.get_variable_to_shape_map().items()}
    except Exception as error:  # the reader wraps C++ errors in several Python types
        raise InspectorError(f"checkpoint {prefix} has an unreadable index ({_first_line(error)})") from None


def _get_tensor(reader, name: str, prefix: str) -> np.ndarray:
    try:
        value = np.asarray(reader.get_tensor(name))
    except Exception as error:  # DataLossError, IndexError on a truncated shard, ...
        raise InspectorError(
            f"variable '{name}' of checkpoint {prefix} cannot be read; the data file is "
            f"missing or corrupt ({_first_line(error)})"
        ) from None
    if value.dtype not in (np.float16, np.float32, np.float64):
        value = value.astype(np.float32)  # bfloat16 and friends: numpy arithmetic wants float32
    return value
