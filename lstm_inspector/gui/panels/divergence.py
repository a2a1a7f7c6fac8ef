"""Per-step max |A - B| of every quantity (``Report.step_error``) on a log axis.

A horizontal line marks the absolute tolerance (an element is out when ``|A - B| > atol +
rtol |A|``, so the line is the floor of what is allowed); a red marker and a dashed line mark the
first divergent step of the selected layer/direction. Clicking the marker moves the cursor there.
After Run > Diagnose, a purple line marks the step the diagnosis points at
(``Diagnosis.marked_step``), labelled with its finding. The tolerance is named in the title, not
on its line (a label on the line would sit on a curve).
"""
from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtWidgets

from ...core.trace import CELL_QUANTITIES, QUANTITIES
from .common import (
    EMPTY_STEPS,
    QUANTITY_COLORS,
    CursorGroup,
    cache_axes,
    cache_curve,
    index_plot,
    log_floor,
    set_title,
)
from .mask_bands import MaskBands

MARKER_BRUSH = pg.mkBrush(230, 30, 30)
VERDICT_COLORS = {"agree": "#1a7f37", "precision": "#b35900", "structural": "#c62828"}
FIRST_PEN = pg.mkPen((230, 30, 30), width=1, style=QtCore.Qt.DashLine)
TOL_PEN = pg.mkPen((200, 200, 200), width=1, style=QtCore.Qt.DashDotLine)
DIAGNOSED_COLOR = (186, 104, 255)
EMPTY_DECADES = (-8, 0)  # log10 of the |A - B| an empty plot spans (ticks 1e-08 ... 1)
HEADER_MAX_HEIGHT = 96  # pixels: about six lines of the verdict, answer and notes
DIAGNOSED_PEN = pg.mkPen(DIAGNOSED_COLOR, width=2, style=QtCore.Qt.DotLine)


def first_divergence_here(state):
    """``(step, quantity)`` of the selected layer/direction's first divergence, or None
    (read from the report: ``Report.first_in``)."""
    report = state.report
    first = None if report is None else report.first_in(state.layer, state.direction)
    return None if first is None else (int(first.step), first.quantity)


def local_errors(report) -> dict:
    """``{(layer, direction, q): (T,) max local error}`` from the report's teacher-forced run,
    or {} when the report has none."""
    return {(k, d, q): step for k, d in report.keys() for q in report.quantities(k, d)
            if (step := report.local_step_error(k, d, q)) is not None}


def legend_html(local: bool, quantities=QUANTITIES) -> str:
    """The curve colours as a title line (a legend box would hide the curves)."""
    names = " ".join(f'<span style="color:rgb{QUANTITY_COLORS[q]}">&#9473; {q}</span>'
                     for q in quantities)
    if local:
        names += " &nbsp;dotted: local (from B's own state)"
    return f"max |A-B| per step, log: {names}"


def header_html(state) -> str:
    """Above the plot: the verdict, the model's answer on both paths, the loader's notes about
    what runs (a layer fed by a Lambda the tool does not run, a mask, mixed precision)."""
    judged = getattr(state, "judged", None)
    report = state.report if judged is None else judged  # A not the reference: either_side
    lines = [f'<b style="color:{verdict_color(report)}">{html.escape(report.verdict)}</b>']
    answer = getattr(state, "answer", None)
    if answer is not None:
        differs = not answer.same_answer
        style = "color:#c62828;font-weight:bold" if differs else "font-weight:bold"
        lines.append(f'<span style="{style}">{html.escape(answer_sentence(answer))}</span>')
    notes = state.model.run_notes() if state.model is not None else ()
    lines += [f'<span style="color:#8a5a00">note: {html.escape(str(n))}</span>' for n in notes]
    more = [n for n in state.notes() if n not in notes]  # the paths' and the comparison's
    if more:
        lines.append(f'<span style="color:#666666">{len(more)} more notes from the paths and the '
                     f'comparison: hover here, or File &gt; Export report</span>')
    return "<br>".join(lines)


def answer_sentence(answer) -> str:
    """``Model's answer: A 'seven' 0.998, B 'seven' 0.998, same answer (...)``."""
    text = answer.describe()
    return "Model's answer" + text[len("model output"):] if text.startswith("model output") \
        else text[:1].upper() + text[1:]


def verdict_color(report) -> str:
    """The verdict's colour: an agreement that is not the file's model is not green."""
    from ...core.fidelity import faithful

    kind = getattr(report, "kind", "")
    if kind == "agree" and not faithful(report):
        kind = "precision"
    return VERDICT_COLORS.get(kind, "#000000")


class DivergencePanel(QtWidgets.QWidget):
    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.view = pg.GraphicsLayoutWidget()
        self.view.ci.setContentsMargins(2, 2, 2, 2)
        self.verdict = QtWidgets.QLabel()
        self.verdict.setWordWrap(True)
        header_font = self.verdict.font()
        header_font.setPointSizeF(header_font.pointSizeF() * 0.85)
        self.verdict.setFont(header_font)
        self.verdict.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.verdict.setContentsMargins(4, 2, 4, 2)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        # the verdict, answer and notes scroll within a few lines: the plot keeps its room
        self.header = QtWidgets.QScrollArea()
        self.header.setWidget(self.verdict)
        self.header.setWidgetResizable(True)
        self.header.setFrameShape(QtWidgets.QFrame.NoFrame)
        self.header.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        self.header.setMaximumHeight(HEADER_MAX_HEIGHT)
        self.verdict.setAlignment(QtCore.Qt.AlignLeft | QtCore.Qt.AlignTop)
        layout.addWidget(self.header)
        layout.addWidget(self.view, 1)
        self.view.setMinimumHeight(110)  # the plot keeps room under a long verdict
        self.plot: pg.PlotItem = index_plot(self.view.ci, 0, 0, left_index=False)
        self.plot.setLogMode(y=True)
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setClipToView(True)
        self.plot.showGrid(x=False, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "step")
        self.plot.getAxis("left").setWidth(48)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        cache_axes(self.plot)
        self.curves = {}
        for q in dict.fromkeys(QUANTITIES + CELL_QUANTITIES["gru"]):   # every cell kind's
            self.curves[q] = self.plot.plot([], [], pen=pg.mkPen(QUANTITY_COLORS[q], width=1.3),
                                            name=q)
        # the report's teacher-forced error: what each step alone gets wrong (dotted)
        self.local_curves = {}
        for q in ("c", "h"):
            self.local_curves[q] = self.plot.plot(
                [], [], pen=pg.mkPen(QUANTITY_COLORS[q], width=1, style=QtCore.Qt.DotLine),
                name=f"local {q}")
        for curve in list(self.curves.values()) + list(self.local_curves.values()):
            cache_curve(curve)
        self.tolerance_line = pg.InfiniteLine(angle=0, movable=False, pen=TOL_PEN)
        self.plot.addItem(self.tolerance_line)  # in the y range: how far from allowed
        # the diagnosed step: a line in the plot, its words in the title above (a label beside
        # the line lay over the curves)
        self.diagnosed_line = pg.InfiniteLine(angle=90, movable=False, pen=DIAGNOSED_PEN)
        self.diagnosed_text = ""
        self._title = ""
        self.diagnosed_line.setZValue(25)
        self.diagnosed_line.hide()
        self.plot.addItem(self.diagnosed_line, ignoreBounds=True)
        self.first_line = pg.InfiniteLine(angle=90, movable=False, pen=FIRST_PEN)
        self.plot.addItem(self.first_line, ignoreBounds=True)
        self.marker = pg.ScatterPlotItem(size=13, brush=MARKER_BRUSH,
                                         pen=pg.mkPen("w", width=1.5), symbol="o")
        self.marker.setZValue(30)
        self.marker.sigClicked.connect(self._marker_clicked)
        self.plot.addItem(self.marker)
        self.cursors = CursorGroup(state)
        self.cursors.add(self.plot)
        self.first: tuple | None = None
        self._key = None
        state.tracesReady.connect(self.refresh)
        state.selectionChanged.connect(self.refresh)
        state.selectionChanged.connect(self.show_diagnosis)
        state.diagnosisReady.connect(self.show_diagnosis)
        state.timestepChanged.connect(self.cursors.move)
        self.refresh()

    def _fit_header(self) -> None:
        """As tall as the header's text needs at this width, at most HEADER_MAX_HEIGHT."""
        width = max(self.header.viewport().width(), 50)
        needed = self.verdict.heightForWidth(width)
        self.header.setFixedHeight(min(max(needed, 0) + 2, HEADER_MAX_HEIGHT))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.header.isVisible():
            self._fit_header()

    def show_diagnosis(self) -> None:
        """Mark the diagnosed step when it lies in the selected layer/direction."""
        t = self.state.diagnosed_step()
        if t is None:
            self.diagnosed_line.hide()
            self.diagnosed_text = ""
        else:
            kinds = {f.kind for f in self.state.diagnosis.findings if not f.agrees}
            kind = next((k for k in ("convention", "unexplained", "arithmetic") if k in kinds), "")
            self.diagnosed_line.setValue(t)
            self.diagnosed_line.show()
            self.diagnosed_text = f"diagnosed ({kind}): step {t}"
        self._show_title()

    def _show_title(self) -> None:
        """The title: legend, first divergence, the diagnosed step (in its colour), tolerance."""
        if not self._title:
            return
        legend, first, tolerance = self._title
        color = "#%02x%02x%02x" % DIAGNOSED_COLOR
        marked = (f'; <span style="color:{color}">{self.diagnosed_text}</span>'
                  if self.diagnosed_text else "")
        set_title(self.plot, f"{legend}<br>{first}{marked}; {tolerance}", "left")

    def _mark_masked(self, masked) -> None:
        """Grey bands over the steps the mask masked (h and c carried there): one item
        (``mask_bands.MaskBands``), however many runs."""
        if getattr(self, "_mask_bands", None) is not None:
            self.plot.removeItem(self._mask_bands)
        self._mask_bands = None
        if masked is None or not masked.any():
            return
        self._mask_bands = MaskBands(masked)
        self.plot.addItem(self._mask_bands, ignoreBounds=True)

    def time_view_boxes(self):
        return [self.plot.getViewBox()]

    def marker_position(self):
        """``(step, log10 value)`` of the first-divergence marker in view coordinates, or None."""
        if self.first is None:
            return None
        x, y = self.marker.getData()
        return float(x[0]), float(y[0])

    def refresh(self) -> None:
        s = self.state
        key = (id(s.report), id(getattr(s, "answer", None)), s.layer, s.direction)
        if key == self._key:
            return
        self._key = key
        report = s.report
        if report is None or s.layer_trace("a") is None:
            for curve in self.curves.values():
                curve.setData([], [])
            self.first = None
            self.marker.setData([], [])
            self.first_line.hide()
            self.tolerance_line.hide()
            self._title = ""
            set_title(self.plot, "divergence: nothing compared yet")
            self.plot.setRange(xRange=(-0.5, EMPTY_STEPS - 0.5), yRange=EMPTY_DECADES, padding=0)
            self.verdict.setText("")
            self.header.hide()
            self._mark_masked(None)
            return
        self.plot.enableAutoRange(y=True)  # the data's decades (the empty view fixed them)
        self.verdict.setText(header_html(s))
        self.verdict.setToolTip("\n".join(f"note: {n}" for n in s.notes()))
        self.header.show()
        self._fit_header()
        self._mark_masked(s.masked_steps())
        steps = np.arange(s.steps)
        shown = report.quantities(s.layer, s.direction)
        for q, curve in self.curves.items():
            if q in shown:
                curve.setData(steps, log_floor(report.step_error(s.layer, s.direction, q)))
            else:
                curve.setData([], [])
        local = local_errors(report)
        for q, curve in self.local_curves.items():
            err = local.get((s.layer, s.direction, q))
            curve.setData(steps, log_floor(err)) if err is not None else curve.setData([], [])
        have_local = any((s.layer, s.direction, q) in local for q in self.local_curves)
        self.tolerance_line.setValue(np.log10(max(report.atol, 1e-300)))
        self.tolerance_line.show()
        self.first = first_divergence_here(s)
        if self.first is None:
            self.marker.setData([], [])
            self.first_line.hide()
            title = "no step out of tolerance in this layer/direction"
        else:
            t, q = self.first
            value = log_floor(report.step_error(s.layer, s.direction, q)[t:t + 1])[0]
            self.marker.setData([t], [np.log10(value)], data=[t])
            self.first_line.setValue(t)
            self.first_line.show()
            title = (f"first divergence here: step {t} ({q}); "
                     f"{len(s.divergent_steps())} of {s.steps} steps out of tolerance")
        tolerance = f"dash-dot: atol {report.atol:g} (allowed: atol + rtol {report.rtol:g}·|A|)"
        self._title = (legend_html(have_local, shown), title, tolerance)
        self._show_title()
        self.plot.setXRange(-0.5, s.steps - 0.5, padding=0)
        self.cursors.set_bounds(s.steps)
        self.cursors.move(s.timestep)

    def _marker_clicked(self, item, points, ev=None) -> None:
        if self.first is not None:
            self.state.set_timestep(self.first[0])
