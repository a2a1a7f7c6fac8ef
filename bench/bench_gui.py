"""GUI speed, offscreen: a cursor move must redraw every view within one 16 ms frame.

Not a test: run it by hand (about a minute on 2 cores)::

    .venv/bin/python bench/bench_gui.py [--steps 6000] [--units 512] [--layers 2] [--moves 300]

1. Cursor move: a two-layer LSTM (T=6000, H=512) run by the NumPy reference (path A) and by
   NumPy under the 'hard_sigmoid' reading (path B), compared; the window shown at 1400x900; then
   ``state.set_timestep(t)`` + ``QApplication.processEvents()`` for a few hundred random steps.
   Reported: the 95th percentile, as a ratio to the 16 ms frame budget and to a peer measured in
   the same run: the naive "rebuild on every step" approach (``ImageItem.setImage`` of every
   heatmap's array, then the same processEvents).
2. Launch: a fresh process from start to the window shown (TensorFlow still importing in the
   background), against a 1.5 s target; the peer is the same launch importing TensorFlow first.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

FRAME_MS = 16.0

LAUNCH_CHILD = r"""
import os, sys, time, tempfile, threading
t_start = float(sys.argv[1])
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if sys.argv[2] == "tf-first":
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow, tf_keras
from PyQt5 import QtCore
QtCore.QSettings.setPath(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope, tempfile.mkdtemp())
from lstm_inspector.gui.app import ensure_app, make_window
app = ensure_app()
window = make_window(backend="auto", preload=(sys.argv[2] == "background"))
painted = []

class FirstPaint(QtCore.QObject):
    def eventFilter(self, obj, event):
        if event.type() == QtCore.QEvent.Paint and not painted:
            painted.append(time.time())
        return False

watch = FirstPaint()
window.installEventFilter(watch)
window.show()
while not painted or not window.windowHandle().isExposed():
    app.processEvents()
shown = time.time()
app.processEvents()  # the queued start-up work (TF import thread, demo run) begins here
responsive = time.time()
loading = any(t.name == "preload-tensorflow" and t.is_alive() for t in threading.enumerate())
print(f"{shown - t_start:.4f} {int(loading)} {responsive - t_start:.4f}", flush=True)
os._exit(0)
"""


def build_model(layers: int, units: int, input_size: int, seed: int = 0):
    from lstm_inspector.core.model import Model, RecurrentLayer
    from lstm_inspector.core.weights import READINGS, StoredLSTM

    rng = np.random.default_rng(seed)
    recurrent, width = [], input_size
    for k in range(layers):
        stored = StoredLSTM(
            kernel=rng.normal(0, 1 / np.sqrt(width), (width, 4 * units)).astype(np.float32),
            recurrent_kernel=rng.normal(0, 1 / np.sqrt(units), (units, 4 * units)).astype(np.float32),
            bias=rng.normal(0, 0.1, 8 * units).astype(np.float32),
            true_reading=READINGS["cudnn"])
        recurrent.append(RecurrentLayer(name=f"cu_dnnlstm_{k}", kind="CuDNNLSTM", input_size=width,
                                        units=units, directions={"forward": stored}))
        width = units
    return Model(layers=tuple(recurrent), source="bench", file_format="in code")


def percentile_ms(samples, q=95):
    return float(np.percentile(np.asarray(samples) * 1000, q))


def bench_cursor(steps, units, layers, moves, input_size=40):
    from PyQt5 import QtCore

    from lstm_inspector import run_backend
    from lstm_inspector.core.compare import compare
    from lstm_inspector.core.reference import run_reference
    from lstm_inspector.gui.app import ensure_app
    from lstm_inspector.gui.main_window import MainWindow
    from lstm_inspector.gui.state import FeatureInput
    import tempfile

    QtCore.QSettings.setPath(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope,
                             tempfile.mkdtemp())
    app = ensure_app()
    rng = np.random.default_rng(1)
    model = build_model(layers, units, input_size)
    x = rng.normal(size=(steps, input_size)).astype(np.float32)
    t0 = time.perf_counter()
    trace_a = run_reference(model, x)
    trace_b = run_backend(model, x, backend="numpy:hard_sigmoid")
    report = compare(trace_a, trace_b)  # no model: the teacher-forced analysis is not the GUI's cost
    engine_s = time.perf_counter() - t0

    window = MainWindow()
    window.controller.auto_compute = False
    window.resize(1400, 900)
    window.show()
    state = window.state
    state.set_model(model, "bench")
    state.set_features(FeatureInput(x, None, "bench"))
    t0 = time.perf_counter()
    state.set_results(trace_a, trace_b, report)
    for _ in range(3):
        app.processEvents()
    set_once_s = time.perf_counter() - t0

    painted = [0]

    class PaintCounter(QtCore.QObject):
        def eventFilter(self, obj, event):
            if event.type() == QtCore.QEvent.Paint:
                painted[0] += 1
            return False

    counter = PaintCounter()
    window.gates.view.viewport().installEventFilter(counter)
    order = rng.integers(0, steps, size=moves)
    for t in order[:10]:  # warm-up
        state.set_timestep(int(t))
        app.processEvents()
    painted[0] = 0
    times = []
    for t in order:
        t0 = time.perf_counter()
        state.set_timestep(int(t))
        app.processEvents()
        times.append(time.perf_counter() - t0)
    ours = percentile_ms(times)
    gates_painted = painted[0]

    # peer: rebuild every heatmap on every step (what "views compute on a cursor move" costs)
    heatmaps = list(window.gates.heatmaps.values()) + list(window.states.heatmaps.values()) \
        + [window.features.heatmap]
    arrays = [hm.image.image for hm in heatmaps]
    peer_times = []
    for t in order[: max(20, moves // 10)]:
        t0 = time.perf_counter()
        for hm, arr in zip(heatmaps, arrays, strict=True):
            hm.image.setImage(arr, autoLevels=False)
        for line in window.gates.cursors.lines:
            line.setValue(int(t))
        app.processEvents()
        peer_times.append(time.perf_counter() - t0)
    peer = percentile_ms(peer_times)
    one_image = []
    for _ in order[:20]:
        t0 = time.perf_counter()
        heatmaps[0].image.setImage(arrays[0], autoLevels=False)
        app.processEvents()
        one_image.append(time.perf_counter() - t0)
    window.close()
    return {"engine_s": engine_s, "set_once_s": set_once_s, "p95_ms": ours,
            "median_ms": percentile_ms(times, 50), "max_ms": float(np.max(times) * 1000),
            "peer_p95_ms": peer, "one_setimage_p95_ms": percentile_ms(one_image),
            "gates_paints": gates_painted, "moves": len(times)}


def bench_launch(repeats=3):
    results = {}
    for mode in ("background", "tf-first"):
        runs = []
        for _ in range(repeats if mode == "background" else 1):
            start = time.time()
            out = subprocess.run([sys.executable, "-c", LAUNCH_CHILD, repr(start), mode],
                                 capture_output=True, text=True, cwd=str(REPO), timeout=300)
            fields = out.stdout.strip().split()
            if out.returncode != 0 or len(fields) != 3:
                raise RuntimeError(f"launch child failed: {out.stderr[-2000:]}")
            runs.append((float(fields[0]), bool(int(fields[1])), float(fields[2])))
        results[mode] = runs
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--moves", type=int, default=300)
    parser.add_argument("--skip-launch", action="store_true")
    args = parser.parse_args(argv)

    if not args.skip_launch:
        launch = bench_launch()
        shown = sorted(s for s, _, _ in launch["background"])
        median = shown[len(shown) // 2]
        still = all(loading for _, loading, _ in launch["background"])
        responsive = sorted(r for _, _, r in launch["background"])[len(shown) // 2]
        tf_first = launch["tf-first"][0][0]
        print(f"launch to window shown and painted (median of {len(shown)}): {median:.2f} s "
              f"= {median / 1.5:.2f} x the 1.5 s target; TensorFlow importing in the background "
              f"after that: {still}; "
              f"event loop free again at {responsive:.2f} s (start-up work queued after the "
              f"first paint); peer importing TensorFlow first: {tf_first:.2f} s "
              f"(ours is {median / tf_first:.2f} x it)")
    r = bench_cursor(args.steps, args.units, args.layers, args.moves)
    print(f"engine (not GUI): both paths + compare for T={args.steps}, H={args.units}, "
          f"{args.layers} layers: {r['engine_s']:.1f} s; images set once: {r['set_once_s']:.2f} s")
    print(f"cursor move, every view (set_timestep + processEvents), {r['moves']} random steps: "
          f"p95 {r['p95_ms']:.1f} ms = {r['p95_ms'] / FRAME_MS:.2f} x the {FRAME_MS:g} ms frame "
          f"(median {r['median_ms']:.1f} ms, max {r['max_ms']:.1f} ms; gates view painted "
          f"{r['gates_paints']} times)")
    print(f"peer, rebuild every heatmap on every step (setImage x7): p95 {r['peer_p95_ms']:.1f} ms "
          f"= {r['peer_p95_ms'] / FRAME_MS:.2f} x frame; ours is {r['p95_ms'] / r['peer_p95_ms']:.3f} x "
          f"the peer; one bare ImageItem.setImage: p95 {r['one_setimage_p95_ms']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
