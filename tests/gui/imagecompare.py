"""Compare a rendered image with a reference PNG in tests/reference_images/, with a tolerance.

Each view on its own (``assert_panels_match``): every panel is grabbed by itself and each of
its plot areas (the view boxes: heatmaps, curves) is compared with its own threshold, so one
blank curve plot fails even when it is a small part of the window (a whole-window threshold of
2% let a blank divergence plot, 1.2% of the window, pass). Text (titles, tick labels, the verdict) lies outside
the plot areas and is masked out of the pixels; tests assert it as text instead.

Two numbers decide (pyqtgraph's image tests do the same): a pixel *differs* when any channel is
more than ``pixel_threshold`` (0-255) away from the reference, and a plot area fails when more
than ``max_fraction`` of its pixels differ, or a panel's size differs. Loose enough for
anti-aliasing and font hinting on another machine of the same type; a blank, missing or
shifted plot changes far more pixels than that.

References are written only on purpose: ``LSTM_INSPECTOR_UPDATE_REFERENCE=1 pytest tests/gui``
(then look at every image before committing it). A failing comparison writes
``tests/_failures/<name>.<panel>.png``: reference | actual | differing pixels in red.
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


PANELS = ("features", "gates", "states", "divergence")


def panel_regions(panel) -> list:
    """``[(index, rows, cols)]``: each plot area (view box) of ``panel`` in the panel's own pixels,
    one pixel inside its frame."""
    view = panel.view
    regions = []
    for k, vb in enumerate(panel.time_view_boxes()):
        rect = vb.sceneBoundingRect()
        top_left = view.viewport().mapTo(panel, view.mapFromScene(rect.topLeft()))
        bottom_right = view.viewport().mapTo(panel, view.mapFromScene(rect.bottomRight()))
        regions.append((k, slice(top_left.y() + 1, bottom_right.y() - 1),
                        slice(top_left.x() + 1, bottom_right.x() - 1)))
    return regions


def compare_regions(actual, reference, regions, pixel_threshold: int = 48):
    """``({area index: fraction of its pixels differing}, mask of differing pixels)``."""
    mask = np.zeros(actual.shape[:2], bool)
    fractions = {}
    for k, rows, cols in regions:
        region = differing(actual[rows, cols], reference[rows, cols], pixel_threshold)
        mask[rows, cols] = region
        fractions[k] = float(region.mean()) if region.size else 0.0
    return fractions, mask


def assert_panels_match(window, name: str, panels=PANELS, pixel_threshold: int = 48,
                        max_fraction: float = 0.005) -> dict:
    """Compare each panel's plot areas with ``reference_images/<name>.<panel>.png``.

    A plot area fails when more than ``max_fraction`` of its pixels differ by more than
    ``pixel_threshold``; the failure image (``tests/_failures/<name>.<panel>.png``) shows the
    panel's reference | actual | differing pixels in red. Returns ``{(panel, area): fraction}``.
    """
    fractions = {}
    for panel_name in panels:
        panel = getattr(window, panel_name)
        actual = to_array(panel.grab().toImage())
        path = REFERENCES / f"{name}.{panel_name}.png"
        if os.environ.get(UPDATE_ENV) == "1":
            REFERENCES.mkdir(exist_ok=True)
            from_array(actual).save(str(path))
            continue
        if not path.exists():
            written = write_failure(f"{name}.{panel_name}", actual, None)
            raise AssertionError(f"no reference image {path}; the render is in {written}. Look "
                                 f"at it, then write references with {UPDATE_ENV}=1")
        reference = to_array(QtGui.QImage(str(path)))
        if reference.shape != actual.shape:
            written = write_failure(f"{name}.{panel_name}", actual, reference)
            raise AssertionError(f"{name}.{panel_name}: size {actual.shape[1]}x{actual.shape[0]} "
                                 f"differs from the reference {reference.shape[1]}x"
                                 f"{reference.shape[0]} (see {written})")
        found, mask = compare_regions(actual, reference, panel_regions(panel), pixel_threshold)
        fractions.update({(panel_name, k): f for k, f in found.items()})
        failed = [f"plot {k}: {f:.2%}" for k, f in found.items() if f > max_fraction]
        if failed:
            written = write_failure(f"{name}.{panel_name}", actual, reference, mask)
            raise AssertionError(f"{name}.{panel_name}: {', '.join(failed)} of the pixels differ "
                                 f"from the reference by more than {pixel_threshold} (allowed "
                                 f"{max_fraction:.2%} per plot); side by side in {written}")
    return fractions
