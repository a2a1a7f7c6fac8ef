"""The four gates i, f, c~, o as heatmaps (time x unit) of one source: path A, path B or |A - B|.

A GRU layer (``core.gru``) shows its own four instead: reset r, update z, candidate n and the
recurrent part of the candidate Rh (where reset_after differs), the same four heatmaps relabelled.

What is shown is exactly an engine array: ``LayerTrace.gate(q)`` of the chosen path, or
``Report.error(layer, direction, q)`` for the difference. A quantity the backend never exposed
(cuDNN's gates) is titled "derived" (``LayerTrace.how``).
"""
from __future__ import annotations

from functools import partial

from PyQt5 import QtWidgets

from ...core.trace import CELL_GATES, GATES
from ...core.windows import overview
from .common import (
    DIFF_COLORMAP,
    CursorGroup,
    Heatmap,
    add_plot_area,
    cell_of,
    diff_levels,
    quantity_levels,
    unit_click_handler,
)

MIN_HEIGHT = 220  # pixels: four heatmaps of a few rows each, their titles and the time axis
GATE_NAMES = {"i": "input gate i", "f": "forget gate f", "c~": "candidate c~", "o": "output gate o",
              "r": "reset gate r", "z": "update gate z", "n": "candidate n",
              "Rh": "recurrent part of n: Rh"}
SOURCE_TEXT = {"a": "A", "b": "B", "diff": "|A - B|"}


def source_array(state, quantity: str):
    """The (T, H) array a heatmap of ``quantity`` shows for the state's source, and its provenance.

    A long run (over ``core.windows.OVERVIEW_COLUMNS`` steps) is shown binned: each column the
    mean (values) or the largest (|A - B|) of consecutive steps, read chunk by chunk."""
    layer_a, layer_b = state.layer_trace("a"), state.layer_trace("b")
    if state.source == "diff":
        if state.report is None or layer_a is None:
            return None, ""
        how = layer_b.how(quantity) if layer_b is not None else ""
        rows = partial(state.report.error_rows, state.layer, state.direction, quantity)
        return overview(rows, layer_a.steps, reduce="max"), how
    lt = layer_a if state.source == "a" else layer_b
    if lt is None:
        return None, ""
    return overview(partial(lt.rows, quantity), lt.steps), lt.how(quantity)


def source_label(state) -> str:
    trace = {"a": state.trace_a, "b": state.trace_b}.get(state.source)
    if state.source == "diff":
        return "|A - B|"
    return (trace.label if trace is not None and trace.label else SOURCE_TEXT[state.source])


def heatmap_title(state, quantity: str, name: str, how: str) -> str:
    derived = " <b>(derived)</b>" if how == "derived" else (" (stepped)" if how == "stepped" else "")
    return f"{name} · {source_label(state)}{derived}"


def show_sources(state, heatmaps: dict, names: dict) -> None:
    """Set each heatmap (keyed by quantity) to the state's source array, levels and title."""
    activation = "tanh"
    if state.model is not None and state.layer < len(state.model.chain):
        activation = state.model.chain[state.layer].activation
    for q, hm in heatmaps.items():
        data, how = source_array(state, q)
        if data is None:
            hm.set_data(None)
            hm.set_title(f"{names[q]} · no trace yet")
            continue
        if state.source == "diff":
            hm.set_data(data, diff_levels(data), DIFF_COLORMAP, steps=state.steps)
        else:
            hm.set_data(data, quantity_levels(q, data, activation), state.colormap,
                        steps=state.steps)
        hm.set_title(heatmap_title(state, q, names[q], how))


class GatesPanel(QtWidgets.QWidget):
    """i, f, c~, o heatmaps with colour bars; a row click selects that unit."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.view = add_plot_area(self)
        self.cursors = CursorGroup(state)
        self.heatmaps: dict[str, Heatmap] = {}
        for row, q in enumerate(GATES):
            hm = Heatmap(self.view.ci, row, 0, on_click=unit_click_handler(state),
                         bottom_axis=(row == len(GATES) - 1))
            self.heatmaps[q] = hm
            self.cursors.add(hm.plot)
        first = self.heatmaps[GATES[0]].plot
        for q in GATES[1:]:
            self.heatmaps[q].plot.setXLink(first)
        self.heatmaps[GATES[-1]].plot.setLabel("bottom", "step")
        self._slots = list(self.heatmaps.values())   # relabelled by the cell kind shown
        self.view.setMinimumHeight(MIN_HEIGHT)
        self._shown_key = None
        state.tracesReady.connect(self.refresh)
        state.selectionChanged.connect(self._selection_changed)
        state.settingsChanged.connect(self._settings_changed)
        state.timestepChanged.connect(self.cursors.move)
        self.refresh()

    def time_view_boxes(self):
        return [hm.plot.getViewBox() for hm in self.heatmaps.values()]

    def image(self, quantity: str):
        """The array the ``quantity`` heatmap holds (for tests and export)."""
        return self.heatmaps[quantity].image.image

    def _key(self):
        s = self.state
        return (id(s.trace_a), id(s.trace_b), id(s.report), s.layer, s.direction, s.source,
                s.colormap, cell_of(s))

    def refresh(self) -> None:
        """Set the four images (once per trace / layer / source)."""
        s = self.state
        self._shown_key = self._key()
        self.heatmaps = dict(zip(CELL_GATES[cell_of(s)], self._slots))
        show_sources(s, self.heatmaps, GATE_NAMES)
        for hm in self.heatmaps.values():
            hm.mark_units(s.units)
        self.cursors.set_bounds(s.steps)
        self.cursors.move(s.timestep)

    def _selection_changed(self) -> None:
        if self._key() != self._shown_key:
            self.refresh()
        else:
            for hm in self.heatmaps.values():
                hm.mark_units(self.state.units)

    def _settings_changed(self) -> None:
        if self._key() != self._shown_key:
            self.refresh()

