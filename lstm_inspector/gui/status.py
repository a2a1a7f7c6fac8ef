"""The status bar (a mixin of :class:`MainWindow`): the verdict sentence, what ran (backend,
device, dtype, TF32, versions), the tolerance, and progress with Cancel during long work."""
from __future__ import annotations

from PyQt5 import QtCore, QtGui, QtWidgets

from .panels.divergence import verdict_color


class StatusMixin:
    def _build_status_bar(self):
        bar = self.statusBar()
        self.run_label = ElidedLabel(natural=True)
        self.tolerance_label = QtWidgets.QLabel()
        self.verdict_label = ElidedLabel()
        self.progress_bar = QtWidgets.QProgressBar()
        self.progress_bar.setMaximumWidth(180)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setFocusPolicy(QtCore.Qt.NoFocus)
        self.cancel_button.clicked.connect(self.controller.cancel)
        self.progress_bar.hide()
        self.cancel_button.hide()
        bar.addWidget(self.verdict_label, 1)
        bar.addPermanentWidget(self.run_label)
        bar.addPermanentWidget(self.tolerance_label)
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)

    def _busy(self, busy):
        self.progress_bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress_bar.setValue(0)
        else:
            self.statusBar().clearMessage()

    def _progress(self, fraction, text):
        self.progress_bar.setValue(int(1000 * fraction))
        if text:
            self.statusBar().showMessage(text)

    def _update_status(self):
        s = self.state
        if s.trace_a is None:
            self.run_label.setText("nothing run yet")
            self.run_label.setToolTip("")
        else:
            text = f"A: {short_run(s.trace_a)}"
            if s.trace_b is not None:
                text += f"  |  B: {short_run(s.trace_b)}"
            self.run_label.setText(text)
            self.run_label.setToolTip("\n".join(run_details(s.trace_a, "A")
                                                + (run_details(s.trace_b, "B")
                                                   if s.trace_b is not None else [])))
        if s.report is not None:
            judged = s.report if s.judged is None else s.judged  # A not the reference: the side that broke the equations
            color = verdict_color(judged)
            self.verdict_label.setStyleSheet(f"color: {color}; font-weight: bold")
            self.verdict_label.setText(short_verdict(judged, s.answer))
            self.verdict_label.keep = self.verdict_label.text().split(";")[0]
            self.verdict_label.updateGeometry()
            self.verdict_label.setToolTip(judged.verdict)
            self.tolerance_label.setText(f"atol {s.report.atol:g}  rtol {s.report.rtol:g}")
        else:
            self.verdict_label.setStyleSheet("")
            self.verdict_label.keep = ""
            self.verdict_label.setText("open a model and a feature file (or drop them here)"
                                       if s.model is None or s.features is None else "")
            self.tolerance_label.setText(tolerance_text(s.atol, s.rtol))


class ElidedLabel(QtWidgets.QLabel):
    """A one-line label that ends in "..." when the window is too narrow (full text in the
    tooltip); the divergence view shows the whole sentence. ``keep``: the leading part that is
    never cut (the verdict's kind and step); ``natural``: ask for the whole text's width (the
    run label, which gives way to the verdict)."""

    def __init__(self, natural: bool = False, parent=None):
        super().__init__(parent)
        self.natural, self.keep = natural, ""

    def _width(self, text: str) -> int:
        font = QtGui.QFont(self.font())
        font.setBold(True)  # the verdict is bold through its style sheet: room for the bold text
        return QtGui.QFontMetrics(font).horizontalAdvance(text) + 8

    def minimumSizeHint(self):
        width = self._width(self.keep) if self.keep else 50
        return QtCore.QSize(width, super().minimumSizeHint().height())

    def sizeHint(self):
        width = self._width(self.text()) if self.natural else self.minimumSizeHint().width()
        return QtCore.QSize(width, super().sizeHint().height())

    def paintEvent(self, event):
        painter = QtGui.QPainter(self)
        metrics = painter.fontMetrics()
        text = self.text()
        if metrics.horizontalAdvance(text) > self.width():
            kept = self.keep if text.startswith(self.keep) else ""
            room = self.width() - metrics.horizontalAdvance(kept)
            rest = metrics.elidedText(text[len(kept):], QtCore.Qt.ElideRight, room)
            text = kept + (rest if rest.strip() not in ("…", "...", ";…", "; …") else "")
        painter.setPen(self.palette().color(QtGui.QPalette.WindowText))
        painter.drawText(self.rect(), QtCore.Qt.AlignLeft | QtCore.Qt.AlignVCenter, text)


KIND_TEXT = {"structural": "Structural divergence", "precision": "Precision drift"}


def short_verdict(report, answer=None) -> str:
    """The status bar's verdict, short enough for a 1024-pixel window (the whole sentence is in
    the divergence view and the tooltip): what kind, from which step, and the model's answer."""
    first = report.first
    if report.kind == "agree" or first is None:
        from ..core.fidelity import faithful

        text = f"A and B agree (largest difference {report.max_error():.2g})"
        if not faithful(report):  # never a plain "agree" on something else (core.fidelity)
            text = "A and B agree, but not on what the file's model computes (see the verdict)"
    else:
        text = (f"{KIND_TEXT.get(report.kind, 'Divergence')} from step {first.step} in "
                f"{first.quantity} of layer {first.layer}")
    if answer is not None:
        text += f"; answer: A {answer.side(answer.a)}, B {answer.side(answer.b)}"
    return text


def short_run(trace) -> str:
    """``backend dtype`` of a trace (device and versions are in the tooltip)."""
    m = trace.meta
    return f"{m.get('backend', '?')} {m.get('dtype', '')}".strip()


def tolerance_text(atol, rtol) -> str:
    atol = "default" if atol is None else f"{atol:g}"
    rtol = "default" if rtol is None else f"{rtol:g}"
    return f"atol {atol}  rtol {rtol}"


def describe_run(trace) -> str:
    """What ran, compactly: backend, device, dtype, TF32 and reading where they say something,
    and the library versions (TensorFlow, tf-keras, torch, cuDNN) the trace records."""
    m = trace.meta
    parts = [str(m.get("backend", "?"))]
    if m.get("device"):
        parts.append(str(m["device"]))
    if m.get("dtype"):
        parts.append(str(m["dtype"]))
    if m.get("tf32") not in (None, "", "n/a"):
        parts.append(f"TF32 {m['tf32']}")
    if m.get("road"):
        chunk = m.get("one_call_chunk")
        parts.append(f"{m['road']}" + (f" (chunks of {chunk})" if chunk else ""))
    if m.get("reading") not in (None, "", "file") and not str(parts[0]).endswith(str(m["reading"])):
        parts.append(f"reading {m['reading']}")
    recorded = dict(m.get("versions") or {})  # backends record them here
    recorded.update({lib: m[lib] for lib in VERSIONED if m.get(lib)})
    versions = [f"{lib} {recorded[lib]}" for lib in VERSIONED if recorded.get(lib)]
    return " ".join(parts) + (f" ({', '.join(versions)})" if versions else "")


VERSIONED = ("tensorflow", "tf_keras", "torch", "cuda", "cudnn")  # numpy, python: in the tooltip


def run_details(trace, tag: str) -> list:
    """Tooltip lines: label, everything in meta (versions, notes such as what auto picked)."""
    lines = [f"{tag}: {trace.label}"]
    for key, value in trace.meta.items():
        if key == "versions" and isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif key == "notes" and isinstance(value, (list, tuple)):
            value = "; ".join(str(v) for v in value)
        if value not in (None, "", [], {}):
            lines.append(f"   {key}: {value}")
    return lines
