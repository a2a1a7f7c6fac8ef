"""Pieces every view uses: a heatmap plot, the time cursor, a seconds axis, colour maps.

Habits that keep the cursor under one frame (see ``docs/architecture.md``):
``Heatmap.set_data`` is called once per trace (``ImageItem.setImage``); a timestep change only
moves ``InfiniteLine``s (:class:`CursorGroup`). Images are placed so that pixel (t, u) is
centred on x = t, y = u, so the cursor at step t runs through the middle of column t.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtGui, QtWidgets

COLORMAPS = ("viridis", "inferno", "magma", "plasma", "cividis", "CET-L1")
DIFF_COLORMAP = "inferno"
CURSOR_PEN = pg.mkPen((255, 80, 80), width=2)
CURSOR_HOVER_PEN = pg.mkPen((255, 160, 60), width=3)
UNIT_PEN = pg.mkPen((255, 255, 255, 170), width=1, style=QtCore.Qt.DashLine)
QUANTITY_COLORS = {"i": (31, 119, 180), "f": (44, 160, 44), "c~": (148, 103, 189),
                   "o": (255, 127, 14), "c": (214, 39, 40), "h": (23, 190, 207),
                   # a GRU's (core.gru): reset, update, candidate, its recurrent part
                   "r": (31, 119, 180), "z": (44, 160, 44), "n": (148, 103, 189),
                   "Rh": (255, 127, 14)}
TITLE_SIZE = "8pt"
# |difference| plotted on a log axis: an exact 0 is drawn at this floor (log(0) has no place).
LOG_FLOOR = 1e-12

#: The steps an empty window's time axes span (1 s at 10 ms per frame).
EMPTY_STEPS = 100


def colormap(name: str):
    """A pyqtgraph ColorMap by name, falling back to viridis."""
    try:
        return pg.colormap.get(name)
    except Exception:  # noqa: BLE001 - unknown or missing map file
        return pg.colormap.get("viridis")


def unit_color(k: int):
    """Colour of the k-th selected unit's curves."""
    palette = [(255, 200, 0), (0, 200, 255), (255, 90, 200), (120, 230, 90),
               (255, 140, 60), (170, 140, 255), (240, 240, 240), (0, 230, 170)]
    return palette[k % len(palette)]


def log_floor(values: np.ndarray) -> np.ndarray:
    """``values`` with zeros (and smaller) replaced by :data:`LOG_FLOOR`, for a log axis."""
    return np.maximum(np.asarray(values, dtype=np.float64), LOG_FLOOR)


def short_number(value: float) -> str:
    """A colour-bar label: 3 significant digits, scientific below 0.01 ("3.5e-03")."""
    if value == 0:
        return "0"
    if 0.01 <= abs(value) < 1000:
        return f"{value:.3g}"
    return f"{value:.1e}"


MIN_TICK_PIXELS = {"left": 13, "right": 13, "top": 44, "bottom": 44}  # a label's room


class RoomyAxis(pg.AxisItem):
    """An axis whose ticks are never closer than a label needs (a short plot gets fewer labels,
    not overlapping ones)."""

    least_spacing = 0.0  # subclasses: the smallest tick spacing in data units

    def tickSpacing(self, minVal, maxVal, size):
        room = MIN_TICK_PIXELS.get(self.orientation, 16)
        least = max(self.least_spacing, room * (maxVal - minVal) / max(size, 1.0))
        levels = [(spacing, offset) for spacing, offset in super().tickSpacing(minVal, maxVal, size)
                  if spacing >= least]
        return levels[:1] or [(nice_step(least), 0.0)]


class IntegerAxis(RoomyAxis):
    """An axis of an index (step, unit, coefficient): ticks only at whole numbers, no SI scaling."""

    least_spacing = 1.0

    def __init__(self, orientation, **kwargs):
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)


def set_title(plot: pg.PlotItem, title: str, justify: str = "center") -> None:
    """A plot's title in the small size; a long title is cut at the plot's edge instead of
    widening the plot beyond its dock (pyqtgraph makes a title's width the plot's minimum, and
    a plot wider than its view draws its curves off the axis)."""
    label = plot.titleLabel
    if not getattr(label, "_narrow", False):
        label._narrow = True
        keep_min = label.updateMin

        def narrow_min():  # LabelItem recomputes its minimum on text and resize: width 0
            keep_min()
            hints = getattr(label, "_sizeHint", {})
            for which in (QtCore.Qt.MinimumSize, QtCore.Qt.PreferredSize):
                if which in hints:
                    hints[which] = (0, hints[which][1])
            label.setMinimumWidth(0)
            label.updateGeometry()

        label.updateMin = narrow_min
    plot.setTitle(title, size=TITLE_SIZE, justify=justify)


def nice_step(least: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is >= ``least``."""
    power = 10.0 ** np.floor(np.log10(least))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= least)


def index_plot(layout, row: int, col: int, left_index: bool = True) -> pg.PlotItem:
    """A PlotItem whose bottom axis (time steps), and left axis if ``left_index``, are indices."""
    axes = {"bottom": IntegerAxis("bottom"),
            "left": IntegerAxis("left") if left_index else RoomyAxis("left")}
    plot = layout.addPlot(row=row, col=col, axisItems=axes)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    return plot


class SecondsAxis(pg.AxisItem):
    """A time axis in frames whose labels read in seconds (frame x frame_shift)."""

    def __init__(self, orientation="top", frame_shift=0.01, **kwargs):
        super().__init__(orientation, **kwargs)
        self.frame_shift = float(frame_shift)

    def set_frame_shift(self, frame_shift: float) -> None:
        self.frame_shift = float(frame_shift)
        self.picture = None
        self.update()

    def tickValues(self, minVal, maxVal, size):
        # ticks at round numbers of seconds, expressed in frames
        shift = self.frame_shift
        levels = super().tickValues(minVal * shift, maxVal * shift, size)
        return [(spacing / shift, [v / shift for v in values]) for spacing, values in levels]

    def tickStrings(self, values, scale, spacing):
        seconds_spacing = spacing * self.frame_shift
        decimals = max(0, int(np.ceil(-np.log10(seconds_spacing)))) if seconds_spacing > 0 else 2
        return [f"{v * self.frame_shift:.{decimals}f}" for v in values]


def unit_click_handler(state):
    """What a click on a heatmap row does (every heatmap view): selects that unit; with Ctrl or
    Shift, adds it to the selection or removes it."""
    def clicked(t: int, unit: int, modifiers) -> None:
        if modifiers & (QtCore.Qt.ControlModifier | QtCore.Qt.ShiftModifier):
            state.toggle_unit(unit)
        else:
            state.set_units([unit])
    return clicked


class ClickableImage(pg.ImageItem):
    """An ImageItem that reports a click as (time index, row index, modifiers)."""

    def __init__(self, on_click=None, **kwargs):
        super().__init__(**kwargs)
        self.on_click = on_click

    def mouseClickEvent(self, ev):
        if self.on_click is None or ev.button() != QtCore.Qt.LeftButton or self.image is None:
            ev.ignore()
            return
        pos = ev.pos()  # pixel coordinates of the image (col-major: x = time, y = row)
        t, row = int(np.floor(pos.x())), int(np.floor(pos.y()))
        if 0 <= t < self.image.shape[0] and 0 <= row < self.image.shape[1]:
            ev.accept()
            self.on_click(t, row, ev.modifiers())
        else:
            ev.ignore()


class TimeCursor(pg.InfiniteLine):
    """The time cursor: an InfiniteLine that never asks its view to auto-range.

    A moved GraphicsObject tells its ViewBox its bounds changed; a view that auto-ranges y
    (the curve plots) then repaints itself whole. The cursor is added with ``ignoreBounds`` and
    cannot change any range, so that message only costs a full repaint per step.
    """

    def informViewBoundsChanged(self):
        pass


class CursorGroup:
    """The time cursors of one view: dragging any moves the state; the state moves them all."""

    def __init__(self, state):
        self.state = state
        self.lines: list[pg.InfiniteLine] = []

    def add(self, plot) -> pg.InfiniteLine:
        line = TimeCursor(pos=self.state.timestep, angle=90, movable=True,
                          pen=CURSOR_PEN, hoverPen=CURSOR_HOVER_PEN)
        line.setZValue(20)
        line.sigDragged.connect(self._dragged)
        line.sigPositionChangeFinished.connect(self._finished)
        plot.addItem(line, ignoreBounds=True)
        self.lines.append(line)
        return line

    def _dragged(self, line) -> None:
        self.state.set_timestep(int(round(line.value())))

    def _finished(self, line) -> None:
        self.state.set_timestep(int(round(line.value())))
        line.setValue(self.state.timestep)  # snap to the step

    def set_bounds(self, steps: int) -> None:
        for line in self.lines:
            line.setBounds((0, max(steps - 1, 0)))

    def move(self, t: int) -> None:
        for line in self.lines:
            line.setValue(t)

    @property
    def value(self) -> float:
        return self.lines[0].value() if self.lines else float("nan")


class Heatmap:
    """A (time x row) image in a PlotItem, with a colour bar, the time cursor and unit markers."""

    def __init__(self, layout: pg.GraphicsLayout, row: int, col: int, title: str = "",
                 ylabel: str = "unit", on_click=None, bottom_axis=True):
        self.plot: pg.PlotItem = index_plot(layout, row, col)
        self.plot.setLabel("left", ylabel)
        self.plot.getAxis("left").setWidth(48)
        if not bottom_axis:
            self.plot.getAxis("bottom").setStyle(showValues=False)
            self.plot.getAxis("bottom").setHeight(4)
        self.image = ClickableImage(on_click=on_click, axisOrder="col-major", autoDownsample=True)
        self.plot.addItem(self.image)
        cache_axes(self.plot)
        self.bar = pg.ColorBarItem(values=(0, 1), colorMap=colormap("viridis"), width=10,
                                   interactive=True)
        self.bar.setImageItem(self.image, insert_in=self.plot)
        bar_font = QtGui.QFont()
        bar_font.setPointSize(7)
        self.bar.axis.setStyle(tickFont=bar_font, autoExpandTextSpace=False)
        self.bar.axis.setWidth(44)  # room for "-1.5e-03": a label wider than its axis is dropped
        self.unit_lines: list[pg.InfiniteLine] = []
        self.set_title(title)

    def set_title(self, title: str) -> None:
        set_title(self.plot, title)

    def set_data(self, data: np.ndarray | None, levels=None, cmap: str = "viridis",
                 steps: int | None = None) -> None:
        """Show ``data`` (T, rows) once per trace; ``levels`` (lo, hi) or None for min/max.

        ``steps``: the time span the columns cover when ``data`` is a binned overview of a
        longer run (default: one column per step)."""
        data = None if data is None else np.asarray(data)
        if data is None or data.ndim != 2 or 0 in data.shape:  # nothing to draw (0 frames)
            self.image.clear()
            # an empty window's time axes span EMPTY_STEPS steps (1 s at 10 ms), not +-0.004 s
            self.plot.setLimits(xMin=-0.5, xMax=EMPTY_STEPS - 0.5, yMin=-0.5, yMax=0.5)
            self.plot.setRange(xRange=(-0.5, EMPTY_STEPS - 0.5), yRange=(-0.5, 0.5), padding=0)
            return
        if levels is None:
            finite = data[np.isfinite(data)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            levels = (lo, hi if hi > lo else lo + 1e-12)
        self.bar.setColorMap(colormap(cmap))
        self.image.setImage(data, autoLevels=False, levels=levels)
        self.bar.setLevels(levels)
        lo, hi = levels
        # the scale at both ends, uncrowded; nudged 1% inward: a tick exactly on the end can
        # round to outside the axis, and pyqtgraph then drops its label
        inset = 0.01 * (hi - lo)
        self.bar.axis.setTicks([[(lo + inset, short_number(lo)), (hi - inset, short_number(hi))], []])
        columns, rows = data.shape
        steps = columns if steps is None else int(steps)
        self.image.setRect(QtCore.QRectF(-0.5, -0.5, steps, rows))
        self.plot.setLimits(xMin=-0.5, xMax=steps - 0.5, yMin=-0.5, yMax=rows - 0.5)
        self.plot.setRange(xRange=(-0.5, steps - 0.5), yRange=(-0.5, rows - 0.5), padding=0)

    def mark_units(self, units) -> None:
        """Dashed horizontal lines through the selected rows."""
        units = list(units)[:8]
        while len(self.unit_lines) < len(units):
            line = pg.InfiniteLine(angle=0, movable=False, pen=UNIT_PEN)
            line.setZValue(10)
            self.plot.addItem(line, ignoreBounds=True)
            self.unit_lines.append(line)
        for k, line in enumerate(self.unit_lines):
            if k < len(units):
                line.setValue(units[k])
                line.show()
            else:
                line.hide()


def reserve_bar_space(plot: pg.PlotItem) -> None:
    """Give a plot without a colour bar the same right-hand margin as a heatmap's, so that curve
    plots stacked under heatmaps share their time axis pixel for pixel (``setXLink`` links view
    ranges through screen positions: a wider plot would show more steps)."""
    spacer = pg.ColorBarItem(values=(0, 1), width=10, interactive=False)
    spacer.axis.setWidth(44)
    spacer.setOpacity(0.0)
    plot.layout.addItem(spacer, 2, 5)
    plot.layout.setColumnFixedWidth(4, 5)


def cell_of(state) -> str:
    """The cell kind of the selected layer (``"lstm"`` or ``"gru"``): its trace's, else the
    model's, else lstm."""
    lt = state.layer_trace("a")
    if lt is not None:
        return lt.cell
    model = getattr(state, "model", None)
    if model is not None:
        try:
            return model.chain[state.layer].cell
        except Exception:  # noqa: BLE001 - no chain (an unsupported model): the LSTM default
            return "lstm"
    return "lstm"


def quantity_levels(quantity: str, data: np.ndarray, activation: str = "tanh") -> tuple:
    """Colour levels that keep a quantity's natural range: gates 0..1, tanh outputs -1..1."""
    if quantity in ("i", "f", "o", "r", "z"):
        return (0.0, 1.0)
    if quantity in ("c~", "h", "n") and activation in ("tanh", "softsign"):
        return (-1.0, 1.0)
    finite = np.abs(data[np.isfinite(data)]) if data.size else np.zeros(1)
    top = float(finite.max()) if finite.size else 1.0
    top = top if top > 0 else 1.0
    return (-top, top)


def diff_levels(data: np.ndarray) -> tuple:
    finite = data[np.isfinite(data)]
    top = float(finite.max()) if finite.size else 0.0
    return (0.0, top if top > 0 else LOG_FLOOR)


def cache_curve(item) -> None:
    """Paint a curve once into a pixmap and blit it afterwards.

    A cursor move repaints the strips the cursor left and entered; without a cache every curve
    crossing them re-strokes its whole path (thousands of points): ten times the frame budget
    at T = 6000. The cache is rebuilt when the curve's data or the view's range changes.
    """
    curve = getattr(item, "curve", item)
    curve.setCacheMode(QtWidgets.QGraphicsItem.DeviceCoordinateCache)


def cache_axes(plot) -> None:
    """Cache a plot's axes as pixmaps: a tick pointing into the view (or a grid) makes an axis
    overlap the cursor's strip, and a cursor move would replay its whole picture."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setCacheMode(QtWidgets.QGraphicsItem.DeviceCoordinateCache)


class TimeLink:
    """Keeps the x (time) range of view boxes in different views identical.

    Within one view, plots stacked at the same width are linked with ``setXLink``. Across views
    (docks side by side or above one another) pyqtgraph's ``setXLink`` would line views up in
    *screen* space where they overlap, so a narrow dock beside a wide one would show another
    range; this link copies the range itself instead.
    """

    def __init__(self, view_boxes):
        self.view_boxes = list(view_boxes)
        self._busy = False
        for vb in self.view_boxes:
            vb.sigXRangeChanged.connect(self._changed)

    def _changed(self, source, x_range) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            lo, hi = x_range
            for vb in self.view_boxes:
                if vb is not source:
                    current = vb.viewRange()[0]
                    if abs(current[0] - lo) > 1e-9 or abs(current[1] - hi) > 1e-9:
                        vb.setXRange(lo, hi, padding=0)
        finally:
            self._busy = False


def link_time_axes(view_boxes) -> TimeLink:
    """Link the time axis of one view box per view (the first of each panel); see TimeLink."""
    return TimeLink(view_boxes)


def monospace_font(size: int = 9) -> QtGui.QFont:
    font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.FixedFont)
    font.setPointSize(size)
    return font


def add_plot_area(widget: QtWidgets.QWidget) -> pg.GraphicsLayoutWidget:
    """A tight ``GraphicsLayoutWidget`` filling ``widget`` (the canvas every panel draws on)."""
    view = pg.GraphicsLayoutWidget()
    view.ci.setContentsMargins(2, 2, 2, 2)
    view.ci.setSpacing(2)
    layout = QtWidgets.QVBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(view)
    return view
