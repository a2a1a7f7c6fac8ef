"""The audio a model was trained on, where its files say so, and the note when a wav differs.

A model file knows nothing of audio, but the bundled demo's ``demo.json`` beside it says its
features were computed from 16 kHz wavs (``sample_rate``). A wav at another rate still gives
13 MFCCs per 10 ms, so the model runs, but on features of another spectrum (the mel bands
stretch over another band): the answer may be wrong with nothing to show why. This says so.
"""
from __future__ import annotations

import json
from pathlib import Path


def trained_sample_rate(model_source) -> int | None:
    """The sample rate the ``demo.json`` beside ``model_source`` gives for it (its ``model``
    names this file), or None where nothing says."""
    try:
        path = Path(str(model_source))
        spec = json.loads((path.parent / "demo.json").read_text(encoding="utf-8"))
        if spec.get("model") == path.name and spec.get("sample_rate"):
            return int(spec["sample_rate"])
    except (OSError, ValueError, TypeError):
        pass
    return None


def sample_rate_note(model, source, rate) -> str:
    """One sentence when ``rate`` (the wav's, Hz; None: not a wav) is not the rate ``model``
    was trained on; "" otherwise."""
    trained = trained_sample_rate(getattr(model, "source", ""))
    if not rate or not trained or int(rate) == trained:
        return ""
    return (f"{Path(str(source)).name} is {int(rate)} Hz audio but the model was trained on "
            f"{trained} Hz audio (its demo.json says so): its features are not what the model "
            f"was trained on; resample the wav to {trained} Hz")


def with_sample_rate_note(model, features):
    """``features`` (``io.features.Features``), with :func:`sample_rate_note` added to its notes
    where there is one (a new Features: they are frozen)."""
    from dataclasses import replace

    note = sample_rate_note(model, features.source, (features.meta or {}).get("sample_rate"))
    if not note or note in features.notes:
        return features
    return replace(features, notes=tuple(features.notes) + (note,))
