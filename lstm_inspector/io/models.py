"""One entry point for model files: look at what a file is, hand it to the loader that reads it.

The decision is made from content, not from the name: the HDF5 signature means Keras HDF5
(full model or weights only), a zip holding ``data.pkl`` is a ``torch.save`` file (as is the
legacy format's pickled magic number), a zip holding ``config.json`` means a Keras 3 ``.keras``
file, an 8-byte length followed by ``{`` is safetensors, a ``.onnx`` file (or a protobuf that
parses as an ONNX model) is ONNX, and TensorFlow checkpoints are recognised by their ``.index``
file (given directly, as the prefix beside it, as a ``.data-*`` shard or ``.meta`` graph beside
it, or as a folder holding a ``checkpoint`` file).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from ..core.model import Model
from ..errors import InspectorError
from . import keras_h5


def _checkpoint_target(path: Path):
    """The path to hand the checkpoint loader, or None when ``path`` is not a checkpoint."""
    if path.is_dir():
        if (path / "checkpoint").is_file() or any(path.glob("*.index")):
            return path
        return None
    if path.suffix == ".index" and path.is_file():
        return path
    if Path(f"{path}.index").is_file():  # a checkpoint prefix, e.g. model.ckpt-1000
        return path
    if ".data-" in path.name:  # model.ckpt.data-00000-of-00001 -> model.ckpt
        prefix = path.with_name(path.name.split(".data-")[0])
        if Path(f"{prefix}.index").is_file():
            return prefix
    if path.suffix == ".meta" and path.with_suffix(".index").is_file():  # TF 1.x graph file
        return path.with_suffix("")
    return None


TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."  # torch.save before 1.6


def _is_torch_zip(path: Path) -> bool:
    """A ``torch.save`` zip: ``<archive>/data.pkl`` inside (a ``.keras`` zip has config.json)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n == "data.pkl" or n.endswith("/data.pkl") for n in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_model(path, **overrides) -> Model:
    """Read a model file into a :class:`~lstm_inspector.core.model.Model`.

    Parameters
    ----------
    path : Keras HDF5 (``model.save`` or ``save_weights``), a Keras 3 ``.keras`` zip, a
        TensorFlow checkpoint (its ``.index`` file, its prefix, or its folder), a PyTorch state
        dict (``torch.save`` or safetensors) or an ONNX model.
    **overrides : options for files that do not say everything (weights-only files,
        checkpoints): ``kind``, ``activation``, ``recurrent_activation``, ``merge_mode``,
        ``layers`` for Keras files; checkpoints take their loader's options; ``prefix`` names the
        module of a PyTorch state dict that holds several.
        ``features_are="lstm-input"`` says the features are already the first LSTM's input
        (the layers before it do not run; see ``core.front``).

    Raises
    ------
    InspectorError
        for a missing, empty, damaged or unrecognised file, in one sentence.
    """
    features_are = overrides.pop("features_are", None)
    model = _load_file(Path(path), overrides)
    if features_are not in (None, model.features_are):
        from dataclasses import replace

        model = replace(model, features_are=features_are)
    return model


def _load_file(path: Path, overrides: dict) -> Model:
    prefix = overrides.pop("prefix", None)
    target = _checkpoint_target(path)
    if target is not None:
        from .tf_checkpoint import load_checkpoint

        _no_prefix(prefix, "a TensorFlow checkpoint")
        return load_checkpoint(target, **overrides)
    if not path.exists():
        raise InspectorError(f"model file {path} does not exist")
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            raise InspectorError(f"{path} is a TensorFlow SavedModel folder, which the tool does "
                                 f"not read; save the model as Keras HDF5 (model.save('m.h5'))")
        raise InspectorError(f"{path} is a folder, not a model file or a checkpoint folder")
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise InspectorError(f"model file {path} cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise InspectorError(f"model file {path} is empty")
    if keras_h5.is_hdf5(path):
        _no_prefix(prefix, "a Keras file")
        return keras_h5.load_keras_h5(path, **overrides)
    from .safetensors_file import looks_like_safetensors

    torch_file = head.startswith(TORCH_LEGACY_MAGIC) or (
        head.startswith(b"PK\x03\x04") and _is_torch_zip(path))
    if torch_file or looks_like_safetensors(path, head, size):
        from .torch_checkpoint import load_torch_checkpoint

        return load_torch_checkpoint(path, safetensors=not torch_file, prefix=prefix, **overrides)
    if path.suffix.lower() == ".onnx" or (head[:1] == b"\x08" and path.suffix.lower() != ".pb"):
        from .onnx_model import is_onnx, load_onnx_model

        if path.suffix.lower() == ".onnx" or is_onnx(path):
            _no_prefix(prefix, "an ONNX model")
            return load_onnx_model(path, **overrides)
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        raise InspectorError(f"{path.name} is not a torch.save file (neither a zip holding "
                             f"data.pkl nor the legacy format): damaged or truncated")
    if suffix == ".safetensors":
        from .safetensors_file import read_header

        read_header(path)  # says what is wrong with its first bytes
    _no_prefix(prefix, "a Keras file")
    if head.startswith(b"PK\x03\x04") and zipfile.is_zipfile(path):
        return keras_h5.load_keras_v3(path, **overrides)
    raise InspectorError(f"{path} is not a Keras HDF5 file or a TensorFlow checkpoint (nor a "
                         f"PyTorch state dict, safetensors or ONNX model)")


def _no_prefix(prefix, what: str) -> None:
    if prefix:
        raise InspectorError(f"--prefix names a module of a PyTorch state dict; it does not "
                             f"apply to {what}")
