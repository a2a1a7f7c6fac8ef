"""Reading a ``torch.save`` file with ``torch.load(weights_only=True)``: tensors, never code.

``weights_only=True`` restricts the unpickler to tensors, plain containers and numbers; a file
whose pickle names any other class or function (a whole ``nn.Module``, a custom object, a
planted ``__reduce__``) is refused by torch *before* anything in it is called, and the tool says
so in one sentence. torch is imported inside the function (it is optional).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InspectorError

WRAPPERS = ("state_dict", "model", "model_state_dict", "net", "module")


def load_tensors(path) -> dict:
    """``{name: ndarray}`` of the file's state dict (bfloat16 and float16 become float32).

    A dict wrapping the state dict under ``state_dict``, ``model``... (training checkpoints) is
    unwrapped; entries that are not tensors (epochs, optimizer state) are left out.
    """
    path = Path(path)
    if _is_torchscript(path):
        raise InspectorError(f"{path.name} is a TorchScript archive (torch.jit.save), which holds "
                             f"code the tool does not run; save the weights instead "
                             f"(torch.save(model.state_dict(), 'model.pt'))")
    try:
        import torch
    except ImportError:
        raise InspectorError(f"{path.name} is a torch.save file, which needs torch to read (pip "
                             f"install torch); a safetensors file needs no torch") from None
    import pickle

    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = str(exc).split("WeightsUnpickler error:")[-1].strip().splitlines()
        why = refused[0].strip() if refused and refused[0].strip() else "it names code"
        raise InspectorError(
            f"{path.name} needs code to unpickle ({why[:160]}); the tool reads torch files with "
            f"torch.load(weights_only=True) and never runs code from a file: save the model's "
            f"state_dict instead (torch.save(model.state_dict(), 'model.pt'))") from None
    except Exception as exc:  # a damaged zip or pickle: torch raises several kinds
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise InspectorError(f"{path.name} cannot be read by torch.load ({type(exc).__name__}: "
                             f"{first[:160]})") from None
    state = _unwrap(loaded)
    if state is None:
        raise InspectorError(f"{path.name} holds a {type(loaded).__name__}, not a state dict "
                             f"of tensors (torch.save(model.state_dict(), ...))")
    out = {}
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            tensor = value.detach().cpu()
            if tensor.dtype in (torch.bfloat16, torch.float16):
                tensor = tensor.float()
            out[str(name)] = np.array(tensor.numpy())
    return out


def _is_torchscript(path: Path) -> bool:
    """A ``torch.jit.save`` zip: it carries ``code/`` and ``constants.pkl`` beside data.pkl."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in n or n.endswith("constants.pkl") for n in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _unwrap(loaded):
    """The dict of tensors inside ``loaded`` (itself, or under one of :data:`WRAPPERS`)."""
    if not isinstance(loaded, dict):
        return None
    for key in WRAPPERS:
        inner = loaded.get(key)
        if isinstance(inner, dict) and any(hasattr(v, "shape") for v in inner.values()):
            return inner
    return loaded
