"""Grey over the steps a mask masked: one item however many masked runs there are.

A band per masked run was one ``LinearRegionItem`` each: an hour with a tenth of its frames
masked at random has about 32,000 runs, and the window took 316 s and 3.5 GB to paint them. This item
paints what the view shows as one strip, one column per pixel, each column's grey as strong as
the share of masked steps under it::

    columns   k = 0 .. n-1 over the visible steps [x0, x1] (n = the view's width in pixels)
    share_k   = (masked steps s centred in column k) / (steps centred there)
    alpha_k   = ALPHA * share_k

so a run of masked steps is the band it was once a step is wider than a pixel, and a zoomed-out
view of scattered masks is a light grey where they are. Painting costs one pass over n columns
(prefix sums of the mask), not over the runs.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtGui

GREY = (150, 150, 150)
ALPHA = 60          # a fully masked column (what a band was)
MAX_COLUMNS = 4096  # columns painted at most, whatever the screen


def masked_share(counts: np.ndarray, x0: float, x1: float, columns: int) -> np.ndarray:
    """(columns,) the share of masked steps under each column of ``[x0, x1]`` (view x; step s
    drawn over [s - 0.5, s + 0.5)). ``counts``: prefix sums of the mask (``counts[s]`` = masked
    steps before s). A column no step is centred in takes the step under its middle."""
    steps = len(counts) - 1
    edges = np.linspace(x0, x1, columns + 1)
    first = np.clip(np.ceil(edges).astype(np.int64), 0, steps)   # first step centred at or after
    lo, hi = first[:-1], first[1:]
    share = np.zeros(columns)
    wide = hi > lo
    share[wide] = (counts[hi[wide]] - counts[lo[wide]]) / (hi[wide] - lo[wide])
    middle = np.clip(np.floor((edges[:-1] + edges[1:]) / 2 + 0.5).astype(np.int64), 0, steps - 1)
    narrow = ~wide & (steps > 0)
    share[narrow] = counts[middle[narrow] + 1] - counts[middle[narrow]]
    return share


class MaskBands(pg.GraphicsObject):
    """Grey bands over ``masked`` (T,) bool steps of a time plot, behind its curves."""

    def __init__(self, masked: np.ndarray):
        super().__init__()
        masked = np.asarray(masked, bool)
        self.counts = np.concatenate([[0], np.cumsum(masked)])
        self.runs = int(np.count_nonzero(np.diff(np.concatenate([[0], masked.astype(np.int8)]))
                                         == 1))
        self.setZValue(-10)

    @property
    def steps(self) -> int:
        return len(self.counts) - 1

    def boundingRect(self) -> QtCore.QRectF:
        view = self.viewRect()   # the whole visible area: the bands span it vertically
        return QtCore.QRectF() if view is None else view

    def viewTransformChanged(self):
        self.prepareGeometryChange()
        super().viewTransformChanged()

    def paint(self, painter, *args):
        view = self.viewRect()
        if view is None or not self.steps:
            return
        x0, x1 = max(view.left(), -0.5), min(view.right(), self.steps - 0.5)
        pixel = self.pixelWidth() or 0.0
        if x1 <= x0 or pixel <= 0:
            return
        columns = int(min(MAX_COLUMNS, max(1, np.ceil((x1 - x0) / pixel))))
        alpha = np.round(ALPHA * masked_share(self.counts, x0, x1, columns)).astype(np.uint8)
        strip = np.empty((1, columns, 4), np.uint8)
        strip[..., 0], strip[..., 1], strip[..., 2] = GREY[2], GREY[1], GREY[0]   # BGRA
        strip[..., 3] = alpha
        image = QtGui.QImage(strip.data, columns, 1, 4 * columns,
                             QtGui.QImage.Format_ARGB32)
        painter.drawImage(QtCore.QRectF(x0, view.top(), x1 - x0, view.height()), image)
