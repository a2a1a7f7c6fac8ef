"""Cell state c and output h: heatmaps, the selected units' curves of both paths, and |A - B| (log).

A GRU has no cell state: its layers show the candidate n in c's place (``core.gru``).

Curves are set once per trace or selection (``setData``), never on a cursor move; long curves
are downsampled to the screen and clipped to the view.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtWidgets

from ...core.windows import columns
from .common import (
    CursorGroup,
    Heatmap,
    add_plot_area,
    cache_axes,
    cell_of,
    cache_curve,
    index_plot,
    log_floor,
    reserve_bar_space,
    set_title,
    unit_click_handler,
    unit_color,
)
from .gates import show_sources

STATE_NAMES = {"c": "cell state c", "h": "output h",
               "n": "candidate n (a GRU has no cell state)"}
#: The two quantities shown per cell kind (a GRU's candidate n in c's place).
CELL_STATES = {"lstm": ("c", "h"), "gru": ("n", "h")}
MAX_CURVE_UNITS = 8
MIN_HEIGHT = 290  # pixels: two heatmaps and three curve plots, each readable


def _curve_plot(layout, row, title, ylabel, log=False):
    plot = index_plot(layout, row, 0, left_index=False)
    set_title(plot, title)
    plot.setLabel("left", ylabel)
    plot.getAxis("left").setWidth(48)
    plot.setDownsampling(auto=True, mode="peak")
    plot.setClipToView(True)
    plot.showGrid(x=False, y=True, alpha=0.25)
    plot.getAxis("left").enableAutoSIPrefix(False)
    cache_axes(plot)
    if log:
        plot.setLogMode(y=True)
    reserve_bar_space(plot)
    return plot


class StatesPanel(QtWidgets.QWidget):
    """c and h of the selected layer/direction; curves for ``state.units`` (A solid, B dashed)."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.view = add_plot_area(self)
        self.cursors = CursorGroup(state)
        self.heatmaps = {q: Heatmap(self.view.ci, row, 0, on_click=unit_click_handler(state),
                                    bottom_axis=False, ylabel="")
                         for row, q in enumerate(("c", "h"))}
        self.curve_plots = {
            "c": _curve_plot(self.view.ci, 2, "c of the selected units: A solid, B dashed", ""),
            "h": _curve_plot(self.view.ci, 3, "h of the selected units: A solid, B dashed", ""),
        }
        self.diff_plot = _curve_plot(self.view.ci, 4, "|A - B| of c (solid) and h (dotted), log",
                                     "", log=True)
        self.diff_plot.setLabel("bottom", "step")
        self._slots = (list(self.heatmaps.values()), list(self.curve_plots.values()))
        plots = [hm.plot for hm in self.heatmaps.values()] + list(self.curve_plots.values()) \
            + [self.diff_plot]
        for plot in plots:
            self.cursors.add(plot)
            if plot is not plots[0]:
                plot.setXLink(plots[0])
        for plot in plots[:-1]:
            plot.getAxis("bottom").setStyle(showValues=False)
            plot.getAxis("bottom").setHeight(4)
        # shares of the dock's height: the heatmaps 3, each curve plot 2; a small preferred
        # height (plus the time axis of the last plot) lets the stretch factors decide instead
        # of pyqtgraph's large default hints
        for row, plot in enumerate(plots):
            plot.setPreferredHeight(30 if plot is not self.diff_plot else 85)
            plot.setMinimumHeight(40 if plot is not self.diff_plot else 70)
            self.view.ci.layout.setRowStretchFactor(row, 3 if row < 2 else 2)
        self.view.setMinimumHeight(MIN_HEIGHT)
        self._curves: list = []
        self._image_key = self._curve_key = None
        state.tracesReady.connect(self.refresh)
        state.selectionChanged.connect(self.refresh)
        state.settingsChanged.connect(self.refresh)
        state.timestepChanged.connect(self.cursors.move)
        self.refresh()

    def time_view_boxes(self):
        return [hm.plot.getViewBox() for hm in self.heatmaps.values()] + \
            [p.getViewBox() for p in self.curve_plots.values()] + [self.diff_plot.getViewBox()]

    def image(self, quantity: str):
        return self.heatmaps[quantity].image.image

    def curves(self, plot_name: str):
        """The PlotDataItems of ``"c"``, ``"h"`` or ``"diff"`` (tests)."""
        plot = self.diff_plot if plot_name == "diff" else self.curve_plots[plot_name]
        return [item for item in plot.listDataItems()]

    def refresh(self) -> None:
        s = self.state
        image_key = (id(s.trace_a), id(s.trace_b), id(s.report), s.layer, s.direction, s.source,
                     s.colormap)
        curve_key = (id(s.trace_a), id(s.trace_b), id(s.report), s.layer, s.direction,
                     tuple(s.units))
        shown = CELL_STATES[cell_of(s)]
        self.heatmaps = dict(zip(shown, self._slots[0]))
        self.curve_plots = dict(zip(shown, self._slots[1]))
        dock = self.parent()
        if isinstance(dock, QtWidgets.QDockWidget):   # the dock's title names what is shown
            dock.setWindowTitle("Cell state c and output h" if shown[0] == "c"
                                else "Candidate n and output h (GRU)")
        if image_key != self._image_key:
            self._image_key = image_key
            self._set_images()
        if curve_key != self._curve_key:
            self._curve_key = curve_key
            self._set_curves()
        for hm in self.heatmaps.values():
            hm.mark_units(s.units)
        self.cursors.set_bounds(s.steps)
        self.cursors.move(s.timestep)

    def _set_images(self) -> None:
        show_sources(self.state, self.heatmaps, STATE_NAMES)

    def _set_curves(self) -> None:
        s = self.state
        for plot in list(self.curve_plots.values()) + [self.diff_plot]:
            for item in plot.listDataItems():
                plot.removeItem(item)
        lt_a, lt_b = s.layer_trace("a"), s.layer_trace("b")
        if lt_a is None:
            return
        units = [u for u in s.units if u < lt_a.units][:MAX_CURVE_UNITS]
        width = {"h": lt_a.out_units}  # h is P wide under nn.LSTM's proj_size; c, n: H wide
        # each quantity read once per trace, only the units shown (chunk by chunk: a long trace
        # recomputes its gates and c, core.cells)
        shown = {q: [u for u in units if u < width.get(q, lt_a.units)]
                 for q in (self.curve_plots if units else ())}
        curves_a = {q: columns(partial(lt_a.rows, q), lt_a.steps, us) for q, us in shown.items()}
        curves_b = ({q: columns(partial(lt_b.rows, q), lt_b.steps, us) for q, us in shown.items()}
                    if lt_b is not None else None)
        for k, unit in enumerate(units):
            color = unit_color(k)
            for q, plot in self.curve_plots.items():
                if unit not in shown[q]:
                    continue
                j = shown[q].index(unit)
                plot.plot(curves_a[q][:, j], pen=pg.mkPen(color, width=1.5),
                          name=f"A u{unit}")
                if lt_b is not None:
                    plot.plot(curves_b[q][:, j],
                              pen=pg.mkPen(color, width=1.5, style=QtCore.Qt.DashLine),
                              name=f"B u{unit}")
            if s.report is not None:
                for q, style in zip(self.curve_plots, (QtCore.Qt.SolidLine, QtCore.Qt.DotLine)):
                    j = shown[q].index(unit) if unit in shown[q] else None
                    err = np.abs(curves_a[q][:, j].astype(np.float64)
                                 - curves_b[q][:, j]) if (
                        lt_b is not None and j is not None) else None
                    if err is None:
                        continue
                    self.diff_plot.plot(log_floor(err), pen=pg.mkPen(color, width=1.2, style=style),
                                        name=f"|A-B| {q} u{unit}")
        for plot in list(self.curve_plots.values()) + [self.diff_plot]:
            for item in plot.listDataItems():
                cache_curve(item)
        names = ", ".join(str(u) for u in units)
        for q, plot in self.curve_plots.items():
            set_title(plot, f"{STATE_NAMES[q]} of unit {names}: A solid, B dashed")
        first = next(iter(self.curve_plots))
        set_title(self.diff_plot, f"|A - B| of {first} (solid) and h (dotted), log")

