"""Run > Streaming check...: path B run in chunks of N frames against its one-call run.

The check itself is ``paths.streaming.stream_check`` (the CLI's ``compare --chunk N``); this
asks for N, runs it on the window's model and features with path B when path B can take a state
(NumPy, torch-cpu, an ONNX or TFLite file; otherwise the NumPy reference) and shows the report: per chunk
boundary the difference, the first step where the two runs part and the verdict.
"""
from __future__ import annotations

import html

from PyQt5 import QtCore, QtWidgets

from ..errors import InspectorError
from . import dialogs

DEFAULT_CHUNK = 16


def streaming_path(path_b: str) -> str:
    """The path the check runs: path B where it takes a carried state, else the reference."""
    from ..paths.registry import streaming_path as _streaming

    return _streaming(path_b)


def run_streaming_check(window, chunk: int | None = None, bug: str | None = None):
    """Ask for N (unless given), run the check, show its report; returns the dialog (or None)."""
    from ..paths.streaming import stream_check

    s = window.state
    if s.model is None or s.features is None:
        dialogs.error_box(window, "Open a model and features first.")
        return None
    if chunk is None:
        chunk, ok = QtWidgets.QInputDialog.getInt(
            window, "Streaming check", "Frames per chunk (h, c carried from chunk to chunk):",
            DEFAULT_CHUNK, 1, max(1, s.features.data.shape[0] - 1))
        if not ok:
            return None
    path = streaming_path(s.path_b)
    QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.WaitCursor)
    try:
        from ..core.front import run_front

        model, x = run_front(s.model, s.features.data)  # the LSTM's input (core.front)
        report = stream_check(model, x, path, chunk, bug=bug, atol=s.atol, rtol=s.rtol)
    except InspectorError as exc:
        dialogs.error_box(window, str(exc))
        return None
    finally:
        QtWidgets.QApplication.restoreOverrideCursor()
    colour = "#1a7f37" if report.agree else "#b42318"
    text = (f"<p style='color:{colour}'><b>{html.escape(report.verdict)}</b></p>"
            f"<pre style='font-family: monospace'>"
            f"{html.escape(report.text().rsplit(chr(10) + 'verdict:', 1)[0])}</pre>")
    dialog = dialogs.help_dialog(window, "Streaming check", text)
    dialog.report = report
    return dialog
