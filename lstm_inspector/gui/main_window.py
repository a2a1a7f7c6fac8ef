"""The inspector window: docks of views around the gates, menus, stepping, status, drag-and-drop.

Layout: the gates (central) with the divergence plot under them, the input features above, and
a right column of c and h over the step table. Every time axis is linked; every view has the one
time cursor, kept in sync through the :class:`~lstm_inspector.gui.state.InspectorState`.

Settings (``QSettings``, INI format, organisation and application "lstm-inspector"): window
geometry and dock state, colour map, frame shift, recent files, last folders.
"""
from __future__ import annotations

from pathlib import Path

from PyQt5 import QtCore, QtWidgets

from . import dialogs
from .controller import Controller
from .diagnosis_dialog import DiagnosisDialog
from .files import FilesMixin
from .menus import MenusMixin
from .panels.common import COLORMAPS, link_time_axes
from .panels.divergence import DivergencePanel
from .panels.features import FeaturesPanel
from .panels.gates import GatesPanel
from .panels.states import StatesPanel
from .panels.step_table import StepTablePanel
from .screen_fit import FRAMED_AFTER_MS, fit_to_screen
from .state import InspectorState
from .status import StatusMixin, describe_run, tolerance_text  # noqa: F401 (re-exported)

ORGANIZATION = APPLICATION = "lstm-inspector"
PLAY_INTERVAL_MS = 40
STARTUP_FALLBACK_MS = 500  # queued start-up work runs after the first paint, or after this


def settings() -> QtCore.QSettings:
    """The app's settings (INI; tests redirect it with ``QSettings.setPath``)."""
    return QtCore.QSettings(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope,
                            ORGANIZATION, APPLICATION)


class MainWindow(MenusMixin, FilesMixin, StatusMixin, QtWidgets.QMainWindow):
    """The inspector: panels in docks around the gates; menus (``menus.py``), files
    (``files.py``) and the status bar (``status.py``) are mixins of this one window."""

    def __init__(self, state: InspectorState | None = None, parent=None):
        super().__init__(parent)
        self.state = state or InspectorState(self)
        self.controller = Controller(self.state, self)
        self.title_note = ""
        self.error_boxes: list = []
        self.setObjectName("lstmInspectorMain")
        self.setAcceptDrops(True)
        self.setDockOptions(QtWidgets.QMainWindow.AnimatedDocks
                            | QtWidgets.QMainWindow.AllowNestedDocks)
        self._settings = settings()
        self._restore_display_settings()

        self.gates = GatesPanel(self.state)
        self.features = FeaturesPanel(self.state)
        self.states = StatesPanel(self.state)
        self.divergence = DivergencePanel(self.state)
        self.step_table = StepTablePanel(self.state)
        self.setCentralWidget(self.gates)
        self.docks = {}
        self._add_dock("features", "Input features", self.features, QtCore.Qt.TopDockWidgetArea)
        self._add_dock("states", "Cell state c and output h", self.states,
                       QtCore.Qt.RightDockWidgetArea)
        self._add_dock("divergence", "Divergence per step", self.divergence,
                       QtCore.Qt.BottomDockWidgetArea)
        self._add_dock("step_table", "Values at the cursor", self.step_table,
                       QtCore.Qt.RightDockWidgetArea)
        # the right column (c/h over the table) runs down to the status bar; the divergence
        # plot sits under the gates, sharing their width
        self.setCorner(QtCore.Qt.BottomRightCorner, QtCore.Qt.RightDockWidgetArea)
        self.splitDockWidget(self.docks["states"], self.docks["step_table"], QtCore.Qt.Vertical)
        self.time_link = link_time_axes(
            [panel.time_view_boxes()[0] for panel in (self.features, self.gates, self.states,
                                                      self.divergence)])

        self._build_toolbar()
        self._build_menus()
        self._build_status_bar()
        self.play_timer = QtCore.QTimer(self)
        self.play_timer.setInterval(PLAY_INTERVAL_MS)
        self.play_timer.timeout.connect(self._play_step)

        s = self.state
        s.modelLoaded.connect(self._model_loaded)
        s.featuresLoaded.connect(self._update_title)
        s.tracesReady.connect(self._traces_ready)
        s.timestepChanged.connect(self._timestep_changed)
        s.selectionChanged.connect(self._selection_changed)
        s.settingsChanged.connect(self._settings_changed)
        s.failed.connect(self._failed)
        s.diagnosisReady.connect(self._diagnosis_ready)
        s.busy.connect(self._busy)
        self.controller.worker.progress.connect(self._progress)
        self.controller.modelOpened.connect(lambda p: self._remember(p, "model"))
        self.controller.featuresOpened.connect(lambda p: self._remember(p, "features"))
        self._update_title()
        self._traces_ready()
        self.resize(1400, 900)
        self._restored = self._restore_geometry()
        fit_to_screen(self)  # a small screen: all of the window stays on it
        self._sized = False
        self._deferred: list | None = []
        self._start_queued = False

    # ---- construction --------------------------------------------------------------------------
    def default_dock_sizes(self):
        """Features a strip on top; c/h over the table in a right column of 38% of the width;
        the divergence plot under the gates."""
        width, height = self.width(), self.height()
        d = self.docks
        self.resizeDocks([d["features"]], [max(int(0.15 * height), 110)], QtCore.Qt.Vertical)
        self.resizeDocks([d["states"]], [int(0.38 * width)], QtCore.Qt.Horizontal)
        self.resizeDocks([d["states"], d["step_table"]], [int(0.48 * height), int(0.30 * height)],
                         QtCore.Qt.Vertical)
        self.resizeDocks([d["divergence"]], [int(0.32 * height)], QtCore.Qt.Vertical)

    def _add_dock(self, key, title, widget, area):
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetMovable
                         | QtWidgets.QDockWidget.DockWidgetFloatable
                         | QtWidgets.QDockWidget.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.docks[key] = dock
        return dock

    # ---- state -> widgets ------------------------------------------------------------------------
    def _model_loaded(self):
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        model = self.state.model
        try:
            chain = model.chain
        except Exception:  # noqa: BLE001 - an unrunnable model shows no layers; computing says why
            chain = ()
        for k, layer in enumerate(chain):
            for direction in layer.directions:
                widths = f"H={layer.units}" + (f", P={layer.proj_size}" if layer.proj_size else "")
                self.layer_combo.addItem(f"[{k}] {layer.name} {direction} ({widths})",
                                         (k, direction))
        self.layer_combo.blockSignals(False)
        self._selection_changed()
        self._update_title()

    def _layer_chosen(self, index):
        data = self.layer_combo.itemData(index)
        if data is not None:
            self.state.set_layer(*data)

    def _selection_changed(self):
        index = self.layer_combo.findData((self.state.layer, self.state.direction))
        if index >= 0 and index != self.layer_combo.currentIndex():
            self.layer_combo.blockSignals(True)
            self.layer_combo.setCurrentIndex(index)
            self.layer_combo.blockSignals(False)

    def _traces_ready(self):
        s = self.state
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(s.steps - 1, 0))
        self.slider.setValue(s.timestep)
        self.slider.blockSignals(False)
        self._selection_changed()
        self._update_step_label(s.timestep)
        self._update_status()

    def _timestep_changed(self, t):
        self.slider.blockSignals(True)
        self.slider.setValue(t)
        self.slider.blockSignals(False)
        self._update_step_label(t)

    def _update_step_label(self, t):
        s = self.state
        if not s.steps:
            self.step_label.setText(" step -")
            return
        self.step_label.setText(f" step {t} / {s.steps - 1}   {t * s.frame_shift:.3f} s")

    def _settings_changed(self):
        self._check_run_actions()
        self._update_step_label(self.state.timestep)
        if self.state.report is None:
            self.tolerance_label.setText(tolerance_text(self.state.atol, self.state.rtol))

    def _update_title(self):
        s = self.state
        parts = [Path(p).name for p in (s.model_path,
                                         s.features.source if s.features is not None else "") if p]
        title = "lstm-inspector"
        if parts:
            title += " - " + " + ".join(parts)
        if self.title_note:
            title += f" ({self.title_note})"
        self.setWindowTitle(title)

    def set_title_note(self, note: str):
        self.title_note = note
        self._update_title()

    def _failed(self, message):
        box = dialogs.error_box(self, message, self.state.last_error_details)
        self.error_boxes = [b for b in self.error_boxes if _alive(b)] + [box]

    # ---- actions --------------------------------------------------------------------------------
    def diagnose(self):
        """Run > Diagnose: the detective on path B in the background; a dialog shows the result."""
        if not self.controller.diagnose():
            self.statusBar().showMessage("nothing to diagnose yet: open a model and features", 3000)

    def _diagnosis_ready(self):
        diagnosis = self.state.diagnosis
        if diagnosis is None:
            return
        marked = diagnosis.marked_step
        if marked is not None:
            self.state.set_layer(marked[0], marked[1])
            self.state.set_timestep(marked[2])
        self.diagnosis_dialog = DiagnosisDialog(diagnosis, self)
        self.diagnosis_dialog.open()

    def next_divergence(self):
        if not self.state.next_divergence():
            self.statusBar().showMessage("no later step out of tolerance", 3000)

    def previous_divergence(self):
        if not self.state.previous_divergence():
            self.statusBar().showMessage("no earlier step out of tolerance", 3000)

    def toggle_play(self):
        if self.play_timer.isActive():
            self.play_timer.stop()
        elif self.state.steps:
            if self.state.timestep >= self.state.steps - 1:
                self.state.set_timestep(0)
            self.play_timer.start()
        self.nav_actions["play"].setText("❚❚ Pause" if self.play_timer.isActive() else "▶ Play")

    def _play_step(self):
        if self.state.timestep >= self.state.steps - 1:
            self.toggle_play()
        else:
            self.state.step_by(1)

    def tolerance_dialog(self):
        try:
            from ..core.compare import DEFAULT_ATOL, DEFAULT_RTOL
        except ImportError:
            DEFAULT_ATOL, DEFAULT_RTOL = 1e-5, 1e-4
        dialog = dialogs.ToleranceDialog(self.state.atol, self.state.rtol, DEFAULT_ATOL,
                                         DEFAULT_RTOL, self)
        if dialog.exec_() == QtWidgets.QDialog.Accepted:
            self.controller.set_tolerance(*dialog.values())

    def frame_shift_dialog(self):
        value, ok = QtWidgets.QInputDialog.getDouble(
            self, "Frame shift", "Milliseconds per frame (used when the feature file does not say):",
            self.state.default_frame_shift * 1000, 0.01, 10000, 3)
        if ok:
            self.state.set_run_settings(default_frame_shift=value / 1000)
            self._settings.setValue("display/frame_shift", value / 1000)

    def set_colormap(self, name):
        self.state.set_run_settings(colormap=name)
        self._settings.setValue("display/colormap", name)


    # ---- settings --------------------------------------------------------------------------------
    def _restore_display_settings(self):
        st = self._settings
        cmap = st.value("display/colormap", self.state.colormap, str)
        shift = st.value("display/frame_shift", self.state.default_frame_shift, float)
        self.state.set_run_settings(colormap=cmap if cmap in COLORMAPS else "viridis",
                                    default_frame_shift=float(shift) or 0.01)

    def _restore_geometry(self) -> bool:
        """The saved geometry and dock layout; False when there is none (first start)."""
        geometry = self._settings.value("window/geometry")
        if geometry:
            self.restoreGeometry(geometry)
        dock_state = self._settings.value("window/state")
        if dock_state:
            self.restoreState(dock_state)
        return bool(dock_state)

    def showEvent(self, event):
        super().showEvent(event)
        if not self._sized:
            self._sized = True
            # framed now: fit again once the window manager has placed it
            QtCore.QTimer.singleShot(FRAMED_AFTER_MS, lambda: fit_to_screen(self))
            if not self._restored:
                self.default_dock_sizes()  # for the size the window really has
            # normally the first paint starts the queued work; this is the fallback
            QtCore.QTimer.singleShot(STARTUP_FALLBACK_MS, self._run_after_shown)

    def paintEvent(self, event):
        super().paintEvent(event)
        if self._deferred is not None and not self._start_queued:
            self._start_queued = True
            QtCore.QTimer.singleShot(0, self._run_after_shown)  # after this whole repaint

    def after_shown(self, fn) -> None:
        """Run ``fn`` once the window has been shown and painted (at once if it has been).

        Start-up work (importing TensorFlow, reading the files, the first run) is queued here so
        that it does not compete with building and painting the window for the interpreter.
        """
        if self._deferred is None:
            fn()
        else:
            self._deferred.append(fn)

    def _run_after_shown(self) -> None:
        if self._deferred is None:
            return
        deferred, self._deferred = self._deferred, None
        for fn in deferred:
            fn()

    def save_settings(self):
        self._settings.setValue("window/geometry", self.saveGeometry())
        self._settings.setValue("window/state", self.saveState())
        self._settings.sync()

    def closeEvent(self, event):
        self.play_timer.stop()
        self.save_settings()
        self.controller.cancel()
        self.controller.wait(3000)
        super().closeEvent(event)


def _alive(widget) -> bool:
    try:
        widget.isVisible()
        return True
    except RuntimeError:  # deleted on close
        return False


