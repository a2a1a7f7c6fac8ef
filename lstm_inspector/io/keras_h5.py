"""Keras model and weight files -> :class:`~lstm_inspector.core.model.Model`, with h5py and JSON only.

Read, never run: the architecture comes from the JSON config and the arrays from HDF5 datasets;
nothing in the file is deserialised as code (a ``Lambda`` layer's marshalled bytecode is never
touched), and TensorFlow is never imported.

Files understood
----------------
* full models (``model.save("m.h5")``): root attributes ``model_config``, ``keras_version``,
  ``backend``; weights in ``model_weights/<layer>/<weight name>`` listed by the group's
  ``weight_names`` attribute (split as ``weight_names0``, ``weight_names1``... when long);
* weights-only files (``save_weights``): the same layer groups at the root, no architecture, so
  every layer's kind is inferred from its shapes (bias 8H: CuDNNLSTM; 4H: LSTM; (H, 3H)
  recurrent kernel: GRU; (H, H): SimpleRNN);
* Keras 3 ``.keras`` zips (``config.json`` + ``model.weights.h5`` whose layers sit at
  ``layers/<class>[_k]/[cell/]vars/{0,1,2}``) and Keras 3 ``.weights.h5`` files.

Writers: standalone Keras 2.0-2.2, TF 1.x ``tf.keras`` (``2.2.4-tf``), tf.keras 2.x, tf-keras,
Keras 3. Attributes may be ``bytes`` or ``str``; weight names may lack ``:0``.

Per layer the true reading is ``READINGS["cudnn"]`` for CuDNNLSTM (``W_g =
kernel[:, gH:(g+1)H].reshape(H, in)``, tanh / sigmoid fixed) and ``READINGS["keras"]`` for LSTM
(``W_g = kernel[:, gH:(g+1)H].T``, activations from the config; a config without
``recurrent_activation`` gets the writer's default: hard_sigmoid before Keras 2.3, sigmoid after).
"""
import io
import zipfile
from dataclasses import replace

from ..core.model import Model
from ..errors import InspectorError, naming
from . import keras_config as kc
from .config_checks import MAX_JSON_BYTES, parse_config
from .h5_safety import refuse_looping_heaps, refuse_outside_objects
from . import keras_head
from .h5_arrays import attr_list, legacy_sets, text, vars_sets, version_tuple, _natural
from .keras_layers import _Builder, _layers_from_config
from .keras_weights import _layers_from_weights
from .overrides import apply_overrides, remaining_assumptions


#: what h5py (and the HDF5 library under it) raises on a damaged file: its structure is read
#: lazily, so any read may meet a flipped byte
H5_FAILURES = (OSError, RuntimeError, KeyError, ValueError, TypeError)


def _open_h5(path, source=None):
    """The HDF5 file open for reading, once it is known to point nowhere outside itself."""
    import h5py

    source = source or path
    _check_heaps(path, source)
    try:
        f = h5py.File(path, "r")
    except H5_FAILURES as exc:
        raise InspectorError(f"{source} is a damaged or truncated HDF5 file "
                             f"({_reason(exc)})") from None
    try:
        refuse_outside_objects(f, source)
    except InspectorError:
        f.close()
        raise
    except H5_FAILURES as exc:
        f.close()
        raise _damaged(source, exc) from None
    return f


def _check_heaps(path, source) -> None:
    """``h5_safety.refuse_looping_heaps`` on the file's bytes (a path or an in-memory file)."""
    import mmap

    if hasattr(path, "getbuffer"):
        refuse_looping_heaps(bytes(path.getbuffer()), source)
        return
    try:
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0,
                                                   access=mmap.ACCESS_READ) as data:
            refuse_looping_heaps(data, source)
    except (OSError, ValueError):  # an empty file cannot be mapped: h5py says why it fails
        return


def _reason(exc) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.strip("'\"")[:120]


def _damaged(source, exc) -> InspectorError:
    return InspectorError(f"{source} is damaged: reading it failed ({_reason(exc)})")


def _check_version(source, version):
    if version_tuple(version)[:1] == (1,):
        raise InspectorError(f"{source} was written by Keras {version}; Keras 1 files are not "
                             f"supported (re-save the model with Keras 2)")


def _keras3_hard_sigmoid(layer):
    """Keras 3 redefined hard_sigmoid (relu6(x + 3) / 6); Keras 2's is clip(0.2 x + 0.5, 0, 1)."""
    def k3(name):
        return "hard_sigmoid_keras3" if name == "hard_sigmoid" else name

    dirs = {d: replace(s, activation=k3(s.activation),
                                   recurrent_activation=k3(s.recurrent_activation))
            for d, s in layer.directions.items()}
    return replace(layer, directions=dirs)


def _finish(layers, builder, file_format, overrides) -> Model:
    notes = builder.notes
    rec_defaults = sorted({rec for _, rec in builder.defaulted})
    if rec_defaults:
        who = ", ".join(name for name, _ in builder.defaulted)
        notes.insert(0, f"keras {builder.keras_version or '(unknown version)'} file: LSTM layers "
                        f"without recurrent_activation ({who}) use {rec_defaults[0]}")
    if version_tuple(builder.keras_version)[:1] == (3,) and any(
            "hard_sigmoid" in (l.activation, l.recurrent_activation) for l in layers):
        layers = [_keras3_hard_sigmoid(l) for l in layers]
        notes.append("Keras 3 file: hard_sigmoid is read as Keras 3 defines it, relu6(x + 3) / 6")
    layers = apply_overrides(layers, overrides, notes, "the Keras model")
    assumptions = remaining_assumptions(builder.assumptions, overrides)
    if assumptions:
        notes.append("weights-only file (no architecture stored): the tool assumed "
                     + "; ".join(assumptions))
    return Model(tuple(layers), source=builder.source, file_format=file_format,
                 keras_version=builder.keras_version, notes=tuple(dict.fromkeys(notes)),
                 mask_value=builder.mask_value, assumptions=tuple(assumptions),
                 heads=builder.heads, not_computed=tuple(dict.fromkeys(builder.not_computed)),
                 front=builder.front)


def load_keras_h5(path, **overrides) -> Model:
    """Read a Keras HDF5 full-model or weights-only file into a :class:`Model`.

    Parameters
    ----------
    path : the ``.h5`` / ``.hdf5`` file.
    **overrides : ``kind``, ``activation``, ``recurrent_activation``, ``merge_mode``,
        ``layers`` (see :func:`apply_overrides`); mostly for weights-only files, whose
        architecture is not stored.
    """
    source = str(path)
    f = _open_h5(path)
    try:
        with f:
            return _load_open_h5(f, source, overrides)
    except InspectorError as exc:
        raise naming(exc, source) from None
    except H5_FAILURES as exc:
        raise _damaged(source, exc) from None


def _load_open_h5(f, source, overrides) -> Model:
    version = text(f.attrs.get("keras_version", "")) or (
        text(f["model_weights"].attrs.get("keras_version", "")) if "model_weights" in f else "")
    _check_version(source, version)
    if "model_config" in f.attrs:
        config = parse_config(text(f.attrs["model_config"]), "model_config")
        root = f["model_weights"] if "model_weights" in f else f
        cache: dict = {}

        def sets_of(group):
            if group not in cache:
                cache[group] = legacy_sets(root[group]) if group in root else []
            return cache[group]

        builder = _Builder(source, version, sets_of)
        builder.head_arrays = lambda node: keras_head.legacy_arrays(root, node)
        builder.class_names = keras_head.class_names_for(source, f.attrs)
        layers = _layers_from_config(config, builder, _legacy_group)
        return _finish(layers, builder, "keras-h5", overrides)
    builder = _Builder(source, version, None)
    names = attr_list(f, "layer_names")
    if names:
        groups = [(n, legacy_sets(f[n])) for n in names if n in f]
    elif "layers" in f:  # Keras 3 save_weights: layers/<class>[_k]/.../vars/{0,1,2}
        groups = [(key, vars_sets(f["layers"][key]))
                  for key in sorted(f["layers"].keys(), key=_natural)]
        builder.notes.append("Keras 3 weights file: layer order follows the stored layer names")
    else:
        raise InspectorError(f"{source} is an HDF5 file but not a Keras model or weights file "
                             f"(it has no model_config and no layer_names)")
    layers = _layers_from_weights(groups, builder)
    return _finish(layers, builder, "keras-h5-weights", overrides)


def _legacy_group(parent_group, entry, index):
    """Keras 2 HDF5: a nested model's layers keep their weights in the top-level layer's group."""
    return parent_group or kc.layer_name(entry)


def _v3_group(parent_group, entry, index):
    """Keras 3 ``model.weights.h5``: ``layers/<snake class>[_<k>]``, nested under ``.../layers``."""
    key = kc.snake_case(entry.get("class_name", "")) + (f"_{index}" if index else "")
    return f"{parent_group}/layers/{key}" if parent_group else f"layers/{key}"


def load_keras_v3(path, **overrides) -> Model:
    """Read a Keras 3 ``.keras`` zip (``config.json`` + ``model.weights.h5``) into a :class:`Model`."""
    source = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            missing = [m for m in ("config.json", "model.weights.h5") if m not in members]
            if missing:
                raise InspectorError(f"{source} is a zip file but not a Keras model (it has no "
                                     f"{' or '.join(missing)})")
            too_big = [i.filename for i in archive.infolist() if i.filename.endswith(".json")
                       and i.file_size > MAX_JSON_BYTES]
            if too_big:
                raise InspectorError(f"its {too_big[0]} is over {MAX_JSON_BYTES // 2 ** 20} MB, "
                                     f"more than a model config can take")
            config = parse_config(_utf8(archive.read("config.json")), "config.json")
            metadata = parse_config(_utf8(archive.read("metadata.json")), "metadata.json") \
                if "metadata.json" in members else {}
            weights = archive.read("model.weights.h5")
    except InspectorError as exc:
        raise naming(exc, source) from None
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError, EOFError) as exc:
        raise InspectorError(f"{source} is a damaged .keras file ({_reason(exc)})") from None
    version = str(metadata.get("keras_version", ""))
    f = _open_h5(io.BytesIO(weights), f"{source} (its model.weights.h5)")
    try:
        with f:
            return _load_open_v3(f, source, config, version, overrides)
    except InspectorError as exc:
        raise naming(exc, source) from None
    except H5_FAILURES as exc:
        raise _damaged(source, exc) from None


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InspectorError("a JSON member of the zip is not UTF-8 text") from None


def _load_open_v3(f, source, config, version, overrides) -> Model:
    def sets_of(group):
        return vars_sets(f[group]) if group in f else []

    builder = _Builder(source, version, sets_of)
    builder.head_arrays = lambda node: keras_head.vars_arrays(f, node)
    builder.class_names = keras_head.class_names_for(source)
    layers = _layers_from_config(config, builder, _v3_group)
    return _finish(layers, builder, "keras-v3", overrides)


def is_hdf5(path) -> bool:
    """True when the file starts with the HDF5 signature (at 0, 512, 1024 or 2048 bytes)."""
    signature = b"\x89HDF\r\n\x1a\n"
    with open(path, "rb") as handle:
        head = handle.read(2048 + 8)
    return any(head[k:k + 8] == signature for k in (0, 512, 1024, 2048))


__all__ = ["load_keras_h5", "load_keras_v3", "is_hdf5"]
