"""The input features as a heatmap (time x coefficient), time in frames below and seconds above.

When the model has layers before its first LSTM that ran on the features (``core.front``), the
view shows what the LSTM sees, their output, titled "LSTM input (after the front)"."""
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
        self.showing_front = False  # True while the view shows the front's output
        self.cursors = CursorGroup(state)
        self.cursors.add(self.heatmap.plot)
        state.featuresLoaded.connect(self.refresh)
        state.tracesReady.connect(self._traces_ready)
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
            self.showing_front = False
            self.heatmap.set_data(None)
            self.heatmap.set_title("features: none loaded")
            return
        data, front = features.data, self.front_output()  # (T, d)
        self.showing_front = front is not None
        if front is not None:  # what the LSTM sees: the front's output (core.front)
            data = front
        self.heatmap.set_data(data, cmap=self.state.colormap)
        known = "" if features.frame_shift else " (assumed: the file does not say)"
        what = (f"LSTM input (after the front: {features.data.shape[0]} x "
                f"{features.data.shape[1]} features in): " if front is not None else "")
        self.heatmap.set_title(
            f"{what}{data.shape[0]} frames (below) x {data.shape[1]} values; seconds above, at "
            f"{self.state.frame_shift * 1000:g} ms per frame{known}")
        self.cursors.set_bounds(data.shape[0])
        self.cursors.move(self.state.timestep)

    def front_output(self):
        """The first LSTM's input when the layers before it ran on the features (the traces'
        ``x``), else None (the features are what the LSTM reads)."""
        report, trace = getattr(self.state, "report", None), self.state.trace_a
        model = getattr(report, "model", None)
        front = getattr(model, "front", None)
        if trace is None or front is None or not front.ran:
            return None
        return trace.x

    def _traces_ready(self) -> None:
        """New traces: redraw only when the view switches to or from the front's output."""
        if self.front_output() is not None or self.showing_front:
            self.refresh()

    def _settings_changed(self) -> None:
        if self.seconds_axis.frame_shift != self.state.frame_shift or \
                self.heatmap.bar.colorMap().name != self.state.colormap:
            self.refresh()
