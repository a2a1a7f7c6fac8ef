"""At the cursor's step, per unit: i, f, c~, o, c, h of both paths and |A - B|.

A ``QAbstractTableModel`` reads the trace arrays on demand: a cursor move takes one row of each
array (``[t]``, a view, no copy) and emits one ``dataChanged``; cells are formatted only when
painted, by a small delegate that reads the arrays directly. Cells out of tolerance
(``Report.out_of_tolerance``) are red, the rest of their unit's row pink.

Sorting happens in NumPy: a header click orders the model's rows by ``argsort`` of that column
at the cursor's step (re-sorted on every cursor move); a ``QSortFilterProxyModel`` on top only
filters (the "only units out of tolerance" box). Sorting 512 rows through the proxy's Python
comparisons would cost four frames per cursor move; the argsort costs microseconds.
"""
from __future__ import annotations

from functools import partial

import numpy as np
from PyQt5 import QtCore, QtGui, QtWidgets

from ...core.trace import QUANTITIES
from ...core.windows import RowReader
from .common import monospace_font

PARTS = ("A", "B", "|A-B|")
BAD_CELL = QtGui.QColor(250, 160, 160)
BAD_ROW = QtGui.QColor(255, 222, 222)
BAD_TEXT = QtGui.QColor(20, 20, 20)
SORT_ROLE = QtCore.Qt.UserRole + 1


class StepTableModel(QtCore.QAbstractTableModel):
    """Rows: units of the selected layer/direction (in ``order``). Columns: unit, then
    (A, B, |A-B|) per quantity."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.columns = [("unit", "")] + [(q, part) for q in QUANTITIES for part in PARTS]
        self._arrays = {}    # (q, part) -> (T, H) array of the selection
        self._bad = {}       # q -> (T, H) bool, out of tolerance
        self._row = {}       # (q, part) -> (H,) values at the cursor's step
        self._row_bad = {}   # q -> (H,) bool at the cursor's step
        self._any_bad = np.zeros(0, bool)
        self._how = {}
        self.units = 0
        self.order = np.zeros(0, int)  # table row -> unit
        self.sort_column, self.descending = -1, False
        self.step = 0

    # ---- data in -------------------------------------------------------------------------------
    def reload(self) -> None:
        """Take the selected layer/direction's arrays (once per trace or selection)."""
        s = self.state
        self.beginResetModel()
        self._arrays, self._bad, self._how = {}, {}, {}
        lt_a, lt_b = s.layer_trace("a"), s.layer_trace("b")
        self.units = lt_a.units if lt_a is not None else 0
        quantities = lt_a.quantities if lt_a is not None else QUANTITIES   # a GRU's r z n Rh h
        self.columns = [("unit", "")] + [(q, part) for q in quantities for part in PARTS]
        if lt_a is not None:
            # rows are read at the cursor (RowReader): gates a long trace does not hold are
            # recomputed for that step only
            T, H = lt_a.steps, lt_a.units
            # h is P < H wide under nn.LSTM's proj_size: its column is blank below unit P
            fit = partial(_padded, H) if lt_a.out_units != H else (lambda q, rows: rows)
            for q in quantities:
                self._arrays[(q, "A")] = RowReader(fit(q, partial(lt_a.rows, q)), T, H)
                self._how[q] = lt_b.how(q) if lt_b is not None else ""
                if lt_b is not None:
                    self._arrays[(q, "B")] = RowReader(fit(q, partial(lt_b.rows, q)), T, H)
                if s.report is not None:
                    key = (s.layer, s.direction, q)
                    self._arrays[(q, "|A-B|")] = RowReader(
                        fit(q, partial(s.report.error_rows, *key)), T, H)
                    self._bad[q] = RowReader(fit(q, partial(s.report.out_rows, *key)), T, H)
        self._take_step(min(s.timestep, max(s.steps - 1, 0)))
        self.order = self._sorted_order()
        self.endResetModel()

    def _take_step(self, t: int) -> None:
        self.step = t
        self._row = {key: arr[t] for key, arr in self._arrays.items() if t < arr.shape[0]}
        self._row_bad = {q: bad[t] for q, bad in self._bad.items() if t < bad.shape[0]}
        if self._row_bad:
            self._any_bad = np.logical_or.reduce(list(self._row_bad.values()))
        else:
            self._any_bad = np.zeros(self.units, bool)

    def set_step(self, t: int) -> None:
        """The cursor moved: new rows of the arrays, re-sort if sorted, one dataChanged."""
        if not self.units:
            self.step = t
            return
        self._take_step(t)
        if self.sort_column > 0:
            self.layoutAboutToBeChanged.emit()
            self.order = self._sorted_order()
            self.layoutChanged.emit()
        self.dataChanged.emit(self.index(0, 0), self.index(self.units - 1, len(self.columns) - 1),
                              [QtCore.Qt.DisplayRole, QtCore.Qt.BackgroundRole, SORT_ROLE])

    # ---- sorting (NumPy) -----------------------------------------------------------------------
    def column_values(self, column: int) -> np.ndarray:
        """(H,) the numbers of ``column`` at the cursor's step, by unit (NaN where missing)."""
        if column <= 0:
            return np.arange(self.units, dtype=float)
        row = self._row.get(self.columns[column])
        return np.full(self.units, np.nan) if row is None else np.asarray(row, dtype=float)

    def _sorted_order(self) -> np.ndarray:
        if self.sort_column < 0:
            return np.arange(self.units)
        keys = self.column_values(self.sort_column)
        keys = -keys if self.descending else keys
        return np.argsort(np.where(np.isnan(keys), np.inf, keys), kind="stable")  # NaN last

    def sort(self, column, order=QtCore.Qt.AscendingOrder):
        self.layoutAboutToBeChanged.emit()
        self.sort_column, self.descending = int(column), order == QtCore.Qt.DescendingOrder
        self.order = self._sorted_order()
        self.layoutChanged.emit()

    # ---- cells -----------------------------------------------------------------------------------
    def unit_at(self, row: int) -> int:
        return int(self.order[row])

    def value(self, unit: int, column: int) -> float:
        """The number in a cell of ``unit`` (NaN when that path is missing)."""
        if column == 0:
            return float(unit)
        row = self._row.get(self.columns[column])
        return float(row[unit]) if row is not None else float("nan")

    def out_of_tolerance(self, unit: int) -> bool:
        return bool(self._any_bad[unit]) if unit < self._any_bad.size else False

    def cell_text(self, unit: int, column: int) -> str:
        if column == 0:
            return str(unit)
        q, part = self.columns[column]
        row = self._row.get((q, part))
        if row is None or (row.dtype != bool and np.isnan(row[unit])):
            return ""
        return f"{row[unit]:.2e}" if part == "|A-B|" else f"{row[unit]:.6f}"

    def cell_background(self, unit: int, column: int):
        """Red where this quantity is out of tolerance, pink on the rest of such a unit's row."""
        if column:
            bad = self._row_bad.get(self.columns[column][0])
            if bad is not None and bad[unit]:
                return BAD_CELL
        return BAD_ROW if self.out_of_tolerance(unit) else None

    # ---- Qt model ------------------------------------------------------------------------------
    def rowCount(self, parent=None):
        return 0 if parent is not None and parent.isValid() else self.units

    def columnCount(self, parent=None):
        return 0 if parent is not None and parent.isValid() else len(self.columns)

    def data(self, index, role=QtCore.Qt.DisplayRole):
        unit, column = int(self.order[index.row()]), index.column()
        if role == QtCore.Qt.DisplayRole:
            return self.cell_text(unit, column)
        if role == SORT_ROLE:
            return self.value(unit, column)
        if role == QtCore.Qt.BackgroundRole:
            return self.cell_background(unit, column)
        if role == QtCore.Qt.ForegroundRole:
            return BAD_TEXT if self.out_of_tolerance(unit) else None
        if role == QtCore.Qt.ToolTipRole and column:
            return repr(self.value(unit, column))  # every digit
        if role == QtCore.Qt.TextAlignmentRole:
            return int(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
        return None

    def headerData(self, section, orientation, role=QtCore.Qt.DisplayRole):
        if orientation != QtCore.Qt.Horizontal:
            return None
        q, part = self.columns[section]
        if role == QtCore.Qt.DisplayRole:
            return q if not part else f"{q} {part}"
        if role == QtCore.Qt.ToolTipRole:
            s = self.state
            if not part:
                return "unit index"
            who = {"A": getattr(s.trace_a, "label", "path A"),
                   "B": getattr(s.trace_b, "label", "path B"), "|A-B|": "|A - B| (the report's)"}
            derived = " - derived by the NumPy equations from B's own states" \
                if self._how.get(q) == "derived" and part != "A" else ""
            return f"{q} at the cursor's step, {who[part]}{derived}"
        if role == QtCore.Qt.FontRole and part and self._how.get(q) == "derived" and part != "A":
            font = QtGui.QFont()
            font.setItalic(True)
            return font
        return None


def _padded(width: int, quantity: str, rows):
    """``rows(lo, hi)`` padded to ``width`` columns (NaN, or False for a bool mask)."""
    def padded(lo, hi):
        block = np.asarray(rows(lo, hi))
        if block.shape[1] >= width:
            return block
        fill = False if block.dtype == bool else np.nan
        out = np.full((block.shape[0], width), fill, block.dtype if fill is False else float)
        out[:, :block.shape[1]] = block
        return out
    return padded


class StepProxy(QtCore.QSortFilterProxyModel):
    """Filters (only units out of tolerance); sorting is handed to the model's NumPy sort."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.only_bad = False
        self.setDynamicSortFilter(False)

    def set_only_bad(self, only_bad: bool) -> None:
        self.only_bad = bool(only_bad)
        self.invalidateFilter()

    def filterAcceptsRow(self, source_row, source_parent):
        if not self.only_bad:
            return True
        model = self.sourceModel()
        return model.out_of_tolerance(model.unit_at(source_row))

    def sort(self, column, order=QtCore.Qt.AscendingOrder):
        self.sourceModel().sort(column, order)  # rows come sorted; the proxy keeps their order

    def step_changed(self) -> None:
        if self.only_bad:
            self.invalidateFilter()

    def unit_at(self, proxy_row: int) -> int:
        source = self.mapToSource(self.index(proxy_row, 0))
        return self.sourceModel().unit_at(source.row())


class CellDelegate(QtWidgets.QStyledItemDelegate):
    """Paints a cell straight from the model's row at the cursor (text and tolerance colour).

    The style's delegate asks the model for eight roles per cell through Python; painting from
    the arrays keeps a full-table update of a cursor move to a few milliseconds.
    """

    def __init__(self, model: StepTableModel, proxy: StepProxy, parent=None):
        super().__init__(parent)
        self.model, self.proxy = model, proxy

    def paint(self, painter, option, index):
        source = self.proxy.mapToSource(index)
        unit, column = self.model.unit_at(source.row()), source.column()
        selected = option.state & QtWidgets.QStyle.State_Selected
        background = self.model.cell_background(unit, column)
        if selected:
            painter.fillRect(option.rect, option.palette.highlight())
            painter.setPen(option.palette.highlightedText().color())
        elif background is not None:
            painter.fillRect(option.rect, background)
            painter.setPen(BAD_TEXT)
        else:
            painter.setPen(option.palette.text().color())
        painter.drawText(option.rect.adjusted(2, 0, -4, 0),
                         QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter,
                         self.model.cell_text(unit, column))


class StepTablePanel(QtWidgets.QWidget):
    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = StepTableModel(state, self)
        self.proxy = StepProxy(self)
        self.proxy.setSourceModel(self.model)
        self.caption = QtWidgets.QLabel()
        self.only_bad = QtWidgets.QCheckBox("only those")
        self.only_bad.setToolTip("Show only the units out of tolerance at this step")
        self.only_bad.setFocusPolicy(QtCore.Qt.NoFocus)
        self.only_bad.toggled.connect(self.proxy.set_only_bad)
        self.table = QtWidgets.QTableView()
        self.table.setModel(self.proxy)
        self.table.setItemDelegate(CellDelegate(self.model, self.proxy, self.table))
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(-1, QtCore.Qt.AscendingOrder)
        self.table.setFont(monospace_font(8))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(18)
        self.table.horizontalHeader().setDefaultSectionSize(78)
        self.table.horizontalHeader().resizeSection(0, 40)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SingleSelection)
        self.table.setFocusPolicy(QtCore.Qt.ClickFocus)
        self.table.clicked.connect(self._row_clicked)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(self.only_bad)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.table)
        self._key = None
        state.tracesReady.connect(self.reload)
        state.selectionChanged.connect(self._selection_changed)
        state.timestepChanged.connect(self.set_step)
        self.reload()

    def _selection_changed(self) -> None:
        s = self.state
        if (id(s.report), id(s.trace_a), s.layer, s.direction) != self._key:
            self.reload()

    def reload(self) -> None:
        s = self.state
        self._key = (id(s.report), id(s.trace_a), s.layer, s.direction)
        self.model.reload()
        self._caption()

    def set_step(self, t: int) -> None:
        self.model.set_step(t)
        self.proxy.step_changed()
        self._caption()

    def _caption(self) -> None:
        m, s = self.model, self.state
        if not m.rowCount():
            self.caption.setText("step table: nothing computed yet")
            return
        bad = int(m._any_bad.sum())
        seconds = m.step * s.frame_shift
        self.caption.setText(f"step {m.step} ({seconds:.3f} s): {bad} of {m.rowCount()} units "
                             f"out of tolerance")

    def _row_clicked(self, index) -> None:
        self.state.set_units([self.proxy.unit_at(index.row())])
