"""The input features as a heatmap (time x coefficient), time in frames below and seconds above."""
from __future__ import annotations

import pyqtgraph as pg
from PyQt5 import QtWidgets

from .common import CursorGroup, Heatmap, SecondsAxis


MIN_HEIGHT = 84  # pixels: title, seconds axis, a visible heatmap, frames axis


class FeaturesPanel(QtWidgets.QWidget):
    """Shows ``state.features.data`` (T, d); the top axis reads seconds (file's frame shift, else
    the setting)."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.view = pg.GraphicsLayoutWidget()
        self.view.ci.setContentsMargins(2, 2, 2, 2)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.view.setMinimumHeight(MIN_HEIGHT)
        self.heatmap = Heatmap(self.view.ci, 0, 0, ylabel="coef")
        self.seconds_axis = SecondsAxis("top", frame_shift=state.frame_shift)
        self.heatmap.plot.setAxisItems({"top": self.seconds_axis})
        self.heatmap.plot.showAxis("top")
        self.cursors = CursorGroup(state)
        self.cursors.add(self.heatmap.plot)
        state.featuresLoaded.connect(self.refresh)
        state.settingsChanged.connect(self._settings_changed)
        state.timestepChanged.connect(self.cursors.move)
        self.refresh()

    def time_view_boxes(self):
        return [self.heatmap.plot.getViewBox()]

    def refresh(self) -> None:
        """Set the image once per feature file."""
        features = self.state.features
        self.seconds_axis.set_frame_shift(self.state.frame_shift)
        if features is None:
            self.heatmap.set_data(None)
            self.heatmap.set_title("features: none loaded")
            return
        data = features.data  # (T, d)
        self.heatmap.set_data(data, cmap=self.state.colormap)
        known = "" if features.frame_shift else " (assumed: the file does not say)"
        self.heatmap.set_title(
            f"{data.shape[0]} frames (below) x {data.shape[1]} values; seconds above, at "
            f"{self.state.frame_shift * 1000:g} ms per frame{known}")
        self.cursors.set_bounds(data.shape[0])
        self.cursors.move(self.state.timestep)

    def _settings_changed(self) -> None:
        if self.seconds_axis.frame_shift != self.state.frame_shift or \
                self.heatmap.bar.colorMap().name != self.state.colormap:
            self.refresh()
