"""The detective's answer in a window: the ranking of conventions that reproduce the path, the
fix in the port's terms with its NumPy lines (checked), or a plain "nothing matches" with the
first divergence. The text is the engine's own (``Diagnosis.text``, the same as
``lstm-inspector diagnose`` prints); this module only lays it out.
"""
from __future__ import annotations

import html

from PyQt5 import QtCore, QtWidgets

from ..errors import verb
from .panels.common import monospace_font

KIND_COLORS = {"agrees": "#1a7f37", "convention": "#c62828", "arithmetic": "#b35900",
               "unexplained": "#6a1b9a"}
KIND_WORDS = {"agrees": "agrees", "convention": "a convention fault, with its fix",
              "arithmetic": "arithmetic, not a convention", "unexplained": "nothing matches"}


def headline(diagnosis) -> str:
    """One line: the path, agree or diverge, and what kind of finding each layer is."""
    kinds = [f.kind for f in diagnosis.findings]
    if diagnosis.agree:
        return f"{diagnosis.label} {verb(diagnosis.label, 'agrees')} with the reference"
    worst = next((k for k in ("convention", "unexplained", "arithmetic") if k in kinds), kinds[0])
    return f"{diagnosis.label} {verb(diagnosis.label, 'diverges')}: {KIND_WORDS[worst]}"


def diagnosis_html(diagnosis) -> str:
    """The headline in the verdict's colour, where the view marks it, then the engine's text."""
    kinds = [f.kind for f in diagnosis.findings] or ["agrees"]
    kind = "agrees" if diagnosis.agree else next(
        (k for k in ("convention", "unexplained", "arithmetic") if k in kinds), kinds[0])
    marked = diagnosis.marked_step
    where = "" if marked is None else (
        f"<p>The divergence view marks step {marked[2]} of layer {marked[0]} {marked[1]}; "
        f"the cursor is there.</p>")
    return (f'<h3 style="color:{KIND_COLORS[kind]}">{html.escape(headline(diagnosis))}</h3>'
            f'{where}<pre style="white-space: pre-wrap">{html.escape(diagnosis.text)}</pre>')


class DiagnosisDialog(QtWidgets.QDialog):
    """Non-modal: the window stays usable (stepping through the marked divergence)."""

    def __init__(self, diagnosis, parent=None):
        super().__init__(parent)
        self.diagnosis = diagnosis
        self.setWindowTitle(f"Diagnosis: {diagnosis.label}")
        self.setObjectName("diagnosisDialog")
        self.browser = QtWidgets.QTextBrowser()
        self.browser.document().setDefaultFont(monospace_font(9))
        self.browser.setHtml(diagnosis_html(diagnosis))
        # long lines (a fix's sentence, its code lines) wrap at the dialog's width: no
        # horizontal scrolling to read the end of "... of recurrent_kernel"
        self.browser.setLineWrapMode(QtWidgets.QTextEdit.WidgetWidth)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Close)
        copy = buttons.addButton("Copy text", QtWidgets.QDialogButtonBox.ActionRole)
        copy.clicked.connect(
            lambda: QtWidgets.QApplication.clipboard().setText(diagnosis.text))
        buttons.rejected.connect(self.close)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.setAttribute(QtCore.Qt.WA_DeleteOnClose)
        self.resize(980, 520)

    def text(self) -> str:
        return self.browser.toPlainText()
