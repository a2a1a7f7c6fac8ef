"""The window fits the screen it opens on: all of it, status bar included, inside the screen's
available geometry (without panels and docks of the desktop).

A 1400 x 900 window placed at y = 20 on a 900-pixel screen hid its status bar below the edge;
the window is therefore shrunk to the available size and moved inside it, frame included. The
frame (title bar, borders) is known once the window manager has framed the window: the window
fits itself on construction (no frame yet) and again just after it is shown.
"""
from __future__ import annotations

from PyQt5 import QtCore, QtWidgets

#: Milliseconds after the first show before fitting again, frame included (the window manager
#: reports a new window's frame asynchronously).
FRAMED_AFTER_MS = 250


def fit_within(window: QtWidgets.QWidget, available: QtCore.QRect) -> None:
    """Resize and move ``window`` so that its frame lies inside ``available``."""
    frame, inner = window.frameGeometry(), window.geometry()
    extra_w = max(frame.width() - inner.width(), 0)     # 0 until the window manager framed it
    extra_h = max(frame.height() - inner.height(), 0)
    width = max(min(window.width(), available.width() - extra_w), window.minimumWidth())
    height = max(min(window.height(), available.height() - extra_h), window.minimumHeight())
    if (width, height) != (window.width(), window.height()):
        window.resize(width, height)
    left = min(max(frame.x(), available.x()), available.x() + available.width() - width - extra_w)
    top = min(max(frame.y(), available.y()), available.y() + available.height() - height - extra_h)
    if (left, top) != (frame.x(), frame.y()):
        window.move(max(left, available.x()), max(top, available.y()))


def fit_to_screen(window: QtWidgets.QWidget) -> None:
    """:func:`fit_within` the available geometry of the window's screen (on a real display;
    the offscreen platform's 800 x 600 screen is no screen a person sees)."""
    app = QtWidgets.QApplication.instance()
    if app is None or app.platformName() in ("offscreen", "minimal"):
        return
    screen = window.screen() if window.isVisible() else app.screenAt(window.geometry().center())
    screen = screen or app.primaryScreen()
    if screen is not None:
        fit_within(window, screen.availableGeometry())
