"""Which two paths are compared: an A and a B chooser (and a swap button), fed from the state's list.

The choosers show every path of ``state.paths`` grouped (reference, backends, NumPy variants,
yours); picking one asks the controller to run what is not cached. They follow the state, so a
change made elsewhere (the Run menu, ``--impl``) shows here too. Also the "show" buttons: what
the heatmaps show (A, B or |A - B|).
"""
from __future__ import annotations

from PyQt5 import QtCore, QtWidgets

class PathCombo(QtWidgets.QComboBox):
    """One chooser (A or B) listing ``state.paths``; item data is the path key."""

    def __init__(self, state, which: str, on_pick, parent=None):
        super().__init__(parent)
        self.state, self.which, self.on_pick = state, which, on_pick
        self.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLength)
        self.setMinimumContentsLength(16)
        self.setFocusPolicy(QtCore.Qt.ClickFocus)
        self.setToolTip(f"Path {which.upper()}: what runs as {which.upper()} "
                        "(the reference, a backend, float64, a wrong reading, yours)")
        self.activated.connect(self._picked)
        self.currentIndexChanged.connect(self._fit_text)
        state.pathsChanged.connect(self.refill)
        self.refill()

    def _fit_text(self) -> None:
        """As wide as the chosen path's name (within limits): never a clipped name."""
        text_width = self.fontMetrics().horizontalAdvance(self.currentText())
        self.setMinimumWidth(min(max(text_width, 110), 300) + 36)  # + the arrow and frame

    def refill(self) -> None:
        self.blockSignals(True)
        self.clear()
        group = None
        for choice in self.state.paths:
            if choice.group != group and self.count():
                self.insertSeparator(self.count())
            group = choice.group
            self.addItem(choice.label, choice.key)
            self.setItemData(self.count() - 1, choice.key, QtCore.Qt.ToolTipRole)
        self.setCurrentIndex(self.findData(self.current_key()))
        self.blockSignals(False)
        self._fit_text()

    def current_key(self) -> str:
        return self.state.path_a if self.which == "a" else self.state.path_b

    def _picked(self, index: int) -> None:
        key = self.itemData(index)
        if key is not None and key != self.current_key():
            self.on_pick(key)


class PathChooser(QtWidgets.QWidget):
    """``A [chooser] ⇄ B [chooser]``: the two compared paths."""

    def __init__(self, state, controller, parent=None):
        super().__init__(parent)
        self.combo_a = PathCombo(state, "a", lambda key: controller.set_paths(a=key))
        self.combo_b = PathCombo(state, "b", lambda key: controller.set_paths(b=key))
        self.swap = QtWidgets.QToolButton()
        self.swap.setText("⇄")
        self.swap.setToolTip("Swap A and B")
        self.swap.setFocusPolicy(QtCore.Qt.NoFocus)
        self.swap.clicked.connect(controller.swap_paths)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(3)
        for widget in (QtWidgets.QLabel("A"), self.combo_a, self.swap, QtWidgets.QLabel("B"),
                       self.combo_b):
            layout.addWidget(widget)


SHOW_TEXT = {"a": "A", "b": "B", "diff": "|A-B|"}


class SourceButtons(QtWidgets.QWidget):
    """Three exclusive buttons: the heatmaps show path A, path B or |A - B|."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.group = QtWidgets.QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons = {}
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        for key, text in SHOW_TEXT.items():
            button = QtWidgets.QToolButton()
            button.setText(text)
            button.setCheckable(True)
            button.setFocusPolicy(QtCore.Qt.NoFocus)
            button.setToolButtonStyle(QtCore.Qt.ToolButtonTextOnly)
            self.group.addButton(button)
            self.buttons[key] = button
            layout.addWidget(button)
            button.clicked.connect(lambda _=False, k=key: state.set_source(k))
        state.selectionChanged.connect(self._follow)
        state.tracesReady.connect(self._describe)
        state.pathsChanged.connect(self._describe)
        self._follow()
        self._describe()

    def _follow(self) -> None:
        self.buttons[self.state.source].setChecked(True)

    def _describe(self) -> None:
        s = self.state
        for key, trace, path in (("a", s.trace_a, s.path_a), ("b", s.trace_b, s.path_b)):
            label = trace.label if trace is not None and trace.label else s.path(path).label
            self.buttons[key].setToolTip(f"Heatmaps show path {key.upper()}: {label}")
        self.buttons["diff"].setToolTip("Heatmaps show |A - B|")
