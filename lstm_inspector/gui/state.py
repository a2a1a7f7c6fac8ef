"""The one object every view listens to: what is loaded, what ran, what is selected, where the cursor is.

Views never talk to each other (napari's habit): a view changes the state, the state emits a
signal, every view redraws what the signal concerns. The state holds data only; it computes
nothing about the LSTM (the engine did: :class:`~lstm_inspector.core.trace.Trace` and the
comparison ``Report``).

Signals
-------
modelLoaded, featuresLoaded
    a new model / feature array is in place (old traces are dropped).
pathsChanged
    the list of paths (``paths``) or the choice of A and B (``path_a``, ``path_b``) changed.
tracesReady
    ``trace_a``, ``trace_b`` and ``report`` are set (or cleared): views set their images once here.
diagnosisReady
    ``diagnosis`` (the detective's verdict on the path that is not the reference) is set or
    cleared; new traces clear it.
timestepChanged(int)
    the cursor moved. Bursts are coalesced by a zero-interval single-shot timer, so a held arrow
    key or a dragged cursor draws only the latest step; ``timestep`` itself is updated at once.
selectionChanged
    layer / direction, selected units or the displayed source changed.
settingsChanged
    tolerance, backend, TF32, precision, colour map or frame shift changed.
failed(str)
    long work failed; the one-sentence message (details in ``last_error_details``).
busy(bool)
    long work started / ended.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PyQt5 import QtCore

from ..paths.registry import REFERENCE, PathChoice, builtin_paths, choice_for

SOURCES = ("a", "b", "diff")  # which path a heatmap shows: A, B, |A - B|
DEFAULT_FRAME_SHIFT = 0.010  # seconds, when the feature file does not say


@dataclass
class FeatureInput:
    """The feature matrix shown and fed to the model.

    data : (T, d) float32; frame_shift : seconds per frame from the file, or None; source : path
    or a description ("built-in demo").
    """

    data: np.ndarray
    frame_shift: float | None = None
    source: str = ""
    notes: tuple = ()
    sample_rate: int | None = None  # a wav's (the features computed from it), else None

    @classmethod
    def from_loaded(cls, features, source: str = "") -> "FeatureInput":
        """Wrap what ``io.features.load_features`` returns (``.data``, ``.frame_shift``) or an array."""
        if isinstance(features, FeatureInput):
            return features
        if hasattr(features, "data"):
            rate = (getattr(features, "meta", None) or {}).get("sample_rate")
            return cls(np.asarray(features.data), getattr(features, "frame_shift", None), source,
                       tuple(getattr(features, "notes", ()) or ()), rate)
        return cls(np.asarray(features), None, source)


class InspectorState(QtCore.QObject):
    """Model, features, the paths (a list) and which two are A and B, their traces and
    comparison, selection, cursor and run settings."""

    modelLoaded = QtCore.pyqtSignal()
    featuresLoaded = QtCore.pyqtSignal()
    pathsChanged = QtCore.pyqtSignal()
    tracesReady = QtCore.pyqtSignal()
    diagnosisReady = QtCore.pyqtSignal()
    timestepChanged = QtCore.pyqtSignal(int)
    selectionChanged = QtCore.pyqtSignal()
    settingsChanged = QtCore.pyqtSignal()
    failed = QtCore.pyqtSignal(str)
    busy = QtCore.pyqtSignal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        # what is loaded
        self.model = None
        self.model_path = ""
        self.features: FeatureInput | None = None
        # the paths, and which two are compared (keys of ``paths``)
        self.paths: list[PathChoice] = builtin_paths()
        self.path_a, self.path_b = REFERENCE, "auto"
        # what ran: the traces of path A and path B, and their comparison
        self.trace_a = None
        self.trace_b = None
        self.report = None
        self.answer = None  # core.head.Answer of trace_a and trace_b, or None
        # the report whose verdict is said: ``report``, or (A not the reference) the comparison
        # read from B's side when A is the one that breaks the model's equations
        self.judged = None
        self.diagnosis = None  # paths.diagnosis.Diagnosis of trace_b (or trace_a), on request
        # selection
        self.layer = 0
        self.direction = "forward"
        self.units: list[int] = [0]
        self.source = "a"
        self.timestep = 0
        # run settings (None: the engine's defaults)
        self.atol: float | None = None
        self.rtol: float | None = None
        self.tf32: bool | None = None
        self.stepped = False            # hardware paths: the stepped road instead of one call
        self.dtype = "float32"
        self.model_options: dict = {}   # load_model's options (weights-only files: --kind...)
        self.initial_state = None       # an initial-state .npz path (io.initial_state), or None
        # display settings
        self.colormap = "viridis"
        self.default_frame_shift = DEFAULT_FRAME_SHIFT
        self.is_busy = False
        self.last_error = ""
        self.last_error_details = ""
        self._emitted_timestep = None
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._emit_timestep)

    # ---- loading ------------------------------------------------------------------------------
    def set_model(self, model, path: str = "") -> None:
        """A new model: traces are dropped, the selection goes to its first layer."""
        self.model, self.model_path = model, str(path)
        self._drop_results()
        self.layer, self.direction, self.units = 0, self._first_direction(0), [0]
        self.modelLoaded.emit()
        self.selectionChanged.emit()

    def set_features(self, features: FeatureInput) -> None:
        self.features = features
        self._drop_results()
        self.featuresLoaded.emit()

    def set_results(self, trace_a, trace_b, report, answer=None, judged=None) -> None:
        """What the engine produced (``answer``: ``core.head.Answer``, the model's output on
        both paths, or None; ``judged``: the report whose verdict is said, default ``report``);
        keeps the selection where it is still valid."""
        self.trace_a, self.trace_b, self.report, self.answer = trace_a, trace_b, report, answer
        self.judged = report if judged is None else judged
        self.set_diagnosis(None)
        if trace_a is not None:
            if self.layer >= len(trace_a.layers):
                self.layer = 0
            if self.direction not in trace_a.directions(self.layer):
                self.direction = trace_a.directions(self.layer)[0]
            units = self.units_count
            self.units = [u for u in self.units if u < units] or [0]
        self.tracesReady.emit()
        self._set_timestep_now(min(self.timestep, max(self.steps - 1, 0)))

    def _drop_results(self) -> None:
        had = self.trace_a is not None or self.report is not None
        self.trace_a = self.trace_b = self.report = self.answer = self.judged = None
        self.set_diagnosis(None)
        if had:
            self.tracesReady.emit()

    def set_diagnosis(self, diagnosis) -> None:
        """The detective's result for the current traces (None: none asked for)."""
        if diagnosis is None and self.diagnosis is None:
            return
        self.diagnosis = diagnosis
        self.diagnosisReady.emit()

    def diagnosed_step(self) -> int | None:
        """The step the diagnosis marks in the selected layer/direction, or None."""
        marked = getattr(self.diagnosis, "marked_step", None)
        if marked is None or (marked[0], marked[1]) != (self.layer, self.direction):
            return None
        return int(marked[2])

    def _first_direction(self, layer: int) -> str:
        if self.model is None:
            return "forward"
        chain = self.model.chain
        if layer < len(chain):
            return next(iter(chain[layer].directions), "forward")
        return "forward"

    # ---- what views read ------------------------------------------------------------------------
    @property
    def steps(self) -> int:
        """Number of timesteps shown (trace length, else feature frames, else 0)."""
        if self.trace_a is not None:
            return self.trace_a.steps
        if self.features is not None:
            return int(self.features.data.shape[0])
        return 0

    @property
    def units_count(self) -> int:
        lt = self.layer_trace("a")
        return lt.units if lt is not None else 0

    @property
    def frame_shift(self) -> float:
        """Seconds per frame: the feature file's, else the setting (10 ms default)."""
        if self.features is not None and self.features.frame_shift:
            return float(self.features.frame_shift)
        return float(self.default_frame_shift)

    def layer_trace(self, which: str = "a"):
        """The selected layer/direction's LayerTrace of path ``which`` ("a" or "b"), or None."""
        trace = self.trace_a if which == "a" else self.trace_b
        if trace is None or self.layer >= len(trace.layers):
            return None
        return trace.layers[self.layer].get(self.direction)

    def divergent_steps(self) -> np.ndarray:
        """Steps of the selected layer/direction with any quantity out of tolerance (the report's)."""
        if self.report is None:
            return np.zeros(0, dtype=int)
        return np.asarray(self.report.divergent_steps(self.layer, self.direction), dtype=int)

    # ---- selection ------------------------------------------------------------------------------
    def set_layer(self, layer: int, direction: str) -> None:
        if (layer, direction) == (self.layer, self.direction):
            return
        self.layer, self.direction = int(layer), direction
        units = self.units_count
        if units:
            self.units = [u for u in self.units if u < units] or [0]
        self.selectionChanged.emit()

    def set_units(self, units) -> None:
        units = [int(u) for u in units]
        if units != self.units:
            self.units = units
            self.selectionChanged.emit()

    def toggle_unit(self, unit: int) -> None:
        """Add ``unit`` to the selection, or remove it (one unit always stays selected)."""
        units = list(self.units)
        if unit in units and len(units) > 1:
            units.remove(unit)
        elif unit not in units:
            units.append(int(unit))
        self.set_units(units)

    def set_source(self, source: str) -> None:
        if source not in SOURCES:
            raise ValueError(f"source {source!r} is not one of {SOURCES}")
        if source != self.source:
            self.source = source
            self.selectionChanged.emit()

    # ---- cursor ---------------------------------------------------------------------------------
    def set_timestep(self, t) -> None:
        """Move the cursor to step ``t`` (clamped to the trace); the signal is coalesced."""
        t = int(np.clip(int(t), 0, max(self.steps - 1, 0)))
        if t == self.timestep and not self._timer.isActive() and t == self._emitted_timestep:
            return
        self.timestep = t
        if not self._timer.isActive():
            self._timer.start()

    def _set_timestep_now(self, t: int) -> None:
        self.timestep = int(t)
        self._timer.stop()
        self._emit_timestep()

    def flush(self) -> None:
        """Emit a pending timestepChanged now (tests, screenshots)."""
        if self._timer.isActive():
            self._timer.stop()
            self._emit_timestep()

    def _emit_timestep(self) -> None:
        self._emitted_timestep = self.timestep
        self.timestepChanged.emit(self.timestep)

    def step_by(self, n: int) -> None:
        self.set_timestep(self.timestep + n)

    def next_divergence(self) -> bool:
        """Cursor to the next divergent step after it (this layer/direction); False if none."""
        steps = self.divergent_steps()
        later = steps[steps > self.timestep]
        if later.size:
            self.set_timestep(int(later[0]))
            return True
        return False

    def previous_divergence(self) -> bool:
        steps = self.divergent_steps()
        earlier = steps[steps < self.timestep]
        if earlier.size:
            self.set_timestep(int(earlier[-1]))
            return True
        return False

    # ---- paths ------------------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """Path B's key (the name ``--backend`` and the Run menu use)."""
        return self.path_b

    @backend.setter
    def backend(self, key: str) -> None:
        self.set_paths(b=key)

    def path(self, key: str) -> PathChoice:
        """The :class:`PathChoice` of ``key`` (one of ``paths``)."""
        return choice_for(key, self.paths)

    def add_path(self, choice: PathChoice) -> None:
        """Offer another path (the user's implementation or outputs); a known key is replaced."""
        self.paths = [c for c in self.paths if c.key != choice.key] + [choice]
        self.pathsChanged.emit()

    def set_paths(self, a: str | None = None, b: str | None = None) -> bool:
        """Choose path A and/or path B by key (added to ``paths`` if it is an impl/outputs
        key); True when the choice changed. The controller reruns what it must."""
        a = self.path_a if a is None else a
        b = self.path_b if b is None else b
        for key in (a, b):
            if all(c.key != key for c in self.paths):
                self.paths = self.paths + [choice_for(key, self.paths)]
        if (a, b) == (self.path_a, self.path_b):
            return False
        self.path_a, self.path_b = a, b
        self.pathsChanged.emit()
        return True

    def notes(self) -> list:
        """Every note once: the model's, the features', each path's, the comparison's
        (``core.fidelity.all_notes``, the same list the CLI, JSON and HTML report show)."""
        from ..core.fidelity import all_notes
        from ..io.model_audio import sample_rate_note

        feature_notes = ()
        if self.features is not None:
            rate_note = sample_rate_note(self.model, self.features.source, self.features.sample_rate)
            feature_notes = tuple(self.features.notes) + ((rate_note,) if rate_note else ())
        return all_notes(self.model, feature_notes,
                         (self.trace_a, self.trace_b),
                         self.report.notes if self.report is not None else ())

    def masked_steps(self):
        """(T,) bool, True where path A's mask masked the step (``Trace.mask``), or None."""
        trace = self.trace_a
        return None if trace is None or trace.mask is None else ~np.asarray(trace.mask)

    # ---- settings -------------------------------------------------------------------------------
    def set_run_settings(self, **changes) -> None:
        """Change any of atol, rtol, backend, tf32, stepped, dtype, colormap,
        default_frame_shift, model_options, initial_state."""
        allowed = {"atol", "rtol", "backend", "tf32", "stepped", "dtype", "colormap",
                   "default_frame_shift", "model_options", "initial_state"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        for k, v in changed.items():
            setattr(self, k, v)
        if changed:
            self.settingsChanged.emit()

    # ---- long work ------------------------------------------------------------------------------
    def set_busy(self, busy: bool) -> None:
        self.is_busy = bool(busy)
        self.busy.emit(self.is_busy)

    def fail(self, message: str, details: str = "") -> None:
        self.last_error, self.last_error_details = message, details
        self.failed.emit(message)
