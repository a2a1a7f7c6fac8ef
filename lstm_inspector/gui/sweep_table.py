"""A sweep's utterances as a table, worst first; double-click opens one in the inspector.

Two ways in, both from the main window's menus:

* **File > Open sweep result...** reads the JSON of ``lstm-inspector sweep ... --json``;
* **Run > Sweep a test set...** sweeps an ark, scp or list file with the window's model and
  path B, in a background thread (one utterance after the other, ``sweep.run.iter_rows``),
  rows appearing as they are done; Stop ends it after the utterance in hand.

The table (a ``QAbstractTableModel`` behind a sorting proxy) starts sorted by the largest
difference, largest first, with rows that could not run at the bottom; a header click sorts by
another column. Verdicts are coloured (green agree, amber precision drift, red structural or
error) and the full verdict sentence is the row's tooltip. Double-clicking a row opens that
utterance's *address* (``feats.ark:1234``, a file) with the sweep's model in the inspector, with
the sweep's path B and tolerance.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from PyQt5 import QtCore, QtGui, QtWidgets

from ..errors import InspectorError
from ..sweep.summary import KIND_TEXT, answer_text, first_text, number_text, summarize
from . import dialogs

COLUMNS = ("utterance", "frames", "verdict", "largest diff", "first divergence", "answer",
           "time (s)")
DIFF_COLUMN = 3
SORT_ROLE = QtCore.Qt.UserRole + 1
KIND_COLOURS = {"agree": QtGui.QColor(26, 127, 55), "precision": QtGui.QColor(154, 103, 0),
                "structural": QtGui.QColor(207, 34, 46), "error": QtGui.QColor(207, 34, 46)}
KIND_BACKGROUND = {"structural": QtGui.QColor(255, 228, 228), "error": QtGui.QColor(240, 240, 240)}


def load_sweep_result(path) -> dict:
    """Read a ``sweep --json`` file; an InspectorError sentence when it is not one."""
    path = Path(path)
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InspectorError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InspectorError(f"{path.name} is not JSON; save a sweep with "
                             "`lstm-inspector sweep MODEL SOURCE --json > sweep.json`") from None
    if not isinstance(result, dict) or not isinstance(result.get("rows"), list) \
            or "model" not in result:
        raise InspectorError(f"{path.name} is JSON but not a sweep result (it has no rows and "
                             "model); make one with `lstm-inspector sweep ... --json`")
    return result


class SweepTableModel(QtCore.QAbstractTableModel):
    """One row per utterance (the sweep's row dicts), columns as :data:`COLUMNS`."""

    def __init__(self, rows=(), parent=None):
        super().__init__(parent)
        self.rows = list(rows)

    def add_row(self, row: dict) -> None:
        self.beginInsertRows(QtCore.QModelIndex(), len(self.rows), len(self.rows))
        self.rows.append(row)
        self.endInsertRows()

    def rowCount(self, parent=QtCore.QModelIndex()):
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QtCore.QModelIndex()):
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=QtCore.Qt.DisplayRole):
        if role == QtCore.Qt.DisplayRole and orientation == QtCore.Qt.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index, role=QtCore.Qt.DisplayRole):
        if not index.isValid():
            return None
        row, column = self.rows[index.row()], index.column()
        if role == QtCore.Qt.DisplayRole:
            return self._text(row, column)
        if role == SORT_ROLE:
            return self._sort_key(row, column)
        if role == QtCore.Qt.ToolTipRole:
            return row.get("verdict") or ""
        if role == QtCore.Qt.ForegroundRole and column == 2:
            return QtGui.QBrush(KIND_COLOURS.get(row["kind"], QtGui.QColor("black")))
        if role == QtCore.Qt.BackgroundRole and row["kind"] in KIND_BACKGROUND:
            return QtGui.QBrush(KIND_BACKGROUND[row["kind"]])
        if role == QtCore.Qt.TextAlignmentRole and column in (1, 3, 6):
            return int(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
        return None

    @staticmethod
    def _text(row, column) -> str:
        if column == 0:
            return row["name"]
        if column == 1:
            return "-" if row["frames"] is None else str(row["frames"])
        if column == 2:
            return KIND_TEXT.get(row["kind"], row["kind"])
        if column == 3:
            return number_text(row["max_error"])
        if column == 4:
            if row["kind"] == "error":  # the whole sentence is the tooltip and the detail line
                text = row["verdict"] or ""
                return text if len(text) <= 48 else text[:47] + "\u2026"
            return first_text(row["first"])
        if column == 5:
            return answer_text(row["answer"])
        return "-" if row["seconds"] is None else f"{row['seconds']:.2f}"

    @staticmethod
    def _sort_key(row, column):
        if column == DIFF_COLUMN:  # rows that could not run sort below every difference
            value = row["max_error"]
            return -1.0 if value is None else (math.inf if math.isnan(value) else float(value))
        if column in (1, 6):
            value = row["frames"] if column == 1 else row["seconds"]
            return -1.0 if value is None else float(value)
        return SweepTableModel._text(row, column)


class SweepWindow(QtWidgets.QWidget):
    """A sweep's table in its own window; ``openRequested(model, address, result)`` on double-click."""

    openRequested = QtCore.pyqtSignal(str, str, dict)

    def __init__(self, result: dict, parent=None):
        super().__init__(parent, QtCore.Qt.Window)
        self.result = dict(result)
        self.setObjectName("sweepWindow")
        self.setWindowTitle(f"lstm-inspector sweep - {Path(str(result.get('source', ''))).name}")
        self.model = SweepTableModel(result.get("rows", []), self)
        self.proxy = QtCore.QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QtWidgets.QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(DIFF_COLUMN, QtCore.Qt.DescendingOrder)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(self._double_clicked)
        self.header = QtWidgets.QLabel(self)
        self.header.setTextFormat(QtCore.Qt.RichText)
        self.header.setWordWrap(True)
        self.stop_button = QtWidgets.QPushButton("Stop", self)
        self.stop_button.hide()
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.stop_button)
        layout = QtWidgets.QVBoxLayout(self)
        self.detail = QtWidgets.QLabel(self)  # the selected row's verdict sentence, in full
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        layout.addLayout(top)
        layout.addWidget(self.table)
        layout.addWidget(self.detail)
        self.model.rowsInserted.connect(self._update_header)
        self.table.selectionModel().currentRowChanged.connect(self._show_detail)
        self._update_header()
        self.fit_columns()
        if self.proxy.rowCount():
            self.table.selectRow(0)

    def fit_columns(self, widest: int = 300):
        """Columns as wide as their contents, none wider than ``widest`` pixels but the names."""
        self.table.resizeColumnsToContents()
        for column in range(1, len(COLUMNS)):
            self.table.setColumnWidth(column, min(self.table.columnWidth(column), widest))

    def closeEvent(self, event):
        runner = getattr(self, "runner", None)
        if runner is not None and runner.isRunning():  # finish the utterance in hand, then close
            runner.stop()
            runner.wait()
        super().closeEvent(event)

    def rows_in_view(self) -> list:
        """The row dicts in the order the table shows them."""
        return [self.model.rows[self.proxy.mapToSource(self.proxy.index(k, 0)).row()]
                for k in range(self.proxy.rowCount())]

    def _update_header(self, *_):
        rows = self.model.rows
        summary = summarize(rows, (self.result.get("summary") or {}).get("utterances"))
        counts = summary["counts"]
        backend = str(self.result.get("backend", "?"))
        ran = ", ".join(b for b in summary["backends"] if b != backend)
        text = (f"<b>{Path(str(self.result.get('source', ''))).name}</b> with "
                f"<b>{Path(str(self.result.get('model', ''))).name}</b>, path B "
                f"{backend}{f' ({ran})' if ran else ''}: {summary['done']} utterances, "
                + ", ".join(f"{counts[k]} {KIND_TEXT[k] if k != 'error' else 'could not run'}"
                            for k in counts)
                + ". Double-click a row to open it in the inspector.")
        self.header.setText(text)

    def _show_detail(self, index, _previous=None):
        if not index.isValid():
            self.detail.clear()
            return
        row = self.model.rows[self.proxy.mapToSource(index).row()]
        answer = (row.get("answer") or {}).get("summary")
        self.detail.setText(f"{row['name']}: {row.get('verdict') or ''}"
                            + (f"\n{answer}" if answer else ""))

    def _double_clicked(self, index):
        row = self.model.rows[self.proxy.mapToSource(index).row()]
        self.openRequested.emit(str(self.result.get("model", "")), row["address"], self.result)


def show_sweep(window, result: dict) -> SweepWindow:
    """Open ``result`` as a table beside the inspector ``window``, double-click wired to it."""
    table = SweepWindow(result, window)
    table.openRequested.connect(lambda model, address, res: open_utterance(window, model, address, res))
    table.resize(1400, 560)
    table.show()
    window.sweep_windows = [w for w in getattr(window, "sweep_windows", []) if w.isVisible()]
    window.sweep_windows.append(table)
    return table


def open_utterance(window, model: str, address: str, result: dict) -> None:
    """Open one swept utterance in the inspector with the sweep's model, path B and tolerance."""
    from ..errors import InspectorError
    from ..paths.registry import choice_for

    try:
        backend = choice_for(str(result.get("backend"))).key
    except InspectorError:
        backend = None  # a path this window does not know: keep the current B
    if backend is not None:
        window.state.set_run_settings(backend=backend)
        window._check_run_actions()
    if result.get("atol") is not None:
        window.state.set_run_settings(atol=result["atol"], rtol=result.get("rtol"))
    if model and model != window.state.model_path:
        window.controller.open_model(model)
        window.controller.open_features(address, replace=False)
    else:
        window.controller.open_features(address)
    window.raise_()
    window.activateWindow()


def open_sweep_dialog(window, path=None):
    """File > Open sweep result...: ask for a ``sweep --json`` file and show it."""
    if path is None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(window, "Open sweep result", "",
                                                        "Sweep results (*.json);;All files (*)")
        if not path:
            return None
    try:
        result = load_sweep_result(path)
    except InspectorError as exc:
        dialogs.error_box(window, str(exc))
        return None
    return show_sweep(window, result)


class SweepThread(QtCore.QThread):
    """Runs a sweep off the GUI thread, one utterance at a time; ``stop()`` ends it between two."""

    rowDone = QtCore.pyqtSignal(dict)
    failed = QtCore.pyqtSignal(str)

    def __init__(self, settings, source, parent=None):
        super().__init__(parent)
        self.settings, self.source, self._stop = settings, source, False

    def stop(self):
        self._stop = True

    def run(self):
        from ..io.corpus import list_utterances
        from ..sweep.run import iter_rows

        try:
            # one by one (batch 1): Stop ends the sweep after the utterance in hand
            for _, row in iter_rows(list_utterances(self.source), self.settings, batch=1):
                self.rowDone.emit(row)
                if self._stop:
                    break
        except InspectorError as exc:
            self.failed.emit(str(exc))


def run_sweep_dialog(window, source=None):
    """Run > Sweep a test set...: the window's model and path B over an ark, scp or list file."""
    from ..sweep.work import SweepSettings

    s = window.state
    if s.model is None or not s.model_path or not Path(s.model_path).exists():
        dialogs.error_box(window, "Open a model file first: a sweep runs the window's model "
                                  "over every utterance of a test set.")
        return None
    if source is None:
        source, _ = QtWidgets.QFileDialog.getOpenFileName(
            window, "Sweep a test set", "",
            "Test sets (*.ark *.scp *.list *.lst *.txt);;All files (*)")
        if not source:
            return None
    settings = SweepSettings(str(Path(s.model_path).resolve()), backend=s.backend, atol=s.atol,
                             rtol=s.rtol, dtype=s.dtype, tf32=s.tf32, path_a=s.path_a)
    table = show_sweep(window, {"model": settings.model, "source": str(source),
                                "backend": s.backend, "atol": s.atol, "rtol": s.rtol, "rows": []})
    thread = SweepThread(settings, str(source), table)
    thread.rowDone.connect(table.model.add_row)
    thread.failed.connect(lambda text: dialogs.error_box(table, text))
    thread.finished.connect(table.stop_button.hide)
    table.stop_button.clicked.connect(thread.stop)
    table.stop_button.show()
    table.runner = thread
    thread.start()
    return table
