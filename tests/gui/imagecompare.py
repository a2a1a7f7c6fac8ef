"""Compare a rendered image with a reference PNG in tests/reference_images/, with a tolerance.

Two numbers decide (pyqtgraph's image tests do the same): a pixel *differs* when any channel is
more than ``pixel_threshold`` (0-255) away from the reference, and the comparison fails when
more than ``max_fraction`` of the pixels differ, or the sizes differ. Loose enough for
anti-aliasing and font hinting on another machine of the same type; a blank, missing or
shifted plot changes far more pixels than that.

References are written only on purpose: ``LSTM_INSPECTOR_UPDATE_REFERENCE=1 pytest tests/gui``
(then look at every image before committing it). A failing comparison writes
``tests/_failures/<name>.png``: reference | actual | differing pixels in red.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PyQt5 import QtGui

TESTS = Path(__file__).resolve().parent.parent
REFERENCES = TESTS / "reference_images"
FAILURES = TESTS / "_failures"
UPDATE_ENV = "LSTM_INSPECTOR_UPDATE_REFERENCE"


def to_array(image: QtGui.QImage) -> np.ndarray:
    """(height, width, 3) uint8 RGB of a QImage (any format)."""
    image = image.convertToFormat(QtGui.QImage.Format_RGB888)
    width, height, stride = image.width(), image.height(), image.bytesPerLine()
    data = np.frombuffer(image.constBits().asstring(stride * height), np.uint8)
    return data.reshape(height, stride)[:, :width * 3].reshape(height, width, 3).copy()


def from_array(array: np.ndarray) -> QtGui.QImage:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    height, width, _ = array.shape
    return QtGui.QImage(array.data, width, height, 3 * width, QtGui.QImage.Format_RGB888).copy()


def differing(actual: np.ndarray, reference: np.ndarray, pixel_threshold: int) -> np.ndarray:
    """(height, width) bool: pixels whose largest channel difference exceeds the threshold."""
    diff = np.abs(actual.astype(np.int16) - reference.astype(np.int16)).max(axis=2)
    return diff > pixel_threshold


def write_failure(name: str, actual: np.ndarray, reference: np.ndarray | None, mask=None) -> Path:
    FAILURES.mkdir(exist_ok=True)
    ignore = FAILURES / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    panels = [actual] if reference is None else [reference, actual]
    if mask is not None:
        red = (reference // 3).astype(np.uint8)
        red[mask] = (255, 0, 0)
        panels.append(red)
    height = max(p.shape[0] for p in panels)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, 8), (0, 0)), constant_values=255)
              for p in panels]
    path = FAILURES / f"{name}.png"
    from_array(np.concatenate(padded, axis=1)).save(str(path))
    return path


def assert_matches_reference(image: QtGui.QImage, name: str, pixel_threshold: int = 48,
                             max_fraction: float = 0.02) -> float:
    """Compare with ``reference_images/<name>.png``; returns the fraction of differing pixels."""
    actual = to_array(image)
    path = REFERENCES / f"{name}.png"
    if os.environ.get(UPDATE_ENV) == "1":
        REFERENCES.mkdir(exist_ok=True)
        from_array(actual).save(str(path))
        return 0.0
    if not path.exists():
        written = write_failure(name, actual, None)
        raise AssertionError(f"no reference image {path}; the render is in {written}. Look at it, "
                             f"then write references with {UPDATE_ENV}=1")
    reference = to_array(QtGui.QImage(str(path)))
    if reference.shape != actual.shape:
        written = write_failure(name, actual, reference)
        raise AssertionError(f"{name}: size {actual.shape[1]}x{actual.shape[0]} differs from the "
                             f"reference {reference.shape[1]}x{reference.shape[0]} (see {written})")
    mask = differing(actual, reference, pixel_threshold)
    fraction = float(mask.mean())
    if fraction > max_fraction:
        written = write_failure(name, actual, reference, mask)
        raise AssertionError(f"{name}: {fraction:.2%} of the pixels differ from the reference by "
                             f"more than {pixel_threshold} (allowed {max_fraction:.2%}); "
                             f"side by side in {written}")
    return fraction
