"""Start the inspector: ``run_gui(...)`` (what ``lstm-inspector [MODEL FEATURES]`` calls).

Without paths it opens the bundled demo (``resources/demo.json``: ``{"model": file, "features":
file, "backend": ..., "reading": ...}``); where that file is missing it builds a small
deterministic model in code and says so in the title.

``screenshot=PNG`` renders offscreen at ``size`` once the computation is done, writes the PNG and
returns 0; a bad input returns 2 with one line on stderr, an internal error 3 (as the CLI's
commands do; ``LSTM_INSPECTOR_DEBUG=1`` adds its traceback).

Before the QApplication exists, ``display.prepare_qt_environment`` turns Qt's xcb OpenGL
integration off (Mesa's LLVM would crash TensorFlow's import) and ``display.display_problem``
refuses, in one line and exit 2, where Qt could not open a window and would abort.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import InspectorError

SCREENSHOT_TIMEOUT_S = 600
EXIT_WAIT_MS = 3000  # at exit, how long the cancelled background job may take to stop


def demo_model_in_code(seed: int = 7, input_size: int = 3, units: int = 8):
    """A one-layer CuDNNLSTM-layout model with fixed-seed random weights (no file needed)."""
    from ..core.model import Model, RecurrentLayer
    from ..core.weights import READINGS, StoredLSTM

    rng = np.random.default_rng(seed)
    H = units
    stored = StoredLSTM(
        kernel=rng.normal(0, 0.6, (input_size, 4 * H)).astype(np.float32),
        recurrent_kernel=rng.normal(0, 0.5, (H, 4 * H)).astype(np.float32),
        bias=rng.normal(0, 0.2, 8 * H).astype(np.float32),
        true_reading=READINGS["cudnn"])
    layer = RecurrentLayer(name="cu_dnnlstm", kind="CuDNNLSTM", input_size=input_size, units=H,
                           directions={"forward": stored})
    return Model(layers=(layer,), source="built-in demo", file_format="in code")


def demo_features_in_code(steps: int = 120, width: int = 3, seed: int = 7) -> np.ndarray:
    """Smooth deterministic features (T, width): sines of different periods plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[:, None]
    periods = np.linspace(17, 53, width)[None, :]
    x = np.sin(2 * np.pi * t / periods) + 0.1 * rng.normal(size=(steps, width))
    return x.astype(np.float32)


def find_demo():
    """``(model path, features path, options dict)`` from resources/demo.json, or None."""
    from .. import resources_path

    spec_path = resources_path() / "demo.json"
    if not spec_path.is_file():
        return None
    spec = json.loads(spec_path.read_text())
    folder = spec_path.parent
    return folder / spec["model"], folder / spec["features"], spec


def ensure_app(offscreen: bool = False):
    """The QApplication (created once, with the app's organisation/name for QSettings).

    Raises :class:`InspectorError` (one line: what to do) where Qt could not open a window.
    """
    from PyQt5 import QtCore, QtWidgets

    from .display import GL_VARIABLE, display_problem, prepare_qt_environment, runtime_dir

    prepare_qt_environment()
    runtime_dir()  # XDG_RUNTIME_DIR, which Qt otherwise complains about at every launch
    if offscreen:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        # a headless render keeps stderr for its own one-line errors: drop Qt's chatter
        # ("XDG_RUNTIME_DIR not set", "propagateSizeHints"), keep Qt's critical messages
        QtCore.qInstallMessageHandler(_quiet_qt_messages)
    import pyqtgraph as pg

    from .main_window import APPLICATION, ORGANIZATION

    app = QtWidgets.QApplication.instance()
    if app is None:
        problem = display_problem()
        if problem:
            raise InspectorError(problem)
        if os.environ.get(GL_VARIABLE) != "none":  # without GL Qt would warn it cannot share
            QtCore.QCoreApplication.setAttribute(QtCore.Qt.AA_ShareOpenGLContexts)
        app = QtWidgets.QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    pg.setConfigOptions(antialias=False)
    return app


def _quiet_qt_messages(kind, context, message):
    from PyQt5 import QtCore

    if kind in (QtCore.QtCriticalMsg, QtCore.QtFatalMsg):
        sys.stderr.write(f"Qt: {message}\n")


def make_window(model_path=None, features_path=None, backend="auto", reading=None, atol=None,
                rtol=None, dtype="float32", tf32=None, preload=True, impl=None, outputs=None,
                model_options=None, initial_state=None, chunk=None, stepped=False, path_a=None):
    """Build the window and start loading/computing (returns at once; work runs in background).

    ``impl`` (``FILE.py[:NAME]``) or ``outputs`` (a file): the user's implementation or its
    outputs as path B (asked for on the command line, so the function runs).
    ``model_options``: load_model's options (``kind``, ``activation``, ``merge_mode``,
    ``go_backwards``...); ``initial_state``: an initial-state ``.npz`` path; ``chunk``: once
    both paths have run, the streaming check in chunks of N frames (:func:`stream_when_ready`)."""
    from . import pipeline
    from .main_window import MainWindow
    from .workers import preload_libraries

    backend = pipeline.backend_for(backend, reading)
    if impl or outputs:
        backend = your_path("impl", impl) if impl else your_path("outputs", outputs)
    if dtype not in ("float32", "float64", "mixed_float16"):
        raise InspectorError(f"precision '{dtype}' is not float32, float64 or mixed_float16")
    if model_options:
        from ..io.overrides import check_overrides

        check_overrides({k: v for k, v in model_options.items() if k != "prefix"})  # torch files
    if chunk is not None and chunk < 1:
        raise InspectorError(f"--chunk must be at least 1 frame (got {chunk})")
    for path in (model_path, features_path, initial_state):
        if path is not None and not Path(path).exists():
            raise InspectorError(f"{path} does not exist")
    note = ""
    if model_path is None and features_path is None:
        demo = find_demo()
        if demo is not None:
            model_path, features_path, spec = demo
            if reading is None and backend == "auto":
                backend = pipeline.backend_for(spec.get("backend", "auto"), spec.get("reading"))
            note = "demo"
        else:
            note = "built-in demo model: resources/demo.json not found"
    window = MainWindow()
    window.state.set_run_settings(backend=backend, atol=atol, rtol=rtol, dtype=dtype, tf32=tf32,
                                  stepped=bool(stepped),
                                  model_options=dict(model_options or {}),
                                  initial_state=None if initial_state is None
                                  else str(initial_state))
    if path_a is not None:
        window.state.set_paths(a=pipeline.backend_for(path_a))
    window._check_run_actions()
    window.set_title_note(note)
    if chunk is not None:
        stream_when_ready(window, chunk)
    controller = window.controller
    # everything heavy waits until the window is on screen (the interpreter is shared)
    if preload:
        window.after_shown(lambda: preload_libraries(backend))
    if model_path is None and features_path is None:
        window.after_shown(lambda: controller.set_inputs(
            demo_model_in_code(), demo_features_in_code(), model_path="built-in demo",
            features_source="built-in demo"))
    else:
        if model_path is not None:
            window.after_shown(lambda: controller.open_model(model_path))
        if features_path is not None:
            # queued after the model: the worker runs one job at a time, in order
            window.after_shown(lambda: controller.open_features(features_path, replace=False))
    return window


def stream_when_ready(window, chunk: int) -> None:
    """Once the first comparison is done, run Run > Streaming check in chunks of ``chunk``
    frames (path B carried chunk to chunk against its one-call run) and show its report; the
    dialog is kept as ``window.streaming_dialog``."""
    from PyQt5 import QtCore

    from .streaming_dialog import run_streaming_check

    def ready():
        if window.state.report is None:
            return
        window.state.tracesReady.disconnect(ready)
        QtCore.QTimer.singleShot(0, lambda: setattr(
            window, "streaming_dialog", run_streaming_check(window, chunk=chunk)))

    window.state.tracesReady.connect(ready)


def your_path(kind: str, spec: str) -> str:
    """The path key of ``--impl FILE.py[:NAME]`` / ``--outputs FILE``, the file made absolute
    (one sentence when it does not exist)."""
    from ..paths.registry import resolved, spelling

    return resolved(spelling(kind, spec))


def run_gui(model_path=None, features_path=None, backend="auto", reading=None, screenshot=None,
            size=(1400, 900), atol=None, rtol=None, dtype="float32", tf32=None, impl=None,
            outputs=None, model_options=None, initial_state=None, chunk=None,
            stepped=False, path_a=None) -> int:
    """Open the inspector; returns the exit code.

    Parameters
    ----------
    model_path, features_path : files to open (either may be None; both None: the demo).
    backend, path_a : paths B and A, any spelling of ``paths.registry`` ("auto", "torch-cpu",
        "numpy64", "numpy:<reading>", "impl:FILE.py", "onnx:FILE"...; A None: the reference).
    reading : a name from ``core.weights.READINGS``: path B is NumPy under that reading
        (overrides ``backend``).
    screenshot : PNG path: render offscreen at ``size`` when the computation is done, write it,
        exit (0; 2 on bad input with one line on stderr; 3 on an internal error, its traceback
        too when ``LSTM_INSPECTOR_DEBUG`` is set).
    atol, rtol, dtype, tf32 : tolerance, precision of path A, TF32 for path B (None: default).
    stepped : backends take the stepped road (one call per step) instead of the one-call road.
    impl, outputs : ``FILE.py[:NAME]`` / a file: your implementation (run in a separate
        process) or your port's outputs as path B.
    model_options, initial_state, chunk : as :func:`make_window` (``chunk``: the streaming
        check in chunks of N frames once both paths have run).
    """
    if screenshot is not None and (model_path is None) != (features_path is None):
        print("lstm-inspector: give both a model file and a feature file, or neither for the demo",
              file=sys.stderr)
        return 2
    try:
        app = ensure_app(offscreen=screenshot is not None)
        window = make_window(model_path, features_path, backend, reading, atol, rtol, dtype, tf32,
                             impl=impl, outputs=outputs, model_options=model_options,
                             initial_state=initial_state, chunk=chunk, stepped=stepped,
                             path_a=path_a)
    except InspectorError as exc:
        print(f"lstm-inspector: {exc}", file=sys.stderr)
        return 2
    guard_exits(app, window)
    if screenshot is None:
        window.show()
        code = int(app.exec_())
        window.close()  # Ctrl+C quits without closing: settings saved, work cancelled all the same
        window.controller.wait(EXIT_WAIT_MS)
        return code
    return _screenshot(app, window, screenshot, size)


def end_process(code: int):
    """Exit with ``code`` now, skipping the native libraries' teardown (the command's last step).

    Python's finalisation with work still in flight crashed: HDF5's exit handler calls back into
    the finalised interpreter through h5py when a file was being read (SIGSEGV, 139), and
    TensorFlow may still be importing in its thread. The window has saved its settings on
    closing; stdout and stderr are flushed here.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(code)


def guard_exits(app, window) -> None:
    """No abort on the way out: an exception that escapes a Qt slot (PyQt5 would call qFatal:
    SIGABRT, exit 134) becomes the window's error dialog and the app keeps running; Ctrl+C in
    the terminal quits with 130 (Python sees SIGINT only when it runs: a timer lets it)."""
    import signal

    from PyQt5 import QtCore

    from .workers import describe_error

    def report(kind, value, traceback):
        if issubclass(kind, KeyboardInterrupt):
            app.exit(130)
            return
        message, details = describe_error(value)
        try:
            window.state.fail(message, details)
        except Exception:  # noqa: BLE001 - the window is gone: the terminal is all that is left
            sys.__excepthook__(kind, value, traceback)

    sys.excepthook = report
    try:
        signal.signal(signal.SIGINT, lambda *_: app.exit(130))
    except ValueError:  # not the main thread (embedded use): leave SIGINT alone
        return
    timer = QtCore.QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def _screenshot(app, window, path, size) -> int:
    from PyQt5 import QtCore

    window.resize(*size)
    window.show()
    failures = []
    window.state.failed.connect(failures.append)
    deadline = time.monotonic() + SCREENSHOT_TIMEOUT_S
    computing = True
    while computing and time.monotonic() < deadline:
        app.processEvents(QtCore.QEventLoop.AllEvents, 50)
        computing = (window.controller.worker.busy or
                     (window.state.report is None and not failures))
        for box in window.error_boxes:
            box.close()
        if failures:
            break
        time.sleep(0.005)
    if failures:
        message = failures[0]
        internal = message.lower().startswith("internal error")
        print(f"lstm-inspector: {message}", file=sys.stderr)
        if internal and os.environ.get("LSTM_INSPECTOR_DEBUG"):
            print(window.state.last_error_details.rstrip(), file=sys.stderr)
        window.close()
        return 3 if internal else 2
    if computing:
        print(f"lstm-inspector: gave up waiting for the computation after {SCREENSHOT_TIMEOUT_S} s",
              file=sys.stderr)
        return 1
    window.state.flush()
    for _ in range(5):
        app.processEvents()
    from .export import view_png

    try:
        view_png(window, path)
    except OSError as exc:
        print(f"lstm-inspector: could not write {path}: {exc}", file=sys.stderr)
        return 2
    window.close()
    return 0
