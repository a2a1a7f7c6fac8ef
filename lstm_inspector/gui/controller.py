"""What happens when the user opens a file or changes a run setting: which engine call runs next.

The controller owns the :class:`~lstm_inspector.gui.workers.Worker` and writes results into the
:class:`~lstm_inspector.gui.state.InspectorState`; it never touches a widget. Rules:

* a new model or feature file drops every trace and, when both are present, runs A and B;
* choosing another path as A or B runs only that path, unless its trace is still cached (a
  path's trace is kept while the model, input and what it depends on (``paths.registry.
  settings_key``: the reference's precision, the hardware's TF32) are unchanged);
* a changed tolerance only recompares (``compare`` on the traces already there).
"""
from __future__ import annotations

from pathlib import Path

from PyQt5 import QtCore

from . import pipeline
from ..paths.registry import REFERENCE, PathSettings, settings_key
from .state import FeatureInput
from .workers import Worker


MAX_CACHED_TRACES = 4  # A, B and the last two others: switching back costs no rerun


class Controller(QtCore.QObject):
    """Runs loading and computing in the background; results go to the state."""

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
        # settings_key -> trace, for the current model and input (cleared when either changes)
        self._traces: dict = {}
        self._inputs = None

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

        options = dict(self.state.model_options or {})
        self.worker.submit(f"reading {Path(path).name}",
                           lambda progress: pipeline.load_model_file(path, progress, **options),
                           done, replace=replace)

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
    def cached_trace(self, key: str):
        """Path ``key``'s trace for the current model, input and settings, or None."""
        s = self.state
        if s.features is None or not self._same_inputs(s.model, s.features.data):
            return None
        return self._traces.get(settings_key(key, PathSettings(dtype=s.dtype, tf32=s.tf32, stepped=s.stepped)))

    def _same_inputs(self, model, x) -> bool:
        return self._inputs is not None and self._inputs[0] is model and self._inputs[1] is x

    def _keep(self, key: str, trace, dtype, tf32, stepped=False) -> None:
        self._traces.pop(settings_key(key, PathSettings(dtype=dtype, tf32=tf32, stepped=stepped)), None)
        self._traces[settings_key(key, PathSettings(dtype=dtype, tf32=tf32, stepped=stepped))] = trace  # newest last
        while len(self._traces) > MAX_CACHED_TRACES:
            self._traces.pop(next(iter(self._traces)))

    def compute(self, rerun_a: bool = False, rerun_b: bool = False) -> bool:
        """Run path A and path B where no trace of them is cached (``rerun_*``: run anyway),
        then compare; False when inputs are missing."""
        s = self.state
        if s.model is None or s.features is None or not self.auto_compute:
            return False
        model, features, x = s.model, s.features, s.features.data
        if not self._same_inputs(model, x):
            self._traces, self._inputs = {}, (model, x)
        path_a, path_b, dtype, tf32, atol, rtol = (s.path_a, s.path_b, s.dtype, s.tf32, s.atol,
                                                   s.rtol)
        stepped = s.stepped
        keep_a = None if rerun_a else self.cached_trace(path_a)
        keep_b = None if rerun_b else self.cached_trace(path_b)
        if path_a == path_b and keep_a is None:
            keep_b = None  # one run serves both (pipeline.compute)
        previous = s.report if (keep_a is not None and keep_a is s.trace_a
                                and keep_b is not None and keep_b is s.trace_b) else None
        start = s.initial_state

        def work(progress):
            pipeline.check_inputs(model, features)
            return pipeline.compute(model, x, backend=path_b, dtype=dtype, tf32=tf32, atol=atol,
                                    rtol=rtol, progress=progress, trace_a=keep_a, trace_b=keep_b,
                                    previous_report=previous, path_a=path_a,
                                    initial_state=start, stepped=stepped)

        def done(results):
            if s.model is model and s.features is not None and s.features.data is x:
                self._keep(path_a, results.trace_a, dtype, tf32, stepped)
                self._keep(path_b, results.trace_b, dtype, tf32, stepped)
                if (s.path_a, s.path_b) == (path_a, path_b):
                    s.set_results(results.trace_a, results.trace_b, results.report,
                                  results.answer, results.judged)

        running = [key for key, kept in ((path_a, keep_a), (path_b, keep_b)) if kept is None]
        what = f"running {' and '.join(dict.fromkeys(running))}" if running else "comparing"
        self.worker.submit(what, work, done)
        return True

    def diagnosed_path(self) -> str:
        """Which of A and B the detective examines: B, unless B is the reference and A is not,
        or A is the side the verdict found breaking the model's equations (``state.judged``)."""
        s = self.state
        if s.judged is not None and s.report is not None and s.judged is not s.report:
            return "a"
        return "a" if s.path_b == REFERENCE and s.path_a != REFERENCE else "b"

    def diagnose(self) -> bool:
        """Run the detective on path B (or A, see ``diagnosed_path``) in the worker; the result
        goes to ``state.diagnosis``. False when nothing is compared yet."""
        s = self.state
        if s.report is None or s.model is None or s.features is None:
            return False
        from ..paths.diagnosis import diagnose

        which = self.diagnosed_path()
        s_model, s_x, report = s.model, s.features.data, s.report
        trace = s.trace_b if which == "b" else s.trace_a
        # the report's own comparison serves when it is "float32 reference vs this path"
        reuse = which == "b" and s.path_a == REFERENCE and s.dtype == "float32"
        reference = self.cached_trace(REFERENCE) if s.dtype == "float32" else None
        atol, rtol = report.atol, report.rtol

        def work(progress):
            from ..core.front import run_front

            model, x = run_front(s_model, s_x)  # as pipeline.compute fed the paths
            if reuse:
                return diagnose(model, x, trace, report=report, progress=progress)
            return diagnose(model, x, trace, reference=reference, atol=atol, rtol=rtol,
                            progress=progress)

        def done(diagnosis):
            if s.trace_a is not None and trace in (s.trace_a, s.trace_b):
                s.set_diagnosis(diagnosis)

        self.worker.submit(f"diagnosing path {which.upper()}", work, done)
        return True

    def set_paths(self, a: str | None = None, b: str | None = None) -> None:
        """Choose path A and/or B (keys of ``state.paths``) and run what is not cached."""
        if self.state.set_paths(a=a, b=b):
            self.compute()

    def set_backend(self, backend: str) -> None:
        """Path B (the Run menu's "Path B" and ``--backend``)."""
        self.set_paths(b=backend)

    def swap_paths(self) -> None:
        """B becomes A and A becomes B (both traces are cached: only a recompare)."""
        self.set_paths(a=self.state.path_b, b=self.state.path_a)

    def set_tf32(self, tf32) -> None:
        if tf32 != self.state.tf32:
            self.state.set_run_settings(tf32=tf32)
            self.compute()

    def set_stepped(self, stepped: bool) -> None:
        """Hardware paths: the stepped road (c measured at every step) or the one-call road."""
        if bool(stepped) != self.state.stepped:
            self.state.set_run_settings(stepped=bool(stepped))
            self.compute()

    def set_dtype(self, dtype: str) -> None:
        if dtype != self.state.dtype:
            self.state.set_run_settings(dtype=dtype)
            self.compute()

    def set_tolerance(self, atol, rtol) -> None:
        if (atol, rtol) != (self.state.atol, self.state.rtol):
            self.state.set_run_settings(atol=atol, rtol=rtol)
            self.compute()

    def cancel(self) -> None:
        self.worker.cancel()

    def wait(self, msecs: int = -1) -> bool:
        return self.worker.wait(msecs)
