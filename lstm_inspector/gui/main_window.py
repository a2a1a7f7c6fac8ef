"""The inspector window: docks of views around the gates, menus, stepping, status, drag-and-drop.

Layout: the gates (central), the input features above, c and h on the right, the divergence plot
and the step table below. Every time axis is linked; every view has the one time cursor, kept
in sync through the :class:`~lstm_inspector.gui.state.InspectorState`.

Settings (``QSettings``, INI format, organisation and application "lstm-inspector"): window
geometry and dock state, colour map, frame shift, recent files, last folders.
"""
from __future__ import annotations

from pathlib import Path

from PyQt5 import QtCore, QtGui, QtWidgets

from . import dialogs, export, pipeline
from .controller import Controller
from .panels.common import COLORMAPS, link_time_axes
from .panels.divergence import VERDICT_COLORS, DivergencePanel
from .panels.features import FeaturesPanel
from .panels.gates import GatesPanel, SourceChooser
from .panels.states import StatesPanel
from .panels.step_table import StepTablePanel
from .state import InspectorState

ORGANIZATION = APPLICATION = "lstm-inspector"
MAX_RECENT = 10
PLAY_INTERVAL_MS = 40
STARTUP_FALLBACK_MS = 500  # queued start-up work runs after the first paint, or after this


def settings() -> QtCore.QSettings:
    """The app's settings (INI; tests redirect it with ``QSettings.setPath``)."""
    return QtCore.QSettings(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope,
                            ORGANIZATION, APPLICATION)


class MainWindow(QtWidgets.QMainWindow):
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
        s.busy.connect(self._busy)
        self.controller.worker.progress.connect(self._progress)
        self.controller.modelOpened.connect(lambda p: self._remember(p, "model"))
        self.controller.featuresOpened.connect(lambda p: self._remember(p, "features"))
        self._update_title()
        self._traces_ready()
        self.resize(1400, 900)
        self._restored = self._restore_geometry()
        self._sized = False
        self._deferred: list | None = []
        self._start_queued = False

    # ---- construction --------------------------------------------------------------------------
    def default_dock_sizes(self):
        """Features a strip on top; c/h over the table in a right column of 38% of the width;
        the divergence plot under the gates."""
        width, height = self.width(), self.height()
        d = self.docks
        self.resizeDocks([d["features"]], [max(int(0.17 * height), 150)], QtCore.Qt.Vertical)
        self.resizeDocks([d["states"]], [int(0.38 * width)], QtCore.Qt.Horizontal)
        self.resizeDocks([d["states"], d["step_table"]], [int(0.48 * height), int(0.30 * height)],
                         QtCore.Qt.Vertical)
        self.resizeDocks([d["divergence"]], [int(0.28 * height)], QtCore.Qt.Vertical)

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

    def _build_toolbar(self):
        bar = QtWidgets.QToolBar("Stepping", self)
        bar.setObjectName("toolbar_stepping")
        bar.setMovable(False)
        self.addToolBar(QtCore.Qt.TopToolBarArea, bar)
        self.layer_combo = QtWidgets.QComboBox()
        self.layer_combo.setToolTip("Layer and direction shown (the model's runnable chain)")
        self.layer_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLength)
        self.layer_combo.setMinimumContentsLength(23)
        self.layer_combo.currentIndexChanged.connect(self._layer_chosen)
        self.source_combo = SourceChooser(self.state)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.slider.setMinimumWidth(80)
        self.slider.valueChanged.connect(self.state.set_timestep)
        self.step_label = QtWidgets.QLabel()
        self.step_label.setMinimumWidth(190)
        for w in (self.layer_combo, self.source_combo, self.slider):
            w.setFocusPolicy(QtCore.Qt.ClickFocus)
        self.slider.setSizePolicy(QtWidgets.QSizePolicy.Expanding, QtWidgets.QSizePolicy.Fixed)
        bar.addWidget(QtWidgets.QLabel(" layer "))
        bar.addWidget(self.layer_combo)
        bar.addWidget(QtWidgets.QLabel("  show "))
        bar.addWidget(self.source_combo)
        bar.addSeparator()
        self.nav_actions = self._navigation_actions()
        for name in ("previous_divergence", "play", "next_divergence"):
            bar.addAction(self.nav_actions[name])
        bar.addWidget(self.slider)
        bar.addWidget(self.step_label)
        self.toolbar = bar

    def _action(self, text, slot=None, shortcut=None, checkable=False, tip=None):
        action = QtWidgets.QAction(text, self)
        if shortcut:
            action.setShortcut(QtGui.QKeySequence(shortcut))
            action.setShortcutContext(QtCore.Qt.WindowShortcut)
        if checkable:
            action.setCheckable(True)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        if slot is not None:
            action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work while the menu is closed
        return action

    def _navigation_actions(self):
        s = self.state
        return {
            "left": self._action("Step back", lambda: s.step_by(-1), "Left"),
            "right": self._action("Step forward", lambda: s.step_by(1), "Right"),
            "left10": self._action("10 steps back", lambda: s.step_by(-10), "Shift+Left"),
            "right10": self._action("10 steps forward", lambda: s.step_by(10), "Shift+Right"),
            "home": self._action("First step", lambda: s.set_timestep(0), "Home"),
            "end": self._action("Last step", lambda: s.set_timestep(s.steps - 1), "End"),
            "next_divergence": self._action("N ▶|", self.next_divergence, "N",
                                            tip="Next step out of tolerance (N)"),
            "previous_divergence": self._action("|◀ P", self.previous_divergence,
                                                "P", tip="Previous step out of tolerance (P)"),
            "play": self._action("▶ Play", self.toggle_play, "Space",
                                 tip="Play / pause (Space)"),
        }

    def _build_menus(self):
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self._action("Open &model...", self.open_model_dialog, "Ctrl+O"))
        file_menu.addAction(self._action("Open &features...", self.open_features_dialog, "Ctrl+F"))
        self.recent_menu = file_menu.addMenu("Recent files")
        self._fill_recent_menu()
        export_menu = file_menu.addMenu("&Export")
        for text, kind in (("View as PNG...", "png"), ("View as SVG...", "svg"),
                           ("Traces as NPZ...", "npz"), ("Traces as CSV (this layer)...", "csv"),
                           ("Report as JSON...", "json"), ("Report as HTML...", "html")):
            export_menu.addAction(self._action(text, lambda _=False, k=kind: self.export_dialog(k)))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", self.close, "Ctrl+Q"))

        run_menu = menu.addMenu("&Run")
        backend_menu = run_menu.addMenu("Path &B")
        self.backend_group = QtWidgets.QActionGroup(self)
        self.backend_actions = {}
        for k, (name, text) in enumerate(pipeline.backend_choices()):
            if k == len(pipeline.HARDWARE_BACKENDS):
                backend_menu.addSeparator()
            action = self._action(text, lambda _=False, n=name: self.controller.set_backend(n),
                                  checkable=True)
            self.backend_group.addAction(action)
            backend_menu.addAction(action)
            self.backend_actions[name] = action
        tf32_menu = run_menu.addMenu("TF32")
        self.tf32_group = QtWidgets.QActionGroup(self)
        self.tf32_actions = {}
        for value, text in ((None, "library default"), (True, "allowed"), (False, "off")):
            action = self._action(text, lambda _=False, v=value: self.controller.set_tf32(v),
                                  checkable=True)
            self.tf32_group.addAction(action)
            tf32_menu.addAction(action)
            self.tf32_actions[value] = action
        dtype_menu = run_menu.addMenu("Precision of path A")
        self.dtype_group = QtWidgets.QActionGroup(self)
        self.dtype_actions = {}
        for dtype in ("float32", "float64"):
            action = self._action(dtype, lambda _=False, d=dtype: self.controller.set_dtype(d),
                                  checkable=True)
            self.dtype_group.addAction(action)
            dtype_menu.addAction(action)
            self.dtype_actions[dtype] = action
        run_menu.addAction(self._action("&Tolerance...", self.tolerance_dialog, "Ctrl+T"))
        run_menu.addSeparator()
        run_menu.addAction(self._action("&Recompute", lambda: self.controller.compute(), "F5"))
        run_menu.addAction(self._action("&Cancel", self.controller.cancel, "Esc"))

        view_menu = menu.addMenu("&View")
        nav = view_menu.addMenu("Go to")
        for action in self.nav_actions.values():
            nav.addAction(action)
        cmap_menu = view_menu.addMenu("Colour map")
        self.cmap_group = QtWidgets.QActionGroup(self)
        for name in COLORMAPS:
            action = self._action(name, lambda _=False, n=name: self.set_colormap(n), checkable=True)
            action.setChecked(name == self.state.colormap)
            self.cmap_group.addAction(action)
            cmap_menu.addAction(action)
        view_menu.addAction(self._action("Frame shift when the file has none...",
                                         self.frame_shift_dialog))
        view_menu.addSeparator()
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())

        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self._action(
            "The CuDNNLSTM layout", lambda: dialogs.help_dialog(
                self, "The CuDNNLSTM layout", dialogs.CUDNN_LAYOUT_HTML), "F1"))
        help_menu.addAction(self._action(
            "&About", lambda: dialogs.help_dialog(self, "About lstm-inspector",
                                                  dialogs.about_html())))
        self._check_run_actions()

    def _build_status_bar(self):
        bar = self.statusBar()
        self.run_label = QtWidgets.QLabel()
        self.tolerance_label = QtWidgets.QLabel()
        self.verdict_label = ElidedLabel()
        self.progress_bar = QtWidgets.QProgressBar()
        self.progress_bar.setMaximumWidth(180)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setFocusPolicy(QtCore.Qt.NoFocus)
        self.cancel_button.clicked.connect(self.controller.cancel)
        self.progress_bar.hide()
        self.cancel_button.hide()
        bar.addWidget(self.verdict_label, 1)
        bar.addPermanentWidget(self.run_label)
        bar.addPermanentWidget(self.tolerance_label)
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)

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
                self.layer_combo.addItem(f"[{k}] {layer.name} {direction} (H={layer.units})",
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
        if s.trace_a is None:
            self.run_label.setText("nothing run yet")
            self.run_label.setToolTip("")
        else:
            text = f"A: {s.trace_a.meta.get('backend', 'numpy')} {s.trace_a.meta.get('dtype', '')}"
            if s.trace_b is not None:
                text += f"  |  B: {describe_run(s.trace_b)}"
            self.run_label.setText(text)
            self.run_label.setToolTip(f"A: {s.trace_a.label}\n{s.trace_a.describe()}\n"
                                      + (f"B: {s.trace_b.label}\n{s.trace_b.describe()}"
                                         if s.trace_b is not None else ""))
        if s.report is not None:
            color = VERDICT_COLORS.get(getattr(s.report, "kind", ""), "#000000")
            self.verdict_label.setStyleSheet(f"color: {color}; font-weight: bold")
            self.verdict_label.setText(s.report.verdict)
            self.verdict_label.setToolTip(s.report.verdict)
            self.tolerance_label.setText(f"atol {s.report.atol:g}  rtol {s.report.rtol:g}")
        else:
            self.verdict_label.setStyleSheet("")
            self.verdict_label.setText("open a model and a feature file (or drop them here)"
                                       if s.model is None or s.features is None else "")
            self.tolerance_label.setText(tolerance_text(s.atol, s.rtol))

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

    def _check_run_actions(self):
        s = self.state
        action = self.backend_actions.get(s.backend)
        if action is not None:
            action.setChecked(True)
        self.tf32_actions[s.tf32].setChecked(True)
        self.dtype_actions[s.dtype].setChecked(True)

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

    def _busy(self, busy):
        self.progress_bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress_bar.setValue(0)
        else:
            self.statusBar().clearMessage()

    def _progress(self, fraction, text):
        self.progress_bar.setValue(int(1000 * fraction))
        if text:
            self.statusBar().showMessage(text)

    def _failed(self, message):
        box = dialogs.error_box(self, message, self.state.last_error_details)
        self.error_boxes = [b for b in self.error_boxes if _alive(b)] + [box]

    # ---- actions --------------------------------------------------------------------------------
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

    def open_model_dialog(self):
        path = self._ask_open("model", "Open model",
                              "Models (*.h5 *.hdf5 *.keras *.index *.ckpt*);;All files (*)")
        if path:
            self.controller.open_model(path)

    def open_features_dialog(self):
        path = self._ask_open("features", "Open features",
                              "Features (*.npy *.npz *.csv *.txt *.htk *.fea* *.mfc *.ark *.scp *.wav)"
                              ";;All files (*)")
        if path:
            self.controller.open_features(path)

    def _ask_open(self, kind, title, filters):
        folder = self._settings.value(f"folders/{kind}", "", str)
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, title, folder, filters)
        if path:
            self._settings.setValue(f"folders/{kind}", str(Path(path).parent))
        return path

    def export_dialog(self, kind):
        s = self.state
        needs = {"npz": s.trace_a, "csv": s.trace_a, "json": s.report, "html": s.report}
        if kind in needs and needs[kind] is None:
            dialogs.error_box(self, "Nothing to export yet: open a model and a feature file first.")
            return
        folder = self._settings.value("folders/export", "", str)
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, f"Export {kind.upper()}", str(Path(folder) / f"lstm-inspector.{kind}"),
            f"{kind.upper()} (*.{kind})")
        if path:
            self._settings.setValue("folders/export", str(Path(path).parent))
            self.export(kind, path)

    def export(self, kind, path):
        """Write ``kind`` (png, svg, npz, csv, json, html) to ``path``; errors go to a dialog."""
        writers = {"png": lambda: export.view_png(self, path), "svg": lambda: export.view_svg(self, path),
                   "npz": lambda: export.traces_npz(self.state, path),
                   "csv": lambda: export.traces_csv(self.state, path),
                   "json": lambda: export.report_json(self.state, path),
                   "html": lambda: export.report_html(self.state, path, window=self)}
        try:
            written = writers[kind]()
        except OSError as exc:
            dialogs.error_box(self, f"Could not write {path}: {exc.strerror or exc}.", str(exc))
            return None
        self.statusBar().showMessage(f"wrote {written}", 5000)
        return written

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

    # ---- recent files, drag and drop ----------------------------------------------------------------
    def recent_files(self) -> list:
        value = self._settings.value("recent/files", [], list) or []
        return [str(v) for v in value if v]

    def _remember(self, path, kind):
        recent = [p for p in self.recent_files() if p != path]
        recent.insert(0, path)
        self._settings.setValue("recent/files", recent[:MAX_RECENT])
        self._settings.setValue(f"folders/{kind}", str(Path(path).parent))
        self._fill_recent_menu()
        self._update_title()

    def _fill_recent_menu(self):
        self.recent_menu.clear()
        recent = self.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.controller.open_path(p))
        self.recent_menu.setEnabled(bool(recent))

    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event):
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        self.open_paths(paths)
        event.acceptProposedAction()

    def open_paths(self, paths):
        """Open dropped files: the model first, then the features (each decided by extension/content)."""
        kinds = sorted(((pipeline.classify_path(p), p) for p in paths), key=lambda kp: kp[0] != "model")
        for k, (kind, path) in enumerate(kinds):
            opener = self.controller.open_model if kind == "model" else self.controller.open_features
            opener(path, replace=(k == 0))  # later files queue behind the first

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


class ElidedLabel(QtWidgets.QLabel):
    """A one-line label that ends in "..." when the window is too narrow (full text in the
    tooltip); the divergence view shows the whole sentence."""

    def minimumSizeHint(self):
        return QtCore.QSize(50, super().minimumSizeHint().height())

    def sizeHint(self):
        return QtCore.QSize(50, super().sizeHint().height())

    def paintEvent(self, event):
        painter = QtGui.QPainter(self)
        metrics = painter.fontMetrics()
        text = metrics.elidedText(self.text(), QtCore.Qt.ElideRight, self.width())
        painter.setPen(self.palette().color(QtGui.QPalette.WindowText))
        painter.drawText(self.rect(), QtCore.Qt.AlignLeft | QtCore.Qt.AlignVCenter, text)


def _alive(widget) -> bool:
    try:
        widget.isVisible()
        return True
    except RuntimeError:  # deleted on close
        return False


def tolerance_text(atol, rtol) -> str:
    atol = "default" if atol is None else f"{atol:g}"
    rtol = "default" if rtol is None else f"{rtol:g}"
    return f"atol {atol}  rtol {rtol}"


def describe_run(trace) -> str:
    """What ran, compactly: backend, device, dtype, TF32 and reading where they say something,
    and the library versions (TensorFlow, tf-keras, torch, cuDNN) the trace records."""
    m = trace.meta
    parts = [str(m.get("backend", "?"))]
    if m.get("device"):
        parts.append(str(m["device"]))
    if m.get("dtype"):
        parts.append(str(m["dtype"]))
    if m.get("tf32") not in (None, "", "n/a"):
        parts.append(f"TF32 {m['tf32']}")
    if m.get("reading") not in (None, "", "file") and not str(parts[0]).endswith(str(m["reading"])):
        parts.append(f"reading {m['reading']}")
    versions = [f"{lib} {m[lib]}" for lib in ("tensorflow", "tf_keras", "torch", "cudnn")
                if m.get(lib)]
    return " ".join(parts) + (f" ({', '.join(versions)})" if versions else "")
