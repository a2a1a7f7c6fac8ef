"""Render README's pictures of "Bring your own implementation" (offscreen, no display needed).

    python tools/screenshot_your_impl.py [OUT_DIR]      # default docs/

1. ``your-impl.png``: the forum's model and input with the forum's own ``NewLSTM``
   (``tests/impls/forum_newlstm.py``) as path B, the cursor moved to the first divergence (N).
2. ``diagnose.png``: Run > Diagnose on that window: the detective's ranking and fix, beside the
   divergence view that marks the diagnosed step.

Look at both before committing them.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def wait(app, window, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        if not window.controller.worker.busy and window.state.report is not None:
            break
        time.sleep(0.01)
    window.state.flush()
    for _ in range(5):
        app.processEvents()


def main(out_dir: Path) -> None:
    from PyQt5 import QtCore, QtGui

    QtCore.QSettings.setPath(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope,
                             tempfile.mkdtemp())
    from lstm_inspector.gui.app import ensure_app, make_window

    app = ensure_app(offscreen=True)
    window = make_window(str(REPO / "resources" / "forum_cudnnlstm_in1_h2.h5"),
                         str(REPO / "resources" / "forum_input.npy"),
                         impl=str(REPO / "tests" / "impls" / "forum_newlstm.py") + ":NewLSTM",
                         preload=False)
    window.resize(1400, 900)
    window.show()
    wait(app, window)
    window.next_divergence()
    wait(app, window)
    window.grab().save(str(out_dir / "your-impl.png"))

    window.diagnose()
    deadline = time.monotonic() + 120
    while window.state.diagnosis is None and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    wait(app, window)
    dialog = window.diagnosis_dialog
    dialog.resize(1000, 470)
    for _ in range(5):
        app.processEvents()
    # the dialog over the window's divergence view, as a user sees them together
    picture = window.grab().toImage().convertToFormat(QtGui.QImage.Format_RGB32)
    painter = QtGui.QPainter(picture)
    painter.drawPixmap(390, 40, dialog.grab())
    painter.end()
    picture.save(str(out_dir / "diagnose.png"))
    window.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs")
