"""What happens when the user opens a file or changes a run setting: which engine call runs next.

The controller owns the :class:`~lstm_inspector.gui.workers.Worker` and writes results into the
:class:`~lstm_inspector.gui.state.InspectorState`; it never touches a widget. Rules:

* a new model or feature file drops the old traces and, when both are present, runs everything;
* a changed backend or TF32 reruns path B only; a changed precision reruns path A only;
* a changed tolerance only recompares (``compare`` on the traces already there).
"""
from __future__ import annotations

from pathlib import Path

from PyQt5 import QtCore

from . import pipeline
from .state import FeatureInput
from .workers import Worker


class Controller(QtCore.QObject):
    """Runs loading and computing in the background; ``computed`` fires when traces are ready."""

    computed = QtCore.pyqtSignal()
    modelOpened = QtCore.pyqtSignal(str)      # path, for recent files
    featuresOpened = QtCore.pyqtSignal(str)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.worker = Worker(self)
        self.worker.started.connect(lambda _name: state.set_busy(True))
        self.worker.finished.connect(lambda: state.set_busy(False))
        self.worker.failed.connect(state.fail)
        self.auto_compute = True

    # ---- opening -------------------------------------------------------------------------------
    def open_path(self, path) -> str:
        """Open a model or feature file, decided by extension/content; returns which it was."""
        kind = pipeline.classify_path(path)
        if kind == "model":
            self.open_model(path)
        else:
            self.open_features(path)
        return kind

    def open_model(self, path, replace: bool = True) -> None:
        """Read a model file in the background (``replace``: cancel what runs now)."""
        path = str(path)

        def done(model):
            self.state.set_model(model, path)
            self.modelOpened.emit(path)
            self.compute()

        self.worker.submit(f"reading {Path(path).name}",
                           lambda progress: pipeline.load_model_file(path, progress), done,
                           replace=replace)

    def open_features(self, path, replace: bool = True) -> None:
        """Read a feature file in the background; computes once a model is there too."""
        path = str(path)

        def done(features):
            self.state.set_features(features)
            self.featuresOpened.emit(path)
            self.compute()

        self.worker.submit(f"reading {Path(path).name}",
                           lambda progress: pipeline.load_feature_file(path, progress), done,
                           replace=replace)

    def set_inputs(self, model=None, features=None, model_path="", features_source="",
                   compute=True) -> None:
        """Use a model / feature array made in code (the built-in demo, tests)."""
        if model is not None:
            self.state.set_model(model, model_path)
        if features is not None:
            self.state.set_features(FeatureInput.from_loaded(features, features_source))
        if compute:
            self.compute()

    # ---- computing -----------------------------------------------------------------------------
    def compute(self, rerun_a: bool = True, rerun_b: bool = True) -> bool:
        """Run (what must rerun of) both paths and compare; False when inputs are missing."""
        s = self.state
        if s.model is None or s.features is None or not self.auto_compute:
            return False
        model, features, x = s.model, s.features, s.features.data
        keep_a = None if rerun_a else s.trace_a
        keep_b = None if rerun_b else s.trace_b
        previous = s.report if keep_a is not None and keep_b is not None else None
        backend, dtype, tf32, atol, rtol = s.backend, s.dtype, s.tf32, s.atol, s.rtol

        def work(progress):
            pipeline.check_inputs(model, features)
            return pipeline.compute(model, x, backend=backend, dtype=dtype, tf32=tf32, atol=atol,
                                    rtol=rtol, progress=progress, trace_a=keep_a, trace_b=keep_b,
                                    previous_report=previous)

        def done(results):
            if s.model is model and s.features is not None and s.features.data is x:
                s.set_results(results.trace_a, results.trace_b, results.report)
                self.computed.emit()

        what = "comparing" if (keep_a is not None and keep_b is not None) else f"running {backend}"
        self.worker.submit(what, work, done)
        return True

    def set_backend(self, backend: str) -> None:
        if backend != self.state.backend:
            self.state.set_run_settings(backend=backend)
            self.compute(rerun_a=self.state.trace_a is None)

    def set_tf32(self, tf32) -> None:
        if tf32 != self.state.tf32:
            self.state.set_run_settings(tf32=tf32)
            self.compute(rerun_a=self.state.trace_a is None)

    def set_dtype(self, dtype: str) -> None:
        if dtype != self.state.dtype:
            self.state.set_run_settings(dtype=dtype)
            self.compute(rerun_b=self.state.trace_b is None)

    def set_tolerance(self, atol, rtol) -> None:
        if (atol, rtol) != (self.state.atol, self.state.rtol):
            self.state.set_run_settings(atol=atol, rtol=rtol)
            have = self.state.trace_a is not None and self.state.trace_b is not None
            self.compute(rerun_a=not have, rerun_b=not have)

    def cancel(self) -> None:
        self.worker.cancel()

    def wait(self, msecs: int = -1) -> bool:
        return self.worker.wait(msecs)
