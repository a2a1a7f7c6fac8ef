"""The window's menus, toolbar and keyboard actions (a mixin of :class:`MainWindow`).

File: open model / features, recent files, export. Run: path B (real backends, NumPy under a
reading, float64), TF32, precision of path A, tolerance, recompute, cancel. View: go to, colour
map, frame shift, docks. Help: the CuDNNLSTM layout page, about. Keys (window shortcuts, so they
work whatever has focus): Left/Right, Shift+Left/Right, Home/End, N/P, Space.
"""
from __future__ import annotations

from PyQt5 import QtCore, QtGui, QtWidgets

from . import dialogs, streaming_dialog, sweep_table
from .panels.common import COLORMAPS
from .path_chooser import PathChooser, SourceButtons


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
        self.source_buttons = SourceButtons(self.state)
        self.path_chooser = PathChooser(self.state, self.controller)
        self.menuBar().setCornerWidget(self.path_chooser, QtCore.Qt.TopRightCorner)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.slider.setMinimumWidth(80)
        self.slider.valueChanged.connect(self.state.set_timestep)
        self.step_label = QtWidgets.QLabel()
        self.step_label.setMinimumWidth(190)
        for w in (self.layer_combo, self.slider):
            w.setFocusPolicy(QtCore.Qt.ClickFocus)
        self.slider.setSizePolicy(QtWidgets.QSizePolicy.Expanding, QtWidgets.QSizePolicy.Fixed)
        bar.addWidget(QtWidgets.QLabel(" layer "))
        bar.addWidget(self.layer_combo)
        bar.addWidget(QtWidgets.QLabel("  show "))
        bar.addWidget(self.source_buttons)
        bar.addSeparator()
        self.nav_actions = self._navigation_actions()
        for name in ("previous_divergence", "play", "next_divergence"):
            bar.addAction(self.nav_actions[name])
        bar.addWidget(self.slider)
        bar.addWidget(self.step_label)
        self.toolbar = bar

    def _choice_menu(self, menu, choices, on_pick, separator_before=()):
        """Exclusive checkable actions ``(value, text)`` in ``menu``; picking one calls
        ``on_pick(value)``; a separator before each index in ``separator_before``. Returns the
        action group and ``{value: action}``."""
        group = QtWidgets.QActionGroup(self)
        actions = {}
        for k, (value, text) in enumerate(choices):
            if k in separator_before:
                menu.addSeparator()
            action = self._action(text, lambda _=False, v=value: on_pick(v), checkable=True)
            group.addAction(action)
            menu.addAction(action)
            actions[value] = action
        return group, actions

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
        file_menu.addAction(self._action("Open s&weep result...",
                                         lambda: sweep_table.open_sweep_dialog(self)))
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
        self.path_menus = {"a": run_menu.addMenu("Path &A"), "b": run_menu.addMenu("Path &B")}
        self.path_actions: dict = {}
        self._fill_path_menus()
        self.state.pathsChanged.connect(self._fill_path_menus)
        run_menu.addAction(self._action("&Swap A and B", self.controller.swap_paths,
                                        "Ctrl+Shift+X"))
        run_menu.addSeparator()
        run_menu.addAction(self._action(
            "Run my &implementation (executes FILE.py)...", self.run_impl_dialog,
            tip="Your Python LSTM function as path B: this runs the code in the file you pick, "
                "in a separate process with a time limit (Cancel stops it)"))
        run_menu.addAction(self._action("Open my port's &outputs...", self.open_outputs_dialog,
                                        tip="h (and c) your port wrote, as path B"))
        self.diagnose_action = self._action(
            "&Diagnose...", self.diagnose, "Ctrl+D",
            tip="Which convention path B got wrong, and the fix (the detective)")
        run_menu.addAction(self.diagnose_action)
        run_menu.addSeparator()
        self.tf32_group, self.tf32_actions = self._choice_menu(
            run_menu.addMenu("TF32"), ((None, "library default"), (True, "allowed"), (False, "off")),
            self.controller.set_tf32)
        self.stepped_action = self._action(
            "Step &one call per step (c measured)", self.controller.set_stepped, checkable=True,
            tip="Backends: call the library once per step from the previous (h, c), so c is "
                "measured at every step (slow; does not see TF32). Off: one call over the "
                "sequence, as the model runs, c derived from its h")
        run_menu.addAction(self.stepped_action)
        self.dtype_group, self.dtype_actions = self._choice_menu(
            run_menu.addMenu("Precision of the NumPy reference"),
            (("float32", "float32"), ("float64", "float64"),
             ("mixed_float16", "mixed_float16 (as Keras)")), self.controller.set_dtype)
        run_menu.addAction(self._action("&Tolerance...", self.tolerance_dialog, "Ctrl+T"))
        run_menu.addAction(self._action("S&weep a test set...",
                                        lambda: sweep_table.run_sweep_dialog(self)))
        run_menu.addAction(self._action("S&treaming check (chunks of N)...",
                                        lambda: streaming_dialog.run_streaming_check(self)))
        run_menu.addSeparator()
        run_menu.addAction(self._action(
            "&Recompute", lambda: self.controller.compute(rerun_a=True, rerun_b=True), "F5"))
        run_menu.addAction(self._action("&Cancel", self.controller.cancel, "Esc"))

        view_menu = menu.addMenu("&View")
        nav = view_menu.addMenu("Go to")
        for action in self.nav_actions.values():
            nav.addAction(action)
        cmap_menu = view_menu.addMenu("Colour map")
        self.cmap_group, cmap_actions = self._choice_menu(
            cmap_menu, [(name, name) for name in COLORMAPS], self.set_colormap)
        if self.state.colormap in cmap_actions:
            cmap_actions[self.state.colormap].setChecked(True)
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

    def _fill_path_menus(self):
        """Path A and Path B submenus: every path of ``state.paths``, grouped, the chosen checked."""
        if getattr(self, "_menu_paths", None) == self.state.paths:
            self._check_run_actions()
            return
        self._menu_paths = list(self.state.paths)
        for which, menu in self.path_menus.items():
            for action in self.path_actions.get(which, {}).values():
                self.removeAction(action)
                action.deleteLater()
            menu.clear()
            paths = self.state.paths
            breaks = [k for k in range(1, len(paths)) if paths[k].group != paths[k - 1].group]
            pick = (lambda key: self.controller.set_paths(a=key)) if which == "a" else \
                (lambda key: self.controller.set_paths(b=key))
            _, self.path_actions[which] = self._choice_menu(
                menu, [(c.key, c.label) for c in paths], pick, separator_before=breaks)
        self._check_run_actions()

    def _check_run_actions(self):
        s = self.state
        for which, key in (("a", s.path_a), ("b", s.path_b)):
            action = self.path_actions.get(which, {}).get(key)
            if action is not None:
                action.setChecked(True)
        if not hasattr(self, "dtype_actions"):
            return  # still building the menus
        self.tf32_actions[s.tf32].setChecked(True)
        self.stepped_action.setChecked(s.stepped)
        self.dtype_actions[s.dtype].setChecked(True)
