"""The window's menus, toolbar and keyboard actions (a mixin of :class:`MainWindow`).

File: open model / features, recent files, export. Run: path B (real backends, NumPy under a
reading, float64), TF32, precision of path A, tolerance, recompute, cancel. View: go to, colour
map, frame shift, docks. Help: the CuDNNLSTM layout page, about. Keys (window shortcuts, so they
work whatever has focus): Left/Right, Shift+Left/Right, Home/End, N/P, Space.
"""
from __future__ import annotations

from PyQt5 import QtCore, QtGui, QtWidgets

from . import dialogs, pipeline
from .panels.common import COLORMAPS
from .panels.gates import SourceChooser


class MenusMixin:
    """Builds the actions; the slots they call live on the window and its controller."""

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

    def _check_run_actions(self):
        s = self.state
        action = self.backend_actions.get(s.backend)
        if action is not None:
            action.setChecked(True)
        self.tf32_actions[s.tf32].setChecked(True)
        self.dtype_actions[s.dtype].setChecked(True)
